/* test_scenario.c: the scenario loader.
 *
 * The seed scenario is loaded and checked field by field; small files in
 * tests/data/good exercise the optional keys; every file in tests/data/bad
 * carries ONE defect and has a row in bad_cases[] naming the line and the
 * message it must produce ("PATH:LINE: what"). Files that cannot be
 * committed cleanly (NUL bytes, invalid UTF-8, over 1 MiB) are written at run
 * time into a private temporary directory. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expect.h"
#include "scenario.h"

#define SEED PGRACE_SOURCE_DIR "/scenarios/membership-unique.yaml"
#define GOOD PGRACE_TEST_DATA "/good/"
#define BAD PGRACE_TEST_DATA "/bad/"

TestSuite(scenario, .timeout = 60);

/* ---- helpers ---------------------------------------------------------- */

static void load_ok(const char *path, struct scenario *sc)
{
	char err[1024] = "";
	bool ok = scenario_load(path, sc, err, sizeof err);
	cr_assert(ok, "%s: expected to load, got: %s", path, err);
}

/* Loads path, which must fail with "path:line: ...needle...", and leave *sc
 * empty. */
static void load_fails(const char *path, int line, const char *needle)
{
	struct scenario sc;
	char err[2048] = "";
	memset(&sc, 0x5a, sizeof sc); /* garbage: the loader must empty it */
	bool ok = scenario_load(path, &sc, err, sizeof err);
	if (ok)
		scenario_free(&sc);
	cr_assert_not(ok, "%s: loaded, expected an error at line %d containing \"%s\"", path,
		      line, needle);
	char prefix[PATH_MAX + 64];
	snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
	cr_expect(strncmp(err, prefix, strlen(prefix)) == 0,
		  "wrong place: got \"%s\", expected it to start with \"%s\"", err, prefix);
	cr_expect(strstr(err, needle) != NULL, "wrong message: got \"%s\", expected \"%s\" in it",
		  err, needle);
	cr_expect(sc.name == NULL && sc.path == NULL && sc.phases == NULL && sc.n_phases == 0 &&
			  sc.flow == NULL && sc.params == NULL && sc.sql == NULL,
		  "%s: *sc not left empty after a failed load", path);
}

static const struct phase *find_phase(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_phases; i++)
		if (strcmp(sc->phases[i].name, name) == 0)
			return &sc->phases[i];
	cr_assert_fail("no phase \"%s\"", name);
	return NULL;
}

struct metric {
	const char *name;
	long long value;
};

static bool metric_lookup(void *ctx, const char *name, long long *value)
{
	for (const struct metric *m = ctx; m->name; m++)
		if (strcmp(m->name, name) == 0) {
			*value = m->value;
			return true;
		}
	return false;
}

/* ---- the seed scenario ------------------------------------------------ */

Test(scenario, seed_top_level)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	cr_expect_str_eq(sc.path, SEED);
	cr_expect_str_eq(sc.name, "membership-unique");
	cr_expect(sc.description && strstr(sc.description, "migration 005"), "description: %s",
		  sc.description ? sc.description : "(null)");
	/* Block scalars start on the line after "key: |". */
	cr_expect_eq(sc.schema.line, 15);
	cr_expect(strncmp(sc.schema.sql, "CREATE TABLE users (", 20) == 0, "schema: %s",
		  sc.schema.sql);
	cr_expect_eq(sc.seed.line, 32);
	cr_expect(strncmp(sc.seed.sql, "INSERT INTO users", 17) == 0);
	cr_expect_eq(sc.migrate_up.line, 39);
	cr_expect(strstr(sc.migrate_up.sql, "ADD CONSTRAINT uq_user_tenant_membership_user_tenant"));
	cr_expect_eq(sc.migrate_down.line, 42);
	cr_expect(strstr(sc.migrate_down.sql, "DROP CONSTRAINT"));
	cr_expect_eq(sc.rows.line, 70);
	cr_expect_str_eq(sc.rows.sql, "SELECT count(*) FROM user_tenant_membership WHERE user_id = "
				      "$1 AND tenant_id = $2");
	cr_expect_eq(sc.n_sql, 2);
	scenario_free(&sc);
	cr_expect(sc.name == NULL && sc.n_phases == 0, "scenario_free leaves *sc empty");
}

Test(scenario, seed_phases_in_order)
{
	static const struct {
		const char *name;
		int line;
		bool has_race, must_reproduce;
		size_t n_steps, n_expects;
	} want[] = {
		{"baseline", 79, true, false, 0, 3},
		{"before", 86, true, true, 0, 3},
		{"interleave-before", 99, true, false, 0, 5},
		{"precheck", 108, false, false, 4, 0},
		{"migrate", 120, false, false, 2, 0},
		{"after", 126, true, false, 0, 7},
		{"interleave-after", 144, true, false, 0, 8},
		{"downgrade", 156, true, true, 1, 2},
	};
	struct scenario sc;
	load_ok(SEED, &sc);
	cr_assert_eq(sc.n_phases, 8);
	for (size_t i = 0; i < sc.n_phases; i++) {
		const struct phase *p = &sc.phases[i];
		cr_expect_str_eq(p->name, want[i].name, "phase %zu", i);
		cr_expect_eq(p->line, want[i].line, "phase %s: line %d", p->name, p->line);
		cr_expect_eq(p->has_race, want[i].has_race, "phase %s: has_race", p->name);
		cr_expect_eq(p->must_reproduce, want[i].must_reproduce, "phase %s: must_reproduce",
			     p->name);
		cr_expect_eq(p->n_steps, want[i].n_steps, "phase %s: steps", p->name);
		cr_expect_eq(p->n_expects, want[i].n_expects, "phase %s: expects", p->name);
	}
	scenario_free(&sc);
}

Test(scenario, seed_flow_and_params)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	cr_assert_eq(sc.n_flow, 2);
	cr_expect(sc.flow[0].skip_if_found);
	cr_expect_not(sc.flow[1].skip_if_found);
	cr_expect_eq(sc.flow[0].text.line, 74);
	cr_expect_eq(sc.flow[1].text.line, 76);
	cr_expect(strncmp(sc.flow[0].text.sql, "SELECT 1 FROM", 13) == 0);
	cr_expect(strncmp(sc.flow[1].text.sql, "INSERT INTO", 11) == 0);

	/* params: [round, 1] */
	cr_assert_eq(sc.n_params, 2);
	struct metric m[] = {{"round", 7}, {"key", 3}, {"phase_round", 2}, {NULL, 0}};
	long long v = -1;
	char err[128];
	cr_assert(expr_eval(sc.params[0].expr, metric_lookup, m, &v, err, sizeof err), "%s", err);
	cr_expect_eq(v, 7);
	cr_assert(expr_eval(sc.params[1].expr, metric_lookup, m, &v, err, sizeof err), "%s", err);
	cr_expect_eq(v, 1);
	scenario_free(&sc);
}

Test(scenario, seed_race_defaults)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	cr_expect_eq(sc.race.workers, 16);
	cr_expect_eq(sc.race.rounds, 20);
	cr_expect_eq(sc.race.mode, MODE_HOLD);
	cr_expect_eq(sc.race.isolation, ISO_READ_COMMITTED);
	cr_expect_eq(sc.race.keys, 1);            /* filled in: not in the file */
	cr_expect_eq(sc.race.deadline_ms, 10000); /* filled in: not in the file */
	cr_expect_eq(sc.race.retries, 0);
	cr_expect_eq(sc.race.dist, DIST_UNIFORM);
	cr_expect_eq(sc.race.set,
		     RACE_SET_WORKERS | RACE_SET_ROUNDS | RACE_SET_MODE | RACE_SET_ISOLATION);
	const struct phase *b = find_phase(&sc, "baseline");
	cr_expect_eq(b->race.set, RACE_SET_WORKERS | RACE_SET_ROUNDS);
	cr_expect_eq(b->race.workers, 1);
	cr_expect_eq(b->race.rounds, 3);
	cr_expect_eq(find_phase(&sc, "before")->race.set, 0u);
	scenario_free(&sc);
}

Test(scenario, seed_precheck_steps)
{
	static const struct {
		enum step_kind kind;
		const char *label;
		int line, text_line;
		const char *expect_error, *expect_message, *expect;
	} want[] = {
		{STEP_SQL, "run precheck", 110, 47, "", NULL, "rows >= 1"},
		{STEP_MIGRATE_UP, "migrate up", 112, 39, "23505", "could not create unique index",
		 NULL},
		{STEP_SQL, "run cleanup", 115, 53, "", NULL, "affected >= 1"},
		{STEP_SQL, "run precheck", 117, 47, "", NULL, "rows == 0"},
	};
	struct scenario sc;
	load_ok(SEED, &sc);
	const struct phase *p = find_phase(&sc, "precheck");
	cr_assert_eq(p->n_steps, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct step *st = &p->steps[i];
		cr_expect_eq(st->kind, want[i].kind, "step %zu", i);
		cr_expect_str_eq(st->label, want[i].label, "step %zu", i);
		cr_expect_eq(st->line, want[i].line, "step %zu: line %d", i, st->line);
		cr_expect_eq(st->text.line, want[i].text_line, "step %zu: text line %d", i,
			     st->text.line);
		cr_expect_str_eq(st->expect_error, want[i].expect_error, "step %zu", i);
		if (want[i].expect_message)
			cr_expect(st->expect_message &&
					  strcmp(st->expect_message, want[i].expect_message) == 0,
				  "step %zu: expect_message", i);
		else
			cr_expect_null(st->expect_message, "step %zu", i);
		if (want[i].expect) {
			cr_assert_eq(st->n_expects, 1, "step %zu", i);
			cr_expect_str_eq(st->expects[0].text, want[i].expect, "step %zu", i);
			cr_expect_eq(st->expects[0].when, WHEN_ALWAYS);
		} else {
			cr_expect_eq(st->n_expects, 0, "step %zu", i);
		}
	}
	cr_expect(strstr(p->steps[0].text.sql, "HAVING COUNT(*) > 1"));
	cr_expect(strstr(p->steps[2].text.sql, "DELETE FROM user_tenant_membership"));

	const struct phase *d = find_phase(&sc, "downgrade");
	cr_assert_eq(d->n_steps, 1);
	cr_expect_eq(d->steps[0].kind, STEP_MIGRATE_DOWN);
	cr_expect_str_eq(d->steps[0].label, "migrate down");
	cr_expect_eq(d->steps[0].text.line, 42);
	scenario_free(&sc);
}

Test(scenario, seed_expectations_when)
{
	static const struct {
		const char *phase;
		size_t i;
		enum expect_when when;
		const char *text;
		int line;
	} want[] = {
		{"baseline", 0, WHEN_ALWAYS, "rows_per_key.min == 1", 82},
		{"baseline", 2, WHEN_ALWAYS, "outcomes.ok == rounds", 84},
		{"before", 0, WHEN_ALWAYS, "rounds_with_duplicates >= 1", 90},
		{"before", 1, WHEN_HOLD, "rounds_with_duplicates == rounds", 91},
		{"before", 2, WHEN_HOLD, "rows_per_key.min == workers", 92},
		{"after", 3, WHEN_ALWAYS, "attempts == outcomes.ok + outcomes.skipped + outcomes.23505",
		 132},
		{"after", 4, WHEN_ALWAYS,
		 "constraint.uq_user_tenant_membership_user_tenant == outcomes.23505", 133},
		{"after", 6, WHEN_HOLD, "outcomes.23505 == (workers - 1) * rounds", 135},
		{"downgrade", 1, WHEN_HOLD, "rounds_with_duplicates == rounds", 163},
		{"interleave-before", 1, WHEN_ALWAYS, "interleavings_with_duplicates == 18", 103},
		{"interleave-after", 4, WHEN_ALWAYS, "outcomes.23505 == 12", 151},
	};
	struct scenario sc;
	load_ok(SEED, &sc);
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		const struct phase *p = find_phase(&sc, want[k].phase);
		cr_assert_lt(want[k].i, p->n_expects, "%s[%zu]", want[k].phase, want[k].i);
		const struct expectation *x = &p->expects[want[k].i];
		cr_expect_eq(x->when, want[k].when, "%s[%zu]: when", want[k].phase, want[k].i);
		cr_expect_str_eq(x->text, want[k].text, "%s[%zu]", want[k].phase, want[k].i);
		cr_expect_eq(x->line, want[k].line, "%s[%zu]: line %d", want[k].phase, want[k].i,
			     x->line);
	}
	scenario_free(&sc);
}

/* Phase override beats command-line override beats the scenario default;
 * overrides apply only where their `set` bits say. */
Test(scenario, race_merge)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	const struct race_cfg cli = {
		.workers = 64,
		.rounds = 7, /* not flagged in set: must be ignored */
		.keys = 2,
		.retries = 5,
		.mode = MODE_FIRE, /* not flagged */
		.isolation = ISO_SERIALIZABLE,
		.set = RACE_SET_WORKERS | RACE_SET_ISOLATION | RACE_SET_KEYS | RACE_SET_RETRIES,
	};
	static const struct {
		const char *phase; /* NULL: no phase */
		bool with_cli;
		int workers, rounds, keys, retries;
		enum race_mode mode;
		enum isolation iso;
	} want[] = {
		/* defaults only */
		{NULL, false, 16, 20, 1, 0, MODE_HOLD, ISO_READ_COMMITTED},
		{"before", false, 16, 20, 1, 0, MODE_HOLD, ISO_READ_COMMITTED},
		{"baseline", false, 1, 3, 1, 0, MODE_HOLD, ISO_READ_COMMITTED},
		/* command line over defaults, only where set */
		{NULL, true, 64, 20, 2, 5, MODE_HOLD, ISO_SERIALIZABLE},
		{"before", true, 64, 20, 2, 5, MODE_HOLD, ISO_SERIALIZABLE},
		/* the phase over the command line; keys clamped to workers */
		{"baseline", true, 1, 3, 1, 5, MODE_HOLD, ISO_SERIALIZABLE},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct phase *p = want[i].phase ? find_phase(&sc, want[i].phase) : NULL;
		struct race_cfg r = scenario_race(&sc, p, want[i].with_cli ? &cli : NULL);
		cr_expect_eq(r.workers, want[i].workers, "row %zu: workers %d", i, r.workers);
		cr_expect_eq(r.rounds, want[i].rounds, "row %zu: rounds %d", i, r.rounds);
		cr_expect_eq(r.keys, want[i].keys, "row %zu: keys %d", i, r.keys);
		cr_expect_eq(r.retries, want[i].retries, "row %zu: retries %d", i, r.retries);
		cr_expect_eq(r.mode, want[i].mode, "row %zu: mode", i);
		cr_expect_eq(r.isolation, want[i].iso, "row %zu: isolation", i);
		cr_expect_eq(r.deadline_ms, 10000, "row %zu", i);
	}
	scenario_free(&sc);
}

/* Interleave mode races two workers unless the phase or the command line
 * names a count (the scenario's default count is for hold and fire), one key,
 * at most 1000 orders, seed 1; --mode interleave turns every race phase into
 * one. */
Test(scenario, race_merge_interleave)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	struct race_cfg r = scenario_race(&sc, find_phase(&sc, "interleave-before"), NULL);
	cr_expect_eq(r.mode, MODE_INTERLEAVE);
	cr_expect_eq(r.workers, 2);
	cr_expect_eq(r.keys, 1);
	cr_expect_eq(r.max_interleavings, 1000);
	cr_expect_eq(r.seed, 1);
	const struct race_cfg cli = {.mode = MODE_INTERLEAVE, .seed = 9, .max_interleavings = 5,
				     .set = RACE_SET_MODE | RACE_SET_SEED | RACE_SET_MAX_ILV};
	r = scenario_race(&sc, find_phase(&sc, "before"), &cli);
	cr_expect_eq(r.mode, MODE_INTERLEAVE);
	cr_expect_eq(r.workers, 2, "the scenario's 16 workers are not interleave's");
	cr_expect_eq(r.seed, 9);
	cr_expect_eq(r.max_interleavings, 5);
	r = scenario_race(&sc, find_phase(&sc, "baseline"), &cli);
	cr_expect_eq(r.workers, 1, "the phase's own count holds");
	const struct race_cfg eight = {.workers = 8, .set = RACE_SET_WORKERS};
	r = scenario_race(&sc, find_phase(&sc, "interleave-after"), &eight);
	cr_expect_eq(r.workers, 2, "--workers alone is for hold and fire phases");
	r = scenario_race(&sc, find_phase(&sc, "after"), &eight);
	cr_expect_eq(r.workers, 8);
	const struct race_cfg three = {.workers = 3, .mode = MODE_INTERLEAVE,
				       .set = RACE_SET_WORKERS | RACE_SET_MODE};
	r = scenario_race(&sc, find_phase(&sc, "interleave-after"), &three);
	cr_expect_eq(r.workers, 3, "--mode interleave --workers 3");
	r = scenario_race(&sc, find_phase(&sc, "after"), NULL);
	cr_expect_eq(r.mode, MODE_HOLD);
	cr_expect_eq(r.workers, 16);
	scenario_free(&sc);
}

Test(scenario, race_merge_clamps)
{
	struct scenario sc;
	load_ok(GOOD "fire-serializable.yaml", &sc);
	/* keys 3 and read_committed_workers 4 by default; the phase sets workers 6. */
	const struct phase *p = find_phase(&sc, "hot");
	const struct race_cfg cli = {.workers = 2, .rc_workers = 9,
				     .set = RACE_SET_WORKERS | RACE_SET_RC};
	struct race_cfg r = scenario_race(&sc, NULL, &cli);
	cr_expect_eq(r.workers, 2);
	cr_expect_eq(r.keys, 2, "keys never exceed workers");
	cr_expect_eq(r.rc_workers, 2, "read_committed_workers never exceed workers");
	r = scenario_race(&sc, p, &cli);
	cr_expect_eq(r.workers, 6);
	cr_expect_eq(r.keys, 3);
	cr_expect_eq(r.rc_workers, 6);
	scenario_free(&sc);
}

Test(scenario, parts_by_name)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	static const struct {
		const char *part;
		const char *starts; /* NULL: no such part */
	} cases[] = {
		{"schema", "CREATE TABLE users"},
		{"seed", "INSERT INTO users"},
		{"rows", "SELECT count(*) FROM user_tenant_membership"},
		{"migration.up", "ALTER TABLE user_tenant_membership\n  ADD CONSTRAINT"},
		{"migration.down", "ALTER TABLE user_tenant_membership DROP CONSTRAINT"},
		{"sql.precheck", "SELECT user_id, tenant_id, COUNT(*)"},
		{"flow.1", "SELECT 1 FROM user_tenant_membership"},
		{"flow.2", "INSERT INTO user_tenant_membership"},
		{"flow.3", NULL},
		{"flow.0", NULL},
		{"flow.", NULL},
		{"flow.1x", NULL},
		{"sql.nothing", NULL},
		{"migration", NULL},
		{"Schema", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sql_text *t = scenario_part(&sc, cases[i].part);
		if (!cases[i].starts) {
			cr_expect_null(t, "%s", cases[i].part);
			continue;
		}
		cr_assert_not_null(t, "%s", cases[i].part);
		cr_expect(!strncmp(t->sql, cases[i].starts, strlen(cases[i].starts)), "%s: %s",
			  cases[i].part, t->sql);
	}
	scenario_free(&sc);
}

Test(scenario, sql_lookup)
{
	struct scenario sc;
	load_ok(SEED, &sc);
	const struct sql_text *t = scenario_sql(&sc, "precheck");
	cr_assert_not_null(t);
	cr_expect_eq(t->line, 47);
	cr_expect(strncmp(t->sql, "SELECT user_id, tenant_id, COUNT(*)", 35) == 0, "%s", t->sql);
	t = scenario_sql(&sc, "cleanup");
	cr_assert_not_null(t);
	cr_expect_eq(t->line, 53);
	cr_expect_null(scenario_sql(&sc, "Cleanup"));
	cr_expect_null(scenario_sql(&sc, ""));
	cr_expect_null(scenario_sql(&sc, "precheck2"));
	scenario_free(&sc);
}

Test(scenario, transaction_control)
{
	static const struct {
		const char *sql;
		const char *want; /* NULL: not transaction control */
	} cases[] = {
		{"COMMIT", "COMMIT"},
		{"commit and chain", "COMMIT"},
		{"  -- done\n  rollback", "ROLLBACK"},
		{"/* a /* nested */ comment */ END", "END"},
		{"begin isolation level serializable", "BEGIN"},
		{"START   TRANSACTION", "START TRANSACTION"},
		{"SAVEPOINT a", "SAVEPOINT"},
		{"release savepoint a", "RELEASE"},
		{"ROLLBACK TO SAVEPOINT a", "ROLLBACK"},
		{"abort", "ABORT"},
		{"PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"},
		{"PREPARE q AS SELECT 1", NULL},
		{"SELECT 1", NULL},
		{"INSERT INTO commits VALUES (1)", NULL},
		{"ENDPOINT", NULL},
		{"committed", NULL},
		{"begin_x()", NULL},
		{"DO $$BEGIN PERFORM 1; END$$", NULL},
		{"", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = sql_transaction_control(cases[i].sql);
		if (cases[i].want)
			cr_expect(got && !strcmp(got, cases[i].want), "\"%s\": got %s", cases[i].sql,
				  got ? got : "NULL");
		else
			cr_expect_null(got, "\"%s\": got %s", cases[i].sql, got);
	}
}

Test(scenario, names_of_enums)
{
	cr_expect_str_eq(mode_name(MODE_HOLD), "hold");
	cr_expect_str_eq(mode_name(MODE_FIRE), "fire");
	cr_expect_str_eq(mode_name(MODE_INTERLEAVE), "interleave");
	cr_expect_str_eq(isolation_sql(ISO_READ_COMMITTED), "READ COMMITTED");
	cr_expect_str_eq(isolation_sql(ISO_REPEATABLE_READ), "REPEATABLE READ");
	cr_expect_str_eq(isolation_sql(ISO_SERIALIZABLE), "SERIALIZABLE");
}

/* ---- small valid files ------------------------------------------------ */

Test(scenario, good_fire_serializable)
{
	struct scenario sc;
	load_ok(GOOD "fire-serializable.yaml", &sc);
	const struct race_cfg *r = &sc.race;
	cr_expect_eq(r->set, 511u, "every RACE_SET_* bit: %u", r->set);
	cr_expect_eq(r->workers, 12);
	cr_expect_eq(r->rounds, 40);
	cr_expect_eq(r->keys, 3);
	cr_expect_eq(r->deadline_ms, 2500);
	cr_expect_eq(r->retries, 2);
	cr_expect_eq(r->mode, MODE_FIRE);
	cr_expect_eq(r->isolation, ISO_SERIALIZABLE);
	cr_expect_eq(r->dist, DIST_HOT);
	cr_expect_eq(r->rc_workers, 4);
	cr_expect_str_eq(sc.seed.sql, "INSERT INTO seats (event_id, seat) VALUES (0, 0)");
	cr_expect_eq(sc.seed.line, 10);

	cr_assert_eq(sc.n_params, 3);
	struct metric m[] = {{"round", 4}, {"key", 2}, {"phase_round", 9}, {NULL, 0}};
	static const long long want_params[] = {2, 4002, 9};
	for (size_t i = 0; i < 3; i++) {
		long long v;
		char err[128];
		cr_assert(expr_eval(sc.params[i].expr, metric_lookup, m, &v, err, sizeof err), "%s", err);
		cr_expect_eq(v, want_params[i], "param %zu: %lld", i, v);
	}
	cr_assert_eq(sc.n_flow, 2);
	cr_expect(sc.flow[0].skip_if_found, "yes is true");
	cr_expect_not(sc.flow[1].skip_if_found, "no is false");

	cr_assert_eq(sc.n_phases, 1);
	const struct phase *p = &sc.phases[0];
	cr_expect(p->has_race);
	cr_expect_eq(p->race.set, RACE_SET_MODE | RACE_SET_ISOLATION | RACE_SET_DIST | RACE_SET_WORKERS);
	struct race_cfg m2 = scenario_race(&sc, p, NULL);
	cr_expect_eq(m2.mode, MODE_HOLD);
	cr_expect_eq(m2.isolation, ISO_REPEATABLE_READ);
	cr_expect_eq(m2.dist, DIST_UNIFORM);
	cr_expect_eq(m2.workers, 6);
	cr_expect_eq(m2.rounds, 40);
	cr_expect_eq(m2.retries, 2);

	static const struct {
		enum expect_when when;
		const char *text;
		int line;
	} want[] = {
		{WHEN_ALWAYS, "attempts == outcomes.ok + outcomes.skipped + outcomes.40001 + outcomes.lost", 36},
		{WHEN_FIRE, "retries >= 0", 37},
		{WHEN_HOLD, "rows_per_key.max <= 1", 38},
		{WHEN_FIRE, "outcomes.40P01 == 0", 39},
	};
	cr_assert_eq(p->n_expects, 4);
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(p->expects[i].when, want[i].when, "expect %zu", i);
		cr_expect_str_eq(p->expects[i].text, want[i].text, "expect %zu", i);
		cr_expect_eq(p->expects[i].line, want[i].line, "expect %zu: line %d", i,
			     p->expects[i].line);
	}
	scenario_free(&sc);
}

Test(scenario, good_bare_race)
{
	struct scenario sc;
	load_ok(GOOD "bare-race.yaml", &sc);
	cr_expect_eq(sc.race.set, 0u);
	cr_expect_eq(sc.race.workers, 16);
	cr_expect_eq(sc.race.rounds, 20);
	cr_expect_eq(sc.race.keys, 1);
	cr_expect_eq(sc.race.deadline_ms, 10000);
	cr_expect_eq(sc.race.mode, MODE_HOLD);
	cr_expect_eq(sc.race.isolation, ISO_READ_COMMITTED);
	cr_expect_null(sc.seed.sql);
	cr_expect_null(sc.migrate_up.sql);
	cr_expect_eq(sc.n_sql, 0);
	cr_assert_eq(sc.n_phases, 1);
	cr_expect(sc.phases[0].has_race);
	cr_expect_eq(sc.phases[0].race.set, 0u);
	cr_expect_eq(sc.phases[0].n_steps, 0);
	cr_expect_eq(sc.phases[0].n_expects, 1);
	scenario_free(&sc);
}

Test(scenario, good_steps_only)
{
	struct scenario sc;
	load_ok(GOOD "steps-only.yaml", &sc);
	cr_assert_eq(sc.n_phases, 2);
	const struct phase *fill = &sc.phases[0], *idx = &sc.phases[1];
	cr_expect_not(fill->has_race);
	cr_expect_not(idx->must_reproduce);
	cr_assert_eq(fill->n_steps, 2);
	cr_expect_str_eq(fill->steps[0].label, "run fill");
	cr_expect_eq(fill->steps[0].n_expects, 1);
	cr_expect_eq(fill->steps[1].kind, STEP_SQL);
	cr_expect_str_eq(fill->steps[1].text.sql, "INSERT INTO t VALUES (1)");
	cr_expect_eq(fill->steps[1].text.line, 20);
	cr_expect_str_eq(fill->steps[1].label, "sql at line 20");
	cr_expect_eq(fill->steps[1].n_expects, 2);
	cr_assert_eq(idx->n_steps, 4);
	static const enum step_kind kinds[] = {STEP_MIGRATE_UP, STEP_SQL, STEP_MIGRATE_UP,
					       STEP_MIGRATE_DOWN};
	for (size_t i = 0; i < 4; i++)
		cr_expect_eq(idx->steps[i].kind, kinds[i], "step %zu", i);
	cr_expect_str_eq(idx->steps[0].expect_error, "23505", "an unquoted SQLSTATE");
	cr_expect_str_eq(idx->steps[3].text.sql, "DROP INDEX IF EXISTS t_k");
	struct metric m[] = {{"round", 3}, {"key", 5}, {NULL, 0}};
	long long v;
	char err[128];
	cr_assert_eq(sc.n_params, 2);
	cr_assert(expr_eval(sc.params[0].expr, metric_lookup, m, &v, err, sizeof err), "%s", err);
	cr_expect_eq(v, 5);
	cr_assert(expr_eval(sc.params[1].expr, metric_lookup, m, &v, err, sizeof err), "%s", err);
	cr_expect_eq(v, -5);
	scenario_free(&sc);
}

/* Calls fn(dir, name) for each entry of dir (a path ending in '/') that keep
 * accepts; returns how many. */
static size_t for_each_file(const char *dir, bool (*keep)(const char *name),
			    void (*fn)(const char *dir, const char *name))
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!keep(e->d_name))
			continue;
		fn(dir, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static bool is_yaml(const char *name)
{
	size_t len = strlen(name);
	return len >= 6 && strcmp(name + len - 5, ".yaml") == 0;
}

static bool not_hidden(const char *name)
{
	return name[0] != '.';
}

/* dir/name loads (an expectation: the walk goes on). */
static void expect_loads(const char *dir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s%s", dir, name);
	struct scenario sc;
	char err[1024] = "";
	bool ok = scenario_load(path, &sc, err, sizeof err);
	cr_expect(ok, "%s", err);
	if (ok)
		scenario_free(&sc);
}

/* Every shipped scenario loads. */
Test(scenario, every_shipped_scenario_loads)
{
	const char *dir = PGRACE_SOURCE_DIR "/scenarios/";
	size_t n = for_each_file(dir, is_yaml, expect_loads);
	cr_expect_geq(n, 1, "no scenarios found in %s", dir);
}

Test(scenario, requires_loads)
{
	struct scenario sc;
	char err[512];
	cr_assert(scenario_load(PGRACE_TEST_DATA "/good/requires.yaml", &sc, err, sizeof err), "%s", err);
	cr_expect_eq(sc.requires.server_version, 15);
	cr_assert_eq(sc.requires.n_extensions, 2);
	cr_expect_str_eq(sc.requires.extensions[0], "btree_gist");
	cr_expect_str_eq(sc.requires.extensions[1], "amcheck");
	cr_expect_eq(sc.requires.line, 4);
	scenario_free(&sc);
	/* Without requires: nothing is needed. */
	cr_assert(scenario_load(PGRACE_SOURCE_DIR "/scenarios/membership-unique.yaml", &sc, err,
				sizeof err), "%s", err);
	cr_expect_eq(sc.requires.server_version, 0);
	cr_expect_eq(sc.requires.n_extensions, 0);
	scenario_free(&sc);
}

Test(scenario, targets_load)
{
	struct scenario sc;
	char err[512];
	cr_assert(scenario_load(PGRACE_TEST_DATA "/good/targets.yaml", &sc, err, sizeof err), "%s", err);
	cr_assert_eq(sc.n_targets, 2);
	cr_expect_str_eq(sc.targets[0], "primary");
	cr_expect_str_eq(sc.targets[1], "replica");
	cr_assert_eq(sc.n_flow, 2);
	cr_expect_eq(sc.flow[0].target, 1);
	cr_expect_eq(sc.flow[1].target, 0);
	scenario_free(&sc);
}

Test(scenario, every_good_file_loads)
{
	cr_expect_geq(for_each_file(GOOD, not_hidden, expect_loads), 3);
}

/* ---- malformed files -------------------------------------------------- */

static const struct bad_case {
	const char *file;
	int line;
	const char *needle;
} bad_cases[] = {
	/* regressions found by scripts/fuzz.sh */
	{"fuzz-control-char-in-description.yaml", 3, "description: control character 0x07 not allowed"},
	/* bidi and C1 controls in names: they passed before (issue 9, item 18) */
	{"name-bidi-override.yaml", 22, "name: control character U+202E not allowed"},
	/* truncated copies of the seed scenario */
	{"truncated-flow.yaml", 80, "YAML: missing comma in flow mapping"},
	{"truncated-list.yaml", 97, "YAML: flow sequence without a closing bracket"},
	{"truncated-quote.yaml", 99, "YAML: double-quoted scalar without closing quote"},
	{"truncated-before-phases.yaml", 1, "missing required key \"phases\""},
	/* autocommit races in fire mode, at read committed */
	{"autocommit-hold.yaml", 11, "race: {autocommit: true} races in fire mode only (hold and interleave"},
	{"autocommit-serializable.yaml", 11, "leave isolation at read committed"},
	/* empty */
	{"empty.yaml", 1, "empty"},
	{"comments-only.yaml", 1, "empty"},
	/* YAML itself */
	{"duplicate-key.yaml", 14, "YAML: duplicate key"},
	/* commands */
	{"command-unclosed-quote.yaml", 4, "command: unclosed single quote"},
	{"command-missing-line.yaml", 4, "schema: a mapping here names a command: missing key \"command\""},
	{"command-unknown-key.yaml", 7, "migration.up: unknown key \"timeout\""},
	{"command-cwd-without-command.yaml", 18, "step: cwd, shell and timeout_ms go with command"},
	{"command-timeout-too-short.yaml", 7, "timeout_ms: expected an integer from 100 to 3600000"},
	{"yaml-bad-indent.yaml", 12, "YAML: invalid multiline plain key"},
	{"alias.yaml", 13, "rounds: YAML aliases are not supported"},
	{"alias-as-key.yaml", 13, "race: a YAML alias as a key is not supported"},
	{"key-not-string.yaml", 16, "scenario: keys must be plain strings"},
	{"top-level-list.yaml", 2, "scenario: expected a mapping, got a list"},
	{"multiple-documents.yaml", 38, "document"},
	/* wrong types and values */
	{"workers-string.yaml", 12, "workers: expected an integer from 1 to 5000, got \"many\""},
	{"workers-list.yaml", 12, "workers: expected a scalar, got a list"},
	{"workers-huge.yaml", 12, "workers: expected an integer from 1 to 5000, got \"999999999999\""},
	{"workers-negative.yaml", 12, "workers: expected an integer from 1 to 5000, got \"-4\""},
	{"workers-zero.yaml", 12, "workers: expected an integer from 1 to 5000, got \"0\""},
	{"workers-fraction.yaml", 12, "got \"2.5\""},
	{"deadline-too-short.yaml", 15, "deadline_ms: expected an integer from 100 to 3600000"},
	{"race-list.yaml", 11, "race: expected a mapping, got a list"},
	{"flow-mapping.yaml", 18, "flow: expected a list, got a mapping"},
	{"app-no-command.yaml", 18, "flow app: missing key \"command\""},
	{"app-unknown-key.yaml", 20, "unknown key \"expect_outptu\""},
	{"app-not-mapping.yaml", 18, "flow app: expected a mapping"},
	{"app-unclosed-quote.yaml", 19, "unclosed single quote"},
	{"must-reproduce-list.yaml", 24, "must_reproduce: expected a scalar, got a list"},
	{"skip-if-found-maybe.yaml", 19, "skip_if_found: expected true or false, got \"maybe\""},
	{"mode-sometimes.yaml", 14, "mode: expected one of hold, fire, interleave, got \"sometimes\""},
	{"isolation-chaos.yaml", 15,
	 "isolation: expected one of read committed, repeatable read, serializable, got \"chaos\""},
	{"distribution-zipf.yaml", 15, "distribution: expected one of uniform, hot, got \"zipf\""},
	/* requires */
	{"requires-version-string.yaml", 4,
	 "requires server_version: expected an integer from 9 to 99, got \"fifteen\""},
	{"requires-unknown-key.yaml", 4, "requires: unknown key \"version\""},
	{"requires-bad-extension.yaml", 4, "requires extensions: \"btree gist\" is not an extension name"},
	{"requires-extensions-scalar.yaml", 4, "requires extensions: expected a list, got a scalar"},
	/* targets */
	{"targets-one.yaml", 4, "targets: expected 2 to 4 names (the first is the --dsn server), got 1"},
	{"targets-twice.yaml", 4, "targets: \"primary\" named twice"},
	{"on-unknown-target.yaml", 21, "flow step on: \"standby\" is not one of the targets"},
	{"on-without-targets.yaml", 20, "flow step on: \"replica\", but the scenario names no targets"},
	/* missing keys */
	{"missing-name.yaml", 1, "missing required key \"name\""},
	{"missing-schema.yaml", 1, "missing required key \"schema\""},
	{"missing-flow.yaml", 1, "missing required key \"flow\""},
	{"missing-params.yaml", 1, "missing required key \"params\""},
	{"missing-rows.yaml", 1, "missing required key \"rows\""},
	{"missing-phases.yaml", 1, "missing required key \"phases\""},
	{"phase-missing-name.yaml", 27, "phase: missing key \"name\""},
	{"flow-step-missing-sql.yaml", 18, "flow step: missing key \"sql\""},
	/* unknown keys */
	{"unknown-top-key.yaml", 9, "scenario: unknown key \"seeds\""},
	{"unknown-race-key.yaml", 12, "race: unknown key \"worker\""},
	{"unknown-phase-key.yaml", 36, "phase: unknown key \"expects\""},
	{"unknown-step-key.yaml", 32, "step: unknown key \"expect_errors\""},
	{"unknown-flow-key.yaml", 19, "flow step: unknown key \"skip_if_exists\""},
	/* empty SQL and empty lists */
	{"schema-empty-string.yaml", 4, "schema: must not be empty"},
	{"schema-blank-block.yaml", 4, "schema: must not be empty"},
	{"schema-null.yaml", 4, "schema: must not be empty"},
	{"sql-entry-empty.yaml", 10, "dupes: must not be empty"},
	{"flow-empty.yaml", 17, "flow: needs at least one step"},
	{"steps-empty.yaml", 28, "steps: the list is empty"},
	{"phases-empty.yaml", 21, "phases: needs at least one phase"},
	{"expect-empty.yaml", 36, "expect: the list is empty"},
	/* phases and steps */
	{"duplicate-phase.yaml", 34, "phase \"after\": name already used at line 22"},
	{"phase-name-too-long.yaml", 27, "phase name: at most 100 characters"},
	{"phase-empty.yaml", 34, "phase \"after\": needs steps, a race, or both"},
	{"race-without-expect.yaml", 34, "phase \"after\": a race needs an expect list"},
	{"expect-without-race.yaml", 34, "phase \"migrate\": expect needs a race"},
	{"step-two-actions.yaml", 30, "step: give exactly one of migrate, run, sql"},
	{"step-no-action.yaml", 29, "step: missing the action"},
	{"run-absent.yaml", 29, "step: run \"duplicates\", but the sql map has no such entry"},
	{"migrate-without-migration.yaml", 28, "step: migrate up, but the scenario has no migration.up"},
	{"migrate-sideways.yaml", 31, "migrate: expected one of up, down, got \"sideways\""},
	{"bad-sqlstate.yaml", 32, "expect_error: expected a 5-character SQLSTATE"},
	{"check-unique-bare.yaml", 29,
	 "check: \"unique NAME\" must say where: unique NAME on TABLE (col, ...), got \"unique signups_user_id_key\""},
	{"short-sqlstate.yaml", 32, "got \"2350\""},
	{"message-without-error.yaml", 31, "step: expect_message needs expect_error"},
	{"error-with-rows.yaml", 31, "expect (rows, affected) cannot go with expect_error"},
	/* expectations and params */
	{"expect-syntax.yaml", 37, "expect: expected a comparison"},
	{"expect-unbalanced.yaml", 26, "expect: expected ')'"},
	{"expect-unknown-metric.yaml", 37, "expect: unknown metric \"rows_per_key.maximum\""},
	/* each was read as 0, or failed only at run time, before the metric registry */
	{"expect-outcome-typo.yaml", 37, "unknown outcome \"skiped\": expected ok, skipped, lost or a "
					"SQLSTATE PostgreSQL defines (such as 23505); did you mean outcomes.skipped?"},
	{"expect-outcome-not-sqlstate.yaml", 37, "did you mean outcomes.23505?"},
	{"expect-divides-by-zero.yaml", 37, "expect: division by zero"},
	{"params-divide-by-zero.yaml", 15, "params: parameter $1: division by zero in the first round (round 1, key 0)"},
	{"flow-commit.yaml", 21, "flow step: COMMIT is transaction control"},
	{"expect-step-metric-in-race.yaml", 37, "expect: unknown metric \"rows\""},
	{"expect-bad-mode.yaml", 26, "keyed hold, fire or interleave, got \"often\""},
	{"interleave-workers.yaml", 22, "interleave mode runs 1 to 4 workers with at most 32 steps in all (workers x (flow statements + COMMIT)), not 5 x 3"},
	{"interleave-order-bad.yaml", 26, "orders: b2: worker b's next step is b1"},
	{"interleave-orders-hold.yaml", 24, "orders go with mode interleave"},
	{"params-unknown-name.yaml", 15, "params: unknown name \"tenant\""},
	{"params-syntax.yaml", 15, "params: unexpected end"},
	{"params-too-many.yaml", 15, "params: expected 1 to 16 key parameters, got 17"},
	{"params-too-long.yaml", 15,
	 "params: expression too long or nested too deeply (more than 256 levels of operators)"},
	{"expect-too-long.yaml", 37,
	 "expect: expression too long or nested too deeply (more than 256 levels of operators)"},
	/* SQL pgrace cannot run as written (accepted before: COPY spun, the
	 * second statement of a flow step ran outside the sandbox) */
	{"flow-two-statements.yaml", 23, "flow step sql: one statement per flow step"},
	{"copy-from-stdin-schema.yaml", 7, "schema: COPY from STDIN or to STDOUT is not supported"},
	{"copy-to-stdout-step.yaml", 29, "step sql: COPY from STDIN or to STDOUT is not supported"},
	{"copy-in-flow.yaml", 20, "flow step sql: COPY from STDIN or to STDOUT is not supported"},
};

#define N_BAD (sizeof bad_cases / sizeof bad_cases[0])

ParameterizedTestParameters(scenario, bad_file)
{
	static size_t idx[N_BAD];
	for (size_t i = 0; i < N_BAD; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, N_BAD);
}

ParameterizedTest(size_t *i, scenario, bad_file)
{
	const struct bad_case *c = &bad_cases[*i];
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s%s", BAD, c->file);
	load_fails(path, c->line, c->needle);
}

/* BAD's file name has a row in bad_cases[]. */
static void expect_bad_case(const char *dir, const char *name)
{
	(void)dir;
	bool found = false;
	for (size_t i = 0; i < N_BAD && !found; i++)
		found = strcmp(bad_cases[i].file, name) == 0;
	cr_expect(found, "tests/data/bad/%s has no row in bad_cases[]", name);
}

/* A bad file without a row in the table would never be checked. */
Test(scenario, every_bad_file_has_a_case)
{
	size_t n = for_each_file(BAD, not_hidden, expect_bad_case);
	cr_expect_eq(n, N_BAD, "%zu files for %zu rows", n, (size_t)N_BAD);
}

/* ---- files written at run time ---------------------------------------- */

/* A valid scenario to pad or spoil. */
static const char valid[] = "name: generated\n"
			    "schema: CREATE TABLE t (k bigint NOT NULL)\n"
			    "params: [round]\n"
			    "rows: SELECT count(*) FROM t WHERE k = $1\n"
			    "flow:\n"
			    "  - sql: INSERT INTO t (k) VALUES ($1)\n"
			    "phases:\n"
			    "  - name: race\n"
			    "    race: {workers: 2, rounds: 1}\n"
			    "    expect: [rows_per_key.max >= 1]\n";

struct tmp {
	char dir[PATH_MAX];
	char path[PATH_MAX + 64];
};

/* Writes data to a file `name` in a fresh directory of its own (tests run in
 * parallel). */
static void tmp_write(struct tmp *t, const char *name, const void *data, size_t len)
{
	const char *base = getenv("TMPDIR");
	snprintf(t->dir, sizeof t->dir, "%s/pgrace-test-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(t->dir), "mkdtemp: %s", strerror(errno));
	snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
	FILE *f = fopen(t->path, "wb");
	cr_assert_not_null(f, "%s: %s", t->path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void tmp_remove(struct tmp *t)
{
	if (t->path[0])
		unlink(t->path);
	if (t->dir[0])
		rmdir(t->dir);
}

/* The file of the running test (each test runs in a process of its own),
 * removed by .fini even when an assertion ends the test early. */
static struct tmp tmp;

static void tmp_cleanup(void)
{
	tmp_remove(&tmp);
}

static const struct bytes_case {
	const char *name;
	const char *data;
	size_t len;
	int line;
	const char *needle;
} bytes_cases[] = {
#define B(s) s, sizeof s - 1
	{"nul.yaml", B("name: junk\nschema: CREATE TABLE t ()\n\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00"),
	 3, "NUL byte"},
	{"nul-first.yaml", B("\x00name: x\n"), 1, "NUL byte"},
	{"latin1.yaml", B("name: x\n# caf\xe9 au lait\nschema: y\n"), 2,
	 "invalid UTF-8 (byte 0xE9)"},
	{"lone-continuation.yaml", B("name: x\nschema: y\ndescription: \x80\n"), 3,
	 "invalid UTF-8 (byte 0x80)"},
	{"overlong-2.yaml", B("name: x\ndescription: \xc0\xaf\n"), 2, "invalid UTF-8 (byte 0xC0)"},
	{"cut-sequence-at-eof.yaml", B("name: x\ndescription: \xe2\x82"), 2,
	 "invalid UTF-8 (byte 0xE2)"},
	{"bad-continuation.yaml", B("name: x\ndescription: \xe2\x28\xa1\n"), 2,
	 "invalid UTF-8 (byte 0xE2)"},
	{"f5.yaml", B("name: x\n\n\ndescription: \xf5\x80\x80\x80\n"), 4,
	 "invalid UTF-8 (byte 0xF5)"},
	/* Well-formed in shape but not UTF-8: libfyaml misreads them ("must not
	 * be empty"), so the loader must refuse them itself. */
	{"surrogate.yaml", B("name: x\ndescription: \xed\xa0\x80 half a pair\n"), 2,
	 "invalid UTF-8 (byte 0xED)"},
	{"overlong-3.yaml", B("name: x\ndescription: \xe0\x80\xaf slash\n"), 2,
	 "invalid UTF-8 (byte 0xE0)"},
	{"overlong-4.yaml", B("name: x\ndescription: \xf0\x80\x80\xaf slash\n"), 2,
	 "invalid UTF-8 (byte 0xF0)"},
	{"above-10ffff.yaml", B("name: x\ndescription: \xf4\x90\x80\x80 too high\n"), 2,
	 "invalid UTF-8 (byte 0xF4)"},
#undef B
};

#define N_BYTES (sizeof bytes_cases / sizeof bytes_cases[0])

ParameterizedTestParameters(scenario, bad_bytes)
{
	static size_t idx[N_BYTES];
	for (size_t i = 0; i < N_BYTES; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, N_BYTES);
}

ParameterizedTest(size_t *i, scenario, bad_bytes, .fini = tmp_cleanup)
{
	const struct bytes_case *c = &bytes_cases[*i];
	tmp_write(&tmp, c->name, c->data, c->len);
	load_fails(tmp.path, c->line, c->needle);
}

/* Valid UTF-8, including 2-, 3- and 4-byte sequences, loads. */
Test(scenario, utf8_ok, .fini = tmp_cleanup)
{
	static const char text[] = "name: caf\xc3\xa9\n"
				   "description: \xe2\x82\xac \xf0\x9f\x90\x98 \xed\x9f\xbf \xf4\x8f\xbf\xbf\n"
				   "schema: CREATE TABLE t (k bigint NOT NULL)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow: [{sql: SELECT 1}]\n"
				   "phases: [{name: a, steps: [{sql: SELECT 1}]}]\n";
	tmp_write(&tmp, "utf8.yaml", text, sizeof text - 1);
	struct scenario sc;
	load_ok(tmp.path, &sc);
	cr_expect_str_eq(sc.name, "caf\xc3\xa9");
	cr_expect_str_eq(sc.description, "\xe2\x82\xac \xf0\x9f\x90\x98 \xed\x9f\xbf \xf4\x8f\xbf\xbf");
	scenario_free(&sc);
}

/* A valid scenario padded with a comment to exactly len bytes. */
static char *padded(size_t len)
{
	char *buf = malloc(len);
	cr_assert_not_null(buf);
	size_t n = sizeof valid - 1;
	memcpy(buf, valid, n);
	buf[n++] = '#';
	memset(buf + n, 'x', len - n - 1);
	buf[len - 1] = '\n';
	return buf;
}

Test(scenario, one_mib_loads, .fini = tmp_cleanup)
{
	char *buf = padded(1024 * 1024);
	tmp_write(&tmp, "big.yaml", buf, 1024 * 1024);
	free(buf);
	struct scenario sc;
	load_ok(tmp.path, &sc);
	scenario_free(&sc);
}

Test(scenario, over_one_mib_refused, .fini = tmp_cleanup)
{
	char *buf = padded(1024 * 1024 + 1);
	tmp_write(&tmp, "huge.yaml", buf, 1024 * 1024 + 1);
	free(buf);
	load_fails(tmp.path, 0, "file is 1048577 bytes, more than the 1048576");
}

Test(scenario, nonexistent_path)
{
	load_fails(PGRACE_TEST_DATA "/no/such/file.yaml", 0, "cannot open: No such file");
}

Test(scenario, directory_path)
{
	load_fails(PGRACE_TEST_DATA "/good", 0, "not a regular file");
}

/* The message is cut to the buffer, never past it. */
Test(scenario, small_error_buffer)
{
	char err[24];
	memset(err, 'z', sizeof err);
	struct scenario sc;
	cr_assert_not(scenario_load(BAD "isolation-chaos.yaml", &sc, err, 16));
	cr_expect_eq(strlen(err), 15);
	cr_expect_eq(err[16], 'z', "wrote past errlen");
}

/* ---- step keys and placeholders, parsed from memory -------------------- */

/* A scenario whose one phase has the steps in `steps` (YAML, indented 6). */
static bool parse_steps(const char *steps, struct scenario *sc, char *err, size_t errlen)
{
	char buf[4096];
	int n = snprintf(buf, sizeof buf,
			 "name: steps\n"                                    /* 1 */
			 "schema: CREATE TABLE t (k bigint NOT NULL)\n"     /* 2 */
			 "params: [round]\n"                                /* 3 */
			 "rows: SELECT count(*) FROM t WHERE k = $1\n"      /* 4 */
			 "flow:\n"                                          /* 5 */
			 "  - sql: INSERT INTO t (k) VALUES ($1)\n"         /* 6 */
			 "phases:\n"                                        /* 7 */
			 "  - name: p\n"                                    /* 8 */
			 "    race: {}\n"                                   /* 9 */
			 "    expect: [rows_per_key.max >= 1]\n"            /* 10 */
			 "    steps:\n"                                     /* 11 */
			 "%s",                                              /* 12.. */
			 steps);
	cr_assert_lt((size_t)n, sizeof buf);
	return scenario_parse("mem.yaml", buf, (size_t)n, sc, err, errlen);
}

Test(scenario, step_checks_and_load)
{
	struct scenario sc;
	char err[512];
	bool ok = parse_steps("      - check: invalid_indexes\n"
			      "        expect: [rows == 0]\n"
			      "      - check: constraint  c1\n"
			      "      - check: unique u1 on t (k)\n"
			      "      - check: amcheck\n"
			      "      - sql: ALTER TABLE t ADD UNIQUE (k)\n"
			      "        under_load: true\n"
			      "        retries: 5\n"
			      "        expect: [stall_ms >= 0, load_attempts >= 1, retries <= 5]\n"
			      "      - sql: SELECT 1\n"
			      "        retries: 2\n"
			      "        retry_on: [55P03]\n",
			      &sc, err, sizeof err);
	cr_assert(ok, "%s", err);
	const struct phase *p = &sc.phases[0];
	cr_assert_eq(p->n_steps, 6);
	cr_expect_eq(p->steps[0].kind, STEP_CHECK_INVALID_INDEXES);
	cr_expect_eq(p->steps[1].kind, STEP_CHECK_CONSTRAINT);
	cr_expect_str_eq(p->steps[1].check_arg, "c1");
	cr_expect_eq(p->steps[2].kind, STEP_CHECK_UNIQUE);
	cr_expect_str_eq(p->steps[2].check_arg, "u1");
	cr_expect_str_eq(p->steps[2].check_table, "t");
	cr_expect_str_eq(p->steps[2].check_cols, "k");
	cr_expect_null(p->steps[1].check_table);
	cr_expect_eq(p->steps[3].kind, STEP_CHECK_AMCHECK);
	cr_expect(p->steps[4].under_load);
	cr_expect_eq(p->steps[4].retries, 5);
	/* retries without retry_on: lock timeouts, serialization, deadlocks */
	cr_expect_eq(p->steps[4].n_retry_on, 3);
	cr_expect_str_eq(p->steps[4].retry_on[0], "55P03");
	cr_expect_eq(p->steps[4].n_expects, 3);
	cr_expect_eq(p->steps[5].n_retry_on, 1);
	cr_expect_str_eq(p->steps[5].retry_on[0], "55P03");
	scenario_free(&sc);
}

Test(scenario, step_key_errors)
{
	static const struct {
		const char *steps;
		int line;
		const char *needle;
	} cases[] = {
		{"      - check: everything\n", 12, "check: expected invalid_indexes"},
		{"      - check: constraint\n", 12, "check: expected"},
		{"      - check: unique   \n", 12, "check: expected"},
		{"      - check: amcheck\n        sql: SELECT 1\n", 13, "exactly one of"},
		{"      - sql: SELECT 1\n        under_load: sometimes\n", 13,
		 "under_load: expected true or false"},
		{"      - sql: SELECT 1\n        retries: -1\n", 13, "retries: expected an integer"},
		{"      - sql: SELECT 1\n        retry_on: 55P03\n", 13, "retry_on: expected a list"},
		{"      - sql: SELECT 1\n        retry_on: [5503]\n", 13, "retry_on: expected a 5-character"},
		{"      - sql: SELECT 1\n        expect: [stall > 1]\n", 13, "unknown metric \"stall\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct scenario sc;
		char err[512], want[64];
		cr_expect_not(parse_steps(cases[i].steps, &sc, err, sizeof err), "case %zu parsed", i);
		snprintf(want, sizeof want, "mem.yaml:%d: ", cases[i].line);
		cr_expect(strncmp(err, want, strlen(want)) == 0, "case %zu: want %s, got %s", i, want,
			  err);
		cr_expect(strstr(err, cases[i].needle) != NULL, "case %zu: want \"%s\" in %s", i,
			  cases[i].needle, err);
	}
}

/* check: unique NAME on TABLE (cols): names as PostgreSQL reads them
 * (unquoted folded to lower case, "quoted" as written), columns in any
 * order (stored sorted), expressions without their blanks. */
Test(scenario, check_unique_forms)
{
	static const struct {
		const char *check;
		const char *name, *table, *cols;
	} cases[] = {
		{"unique uq on t (a, b)", "uq", "t", "a\x1f" "b"},
		{"unique uq on t (b, a)", "uq", "t", "a\x1f" "b"},
		{"unique UQ_x on Members (Tenant_Id,user_id)", "uq_x", "members", "tenant_id\x1fuser_id"},
		{"unique   uq   on   t   ( a )", "uq", "t", "a"},
		{"unique \"Uq \"\"1\"\"\" on \"My Table\" (\"Col A\", b)", "Uq \"1\"", "My Table",
		 "Col A\x1f" "b"},
		{"unique t_lower on t (lower(email), tenant_id)", "t_lower", "t",
		 "lower(email)\x1ftenant_id"},
		{"unique t_expr on t ( ( a + 1 ) , coalesce(b, 'x, y') )", "t_expr", "t",
		 "(a+1)\x1f" "coalesce(b,'x,y')"},
		{"unique caf\xc3\xa9 on t (k$1)", "caf\xc3\xa9", "t", "k$1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char steps[256], err[512];
		struct scenario sc;
		/* a block scalar: the text exactly as written */
		snprintf(steps, sizeof steps, "      - check: |-\n          %s\n", cases[i].check);
		cr_assert(parse_steps(steps, &sc, err, sizeof err), "case %zu: %s", i, err);
		const struct step *st = &sc.phases[0].steps[0];
		cr_expect_eq(st->kind, STEP_CHECK_UNIQUE, "case %zu", i);
		cr_expect_str_eq(st->check_arg, cases[i].name, "case %zu", i);
		cr_expect_str_eq(st->check_table, cases[i].table, "case %zu", i);
		cr_expect_str_eq(st->check_cols, cases[i].cols, "case %zu", i);
		scenario_free(&sc);
	}
}

Test(scenario, check_unique_errors)
{
	static const struct {
		const char *check;
		const char *needle;
	} cases[] = {
		/* the bare form could pass for another table's constraint: refused */
		{"unique uq", "\"unique NAME\" must say where: unique NAME on TABLE (col, ...)"},
		{"unique uq ", "must say where"},
		{"unique uq on", "expected unique NAME on TABLE (col, ...): \"on\" after the name"},
		{"unique uq in t (a)", "\"on\" after the name"},
		{"unique uq on (a)", "the table name after \"on\""},
		{"unique uq on t", "the columns in parentheses after the table"},
		{"unique uq on t a, b", "the columns in parentheses"},
		{"unique uq on t (a, b", "a column list closed by ')'"},
		{"unique uq on t (a,, b)", "a column name between the commas"},
		{"unique uq on t ()", "a column name between the commas"},
		{"unique uq on t (a, A)", "each column once"},
		{"unique uq on t (a) junk", "nothing after the columns"},
		{"unique \"uq on t (a)", "a quoted name without its closing quote"},
		{"unique \"\" on t (a)", "an empty quoted name"},
		{"unique 1uq on t (a)", "a name"},
		{"unique abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd on t (a)",
		 "a name longer than 63 bytes"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char steps[256], err[512];
		struct scenario sc;
		snprintf(steps, sizeof steps, "      - check: %s\n", cases[i].check);
		cr_expect_not(parse_steps(steps, &sc, err, sizeof err), "case %zu parsed", i);
		cr_expect(strncmp(err, "mem.yaml:12: check: ", 20) == 0, "case %zu: %s", i, err);
		cr_expect(strstr(err, cases[i].needle), "case %zu: want \"%s\" in %s", i,
			  cases[i].needle, err);
	}
}

Test(scenario, under_load_needs_a_race)
{
	static const char text[] = "name: x\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow: [{sql: SELECT 1}]\n"
				   "phases:\n"
				   "  - name: p\n"
				   "    steps:\n"
				   "      - sql: SELECT 1\n"
				   "        under_load: true\n";
	struct scenario sc;
	char err[512];
	cr_assert_not(scenario_parse("mem.yaml", text, sizeof text - 1, &sc, err, sizeof err));
	cr_expect(strstr(err, "mem.yaml:9: ") && strstr(err, "under_load needs"), "%s", err);
}

Test(scenario, placeholders)
{
	static const struct {
		const char *sql;
		int most;
	} cases[] = {
		{"SELECT 1", 0},
		{"SELECT $1", 1},
		{"SELECT $2, $1", 2},
		{"SELECT $12", 12},
		{"SELECT '$3' , $1", 1},           /* in a literal */
		{"SELECT \"a$4\", $1", 1},         /* in a quoted identifier */
		{"SELECT $1 -- and $5\n", 1},      /* in a line comment */
		{"SELECT /* $6 */ $2", 2},         /* in a block comment */
		{"SELECT a$7, $1", 1},             /* part of a name */
		{"DO $$ BEGIN PERFORM 1; END $$", 0}, /* dollar quotes */
		{"SELECT $0", 0},
		/* dollar-quoted text holds no parameter (before, $5 here counted) */
		{"SELECT $$ costs $5 $$, $1", 1},
		{"DO $body$ BEGIN RAISE NOTICE '$7'; PERFORM $8; END $body$", 0},
		{"SELECT $a$ $$ $9 $$ $a$ || $2", 2},     /* another tag inside */
		{"SELECT $x$ never closed $4", 0},
		{"SELECT $_1$ $3 $_1$, $1", 1},
		{"SELECT a$b$ $2 $b$c", 2},               /* a$b$ is a name, not a quote */
		{"SELECT E'it\\'s $6', $1", 1},         /* E'...' with a backslash escape */
		{"SELECT e'\\\\' , $3", 3},           /* an escaped backslash ends it */
		{"SELECT e'\\' , $3", 0},               /* an escaped quote does not */
		{"SELECT 'plain\\', $2", 2},            /* no escapes in a plain literal */
		{"SELECT $1$", 1},
		/* comments nest, as in PostgreSQL: $5 is still inside one (before,
		 * the first star-slash closed it and $5 counted) */
		{"SELECT /* a /* b */ $5 */ $1", 1},
		{"SELECT /* /* */ */ $2", 2},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(sql_max_param(cases[i].sql), cases[i].most, "%s: got %d, want %d",
			     cases[i].sql, sql_max_param(cases[i].sql), cases[i].most);
}

Test(scenario, flow_placeholder_beyond_params)
{
	static const char text[] = "name: x\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow:\n"
				   "  - sql: INSERT INTO t VALUES ($2)\n"
				   "phases:\n"
				   "  - name: p\n"
				   "    race: {}\n"
				   "    expect: [rows_per_key.max >= 1]\n";
	struct scenario sc;
	char err[512];
	cr_assert_not(scenario_parse("mem.yaml", text, sizeof text - 1, &sc, err, sizeof err));
	cr_expect(strstr(err, "mem.yaml:6: ") && strstr(err, "uses $2"), "%s", err);
}

/* A placeholder inside a nested comment is no placeholder: the statement
 * splitter saw one statement here, the placeholder reader saw $2 after the
 * inner comment's end and refused the file ("uses $2"). */
Test(scenario, nested_comment_hides_placeholder)
{
	static const char text[] = "name: x\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "flow:\n"
				   "  - sql: INSERT INTO t VALUES ($1) /* old /* new */ $2 */\n"
				   "phases:\n"
				   "  - name: p\n"
				   "    race: {}\n"
				   "    expect: [rows_per_key.max >= 1]\n";
	struct scenario sc;
	char err[512] = "";
	cr_assert(scenario_parse("mem.yaml", text, sizeof text - 1, &sc, err, sizeof err), "%s",
		  err);
	cr_expect_eq(sc.flow[0].text.nparams, 1);
	scenario_free(&sc);
}

/* sql_bind fills placeholders only where sql_max_param counts them. */
Test(scenario, bind_skips_nested_comments)
{
	static const char *const values[] = {"7", "8"};
	char *got = sql_bind("SELECT $1 /* a /* b */ $2 */, '$2'", values, 2);
	cr_expect_str_eq(got, "SELECT '7' /* a /* b */ $2 */, '$2'");
	free(got);
}

/* Commands: argv split, cwd from the scenario's folder, shell, deadline. */
Test(scenario, good_commands)
{
	struct scenario sc;
	load_ok(GOOD "commands.yaml", &sc);
	cr_assert_null(sc.schema.sql);
	cr_assert_not_null(sc.schema.command);
	const struct command *c = sc.schema.command;
	cr_expect_str_eq(c->argv[0], "tool");
	cr_expect_str_eq(c->argv[2], "004");
	cr_expect_null(c->argv[3]);
	cr_expect_str_eq(c->cwd, PGRACE_TEST_DATA "/good/proj");
	cr_expect_eq(c->timeout_ms, COMMAND_DEFAULT_TIMEOUT_MS);
	cr_expect_eq(sc.migrate_up.command->timeout_ms, 5000);
	cr_expect_str_eq(sc.migrate_up.command->cwd, PGRACE_TEST_DATA "/good");
	const struct command *down = sc.migrate_down.command;
	cr_expect(down->shell);
	cr_expect_str_eq(down->argv[0], "/bin/sh");
	cr_expect_str_eq(down->argv[2], "tool downgrade 004 && echo done");
	cr_expect_str_eq(down->cwd, "/tmp");
	const struct phase *p = &sc.phases[0];
	cr_assert_eq(p->n_steps, 3);
	cr_expect_eq(p->steps[0].kind, STEP_MIGRATE_UP);
	cr_assert_not_null(p->steps[0].text.command, "migrate up copies the command");
	cr_expect_str_eq(p->steps[0].text.command->line, "tool upgrade 005");
	const struct step *st = &p->steps[1];
	cr_assert_not_null(st->text.command);
	cr_expect_str_eq(st->text.command->argv[2], "a b");
	cr_expect_str_eq(st->text.command->argv[3], "c \"d\"");
	cr_expect_str_eq(st->text.command->cwd, PGRACE_TEST_DATA "/good/proj/sub");
	cr_expect_str_eq(st->expect_error, "23505");
	cr_expect_null(p->steps[2].text.sql);
	cr_expect_not_null(p->steps[2].text.command);
	scenario_free(&sc);
}

/* Text keys and round_setup, from a string; then one defect at a time. */
static const char text_keys[] =
	"name: text-keys\n"                                                        /* 1 */
	"schema: CREATE TABLE u (email text)\n"                                    /* 2 */
	"params:\n"                                                                /* 3 */
	"  - variants: ['A{round}@x.io', 'a{round}@x.io']\n"                       /* 4 */
	"  - {text: acme}\n"                                                       /* 5 */
	"  - 'slug-{round * 10 + key}'\n"                                          /* 6 */
	"  - round\n"                                                              /* 7 */
	"round_setup: INSERT INTO u VALUES (lower($1))\n"                          /* 8 */
	"rows: SELECT count(*) FROM u WHERE lower(email) = lower($1)\n"            /* 9 */
	"flow:\n"                                                                  /* 10 */
	"  - sql: INSERT INTO u VALUES ($1)\n"                                     /* 11 */
	"phases:\n"                                                                /* 12 */
	"  - name: race\n"                                                         /* 13 */
	"    round_setup: SELECT $2, $4\n"                                         /* 14 */
	"    race: {workers: 2, rounds: 1}\n"                                      /* 15 */
	"    expect: [rows_per_key.max >= 1]\n";                                   /* 16 */

static void parse_fails(const char *text, int line, const char *needle)
{
	struct scenario sc;
	char err[1024] = "";
	bool ok = scenario_parse("mem.yaml", text, strlen(text), &sc, err, sizeof err);
	if (ok)
		scenario_free(&sc);
	cr_assert_not(ok, "loaded; expected line %d: %s", line, needle);
	char prefix[64];
	snprintf(prefix, sizeof prefix, "mem.yaml:%d: ", line);
	cr_expect(!strncmp(err, prefix, strlen(prefix)) && strstr(err, needle),
		  "got \"%s\", expected \"%s...%s\"", err, prefix, needle);
}

Test(scenario, text_keys_and_round_setup)
{
	struct scenario sc;
	char err[1024] = "";
	cr_assert(scenario_parse("mem.yaml", text_keys, strlen(text_keys), &sc, err, sizeof err), "%s",
		  err);
	cr_assert_eq(sc.n_params, 4);
	cr_expect(key_uses_worker(sc.params, sc.n_params));
	struct key_values kv;
	struct key_ctx ctx = {3, 1, 0, 1};
	cr_assert(key_eval(sc.params, sc.n_params, &ctx, &kv, err, sizeof err), "%s", err);
	cr_expect_str_eq(kv.ptr[0], "a3@x.io");
	cr_expect_str_eq(kv.ptr[1], "acme");
	cr_expect_str_eq(kv.ptr[2], "slug-31");
	cr_expect_str_eq(kv.ptr[3], "3");
	cr_expect_str_eq(sc.round_setup.sql, "INSERT INTO u VALUES (lower($1))");
	cr_expect_eq(sc.phases[0].round_setup.line, 14);
	cr_expect_eq(sc.phases[0].round_setup.nparams, 4);
	scenario_free(&sc);
}

Test(scenario, text_key_errors)
{
	static const struct {
		const char *from, *to;
		int line;
		const char *needle;
	} cases[] = {
		{"'slug-{round * 10 + key}'", "'slug-{round'", 6, "params: template \"slug-{round\""},
		{"'slug-{round * 10 + key}'", "'slug-{tenant}'", 6, "tenant"},
		{"  - {text: acme}\n", "  - {texts: acme}\n", 5, "params: unknown key \"texts\""},
		{"  - {text: acme}\n", "  - {text: a, variants: [b]}\n", 5, "one key, text or variants"},
		{"['A{round}@x.io', 'a{round}@x.io']", "[]", 4, "expected 1 to 64 templates, got 0"},
		{"SELECT $2, $4", "SELECT $5", 14, "round_setup uses $5, but params gives only 4"},
		{"round_setup: INSERT INTO u VALUES (lower($1))",
		 "round_setup: INSERT INTO u VALUES ($9)", 8, "round_setup uses $9"},
		{"    race: {workers: 2, rounds: 1}\n    expect: [rows_per_key.max >= 1]\n",
		 "    steps: [{sql: SELECT 1}]\n", 14, "round_setup needs the phase to have a race"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[2048];
		const char *at = strstr(text_keys, cases[i].from);
		cr_assert_not_null(at, "%s", cases[i].from);
		snprintf(text, sizeof text, "%.*s%s%s", (int)(at - text_keys), text_keys, cases[i].to,
			 at + strlen(cases[i].from));
		parse_fails(text, cases[i].line, cases[i].needle);
	}
}

/* ---- the race settings table against the docs ----------------------- */

/* docs/scenario-format.md's race table is the settings table, row for row:
 * "| `name` | default | flag | doc |" for each, in the table's order, and
 * no other row. */
Test(scenario, race_settings_match_the_docs)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/scenario-format.md", PGRACE_SOURCE_DIR);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	static char doc[256 * 1024];
	size_t len = fread(doc, 1, sizeof doc - 1, f);
	fclose(f);
	doc[len] = '\0';
	const char *head = strstr(doc, "## `race`");
	cr_assert(head, "no race section");
	const char *rows = strstr(head, "| --- | --- | --- | --- |\n");
	cr_assert(rows, "no race table with four columns");
	rows += strlen("| --- | --- | --- | --- |\n");
	size_t n;
	const struct race_setting *t = scenario_race_settings(&n);
	cr_assert_geq(n, 12);
	for (size_t i = 0; i < n; i++) {
		char dflt[64], want[1024];
		scenario_race_default(&t[i], dflt, sizeof dflt);
		char flag[64] = "-";
		if (t[i].flag)
			snprintf(flag, sizeof flag, "`%s`", t[i].flag);
		snprintf(want, sizeof want, "| `%s` | %s | %s | %s |\n", t[i].name, dflt, flag, t[i].doc);
		const char *nl = strchr(rows, '\n');
		cr_assert(nl && !strncmp(rows, want, strlen(want)),
			  "docs/scenario-format.md: race row %zu is\n%.*s\nexpected\n%s", i + 1,
			  nl ? (int)(nl - rows) : 80, rows, want);
		rows = nl + 1;
		cr_expect(t[i].where & (RACE_IN_SCENARIO | RACE_IN_PHASE), "%s appears nowhere",
			  t[i].name);
	}
	cr_expect(*rows != '|', "docs/scenario-format.md: a race row the table does not have: %.80s",
		  rows);
}

/* Every setting is read from race:, defaults where unset, and a phase's
 * value wins over the scenario's: the table drives all three. */
Test(scenario, race_settings_read_and_layered)
{
	static const char text[] = "name: x\n"
				   "schema: CREATE TABLE t (k bigint)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "race: {rounds: 7, isolation: serializable, seed: 2147483647}\n"
				   "flow:\n"
				   "  - sql: INSERT INTO t VALUES ($1)\n"
				   "phases:\n"
				   "  - name: p\n"
				   "    race: {workers: 3, keys: 2, distribution: hot, retries: 4,\n"
				   "           read_committed_workers: 1, deadline_ms: 500, mode: fire,\n"
				   "           max_interleavings: 9, autocommit: false}\n"
				   "    expect: [rows_per_key.max >= 1]\n";
	struct scenario sc;
	char err[512] = "";
	cr_assert(scenario_parse("mem.yaml", text, sizeof text - 1, &sc, err, sizeof err), "%s",
		  err);
	struct race_cfg r = scenario_race(&sc, &sc.phases[0], NULL);
	cr_expect_eq(r.rounds, 7);
	cr_expect_eq(r.isolation, ISO_SERIALIZABLE);
	cr_expect_eq(r.seed, 2147483647);
	cr_expect_eq(r.workers, 3);
	cr_expect_eq(r.keys, 2);
	cr_expect_eq(r.dist, DIST_HOT);
	cr_expect_eq(r.retries, 4);
	cr_expect_eq(r.rc_workers, 1);
	cr_expect_eq(r.deadline_ms, 500);
	cr_expect_eq(r.mode, MODE_FIRE);
	cr_expect_eq(r.max_interleavings, 9);
	cr_expect(!r.autocommit);
	struct race_cfg d = scenario_race(&sc, NULL, NULL);
	cr_expect_eq(d.workers, 16);
	cr_expect_eq(d.deadline_ms, 10000);
	cr_expect_eq(d.max_interleavings, 1000);
	cr_expect_eq(d.mode, MODE_HOLD);
	struct race_cfg ov = {.workers = 5, .set = RACE_SET_WORKERS};
	cr_expect_eq(scenario_race(&sc, NULL, &ov).workers, 5);
	cr_expect_eq(scenario_race(&sc, &sc.phases[0], &ov).workers, 3, "the phase's own wins");
	scenario_free(&sc);
}
