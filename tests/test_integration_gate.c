/* test_integration_gate.c: ways the gate could pass by accident, against a
 * real PostgreSQL.
 *
 * Each test is a regression test for a defect of issue 9 that made a run
 * pass, or exit with the wrong code, when it should not: a wrong rows
 * query read as 0 rows, a phase that judged nothing in the mode it ran in, a
 * failed step hidden as "inconclusive", a constraint name that names
 * nothing, a step that lost its connection shown as passed, the wrong exit
 * code for a statement_timeout, a rejected rows query, a key parameter or
 * an expectation that cannot be evaluated, and a deadlock among the workers
 * reported without a hint. Before the judge module each of them exited
 * differently (the old code is named in each test); every case is a
 * variant of the seed scenario or a small file written into the scratch
 * folder. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(gate, .init = scratch_init, .fini = scratch_fini, .timeout = 180);

/* The seed's rows query, which variants replace. */
#define SEED_ROWS                                                                                  \
	"rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2"

/* Item 1: before, each of these read as 0 rows (strtoll of "" or "x") and
 * the run went on to judge them: "after" passed with any rows query that
 * returned nothing. Now the run stops with exit 2 naming the rows line. */
Test(gate, rows_query_of_the_wrong_shape)
{
	static const struct {
		const char *rows;
		const char *why;
	} cases[] = {
		{"rows: SELECT id FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2 "
		 "AND false",
		 "returned no row"},
		{"rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2 "
		 "UNION ALL SELECT 0",
		 "returned more than one row"},
		{"rows: SELECT NULL::bigint WHERE $1::bigint > 0 AND $2::bigint > 0", "returned NULL"},
		{"rows: SELECT 'many' WHERE $1::bigint > 0 AND $2::bigint > 0",
		 "returned a value that is not an integer"},
		{"rows: SELECT count(*), 1 FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2",
		 "returned more than one column"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "rows-%zu.yaml", i);
		const char *file = seed_variant(name, SEED_ROWS, cases[i].rows);
		struct proc p;
		int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("r.json")), &p);
		cr_expect_eq(code, 2, "case %zu: %s", i, proc_said(&p));
		cr_expect(contains(p.err, cases[i].why), "case %zu: %s", i, proc_said(&p));
		char *text = read_file(file, NULL);
		cr_expect(names_exact_line(p.err, file, line_of(text, "rows: ")), "case %zu: %s", i,
			  proc_said(&p));
		free(text);
		json_t *doc = load_json(spath("r.json"));
		cr_expect_str_eq(jstr(doc, "verdict"), "bad_scenario");
		assert_schema_dropped(doc);
		json_decref(doc);
		proc_free(&p);
	}
}

/* Items 1 and 15: a rows query the server rejects (42P01) is the scenario's
 * fault: exit 2 naming its line (before: 3, "could not be used"). */
Test(gate, rows_query_rejected_is_the_files_fault)
{
	const char *file = seed_variant("rows-42P01.yaml", SEED_ROWS,
					"rows: SELECT count(*) FROM no_such_table WHERE $1::bigint > 0 "
					"AND $2::bigint > 0");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "rows query failed: 42P01"), "%s", proc_said(&p));
	char *text = read_file(file, NULL);
	cr_expect(names_exact_line(p.err, file, line_of(text, "rows: ")), "%s", proc_said(&p));
	free(text);
	proc_free(&p);
}

/* Item 2: a phase whose expectations are all hold: raced in fire evaluated
 * nothing and passed (before: exit 0). Now the run is refused up front. */
Test(gate, phase_that_would_judge_nothing_is_refused)
{
	const char *file = seed_variant("hold-only.yaml",
					"      - rounds_with_duplicates >= 1\n"
					"      - hold: rounds_with_duplicates == rounds\n"
					"      - hold: rows_per_key.min == workers\n",
					"      - hold: rounds_with_duplicates == rounds\n"
					"      - hold: rows_per_key.min == workers\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--mode", "fire", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "phase before races in mode fire, but every expectation of it is "
				  "limited to another mode"),
		  "%s", proc_said(&p));
	char *text = read_file(file, NULL);
	cr_expect(names_exact_line(p.err, file, line_of(text, "  - name: before")), "%s",
		  proc_said(&p));
	free(text);
	proc_free(&p);
	/* The same file in hold mode still passes: only the mode decides. */
	code = run_pgrace(ARGS("run", file, "-q", "--rounds", "2"), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
}

/* Item 2: check amcheck on a sandbox without a btree index checked nothing
 * and passed (before: exit 0, "0 btree indexes verified"). */
Test(gate, amcheck_that_checked_nothing_fails)
{
	static const char yaml[] = "name: nothing-to-check\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow: [{sql: INSERT INTO t VALUES ($1)}]\n"
				   "phases:\n"
				   "  - name: check\n"
				   "    steps:\n"
				   "      - check: amcheck\n";
	write_file(spath("amcheck.yaml"), yaml, sizeof yaml - 1);
	struct proc p;
	int code = run_pgrace(ARGS("run", spath("amcheck.yaml"), "--json", spath("r.json")), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	json_t *doc = load_json(spath("r.json"));
	json_t *ph = phase(doc, "check");
	cr_expect_not(jbool(ph, "passed"));
	json_t *x = json_array_get(jget(ph, "expectations"), 0);
	cr_assert(x);
	cr_expect(contains(jstr(x, "actual"), "checked nothing"), "%s", jstr(x, "actual"));
	json_decref(doc);
	proc_free(&p);
}

/* Item 3: a down migration that fails inside a must_reproduce phase made the
 * run inconclusive (before: exit 4, which docs/ci.md lets pass with a
 * warning). A failed step is a failure: exit 1. */
Test(gate, failed_step_in_must_reproduce_phase_fails)
{
	const char *file = seed_variant(
		"broken-down.yaml",
		"ALTER TABLE user_tenant_membership DROP CONSTRAINT uq_user_tenant_membership_user_tenant;",
		"ALTER TABLE user_tenant_membership DROP CONSTRAINT uq_no_such_constraint;");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--rounds", "3", "--json", spath("r.json")), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	json_t *doc = load_json(spath("r.json"));
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	json_t *ph = phase(doc, "downgrade");
	cr_expect_not(jbool(ph, "passed"));
	json_decref(doc);
	proc_free(&p);
}

/* Item 4: constraint.NAME with a name the sandbox lacks read as 0 and said
 * nothing; now its actual text says the name names nothing. */
Test(gate, constraint_that_names_nothing_says_so)
{
	const char *file = seed_variant("typo.yaml",
					"      - constraint.uq_user_tenant_membership_user_tenant == "
					"outcomes.23505\n",
					"      - constraint.uq_user_tenant_membership_user_tenan == "
					"outcomes.23505\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--rounds", "2", "--json", spath("r.json")), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	json_t *doc = load_json(spath("r.json"));
	json_t *xs = jget(phase(doc, "after"), "expectations");
	bool found = false;
	for (size_t i = 0; i < json_array_size(xs); i++) {
		json_t *x = json_array_get(xs, i);
		if (contains(jstr(x, "expect"), "uq_user_tenant_membership_user_tenan ==")) {
			found = true;
			cr_expect_not(jbool(x, "passed"));
			cr_expect(contains(jstr(x, "actual"),
					   "no constraint or index named "
					   "uq_user_tenant_membership_user_tenan in the sandbox"),
				  "%s", jstr(x, "actual"));
		}
	}
	cr_expect(found);
	json_decref(doc);
	proc_free(&p);
}

/* Item 7: a step that lost its connection left its phase "passed": true and
 * a passing JUnit case (before: passed true, broken false). */
Test(gate, step_that_lost_its_connection_breaks_its_phase)
{
	static const char yaml[] = "name: lost-step\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow: [{sql: INSERT INTO t VALUES ($1)}]\n"
				   "phases:\n"
				   "  - name: dies\n"
				   "    steps:\n"
				   "      - sql: SELECT pg_terminate_backend(pg_backend_pid())\n";
	write_file(spath("lost.yaml"), yaml, sizeof yaml - 1);
	struct proc p;
	int code = run_pgrace(ARGS("run", spath("lost.yaml"), "--json", spath("r.json"), "--junit",
				   spath("r.xml")),
			      &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	json_t *doc = load_json(spath("r.json"));
	json_t *ph = phase(doc, "dies");
	cr_expect_not(jbool(ph, "passed"));
	cr_expect(jbool(ph, "broken"));
	assert_schema_dropped(doc);
	json_decref(doc);
	char *xml = read_file(spath("r.xml"), NULL);
	cr_assert(xml);
	cr_expect(contains(xml, "<error") || contains(xml, "<failure"), "%s", xml);
	free(xml);
	proc_free(&p);
}

/* Item 15: a statement_timeout that fires in the seed is the database's
 * state, not the file's: exit 3 (before: 2, blaming the file). */
Test(gate, statement_timeout_in_seed_is_the_database)
{
	static const char yaml[] = "name: slow-seed\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "seed: |\n"
				   "  SET LOCAL statement_timeout = '50ms';\n"
				   "  SELECT pg_sleep(5);\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow: [{sql: INSERT INTO t VALUES ($1)}]\n"
				   "phases:\n"
				   "  - name: p\n"
				   "    steps:\n"
				   "      - sql: SELECT 1\n";
	write_file(spath("slow.yaml"), yaml, sizeof yaml - 1);
	struct proc p;
	int code = run_pgrace(ARGS("run", spath("slow.yaml"), "-q"), &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "57014"), "%s", proc_said(&p));
	proc_free(&p);
}

/* Item 15: a key parameter that overflows in a later round was exit 3
 * without file:line; an expectation that divides by zero with the run's
 * values was exit 1. Both are the file's: exit 2 naming the line. */
Test(gate, parameters_and_expectations_that_cannot_be_evaluated)
{
	const char *file = seed_variant("overflow.yaml", "params: [round, 1]",
					"params: [round * 4611686018427387904, 1]");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "params: parameter $1: integer overflow"), "%s", proc_said(&p));
	char *text = read_file(file, NULL);
	cr_expect(names_exact_line(p.err, file, line_of(text, "params: [")), "%s", proc_said(&p));
	free(text);
	proc_free(&p);

	file = seed_variant("divides.yaml", "      - rows_per_key.min == 1\n      - rows_per_key.max == 1\n      - outcomes.ok == rounds\n",
			    "      - rows_per_key.min == 1\n      - rows_per_key.max == 1\n"
			    "      - outcomes.ok == rounds / (workers - 1)\n");
	code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "cannot evaluate: division by zero"), "%s", proc_said(&p));
	text = read_file(file, NULL);
	cr_expect(names_exact_line(p.err, file, line_of(text, "outcomes.ok == rounds / (workers - 1)")),
		  "%s", proc_said(&p));
	free(text);
	proc_free(&p);
}

/* Item 16: workers that waited on each other at COMMIT until the round's
 * deadline (a deferrable constraint's losers, in deadlock) gave exit 3 with
 * "could not COMMIT: deadline passed" and no hint. deadlock_timeout is
 * raised for pgrace's sessions so that a deadlock, once it forms, outlives
 * the deadline; it forms among the losers in most rounds of 16 workers, so
 * a few runs are allowed for one to break. */
Test(gate, deadlock_among_workers_is_named)
{
	const char *file = variant_of(PGRACE_SOURCE_DIR "/scenarios/deferrable.yaml", "dl.yaml",
				      "race: {workers: 8, rounds: 10, mode: hold, deadline_ms: 30000}",
				      "race: {workers: 16, rounds: 20, mode: hold, deadline_ms: 400}");
	const char *old = getenv("PGOPTIONS");
	char opts[512];
	snprintf(opts, sizeof opts, "%s%s-c deadlock_timeout=60s", old ? old : "", old ? " " : "");
	setenv("PGOPTIONS", opts, 1);
	bool broke = false;
	for (int run = 0; run < 5 && !broke; run++) {
		struct proc p;
		int code = run_pgrace(ARGS("run", file, "-q"), &p);
		if (code != 0) {
			broke = true;
			cr_expect_eq(code, 3, "%s", proc_said(&p));
			cr_expect(contains(p.err, "the workers were in deadlock with each other"), "%s",
				  proc_said(&p));
			cr_expect(contains(p.err, "deadlock_timeout (1min)"), "%s", proc_said(&p));
			cr_expect(contains(p.err, "deadline_ms: N} (now 400"), "%s", proc_said(&p));
		}
		proc_free(&p);
	}
	cr_expect(broke, "no round of 5 runs formed a deadlock among the workers");
	if (old)
		setenv("PGOPTIONS", old, 1);
	else
		unsetenv("PGOPTIONS");
}

/* An autocommit race with --mode hold was refused only when its workers
 * connected, as "the database could not be used" (exit 3): it is the
 * command line's and the file's mismatch, exit 2 naming the phase, before
 * anything runs. */
Test(gate, autocommit_race_in_hold_mode_is_refused_up_front)
{
	const char *file = PGRACE_SOURCE_DIR "/bench/hit-where-not-exists-autocommit.yaml";
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--mode", "hold", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "race: {autocommit: true} races in fire mode only"), "%s",
		  proc_said(&p));
	cr_expect(names_file_line(p.err, file), "%s", proc_said(&p));
	proc_free(&p);
}
