/* test_judge.c: every verdict rule, without a database.
 *
 * Each rule of judge.h has a table: step observations with the verdict and
 * actual text they must give, racing phases with their expectations and
 * mode, and phase records with the verdict they add up to. Scenarios are
 * built in memory with scenario_parse(). */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"

TestSuite(judge, .timeout = 30);

/* A minimal scenario: the seed's shape with the given phases text. */
static void load(struct scenario *sc, const char *phases)
{
	char buf[8192], err[1024];
	snprintf(buf, sizeof buf,
		 "name: j\n"
		 "schema: CREATE TABLE t (k int)\n"
		 "migration: {up: CREATE UNIQUE INDEX u ON t (k), down: DROP INDEX u}\n"
		 "params: [round]\n"
		 "rows: SELECT count(*) FROM t WHERE k = $1\n"
		 "flow:\n"
		 "  - sql: INSERT INTO t VALUES ($1)\n"
		 "phases:\n%s",
		 phases);
	cr_assert(scenario_parse("j.yaml", buf, strlen(buf), sc, err, sizeof err), "%s", err);
}

static void reset(struct phase_result *ph)
{
	free(ph->expects);
	memset(ph, 0, sizeof *ph);
	snprintf(ph->name, sizeof ph->name, "p");
}

Test(judge, sql_is_wrong)
{
	static const struct {
		const char *sqlstate;
		bool wrong;
	} cases[] = {
		{"42601", true},  {"42P01", true},  {"42703", true}, {"42883", true},
		{"42P02", true},  {"42804", true},  {"08P01", true}, {"23505", false},
		{"42710", false}, {"42704", false}, {"", false},     {NULL, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(judge_sql_is_wrong(cases[i].sqlstate), cases[i].wrong, "%s",
			     cases[i].sqlstate ? cases[i].sqlstate : "NULL");
}

Test(judge, setup_errors)
{
	static const struct {
		enum obs_status status;
		const char *sqlstate;
		enum verdict want;
	} cases[] = {
		{OBS_ERROR, "42601", VERDICT_BAD_SCENARIO}, /* syntax: the file */
		{OBS_ERROR, "42P01", VERDICT_BAD_SCENARIO},
		{OBS_ERROR, "22012", VERDICT_BAD_SCENARIO}, /* division by zero in the seed */
		{OBS_ERROR, "23505", VERDICT_BAD_SCENARIO}, /* the seed duplicates itself */
		{OBS_ERROR, "57014", VERDICT_ERROR},        /* statement_timeout */
		{OBS_ERROR, "57P01", VERDICT_ERROR},        /* admin shutdown */
		{OBS_ERROR, "53300", VERDICT_ERROR},        /* too many connections */
		{OBS_ERROR, "55P03", VERDICT_ERROR},        /* lock_timeout */
		{OBS_ERROR, "40P01", VERDICT_ERROR},
		{OBS_ERROR, "25P03", VERDICT_ERROR}, /* idle in transaction timeout */
		{OBS_ERROR, "XX000", VERDICT_ERROR},
		{OBS_ERROR, "", VERDICT_ERROR},
		{OBS_LOST, "", VERDICT_ERROR},
		{OBS_TIMEOUT, "", VERDICT_ERROR},
		{OBS_INTERRUPTED, "", VERDICT_ERROR},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(judge_setup_error(cases[i].status, cases[i].sqlstate), cases[i].want,
			     "case %zu (%s)", i, cases[i].sqlstate);
}

Test(judge, steps)
{
	struct scenario sc;
	load(&sc, "  - name: p\n"
		  "    steps:\n"
		  "      - migrate: up\n"                       /* 0: must succeed */
		  "      - migrate: up\n"                       /* 1: must fail with 23505 */
		  "        expect_error: '23505'\n"
		  "        expect_message: could not create\n"
		  "      - sql: SELECT 1\n"                     /* 2: metric checks */
		  "        expect: [rows == 1, affected >= 0]\n"
		  "      - check: amcheck\n"                    /* 3: built-in */
		  "      - sql: SELECT 1\n"                     /* 4: a check that divides by zero */
		  "        expect: [rows / (rows - 1) == 1]\n");
	static const struct {
		size_t step;
		struct step_obs o;
		enum verdict want;
		const char *actual; /* of the first result the step adds */
	} cases[] = {
		{0, {.status = OBS_OK}, VERDICT_PASS, "ok, 0 rows, 0 affected"},
		{0, {.status = OBS_ERROR, .sqlstate = "23505", .message = "could not create unique index"},
		 VERDICT_FAIL, "23505: could not create unique index"},
		{0, {.status = OBS_ERROR, .sqlstate = "42601", .message = "syntax error"},
		 VERDICT_BAD_SCENARIO, "42601: syntax error"},
		{0, {.status = OBS_LOST, .message = "server closed the connection"}, VERDICT_ERROR,
		 "server closed the connection"},
		{0, {.status = OBS_INTERRUPTED, .message = "interrupted by signal"}, VERDICT_ERROR,
		 "interrupted by signal"},
		{0, {.status = OBS_TIMEOUT, .message = "deadline passed"}, VERDICT_ERROR,
		 "deadline passed"},
		{1, {.status = OBS_ERROR, .sqlstate = "23505", .message = "could not create unique index"},
		 VERDICT_PASS, "23505: could not create unique index"},
		{1, {.status = OBS_ERROR, .sqlstate = "23505", .message = "duplicate key"},
		 VERDICT_FAIL, "23505: duplicate key"},
		{1, {.status = OBS_ERROR, .sqlstate = "42P07", .message = "could not create"},
		 VERDICT_FAIL, "42P07: could not create"},
		{1, {.status = OBS_OK}, VERDICT_FAIL, "succeeded"},
		{1, {.status = OBS_LOST, .message = "gone"}, VERDICT_ERROR, "gone"},
		{2, {.status = OBS_OK, .rows = 1}, VERDICT_PASS, "ok, 1 rows, 0 affected"},
		{2, {.status = OBS_OK, .rows = 2}, VERDICT_FAIL, "ok, 2 rows, 0 affected"},
		{3, {.status = OBS_OK, .note = "3 btree indexes verified against the heap", .rows = 3},
		 VERDICT_PASS, "ok, 3 btree indexes verified against the heap"},
		{3, {.status = OBS_OK, .note = "amcheck is not available (0A000)", .unchecked = true},
		 VERDICT_FAIL, "checked nothing: amcheck is not available (0A000)"},
		{4, {.status = OBS_OK, .rows = 1}, VERDICT_BAD_SCENARIO, "ok, 1 rows, 0 affected"},
	};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct step_obs o = cases[i].o;
		o.sqlstate = o.sqlstate ? o.sqlstate : "";
		o.message = o.message ? o.message : "";
		o.detail = o.detail ? o.detail : "";
		o.note = o.note ? o.note : "";
		char why[1024] = "";
		reset(&ph);
		size_t s = cases[i].step;
		enum verdict v = judge_step(&sc, &sc.phases[0].steps[s], s, &o, &ph, why, sizeof why);
		cr_expect_eq(v, cases[i].want, "case %zu: verdict %s", i, verdict_name(v));
		cr_assert_geq(ph.n_expects, 1, "case %zu", i);
		cr_expect(strstr(ph.expects[0].actual, cases[i].actual), "case %zu: actual \"%s\"", i,
			  ph.expects[0].actual);
		cr_expect_eq(ph.expects[0].step, (int)s + 1, "case %zu", i);
		if (v == VERDICT_BAD_SCENARIO || v == VERDICT_ERROR)
			cr_expect(strstr(why, "j.yaml:"), "case %zu: why \"%s\" names no file", i, why);
	}
	reset(&ph);
	scenario_free(&sc);
}

/* A built-in check's failed metric check carries what the check found, so
 * the terminal's FAIL line says why (before, "0 == 1" alone); a passing one,
 * and one without a note, stay as they were. */
Test(judge, failed_check_metric_says_what_was_found)
{
	struct scenario sc;
	load(&sc, "  - name: p\n"
		  "    steps:\n"
		  "      - check: unique uq on t (a, b)\n"
		  "        expect: [rows == 1]\n"
		  "      - sql: SELECT 1\n"
		  "        expect: [rows == 1]\n");
	static const struct {
		size_t step;
		long long rows;
		const char *note, *actual;
		bool passed;
	} cases[] = {
		{0, 0, "uq (a unique constraint) is on table t2 (a, b)",
		 "0 == 1: uq (a unique constraint) is on table t2 (a, b)", false},
		{0, 1, "uq is a valid unique constraint", "1 == 1", true},
		{1, 0, "", "0 == 1", false},
	};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct step_obs o = {.status = OBS_OK, .sqlstate = "", .message = "", .detail = "",
				     .note = cases[i].note, .rows = cases[i].rows};
		char why[1024] = "";
		reset(&ph);
		size_t s = cases[i].step;
		judge_step(&sc, &sc.phases[0].steps[s], s, &o, &ph, why, sizeof why);
		cr_assert_eq(ph.n_expects, 2, "case %zu", i);
		cr_expect_str_eq(ph.expects[1].actual, cases[i].actual, "case %zu", i);
		cr_expect_eq(ph.expects[1].passed, cases[i].passed, "case %zu", i);
	}
	reset(&ph);
	scenario_free(&sc);
}

/* A phase result as a race would leave it. */
static void raced(struct phase_result *ph, int workers, int rounds, long long rows_min,
		  long long rows_max, long long dups, long long ok, long long violations)
{
	reset(ph);
	ph->workers = workers;
	ph->rounds = rounds;
	ph->keys = 1;
	ph->rows_min = rows_min;
	ph->rows_max = rows_max;
	ph->rounds_with_duplicates = dups;
	ph->attempts = (long long)workers * rounds;
	outcome_add(&ph->outcomes, "ok", ok);
	if (violations) {
		outcome_add(&ph->outcomes, "23505", violations);
		outcome_add(&ph->constraints, "u", violations);
	}
}

Test(judge, races)
{
	struct scenario sc;
	load(&sc, "  - name: always\n"
		  "    race: {}\n"
		  "    expect: [rows_per_key.max == 1, constraint.u == outcomes.23505]\n"
		  "  - name: hold-only\n"
		  "    race: {}\n"
		  "    expect: [{hold: rounds_with_duplicates == rounds}]\n"
		  "  - name: mixed\n"
		  "    race: {}\n"
		  "    expect: [rounds_with_duplicates >= 1, {hold: rows_per_key.min == workers}]\n"
		  "  - name: divides\n"
		  "    race: {}\n"
		  "    expect: [outcomes.23505 / (workers - 2) == 1]\n"
		  "  - name: typo\n"
		  "    race: {}\n"
		  "    expect: [constraint.uq_typo == outcomes.23505]\n");
	static const struct {
		size_t phase;
		enum race_mode mode;
		int workers;
		long long rows_min, rows_max, dups, ok, violations;
		enum verdict want;
		size_t n_results;
		const char *actual; /* of the first result */
	} cases[] = {
		{0, MODE_HOLD, 4, 1, 1, 0, 1, 3, VERDICT_PASS, 2, "1 == 1"},
		{0, MODE_HOLD, 4, 4, 4, 1, 4, 0, VERDICT_FAIL, 2, "4 == 1"},
		{1, MODE_HOLD, 4, 4, 4, 5, 4, 0, VERDICT_PASS, 1, "5 == 5"},
		/* a hold-only phase raced in fire judges nothing: a failure, never a pass */
		{1, MODE_FIRE, 4, 1, 1, 0, 1, 0, VERDICT_FAIL, 1, "none does"},
		{2, MODE_FIRE, 4, 1, 3, 1, 4, 0, VERDICT_PASS, 1, "1 >= 1"},
		{2, MODE_HOLD, 4, 3, 4, 1, 4, 0, VERDICT_FAIL, 2, "1 >= 1"},
		/* workers - 2 == 0: cannot be evaluated, the scenario's fault */
		{3, MODE_HOLD, 2, 1, 1, 0, 1, 1, VERDICT_BAD_SCENARIO, 1, "cannot evaluate: division by zero"},
		{3, MODE_HOLD, 3, 1, 1, 0, 1, 1, VERDICT_PASS, 1, "1 == 1"},
		/* a constraint the sandbox lacks says so */
		{4, MODE_FIRE, 2, 1, 1, 0, 2, 0, VERDICT_PASS, 1,
		 "(no constraint or index named uq_typo in the sandbox)"},
	};
	static const char *const gone[] = {"uq_typo"};
	struct name_list missing = {gone, 1};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char why[1024] = "";
		raced(&ph, cases[i].workers, 5, cases[i].rows_min, cases[i].rows_max, cases[i].dups,
		      cases[i].ok, cases[i].violations);
		enum verdict v = judge_race(&sc, &sc.phases[cases[i].phase], cases[i].mode, &missing,
					    &ph, why, sizeof why);
		cr_expect_eq(v, cases[i].want, "case %zu: %s", i, verdict_name(v));
		cr_expect_eq(ph.n_expects, cases[i].n_results, "case %zu: %zu results", i, ph.n_expects);
		cr_assert_geq(ph.n_expects, 1, "case %zu", i);
		cr_expect(strstr(ph.expects[0].actual, cases[i].actual), "case %zu: \"%s\"", i,
			  ph.expects[0].actual);
		if (v == VERDICT_BAD_SCENARIO)
			cr_expect(strstr(why, "j.yaml:"), "case %zu: %s", i, why);
	}
	reset(&ph);
	scenario_free(&sc);
}

Test(judge, applicable)
{
	struct scenario sc;
	load(&sc, "  - name: hold-only\n"
		  "    race: {}\n"
		  "    expect: [{hold: rows_per_key.max == 1}, {hold: attempts >= 1}]\n"
		  "  - name: fire-only\n"
		  "    race: {}\n"
		  "    expect: [{fire: rows_per_key.max == 1}]\n"
		  "  - name: both\n"
		  "    race: {}\n"
		  "    expect: [rows_per_key.max == 1, {fire: attempts >= 1}]\n");
	cr_expect_eq(judge_applicable(&sc.phases[0], MODE_HOLD), 2);
	cr_expect_eq(judge_applicable(&sc.phases[0], MODE_FIRE), 0);
	cr_expect_eq(judge_applicable(&sc.phases[1], MODE_HOLD), 0);
	cr_expect_eq(judge_applicable(&sc.phases[1], MODE_FIRE), 1);
	cr_expect_eq(judge_applicable(&sc.phases[2], MODE_HOLD), 1);
	cr_expect_eq(judge_applicable(&sc.phases[2], MODE_FIRE), 2);
	scenario_free(&sc);
}

Test(judge, wrong_flow_sql)
{
	struct scenario sc;
	load(&sc, "  - name: p\n    race: {}\n    expect: [attempts >= 1]\n");
	struct phase_result ph = {0};
	char why[1024] = "";
	raced(&ph, 2, 1, 0, 0, 0, 0, 0);
	outcome_add(&ph.outcomes, "42P01", 2);
	outcome_note(&ph.outcomes, "42P01", "at flow step 1: relation \"x\" does not exist", 7);
	cr_expect_eq(judge_race(&sc, &sc.phases[0], MODE_HOLD, NULL, &ph, why, sizeof why),
		     VERDICT_BAD_SCENARIO);
	cr_expect(strstr(why, "j.yaml:7: phase p: the server rejected the flow: 42P01"), "%s", why);
	cr_expect_eq(judge_flow(&sc, &sc.phases[0], &ph, why, sizeof why), VERDICT_BAD_SCENARIO);
	reset(&ph);
	scenario_free(&sc);
}

static void add(struct phase_result *ph, int step, bool passed)
{
	ph->expects = realloc(ph->expects, sizeof *ph->expects * (ph->n_expects + 1));
	cr_assert(ph->expects);
	struct expect_result *x = &ph->expects[ph->n_expects++];
	memset(x, 0, sizeof *x);
	x->passed = passed;
	x->step = step;
}

Test(judge, phase_verdicts)
{
	struct phase reproduce = {.name = "before", .must_reproduce = true};
	struct phase plain = {.name = "after"};
	static const struct {
		bool must_reproduce;
		bool broken;
		long long dups;
		bool step_ok, race_ok;
		enum verdict want;
	} cases[] = {
		{false, false, 0, true, true, VERDICT_PASS},
		{false, false, 0, true, false, VERDICT_FAIL},
		{false, false, 0, false, true, VERDICT_FAIL},
		{false, true, 0, true, true, VERDICT_ERROR}, /* broken never passes */
		{true, false, 0, true, false, VERDICT_INCONCLUSIVE},
		{true, false, 3, true, false, VERDICT_FAIL},  /* it reproduced: a real failure */
		{true, false, 0, false, true, VERDICT_FAIL},  /* a failed step (a broken down migration) */
		{true, false, 0, false, false, VERDICT_FAIL},
		{true, true, 0, true, false, VERDICT_ERROR},
		{true, false, 0, true, true, VERDICT_PASS},
	};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reset(&ph);
		ph.broken = cases[i].broken;
		ph.rounds_with_duplicates = cases[i].dups;
		add(&ph, 1, cases[i].step_ok);
		add(&ph, 0, cases[i].race_ok);
		enum verdict v = judge_phase(cases[i].must_reproduce ? &reproduce : &plain, &ph);
		cr_expect_eq(v, cases[i].want, "case %zu: %s", i, verdict_name(v));
		cr_expect_eq(ph.verdict, v);
		cr_expect_eq(ph.passed, v == VERDICT_PASS, "case %zu", i);
	}
	/* A verdict recorded already (a bad scenario) is never softened. */
	reset(&ph);
	ph.verdict = VERDICT_BAD_SCENARIO;
	cr_expect_eq(judge_phase(&plain, &ph), VERDICT_BAD_SCENARIO);
	cr_expect_not(ph.passed);
	reset(&ph);
}

/* An interleave or replay phase in which no order could run judged zero
 * rounds and passed (rows/key 0..0). No executable order is no evidence:
 * a failure, or inconclusive when the phase must reproduce, and the
 * expectations are not evaluated on rows nobody counted. */
Test(judge, no_executable_order_is_no_evidence)
{
	struct scenario sc;
	load(&sc, "  - name: replay\n"
		  "    race: {mode: interleave}\n"
		  "    orders: [\"a1 b1 b2 a2\"]\n"
		  "    expect: [rows_per_key.max <= 1]\n"
		  "  - name: replay-reproduce\n"
		  "    must_reproduce: true\n"
		  "    race: {mode: interleave}\n"
		  "    orders: [\"a1 b1 b2 a2\"]\n"
		  "    expect: [rows_per_key.max <= 1]\n");
	static const struct {
		size_t phase;
		int rounds;
		enum verdict race, verdict;
		const char *expect, *actual;
	} cases[] = {
		{0, 0, VERDICT_FAIL, VERDICT_FAIL, "at least one executable order",
		 "none: 1 of 1 orders not executable"},
		{1, 0, VERDICT_FAIL, VERDICT_INCONCLUSIVE, "at least one executable order",
		 "none: 1 of 1 orders not executable"},
		{0, 1, VERDICT_PASS, VERDICT_PASS, "rows_per_key.max <= 1", "1 <= 1"},
	};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char why[1024] = "";
		raced(&ph, 2, cases[i].rounds, cases[i].rounds ? 1 : -1, cases[i].rounds ? 1 : 0, 0,
		      0, 0);
		ph.ilv.n_orders = 1;
		ph.ilv.not_executable = 1 - cases[i].rounds;
		const struct phase *p = &sc.phases[cases[i].phase];
		enum verdict v = judge_race(&sc, p, MODE_INTERLEAVE, NULL, &ph, why, sizeof why);
		cr_expect_eq(v, cases[i].race, "case %zu: %s", i, verdict_name(v));
		cr_assert_eq(ph.n_expects, 1, "case %zu: %zu results", i, ph.n_expects);
		cr_expect_str_eq(ph.expects[0].expect, cases[i].expect, "case %zu", i);
		cr_expect_str_eq(ph.expects[0].actual, cases[i].actual, "case %zu", i);
		v = judge_phase(p, &ph);
		cr_expect_eq(v, cases[i].verdict, "case %zu: %s", i, verdict_name(v));
	}
	reset(&ph);
	scenario_free(&sc);
}

/* --duration: only a free-running phase whose steps passed is "measured";
 * a failed step fails it, and a judged phase keeps its verdict. Before, the
 * runner counted a -T run's failed steps and interleave phases as measured. */
Test(judge, duration_measures_only_free_runs)
{
	struct phase plain = {.name = "p"};
	static const struct {
		bool free_run, step_ok, race_ok;
		enum verdict want;
	} cases[] = {
		{true, true, true, VERDICT_MEASURED},
		{true, false, true, VERDICT_FAIL},
		{false, true, true, VERDICT_PASS},  /* judged (steps only, interleave): pass */
		{false, true, false, VERDICT_FAIL}, /* judged and failed: fail */
	};
	struct phase_result ph = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reset(&ph);
		ph.free_run = cases[i].free_run;
		add(&ph, 1, cases[i].step_ok);
		if (!cases[i].free_run)
			add(&ph, 0, cases[i].race_ok);
		enum verdict v = judge_phase(&plain, &ph);
		cr_expect_eq(v, cases[i].want, "case %zu: %s", i, verdict_name(v));
		cr_expect_eq(ph.passed, v == VERDICT_PASS || v == VERDICT_MEASURED, "case %zu", i);
	}
	reset(&ph);
}

Test(judge, exit_codes)
{
	static const struct {
		enum verdict v;
		int signo, want;
	} cases[] = {
		{VERDICT_PASS, 0, EXIT_PASS},
		{VERDICT_FAIL, 0, EXIT_FAIL},
		{VERDICT_BAD_SCENARIO, 0, EXIT_USAGE},
		{VERDICT_ERROR, 0, EXIT_DATABASE},
		{VERDICT_INCONCLUSIVE, 0, EXIT_INCONCLUSIVE},
		{VERDICT_SKIPPED, 0, EXIT_SKIPPED},
		{VERDICT_MEASURED, 0, EXIT_PASS},
		{VERDICT_MEASURED, SIGINT, EXIT_SIGINT},
		{VERDICT_PASS, SIGINT, EXIT_SIGINT},
		{VERDICT_FAIL, SIGTERM, EXIT_SIGTERM},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(judge_exit_code(cases[i].v, cases[i].signo), cases[i].want, "case %zu", i);
	cr_expect_eq(verdict_worse(VERDICT_FAIL, VERDICT_INCONCLUSIVE), VERDICT_FAIL);
	cr_expect_str_eq(verdict_name(VERDICT_BAD_SCENARIO), "bad_scenario");
}

Test(judge, skipped_is_the_mildest)
{
	cr_expect_eq(verdict_worse(VERDICT_SKIPPED, VERDICT_PASS), VERDICT_PASS);
	cr_expect_eq(verdict_worse(VERDICT_PASS, VERDICT_SKIPPED), VERDICT_PASS);
	cr_expect_eq(verdict_worse(VERDICT_SKIPPED, VERDICT_FAIL), VERDICT_FAIL);
	cr_expect_eq(verdict_worse(VERDICT_SKIPPED, VERDICT_SKIPPED), VERDICT_SKIPPED);
	cr_expect_str_eq(verdict_name(VERDICT_SKIPPED), "skipped");
}

/* A --duration run judged nothing: "measured", between skipped and pass. */
Test(judge, measured_is_milder_than_pass)
{
	static const struct {
		enum verdict a, b, want;
	} cases[] = {
		{VERDICT_MEASURED, VERDICT_PASS, VERDICT_PASS},
		{VERDICT_PASS, VERDICT_MEASURED, VERDICT_PASS},
		{VERDICT_MEASURED, VERDICT_SKIPPED, VERDICT_MEASURED},
		{VERDICT_SKIPPED, VERDICT_MEASURED, VERDICT_MEASURED},
		{VERDICT_MEASURED, VERDICT_ERROR, VERDICT_ERROR},
		{VERDICT_BAD_SCENARIO, VERDICT_MEASURED, VERDICT_BAD_SCENARIO},
		{VERDICT_MEASURED, VERDICT_MEASURED, VERDICT_MEASURED},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(verdict_worse(cases[i].a, cases[i].b), cases[i].want, "case %zu", i);
	cr_expect_str_eq(verdict_name(VERDICT_MEASURED), "measured");
}

/* ---- requires ---- */

static const struct requirements_case {
	int need_version;
	const char *ext[2];
	bool have[2];
	int version_num;
	const char *version;
	const char *reason; /* "" = met */
} requirements_cases[] = {
	{0, {NULL, NULL}, {false, false}, 130023, "13.23", ""},
	{15, {NULL, NULL}, {false, false}, 130023, "13.23", "needs PostgreSQL >= 15, server is 13.23"},
	{15, {NULL, NULL}, {false, false}, 140023, "14.23", "needs PostgreSQL >= 15, server is 14.23"},
	{15, {NULL, NULL}, {false, false}, 150018, "15.18", ""},
	{15, {NULL, NULL}, {false, false}, 180004, "18.4", ""},
	{18, {"btree_gist", NULL}, {true, false}, 170010, "17.10",
	 "needs PostgreSQL >= 18, server is 17.10"},
	{18, {"btree_gist", NULL}, {true, false}, 180004, "18.4", ""},
	{18, {"btree_gist", NULL}, {false, false}, 180004, "18.4",
	 "needs extension btree_gist, which PostgreSQL 18.4 here does not have"},
	{0, {"btree_gist", "amcheck"}, {true, false}, 150018, "15.18",
	 "needs extension amcheck, which PostgreSQL 15.18 here does not have"},
	{0, {"btree_gist", "amcheck"}, {true, true}, 150018, "15.18", ""},
	/* A development or beta server counts by its major: 18devel is 180000. */
	{18, {NULL, NULL}, {false, false}, 180000, "18devel", ""},
};

/* requires: a major version at least this, extensions it can create. */
Test(judge, requirements_table)
{
	for (size_t i = 0; i < sizeof requirements_cases / sizeof requirements_cases[0]; i++) {
		const struct requirements_case *c = &requirements_cases[i];
		struct requirements rq = {.server_version = c->need_version};
		for (size_t j = 0; j < 2 && c->ext[j]; j++)
			rq.extensions[rq.n_extensions++] = (char *)c->ext[j];
		char reason[256];
		enum verdict v = judge_requirements(&rq, c->version_num, c->version, c->have, reason,
						    sizeof reason);
		cr_expect_eq(v, c->reason[0] ? VERDICT_SKIPPED : VERDICT_PASS, "case %zu: %s", i, reason);
		cr_expect_str_eq(reason, c->reason, "case %zu", i);
	}
}
