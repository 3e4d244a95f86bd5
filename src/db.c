/* db.c: libpq wrappers with deadlines and cancellation. */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static atomic_int stop_signal;

void db_request_stop(int signo)
{
	atomic_store(&stop_signal, signo);
}

int db_stop_requested(void)
{
	return atomic_load(&stop_signal);
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

PGconn *db_connect(const char *dsn, const char *schema, char *err, size_t errlen)
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
		const char *user = getenv("PGOPTIONS");
		snprintf(options, sizeof options, "%s%s-c search_path=%s", user ? user : "",
			 user ? " " : "", schema);
		keys[n] = "options", vals[n++] = options;
	}
	keys[n] = NULL, vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		copy_field(err, errlen, PQerrorMessage(c));
		chomp(err);
		mask_value(err, PQpass(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
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

static void take_result(PGconn *c, PGresult *res, struct db_result *r)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
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
		break;
	default:
		take_error(c, res, r);
		break;
	}
}

static void cancel(PGconn *c)
{
	char buf[256];
	PGcancel *cn = PQgetCancel(c);
	if (cn) {
		PQcancel(cn, buf, sizeof buf);
		PQfreeCancel(cn);
	}
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

/* Sends sql (stmt NULL), prepares sql as stmt (both set), or runs the
 * statement prepared as stmt (sql NULL), and waits for every result. */
static void query(PGconn *c, const char *stmt, const char *sql, int nparams,
		  const char *const *params, uint64_t deadline_us, bool interruptible,
		  struct db_result *r)
{
	memset(r, 0, sizeof *r);
	if (deadline_us == 0)
		deadline_us = clock_us() + 60u * 1000000u;
	int sent = stmt && sql ? PQsendPrepare(c, stmt, sql, nparams, NULL)
		   : stmt	   ? PQsendQueryPrepared(c, stmt, nparams, params, NULL, NULL, 0)
		   : nparams > 0   ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
				   : PQsendQuery(c, sql);
	if (!sent) {
		lost(c, r);
		return;
	}
	bool cancelled = false;
	uint64_t grace = 0; /* after a cancel, how long we wait for the server to answer */
	for (;;) {
		if (!PQconsumeInput(c)) {
			lost(c, r);
			return;
		}
		while (!PQisBusy(c)) {
			PGresult *res = PQgetResult(c);
			if (!res)
				return;
			take_result(c, res, r);
			PQclear(res);
		}
		uint64_t now = clock_us();
		int sig = interruptible ? db_stop_requested() : 0;
		if (!cancelled && (sig || now >= deadline_us)) {
			cancel(c);
			cancelled = true;
			grace = now + 3u * 1000000u;
			r->status = sig ? DB_INTERRUPTED : DB_TIMEOUT;
			snprintf(r->message, sizeof r->message, "%s",
				 sig ? "interrupted by signal" : "deadline passed, query cancelled");
		} else if (cancelled && now >= grace) {
			r->status = DB_LOST;
			snprintf(r->message, sizeof r->message,
				 "server did not answer a cancel request within 3 s");
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

void db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
	      uint64_t deadline_us, struct db_result *r)
{
	query(c, NULL, sql, nparams, params, deadline_us, true, r);
}

void db_prepare(PGconn *c, const char *stmt, const char *sql, int nparams, uint64_t deadline_us,
		struct db_result *r)
{
	query(c, stmt, sql, nparams, NULL, deadline_us, true, r);
}

void db_query_prepared(PGconn *c, const char *stmt, int nparams, const char *const *params,
		       uint64_t deadline_us, struct db_result *r)
{
	query(c, stmt, NULL, nparams, params, deadline_us, true, r);
}

void db_query_cleanup(PGconn *c, const char *sql, uint64_t deadline_us, struct db_result *r)
{
	query(c, NULL, sql, 0, NULL, deadline_us, false, r);
}

const char *db_result_text(const struct db_result *r, char *buf, size_t len)
{
	if (r->sqlstate[0])
		snprintf(buf, len, "%s: %s", r->sqlstate, r->message);
	else
		snprintf(buf, len, "%s", r->message[0] ? r->message : "ok");
	return buf;
}

void db_mask_password(char *dsn)
{
	if (!dsn)
		return;
	/* URI form: scheme://user:password@host */
	char *scheme = strstr(dsn, "://");
	if (scheme) {
		char *userinfo = scheme + 3;
		char *at = strchr(userinfo, '@');
		char *colon = strchr(userinfo, ':');
		if (at && colon && colon < at)
			memset(colon + 1, 'x', (size_t)(at - colon - 1));
	}
	/* key=value form, and password= in a URI's query string */
	for (char *p = dsn; (p = strstr(p, "password")) != NULL;) {
		char *q = p + 8;
		while (*q == ' ')
			q++;
		if (*q != '=') {
			p = q;
			continue;
		}
		q++;
		while (*q == ' ')
			q++;
		char *end = q;
		if (*q == '\'') {
			end++;
			while (*end && *end != '\'')
				end += (end[0] == '\\' && end[1]) ? 2 : 1;
		} else {
			while (*end && *end != ' ' && *end != '&')
				end++;
		}
		memset(q, 'x', (size_t)(end - q));
		p = end;
	}
}
