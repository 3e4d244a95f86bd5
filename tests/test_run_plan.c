/* test_run_plan.c: run_plan (src/run_plan.c) decides before anything runs
 * which engine races each phase, with which settings, and refuses what
 * could not be judged, naming file:line. Scenarios built in memory. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "run_plan.h"

static void load(struct scenario *sc, const char *schema, const char *phases)
{
	char buf[4096], err[1024];
	snprintf(buf, sizeof buf,
		 "name: p\n"
		 "schema: %s\n"
		 "params: [round]\n"
		 "rows: SELECT count(*) FROM t WHERE k = $1\n"
		 "flow:\n"
		 "  - sql: INSERT INTO t VALUES ($1)\n"
		 "phases:\n%s",
		 schema, phases);
	cr_assert(scenario_parse("p.yaml", buf, strlen(buf), sc, err, sizeof err), "%s", err);
}

#define PHASES                                       \
	"  - name: steps\n"                          \
	"    steps: [{sql: SELECT 1}]\n"             \
	"  - name: held\n"                           \
	"    race: {workers: 3}\n"                   \
	"    expect: [rows_per_key.max >= 1]\n"      \
	"  - name: fired\n"                          \
	"    race: {mode: fire, workers: 5}\n"       \
	"    expect: [rows_per_key.max >= 1]\n"      \
	"  - name: orders\n"                         \
	"    race: {mode: interleave, workers: 2}\n" \
	"    expect: [rows_per_key.max >= 1]\n"

Test(run_plan, engine_and_settings_per_phase)
{
	static const struct {
		int duration_ms;
		bool override_interleave;
		enum phase_engine want[4];
		enum race_mode mode[4];
	} cases[] = {
		{0,
		 false,
		 {ENGINE_NONE, ENGINE_ROUNDS, ENGINE_ROUNDS, ENGINE_ORDERS},
		 {0, MODE_HOLD, MODE_FIRE, MODE_INTERLEAVE}},
		/* --duration free-runs every race but interleave's orders */
		{1000,
		 false,
		 {ENGINE_NONE, ENGINE_FREE, ENGINE_FREE, ENGINE_ORDERS},
		 {0, MODE_HOLD, MODE_FIRE, MODE_INTERLEAVE}},
		/* --mode interleave on the command line: every race that does not
		 * name its own mode interleaves */
		{0,
		 true,
		 {ENGINE_NONE, ENGINE_ORDERS, ENGINE_ROUNDS, ENGINE_ORDERS},
		 {0, MODE_INTERLEAVE, MODE_FIRE, MODE_INTERLEAVE}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct scenario sc;
		struct run_plan plan;
		struct race_cfg over;
		char err[1024] = "";
		memset(&over, 0, sizeof over);
		if (cases[i].override_interleave) {
			over.mode = MODE_INTERLEAVE;
			over.workers = 2;
			over.set = RACE_SET_MODE | RACE_SET_WORKERS;
		}
		load(&sc, "CREATE TABLE t (k int)", PHASES);
		cr_assert(run_plan(&sc, &over, cases[i].duration_ms, false, false, &plan, err,
				   sizeof err),
			  "case %zu: %s", i, err);
		cr_expect_eq(plan.n_phases, 4);
		for (size_t j = 0; j < 4; j++) {
			cr_expect_eq(plan.phases[j].engine, cases[i].want[j], "case %zu phase %zu: %s",
				     i, j, run_plan_engine_name(plan.phases[j].engine));
			if (cases[i].want[j] != ENGINE_NONE)
				cr_expect_eq(plan.phases[j].cfg.mode, cases[i].mode[j],
					     "case %zu phase %zu", i, j);
		}
		cr_expect_eq(plan.most_workers, 5, "case %zu", i);
		cr_expect_str_eq(plan.busiest, "fired", "case %zu", i);
		run_plan_free(&plan);
		scenario_free(&sc);
	}
}

Test(run_plan, refusals_name_file_and_line)
{
	static const struct {
		const char *schema, *phases;
		bool admin_pooled;
		const char *want; /* a piece of err */
	} cases[] = {
		{"CREATE TABLE t (k int)",
		 "  - name: p\n    race: {mode: fire}\n    expect: [{hold: rows_per_key.max == 1}]\n",
		 false, "p.yaml:8: phase p races in mode fire, but every expectation of it is limited"},
		{"CREATE TABLE t (k int)",
		 "  - name: p\n    race: {mode: fire, autocommit: true}\n    expect: [attempts >= 1]\n",
		 false,
		 "p.yaml:8: phase p: race: {autocommit: true} races in fire mode only, and not through "
		 "--pooler"},
		{"CREATE TABLE t (k int)",
		 "  - name: p\n    race: {workers: 9}\n    expect: [attempts >= 1]\n", false,
		 "p.yaml:8: phase \"p\": interleave mode runs 1 to 4 workers"}, /* --mode interleave */
		{"CREATE TABLE t (k int)",
		 "  - name: p\n    race: {retries: 3}\n    expect: [attempts >= 1]\n", false,
		 "p.yaml:8: phase \"p\": race: {retries: 3} tries a 40001/40P01 loser again, which "
		 "interleave mode does not"}, /* --mode interleave */
		{"\"CREATE TABLE t (k int); CREATE INDEX CONCURRENTLY i ON t (k)\"",
		 "  - name: p\n    race: {}\n    expect: [attempts >= 1]\n", true,
		 "p.yaml:2: this statement cannot run inside a transaction block"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct scenario sc;
		struct run_plan plan;
		struct race_cfg over;
		char err[1024] = "";
		memset(&over, 0, sizeof over);
		if (i == 2 || i == 3) {
			over.mode = MODE_INTERLEAVE;
			over.set = RACE_SET_MODE;
		}
		load(&sc, cases[i].schema, cases[i].phases);
		cr_expect(!run_plan(&sc, &over, 0, true, cases[i].admin_pooled, &plan, err, sizeof err),
			  "case %zu planned", i);
		cr_expect(strstr(err, cases[i].want), "case %zu: %s", i, err);
		run_plan_free(&plan);
		scenario_free(&sc);
	}
	/* The same pooled script is fine when setup has a connection of its own. */
	struct scenario sc;
	struct run_plan plan;
	struct race_cfg over;
	char err[1024] = "";
	memset(&over, 0, sizeof over);
	load(&sc, cases[4].schema, cases[4].phases);
	cr_expect(run_plan(&sc, &over, 0, true, false, &plan, err, sizeof err), "%s", err);
	run_plan_free(&plan);
	scenario_free(&sc);
}
