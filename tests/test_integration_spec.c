/* test_integration_spec.c: what `pgrace spec` refuses and how it writes
 * (issue 17, items 11 and 12), against a real PostgreSQL.
 *
 * The spec's setup drops its schema with CASCADE: --schema public, or any
 * schema that exists, is refused. Its outputs follow run's rules: neither -o
 * nor --json may be the scenario file; a spec whose run failed is written
 * and the exit code says the run failed; a spec that cannot be written
 * leaves no partial file (a temporary of its own, renamed when complete).
 * Each test names what the code before the fix did. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(spec, .init = scratch_init, .fini = scratch_fini);

/* A scenario of its own: flow and the phase's expectation given. */
static const char *scenario(const char *name, const char *flow, const char *expect)
{
	char text[2048];
	int n = snprintf(text, sizeof text,
			 "name: spec-io\n"
			 "schema: CREATE TABLE t (k bigint NOT NULL)\n"
			 "params: [round]\n"
			 "rows: SELECT count(*) FROM t WHERE k = $1\n"
			 "flow:\n"
			 "  - sql: %s\n"
			 "phases:\n"
			 "  - name: orders\n"
			 "    race: {mode: interleave}\n"
			 "    expect: [%s]\n",
			 flow, expect);
	cr_assert(n > 0 && (size_t)n < sizeof text);
	const char *path = spath(name);
	write_file(path, text, (size_t)n);
	return path;
}

#define INSERT "INSERT INTO t (k) VALUES ($1)"

/* --schema public: before, the spec's setup read DROP SCHEMA IF EXISTS
 * public CASCADE. A schema that exists (the user's) is refused too, and a
 * name of a run's sandbox form, which pgrace clean would drop. */
Test(spec, schema_that_could_be_the_users_is_refused, .timeout = 120)
{
	const char *path = scenario("s.yaml", INSERT, "interleavings == 6");
	PGconn *c = pg_open();
	exec_ok(c, "DROP SCHEMA IF EXISTS pgrace_users_own CASCADE; CREATE SCHEMA pgrace_users_own; "
		   "CREATE TABLE pgrace_users_own.keep (x int)");
	static const struct {
		const char *schema, *needle;
	} cases[] = {
		{"public", "--schema: expected a lower-case name starting with pgrace_"},
		{"pgrace_users_own", "schema pgrace_users_own exists in this database"},
		{"pgrace_123_0123abcd", "has the form of a run's sandbox"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *out = spath("s.spec");
		unlink(out);
		struct proc pr;
		int code = run_pgrace(ARGS("spec", path, "--phase", "orders", "-o", out, "--schema",
					   cases[i].schema),
				      &pr);
		cr_expect_eq(code, 2, "%s: %s", cases[i].schema, proc_said(&pr));
		cr_expect(contains(pr.err, cases[i].needle), "%s", proc_said(&pr));
		cr_expect_neq(access(out, F_OK), 0, "%s: no spec written", cases[i].schema);
		proc_free(&pr);
	}
	char *still = pg_value(c, "SELECT count(*) FROM pgrace_users_own.keep", 0, NULL);
	cr_expect_str_eq(still, "0", "the user's schema is untouched");
	free(still);
	exec_ok(c, "DROP SCHEMA pgrace_users_own CASCADE");
	PQfinish(c);

	/* A fresh pgrace_ name goes, and the header says setup drops it. */
	const char *out = spath("ok.spec");
	struct proc pr;
	int code = run_pgrace(ARGS("spec", path, "--phase", "orders", "-o", out, "--schema",
				   "pgrace_spec_io"),
			      &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	proc_free(&pr);
	char *text = read_file(out, NULL);
	cr_assert_not_null(text);
	cr_expect(contains(text, "# Setup drops schema pgrace_spec_io (DROP SCHEMA IF EXISTS "
				 "pgrace_spec_io CASCADE)"),
		  "%s", text);
	free(text);
}

/* -o or --json naming the scenario file: before, spec overwrote it (run
 * refuses this). Now exit 2, and the file is as it was. */
Test(spec, output_that_is_the_scenario_is_refused, .timeout = 120)
{
	const char *path = scenario("in.yaml", INSERT, "interleavings == 6");
	char *before = read_file(path, NULL);
	cr_assert_not_null(before);
	const char *const flags[] = {"-o", "--json"};
	for (size_t i = 0; i < 2; i++) {
		struct proc pr;
		int code = run_pgrace(ARGS("spec", path, "--phase", "orders", flags[i], path), &pr);
		cr_expect_eq(code, 2, "%s: %s", flags[i], proc_said(&pr));
		cr_expect(contains(pr.err, "is the scenario file"), "%s", proc_said(&pr));
		proc_free(&pr);
		char *after = read_file(path, NULL);
		cr_expect_str_eq(after, before, "%s: the scenario is untouched", flags[i]);
		free(after);
	}
	free(before);
}

/* A run that fails: before, spec exited 0. Now the spec is written (it is
 * what ran) and the exit code is the run's, 1. */
Test(spec, failed_run_exits_non_zero, .timeout = 120)
{
	const char *path = scenario("fail.yaml", INSERT, "interleavings_with_duplicates == 0");
	const char *out = spath("fail.spec");
	struct proc pr;
	int code = run_pgrace(ARGS("spec", path, "--phase", "orders", "-o", out), &pr);
	cr_expect_eq(code, 1, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "the run up to phase orders ended fail"), "%s", proc_said(&pr));
	cr_expect_eq(access(out, F_OK), 0, "the spec is written all the same");
	proc_free(&pr);
}

/* A spec that cannot be written (a '}' in a flow statement ends a spec
 * block): before, -o was left holding the part written so far; an existing
 * file was truncated. Now exit 2 and the file as it was; a planted symlink
 * at -o is replaced by the spec, never followed. */
Test(spec, failed_spec_leaves_no_partial_file, .timeout = 120)
{
	const char *path = scenario("brace.yaml", INSERT " -- }", "interleavings == 6");
	const char *out = spath("brace.spec");
	write_file(out, "previous\n", 9);
	struct proc pr;
	int code = run_pgrace(ARGS("spec", path, "--phase", "orders", "-o", out), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "holds a '}'"), "%s", proc_said(&pr));
	proc_free(&pr);
	char *text = read_file(out, NULL);
	cr_expect_str_eq(text, "previous\n", "the file is as it was");
	free(text);
	char leftover[1200];
	snprintf(leftover, sizeof leftover, "ls -a '%s' | grep -q pgrace-spec", scratch);
	cr_expect_neq(system(leftover), 0, "no temporary left in %s", scratch);

	const char *good = scenario("good.yaml", INSERT, "interleavings == 6");
	const char *victim = spath("victim.txt"), *link = spath("link.spec");
	write_file(victim, "mine\n", 5);
	cr_assert_eq(symlink(victim, link), 0);
	code = run_pgrace(ARGS("spec", good, "--phase", "orders", "-o", link), &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	proc_free(&pr);
	text = read_file(victim, NULL);
	cr_expect_str_eq(text, "mine\n", "the symlink's target is untouched");
	free(text);
	text = read_file(link, NULL);
	cr_expect(contains(text, "permutation "), "%s", text);
	free(text);
}
