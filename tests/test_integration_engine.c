/* test_integration_engine.c: the event-loop engine against a real PostgreSQL.
 *
 * pgrace drives its workers from a few event-loop threads (PGRACE_THREADS,
 * default one per core), and pipelines free runs where the flow allows
 * (PGRACE_PIPELINE=off turns it off). These tests run the real binary with
 * one thread for many workers (every connection multiplexed by one loop)
 * and with several, pipelined and not, and check what must hold whatever
 * the timing: counts that add up, one row per key under the constraint,
 * every ok attempt one row without it, deadlines that cancel a pipelined
 * statement on the server. They assert behaviour, never speed.
 *
 * The helpers (spawning, scratch folder, JSON, libpq) are in harness.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define FLOW_SELECT "SELECT 1 FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2"

TestSuite(engine, .init = scratch_init, .fini = scratch_fini);

/* The engine's settings for this test process (each Criterion test runs in
 * a process of its own, and spawned pgrace inherits the environment). */
static void engine_env(const char *threads, const char *pipeline)
{
	if (threads)
		setenv("PGRACE_THREADS", threads, 1);
	else
		unsetenv("PGRACE_THREADS");
	if (pipeline)
		setenv("PGRACE_PIPELINE", pipeline, 1);
	else
		unsetenv("PGRACE_PIPELINE");
}

/* attempts == the sum of the phase's outcomes (every attempt counted once). */
static void assert_counts_add_up(json_t *ph)
{
	json_t *o = jget(ph, "outcomes");
	long long attempts = jint(ph, "attempts"), sum = 0;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		sum += json_integer_value(v);
	}
	cr_expect_eq(attempts, sum, "phase %s: attempts %lld, outcomes sum to %lld (%s)",
		     jstr(ph, "name"), attempts, sum, json_dumps(o, JSON_COMPACT));
}

/* The seed free-running on one hot key per phase: without the constraint
 * every ok attempt inserted one row (rows == ok), at most one per worker,
 * the rest found the row; with it exactly one attempt inserts (ok == 1, one
 * row) and every other one found the row or lost to it (23505). (Shown
 * failing when pipelined attempts ignored skip_if_found.) A pipelined attempt that fails mid-batch rolls back
 * like an unpipelined one, so the same holds both ways. */
static void free_hot(const char *threads, const char *pipeline)
{
	engine_env(threads, pipeline);
	const char *json = spath("free-hot.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--duration", "1", "--hot", "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "threads %s, pipeline %s: %s", threads ? threads : "default",
		     pipeline ? pipeline : "on", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *before = phase(doc, "before"), *after = phase(doc, "after");
	cr_expect(jbool(before, "free_run"));
	cr_expect_gt(jint(after, "attempts"), jint(after, "workers"),
		     "each worker ran more than one attempt");
	assert_counts_add_up(before);
	assert_counts_add_up(after);
	json_t *ob = jget(before, "outcomes"), *oa = jget(after, "outcomes");
	cr_expect_eq(jcount(ob, "ok"), jint2(before, "rows_per_key", "max"),
		     "before: %lld ok attempts but %lld rows", jcount(ob, "ok"),
		     jint2(before, "rows_per_key", "max"));
	/* Once a row is committed every later check finds it: a worker's
	 * second attempt starts after its first committed, so at most one
	 * attempt per worker can miss the row, and the rest skip. */
	cr_expect_leq(jint2(before, "rows_per_key", "max"), jint(before, "workers"), "before: %s",
		      json_dumps(ob, JSON_COMPACT));
	cr_expect_gt(jcount(ob, "skipped"), 0, "before: %s", json_dumps(ob, JSON_COMPACT));
	cr_expect_gt(jcount(oa, "skipped"), 0, "after: %s", json_dumps(oa, JSON_COMPACT));
	cr_expect_eq(jcount(oa, "ok"), 1, "after: %s", json_dumps(oa, JSON_COMPACT));
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	cr_expect_eq(jint(after, "attempts"),
		     jcount(oa, "ok") + jcount(oa, "skipped") + jcount(oa, "23505"), "after: %s",
		     json_dumps(oa, JSON_COMPACT));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

Test(engine, free_run_pipelined_one_thread, .timeout = 120)
{
	free_hot("1", NULL);
}

Test(engine, free_run_pipelined_three_threads, .timeout = 120)
{
	free_hot("3", NULL);
}

Test(engine, free_run_unpipelined, .timeout = 120)
{
	free_hot("2", "off");
}

/* Hold mode with every worker on one loop: the same verdict as ever. */
Test(engine, hold_rounds_one_thread, .timeout = 120)
{
	engine_env("1", NULL);
	const char *json = spath("hold1.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--rounds", "5", "-q", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	json_t *after = phase(doc, "after");
	cr_expect_eq(jcount(jget(after, "outcomes"), "ok"), 5, "one winner per round");
	cr_expect_eq(jcount(jget(after, "outcomes"), "23505"), 5 * (jint(after, "workers") - 1));
	cr_expect_eq(jint(phase(doc, "before"), "rounds_with_duplicates"), 5);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* Fire mode with more threads than... workers are spread over: rounds
 * complete, every attempt counted, one row per key after the migration. */
Test(engine, fire_rounds_many_threads, .timeout = 120)
{
	engine_env("4", NULL);
	const char *json = spath("fire4.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--mode", "fire", "--rounds", "5", "-q", "--json", json),
			      &p);
	cr_assert(code == 0 || code == 4, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *after = phase(doc, "after");
	cr_expect_eq(jint(after, "attempts"), 5 * jint(after, "workers"));
	assert_counts_add_up(after);
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* Fire rounds race with either release: last-byte (the default) releases
 * every worker of every round by its held tail, send by nothing held; both
 * count every attempt, and the unique constraint holds after the migration.
 * The result document says which release ran and its spread. */
Test(engine, fire_release_last_byte_and_send, .timeout = 180)
{
	engine_env("2", NULL);
	static const char *const how[] = {"last-byte", "send"};
	for (int i = 0; i < 2; i++) {
		const char *json = spath(i ? "fire-send.json" : "fire-last-byte.json");
		struct proc p;
		int code = run_pgrace(ARGS("run", SEED, "--mode", "fire", "--rounds", "4", "--workers", "6",
					   "--release", how[i], "-q", "--json", json),
				      &p);
		cr_assert(code == 0 || code == 4, "%s: %s", how[i], proc_said(&p));
		json_t *doc = load_json(json);
		const char *names[] = {"before", "after"};
		for (int k = 0; k < 2; k++) {
			json_t *ph = phase(doc, names[k]);
			json_t *rel = jget(ph, "release");
			cr_assert(json_is_object(rel), "%s: phase %s has no release", how[i], names[k]);
			cr_expect_str_eq(jstr(rel, "mode"), how[i]);
			cr_expect_eq(jint(rel, "tails"), i ? 0 : 4 * 6, "%s: every worker of every round",
				     how[i]);
			cr_expect(jint2(rel, "spread_us", "max") >= jint2(rel, "spread_us", "p50"));
			cr_expect_eq(jint(ph, "attempts"), 4 * 6);
			assert_counts_add_up(ph);
		}
		cr_expect_eq(jint2(phase(doc, "after"), "rows_per_key", "max"), 1);
		cr_expect(json_is_null(jget(phase(doc, "interleave-after"), "release")),
			  "release is a fire round's");
		assert_schema_dropped(doc);
		json_decref(doc);
		proc_free(&p);
	}
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", SEED, "--release", "byte"), &p), 2);
	cr_expect(contains(p.err, "--release"), "%s", proc_said(&p));
	proc_free(&p);
}

/* Workers connect many at once on the loops (more than a loop keeps
 * connecting at a time): 1,000 when the server has room for twice that,
 * else half its max_connections; every worker races, and the phase says how long the
 * connecting took. */
Test(engine, many_workers_connect_at_once, .timeout = 300)
{
	engine_env("2", NULL);
	PGconn *c = pg_open();
	char *maxc = pg_value(c, "SELECT current_setting('max_connections')", 0, NULL);
	PQfinish(c);
	long max_connections = strtol(maxc, NULL, 10);
	free(maxc);
	/* half of them: the suite's other tests run beside this one */
	long n = max_connections >= 2000 ? 1000 : max_connections / 2;
	cr_assert_gt(n, 2 * 32, "max_connections %ld leaves too few for the test", max_connections);
	char workers[16];
	snprintf(workers, sizeof workers, "%ld", n);
	const char *json = spath("many.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--mode", "fire", "--rounds", "1", "--workers", workers, "-q",
				   "--json", json),
			      &p);
	cr_assert(code == 0 || code == 4, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *ph = phase(doc, "before");
	cr_expect_eq(jint(ph, "attempts"), n);
	cr_expect(json_real_value(jget(ph, "connect_s")) > 0, "connect_s: %s",
		  json_dumps(jget(ph, "connect_s"), JSON_ENCODE_ANY));
	cr_expect(json_is_null(jget(phase(doc, "interleave-before"), "connect_s")));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* A pipelined statement past its attempt's deadline is cancelled on the
 * server, and the run stops naming the worker and the deadline. */
Test(engine, free_run_deadline_cancels_pipelined_statement, .timeout = 120)
{
	engine_env("1", NULL);
	char marker[64], sleepy[256];
	snprintf(marker, sizeof marker, "eng_sleep_%d", (int)getpid());
	snprintf(sleepy, sizeof sleepy,
		 "flow:\n  - sql: SELECT pg_sleep(20) AS %s, $1::bigint, $2::bigint\n  - sql: " FLOW_SELECT,
		 marker);
	const char *yaml = seed_variant("sleepy.yaml", "flow:\n  - sql: " FLOW_SELECT, sleepy);
	const char *json = spath("deadline.json");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", yaml, "--duration", "5", "--deadline-ms", "500", "-q", "--json",
				   json),
			      &p);
	double took = now_s() - t0;
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect_lt(took, 15, "took %.1f s: the 20 s statement was not cancelled", took);
	json_t *doc = load_json(json);
	const char *err = jstr(doc, "error");
	cr_expect(err && contains(err, "worker ") && contains(err, "deadline passed"), "error: %s",
		  err ? err : "(none)");
	PGconn *c = pg_open();
	char like[96];
	snprintf(like, sizeof like, "%%%s%%", marker);
	const char *params[] = {like};
	char *left = pg_value(c,
			      "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
			      "AND query LIKE $1 AND pid <> pg_backend_pid()",
			      1, params);
	cr_expect_str_eq(left, "0", "the statement still runs on the server");
	free(left);
	PQfinish(c);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

Test(engine, bad_thread_count_is_usage_error, .timeout = 60)
{
	const char *bad[] = {"0", "65", "two", "3x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		engine_env(bad[i], NULL);
		struct proc p;
		int code = run_pgrace(ARGS("run", SEED, "-q"), &p);
		cr_expect_eq(code, 2, "PGRACE_THREADS=%s: %s", bad[i], proc_said(&p));
		cr_expect(contains(p.err, "PGRACE_THREADS"), "PGRACE_THREADS=%s: %s", bad[i],
			  proc_said(&p));
		proc_free(&p);
	}
}

/* race: {autocommit: true}: no BEGIN, no COMMIT, each statement its own
 * transaction. A flow whose second statement fails keeps its first
 * statement's row (in a transaction the ROLLBACK would take it back): every
 * worker's row survives every round. */
Test(engine, autocommit_statements_are_their_own_transactions, .timeout = 120)
{
	engine_env("2", NULL);
	static const char yaml[] = "name: autocommit-keeps\n"
				   "schema: CREATE TABLE t (k bigint NOT NULL, w int)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "race: {workers: 4, rounds: 3, mode: fire, autocommit: true}\n"
				   "flow:\n"
				   "  - sql: INSERT INTO t (k) VALUES ($1)\n"
				   "  - sql: SELECT 1 / 0 WHERE $1::bigint IS NOT NULL\n"
				   "phases:\n"
				   "  - name: race\n"
				   "    race: {}\n"
				   "    expect:\n"
				   "      - outcomes.22012 == attempts\n"
				   "      - rows_per_key.min == workers\n";
	const char *path = spath("autocommit.yaml");
	write_file(path, yaml, sizeof yaml - 1);
	const char *json = spath("autocommit.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", path, "-q", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *ph = phase(doc, "race");
	cr_expect_eq(jint(ph, "attempts"), 12);
	cr_expect_eq(jint2(ph, "rows_per_key", "min"), 4, "a failed statement took its row back");
	cr_expect_eq(jint(ph, "extra_rows"), 3 * 3, "three rows beyond the first, every round");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);

	/* Hold mode cannot hold a transaction that does not exist: the file and
	 * the command line disagree (exit 2), found before anything runs. */
	code = run_pgrace(ARGS("run", path, "--mode", "hold", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "autocommit"), "%s", proc_said(&p));
	proc_free(&p);
}

/* The DSN's options are the application's connection settings: every
 * connection of a run gets them, the workers' of every mode included. Each
 * worker writes what its session sees; the rows query counts only the rows
 * that saw both settings, so a worker without them leaves its key short.
 * Before: the workers' connections replaced the DSN's options with
 * PGOPTIONS and the search_path, so each row read "0" and NULL, and
 * every racing phase failed. */
static const char dsn_options_yaml[] =
	"name: dsn-options\n"
	"schema: CREATE TABLE seen (k bigint, lock_timeout text, app text)\n"
	"params: [round]\n"
	"rows: >-\n"
	"  SELECT count(*) FROM seen WHERE k = $1\n"
	"  AND lock_timeout = '1234ms' AND app = 'from-dsn'\n"
	"flow:\n"
	"  - sql: >-\n"
	"      INSERT INTO seen SELECT $1, current_setting('lock_timeout'),\n"
	"      current_setting('app.marker', true)\n"
	"phases:\n"
	"  - name: setup\n"
	"    steps:\n"
	"      - sql: SELECT 1 WHERE current_setting('lock_timeout') = '1234ms'\n"
	"        expect: [rows == 1]\n"
	"  - name: hold\n"
	"    race: {workers: 3, rounds: 2, mode: hold}\n"
	"    expect: [rows_per_key.min == workers]\n"
	"  - name: fire\n"
	"    race: {workers: 3, rounds: 2, mode: fire}\n"
	"    expect: [rows_per_key.min == workers]\n"
	"  - name: interleave\n"
	"    race: {workers: 2, mode: interleave}\n"
	"    expect: [rows_per_key.min == workers]\n";

Test(engine, dsn_options_reach_every_worker, .timeout = 120)
{
	engine_env(NULL, NULL);
	const char *file = spath("dsn-options.yaml");
	write_file(file, dsn_options_yaml, strlen(dsn_options_yaml));
	const char *json = spath("dsn-options.json");
	const char *dsn = "options='-c lock_timeout=1234 -c app.marker=from-dsn'";
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--dsn", dsn, "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	const char *names[] = {"hold", "fire", "interleave"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		json_t *ph = phase(doc, names[i]);
		cr_assert_not_null(ph, "phase %s missing", names[i]);
		cr_expect_str_eq(jstr(ph, "verdict"), "pass", "phase %s", names[i]);
	}
	json_decref(doc);
	proc_free(&p);
}

/* Racing phases of one run keep their workers' connections, reset: each
 * worker records its backend pid and what its session still has from an
 * earlier phase (a session setting, "" once reset, and session advisory
 * locks), then leaves
 * both behind. The rows query counts only rows from a clean session, so a
 * phase whose workers inherited state leaves its key short; the last step
 * finds 5 backends for phases of 3, 3 and 5 workers (the third phase takes
 * the 3 kept connections and makes 2). Before: every phase connected anew
 * (11 backends) and the step failed. */
static const char keep_yaml[] =
	"name: keep-connections\n"
	"schema: CREATE TABLE seen (k bigint, pid int, leak text, locks bigint)\n"
	"params: [round]\n"
	"rows: SELECT count(*) FROM seen WHERE k = $1 AND coalesce(leak, '') = '' AND locks = 0\n"
	"flow:\n"
	"  - sql: >-\n"
	"      INSERT INTO seen SELECT $1, pg_backend_pid(), current_setting('app.leak', true),\n"
	"      (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())\n"
	"  - sql: SELECT set_config('app.leak', 'yes', false), pg_advisory_lock(pg_backend_pid())\n"
	"phases:\n"
	"  - name: fire\n"
	"    race: {workers: 3, rounds: 1, mode: fire}\n"
	"    expect: [rows_per_key.min == workers]\n"
	"  - name: hold\n"
	"    race: {workers: 3, rounds: 1, mode: hold}\n"
	"    expect: [rows_per_key.min == workers]\n"
	"  - name: more\n"
	"    race: {workers: 5, rounds: 1, mode: fire}\n"
	"    expect: [rows_per_key.min == workers]\n"
	"  - name: backends\n"
	"    steps:\n"
	"      - sql: SELECT 1 WHERE (SELECT count(DISTINCT pid) FROM seen) = 5\n"
	"        expect: [rows == 1]\n";

Test(engine, phases_keep_connections_reset, .timeout = 120)
{
	engine_env(NULL, NULL);
	const char *file = spath("keep.yaml");
	write_file(file, keep_yaml, strlen(keep_yaml));
	const char *json = spath("keep.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	const char *names[] = {"fire", "hold", "more", "backends"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		json_t *ph = phase(doc, names[i]);
		cr_assert_not_null(ph, "phase %s missing", names[i]);
		cr_expect_str_eq(jstr(ph, "verdict"), "pass", "phase %s", names[i]);
	}
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}
