/* test_integration_safety.c: pgrace never hangs, never escapes its sandbox
 * and never leaves it behind, against a real PostgreSQL (issue 9, items 8,
 * 10, 11, 12, 13, 14, 17).
 *
 * Some tests call src/db.c directly (linked from pgrace_core) to reach paths
 * the loader closes before a run; the rest run the real binary. Each test
 * says how it failed before the fix. Every wait is bounded. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"
#include "harness.h"
#include "stats.h"

#define FIXTURE PGRACE_TEST_DATA "/faults/membership.yaml"
#define BAD PGRACE_TEST_DATA "/bad/"

TestSuite(safety, .init = scratch_init, .fini = scratch_fini);

/* A db.c connection to the PG* server, or fails the test. */
static PGconn *db_open(void)
{
	char err[512];
	PGconn *c = db_connect(NULL, NULL, err, sizeof err);
	cr_assert_not_null(c, "db_connect: %s", err);
	return c;
}

/* ---- 8. COPY never spins ---- */

/* Runs copy on c (deadline 20 s): it must fail at once as 0A000 with
 * message, and leave c usable (check returns want). */
static void copy_refused(PGconn *c, const char *copy, const char *message, const char *check,
			 const char *want)
{
	struct db_result r;
	double t0 = now_s();
	db_query(c, copy, 0, NULL, clock_us() + 20u * 1000000u, &r);
	double took = now_s() - t0;
	cr_expect_eq(r.status, DB_ERROR, "%s: status %d (%s)", copy, r.status, r.message);
	cr_expect_str_eq(r.sqlstate, "0A000");
	cr_expect(contains(r.message, message), "message: %s", r.message);
	cr_expect_lt(took, 15, "%s took %.1f s to fail", copy, took);
	db_query(c, check, 0, NULL, 0, &r);
	cr_expect_eq(r.status, DB_OK, "the connection is not usable after the COPY: %s", r.message);
	cr_expect_str_eq(r.first_value, want);
}

/* Before: PQgetResult returned PGRES_COPY_IN again and again, db_query
 * looped on it at 100 % CPU past every deadline (a COPY in a seed never
 * ended); the same on PGRES_COPY_OUT. Now COPY FROM STDIN is ended with an
 * error at once, COPY TO STDOUT's output drained, and the connection stays
 * usable. */
Test(safety, copy_fails_fast, .timeout = 60)
{
	PGconn *c = db_open();
	struct db_result r;
	db_query(c, "CREATE TEMP TABLE copy_target (x int)", 0, NULL, 0, &r);
	cr_assert_eq(r.status, DB_OK, "%s", r.message);
	copy_refused(c, "COPY copy_target FROM STDIN", "COPY FROM STDIN is not supported",
		     "SELECT count(*) FROM copy_target", "0");
	copy_refused(c, "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g) TO STDOUT",
		     "COPY TO STDOUT is not supported", "SELECT 42", "42");
	PQfinish(c);
}

/* A COPY that streams past its deadline is cancelled like any query. */
Test(safety, copy_to_stdout_obeys_its_deadline, .timeout = 60)
{
	PGconn *c = db_open();
	struct db_result r;
	double t0 = now_s();
	db_query(c, "COPY (SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) g) TO STDOUT",
		 0, NULL, clock_us() + 500000u, &r);
	double took = now_s() - t0;
	cr_expect_eq(r.status, DB_TIMEOUT, "status %d (%s)", r.status, r.message);
	cr_expect_lt(took, 5, "took %.1f s past a 0.5 s deadline", took);
	PQfinish(c);
}

/* The loader refuses COPY wherever it is (flow, step, schema, seed), so a
 * run never starts on it: exit 2 naming file:line. Before: `pgrace check`
 * said ok and `pgrace run` spun until killed. */
Test(safety, run_refuses_copy, .timeout = 60)
{
	struct proc p;
	int code = run_pgrace(ARGS("run", BAD "copy-in-flow.yaml", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, BAD "copy-in-flow.yaml", 20), "%s", proc_said(&p));
	cr_expect(contains(p.err, "COPY from STDIN or to STDOUT is not supported"), "%s",
		  proc_said(&p));
	proc_free(&p);
}

/* ---- 12. a flow step is one statement, on the extended protocol ---- */

/* Before: a flow step without parameters went through the simple protocol,
 * which runs every statement of the string. */
Test(safety, statement_refuses_several, .timeout = 60)
{
	PGconn *c = db_open();
	struct db_result r;
	db_statement(c, "SELECT 1; SELECT 2", 0, NULL, 0, &r);
	cr_expect_eq(r.status, DB_ERROR, "two statements ran: status %d", r.status);
	cr_expect_str_eq(r.sqlstate, "42601", "%s", r.message);
	db_statement(c, "SELECT 7", 0, NULL, 0, &r);
	cr_expect_eq(r.status, DB_OK, "%s", r.message);
	cr_expect_str_eq(r.first_value, "7");
	PQfinish(c);
}

/* Before: `pgrace run` of this file created public.escaped, outside the
 * sandbox. Now the loader refuses it (exit 2, file:line) and nothing is
 * created. */
Test(safety, flow_of_two_statements_is_refused, .timeout = 60)
{
	struct proc p;
	const char *yaml = BAD "flow-two-statements.yaml";
	int code = run_pgrace(ARGS("run", yaml, "-q", "--rounds", "1"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, yaml, 23), "%s", proc_said(&p));
	cr_expect(contains(p.err, "one statement per flow step"), "%s", proc_said(&p));
	PGconn *c = pg_open();
	char *v = pg_value(c, "SELECT count(*) FROM pg_class WHERE relname = 'escaped'", 0, NULL);
	cr_expect_str_eq(v, "0", "the flow's second statement created a table outside the sandbox");
	free(v);
	PQfinish(c);
	proc_free(&p);
}

/* ---- 10. signals that arrive together are one request ---- */

/* The seed's flow check, rewritten by the signal tests. */
#define FLOW_SELECT "SELECT 1 FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2"

/* The fixture with a first flow step that sleeps 20 s, marked by a column
 * named marker (so its statement can be found in pg_stat_activity). */
static const char *sleepy_fixture(const char *name, const char *marker)
{
	char sleepy[256];
	snprintf(sleepy, sizeof sleepy,
		 "flow:\n  - sql: SELECT pg_sleep(20) AS %s, $1::bigint, $2::bigint\n  - sql: " FLOW_SELECT,
		 marker);
	return variant_of(FIXTURE, name, "flow:\n  - sql: " FLOW_SELECT, sleepy);
}

/* Waits (at most 30 s, failing the test) until a statement naming marker runs. */
static void wait_statement(PGconn *c, const char *marker)
{
	char like[96];
	snprintf(like, sizeof like, "%%%s%%", marker);
	const char *params[] = {like};
	free(pg_poll_value(c, 30, "the flow's statement ran",
			   "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
			   "AND query LIKE $1 AND pid <> pg_backend_pid()",
			   1, params));
}

/* Before: the second SIGTERM (GNU timeout sends one to pgrace and one to
 * its process group) was taken as "quit at once": exit 143 with no JSON
 * and the schema left behind. */
Test(safety, two_sigterms_at_once_still_clean_up, .timeout = 120)
{
	char marker[64];
	snprintf(marker, sizeof marker, "twice_%d", (int)getpid());
	const char *yaml = sleepy_fixture("twice.yaml", marker);
	const char *json = spath("twice.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--deadline-ms", "60000", "-q", "--json", json), &p);
	PGconn *c = pg_open();
	wait_statement(c, marker);
	PQfinish(c);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	int code = wait_pgrace(pid, &p, 30);
	cr_expect_eq(code, 143, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect(contains(jstr(doc, "error"), "interrupted by SIGTERM"), "error: %s",
		  jstr(doc, "error"));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* A Ctrl-C repeated after cleanup had its time still quits at once. */
Test(safety, second_sigint_later_quits_at_once, .timeout = 120)
{
	char marker[64];
	snprintf(marker, sizeof marker, "again_%d", (int)getpid());
	const char *yaml = sleepy_fixture("again.yaml", marker);
	/* Cleanup that takes long: the DROP SCHEMA waits for our lock. */
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--deadline-ms", "60000", "-q"), &p);
	PGconn *c = pg_open();
	wait_statement(c, marker);
	char like[64], sql[256];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	const char *params[] = {like};
	char *schema = pg_value(c, "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1", 1,
				params);
	cr_assert(schema && schema[0], "no schema for pgrace %d", (int)pid);
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s.users IN ACCESS SHARE MODE", schema);
	exec_ok(c, sql);
	cr_assert_eq(kill(pid, SIGINT), 0);
	sleep_ms(2500);
	double t0 = now_s();
	cr_assert_eq(kill(pid, SIGINT), 0);
	int code = wait_pgrace(pid, &p, 30);
	double took = now_s() - t0;
	cr_expect_eq(code, 130, "%s", proc_said(&p));
	cr_expect_lt(took, 5, "the repeated Ctrl-C took %.1f s to end pgrace", took);
	exec_ok(c, "ROLLBACK");
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	exec_ok(c, sql);
	free(schema);
	PQfinish(c);
	proc_free(&p);
}

/* ---- 14. the password never shows in ps ---- */

/* What `ps` shows of pid: /proc/pid/cmdline with NULs as blanks. */
static char *cmdline_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	size_t len = 0;
	char *s = read_file(path, &len);
	cr_assert_not_null(s, "cannot read %s", path);
	for (size_t i = 0; i < len; i++)
		if (!s[i])
			s[i] = ' ';
	return s;
}

/* Before: the mask looked for the literal key "password" and stopped at a
 * blank, so `pass%77ord=` (a percent-encoded key) showed whole in ps. */
Test(safety, password_hidden_from_ps, .timeout = 120)
{
	const char *host = getenv("PGHOST"), *port = getenv("PGPORT");
	cr_assert(host && host[0] == '/', "PGHOST must be a socket folder for this test");
	char dsn[512];
	snprintf(dsn, sizeof dsn, "postgresql:///%s?host=%s&port=%s&pass%%77ord=Sekr1tPw",
		 getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres", host, port ? port : "5432");
	char marker[64];
	snprintf(marker, sizeof marker, "ps_%d", (int)getpid());
	const char *yaml = sleepy_fixture("ps.yaml", marker);
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--dsn", dsn, "--deadline-ms", "60000", "-q"), &p);
	PGconn *c = pg_open();
	wait_statement(c, marker);
	PQfinish(c);
	char *shown = cmdline_of(pid);
	kill(pid, SIGTERM);
	int code = wait_pgrace(pid, &p, 30);
	cr_expect(!contains(shown, "Sekr1tPw"), "ps shows the password: %s", shown);
	cr_expect(contains(shown, "pass%77ord="), "the rest of the DSN should stay readable: %s", shown);
	cr_expect_eq(code, 143, "%s", proc_said(&p));
	free(shown);
	proc_free(&p);
}

/* ---- 11. no sandbox is left behind ---- */

/* Sandboxes (pgrace_%) in the database dsn names. */
static long sandboxes_in(const char *dsn)
{
	PGconn *c = pg_open_dsn(dsn);
	char *v = pg_value(c, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgrace\\_%'", 0,
			   NULL);
	long n = strtol(v, NULL, 10);
	free(v);
	PQfinish(c);
	return n;
}

/* Before: the step's BEGIN left the admin connection in a transaction, the
 * final DROP SCHEMA ran inside it and was rolled back when pgrace
 * disconnected: the schema stayed and the run passed. */
Test(safety, step_leaving_a_transaction_open_still_drops, .timeout = 120)
{
	const char *yaml = variant_of(FIXTURE, "open.yaml", "      - migrate: down\n",
				      "      - migrate: down\n      - sql: BEGIN; CREATE TABLE left_open (x int)\n");
	const char *json = spath("open.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--workers", "4", "--rounds", "3", "-q", "--json", json),
			      &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* `pgrace clean` keeps a live run's sandbox and drops it once the run was
 * killed with SIGKILL (nothing of pgrace's could clean up). Before: no such
 * command; the schema stayed for good. */
Test(safety, clean_after_sigkill, .timeout = 120)
{
	char dsn[128], marker[64];
	const char *db = test_own_database("pgrace_test", "kill", dsn, sizeof dsn);
	snprintf(marker, sizeof marker, "killed_%d", (int)getpid());
	const char *yaml = sleepy_fixture("killed.yaml", marker);
	struct proc p, q;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--dsn", dsn, "--deadline-ms", "60000", "-q"), &p);
	PGconn *c = pg_open_dsn(dsn);
	wait_statement(c, marker);
	PQfinish(c);

	int code = run_pgrace(ARGS("clean", "--dsn", dsn), &q);
	cr_expect_eq(code, 0, "%s", proc_said(&q));
	cr_expect(contains(q.out, "kept (its run is alive"), "clean did not keep the live run's sandbox\n%s",
		  proc_said(&q));
	cr_expect_eq(sandboxes_in(dsn), 1, "clean dropped a live run's sandbox");
	proc_free(&q);

	cr_assert_eq(kill(pid, SIGKILL), 0);
	wait_pgrace(pid, &p, 30);
	cr_expect_eq(sandboxes_in(dsn), 1, "SIGKILL left no schema: nothing to test");
	/* The server ends the dead run's sessions (and releases its lock) as it
	 * notices the closed sockets: at once here, but bounded anyway. */
	double t0 = now_s();
	for (;;) {
		code = run_pgrace(ARGS("clean", "--dsn", dsn), &q);
		cr_expect_eq(code, 0, "%s", proc_said(&q));
		bool dropped = contains(q.out, "dropped (its run is gone)");
		if (dropped || now_s() - t0 > 20)
			break;
		proc_free(&q);
		sleep_ms(200);
	}
	cr_expect(contains(q.out, "1 sandbox dropped"), "%s", proc_said(&q));
	proc_free(&q);
	cr_expect_eq(sandboxes_in(dsn), 0, "a sandbox is left after SIGKILL and pgrace clean");
	proc_free(&p);
	test_drop_database(db);
}

/* The acceptance storm: 20 runs of the fixture under GNU timeout, which
 * signals pgrace and then its whole process group, cut at moments from
 * connecting to the rounds; not one sandbox may be left. Before: the
 * second SIGTERM quit at once, leaving schemas in most runs. */
Test(safety, timeout_storm_leaves_nothing, .timeout = 300)
{
	static const char *const limits[] = {"0.3", "0.8", "1.4", "2"};
	char dsn[128];
	const char *db = test_own_database("pgrace_test", "storm", dsn, sizeof dsn);
	enum { RUNS = 20, AT_ONCE = 4 };
	for (int i = 0; i < RUNS; i += AT_ONCE) {
		struct proc p[AT_ONCE];
		pid_t pid[AT_ONCE];
		for (int k = 0; k < AT_ONCE; k++)
			pid[k] = spawn_cmd(ARGS("/usr/bin/timeout", "--preserve-status", limits[(i + k) % 4],
						pgrace_bin(), "run", FIXTURE, "--dsn", dsn, "--workers",
						"4", "--rounds", "100000", "-q"),
					   &p[k]);
		for (int k = 0; k < AT_ONCE; k++) {
			/* A run of 100000 rounds outlasts every limit (300 rounds
			 * could finish within 2 s on the event-loop engine): every one
			 * is cut, and exits 143 by itself after cleaning up (not 128 + a
			 * signal). */
			int code = wait_pgrace(pid[k], &p[k], 60);
			cr_expect_eq(code, 143, "run %d (timeout %s): %s", i + k, limits[(i + k) % 4],
				     proc_said(&p[k]));
			proc_free(&p[k]);
		}
	}
	PGconn *c = pg_open_dsn(dsn);
	char *left = pg_value(c,
			      "SELECT coalesce(string_agg(nspname, ' '), '') FROM pg_namespace "
			      "WHERE nspname LIKE 'pgrace\\_%'",
			      0, NULL);
	PQfinish(c);
	cr_expect_str_eq(left, "", "sandboxes left after %d runs under timeout: %s", RUNS, left);
	free(left);
	test_drop_database(db);
}

/* ---- 17. pgrace's own sessions, a stalled rows query, bounded connects ---- */

/* Before: a step that left a transaction open holding a lock blocked the
 * workers, and the message blamed "pid N outside pgrace": pgrace's own
 * setup connection. */
Test(safety, own_setup_connection_is_not_outside, .timeout = 120)
{
	const char *yaml =
		variant_of(FIXTURE, "own-lock.yaml",
			   "  - name: baseline\n    race: {workers: 1, rounds: 3}\n",
			   "  - name: baseline\n    steps:\n      - sql: BEGIN; LOCK TABLE "
			   "user_tenant_membership IN SHARE MODE\n    race: {workers: 1, rounds: 3}\n");
	const char *json = spath("own-lock.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--deadline-ms", "2000", "-q", "--json", json), &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "is blocked by pgrace's own setup connection (pid "),
		  "the blocker is not named as pgrace's own\n%s", proc_said(&p));
	cr_expect(!contains(p.err, "outside pgrace"), "%s", proc_said(&p));
	json_t *doc = load_json(json);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* Before: a foreign lock that stalled only the rows query gave "rows query
 * failed: deadline passed, query cancelled" after a fixed 10 s, naming no
 * one. Now the query has the round's budget and the message names the
 * session holding the lock. */
Test(safety, stalled_rows_query_names_the_blocker, .timeout = 120)
{
	/* A table only the rows query reads, so the flow never waits. */
	char *a = replace_all(read_file(FIXTURE, NULL), "CREATE TABLE users (",
			      "CREATE TABLE audit (x int);\n  CREATE TABLE users (");
	char *b = replace_all(a, "rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2",
			      "rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND "
			      "tenant_id = $2 AND NOT EXISTS (SELECT 1 FROM audit WHERE false)");
	char *c = replace_all(b, "(2, 'globex');\n", "(2, 'globex');\n  SELECT pg_sleep(1);\n");
	const char *yaml = spath("rows-lock.yaml");
	write_file(yaml, c, strlen(c));
	free(a);
	free(b);
	free(c);
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--deadline-ms", "2000", "-q"), &p);
	PGconn *foreign = pg_open();
	char like[64], sql[256];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	const char *params[] = {like};
	char *schema = pg_poll_value(foreign, 30, "the run's schema appeared",
				     "SELECT n.nspname::text FROM pg_namespace n JOIN pg_class c ON "
				     "c.relnamespace = n.oid WHERE n.nspname LIKE $1 AND c.relname = 'audit'",
				     1, params);
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s.audit IN ACCESS EXCLUSIVE MODE", schema);
	exec_ok(foreign, sql);
	int me = PQbackendPID(foreign);
	/* Once pgrace gave up the round, its DROP SCHEMA waits for our lock:
	 * release it then (watched from another session). */
	char mine[16];
	snprintf(mine, sizeof mine, "%d", me);
	const char *mp[] = {mine};
	PGconn *watch = pg_open();
	free(pg_poll_value(watch, 30, "pgrace's DROP SCHEMA waited for our lock",
			   "SELECT count(*) FROM pg_stat_activity WHERE $1::int = "
			   "ANY(pg_blocking_pids(pid)) AND query LIKE 'DROP SCHEMA%'",
			   1, mp));
	PQfinish(watch);
	exec_ok(foreign, "ROLLBACK");
	PQfinish(foreign);
	int code = wait_pgrace(pid, &p, 60);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect_eq(schemas_where(schema, false), 0, "schema %s left behind", schema);
	char want[96];
	snprintf(want, sizeof want, "pid %d outside pgrace holds an ACCESS EXCLUSIVE lock on table audit",
		 me);
	cr_expect(contains(p.err, want), "stderr does not say \"%s\"\n%s", want, proc_said(&p));
	free(schema);
	proc_free(&p);
}

/* A cancel is sent from a thread of its own; a query whose answer came
 * anyway (read just past its deadline) returned at once, and the cancel,
 * still on its way, landed on whatever the connection ran next: here a
 * sleep, cancelled with 57014 though its own deadline was far off (the
 * rows query's blocker lookup after a stalled rows query was one such next
 * statement). Now the next statement waits until the cancel was
 * delivered, when an idle backend drops it. */
Test(safety, late_cancel_spares_the_next_statement, .timeout = 120)
{
	PGconn *c = db_open();
	for (int i = 0; i < 20; i++) {
		struct db_result r;
		/* A deadline long past: the answer is read only after a cancel. */
		db_query(c, "SELECT 1", 0, NULL, 1, &r);
		cr_assert_eq(r.status, DB_TIMEOUT, "try %d: status %d (%s)", i, r.status, r.message);
		db_query(c, "SELECT pg_sleep(0.02)", 0, NULL, clock_us() + 10u * 1000000u, &r);
		cr_assert_eq(r.status, DB_OK, "try %d: the next statement ended %d: %s %s", i, r.status,
			     r.sqlstate, r.message);
	}
	PQfinish(c);
}

/* A TCP listener on loopback that never accepts: the kernel completes the
 * handshake, the server never answers the startup packet. */
static int black_hole(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Before: PQconnectdbParams blocked without looking at the stop flag, and
 * connect_timeout=0 in the DSN made it wait forever: SIGTERM did nothing. */
Test(safety, connect_obeys_the_stop_flag, .timeout = 120)
{
	int port, fd = black_hole(&port);
	char dsn[128];
	snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d connect_timeout=0 sslmode=disable", port);
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", FIXTURE, "--dsn", dsn, "-q"), &p);
	sleep_ms(1000);
	double t0 = now_s();
	cr_assert_eq(kill(pid, SIGTERM), 0);
	int code = wait_pgrace(pid, &p, 30);
	double took = now_s() - t0;
	cr_expect_eq(code, 143, "%s", proc_said(&p));
	cr_expect_lt(took, 5, "SIGTERM took %.1f s to end a connect", took);
	proc_free(&p);
	close(fd);
}

/* connect_timeout=0 means our 10 s bound, not forever: exit 3. */
Test(safety, connect_timeout_zero_is_bounded, .timeout = 120)
{
	int port, fd = black_hole(&port);
	char dsn[128];
	snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d connect_timeout=0 sslmode=disable", port);
	struct proc p;
	int code = wait_pgrace(spawn_pgrace(ARGS("run", FIXTURE, "--dsn", dsn, "-q"), &p), &p, 60);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "timeout expired"), "%s", proc_said(&p));
	proc_free(&p);
	close(fd);
}
