/* test_integration_evidence.c: no run passes on no evidence, whatever mode
 * or option changes the verdict rule (issue 17, items 2 and 3).
 *
 * A --duration run measures its free-running phases, but its steps and its
 * interleave phases are judged as in any run: a failure there fails the run.
 * An interleave or replay phase in which no order could run judged nothing:
 * it fails (or is inconclusive when it must reproduce), and its rows_per_key
 * is null, not 0..0. Each test names what the code before the fix did. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(evidence, .init = scratch_init, .fini = scratch_fini);

/* A scenario of its own: a table without a constraint, one INSERT a flow. */
static const char *scenario(const char *name, const char *phases)
{
	char text[4096];
	int n = snprintf(text, sizeof text,
			 "name: evidence\n"
			 "schema: CREATE TABLE t (k bigint NOT NULL)\n"
			 "params: [round]\n"
			 "rows: SELECT count(*) FROM t WHERE k = $1\n"
			 "flow:\n"
			 "  - sql: INSERT INTO t (k) VALUES ($1)\n"
			 "phases:\n%s",
			 phases);
	cr_assert(n > 0 && (size_t)n < sizeof text);
	const char *path = spath(name);
	write_file(path, text, (size_t)n);
	return path;
}

/* A step that fails under --duration: before, the run ended "measured",
 * exit 0, with FAIL printed for the step. */
Test(evidence, duration_run_fails_on_a_failed_step, .timeout = 120)
{
	const char *path = scenario("step.yaml", "  - name: check\n"
						 "    steps:\n"
						 "      - sql: SELECT 1\n"
						 "        expect: [rows == 2]\n"
						 "  - name: free\n"
						 "    race:\n"
						 "    expect: [rows_per_key.max >= 1]\n");
	const char *json = spath("step.json");
	struct proc pr;
	int code = run_pgrace(ARGS("run", path, "--duration", "1", "-w", "2", "--json", json), &pr);
	cr_expect_eq(code, 1, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "): FAIL in"), "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	cr_expect_str_eq(jstr(phase(doc, "check"), "verdict"), "fail");
	cr_expect_str_eq(jstr(phase(doc, "free"), "verdict"), "measured");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&pr);
}

/* An interleave phase that fails under --duration (it is judged: orders are
 * rounds, --duration does not apply to it): before, exit 0 and "measured". */
Test(evidence, duration_run_fails_on_a_failed_interleave_phase, .timeout = 120)
{
	const char *path = scenario("ilv.yaml", "  - name: orders\n"
						"    race: {mode: interleave}\n"
						"    expect: [interleavings_with_duplicates == 0]\n");
	const char *json = spath("ilv.json");
	struct proc pr;
	int code = run_pgrace(ARGS("run", path, "-T", "1", "--json", json), &pr);
	cr_expect_eq(code, 1, "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	cr_expect_str_eq(jstr(phase(doc, "orders"), "verdict"), "fail");
	json_decref(doc);
	proc_free(&pr);

	/* The same phase passing stays "pass" (it was judged); the run, which
	 * judged everything it ran, passes too, exit 0. */
	path = scenario("ilv-ok.yaml", "  - name: orders\n"
				       "    race: {mode: interleave}\n"
				       "    expect: [interleavings_with_duplicates == 6]\n");
	code = run_pgrace(ARGS("run", path, "-T", "1", "--json", json), &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	doc = load_json(json);
	cr_expect_str_eq(jstr(phase(doc, "orders"), "verdict"), "pass");
	json_decref(doc);
	proc_free(&pr);
}

/* A replay of an order that cannot run (b's INSERT waits on a's key, then the
 * order asks b for its COMMIT): before, the phase passed on zero rounds with
 * rows/key 0..0 and rows_per_key {0, 0}. */
Test(evidence, no_executable_order_is_no_pass, .timeout = 120)
{
	static const char phases[] = "  - name: replay\n"
				     "%s"
				     "    race: {mode: interleave}\n"
				     "    orders: [\"a1 b1 b2 a2\"]\n"
				     "    expect: [rows_per_key.max <= 1]\n";
	static const struct {
		const char *name, *extra, *verdict;
		int code;
	} cases[] = {
		{"plain.yaml", "", "fail", 1},
		{"reproduce.yaml", "    must_reproduce: true\n", "inconclusive", 4},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[512], name[64];
		snprintf(text, sizeof text, phases, cases[i].extra);
		const char *path = scenario(cases[i].name, text);
		/* the key must be unique for b's INSERT to wait on a's */
		char *yaml = read_file(path, NULL);
		char *unique = replace_all(yaml, "k bigint NOT NULL", "k bigint PRIMARY KEY");
		write_file(path, unique, strlen(unique));
		free(yaml);
		free(unique);
		snprintf(name, sizeof name, "%s.json", cases[i].name);
		const char *json = spath(name);
		struct proc pr;
		int code = run_pgrace(ARGS("run", path, "--json", json), &pr);
		cr_expect_eq(code, cases[i].code, "%s: %s", cases[i].name, proc_said(&pr));
		cr_expect(contains(pr.out, "at least one executable order, actual none: 1 of 1 "
					   "orders not executable"),
			  "%s", proc_said(&pr));
		cr_expect(!contains(pr.out, "0..0"), "%s", proc_said(&pr));
		json_t *doc = load_json(json);
		json_t *ph = phase(doc, "replay");
		cr_expect_str_eq(jstr(ph, "verdict"), cases[i].verdict);
		cr_expect(json_is_null(jget(ph, "rows_per_key")), "rows_per_key: %s",
			  json_dumps(jget(ph, "rows_per_key"), 0));
		cr_expect_eq(jint(ph, "rounds"), 0);
		cr_expect_eq(jint2(ph, "interleave", "interleavings_not_executable"), 1);
		assert_schema_dropped(doc);
		json_decref(doc);
		proc_free(&pr);
	}
}

/* The scenario's "replica" given as the primary itself (issue 17, item 5):
 * before, the run raced against it and a gate "reads on the replica" held
 * on a server that is no replica. Now: refused, exit 2, saying what it is. */
Test(evidence, replica_target_that_is_the_primary_is_refused, .timeout = 120)
{
	const char *host = getenv("PGHOST"), *port = getenv("PGPORT");
	char target[600];
	snprintf(target, sizeof target, "replica=host=%s port=%s", host ? host : "", port ? port : "5432");
	const char *json = spath("replica.json");
	struct proc pr;
	int code = run_pgrace(ARGS("run", PGRACE_SOURCE_DIR "/scenarios/replica-read-check.yaml",
				   "--target", target, "--json", json),
			      &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "target replica is not a replica: pg_is_in_recovery() is false "
				   "there, it is a primary") ||
			  contains(pr.out, "target replica is not a replica: pg_is_in_recovery() is "
					   "false there, it is a primary"),
		  "%s", proc_said(&pr));
	cr_expect(names_file_line(pr.out, PGRACE_SOURCE_DIR "/scenarios/replica-read-check.yaml") ||
			  names_file_line(pr.err, PGRACE_SOURCE_DIR "/scenarios/replica-read-check.yaml"),
		  "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "bad_scenario");
	cr_expect_eq(json_array_size(jget(doc, "phases")), 0, "nothing raced");
	json_decref(doc);
	proc_free(&pr);
}
