/* db.h: the libpq edge: connect, run SQL with a deadline, capture errors.
 *
 * Every wait is bounded: connect_timeout on connect (non-blocking, so 0 in a
 * DSN means our 10 s, not forever), an absolute deadline on each query (past
 * it the query is cancelled: the cancel request is sent from a thread of its
 * own, and the query waits at most 3 s more for the answer), and the global
 * stop flag (SIGINT/SIGTERM) is polled at least every 50 ms in each. One
 * PGconn per thread, never shared. */
#ifndef PGRACE_DB_H
#define PGRACE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The deadline of a query that names none (deadline_us 0). */
#define DB_DEFAULT_DEADLINE_MS 60000

enum db_status {
	DB_OK,          /* the query (every statement of it) succeeded */
	DB_ERROR,       /* the server reported an error: see sqlstate */
	DB_LOST,        /* the connection is gone (libpq's own error, no SQLSTATE) */
	DB_TIMEOUT,     /* the deadline passed; the query was cancelled */
	DB_INTERRUPTED, /* the stop flag was raised; the query was cancelled */
};

/* What a query left: the last statement's rows and affected count, and the
 * first error with its diagnostics, copied out before PQclear. */
struct db_result {
	enum db_status status;
	long long rows;       /* tuples returned by the last statement that returned any */
	long long affected;   /* PQcmdTuples of the last statement */
	char sqlstate[6];     /* "" when none (libpq's own errors) */
	char constraint[64];  /* PG_DIAG_CONSTRAINT_NAME, "" when none */
	char message[512];    /* primary message, or libpq's error text */
	char detail[256];     /* PG_DIAG_MESSAGE_DETAIL, "" when none */
	char first_value[64]; /* first column of the first row, "" when none */
	int columns;          /* columns of the last statement that returned rows */
	bool first_null;      /* that first value is NULL (or there is none) */
};

/* Connects (conninfo or URI, else PG* variables) with search_path set to
 * schema when not NULL, after the startup options the connection has
 * without it (the DSN's options, else PGOPTIONS); on failure writes why to
 * err and returns NULL. The message never contains a password. */
PGconn *db_connect(const char *dsn, const char *schema, char *err, size_t errlen);
/* db_connect's first half, for a caller that drives many connections at
 * once: starts connecting (PQconnectStartParams, the same settings), and
 * sets *deadline_us (0: none yet) to the connect_timeout bound when that
 * is sooner. NULL with err when it could not even start. The caller polls
 * with PQconnectPoll (a PGRES_POLLING_WRITING wait first), then calls
 * db_connect_ready on success or db_connect_failed on failure. */
PGconn *db_connect_start(const char *dsn, const char *schema, uint64_t *deadline_us, char *err,
			 size_t errlen);
/* Why connection c failed, into err, its password masked. */
void db_connect_failed(PGconn *c, char *err, size_t errlen);
/* Finishes setting up connection c once it is made (its notices are not ours). */
void db_connect_ready(PGconn *c);
/* The timeout message of a connection started at start_us, into err. */
void db_connect_timeout(uint64_t start_us, char *err, size_t errlen);
/* db_connect without a schema that the stop flag does not end, and ends at
 * deadline_us (0: the connect_timeout alone): for cleanup after a signal. */
PGconn *db_connect_cleanup(const char *dsn, uint64_t deadline_us, char *err, size_t errlen);
/* Sends sql (several statements allowed when nparams is 0) and waits for
 * every result until deadline_us (clock_us() time; 0: DB_DEFAULT_DEADLINE_MS
 * from now, for pgrace's own queries; a scenario's statements get race's
 * timeout_ms, whose default is the same). COPY
 * from the client or to it fails (0A000) without hanging. */
void db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
	      uint64_t deadline_us, struct db_result *r);
/* Called once when a query's deadline passes while it still runs, before
 * the cancel: the moment to ask the server (from another connection) what
 * the query waits for. */
struct db_watch {
	void (*at_deadline)(PGconn *c, void *ctx);
	void *ctx;
};
/* db_query that calls watch->at_deadline at the deadline, before cancelling. */
void db_query_watched(PGconn *c, const char *sql, int nparams, const char *const *params,
		      uint64_t deadline_us, const struct db_watch *watch, struct db_result *r);
/* db_query of a script (no parameters) whose last statement is bookkeeping
 * (a RESET): rows, affected and first_value are those before it. */
void db_query_trailed(PGconn *c, const char *sql, uint64_t deadline_us, struct db_result *r);
/* One statement, always through the extended protocol, even without
 * parameters: the server refuses a string of several (42601). For flow
 * steps, which must never run more than the one statement they name. */
void db_statement(PGconn *c, const char *sql, int nparams, const char *const *params,
		  uint64_t deadline_us, struct db_result *r);
/* db_statement that keeps the rows: the statement's PGresult (the caller
 * PQclears it) when r->status is DB_OK, else NULL. */
PGresult *db_query_rows(PGconn *c, const char *sql, int nparams, const char *const *params,
			uint64_t deadline_us, struct db_result *r);
/* Prepares sql on c as stmt (PQsendPrepare), waiting until deadline_us. */
void db_prepare(PGconn *c, const char *stmt, const char *sql, int nparams, uint64_t deadline_us,
		struct db_result *r);
/* db_query of the statement prepared on c as stmt. */
void db_query_prepared(PGconn *c, const char *stmt, int nparams, const char *const *params,
		       uint64_t deadline_us, struct db_result *r);
/* db_query that the stop flag does not cancel: for cleanup after a signal. */
void db_query_cleanup(PGconn *c, const char *sql, uint64_t deadline_us, struct db_result *r);
/* The asynchronous face, for event loops driving many connections: a
 * query is started with db_send, read with db_poll whenever its socket is
 * readable, and past its deadline cancelled with db_cancel and
 * db_mark_cancelled; one still unanswered DB_CANCEL_GRACE_S seconds later
 * is given up (db_cancel_unanswered), as the blocking calls above do. */
#define DB_CANCEL_GRACE_S 3
/* How db_send sends. */
enum db_send_kind {
	DB_SEND_SCRIPT,   /* as db_query: several statements when no parameters */
	DB_SEND_ONE,      /* as db_statement: one statement, extended protocol */
	DB_SEND_PREPARE,  /* as db_prepare: sql prepared as stmt */
	DB_SEND_PREPARED, /* as db_query_prepared: the statement prepared as stmt */
};
/* Sends a query without waiting for it; clears *r. False (r says why) when
 * it could not be sent. In pipeline mode a script goes as one statement.
 * On a non-blocking c the caller flushes (PQflush). Finish it with db_poll(). */
bool db_send(PGconn *c, enum db_send_kind kind, const char *stmt, const char *sql, int nparams,
	     const char *const *params, struct db_result *r);
/* Reads what has arrived for the statement db_send() started, without
 * blocking: true once every result is in (*r holds them, as db_query's), false
 * while it still runs. A lost connection ends it (true, DB_LOST). */
bool db_poll(PGconn *c, struct db_result *r);
/* Asks the server to cancel what c runs (PQcancel, from a thread of its
 * own: the caller does not wait; the result still comes). */
void db_cancel(PGconn *c);
/* Waits until every cancel sent for c was delivered to its backend (at most
 * DB_CANCEL_GRACE_S seconds): an idle backend drops it, so it cannot cancel
 * the next statement. db_send does it; call it before sending on c by
 * other means. */
void db_cancel_settle(const PGconn *c);
/* *r becomes DB_INTERRUPTED (sig, the stop flag's signal) or DB_TIMEOUT:
 * what a cancelled query ends as, whatever the server answers. */
void db_mark_cancelled(int sig, struct db_result *r);
/* *r becomes DB_LOST: the server did not answer a cancel in time. */
void db_cancel_unanswered(struct db_result *r);
/* Folds one result into *r (the first error wins): for pipeline mode. */
void db_take_result(PGconn *c, PGresult *res, struct db_result *r);
/* Marks *r lost with c's error text (unless it holds a cancel already). */
void db_result_lost(PGconn *c, struct db_result *r);
/* "SQLSTATE: message" or the libpq error text, for messages. */
const char *db_result_text(const struct db_result *r, char *buf, size_t len);
/* Raises the process-wide stop flag (async-signal-safe). */
void db_request_stop(int signo);
/* The signal that raised the stop flag, 0 when none. */
int db_stop_requested(void);
/* "interrupted by SIGINT" (or SIGTERM): the one wording of every message
 * about the stop flag. */
const char *db_stop_text(void);
/* Overwrites, in place and at the same length, with 'x' every byte of
 * each password a conninfo string or URI gives, as libpq's own
 * PQconninfoParse reads it (percent-encodings, quotes and escapes
 * included); used on argv, so `ps` never shows it. */
void db_mask_password(char *dsn);

#endif
