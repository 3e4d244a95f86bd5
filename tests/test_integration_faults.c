/* test_integration_faults.c: pgrace under faults, against a real PostgreSQL.
 *
 * One test per fault (docs/faults.md has the table): the server stopped
 * mid-run, a worker's backend terminated, a foreign lock past the round's
 * deadline, too few connections, SIGINT and SIGTERM, result files that
 * cannot be written, and scenario SQL the server rejects; then `pgrace
 * check` on hostile files the loader suite does not cover. For every fault
 * the contract is the same: the documented exit code (3 the database, 2 the
 * scenario, 5 the results, 130/143 signals), a message that says what
 * happened, no hang (every wait below is bounded and every run uses
 * --deadline-ms), no false pass, the partial results written (--json,
 * "complete": false, "error" set, the broken phase "broken": true) and no
 * sandbox schema left behind when the server survives.
 *
 * Everything runs against the shared server named by the PG* environment,
 * touching only this file's own runs (their schema, read from the JSON or
 * found as pgrace_<pid>_%) and its own sessions; except the server-stop test,
 * which starts a throwaway cluster of its own (scripts/pg-throwaway.sh) and
 * never stops the shared one.
 *
 * A check marked "BUG (pgrace)" fails because pgrace misbehaves today; its
 * message says what pgrace should do instead. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

/* A frozen copy of the seed scenario: the faults' base (see its header). */
#define FIXTURE PGRACE_TEST_DATA "/faults/membership.yaml"

/* A round's budget for every run here: short, so a fault ends a run fast. */
#define DEADLINE_MS "2000"
/* How long a faulted run may take to exit before the test calls it a hang.
 * Each test's .timeout (120 s) is above the sum of its own bounded waits, so
 * its fini always runs (and stops what the test started). */
#define EXIT_LIMIT_S 30
#define THROWAWAY PGRACE_SOURCE_DIR "/scripts/pg-throwaway.sh"
/* The seed's flow check (the signal tests rewrite it). */
#define FLOW_SELECT "SELECT 1 FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2"

/* ---- what a test leaves running, cleaned up by fini even after a failed assertion ---- */

static pid_t child = -1;      /* a pgrace still running */
static PGconn *foreign;       /* a session of ours, maybe holding a lock */
static char cluster_dir[256]; /* a throwaway cluster to stop and delete */

static void stop_cluster(void)
{
	if (!cluster_dir[0])
		return;
	struct proc p;
	const char *argv[] = {"/bin/bash", THROWAWAY, "stop", cluster_dir, NULL};
	pid_t pid = spawn_cmd(argv, &p);
	int status;
	waitpid(pid, &status, 0);
	cluster_dir[0] = '\0';
}

static void faults_fini(void)
{
	if (foreign) {
		PQfinish(foreign);
		foreign = NULL;
	}
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	stop_cluster();
	scratch_fini();
}

TestSuite(faults, .init = scratch_init, .fini = faults_fini);

/* ---- helpers ---- */

/* The fixture with from replaced by to, written to scratch/name; returns the path. */
static const char *variant(const char *name, const char *from, const char *to)
{
	return variant_of(FIXTURE, name, from, to);
}

/* Starts pgrace with args; fini kills it if the test ends first. */
static pid_t start(const char *const *args, struct proc *p)
{
	child = spawn_pgrace(args, p);
	return child;
}

/* Waits (bounded: a hang fails the test) for the started pgrace; returns its exit code. */
static int finish(struct proc *p, double limit_s)
{
	pid_t pid = child;
	child = -1; /* wait_pgrace kills and reaps it past the limit */
	return wait_pgrace(pid, p, limit_s);
}

/* pid has exited (not reaped: finish() still collects it). */
static bool exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return true;
	return si.si_pid == pid;
}

/* Polls sql (one value, params) on c every 10 ms until it returns a row
 * whose value is not "" or "0", pgrace (pid) exits, or limit_s passes;
 * returns that value (malloc'd) or fails the test saying what. */
static char *poll_value(PGconn *c, pid_t pid, double limit_s, const char *what, const char *sql,
			int nparams, const char *const *params)
{
	double t0 = now_s();
	for (;;) {
		char *v = pg_value(c, sql, nparams, params);
		if (v && v[0] && strcmp(v, "0"))
			return v;
		free(v);
		cr_assert(!exited(pid), "pgrace exited before %s", what);
		cr_assert(now_s() - t0 < limit_s, "%s: not within %.0f s", what, limit_s);
		sleep_ms(10);
	}
}

/* The sandbox schema of pgrace pid, once it has table (NULL: once it exists). */
static char *schema_of(PGconn *c, pid_t pid, const char *table)
{
	char like[64];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	const char *params[] = {like, table ? table : ""};
	return poll_value(c, pid, 20, "the run's schema appeared",
			  "SELECT n.nspname::text FROM pg_namespace n WHERE n.nspname LIKE $1 "
			  "AND ($2 = '' OR EXISTS (SELECT 1 FROM pg_class c "
			  "WHERE c.relnamespace = n.oid AND c.relname = $2))",
			  2, params);
}

/* The JSON of an incomplete run: verdict error, complete false, error set;
 * returns the error. */
static const char *assert_incomplete(json_t *doc, const struct proc *p)
{
	cr_expect_str_eq(jstr(doc, "verdict"), "error", "%s", proc_said(p));
	cr_expect(!jbool(doc, "complete"), "JSON says complete\n%s", proc_said(p));
	json_t *err = jget(doc, "error");
	cr_assert(json_is_string(err) && json_string_length(err) > 0, "JSON \"error\" not set\n%s",
		  proc_said(p));
	return json_string_value(err);
}

/* The phase that broke: broken, not passed. */
static void assert_broken(json_t *doc, const char *name)
{
	json_t *ph = phase(doc, name);
	cr_expect(jbool(ph, "broken"), "phase %s not marked broken", name);
	cr_expect(!jbool(ph, "passed"), "phase %s passed although it broke (a false pass)", name);
}

/* A broken phase still reports the rounds it completed: their attempts and
 * outcomes, not zeros beside a non-zero round count. */
static void assert_partial_counts(json_t *doc, const char *name)
{
	json_t *ph = phase(doc, name);
	long long rounds = jint(ph, "rounds"), workers = jint(ph, "workers");
	long long attempts = jint(ph, "attempts"), sum = 0;
	json_t *outcomes = jget(ph, "outcomes"), *v;
	const char *k;
	json_object_foreach(outcomes, k, v)
	{
		sum += json_integer_value(v);
	}
	char *shown = json_dumps(outcomes, JSON_COMPACT);
	cr_expect_geq(attempts, rounds * workers,
		      "BUG (pgrace): phase %s broke after %lld complete rounds of %lld workers, but "
		      "its JSON reports %lld attempts (outcomes %s): the completed rounds' attempts, "
		      "outcomes and latencies must be kept in the partial results "
		      "(run_phase() returns before copying the race totals when a round breaks)",
		      name, rounds, workers, attempts, shown ? shown : "?");
	free(shown);
	cr_expect_eq(attempts, sum, "phase %s: attempts %lld, but outcomes sum to %lld", name,
		     attempts, sum);
}

/* ---- 1. the server is stopped mid-run ---- */

/* value of NAME in `export ... NAME=value ...` lines (unquoted values only). */
static void export_value(const char *text, const char *name, char *buf, size_t len)
{
	char key[64];
	snprintf(key, sizeof key, " %s=", name);
	const char *v = strstr(text, key);
	cr_assert_not_null(v, "pg-throwaway.sh start printed no %s:\n%s", name, text);
	v += strlen(key);
	size_t n = strcspn(v, " \n");
	cr_assert(n > 0 && n < len, "%s: bad value", name);
	memcpy(buf, v, n);
	buf[n] = '\0';
	cr_assert(!strpbrk(buf, "'\"\\$"), "%s is quoted (%s): pick a plain TMPDIR", name, buf);
}

/* Starts a throwaway cluster of the test's own (fini stops it); its DSN into dsn. */
static void own_cluster(char *bindir, size_t bindirlen, char *dsn, size_t dsnlen)
{
	/* scripts/pg-throwaway.sh start prints export lines. */
	struct proc s;
	const char *argv[] = {"/bin/bash", THROWAWAY, "start", NULL};
	int rc = wait_pgrace(spawn_cmd(argv, &s), &s, 30);
	cr_assert_eq(rc, 0, "pg-throwaway.sh start: %s", proc_said(&s));
	export_value(s.out, "PGRACE_PG_DIR", cluster_dir, sizeof cluster_dir);
	export_value(s.out, "PGRACE_PG_BINDIR", bindir, bindirlen);
	proc_free(&s);
	snprintf(dsn, dsnlen, "host=%s port=5432 user=postgres dbname=postgres", cluster_dir);
}

/* Starts pgrace on dsn for a long run and waits until phase "before" races
 * (its 16 workers, the coordinator and the admin connection are connected). */
static pid_t start_long_run(const char *dsn, const char *json, struct proc *p)
{
	pid_t pid = start(ARGS("run", FIXTURE, "--dsn", dsn, "--rounds", "100000", "--deadline-ms",
			       DEADLINE_MS, "-q", "--json", json),
			  p);
	foreign = pg_open_dsn(dsn);
	char *n = poll_value(foreign, pid, 20, "the before phase started",
			     "SELECT 1 WHERE (SELECT count(*) FROM pg_stat_activity "
			     "WHERE application_name = 'pgrace') >= 18",
			     0, NULL);
	free(n);
	PQfinish(foreign);
	foreign = NULL;
	sleep_ms(200);
	return pid;
}

/* pg_ctl ACTION -m MODE -w on the test's own cluster, as the cluster's owner
 * (pg_ctl refuses root). */
static void own_pg_ctl(const char *bindir, const char *action, const char *mode)
{
	char pg_ctl[300], data[300], uid[32], gid[32];
	snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", bindir);
	snprintf(data, sizeof data, "%s/data", cluster_dir);
	struct stat st;
	cr_assert_eq(stat(cluster_dir, &st), 0);
	snprintf(uid, sizeof uid, "--reuid=%u", (unsigned)st.st_uid);
	snprintf(gid, sizeof gid, "--regid=%u", (unsigned)st.st_gid);
	char log[320];
	snprintf(log, sizeof log, "%s/restart.log", cluster_dir);
	const char *as_owner[] = {"/usr/bin/setpriv", uid, gid, "--clear-groups", "--", pg_ctl,
				  action, "-m", mode, "-w", "-l", log, "-D", data, NULL};
	const char *as_me[] = {pg_ctl, action, "-m", mode, "-w", "-l", log, "-D", data, NULL};
	struct proc k;
	int rc = wait_pgrace(spawn_cmd(geteuid() == 0 && st.st_uid != 0 ? as_owner : as_me, &k), &k, 30);
	cr_assert_eq(rc, 0, "pg_ctl %s -m %s: %s", action, mode, proc_said(&k));
	proc_free(&k);
}

Test(faults, server_stopped_mid_run, .timeout = 120)
{
	char bindir[256], dsn[512];
	own_cluster(bindir, sizeof bindir, dsn, sizeof dsn);
	const char *json = spath("stopped.json");
	struct proc p;
	start_long_run(dsn, json, &p);
	double t_stop = now_s();
	own_pg_ctl(bindir, "stop", "immediate");

	int code = finish(&p, EXIT_LIMIT_S);
	double took = now_s() - t_stop;
	cr_expect_eq(code, 3, "expected exit 3 (the database could not be used)\n%s", proc_said(&p));
	/* Noticing is quick; then the drop is retried for 10 s (a restarting
	 * server comes back within that). */
	cr_expect_lt(took, 25, "pgrace took %.1f s to notice the server was gone and give up the drop",
		     took);

	json_t *doc = load_json(json);
	const char *err = assert_incomplete(doc, &p);
	cr_expect(contains(err, "phase before"), "error does not name the phase: %s", err);
	cr_expect(contains(err, "connection") || contains(err, "server"),
		  "error does not say the server or connection went away: %s", err);
	cr_expect(contains(p.err, err), "the error is not on stderr\n%s", proc_said(&p));
	assert_broken(doc, "before");
	cr_expect(jbool(phase(doc, "baseline"), "passed"), "baseline ran before the stop");
	assert_partial_counts(doc, "before");
	/* The server died, so the schema stays: pgrace must say so, naming it. */
	const char *schema = jstr(doc, "schema");
	cr_expect(contains(p.err, "could not drop schema") && contains(p.err, schema),
		  "stderr does not report the schema %s left behind on the dead server\n%s", schema,
		  proc_said(&p));
	json_decref(doc);
	proc_free(&p);
	stop_cluster();
}

/* A server with room for the largest phase only (max_connections 12): the
 * racing phase's 6 workers keep their connections for later racing phases,
 * but the interleave phase after it makes 4 connections of its own and a
 * coordinator's, so the kept ones are closed first. Before: the interleave
 * phase failed with "too many clients" (exit 3) on a server the run's
 * up-front check had accepted. */
static const char tight_yaml[] = "name: tight\n"
				 "schema: CREATE TABLE t (k bigint)\n"
				 "params: [round]\n"
				 "rows: SELECT count(*) FROM t WHERE k = $1\n"
				 "flow:\n"
				 "  - sql: INSERT INTO t VALUES ($1)\n"
				 "phases:\n"
				 "  - name: fire\n"
				 "    race: {workers: 6, rounds: 1, mode: fire}\n"
				 "    expect: [rows_per_key.min == workers]\n"
				 "  - name: orders\n"
				 "    race: {workers: 4, mode: interleave}\n"
				 "    expect: [rows_per_key.min == workers]\n"
				 "  - name: fire-again\n"
				 "    race: {workers: 6, rounds: 1, mode: fire}\n"
				 "    expect: [rows_per_key.min == workers]\n";

Test(faults, kept_connections_make_room_for_interleave, .timeout = 120)
{
	char bindir[256], dsn[512];
	setenv("PG_MAX_CONNECTIONS", "12", 1);
	own_cluster(bindir, sizeof bindir, dsn, sizeof dsn);
	unsetenv("PG_MAX_CONNECTIONS");
	const char *file = spath("tight.yaml");
	write_file(file, tight_yaml, strlen(tight_yaml));
	const char *json = spath("tight.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--dsn", dsn, "-q", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	const char *names[] = {"fire", "orders", "fire-again"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		json_t *ph = phase(doc, names[i]);
		cr_assert_not_null(ph, "phase %s missing\n%s", names[i], proc_said(&p));
		cr_expect_str_eq(jstr(ph, "verdict"), "pass", "phase %s\n%s", names[i], proc_said(&p));
	}
	json_decref(doc);
	proc_free(&p);
	stop_cluster();
}

/* The server restarts mid-run (pg_ctl restart -m fast): the run breaks
 * (exit 3), and the drop, retried with backoff while the server shuts down
 * and starts again, leaves no schema. Before, the drop was tried once while
 * the server was still shutting down, and the schema stayed. */
Test(faults, server_restarted_mid_run, .timeout = 120)
{
	char bindir[256], dsn[512];
	own_cluster(bindir, sizeof bindir, dsn, sizeof dsn);
	const char *json = spath("restarted.json");
	struct proc p;
	start_long_run(dsn, json, &p);
	own_pg_ctl(bindir, "restart", "fast");
	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 3, "expected exit 3 (the run broke)\n%s", proc_said(&p));
	json_t *doc = load_json(json);
	assert_incomplete(doc, &p);
	const char *schema = jstr(doc, "schema");
	cr_expect(!contains(p.err, "could not drop schema"), "%s", proc_said(&p));
	PGconn *c = pg_open_dsn(dsn);
	const char *params[] = {schema};
	char *left = pg_value(c, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", 1, params);
	cr_expect_str_eq(left, "0", "schema %s left on the restarted server\n%s", schema, proc_said(&p));
	free(left);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
	stop_cluster();
}

/* ---- 2. one worker's backend is terminated mid-round ---- */

Test(faults, worker_backend_terminated, .timeout = 120)
{
	const char *json = spath("terminated.json");
	struct proc p;
	pid_t pid = start(ARGS("run", FIXTURE, "--rounds", "100000", "--deadline-ms", DEADLINE_MS, "-q",
			       "--json", json),
			  &p);
	foreign = pg_open();
	char *schema = schema_of(foreign, pid, "user_tenant_membership");

	/* Workers of this run that inserted and have not committed yet: they
	 * hold RowExclusiveLock on the run's own table. Once several do (a
	 * racing phase), terminate one, in the same statement that finds it. */
	static const char mid_round[] =
		"a.application_name = 'pgrace' AND a.state <> 'idle' AND a.pid <> pg_backend_pid() "
		"AND EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
		"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = a.pid AND l.granted "
		"AND l.mode = 'RowExclusiveLock' AND n.nspname = $1 "
		"AND c.relname = 'user_tenant_membership')";
	char count_sql[1024], kill_sql[1024];
	snprintf(count_sql, sizeof count_sql,
		 "SELECT 1 WHERE (SELECT count(*) FROM pg_stat_activity a WHERE %s) >= 2", mid_round);
	snprintf(kill_sql, sizeof kill_sql,
		 "WITH victim AS (SELECT a.pid FROM pg_stat_activity a WHERE %s LIMIT 1) "
		 "SELECT pid FROM victim WHERE pg_terminate_backend(pid)",
		 mid_round);
	const char *params[] = {schema};
	char *victim = NULL;
	double t0 = now_s();
	free(poll_value(foreign, pid, 20, "several workers were mid-round", count_sql, 1, params));
	sleep_ms(300); /* a few rounds complete first: the partial results must keep them */
	while (!victim) {
		free(poll_value(foreign, pid, 20, "several workers were mid-round", count_sql, 1,
				params));
		victim = pg_value(foreign, kill_sql, 1, params);
		cr_assert(now_s() - t0 < 20, "found no worker mid-round to terminate");
	}
	PQfinish(foreign);
	foreign = NULL;

	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 3, "backend %s terminated: expected exit 3\n%s", victim, proc_said(&p));
	json_t *doc = load_json(json);
	const char *err = assert_incomplete(doc, &p);
	char who[64];
	snprintf(who, sizeof who, "(backend pid %s)", victim);
	cr_expect(contains(err, "worker ") && contains(err, who),
		  "error does not name the worker whose backend %s was terminated: %s", victim, err);
	cr_expect(contains(err, "terminat") || contains(err, "connection"),
		  "error does not say the connection was lost: %s", err);
	cr_expect(contains(p.err, who), "stderr does not name the worker\n%s", proc_said(&p));
	cr_expect(contains(err, "round "), "error does not name the round: %s", err);
	/* The broken phase is the one that raced when the backend died. */
	json_t *phases = jget(doc, "phases");
	json_t *last = json_array_get(phases, json_array_size(phases) - 1);
	cr_assert_not_null(last, "no phase in the JSON");
	assert_broken(doc, jstr(last, "name"));
	assert_partial_counts(doc, jstr(last, "name"));
	assert_schema_dropped(doc);
	free(victim);
	free(schema);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 3. a foreign session holds a lock past the round's deadline ---- */

Test(faults, foreign_lock_names_its_pid, .timeout = 120)
{
	/* The seed, with a second of sleep at the end of its seed data: the
	 * lock below is taken while the table exists and no round runs yet. */
	const char *yaml = variant("slow-seed.yaml", "(2, 'globex');\n",
					"(2, 'globex');\n  SELECT pg_sleep(1);\n");
	const char *json = spath("locked.json");
	struct proc p;
	pid_t pid = start(ARGS("run", yaml, "--deadline-ms", DEADLINE_MS, "-q", "--json", json), &p);
	foreign = pg_open();
	char *schema = schema_of(foreign, pid, "user_tenant_membership");
	char sql[256];
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s.user_tenant_membership IN ACCESS EXCLUSIVE MODE",
		 schema);
	exec_ok(foreign, sql);
	int me = PQbackendPID(foreign);

	/* pgrace gives up on the round, then its DROP SCHEMA waits for us:
	 * release the lock then (or after 20 s at the latest). Watched from
	 * another session: inside our transaction pg_stat_activity is a
	 * snapshot that never changes. */
	char mine[16];
	snprintf(mine, sizeof mine, "%d", me);
	const char *params[] = {mine};
	PGconn *watch = pg_open();
	double t0 = now_s();
	for (;;) {
		char *v = pg_value(watch,
				   "SELECT count(*) FROM pg_stat_activity WHERE $1::int = "
				   "ANY(pg_blocking_pids(pid)) AND query LIKE 'DROP SCHEMA%'",
				   1, params);
		bool dropping = v && strcmp(v, "0");
		free(v);
		if (dropping || exited(pid) || now_s() - t0 > 20)
			break;
		sleep_ms(20);
	}
	double held = now_s() - t0;
	PQfinish(watch);
	exec_ok(foreign, "ROLLBACK");
	PQfinish(foreign);
	foreign = NULL;

	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 3, "expected exit 3 (a round timed out)\n%s", proc_said(&p));
	cr_expect_lt(held, 12, "the lock was held %.1f s before pgrace gave up (deadline %s ms)",
		     held, DEADLINE_MS);
	json_t *doc = load_json(json);
	const char *err = assert_incomplete(doc, &p);
	char want[64];
	snprintf(want, sizeof want, "blocked by pid %d outside pgrace", me);
	cr_expect(contains(err, want), "error does not say \"%s\": %s", want, err);
	cr_expect(contains(p.err, want), "stderr does not say \"%s\"\n%s", want, proc_said(&p));
	cr_expect(contains(err, "deadline of " DEADLINE_MS " ms"), "error does not name the deadline: %s",
		  err);
	assert_broken(doc, "baseline");
	assert_schema_dropped(doc);
	free(schema);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 4. fewer free connections than workers ---- */

Test(faults, too_few_connections, .timeout = 120)
{
	PGconn *c = pg_open();
	char *maxc = pg_value(c, "SELECT current_setting('max_connections')", 0, NULL);
	PQfinish(c);
	long max_connections = strtol(maxc, NULL, 10);
	free(maxc);
	cr_assert_lt(max_connections, 4000, "the test server allows 4000 connections: nothing to test");

	const char *json = spath("conns.json");
	struct proc p;
	start(ARGS("run", FIXTURE, "--workers", "4000", "--deadline-ms", DEADLINE_MS, "-q", "--json", json),
	      &p);
	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 3, "expected exit 3 (the database cannot serve 4000 workers)\n%s", proc_said(&p));
	json_t *doc = load_json(json);
	const char *err = assert_incomplete(doc, &p);
	cr_expect(contains(err, "4001 connections"), "error does not name the connections needed: %s",
		  err);
	const char *has = strstr(err, "has ");
	long free_slots = has ? strtol(has + 4, NULL, 10) : -1;
	cr_expect(has && contains(has, " free"), "error does not name the free connections: %s", err);
	cr_expect(free_slots >= 0 && free_slots < max_connections,
		  "free connections %ld, max_connections %ld: %s", free_slots, max_connections, err);
	cr_expect(contains(err, "max_connections"), "error does not say what to raise: %s", err);
	cr_expect(contains(p.err, "4001 connections"), "stderr does not say it\n%s", proc_said(&p));
	/* Refused before any round: no phase raced. */
	json_t *phases = jget(doc, "phases"), *ph;
	size_t i;
	json_array_foreach(phases, i, ph)
	{
		cr_expect_eq(jint(ph, "rounds"), 0, "phase %s ran %lld rounds", jstr(ph, "name"),
			     jint(ph, "rounds"));
	}
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 5. SIGINT and SIGTERM mid-statement ---- */

/* Runs the seed with a first flow step that sleeps 20 s (a statement that
 * runs long, not a round waiting), sends sig while the statement runs, and
 * checks: exit code, prompt exit, the statement cancelled on the server,
 * results written, schema dropped. */
static void signal_mid_statement(int sig, const char *signame, int want_code)
{
	char marker[64], sleepy[256];
	snprintf(marker, sizeof marker, "ft_sleep_%d_%d", (int)getpid(), sig);
	snprintf(sleepy, sizeof sleepy,
		 "flow:\n  - sql: SELECT pg_sleep(20) AS %s, $1::bigint, $2::bigint\n  - sql: " FLOW_SELECT,
		 marker);
	const char *yaml = variant("sleepy.yaml", "flow:\n  - sql: " FLOW_SELECT, sleepy);
	const char *json = spath("signal.json");
	struct proc p;
	/* A deadline far beyond the test's limits: only the signal can end it fast. */
	pid_t pid = start(ARGS("run", yaml, "--deadline-ms", "60000", "-q", "--json", json), &p);

	char like[96];
	snprintf(like, sizeof like, "%%%s%%", marker);
	const char *params[] = {like};
	static const char running[] =
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgrace' "
		"AND state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()";
	foreign = pg_open();
	free(poll_value(foreign, pid, 20, "the flow's statement was running", running, 1, params));
	sleep_ms(300);

	double t_sig = now_s();
	cr_assert_eq(kill(pid, sig), 0);
	int code = finish(&p, EXIT_LIMIT_S);
	double took = now_s() - t_sig;
	cr_expect_eq(code, want_code, "%s: expected exit %d\n%s", signame, want_code, proc_said(&p));
	cr_expect_lt(took, 8, "%s: pgrace took %.1f s to stop (the statement sleeps 20 s)", signame,
		     took);
	sleep_ms(300);
	char *left = pg_value(foreign, running, 1, params);
	cr_expect_str_eq(left, "0", "%s: the flow's statement still runs on the server after pgrace "
				    "exited: it was not cancelled", signame);
	free(left);
	PQfinish(foreign);
	foreign = NULL;
	cr_expect(contains(p.err, signame), "stderr does not say %s\n%s", signame, proc_said(&p));

	json_t *doc = load_json(json);
	const char *err = assert_incomplete(doc, &p);
	cr_expect(contains(err, signame), "error does not name %s: %s", signame, err);
	assert_broken(doc, "baseline");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

Test(faults, sigint_mid_statement, .timeout = 120)
{
	signal_mid_statement(SIGINT, "SIGINT", 130);
}

Test(faults, sigterm_mid_statement, .timeout = 120)
{
	signal_mid_statement(SIGTERM, "SIGTERM", 143);
}

/* ---- 6. result files that cannot be written ---- */

/* The verdict line of the seed's summary on stdout. */
static void assert_verdict_printed(const struct proc *p, const char *what)
{
	cr_expect(contains(p->out, "membership-unique") && contains(p->out, ": PASS in "),
		  "%s: the verdict is not on stdout\n%s", what, proc_said(p));
	cr_expect(contains(p->out, "after"), "%s: the phase table is not on stdout\n%s", what, proc_said(p));
}

Test(faults, results_dir_missing, .timeout = 120)
{
	const char *json = spath("no-such-dir/out.json");
	struct proc p;
	start(ARGS("run", FIXTURE, "--workers", "2", "--rounds", "2", "--deadline-ms", DEADLINE_MS,
		   "--json", json),
	      &p);
	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 5, "expected exit 5 (verdict reached, results not written)\n%s", proc_said(&p));
	assert_verdict_printed(&p, json);
	cr_expect(contains(p.err, json) && contains(p.err, strerror(ENOENT)),
		  "stderr does not name %s and why\n%s", json, proc_said(&p));
	proc_free(&p);
}

Test(faults, results_disk_full, .timeout = 120)
{
	/* /dev/full: opening works, every write fails with ENOSPC. JSON there,
	 * JUnit to a good file: the good one is still written, whole. */
	const char *junit = spath("ok.xml");
	struct proc p;
	start(ARGS("run", FIXTURE, "--workers", "2", "--rounds", "2", "--deadline-ms", DEADLINE_MS,
		   "--json", "/dev/full", "--junit", junit),
	      &p);
	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 5, "--json /dev/full: expected exit 5\n%s", proc_said(&p));
	assert_verdict_printed(&p, "--json /dev/full");
	cr_expect(contains(p.err, "/dev/full") && contains(p.err, strerror(ENOSPC)),
		  "stderr does not say /dev/full is full\n%s", proc_said(&p));
	char *xml = read_file(junit, NULL);
	cr_expect(xml && contains(xml, "</testsuites>"), "the JUnit file was not written whole");
	free(xml);
	proc_free(&p);

	/* And the other way round. */
	const char *json = spath("ok.json");
	start(ARGS("run", FIXTURE, "--workers", "2", "--rounds", "2", "--deadline-ms", DEADLINE_MS,
		   "--json", json, "--junit", "/dev/full"),
	      &p);
	code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 5, "--junit /dev/full: expected exit 5\n%s", proc_said(&p));
	assert_verdict_printed(&p, "--junit /dev/full");
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 7. scenario SQL the server rejects ---- */

/* Runs yaml; expects exit 2 naming yaml:line, the phase and step, and the
 * server's message; the run incomplete, no phase passed by it, schema dropped. */
static void assert_bad_sql(const char *yaml, int line, const char *phase_name, const char *step,
			   const char *server_says)
{
	const char *json = spath("bad-sql.json");
	struct proc p;
	start(ARGS("run", yaml, "--workers", "2", "--rounds", "2", "--deadline-ms", DEADLINE_MS, "-q",
		   "--json", json),
	      &p);
	int code = finish(&p, EXIT_LIMIT_S);
	cr_expect_eq(code, 2,
		     "BUG (pgrace) if 1: SQL the server rejects as wrong (%s) is a bad scenario, "
		     "exit 2, never an expectation verdict; got\n%s",
		     server_says, proc_said(&p));
	cr_expect(names_file_line(p.err, yaml), "stderr does not name %s:<line>:\n%s", yaml, proc_said(&p));
	cr_expect(names_exact_line(p.err, yaml, line),
		  "BUG (pgrace) if another line is named: stderr must name %s:%d:, the line of the "
		  "statement the server rejected\n%s",
		  yaml, line, proc_said(&p));
	char ph[160];
	snprintf(ph, sizeof ph, "phase %s", phase_name);
	cr_expect(contains(p.err, ph), "stderr does not name the phase (\"%s\")\n%s", ph, proc_said(&p));
	cr_expect(contains(p.err, step), "stderr does not name the step (\"%s\")\n%s", step, proc_said(&p));
	cr_expect(contains(p.err, server_says),
		  "BUG (pgrace) if missing: stderr must carry the server's message (\"%s\")\n%s",
		  server_says, proc_said(&p));

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "bad_scenario", "%s", proc_said(&p));
	cr_expect(!jbool(doc, "complete"), "JSON says complete");
	cr_expect(contains(jstr(doc, "error"), server_says), "JSON error lacks \"%s\": %s",
		  server_says, jstr(doc, "error"));
	cr_expect(!jbool(phase(doc, phase_name), "passed"),
		  "BUG (pgrace): phase %s is \"passed\": true in the JSON although the server "
		  "rejected its SQL (a false pass)",
		  phase_name);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* 1-based line of needle in file path. */
static int line_in(const char *path, const char *needle)
{
	char *text = read_file(path, NULL);
	cr_assert_not_null(text, "cannot read %s", path);
	int line = line_of(text, needle);
	free(text);
	cr_assert_gt(line, 0, "\"%s\" not in %s", needle, path);
	return line;
}

Test(faults, step_sql_syntax_error, .timeout = 120)
{
	const char *yaml = variant("step-syntax.yaml", "    SELECT user_id, tenant_id, COUNT(*)",
					"    SELEC user_id, tenant_id, COUNT(*)");
	assert_bad_sql(yaml, line_in(yaml, "SELEC "), "precheck", "run precheck",
		       "syntax error at or near \"SELEC\"");
}

Test(faults, flow_missing_table, .timeout = 120)
{
	const char *yaml = variant("flow-missing.yaml", "INSERT INTO user_tenant_membership (",
					"INSERT INTO user_tenant_memberships (");
	assert_bad_sql(yaml, line_in(yaml, "user_tenant_memberships ("), "baseline", "flow",
		       "relation \"user_tenant_memberships\" does not exist");
}

Test(faults, flow_syntax_error_names_its_step, .timeout = 120)
{
	const char *yaml = variant("flow-syntax.yaml", "'member')", "'member'");
	assert_bad_sql(yaml, line_in(yaml, "'member'\n"), "baseline", "flow",
		       "syntax error at end of input");
}

/* ---- pgrace check on hostile files the loader suite does not cover ---- */

/* A FIFO (a named pipe nobody writes to) is not a scenario: refused at
 * once, not waited on. */
Test(faults, check_fifo_does_not_hang, .timeout = 30)
{
	const char *fifo = spath("scenario.yaml");
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
	struct proc p;
	pid_t pid = start(ARGS("check", fifo), &p);
	double t0 = now_s();
	while (!exited(pid) && now_s() - t0 < 3)
		sleep_ms(10);
	cr_expect(exited(pid),
		  "BUG (pgrace): `pgrace check FIFO` still waits after 3 s: scenario_load() opens "
		  "the file with fopen() before checking it is a regular file, and opening a FIFO "
		  "blocks until a writer comes; open with O_NONBLOCK, fstat, refuse (exit 2)");
	if (!exited(pid)) {
		kill(pid, SIGKILL);
		finish(&p, 5);
		proc_free(&p);
		return;
	}
	int code = finish(&p, 5);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, fifo) && contains(p.err, "not a regular file"), "%s", proc_said(&p));
	proc_free(&p);
}

/* YAML nested 100000 deep (libfyaml's limit is 64): refused with file:line, no crash. */
Test(faults, check_deep_yaml_nesting, .timeout = 30)
{
	enum { DEPTH = 100000 };
	char *deep = malloc(2 * DEPTH + 1);
	cr_assert_not_null(deep);
	memset(deep, '[', DEPTH);
	memset(deep + DEPTH, ']', DEPTH);
	deep[2 * DEPTH] = '\0';
	size_t len = strlen("  workers: 16\n  junk: ") + 2 * DEPTH + 2;
	char *to = malloc(len);
	cr_assert_not_null(to);
	snprintf(to, len, "  workers: 16\n  junk: %s\n", deep);
	const char *yaml = variant("deep.yaml", "  workers: 16\n", to);
	free(to);
	free(deep);
	struct proc p;
	start(ARGS("check", yaml), &p);
	int code = finish(&p, 10);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, yaml, line_in(yaml, "  junk: ")), "%s", proc_said(&p));
	proc_free(&p);
}

/* Windows line endings and a UTF-8 byte order mark: accepted, and an error
 * in such a file still names its true line. */
Test(faults, check_crlf_and_bom, .timeout = 30)
{
	char *seed = read_file(FIXTURE, NULL);
	cr_assert_not_null(seed);
	char *crlf = replace_all(seed, "\n", "\r\n");
	size_t n = strlen(crlf);
	char *bom = malloc(n + 4);
	cr_assert_not_null(bom);
	memcpy(bom, "\xef\xbb\xbf", 3);
	memcpy(bom + 3, crlf, n + 1);
	char *bad = replace_all(bom, "  workers: 16\r\n", "  workers: zero\r\n");
	const char *good_path = spath("crlf-bom.yaml"), *bad_path = spath("crlf-bom-bad.yaml");
	write_file(good_path, bom, strlen(bom));
	write_file(bad_path, bad, strlen(bad));
	int line = line_of(seed, "  workers: 16\n");
	free(seed);
	free(crlf);
	free(bom);
	free(bad);

	struct proc p;
	start(ARGS("check", good_path), &p);
	int code = finish(&p, 10);
	cr_expect_eq(code, 0, "CRLF + BOM file refused\n%s", proc_said(&p));
	proc_free(&p);
	start(ARGS("check", bad_path), &p);
	code = finish(&p, 10);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, bad_path, line), "the error does not name line %d\n%s", line,
		  proc_said(&p));
	proc_free(&p);
}

/* Names are printed raw in the terminal summary, `pgrace list` and JUnit
 * names: control characters (terminal escapes, newlines) in a scenario or
 * phase name must be refused by the loader. */
Test(faults, check_control_characters_in_names, .timeout = 30)
{
	const struct {
		const char *what, *from, *to;
	} cases[] = {
		{"ESC in the scenario name", "name: membership-unique\n",
		 "name: \"membership\\e[2J\\e[31m-unique\"\n"},
		{"newline in a phase name", "  - name: before\n", "  - name: \"before\\nPASS\"\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *yaml = variant(i ? "ctl1.yaml" : "ctl0.yaml", cases[i].from, cases[i].to);
		struct proc p;
		start(ARGS("check", yaml), &p);
		int code = finish(&p, 10);
		cr_expect_eq(code, 2,
			     "BUG (pgrace): %s accepted (exit %d): `pgrace check` must refuse control "
			     "characters in names with file:line (they reach the terminal raw: "
			     "`pgrace list` on a folder of untrusted scenarios can rewrite the "
			     "screen)\n%s",
			     cases[i].what, code, proc_said(&p));
		cr_expect(code != 2 || names_file_line(p.err, yaml), "%s", proc_said(&p));
		proc_free(&p);
	}
}

/* A scenario statement's deadline is race's timeout_ms (60 s unless the
 * file says): a step that outlives it is cancelled and the run stops with
 * exit 3, naming the phase; a phase may give its steps more. */
Test(faults, step_past_its_timeout_ms, .timeout = 120)
{
	static const char text[] = "name: timeout\n"
				   "schema: CREATE TABLE t (k int)\n"
				   "params: [round]\n"
				   "rows: SELECT count(*) FROM t WHERE k = $1\n"
				   "race: {timeout_ms: 300}\n"
				   "flow:\n"
				   "  - sql: INSERT INTO t VALUES ($1)\n"
				   "phases:\n"
				   "  - name: roomy\n"
				   "    race: {timeout_ms: 20000, workers: 1, rounds: 1}\n"
				   "    steps:\n"
				   "      - sql: SELECT pg_sleep(0.5)\n"
				   "    expect: [attempts == 1]\n"
				   "  - name: slow\n"
				   "    steps:\n"
				   "      - sql: SELECT pg_sleep(30)\n";
	const char *file = spath("timeout.yaml");
	write_file(file, text, sizeof text - 1);
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("timeout.json")), &p);
	cr_expect_eq(code, 3, "a step past timeout_ms: exit 3\n%s", proc_said(&p));
	json_t *doc = load_json(spath("timeout.json"));
	const char *err = jstr(doc, "error");
	cr_expect(contains(err, "slow") && (contains(err, "deadline") || contains(err, "timed out") ||
					    contains(err, "cancel")),
		  "the error does not name the phase and its deadline: %s", err);
	cr_expect(jbool(phase(doc, "roomy"), "passed"), "the roomy phase's 0.5 s step failed");
	json_decref(doc);
	proc_free(&p);
}
