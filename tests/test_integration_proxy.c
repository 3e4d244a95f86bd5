/* test_integration_proxy.c: the protocol listener (proxy.h) between libpq
 * clients and a real PostgreSQL.
 *
 * Simple and extended protocol relayed, the backend pid and each error's
 * SQLSTATE and constraint read on the way, a COMMIT held until released
 * (the row invisible meanwhile), fire's first data step held once, a
 * CancelRequest forwarded, an app that insists on TLS named, and the
 * hostile peers: one that never speaks (others still served, it is closed
 * at the start-up deadline), a start-up packet or message whose length
 * lies (that connection closed with why, none other hurt), a message cut
 * short by a hang-up. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "proxy.h"
#include "stats.h"

static struct proxy *px;

static void px_init(void)
{
	char err[256] = "";
	scratch_init();
	px = proxy_open(getenv("PGHOST"), getenv("PGPORT"), 3, err, sizeof err);
	cr_assert_not_null(px, "%s", err);
	proxy_arm(px, PROXY_HOLD_NONE);
}

static void px_fini(void)
{
	proxy_close(px);
	scratch_fini();
}

TestSuite(proxy, .init = px_init, .fini = px_fini, .timeout = 120);

static PGconn *through(int worker, const char *extra)
{
	char dsn[256];
	snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d connect_timeout=10 %s", proxy_port(px, worker),
		 extra ? extra : "");
	return PQconnectdb(dsn);
}

static PGconn *through_ok(int worker)
{
	PGconn *c = through(worker, NULL);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "through the proxy: %s", PQerrorMessage(c));
	return c;
}

/* Waits (5 s at most) until worker's view satisfies what. */
static void view_until(int worker, struct proxy_view *v, bool (*what)(const struct proxy_view *),
		       const char *name)
{
	uint64_t deadline = clock_us() + 5000000u;
	for (;;) {
		proxy_view(px, worker, v);
		if (what(v))
			return;
		cr_assert(proxy_wait(px, deadline), "worker %d: never %s", worker, name);
	}
}

static bool one_held(const struct proxy_view *v)
{
	return v->held == 1;
}

static bool has_bad(const struct proxy_view *v)
{
	return v->bad[0] != '\0';
}

static bool none_open(const struct proxy_view *v)
{
	return v->open == 0;
}

Test(proxy, relays_simple_and_extended_protocol_and_reads_the_pid)
{
	PGconn *c = through_ok(0);
	char *v = pg_value(c, "SELECT 40 + $1::int", 1, (const char *const[]){"2"});
	cr_assert_str_eq(v, "42");
	free(v);
	PGresult *r = PQprepare(c, "s1", "SELECT $1::text || 'x'", 1, NULL);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQexecPrepared(c, "s1", 1, (const char *const[]){"a"}, NULL, NULL, 0);
	cr_assert_str_eq(PQgetvalue(r, 0, 0), "ax");
	PQclear(r);
	exec_ok(c, "SELECT 1; SELECT 2");
	struct proxy_view pv;
	proxy_view(px, 0, &pv);
	cr_assert_eq(pv.n_pids, 1);
	cr_assert_eq((int)pv.pids[0], PQbackendPID(c));
	cr_assert_geq(pv.steps, 4);
	cr_assert_eq(pv.connections, 1);
	cr_assert_eq(pv.started, 1);
	PQfinish(c);
	view_until(0, &pv, none_open, "closed");
}

Test(proxy, errors_keep_their_sqlstate_and_constraint)
{
	PGconn *c = through_ok(1);
	exec_ok(c, "CREATE TEMP TABLE u (e text CONSTRAINT u_e_key UNIQUE)");
	exec_ok(c, "INSERT INTO u VALUES ('a')");
	PGresult *r = PQexecParams(c, "INSERT INTO u VALUES ($1)", 1, NULL, (const char *const[]){"a"},
				   NULL, NULL, 0);
	cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
	PQclear(r);
	struct proxy_view v;
	proxy_view(px, 1, &v);
	cr_assert_eq(v.n_errors, 1);
	cr_assert_str_eq(v.errors[0].sqlstate, "23505");
	cr_assert_str_eq(v.errors[0].constraint, "u_e_key");
	PQfinish(c);
}

Test(proxy, commit_held_until_released)
{
	PGconn *admin = pg_open();
	exec_ok(admin, "DROP TABLE IF EXISTS proxy_hold; CREATE TABLE proxy_hold (k int)");
	proxy_arm(px, PROXY_HOLD_COMMIT);
	PGconn *c = through_ok(2);
	exec_ok(c, "BEGIN");
	exec_ok(c, "INSERT INTO proxy_hold VALUES (1)");
	cr_assert(PQsendQuery(c, "COMMIT"));
	struct proxy_view v;
	view_until(2, &v, one_held, "held at COMMIT");
	cr_assert_eq(v.held_class, PGWIRE_SQL_COMMIT);
	char *n = pg_value(admin, "SELECT count(*) FROM proxy_hold", 0, NULL);
	cr_assert_str_eq(n, "0", "the held COMMIT reached the server");
	free(n);
	proxy_release(px, 2);
	PGresult *r;
	while ((r = PQgetResult(c)))
		PQclear(r);
	n = pg_value(admin, "SELECT count(*) FROM proxy_hold", 0, NULL);
	cr_assert_str_eq(n, "1");
	free(n);
	/* a prepared COMMIT (extended protocol) is held too */
	exec_ok(c, "BEGIN");
	cr_assert(PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0));
	view_until(2, &v, one_held, "held at an extended COMMIT");
	proxy_release(px, 2);
	while ((r = PQgetResult(c)))
		PQclear(r);
	PQfinish(c);
	exec_ok(admin, "DROP TABLE proxy_hold");
	PQfinish(admin);
}

Test(proxy, fire_holds_the_first_data_step_once)
{
	proxy_arm(px, PROXY_HOLD_FIRST);
	PGconn *c = through_ok(0);
	exec_ok(c, "SET application_name = 'x'");
	char *v0 = pg_value(c, "SELECT current_schema()", 0, NULL); /* introspection passes */
	free(v0);
	cr_assert(
		PQsendQuery(c, "SELECT count(*) FROM pg_class c JOIN generate_series(1, 2) g ON true"));
	struct proxy_view v;
	view_until(0, &v, one_held, "held at its first data step");
	proxy_release(px, 0);
	PGresult *r;
	while ((r = PQgetResult(c)))
		PQclear(r);
	/* once: the next data step passes */
	char *n = pg_value(c, "SELECT count(*) FROM generate_series(1, 3)", 0, NULL);
	cr_assert_str_eq(n, "3");
	free(n);
	PQfinish(c);
}

Test(proxy, cancel_request_is_forwarded)
{
	PGconn *c = through_ok(1);
	cr_assert(PQsendQuery(c, "SELECT pg_sleep(60)"));
	sleep_ms(200);
	PGcancel *cn = PQgetCancel(c);
	char err[256];
	cr_assert(PQcancel(cn, err, sizeof err), "%s", err);
	PQfreeCancel(cn);
	PGresult *r = PQgetResult(c);
	cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014");
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	PQfinish(c);
}

Test(proxy, an_app_that_insists_on_tls_is_named)
{
	PGconn *c = through(2, "sslmode=require");
	cr_assert_neq(PQstatus(c), CONNECTION_OK);
	PQfinish(c);
	struct proxy_view v;
	uint64_t deadline = clock_us() + 5000000u;
	for (;;) {
		proxy_view(px, 2, &v);
		if (v.tls_refused)
			break;
		cr_assert(proxy_wait(px, deadline), "the TLS refusal was not seen");
	}
	/* sslmode=prefer falls back to plain text */
	c = through(2, "sslmode=prefer");
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PQfinish(c);
}

static int raw_connect(int worker)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)proxy_port(px, worker))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

Test(proxy, a_silent_peer_blocks_no_one)
{
	int silent = raw_connect(0);
	PGconn *c = through_ok(0); /* served while the silent one waits */
	char *v = pg_value(c, "SELECT 7", 0, NULL);
	cr_assert_str_eq(v, "7");
	free(v);
	PQfinish(c);
	struct proxy_view pv;
	uint64_t deadline = clock_us() + 20000000u;
	for (;;) {
		proxy_view(px, 0, &pv);
		if (pv.open == 0 && pv.bad[0])
			break;
		cr_assert(proxy_wait(px, deadline), "the silent peer was never closed");
	}
	cr_assert(strstr(pv.bad, "no start-up packet"), "%s", pv.bad);
	close(silent);
}

Test(proxy, lying_lengths_close_that_connection_only)
{
	PGconn *c = through_ok(1);
	/* a start-up packet claiming 2 GiB */
	int fd = raw_connect(1);
	const uint8_t huge[8] = {0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0};
	cr_assert_eq(write(fd, huge, sizeof huge), 8);
	struct proxy_view v;
	view_until(1, &v, has_bad, "closed the lying start-up packet");
	cr_assert(strstr(v.bad, "start-up packet claims length"), "%s", v.bad);
	uint8_t b;
	cr_assert_eq(read(fd, &b, 1), 0, "the lying connection stays open");
	close(fd);
	/* a message cut short by a hang-up: nothing reaches the server */
	fd = raw_connect(1);
	cr_assert_eq(write(fd, "\0\0\0\x50\0\x03", 6), 6);
	close(fd);
	char *n = pg_value(c, "SELECT 1", 0, NULL); /* the other connection is unhurt */
	cr_assert_str_eq(n, "1");
	free(n);
	PQfinish(c);
}

Test(proxy, an_oversized_message_after_startup_is_refused)
{
	PGconn *c = through_ok(2);
	int sock = PQsocket(c);
	/* 'Q' claiming 1 GiB, past the 64 MiB cap, on an authenticated connection */
	const uint8_t q[5] = {'Q', 0x40, 0, 0, 0};
	cr_assert_eq(write(sock, q, sizeof q), 5);
	struct proxy_view v;
	view_until(2, &v, has_bad, "refused the oversized message");
	cr_assert(strstr(v.bad, "cap"), "%s", v.bad);
	view_until(2, &v, none_open, "closed the connection");
	PQfinish(c);
}

/* Interleaving's hook: with PROXY_HOLD_EVERY each round trip (a Query, or
 * an extended batch up to its Sync, not each of its messages) waits for
 * its own release. */
Test(proxy, every_step_held_one_round_trip_at_a_time)
{
	proxy_arm(px, PROXY_HOLD_EVERY);
	PGconn *c = through_ok(1);
	struct proxy_view v;
	for (int i = 0; i < 3; i++) {
		if (i == 1)
			cr_assert(PQsendQueryParams(c, "SELECT $1::int", 1, NULL,
						    (const char *const[]){"5"}, NULL, NULL, 0));
		else
			cr_assert(PQsendQuery(c, "SELECT 1"));
		view_until(1, &v, one_held, "held before the step");
		int steps = v.steps;
		sleep_ms(50);
		proxy_view(px, 1, &v);
		cr_assert_eq(v.steps, steps, "a held step was sent");
		proxy_release(px, 1);
		PGresult *r;
		while ((r = PQgetResult(c))) {
			cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
			PQclear(r);
		}
		proxy_view(px, 1, &v);
		cr_assert_eq(v.steps, steps + 1, "one release, one round trip");
	}
	proxy_set_policy(px, 1, PROXY_HOLD_NONE);
	PQfinish(c);
}

/* COPY's data passes while its step runs (in and out), and LISTEN's
 * notifications reach the client: nothing is refused, nothing held. */
Test(proxy, copy_and_listen_are_relayed)
{
	proxy_arm(px, PROXY_HOLD_COMMIT);
	PGconn *c = through_ok(0);
	exec_ok(c, "CREATE TEMP TABLE cp (k int)");
	PGresult *r = PQexec(c, "COPY cp FROM STDIN");
	cr_assert_eq(PQresultStatus(r), PGRES_COPY_IN, "%s", PQerrorMessage(c));
	PQclear(r);
	cr_assert_eq(PQputCopyData(c, "1\n2\n3\n", 6), 1);
	cr_assert_eq(PQputCopyEnd(c, NULL), 1);
	r = PQgetResult(c);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	r = PQexec(c, "COPY cp TO STDOUT");
	cr_assert_eq(PQresultStatus(r), PGRES_COPY_OUT, "%s", PQerrorMessage(c));
	PQclear(r);
	char *buf;
	int rows = 0, n;
	while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
		rows++;
		PQfreemem(buf);
	}
	cr_assert_eq(n, -1);
	cr_assert_eq(rows, 3);
	while ((r = PQgetResult(c)))
		PQclear(r);
	exec_ok(c, "LISTEN pgrace_proxy_ch");
	PGconn *admin = pg_open();
	exec_ok(admin, "NOTIFY pgrace_proxy_ch, 'hello'");
	PQfinish(admin);
	PGnotify *note = NULL;
	uint64_t deadline = clock_us() + 5000000u;
	while (!note && clock_us() < deadline) {
		sleep_ms(20);
		cr_assert(PQconsumeInput(c));
		note = PQnotifies(c);
	}
	cr_assert_not_null(note, "the notification never came through");
	cr_assert_str_eq(note->extra, "hello");
	PQfreemem(note);
	PQfinish(c);
}
