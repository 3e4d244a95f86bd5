/* test_integration_scenarios.c: the shipped scenarios, as gates, against a
 * real PostgreSQL.
 *
 * For each scenario in scenarios/: one test that it passes (exit 0, JSON
 * verdict "pass", every phase passed, and the figure the scenario exists for,
 * read back from the JSON), and at least one test that changes the database
 * behaviour the scenario relies on (drops or weakens the constraint, the
 * isolation level, NULLS NOT DISTINCT, DEFERRABLE, ...) in a copy written at
 * run time into the scratch folder, and sees the gate fail with exit 1 in the
 * phase that should catch it. A variant fails loudly when the text it
 * rewrites is no longer in the scenario, so it never silently re-tests the
 * original.
 *
 * pgrace runs as a child process (posix_spawn, no shell) with stdout and
 * stderr in the scratch folder; the server comes from the PG* environment,
 * inherited. PGRACE_TEST_BIN, when set, names another pgrace binary to test
 * (a sanitizer build). Tests may run in parallel against one server: every
 * pgrace run works in a schema of its own.
 *
 * The helpers (spawning, scratch folder, files, JSON) are in harness.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

#define SCENARIOS PGRACE_SOURCE_DIR "/scenarios/"
#define UQ "uq_user_tenant_membership_user_tenant"

/* One pgrace run may take this long before the test stops it (SIGTERM, then
 * SIGKILL after TERM_GRACE_S). */
#define SCENARIO_LIMIT_S 60
#define TERM_GRACE_S 5

TestSuite(scenarios, .init = scratch_init, .fini = scratch_fini);

/* The rewrite that makes a variant. */
struct edit {
	const char *from, *to;
};

/* scenarios/<name>.yaml with every e->from replaced by e->to, written into
 * the scratch folder (same file name, so the scenario's name still matches
 * it); returns its path. */
static const char *variant(const char *name, const struct edit *e)
{
	char src[1024], file[256];
	snprintf(src, sizeof src, SCENARIOS "%s.yaml", name);
	snprintf(file, sizeof file, "%s.yaml", name);
	return variant_of(src, file, e->from, e->to);
}

/* ---- running pgrace ---- */

struct run {
	struct proc p; /* exit code and output */
	json_t *json;  /* the --json document, NULL when none was written */
	json_t *scen;  /* its one run */
};

static void run_free(struct run *r)
{
	proc_free(&r->p);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/* Runs `pgrace run FILE --json J [extra...]` to completion (stopped past
 * SCENARIO_LIMIT_S), with stdout/stderr into scratch files. */
static void run_pgrace_json(const char *file, const char *const *extra, struct run *r)
{
	static int seq;
	char name[32];
	snprintf(name, sizeof name, "result.%d.json", seq++);
	const char *json = spath(name);

	const char *args[32];
	size_t n = 0;
	args[n++] = "run";
	args[n++] = file;
	args[n++] = "--json";
	args[n++] = json;
	for (size_t i = 0; extra && extra[i]; i++) {
		cr_assert_lt(n, sizeof args / sizeof args[0] - 1);
		args[n++] = extra[i];
	}
	args[n] = NULL;

	memset(r, 0, sizeof *r);
	wait_pgrace_term(spawn_pgrace(args, &r->p), &r->p, SCENARIO_LIMIT_S, TERM_GRACE_S);
	json_error_t jerr;
	r->json = json_load_file(json, 0, &jerr);
	if (r->json) {
		json_t *runs = json_object_get(r->json, "runs");
		r->scen = runs ? json_array_get(runs, 0) : r->json;
	}
}

/* What pgrace said, for assertion messages (a static buffer). */
static const char *said(const struct run *r)
{
	return proc_said(&r->p);
}

/* The phase named name of the run (asserted to exist). */
static json_t *run_phase(const struct run *r, const char *name)
{
	cr_assert_not_null(r->scen, "no JSON result; %s", said(r));
	json_t *p = find_phase(r->scen, name);
	cr_assert_not_null(p, "no phase %s in the result; %s", name, said(r));
	return p;
}

/* An integer field of a phase: "workers", "rows_per_key.max", "outcomes.23505"
 * (an outcome that is absent counts 0). */
static long long num(const struct run *r, const char *ph, const char *field)
{
	json_t *p = run_phase(r, ph);
	const char *dot = strchr(field, '.');
	json_t *v;
	if (dot) {
		char head[64];
		snprintf(head, sizeof head, "%.*s", (int)(dot - field), field);
		json_t *obj = json_object_get(p, head);
		cr_assert(json_is_object(obj), "phase %s: %s is not an object; %s", ph, head, said(r));
		v = json_object_get(obj, dot + 1);
		if (!v && !strcmp(head, "outcomes"))
			return 0;
	} else {
		v = json_object_get(p, field);
	}
	cr_assert(json_is_integer(v), "phase %s: no integer %s; %s", ph, field, said(r));
	return json_integer_value(v);
}

static bool phase_passed(const struct run *r, const char *ph)
{
	return json_is_true(json_object_get(run_phase(r, ph), "passed"));
}

/* Whether expectation text of phase ph is in the result, and its verdict. */
static bool expectation(const struct run *r, const char *ph, const char *text, bool *passed)
{
	json_t *xs = json_object_get(run_phase(r, ph), "expectations");
	size_t i;
	json_t *x;
	json_array_foreach(xs, i, x)
	{
		if (!strcmp(json_string_value(json_object_get(x, "expect")), text)) {
			*passed = json_is_true(json_object_get(x, "passed"));
			return true;
		}
	}
	return false;
}

static void assert_expectation_failed(const struct run *r, const char *ph, const char *text)
{
	bool passed = true;
	cr_assert(expectation(r, ph, text, &passed), "phase %s has no expectation \"%s\"; %s", ph,
		  text, said(r));
	cr_assert(!passed, "phase %s: \"%s\" should have failed; %s", ph, text, said(r));
}

/* Runs the scenario as shipped and asserts a clean pass. */
static void run_passes(const char *name, const char *const *extra, struct run *r)
{
	char path[1024];
	snprintf(path, sizeof path, SCENARIOS "%s.yaml", name);
	run_pgrace_json(path, extra, r);
	cr_assert_eq(r->p.code, 0, "scenario %s should pass; %s", name, said(r));
	cr_assert_not_null(r->scen, "no JSON result; %s", said(r));
	cr_assert_str_eq(json_string_value(json_object_get(r->scen, "scenario")), name);
	cr_assert_str_eq(json_string_value(json_object_get(r->scen, "verdict")), "pass", "%s", said(r));
	cr_assert(json_is_true(json_object_get(r->scen, "complete")), "%s", said(r));
	json_t *phases = json_object_get(r->scen, "phases");
	cr_assert_gt(json_array_size(phases), 0);
	size_t i;
	json_t *p;
	json_array_foreach(phases, i, p)
	{
		cr_assert(json_is_true(json_object_get(p, "passed")), "phase %s did not pass; %s",
			  json_string_value(json_object_get(p, "name")), said(r));
	}
}

/* Runs a variant and asserts the gate failed (exit 1, verdict "fail"). */
static void run_fails(const char *path, struct run *r)
{
	run_pgrace_json(path, NULL, r);
	cr_assert_eq(r->p.code, 1, "the gate should fail (exit 1); %s", said(r));
	cr_assert_not_null(r->scen, "no JSON result; %s", said(r));
	cr_assert_str_eq(json_string_value(json_object_get(r->scen, "verdict")), "fail", "%s", said(r));
}

/* ---- 1. plain-insert ---- */

Test(scenarios, plain_insert_passes, .timeout = 90)
{
	struct run r;
	run_passes("plain-insert", NULL, &r);
	cr_expect_eq(num(&r, "before", "rows_per_key.min"), num(&r, "before", "workers"));
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "after", "outcomes.23505"),
		     (num(&r, "after", "workers") - 1) * num(&r, "after", "rounds"));
	cr_expect_eq(num(&r, "after", "constraints." UQ), num(&r, "after", "outcomes.23505"));
	run_free(&r);
}

/* 005 replaced by a CHECK constraint of the same name: nothing refuses the
 * second row. */
Test(scenarios, plain_insert_without_unique_fails, .timeout = 90)
{
	const struct edit e = {"ADD CONSTRAINT " UQ " UNIQUE (user_id, tenant_id);",
			       "ADD CONSTRAINT " UQ " CHECK (user_id > 0);"};
	struct run r;
	run_fails(variant("plain-insert", &e), &r);
	cr_expect(!phase_passed(&r, "precheck"), "005 applied over duplicates; %s", said(&r));
	assert_expectation_failed(&r, "after", "rows_per_key.max == 1");
	assert_expectation_failed(&r, "after", "outcomes.23505 == (workers - 1) * rounds");
	run_free(&r);
}

/* ---- 2. where-not-exists ---- */

Test(scenarios, where_not_exists_passes, .timeout = 90)
{
	struct run r;
	run_passes("where-not-exists", NULL, &r);
	cr_expect_eq(num(&r, "before", "rounds_with_duplicates"), num(&r, "before", "rounds"));
	cr_expect_eq(num(&r, "before", "rows_per_key.min"), num(&r, "before", "workers"));
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "after", "outcomes.ok"), num(&r, "after", "rounds"));
	run_free(&r);
}

/* Fire mode for every phase: stochastic, yet the file must not fail. */
Test(scenarios, where_not_exists_passes_in_fire_mode, .timeout = 90)
{
	const char *fire[] = {"--mode", "fire", NULL};
	struct run r;
	run_passes("where-not-exists", fire, &r);
	cr_expect_str_eq(json_string_value(json_object_get(run_phase(&r, "before"), "mode")), "fire");
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	run_free(&r);
}

/* A "unique" constraint that includes the primary key constrains nothing. */
Test(scenarios, where_not_exists_with_useless_unique_fails, .timeout = 90)
{
	const struct edit e = {"UNIQUE (user_id, tenant_id);", "UNIQUE (id, user_id, tenant_id);"};
	struct run r;
	run_fails(variant("where-not-exists", &e), &r);
	assert_expectation_failed(&r, "after", "rows_per_key.max == 1");
	cr_expect_gt(num(&r, "after", "rows_per_key.max"), 1);
	run_free(&r);
}

/* ---- 3. on-conflict ---- */

Test(scenarios, on_conflict_passes, .timeout = 90)
{
	struct run r;
	run_passes("on-conflict", NULL, &r);
	cr_expect_eq(num(&r, "before", "outcomes.42704"), num(&r, "before", "attempts"));
	cr_expect_eq(num(&r, "after", "outcomes.ok"), num(&r, "after", "attempts"));
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	run_free(&r);
}

/* A deferrable constraint cannot arbitrate ON CONFLICT: every request fails. */
Test(scenarios, on_conflict_with_deferrable_constraint_fails, .timeout = 90)
{
	const struct edit e = {"UNIQUE (user_id, tenant_id);",
			       "UNIQUE (user_id, tenant_id) DEFERRABLE INITIALLY DEFERRED;"};
	struct run r;
	run_fails(variant("on-conflict", &e), &r);
	assert_expectation_failed(&r, "after", "outcomes.ok == attempts");
	cr_expect_eq(num(&r, "after", "outcomes.55000"), num(&r, "after", "attempts"), "%s", said(&r));
	run_free(&r);
}

/* ---- 4. serializable ---- */

Test(scenarios, serializable_passes, .timeout = 90)
{
	struct run r;
	run_passes("serializable", NULL, &r);
	long long w = num(&r, "serializable", "workers"), n = num(&r, "serializable", "rounds");
	cr_expect_eq(num(&r, "serializable", "outcomes.40001"), (w - 1) * n);
	cr_expect_eq(num(&r, "serializable-retry", "outcomes.skipped"),
		     (num(&r, "serializable-retry", "workers") - 1) *
			     num(&r, "serializable-retry", "rounds"));
	cr_expect_geq(num(&r, "serializable-retry", "retries"), 1);
	cr_expect_eq(num(&r, "one-read-committed-writer", "rows_per_key.min"), 2);
	run_free(&r);
}

/* REPEATABLE READ is snapshot isolation, not serializable: every worker's
 * check sees nothing and every insert commits. */
Test(scenarios, serializable_weakened_to_repeatable_read_fails, .timeout = 90)
{
	const struct edit e = {"  isolation: serializable\n", "  isolation: repeatable read\n"};
	struct run r;
	run_fails(variant("serializable", &e), &r);
	assert_expectation_failed(&r, "serializable", "rows_per_key.max == 1");
	assert_expectation_failed(&r, "serializable-retry", "rows_per_key.max == 1");
	cr_expect_eq(num(&r, "serializable", "outcomes.40001"), 0);
	run_free(&r);
}

/* Every writer SERIALIZABLE: the hole the phase exists to show is gone, and
 * a phase that must reproduce a race which never bites is inconclusive. */
Test(scenarios, serializable_without_read_committed_writer_is_inconclusive, .timeout = 90)
{
	const struct edit e = {"race: {read_committed_workers: 1}", "race: {read_committed_workers: 0}"};
	struct run r;
	run_pgrace_json(variant("serializable", &e), NULL, &r);
	cr_assert_eq(r.p.code, 4, "%s", said(&r));
	cr_expect_eq(num(&r, "one-read-committed-writer", "rows_per_key.max"), 1);
	run_free(&r);
}

/* ---- 5. many-pairs ---- */

Test(scenarios, many_pairs_passes, .timeout = 90)
{
	struct run r;
	run_passes("many-pairs", NULL, &r);
	cr_expect_eq(num(&r, "before-uniform", "workers"), 64);
	cr_expect_eq(num(&r, "before-uniform", "keys"), 8);
	cr_expect_eq(num(&r, "after-hot", "rows_per_key.min"), 1);
	cr_expect_eq(num(&r, "after-hot", "rows_per_key.max"), 1);
	/* One winner per pair and round, hot or not. */
	json_t *per_key = json_object_get(run_phase(&r, "after-hot"), "per_key");
	cr_assert_eq(json_array_size(per_key), 8, "%s", said(&r));
	size_t i;
	json_t *k;
	json_array_foreach(per_key, i, k)
	{
		json_t *ok = json_object_get(json_object_get(k, "outcomes"), "ok");
		cr_expect_eq(json_integer_value(ok), num(&r, "after-hot", "rounds"),
			     "key %zu: ok", i);
	}
	run_free(&r);
}

/* A unique index that covers only tenant 1 (the hot pair): the hot pair is
 * protected, the seven others are not, and the gate sees it. */
Test(scenarios, many_pairs_constraint_on_one_pair_only_fails, .timeout = 90)
{
	const struct edit e = {"    ALTER TABLE user_tenant_membership\n"
			       "      ADD CONSTRAINT " UQ " UNIQUE (user_id, tenant_id);",
			       "    CREATE UNIQUE INDEX " UQ "\n"
			       "      ON user_tenant_membership (user_id, tenant_id) WHERE tenant_id = 1;"};
	struct run r;
	run_fails(variant("many-pairs", &e), &r);
	assert_expectation_failed(&r, "after-uniform", "rows_per_key.max == 1");
	assert_expectation_failed(&r, "after-hot", "rows_per_key.max == 1");
	/* Per key: pair 0 (tenant 1) had violations, pair 1 none. */
	json_t *per_key = json_object_get(run_phase(&r, "after-uniform"), "per_key");
	cr_assert_eq(json_array_size(per_key), 8, "%s", said(&r));
	json_t *k0 = json_object_get(json_array_get(per_key, 0), "outcomes");
	json_t *k1 = json_object_get(json_array_get(per_key, 1), "outcomes");
	cr_expect_gt(json_integer_value(json_object_get(k0, "23505")), 0, "%s", said(&r));
	cr_expect_null(json_object_get(k1, "23505"), "%s", said(&r));
	run_free(&r);
}

/* ---- 6. nullable-tenant ---- */

Test(scenarios, nullable_tenant_passes, .timeout = 90)
{
	struct run r;
	run_passes("nullable-tenant", NULL, &r);
	cr_expect_eq(num(&r, "plain-unique-hole", "rows_per_key.min"),
		     num(&r, "plain-unique-hole", "workers"));
	cr_expect_eq(num(&r, "plain-unique-hole", "outcomes.23505"), 0);
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "after", "constraints." UQ), num(&r, "after", "outcomes.23505"));
	run_free(&r);
}

/* The "fix" without NULLS NOT DISTINCT is the plain constraint again. */
Test(scenarios, nullable_tenant_without_nulls_not_distinct_fails, .timeout = 90)
{
	const struct edit e = {"UNIQUE NULLS NOT DISTINCT (user_id, tenant_id)", "UNIQUE (user_id, tenant_id)"};
	struct run r;
	run_fails(variant("nullable-tenant", &e), &r);
	assert_expectation_failed(&r, "after", "rows_per_key.max == 1");
	cr_expect(!phase_passed(&r, "migrate"), "two (1, NULL) rows were refused; %s", said(&r));
	run_free(&r);
}

/* ---- 7. deferrable ---- */

Test(scenarios, deferrable_passes, .timeout = 90)
{
	struct run r;
	run_passes("deferrable", NULL, &r);
	/* Losers rechecking at COMMIT at once can deadlock on each other: one
	 * then gets 40P01 instead of 23505 (see the scenario's header). */
	cr_expect_eq(num(&r, "after", "outcomes.23505") + num(&r, "after", "outcomes.40P01"),
		     (num(&r, "after", "workers") - 1) * num(&r, "after", "rounds"));
	cr_expect_geq(num(&r, "after", "outcomes.23505"), 1);
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	run_free(&r);
}

/* Not deferrable: the losers fail at their INSERT (not at COMMIT), and ON
 * CONFLICT works: the gate notices both. */
Test(scenarios, deferrable_made_immediate_fails, .timeout = 90)
{
	const struct edit e = {"\n      DEFERRABLE INITIALLY DEFERRED;", ";"};
	struct run r;
	run_fails(variant("deferrable", &e), &r);
	cr_expect(!phase_passed(&r, "migrate"), "ON CONFLICT should have worked; %s", said(&r));
	cr_expect(!phase_passed(&r, "errors-at-commit"), "%s", said(&r));
	/* The race itself looks the same from outside: one row, N-1 violations. */
	cr_expect(phase_passed(&r, "after"), "%s", said(&r));
	run_free(&r);
}

/* ---- 8. online-migration ---- */

Test(scenarios, online_migration_passes, .timeout = 90)
{
	struct run r;
	run_passes("online-migration", NULL, &r);
	cr_expect_eq(num(&r, "invalid-index-race", "rows_per_key.min"),
		     num(&r, "invalid-index-race", "workers"));
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "after", "constraints." UQ), num(&r, "after", "outcomes.23505"));
	run_free(&r);
}

/* The online build made non-unique: it "succeeds" over the duplicates, and
 * cannot back a unique constraint. */
Test(scenarios, online_migration_non_unique_index_fails, .timeout = 90)
{
	const struct edit e = {"    CREATE UNIQUE INDEX CONCURRENTLY " UQ "\n",
			       "    CREATE INDEX CONCURRENTLY " UQ "\n"};
	struct run r;
	run_fails(variant("online-migration", &e), &r);
	cr_expect(!phase_passed(&r, "build-over-duplicates"), "%s", said(&r));
	cr_expect(!phase_passed(&r, "migrate"), "%s", said(&r));
	assert_expectation_failed(&r, "after", "rows_per_key.max == 1");
	run_free(&r);
}

/* ---- 9. migration-under-load ---- */

Test(scenarios, migration_under_load_passes, .timeout = 120)
{
	struct run r;
	run_passes("migration-under-load", NULL, &r);
	cr_expect(json_is_true(json_object_get(run_phase(&r, "lock-timeout-under-load"), "migrated")));
	cr_expect_eq(num(&r, "lock-timeout-under-load", "rows_per_key.max"), 1);
	run_free(&r);
}

/* 005 shipped as a CHECK of the same name: applied under load, and the
 * catalog check is satisfied (a validated constraint by that name), but the
 * race after it duplicates. */
Test(scenarios, migration_under_load_without_unique_fails, .timeout = 120)
{
	const struct edit e = {"    SET LOCAL lock_timeout = '1ms';\n"
			       "    ALTER TABLE user_tenant_membership\n"
			       "      ADD CONSTRAINT " UQ " UNIQUE (user_id, tenant_id);",
			       "    SET LOCAL lock_timeout = '1ms';\n"
			       "    ALTER TABLE user_tenant_membership\n"
			       "      ADD CONSTRAINT " UQ " CHECK (user_id <> 0);"};
	struct run r;
	run_fails(variant("migration-under-load", &e), &r);
	cr_expect(phase_passed(&r, "plain-under-load"), "%s", said(&r));
	cr_expect(phase_passed(&r, "concurrently-under-load"), "%s", said(&r));
	assert_expectation_failed(&r, "lock-timeout-under-load", "rows_per_key.max == 1");
	run_free(&r);
}

/* ---- 10. retry-on-violation ---- */

Test(scenarios, retry_on_violation_passes, .timeout = 90)
{
	struct run r;
	run_passes("retry-on-violation", NULL, &r);
	cr_expect_eq(num(&r, "after", "outcomes.ok"), num(&r, "after", "attempts"));
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "before", "rows_per_key.min"), num(&r, "before", "workers"));
	run_free(&r);
}

/* Under REPEATABLE READ the re-read runs on the transaction's old snapshot:
 * the winner's row exists but is invisible, SELECT INTO STRICT raises P0002,
 * and the user sees an error. */
Test(scenarios, retry_on_violation_under_repeatable_read_fails, .timeout = 90)
{
	const struct edit e = {"  isolation: read committed\n", "  isolation: repeatable read\n"};
	struct run r;
	run_fails(variant("retry-on-violation", &e), &r);
	assert_expectation_failed(&r, "after", "outcomes.ok == attempts");
	cr_expect_gt(num(&r, "after", "outcomes.P0002"), 0, "%s", said(&r));
	run_free(&r);
}

/* Without the handler the 23505 reaches the user. */
Test(scenarios, retry_on_violation_without_handler_fails, .timeout = 90)
{
	const struct edit e = {"EXCEPTION WHEN unique_violation THEN", "EXCEPTION WHEN check_violation THEN"};
	struct run r;
	run_fails(variant("retry-on-violation", &e), &r);
	assert_expectation_failed(&r, "after", "outcomes.23505 == 0");
	cr_expect_eq(num(&r, "after", "outcomes.23505"),
		     (num(&r, "after", "workers") - 1) * num(&r, "after", "rounds"), "%s", said(&r));
	run_free(&r);
}

/* ---- email-case-insensitive: text keys, spellings per worker, round_setup ---- */

#define EMAIL_UQ "users_email_lower_key"

Test(scenarios, email_case_insensitive_passes, .timeout = 90)
{
	struct run r;
	run_passes("email-case-insensitive", NULL, &r);
	cr_expect_eq(num(&r, "before", "rows_per_key.min"), 3);
	cr_expect_eq(num(&r, "after", "rows_per_key.max"), 1);
	cr_expect_eq(num(&r, "after", "outcomes.23505"), 2 * num(&r, "after", "rounds"));
	cr_expect_eq(num(&r, "after", "constraints." EMAIL_UQ), num(&r, "after", "outcomes.23505"));
	run_free(&r);
}

/* A case-sensitive index: the three spellings are three different strings,
 * so the race still duplicates after the migration. */
Test(scenarios, email_case_sensitive_index_fails, .timeout = 90)
{
	const struct edit e = {"ON users (lower(email))", "ON users (email)"};
	struct run r;
	run_fails(variant("email-case-insensitive", &e), &r);
	assert_expectation_failed(&r, "after", "rows_per_key.max == 1");
	run_free(&r);
}

/* Every spelling the same: the mutant where workers do not differ gives the
 * same verdicts, but a case-sensitive index now holds: it is the variants
 * that make the case-sensitive index fail above. */
Test(scenarios, email_one_spelling_passes_case_sensitive_index, .timeout = 90)
{
	const struct edit e = {"  - variants: ['Ann{round}@Example.test', 'ann{round}@example.test', "
			       "'ANN{round}@EXAMPLE.TEST']",
			       "  - 'ann{round}@example.test'"};
	char *text = read_file(variant("email-case-insensitive", &e), NULL);
	cr_assert_not_null(text);
	char *again = replace_all(text, "ON users (lower(email))", "ON users (email)");
	const char *file = spath("email-one.yaml");
	write_file(file, again, strlen(again));
	free(text);
	free(again);
	struct run r;
	run_pgrace_json(file, NULL, &r);
	cr_expect_eq(r.p.code, 0, "%s", said(&r));
	run_free(&r);
}

/* Without the partial predicate the index also covers the deleted accounts
 * round_setup planted, so 005 cannot apply even after the cleanup. */
Test(scenarios, email_index_over_deleted_accounts_fails, .timeout = 90)
{
	const struct edit e = {" WHERE deleted_at IS NULL;\n  down:", ";\n  down:"};
	struct run r;
	run_fails(variant("email-case-insensitive", &e), &r);
	cr_expect(!phase_passed(&r, "migrate"), "the index applied over deleted duplicates; %s",
		  said(&r));
	run_free(&r);
}
