/* db.c: libpq wrappers with deadlines and cancellation. */
#include "db.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secret.h"
#include "stats.h"
#include "vlog.h"

static atomic_int stop_signal;

void db_request_stop(int signo)
{
	atomic_store(&stop_signal, signo);
}

int db_stop_requested(void)
{
	return atomic_load(&stop_signal);
}

const char *db_stop_text(void)
{
	switch (db_stop_requested()) {
	case 0:
		return "not interrupted";
	case SIGINT:
		return "interrupted by SIGINT";
	case SIGTERM:
		return "interrupted by SIGTERM";
	default:
		return "interrupted by a signal";
	}
}

static void copy_field(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* One line: libpq's messages end in a newline and may hold several lines
 * ("...failed: Connection refused\n\tIs the server running..."). */
static void chomp(char *s)
{
	char *out = s;
	bool space = false;
	for (const char *in = s; *in; in++) {
		if (*in == '\n' || *in == '\t' || *in == '\r' || *in == ' ') {
			space = out != s;
			continue;
		}
		if (space)
			*out++ = ' ';
		space = false;
		*out++ = *in;
	}
	*out = '\0';
}

/* Server notices (e.g. DROP ... CASCADE details) are not ours to print. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Overwrites every occurrence of secret in s (a password quoted in a message). */
static void mask_value(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	if (n == 0)
		return;
	for (char *p = s; (p = strstr(p, secret)) != NULL; p += n)
		memset(p, 'x', n);
}

/* The connect bound: the connect_timeout libpq resolved for c (from the
 * DSN, PGCONNECT_TIMEOUT or our default of 10 s), where 0 or less, which
 * libpq takes for "wait forever", is our default too. */
static uint64_t connect_bound_us(PGconn *c)
{
	long s = 10;
	PQconninfoOption *opts = PQconninfo(c);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "connect_timeout") && o->val && *o->val) {
			long v = strtol(o->val, NULL, 10);
			if (v > 0)
				s = v < 2 ? 2 : v; /* as libpq: less than 2 s is 2 s */
		}
	PQconninfoFree(opts);
	return (uint64_t)s * 1000000u;
}

/* The startup options a connection to dsn gets without an options keyword
 * of ours: the DSN's own, else PGOPTIONS (as libpq resolves them); NULL when
 * neither. The string may live in *opts (free with PQconninfoFree). */
static const char *dsn_options(const char *dsn, PQconninfoOption **opts)
{
	char *errmsg = NULL;
	*opts = dsn && *dsn ? PQconninfoParse(dsn, &errmsg) : NULL;
	PQfreemem(errmsg);
	for (PQconninfoOption *o = *opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "options") && o->val && *o->val)
			return o->val;
	return getenv("PGOPTIONS");
}

PGconn *db_connect_start(const char *dsn, const char *schema, uint64_t *deadline_us, char *err,
			 size_t errlen)
{
	char options[1024] = "";
	const char *keys[6], *vals[6];
	int n = 0;
	/* Defaults that PG* variables and the DSN may override, as with psql. */
	if (!getenv("PGCONNECT_TIMEOUT"))
		keys[n] = "connect_timeout", vals[n++] = "10";
	keys[n] = "fallback_application_name", vals[n++] = "pgrace";
	if (dsn && *dsn)
		keys[n] = "dbname", vals[n++] = dsn;
	if (schema) {
		/* An options keyword replaces the DSN's own, so ours carries
		 * them on: every connection of a run has the application's
		 * settings, the workers' as the admin's. */
		PQconninfoOption *dsn_opts = NULL;
		const char *user = dsn_options(dsn, &dsn_opts);
		snprintf(options, sizeof options, "%s%s-c search_path=%s", user ? user : "",
			 user && *user ? " " : "", schema);
		PQconninfoFree(dsn_opts);
		keys[n] = "options", vals[n++] = options;
	}
	keys[n] = NULL, vals[n] = NULL;
	/* Non-blocking, so the wait looks at the stop flag and at our own
	 * deadline (libpq enforces connect_timeout only in its blocking
	 * connect, and not at all when it is 0). */
	PGconn *c = PQconnectStartParams(keys, vals, 1);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	secret_add(PQpass(c)); /* a DSN's, PGPASSWORD's or a passfile's: scrubbed wherever shown */
	uint64_t now = clock_us(), bound_us = connect_bound_us(c);
	if (*deadline_us == 0 || *deadline_us > now + bound_us)
		*deadline_us = now + bound_us;
	if (PQstatus(c) == CONNECTION_BAD) {
		db_connect_failed(c, err, errlen);
		PQfinish(c);
		return NULL;
	}
	return c;
}

void db_connect_failed(PGconn *c, char *err, size_t errlen)
{
	copy_field(err, errlen, PQerrorMessage(c));
	chomp(err);
	mask_value(err, PQpass(c));
	secret_scrub(err, errlen, false);
	if (!err[0])
		snprintf(err, errlen, "could not connect");
}

void db_connect_ready(PGconn *c)
{
	PQsetNoticeProcessor(c, quiet_notice, NULL);
}

void db_connect_timeout(uint64_t start_us, char *err, size_t errlen)
{
	snprintf(err, errlen, "timeout expired after %.1f s (connect_timeout; 0 or unset means 10 s)",
		 (double)(clock_us() - start_us) / 1e6);
}

static PGconn *connect_until(const char *dsn, const char *schema, uint64_t deadline_us,
			     bool interruptible, char *err, size_t errlen)
{
	uint64_t start = clock_us(), now;
	PGconn *c = db_connect_start(dsn, schema, &deadline_us, err, errlen);
	if (!c)
		return NULL;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		now = clock_us();
		if (interruptible && db_stop_requested()) {
			snprintf(err, errlen, "connecting: %s", db_stop_text());
			PQfinish(c);
			return NULL;
		}
		if (now >= deadline_us) {
			db_connect_timeout(start, err, errlen);
			PQfinish(c);
			return NULL;
		}
		struct pollfd pfd = {.fd = PQsocket(c),
				     .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		uint64_t wait_us = deadline_us - now;
		int ms = wait_us > 50000 ? 50 : (int)(wait_us / 1000) + 1;
		int ready = pfd.fd >= 0 ? poll(&pfd, 1, ms) : 1;
		if (ready < 0 && errno != EINTR)
			break;
		if (ready > 0)
			st = PQconnectPoll(c);
	}
	if (PQstatus(c) != CONNECTION_OK) {
		db_connect_failed(c, err, errlen);
		PQfinish(c);
		return NULL;
	}
	db_connect_ready(c);
	return c;
}

PGconn *db_connect(const char *dsn, const char *schema, char *err, size_t errlen)
{
	return connect_until(dsn, schema, 0, true, err, errlen);
}

PGconn *db_connect_cleanup(const char *dsn, uint64_t deadline_us, char *err, size_t errlen)
{
	return connect_until(dsn, NULL, deadline_us, false, err, errlen);
}

static void take_error(PGconn *c, PGresult *res, struct db_result *r)
{
	if (r->status != DB_OK)
		return; /* the first error wins */
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	copy_field(r->sqlstate, sizeof r->sqlstate, state);
	copy_field(r->constraint, sizeof r->constraint,
		   PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME));
	copy_field(r->detail, sizeof r->detail, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	copy_field(r->message, sizeof r->message, primary ? primary : PQerrorMessage(c));
	chomp(r->message);
	r->status = (!state || PQstatus(c) == CONNECTION_BAD) ? DB_LOST : DB_ERROR;
}

/* Our own refusal, as an error of the statement (no SQLSTATE of the
 * server's: 0A000 feature_not_supported is the closest class). */
static void refuse(struct db_result *r, const char *why)
{
	if (r->status != DB_OK)
		return;
	r->status = DB_ERROR;
	snprintf(r->sqlstate, sizeof r->sqlstate, "0A000");
	snprintf(r->message, sizeof r->message, "%s", why);
}

/* Reads one result. Every status libpq may return is handled here: a
 * status left to loop on would spin (PQgetResult returns COPY_IN again and
 * again, and the deadline is never looked at). */
static void take_result(PGconn *c, PGresult *res, struct db_result *r, bool *copy_out)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_SINGLE_TUPLE:
		r->rows = PQntuples(res);
		r->affected = r->rows;
		r->first_value[0] = '\0';
		r->columns = PQnfields(res);
		r->first_null = r->rows == 0 || r->columns == 0 || PQgetisnull(res, 0, 0);
		if (!r->first_null)
			copy_field(r->first_value, sizeof r->first_value, PQgetvalue(res, 0, 0));
		break;
	case PGRES_COMMAND_OK: {
		const char *t = PQcmdTuples(res);
		r->affected = (t && *t) ? strtoll(t, NULL, 10) : 0;
		break;
	}
	case PGRES_EMPTY_QUERY:
	case PGRES_PIPELINE_SYNC:
		break;
	case PGRES_COPY_IN:
		/* Nothing to send: end the COPY with an error; the server rolls
		 * the statement back and answers with an ErrorResponse. */
		refuse(r, "COPY FROM STDIN is not supported by pgrace (it has no data to send)");
		if (PQputCopyEnd(c, "COPY FROM STDIN is not supported by pgrace") < 0)
			r->status = DB_LOST;
		break;
	case PGRES_COPY_OUT:
		/* Drained by the caller's loop (PQgetCopyData), under its deadline. */
		refuse(r, "COPY TO STDOUT is not supported by pgrace (it keeps no output)");
		*copy_out = true;
		break;
	case PGRES_COPY_BOTH: /* replication only: nothing pgrace can finish */
		refuse(r, "COPY BOTH (replication) is not supported by pgrace");
		r->status = DB_LOST;
		break;
	case PGRES_BAD_RESPONSE:
	case PGRES_NONFATAL_ERROR:
	case PGRES_FATAL_ERROR:
	case PGRES_PIPELINE_ABORTED:
	default:
		take_error(c, res, r);
		break;
	}
}

/* A cancel request in flight: PQcancel opens a connection of its own and
 * blocks on it (libpq 15 has no non-blocking cancel), so it runs on a
 * thread of its own that nobody waits for; the last of its owners to let
 * go frees it. */
struct cancel_job {
	PGcancel *cn;
	atomic_int refs;
	atomic_bool delivered; /* PQcancel returned: the backend has the signal */
};

static void cancel_job_release(struct cancel_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		PQfreeCancel(j->cn);
		free(j);
	}
}

static void *cancel_main(void *arg)
{
	struct cancel_job *j = arg;
	char buf[256];
	PQcancel(j->cn, buf, sizeof buf);
	atomic_store(&j->delivered, true);
	cancel_job_release(j);
	return NULL;
}

/* The cancels still on their way, by connection. A cancel cancels whatever
 * its backend runs when the signal arrives: when the query it was meant for
 * answered anyway, a late one would land on the connection's next
 * statement. So db_send waits (db_cancel_settle) until the connection's cancels
 * were delivered: a backend that gets one while idle drops it. Entries whose
 * cancel was delivered are swept as new ones come; with the table full a
 * cancel goes untracked, as before. */
enum { CANCELS_IN_FLIGHT = 1024 };
static struct {
	const PGconn *c;
	struct cancel_job *j;
} in_flight[CANCELS_IN_FLIGHT];
static pthread_mutex_t in_flight_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int in_flight_n;

static void in_flight_drop(int i)
{
	cancel_job_release(in_flight[i].j);
	in_flight[i].c = NULL;
	in_flight[i].j = NULL;
	atomic_fetch_sub(&in_flight_n, 1);
}

/* Takes a reference to j for the table, when it has room. */
static void in_flight_add(const PGconn *c, struct cancel_job *j)
{
	int free_slot = -1;
	pthread_mutex_lock(&in_flight_mu);
	for (int i = 0; i < CANCELS_IN_FLIGHT; i++) {
		if (in_flight[i].j && atomic_load(&in_flight[i].j->delivered))
			in_flight_drop(i);
		if (!in_flight[i].j && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		atomic_fetch_add(&j->refs, 1);
		in_flight[free_slot].c = c;
		in_flight[free_slot].j = j;
		atomic_fetch_add(&in_flight_n, 1);
	}
	pthread_mutex_unlock(&in_flight_mu);
}

void db_cancel_settle(const PGconn *c)
{
	if (atomic_load(&in_flight_n) == 0)
		return;
	struct cancel_job *mine[8];
	int n = 0;
	pthread_mutex_lock(&in_flight_mu);
	for (int i = 0; i < CANCELS_IN_FLIGHT && n < 8; i++)
		if (in_flight[i].c == c) {
			mine[n++] = in_flight[i].j;
			atomic_fetch_add(&in_flight[i].j->refs, 1);
			in_flight_drop(i);
		}
	pthread_mutex_unlock(&in_flight_mu);
	uint64_t until = clock_us() + DB_CANCEL_GRACE_S * 1000000u;
	for (int k = 0; k < n; k++) {
		while (!atomic_load(&mine[k]->delivered) && clock_us() < until)
			nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
		cancel_job_release(mine[k]);
	}
}

/* Sends a cancel request for c's query without blocking the caller, which
 * keeps waiting for the server's answer under its own bound. */
static void cancel(PGconn *c)
{
	struct cancel_job *j = malloc(sizeof *j);
	if (!j)
		abort();
	j->cn = PQgetCancel(c);
	if (!j->cn) {
		free(j);
		return;
	}
	atomic_init(&j->refs, 2);
	atomic_init(&j->delivered, false);
	in_flight_add(c, j);
	pthread_attr_t attr;
	pthread_t t;
	if (pthread_attr_init(&attr) || pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) ||
	    pthread_attr_setstacksize(&attr, 128 * 1024))
		abort();
	if (pthread_create(&t, &attr, cancel_main, j) != 0)
		cancel_main(j); /* no thread to spare: block, as before */
	pthread_attr_destroy(&attr);
	cancel_job_release(j);
}

static void lost(PGconn *c, struct db_result *r)
{
	if (r->status == DB_OK || r->status == DB_ERROR) {
		r->status = DB_LOST;
		r->sqlstate[0] = '\0';
		copy_field(r->message, sizeof r->message, PQerrorMessage(c));
		chomp(r->message);
		if (!r->message[0])
			copy_field(r->message, sizeof r->message, "connection lost");
	}
}

/* Reads what a COPY TO STDOUT sends, without blocking; false once it is
 * over (or the connection failed: then r says so). */
static bool drain_copy(PGconn *c, struct db_result *r)
{
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(c, &buf, 1);
		if (buf)
			PQfreemem(buf);
		if (n > 0)
			continue;
		if (n == 0)
			return true; /* more to come: wait for the socket */
		if (n == -2)
			r->status = DB_LOST;
		return false;
	}
}

/* Sends the query and waits for every result, at most until deadline_us,
 * looking at the stop flag (when interruptible) at least every 50 ms and
 * between any two results. */
static void query_wait(PGconn *c, enum db_send_kind kind, bool trailed, const char *stmt,
		       const char *sql, int nparams, const char *const *params,
		       uint64_t deadline_us, bool interruptible, const struct db_watch *watch,
		       struct db_result *r, PGresult **keep)
{
	if (deadline_us == 0)
		deadline_us = clock_us() + (uint64_t)DB_DEFAULT_DEADLINE_MS * 1000u;
	if (!db_send(c, kind, stmt, sql, nparams, params, r))
		return;
	bool cancelled = false, copy_out = false;
	/* trailed: the counts as they were before the latest result */
	long long prev_rows = 0, prev_affected = 0;
	char prev_first[sizeof r->first_value] = "";
	uint64_t grace = 0; /* after a cancel, how long we wait for the server to answer */
	for (;;) {
		if (!PQconsumeInput(c)) {
			lost(c, r);
			return;
		}
		if (copy_out)
			copy_out = drain_copy(c, r);
		uint64_t now = clock_us();
		int sig = interruptible ? db_stop_requested() : 0;
		/* The results that are ready; the deadline and the stop flag are
		 * looked at between any two (after a cancel, only the grace). */
		while (!copy_out && r->status != DB_LOST && !PQisBusy(c) &&
		       (cancelled ? now < grace : !sig && now < deadline_us)) {
			PGresult *res = PQgetResult(c);
			if (!res) {
				if (trailed) {
					r->rows = prev_rows;
					r->affected = prev_affected;
					memcpy(r->first_value, prev_first, sizeof prev_first);
				}
				return;
			}
			prev_rows = r->rows;
			prev_affected = r->affected;
			memcpy(prev_first, r->first_value, sizeof prev_first);
			take_result(c, res, r, &copy_out);
			if (keep && PQresultStatus(res) == PGRES_TUPLES_OK) {
				PQclear(*keep); /* the last statement's rows are kept */
				*keep = res;
			} else {
				PQclear(res);
			}
			if (copy_out)
				copy_out = drain_copy(c, r);
			now = clock_us();
			sig = interruptible ? db_stop_requested() : 0;
		}
		if (r->status == DB_LOST) {
			lost(c, r);
			return;
		}
		if (!cancelled && (sig || now >= deadline_us)) {
			if (!sig && watch) /* still waiting: the caller asks why */
				watch->at_deadline(c, watch->ctx);
			cancel(c);
			cancelled = true;
			grace = now + DB_CANCEL_GRACE_S * 1000000u;
			db_mark_cancelled(sig, r);
		} else if (cancelled && now >= grace) {
			db_cancel_unanswered(r);
			return;
		}
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
		if (pfd.fd < 0) {
			lost(c, r);
			return;
		}
		uint64_t until = cancelled ? grace : deadline_us;
		uint64_t wait_us = until > now ? until - now : 0;
		int ms = wait_us > 50000 ? 50 : (int)(wait_us / 1000) + 1;
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
			lost(c, r);
			return;
		}
	}
}

static void query(PGconn *c, enum db_send_kind kind, bool trailed, const char *stmt,
		  const char *sql, int nparams, const char *const *params, uint64_t deadline_us,
		  bool interruptible, struct db_result *r)
{
	query_wait(c, kind, trailed, stmt, sql, nparams, params, deadline_us, interruptible, NULL,
		   r, NULL);
	vlog_result(c, r); /* --verbose: a worker's connection only */
}

PGresult *db_query_rows(PGconn *c, const char *sql, int nparams, const char *const *params,
			uint64_t deadline_us, struct db_result *r)
{
	PGresult *rows = NULL;
	query_wait(c, DB_SEND_ONE, false, NULL, sql, nparams, params, deadline_us, true, NULL, r, &rows);
	if (r->status != DB_OK || !rows) {
		PQclear(rows);
		return NULL;
	}
	return rows;
}

void db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
	      uint64_t deadline_us, struct db_result *r)
{
	query(c, DB_SEND_SCRIPT, false, NULL, sql, nparams, params, deadline_us, true, r);
}

void db_query_watched(PGconn *c, const char *sql, int nparams, const char *const *params,
		      uint64_t deadline_us, const struct db_watch *watch, struct db_result *r)
{
	query_wait(c, DB_SEND_SCRIPT, false, NULL, sql, nparams, params, deadline_us, true, watch,
		   r, NULL);
}

void db_query_trailed(PGconn *c, const char *sql, uint64_t deadline_us, struct db_result *r)
{
	query(c, DB_SEND_SCRIPT, true, NULL, sql, 0, NULL, deadline_us, true, r);
}

void db_statement(PGconn *c, const char *sql, int nparams, const char *const *params,
		  uint64_t deadline_us, struct db_result *r)
{
	query(c, DB_SEND_ONE, false, NULL, sql, nparams, params, deadline_us, true, r);
}

void db_prepare(PGconn *c, const char *stmt, const char *sql, int nparams, uint64_t deadline_us,
		struct db_result *r)
{
	query(c, DB_SEND_PREPARE, false, stmt, sql, nparams, NULL, deadline_us, true, r);
}

void db_query_prepared(PGconn *c, const char *stmt, int nparams, const char *const *params,
		       uint64_t deadline_us, struct db_result *r)
{
	query(c, DB_SEND_PREPARED, false, stmt, NULL, nparams, params, deadline_us, true, r);
}

void db_query_cleanup(PGconn *c, const char *sql, uint64_t deadline_us, struct db_result *r)
{
	query(c, DB_SEND_SCRIPT, false, NULL, sql, 0, NULL, deadline_us, false, r);
}

bool db_send(PGconn *c, enum db_send_kind kind, const char *stmt, const char *sql, int nparams,
	     const char *const *params, struct db_result *r)
{
	memset(r, 0, sizeof *r);
	db_cancel_settle(c);
	if (kind == DB_SEND_SCRIPT && PQpipelineStatus(c) != PQ_PIPELINE_OFF)
		kind = DB_SEND_ONE; /* pipeline mode has the extended protocol only */
	int sent = 0;
	switch (kind) {
	case DB_SEND_SCRIPT:
		sent = nparams > 0 ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
				   : PQsendQuery(c, sql);
		break;
	case DB_SEND_ONE:
		sent = PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
		break;
	case DB_SEND_PREPARE:
		sent = PQsendPrepare(c, stmt, sql, nparams, NULL);
		break;
	case DB_SEND_PREPARED:
		sent = PQsendQueryPrepared(c, stmt, nparams, params, NULL, NULL, 0);
		break;
	}
	if (!sent)
		lost(c, r);
	else
		vlog_sent(c, stmt, sql, nparams, params); /* --verbose: a worker's connection only */
	return sent;
}

static bool poll_results(PGconn *c, struct db_result *r)
{
	if (!PQconsumeInput(c)) {
		lost(c, r);
		return true;
	}
	while (!PQisBusy(c)) {
		PGresult *res = PQgetResult(c);
		if (!res)
			return true;
		bool copy_out = false;
		take_result(c, res, r, &copy_out);
		PQclear(res);
		if (copy_out || r->status == DB_LOST) {
			/* The loader refuses client COPY; anything else leaves the
			 * connection in a state no step can follow. */
			r->status = DB_LOST;
			return true;
		}
	}
	return false;
}

void db_cancel(PGconn *c)
{
	cancel(c);
}

void db_mark_cancelled(int sig, struct db_result *r)
{
	r->status = sig ? DB_INTERRUPTED : DB_TIMEOUT;
	r->sqlstate[0] = '\0';
	snprintf(r->message, sizeof r->message, "%s",
		 sig ? db_stop_text() : "deadline passed, query cancelled");
}

void db_cancel_unanswered(struct db_result *r)
{
	r->status = DB_LOST;
	snprintf(r->message, sizeof r->message, "server did not answer a cancel request within %d s",
		 DB_CANCEL_GRACE_S);
}

bool db_poll(PGconn *c, struct db_result *r)
{
	bool done = poll_results(c, r);
	if (done)
		vlog_result(c, r);
	return done;
}

void db_take_result(PGconn *c, PGresult *res, struct db_result *r)
{
	bool copy_out = false;
	take_result(c, res, r, &copy_out);
	if (copy_out)
		r->status = DB_LOST; /* as db_poll: nothing can follow a COPY to the client */
	vlog_result(c, r);
}

void db_result_lost(PGconn *c, struct db_result *r)
{
	lost(c, r);
}

const char *db_result_text(const struct db_result *r, char *buf, size_t len)
{
	if (r->sqlstate[0])
		snprintf(buf, len, "%s: %s", r->sqlstate, r->message);
	else
		snprintf(buf, len, "%s", r->message[0] ? r->message : "ok");
	return buf;
}

/* dsn as libpq's PQconninfoParse reads it, NULL when it does not parse. */
static PQconninfoOption *parse_dsn(const char *dsn)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
	PQfreemem(errmsg);
	return opts;
}

/* a and b (both from parse_dsn) differ in the password and in nothing else. */
static bool only_password_differs(const PQconninfoOption *a, const PQconninfoOption *b)
{
	bool differs = false;
	for (; a->keyword && b->keyword; a++, b++) {
		bool same = (!a->val && !b->val) || (a->val && b->val && !strcmp(a->val, b->val));
		if (!strcmp(a->keyword, "password"))
			differs = !same;
		else if (!same)
			return false;
	}
	return differs;
}

/* A byte other than c that keeps an encoding around it valid: another hex
 * digit for a hex digit (so "%41" stays a percent-escape), else x or y. */
static char other_byte(char c)
{
	if (isxdigit((unsigned char)c))
		return c == '0' ? '1' : '0';
	return c == 'x' ? 'y' : 'x';
}

/* Marks in hit[] the bytes of the NUL-terminated s that carry the password
 * libpq reads from s: the bytes whose change changes that password and
 * nothing else, and every byte between the first and last of those. The encoding (URI percent-escapes, quotes, backslash
 * escapes, a percent-encoded key such as pass%77ord) is libpq's business,
 * never parsed here. */
static void find_password(char *s, bool *hit)
{
	PQconninfoOption *base = parse_dsn(s);
	if (!base)
		return;
	size_t first = SIZE_MAX, last = 0;
	for (size_t k = 0; s[k]; k++) {
		char keep = s[k];
		s[k] = other_byte(keep);
		PQconninfoOption *changed = parse_dsn(s);
		if (changed && only_password_differs(base, changed)) {
			first = k < first ? k : first;
			last = k;
		}
		if (changed)
			PQconninfoFree(changed);
		s[k] = keep;
	}
	PQconninfoFree(base);
	/* The password is one run of bytes: the digits of a percent-escape
	 * and the backslashes of escapes between its first and last byte go
	 * too, or they would show its shape (%40's 4). */
	for (size_t k = first; k != SIZE_MAX && k <= last; k++)
		hit[k] = true;
}

void db_mask_password(char *dsn)
{
	if (!dsn)
		return;
	/* libpq uses the last password it reads; an earlier one (a URI's
	 * user:password@ before ?password=, or password= twice) is the
	 * password of a prefix that ends where an option does. */
	size_t len = strlen(dsn);
	bool *hit = calloc(len + 1, sizeof *hit);
	if (!hit)
		abort();
	for (size_t end = 1; end <= len; end++) {
		if (end < len && !strchr(" \t\n&?", dsn[end]))
			continue;
		char keep = dsn[end];
		dsn[end] = '\0';
		find_password(dsn, hit);
		dsn[end] = keep;
	}
	for (size_t k = 0; k < len; k++)
		if (hit[k])
			dsn[k] = 'x';
	free(hit);
}
