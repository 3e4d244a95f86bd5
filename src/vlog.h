/* vlog.h: the --verbose log, every statement a worker sends and what came
 * back, one line each (as psql -e and pgbench's debug log):
 *
 *   2025-01-02T03:04:05.678901Z worker d round 7: sent: INSERT ... [$1='7', $2='1']
 *   2025-01-02T03:04:05.679342Z worker d round 7: result: 23505 (uq_x): duplicate key ...
 *
 * The engines tag each worker's connection once (vlog_conn) and say which
 * round is running (vlog_round); the libpq edge (db.c) logs what is sent
 * and received on tagged connections. Lines go out whole under a lock, so
 * threads never interleave within one; each is scrubbed of every password
 * (secret_scrub) and of control characters. Off (the default), every call
 * costs one atomic load. */
#ifndef PGRACE_VLOG_H
#define PGRACE_VLOG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

struct db_result;

/* Starts logging to out (stderr, or a --log file the caller opened). */
void vlog_open(FILE *out);
/* Ends logging: flushes; closes out unless it is stderr. */
void vlog_close(void);
/* The log is on. */
bool vlog_on(void);
/* Names c's statements in the log, e.g. "worker d" (NULL label: forget c). */
void vlog_conn(PGconn *c, const char *label);
/* vlog_conn(c, "worker d") for worker id 3: workers named as everywhere
 * (order_worker_name: a, b, ..., z, aa, ...). */
void vlog_worker(PGconn *c, int id);
/* The round now running (< 0: free run, shown as "-"). */
void vlog_round(long long round);
/* Logs a statement sent on c (sql NULL: the prepared statement stmt). */
void vlog_sent(PGconn *c, const char *stmt, const char *sql, int nparams,
	       const char *const *params);
/* Logs the result of the latest statement sent on c. */
void vlog_result(PGconn *c, const struct db_result *r);

#endif
