/* test_integration_interleave.c: interleave mode, the real binary against a
 * real PostgreSQL.
 *
 * The seed scenario's interleave phases give exact counts: 18 of the 20
 * orders duplicate before migration 005; after it none does, 12 end in one
 * 23505 each, 6 are not executable, 2 skip. A migration that adds a
 * non-unique index instead fails interleave-after and names its first
 * duplicating order. The same run twice lists the same orders with the same
 * outcomes; a sample above max_interleavings says so, with its seed; an
 * `orders:` list runs exactly those orders. And PostgreSQL's own isolation
 * tester (the real binary of the server in use) runs the specs `pgrace spec`
 * writes and agrees on every order. An order that cannot run as written
 * ends without a cancel, however its waits chain. Partial-order reduction
 * changes no order's outcome in any scenario with interleave phases. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define SAMPLE PGRACE_TEST_DATA "/integration/interleave-sample.yaml"
#define FIRE_REPLAY PGRACE_TEST_DATA "/integration/fire-replay.yaml"
#define CHAIN PGRACE_TEST_DATA "/integration/interleave-chain.yaml"
#define UQ_NAME "uq_user_tenant_membership_user_tenant"

TestSuite(interleave, .init = scratch_init, .fini = scratch_fini);

/* The orders of phase name, without what varies from run to run (none of
 * their fields does), as compact JSON text (malloc'd). */
static char *orders_text(json_t *doc, const char *name)
{
	json_t *il = jget(phase(doc, name), "interleave");
	char *s = json_dumps(jget(il, "orders"), JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_not_null(s);
	return s;
}

static json_t *order_named(json_t *il, const char *note)
{
	size_t i;
	json_t *o;
	json_array_foreach(jget(il, "orders"), i, o) if (!strcmp(jstr(o, "order"), note)) return o;
	cr_assert_fail("no order %s", note);
	return NULL;
}

Test(interleave, seed_counts_are_exact, .timeout = 180)
{
	const char *json = spath("seed.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	cr_expect(contains(p.out, "interleave-before: 18 of 20 orders left duplicates"), "%s",
		  p.out);
	cr_expect(contains(p.out, "first: a1 a2 b1 a3 b2 b3 -> 2 rows; a ok; b ok"), "%s", p.out);
	cr_expect(contains(p.out, "permutation \"a_select\" \"a_insert\" \"b_select\" \"a_commit\" "
				  "\"b_insert\" \"b_commit\""),
		  "%s", p.out);
	json_t *doc = load_json(json);

	json_t *il = jget(phase(doc, "interleave-before"), "interleave");
	cr_expect_eq(jint(il, "interleavings"), 20);
	cr_expect_eq(jint(il, "orders_possible"), 20);
	cr_expect(jbool(il, "exhaustive"));
	cr_expect_eq(jint(il, "interleavings_with_duplicates"), 18);
	cr_expect_str_eq(jstr(il, "first_duplicate"), "a1 a2 b1 a3 b2 b3");
	/* Both insert exactly when both SELECTs run before either COMMIT. */
	size_t i;
	json_t *o;
	json_array_foreach(jget(il, "orders"), i, o)
	{
		const char *note = jstr(o, "order");
		const char *a3 = strstr(note, "a3"), *b3 = strstr(note, "b3");
		const char *a1 = strstr(note, "a1"), *b1 = strstr(note, "b1");
		bool both = a1 < b3 && b1 < a3;
		cr_expect_eq(jint(o, "rows"), both ? 2 : 1, "before %s", note);
		cr_expect(jbool(o, "executable"), "before %s", note);
	}

	il = jget(phase(doc, "interleave-after"), "interleave");
	cr_expect_eq(jint(il, "interleavings_with_duplicates"), 0);
	cr_expect_eq(jint(il, "interleavings_not_executable"), 6);
	cr_expect(json_is_null(jget(il, "first_duplicate")));
	json_array_foreach(jget(il, "orders"), i, o)
	{
		const char *note = jstr(o, "order");
		const char *a3 = strstr(note, "a3"), *b3 = strstr(note, "b3");
		const char *a1 = strstr(note, "a1"), *b1 = strstr(note, "b1");
		const char *a2 = strstr(note, "a2"), *b2 = strstr(note, "b2");
		bool both = a1 < b3 && b1 < a3;
		/* The later inserter waits for the other's COMMIT; its own COMMIT
		 * before that cannot start. */
		bool a_first = a2 < b2;
		bool stuck = both && (a_first ? (b2 < a3 && b3 < a3) : (a2 < b3 && a3 < b3));
		cr_expect_eq(jbool(o, "executable"), !stuck, "after %s", note);
		if (stuck) {
			cr_expect_str_eq(jstr(o, "not_executable_at"), a_first ? "b3" : "a3", "%s", note);
			continue;
		}
		cr_expect_eq(jint(o, "rows"), 1, "after %s", note);
		json_t *w = jget(o, "workers");
		const char *oa = jstr(json_array_get(w, 0), "outcome");
		const char *ob = jstr(json_array_get(w, 1), "outcome");
		int violations = !strcmp(oa, "23505") + !strcmp(ob, "23505");
		cr_expect_eq(violations, both ? 1 : 0, "after %s: a %s, b %s", note, oa, ob);
		if (!both)
			cr_expect(!strcmp(oa, "skipped") || !strcmp(ob, "skipped"), "after %s", note);
	}
	o = order_named(il, "a1 a2 b1 b2 a3 b3");
	json_t *b = json_array_get(jget(o, "workers"), 1);
	cr_expect_str_eq(jstr(b, "outcome"), "23505");
	cr_expect_str_eq(jstr(b, "constraint"), UQ_NAME);
	cr_expect_eq(jint(b, "error_step"), 2);
	cr_expect_str_eq(json_string_value(json_array_get(jget(b, "blocked_by"), 0)), "a",
			 "b2 waited on a");
	cr_expect_str_eq(jstr(json_array_get(jget(o, "steps"), 3), "status"), "failed");
	json_decref(doc);
	proc_free(&p);
}

Test(interleave, same_run_same_orders, .timeout = 180)
{
	char *first[2] = {NULL, NULL};
	for (int run = 0; run < 2; run++) {
		const char *json = spath(run ? "two.json" : "one.json");
		struct proc p;
		int code = run_pgrace(ARGS("run", SAMPLE, "-q", "--json", json), &p);
		cr_assert_eq(code, 0, "%s", proc_said(&p));
		json_t *doc = load_json(json);
		json_t *il = jget(phase(doc, "sample"), "interleave");
		cr_expect(!jbool(il, "exhaustive"));
		cr_expect_eq(jint(il, "seed"), 1);
		cr_expect_eq(jint(il, "orders_possible"), 1680);
		cr_expect_eq(jint(il, "interleavings"), 40);
		char *now = orders_text(doc, "sample");
		if (run == 0)
			first[0] = now;
		else {
			cr_expect_str_eq(now, first[0], "two runs, other orders or outcomes");
			free(now);
		}
		json_t *listed = jget(phase(doc, "listed"), "interleave");
		cr_expect(jbool(listed, "listed"));
		cr_expect_eq(jint(listed, "interleavings"), 2);
		cr_expect_str_eq(jstr(json_array_get(jget(listed, "orders"), 1), "order"),
				 "a1 b1 a2 b2 a3 b3");
		json_decref(doc);
		proc_free(&p);
	}
	free(first[0]);
}

Test(interleave, seed_option_changes_the_sample, .timeout = 180)
{
	char *lists[2];
	for (int run = 0; run < 2; run++) {
		const char *json = spath(run ? "seed8.json" : "seed1.json");
		struct proc p;
		int code = run ? run_pgrace(ARGS("run", SAMPLE, "-q", "--json", json, "--seed", "8"), &p)
			       : run_pgrace(ARGS("run", SAMPLE, "-q", "--json", json), &p);
		cr_assert_eq(code, 0, "%s", proc_said(&p));
		json_t *doc = load_json(json);
		json_t *il = jget(phase(doc, "sample"), "interleave");
		cr_expect_eq(jint(il, "seed"), run ? 8 : 1);
		cr_expect_eq(jint(il, "interleavings"), 40);
		lists[run] = orders_text(doc, "sample");
		json_decref(doc);
		proc_free(&p);
	}
	cr_expect_str_neq(lists[0], lists[1], "--seed 8 drew the same orders as seed 1");
	free(lists[0]);
	free(lists[1]);
}

Test(interleave, non_unique_index_fails_and_names_the_order, .timeout = 180)
{
	const char *yaml = seed_variant("index.yaml",
					"ALTER TABLE user_tenant_membership\n"
					"      ADD CONSTRAINT uq_user_tenant_membership_user_tenant UNIQUE "
					"(user_id, tenant_id);",
					"CREATE INDEX uq_user_tenant_membership_user_tenant\n"
					"      ON user_tenant_membership (user_id, tenant_id);");
	const char *json = spath("index.json"), *junit = spath("index.xml");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--json", json, "--junit", junit), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *after = phase(doc, "interleave-after");
	cr_expect(!jbool(after, "passed"));
	json_t *il = jget(after, "interleave");
	cr_expect_eq(jint(il, "interleavings_with_duplicates"), 18);
	cr_expect_str_eq(jstr(il, "first_duplicate"), "a1 a2 b1 a3 b2 b3");
	cr_expect(contains(p.out, "interleave-after: 18 of 20 orders left duplicates"), "%s", p.out);
	cr_expect(contains(p.out, "first: a1 a2 b1 a3 b2 b3 -> 2 rows"), "%s", p.out);
	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml);
	cr_expect(contains(xml, "first order that left duplicates: a1 a2 b1 a3 b2 b3 -&gt; 2 rows"),
		  "%s", xml);
	free(xml);
	json_decref(doc);
	proc_free(&p);
}

/* ---- the isolation tester agrees ------------------------------------- */

/* The isolationtester of the server in use: in its pgxs tree, beside the
 * src/makefiles/pgxs.mk the server names (its pg_config view, readable by
 * the superuser the throwaway server gives us), else `pg_config --pgxs`. */
static const char *isolationtester(void)
{
	static char path[1024];
	char pgxs[1024] = "";
	PGconn *c = pg_open();
	PGresult *r = PQexec(c, "SELECT setting FROM pg_config WHERE name = 'PGXS'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(pgxs, sizeof pgxs, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	if (!pgxs[0]) {
		struct proc p;
		int code = wait_pgrace(spawn_cmd(ARGS("/bin/sh", "-c", "exec pg_config --pgxs"), &p), &p, 30);
		cr_assert_eq(code, 0, "neither the server nor pg_config names the pgxs tree: %s",
			     proc_said(&p));
		snprintf(pgxs, sizeof pgxs, "%s", p.out);
		proc_free(&p);
	}
	pgxs[strcspn(pgxs, "\n")] = '\0';
	/* .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs/src/test/isolation/isolationtester */
	char *cut = strstr(pgxs, "/makefiles/pgxs.mk");
	cr_assert_not_null(cut, "unexpected PGXS path %s", pgxs);
	*cut = '\0';
	snprintf(path, sizeof path, "%s/test/isolation/isolationtester", pgxs);
	cr_assert_eq(access(path, X_OK), 0, "no isolationtester at %s (Debian's postgresql "
					     "package installs it there)", path);
	return path;
}

/* Runs the real isolationtester on spec (stdin), a step waiting at most
 * wait_s; returns its stdout (malloc'd). */
static char *run_isolationtester(const char *spec, const char *wait_s)
{
	setenv("PGISOLATIONTIMEOUT", wait_s, 1);
	struct proc p;
	int code = wait_pgrace(spawn_cmd(ARGS("/bin/sh", "-c", "exec \"$0\" '' < \"$1\"",
					      isolationtester(), spec),
				   &p),
			       &p, 300);
	cr_assert_eq(code, 0, "isolationtester: %s", proc_said(&p));
	char *out = p.out;
	p.out = NULL;
	proc_free(&p);
	return out;
}

/* What the isolation tester printed for the permutation names (steps
 * separated by one space): the rows query's count and whether a 23505 was
 * reported. False when that permutation is not in its output. */
static bool tester_saw(const char *out, const char *names, long long *rows, bool *violation)
{
	char head[512];
	snprintf(head, sizeof head, "starting permutation: %s\n", names);
	const char *at = strstr(out, head);
	if (!at)
		return false;
	at += strlen(head);
	const char *end = strstr(at, "starting permutation: ");
	size_t len = end ? (size_t)(end - at) : strlen(at);
	char *block = strndup(at, len);
	cr_assert_not_null(block);
	*violation = strstr(block, "ERROR:  duplicate key value violates unique constraint") != NULL;
	const char *r = strstr(block, "pgrace_rows\n");
	cr_assert_not_null(r, "no rows count after permutation %s:\n%s", names, block);
	r = strchr(r + strlen("pgrace_rows\n"), '\n'); /* past the ----- line */
	cr_assert_not_null(r);
	*rows = strtoll(r + 1, NULL, 10);
	free(block);
	return true;
}

/* pgrace's and PostgreSQL's isolation tester agree on every executable order
 * of both seed interleave phases: the same rows for the key, and a unique
 * violation in exactly the same orders. */
Test(interleave, isolation_tester_agrees_on_every_order, .timeout = 600)
{
	static const char *const phases[] = {"interleave-before", "interleave-after"};
	for (size_t k = 0; k < 2; k++) {
		char name[64];
		snprintf(name, sizeof name, "%s.spec", phases[k]);
		const char *spec = spath(name);
		snprintf(name, sizeof name, "%s.json", phases[k]);
		const char *json = spath(name);
		struct proc p;
		int code = run_pgrace(ARGS("spec", SEED, "--phase", phases[k], "--all", "-o", spec,
					   "--json", json, "--schema", k ? "pgrace_spec_after" : "pgrace_spec_before"),
				      &p);
		cr_assert_eq(code, 0, "%s", proc_said(&p));
		proc_free(&p);
		char *out = run_isolationtester(spec, "60");
		json_t *doc = load_json(json);
		json_t *il = jget(phase(doc, phases[k]), "interleave"), *o;
		size_t i, compared = 0, dups = 0, violations = 0;
		json_array_foreach(jget(il, "orders"), i, o)
		{
			if (!jbool(o, "executable"))
				continue;
			char names[512] = "";
			size_t j, len = 0;
			json_t *st;
			json_array_foreach(jget(o, "steps"), j, st)
				len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", j ? " " : "",
							jstr(st, "name"));
			long long rows = -1;
			bool violation = false;
			cr_assert(tester_saw(out, names, &rows, &violation),
				  "%s: permutation %s not in the isolation tester's output", phases[k], names);
			bool ours = false;
			json_t *w;
			json_array_foreach(jget(o, "workers"), j, w) ours |= !strcmp(jstr(w, "outcome"), "23505");
			cr_expect_eq(rows, jint(o, "rows"), "%s %s: rows %lld there, %lld here", phases[k],
				     jstr(o, "order"), rows, jint(o, "rows"));
			cr_expect_eq(violation, ours, "%s %s: 23505 %s there, %s here", phases[k],
				     jstr(o, "order"), violation ? "yes" : "no", ours ? "yes" : "no");
			compared++;
			dups += rows > 1;
			violations += violation;
		}
		cr_expect_eq(count_of(out, "starting permutation: "), (int)compared);
		if (k == 0) {
			cr_expect_eq(compared, 20);
			cr_expect_eq(dups, 18, "the isolation tester saw %zu duplicates", dups);
		} else {
			cr_expect_eq(compared, 14);
			cr_expect_eq(dups, 0);
			cr_expect_eq(violations, 12, "the isolation tester saw %zu unique violations",
				     violations);
		}
		free(out);
		json_decref(doc);
	}
}

/* An order pgrace calls not executable cannot run in the isolation tester
 * either: the waiting step's session is asked for its COMMIT, the tester waits
 * for the step until its timeout and cancels it. */
Test(interleave, isolation_tester_cannot_run_a_stuck_order, .timeout = 300)
{
	const char *spec = spath("after.spec");
	struct proc p;
	int code = run_pgrace(
		ARGS("spec", SEED, "--phase", "interleave-after", "-o", spec, "--schema", "pgrace_spec_stuck"),
		&p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	char *text = read_file(spec, NULL);
	cr_assert_not_null(text);
	cr_assert(contains(text, "#   not executable: a1 a2 b1 b2 b3 a3 -> not executable at b3 (b2 "
				 "waits on a)"),
		  "%s", text);
	char *cut = strstr(text, "\npermutation ");
	cr_assert_not_null(cut);
	cut[1] = '\0';
	size_t len = strlen(text) + 200;
	char *stuck = malloc(len);
	cr_assert_not_null(stuck);
	snprintf(stuck, len,
		 "%spermutation \"a_select\" \"a_insert\" \"b_select\" \"b_insert\" \"b_commit\" "
		 "\"a_commit\"\n",
		 text);
	const char *path = spath("stuck.spec");
	write_file(path, stuck, strlen(stuck));
	char *out = run_isolationtester(path, "2");
	cr_expect(contains(out, "step b_insert: <... completed>") &&
			  contains(out, "canceling step b_insert after 2 seconds"),
		  "the isolation tester ran the stuck order:\n%s", out);
	free(out);
	free(stuck);
	free(text);
}

/* A fire phase's 95 % bound is a number in (0, 1]. */
static bool race_probability_ok(json_t *ph)
{
	json_t *u = jget(ph, "race_probability_upper_95");
	return json_is_real(u) && json_real_value(u) > 0 && json_real_value(u) <= 1;
}

/* A fire round that duplicated reports the order its steps were sent in;
 * an interleave phase given that order (orders:) duplicates too. */
Test(interleave, fire_round_order_replays, .timeout = 180)
{
	const char *json = spath("fire.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", FIRE_REPLAY, "-q", "--json", json), &p);
	cr_assert(code == 0 || code == 1, "%s", proc_said(&p));
	proc_free(&p);
	json_t *doc = load_json(json);
	json_t *fire = phase(doc, "fire");
	if (jint(fire, "rounds_with_duplicates") == 0) {
		json_decref(doc);
		cr_skip_test("no fire round duplicated (a 200 ms pause between check and insert "
			     "did not overlap in 5 rounds): nothing to replay");
	}
	json_t *first = jget(fire, "first_duplicate_round");
	const char *order = jstr(first, "order");
	json_t *steps = jget(first, "steps");
	cr_expect_eq(json_array_size(steps), 10, "every step's times, each worker's BEGIN too");
	int begins = 0;
	for (size_t i = 0; i < json_array_size(steps); i++) {
		const char *st = jstr(json_array_get(steps, i), "step");
		begins += !strcmp(st, "a0") || !strcmp(st, "b0");
	}
	cr_expect_eq(begins, 2, "a0 and b0: the BEGINs");
	cr_expect(race_probability_ok(fire), "the bound is there");
	char *text = read_file(FIRE_REPLAY, NULL);
	cr_assert_not_null(text);
	char quoted[160];
	snprintf(quoted, sizeof quoted, "\"%s\"", order);
	char *variant = replace_all(text, "\"a1 a2 a3 a4 b1 b2 b3 b4\"", quoted);
	const char *yaml = spath("replay.yaml");
	write_file(yaml, variant, strlen(variant));
	const char *json2 = spath("replay.json");
	code = run_pgrace(ARGS("run", yaml, "-q", "--json", json2), &p);
	cr_assert(code == 0 || code == 1, "%s", proc_said(&p));
	json_t *doc2 = load_json(json2);
	json_t *il = jget(phase(doc2, "replay"), "interleave");
	cr_expect_eq(jint(il, "interleavings_with_duplicates"), 1, "the fire round's order %s did not "
								   "duplicate in interleave mode",
		     order);
	cr_expect_str_eq(jstr(json_array_get(jget(il, "orders"), 0), "order"), order);
	free(variant);
	free(text);
	json_decref(doc2);
	json_decref(doc);
	proc_free(&p);
}

/* --mode interleave on a scenario whose phase loads its steps (under_load)
 * is refused before anything runs, naming the step's line. Regression:
 * before this check the run reached the step with no workers and crashed
 * (SIGSEGV, exit 139). */
Test(interleave, mode_override_refuses_what_cannot_interleave, .timeout = 120)
{
	struct proc p;
	const char *yaml = PGRACE_SOURCE_DIR "/scenarios/migration-under-load.yaml";
	int code = run_pgrace(ARGS("run", yaml, "--mode", "interleave", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_file_line(p.err, yaml), "%s", proc_said(&p));
	cr_expect(contains(p.err, "under_load needs mode hold or fire"), "%s", proc_said(&p));
	proc_free(&p);
}

/* pgrace spec replays exactly what the run did up to the phase (issue 17,
 * item 1): a schema a command built, a migration that failed as expected
 * (not applied: the header says "not migrated"), a constraint a step of an
 * earlier phase added; and a schema built by SQL. The isolation tester,
 * run on each spec, counts the rows pgrace counted in every executable
 * order. Before, the spec left out the command's schema (the tester's setup
 * failed: no table m), counted the failed migration as applied (a unique
 * index on the seed's duplicates) and left out the step's constraint. */
Test(interleave, spec_replays_what_the_run_did, .timeout = 600)
{
	const char *base = PGRACE_TEST_DATA "/integration/spec-replay.yaml";
	char *sql_built = strdup(variant_of(
		base, "sql-built.yaml",
		"schema: {command: \"psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE m (u bigint NOT "
		"NULL, t bigint NOT NULL)'\"}",
		"schema: CREATE TABLE m (u bigint NOT NULL, t bigint NOT NULL)"));
	cr_assert_not_null(sql_built);
	static const struct {
		int file; /* 0: command-built, 1: SQL-built */
		const char *phase;
		long long dups, violations;
	} cases[] = {
		{0, "after-failed-up", 18, 0},
		{0, "after-step", 0, 12},
		{1, "after-step", 0, 12},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *file = cases[k].file ? sql_built : base;
		char name[64], schema[64];
		snprintf(name, sizeof name, "replay-%zu.spec", k);
		const char *spec = spath(name);
		snprintf(name, sizeof name, "replay-%zu.json", k);
		const char *json = spath(name);
		snprintf(schema, sizeof schema, "pgrace_spec_replay_%zu", k);
		struct proc p;
		int code = run_pgrace(ARGS("spec", file, "--phase", cases[k].phase, "--all", "-o", spec,
					   "--json", json, "--schema", schema),
				      &p);
		cr_assert_eq(code, 0, "case %zu: %s", k, proc_said(&p));
		proc_free(&p);
		char *text = read_file(spec, NULL);
		cr_assert_not_null(text);
		cr_expect(contains(text, ", not migrated: "), "case %zu: the failed migration is not "
							      "applied:\n%s", k, text);
		free(text);
		char *out = run_isolationtester(spec, "60");
		cr_expect(!contains(out, "setup failed"), "case %zu:\n%s", k, out);
		json_t *doc = load_json(json);
		json_t *il = jget(phase(doc, cases[k].phase), "interleave"), *o;
		size_t i, compared = 0, dups = 0, violations = 0;
		json_array_foreach(jget(il, "orders"), i, o)
		{
			if (!jbool(o, "executable"))
				continue;
			char names[512] = "";
			size_t j, len = 0;
			json_t *st;
			json_array_foreach(jget(o, "steps"), j, st)
				len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", j ? " " : "",
							jstr(st, "name"));
			long long rows = -1;
			bool violation = false;
			cr_assert(tester_saw(out, names, &rows, &violation),
				  "case %zu: permutation %s not in the isolation tester's output:\n%s", k,
				  names, out);
			bool ours = false;
			json_t *w;
			json_array_foreach(jget(o, "workers"), j, w) ours |= !strcmp(jstr(w, "outcome"), "23505");
			cr_expect_eq(rows, jint(o, "rows"), "case %zu %s: rows %lld there, %lld here", k,
				     jstr(o, "order"), rows, jint(o, "rows"));
			cr_expect_eq(violation, ours, "case %zu %s: 23505 %s there, %s here", k,
				     jstr(o, "order"), violation ? "yes" : "no", ours ? "yes" : "no");
			compared++;
			dups += rows > 1;
			violations += violation;
		}
		cr_expect_gt(compared, 0, "case %zu", k);
		cr_expect_eq(count_of(out, "starting permutation: "), (int)compared, "case %zu", k);
		cr_expect_eq(dups, cases[k].dups, "case %zu: the isolation tester saw %zu duplicates", k,
			     dups);
		cr_expect_eq(violations, cases[k].violations,
			     "case %zu: the isolation tester saw %zu unique violations", k, violations);
		free(out);
		json_decref(doc);
	}
	free(sql_built);
}

/* An order that cannot run as written, with a chain of waits (c2 on b2 on
 * a's key once a is rolled back), ends without a cancel request, and the
 * orders after it start from idle connections: no 57014 anywhere, the
 * serial orders skip as they should. (Before: a 3 s drain, then a cancel
 * of c2, whose late delivery could cancel a later order's statement.) */
Test(interleave, chain_of_waits_ends_without_a_cancel, .timeout = 120)
{
	const char *json = spath("chain.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", CHAIN, "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *ph = phase(doc, "chain");
	json_t *il = jget(ph, "interleave");
	cr_expect_eq(jint(jget(il, "time"), "cancels"), 0);
	cr_expect_null(json_object_get(jget(ph, "outcomes"), "57014"), "a cancel landed");
	const char *stuck[] = {"a1 a2 b1 b2 c1 c2 b3 a3 c3", "a1 b1 c1 a2 b2 c2 c3 b3 a3"};
	const char *at[] = {"b3", "c3"};
	for (int i = 0; i < 2; i++) {
		json_t *o = order_named(il, stuck[i]);
		cr_expect(!jbool(o, "executable"), "%s", stuck[i]);
		cr_expect_str_eq(jstr(o, "not_executable_at"), at[i], "%s", stuck[i]);
	}
	const char *serial[] = {"a1 a2 a3 b1 b2 b3 c1 c2 c3", "c1 c2 c3 b1 b2 b3 a1 a2 a3"};
	for (int i = 0; i < 2; i++) {
		json_t *o = order_named(il, serial[i]);
		cr_expect(jbool(o, "executable"), "%s", serial[i]);
		cr_expect_eq(jint(o, "rows"), 1, "%s", serial[i]);
		int first = i ? 2 : 0;
		for (int w = 0; w < 3; w++)
			cr_expect_str_eq(jstr(json_array_get(jget(o, "workers"), (size_t)w), "outcome"),
					 w == first ? "ok" : "skipped", "%s, worker %c", serial[i],
					 'a' + w);
	}
	json_decref(doc);
	proc_free(&p);
}

/* What an order ended as, for comparing two runs: every field of its JSON
 * but those saying how it was found (ran, same_as) and its steps' statuses
 * (a pruned order carries its class's run; positions of a stuck order
 * differ within a class), as compact JSON (malloc'd). */
static char *order_outcome(json_t *o)
{
	json_t *w = json_object();
	json_object_set(w, "order", jget(o, "order"));
	json_object_set(w, "executable", jget(o, "executable"));
	json_object_set(w, "rows", jget(o, "rows"));
	json_object_set(w, "workers", jget(o, "workers"));
	char *s = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(w);
	cr_assert_not_null(s);
	return s;
}

/* Runs args (NULL-terminated, "--json" FILE appended) and returns the
 * document and the exit code. */
static json_t *run_doc(const char *const *args, const char *json, int *code)
{
	const char *argv[16];
	size_t n = 0;
	while (args[n]) {
		cr_assert_lt(n, 12);
		argv[n] = args[n];
		n++;
	}
	argv[n++] = "--json";
	argv[n++] = json;
	argv[n] = NULL;
	struct proc p;
	*code = run_pgrace(argv, &p);
	cr_assert(*code == 0 || *code == 1, "%s", proc_said(&p));
	proc_free(&p);
	return load_json(json);
}

/* Compares every interleave phase's orders, order by order; returns the
 * orders the reduced run pruned. */
static long long compare_orders(json_t *reduced, json_t *full, const char *what)
{
	long long pruned = 0;
	size_t i, j;
	json_t *ph, *o;
	json_array_foreach(jget(full, "phases"), i, ph)
	{
		json_t *fil = json_object_get(ph, "interleave");
		if (!json_is_object(fil))
			continue;
		json_t *ril = jget(json_array_get(jget(reduced, "phases"), i), "interleave");
		cr_expect(!jbool(fil, "reduction"), "%s: --no-reduction reduced", what);
		cr_expect_eq(jint(fil, "orders_pruned"), 0, "%s", what);
		if (jint(ph, "workers") > 1) /* one worker has one order: nothing to reduce */
			cr_expect(jbool(ril, "reduction"), "%s, phase %s: no reduction", what,
				  jstr(ph, "name"));
		pruned += jint(ril, "orders_pruned");
		cr_expect_eq(jint(ril, "orders_run") + jint(ril, "orders_pruned"),
			     jint(ril, "interleavings"), "%s", what);
		json_t *rorders = jget(ril, "orders");
		cr_assert_eq(json_array_size(rorders), json_array_size(jget(fil, "orders")), "%s", what);
		json_array_foreach(jget(fil, "orders"), j, o)
		{
			json_t *r = json_array_get(rorders, j);
			char *a = order_outcome(o), *b = order_outcome(r);
			cr_expect_str_eq(b, a, "%s, phase %s: the reduced run says %s, every order run %s",
					 what, jstr(ph, "name"), b, a);
			if (!jbool(r, "ran"))
				cr_expect(json_is_string(jget(r, "same_as")), "%s", what);
			free(a);
			free(b);
		}
	}
	return pruned;
}

/* Partial-order reduction changes no order's outcome: every scenario in
 * scenarios/ with an interleave phase, run as it is with the reduction and
 * with --no-reduction, ends each order of each interleave phase the same
 * (rows, executable, each worker's outcome, constraint, error step and
 * blockers), with the same exit code; and three workers of the seed flow,
 * on a sample, likewise. The reduction prunes something somewhere. */
Test(interleave, reduction_changes_no_outcome, .timeout = 900)
{
	static const char *const files[] = {"membership-unique", "nullable-tenant", "on-conflict",
					    "serializable"};
	long long pruned = 0;
	char path[512];
	/* Every scenario with an interleave phase is in the list. */
	DIR *d = opendir(PGRACE_SOURCE_DIR "/scenarios");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".yaml"))
			continue;
		snprintf(path, sizeof path, "%s/scenarios/%s", PGRACE_SOURCE_DIR, e->d_name);
		char *text = read_file(path, NULL);
		bool has = strstr(text, "mode: interleave") != NULL;
		free(text);
		bool listed = false;
		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
			listed |= l - 5 == strlen(files[i]) && !strncmp(e->d_name, files[i], l - 5);
		cr_expect(!has || listed, "scenarios/%s has interleave phases: add it here", e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/scenarios/%s.yaml", PGRACE_SOURCE_DIR, files[i]);
		int rc_r, rc_f;
		json_t *r = run_doc(ARGS("run", path, "-q"), spath("reduced.json"), &rc_r);
		json_t *f = run_doc(ARGS("run", path, "-q", "--no-reduction"), spath("full.json"), &rc_f);
		cr_expect_eq(rc_r, rc_f, "%s", files[i]);
		pruned += compare_orders(r, f, files[i]);
		json_decref(r);
		json_decref(f);
	}
	cr_expect_gt(pruned, 0, "the reduction pruned nothing");
	int rc_r, rc_f;
	json_t *r = run_doc(ARGS("run", SEED, "-q", "--mode", "interleave", "--workers", "3",
				 "--max-interleavings", "150"),
			    spath("reduced3.json"), &rc_r);
	json_t *f = run_doc(ARGS("run", SEED, "-q", "--mode", "interleave", "--workers", "3",
				 "--max-interleavings", "150", "--no-reduction"),
			    spath("full3.json"), &rc_f);
	cr_expect_eq(rc_r, rc_f);
	cr_expect_gt(compare_orders(r, f, "seed flow, 3 workers"), 0);
	json_decref(r);
	json_decref(f);
}

#define FOOTPRINT PGRACE_TEST_DATA "/integration/interleave-footprint.yaml"

/* The footprints partial-order reduction worked from, as the JSON reports
 * them: the seed flow's SELECT reads its table, its INSERT writes it and
 * reaches users and tenants through the foreign keys; a trigger of the
 * user's own makes every step on its table unknown, and nothing is pruned
 * (the counts stay those of every order); so does a volatile built-in. */
Test(interleave, footprints_name_what_a_step_touches, .timeout = 180)
{
	const char *json = spath("fp-seed.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	json_t *doc = load_json(json);
	json_t *fp = jget(jget(phase(doc, "interleave-before"), "interleave"), "footprints");
	json_t *sel = json_array_get(fp, 0), *ins = json_array_get(fp, 1);
	cr_assert(sel && ins);
	cr_expect_str_eq(jstr(sel, "step"), "select");
	cr_expect(!jbool(sel, "writes") && !jbool(sel, "unknown"));
	cr_expect_eq(json_array_size(jget(sel, "relations")), 1);
	cr_expect_str_eq(json_string_value(json_array_get(jget(sel, "relations"), 0)),
			 "user_tenant_membership");
	cr_expect(jbool(ins, "writes") && !jbool(ins, "unknown"));
	char *rels = json_dumps(jget(ins, "relations"), JSON_COMPACT);
	cr_expect(contains(rels, "\"users\"") && contains(rels, "\"tenants\""),
		  "the INSERT's foreign keys: %s", rels);
	free(rels);
	json_decref(doc);

	json = spath("fp-trigger.json");
	code = run_pgrace(ARGS("run", FOOTPRINT, "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	doc = load_json(json);
	json_t *plain = jget(phase(doc, "plain"), "interleave");
	json_t *trig = jget(phase(doc, "trigger"), "interleave");
	cr_expect_gt(jint(plain, "orders_pruned"), 0);
	cr_expect_eq(jint(trig, "orders_pruned"), 0);
	cr_expect_eq(jint(trig, "orders_run"), 20);
	size_t i;
	json_t *s;
	json_array_foreach(jget(trig, "footprints"), i, s)
		cr_expect(jbool(s, "unknown"), "step %s after the trigger", jstr(s, "step"));
	json_decref(doc);

	/* A volatile built-in that the probe's empty key never ran
	 * (pg_advisory_xact_lock in a SELECT that found no row) still makes its
	 * step unknown (before: a read-only step, pruned as one). */
	json = spath("fp-volatile.json");
	code = run_pgrace(ARGS("run", PGRACE_TEST_DATA "/integration/interleave-footprint-volatile.yaml",
			       "-q", "--json", json),
			  &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	doc = load_json(json);
	json_t *vol = jget(phase(doc, "volatile"), "interleave");
	cr_expect(jbool(json_array_get(jget(vol, "footprints"), 0), "unknown"));
	cr_expect_eq(jint(vol, "orders_pruned"), 0);
	json_decref(doc);
}

/* `pgrace spec` of a phase whose race breaks after the sandbox was
 * captured (its rows query needs a table the phase's step dropped) says
 * why, fails as `pgrace run` does and writes no spec; the capture is freed
 * (before: leaked, which the sanitizer build's leak check turned into a
 * failed exit). */
Test(interleave, spec_of_a_broken_race_frees_its_capture, .timeout = 120)
{
	const char *yaml = PGRACE_TEST_DATA "/integration/spec-broken.yaml";
	const char *spec = spath("broken.spec");
	struct proc p, r;
	int run = run_pgrace(ARGS("run", yaml, "-q"), &r);
	int code = run_pgrace(ARGS("spec", yaml, "--phase", "broken", "-o", spec), &p);
	cr_expect_neq(run, 0, "%s", proc_said(&r));
	cr_expect(code == 2 || code == 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "rows query failed") && contains(p.err, "42P01"), "%s",
		  proc_said(&p));
	cr_expect(access(spec, F_OK) != 0, "a spec was written");
	proc_free(&p);
	proc_free(&r);
}
