/* appstep.h: one protocol round trip of an application, as interleave mode
 * of an app flow reads it (app_interleave.h).
 *
 * Pure: no sockets, no server, no allocation. The proxy hands over the
 * bytes of a framed step (a Query, or an extended-protocol batch up to its
 * Sync) and gets back what a report and an isolation spec need: the SQL as
 * the application sent it with its bind parameters shown ("... WHERE id =
 * $1 -- $1 = '7'"), the same SQL with the parameters inlined as quoted
 * literals (the spec's step), the step's kind (its first keyword:
 * "select", "insert", "commit") and whether it is an interleaving point.
 *
 * Interleaving points: a step is one unless every statement in it touches
 * only the session (SET, SHOW, RESET, DISCARD, SAVEPOINT, RELEASE,
 * DEALLOCATE, BEGIN/START TRANSACTION, a SELECT of no table or of the
 * catalog only: a driver's introspection at connect). Such a step commutes
 * with every step of every other worker (it reads and writes nothing
 * another session sees, and BEGIN takes no snapshot and no lock), so
 * running it at once loses no order; ROLLBACK TO SAVEPOINT releases locks
 * and is a point. A COMMIT or ROLLBACK that ends a transaction in which no
 * point ran releases nothing another worker could wait on or see (the
 * proxy, which knows the transaction, makes it no point: see control). */
#ifndef PGRACE_APPSTEP_H
#define PGRACE_APPSTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APPSTEP_SQL_MAX 1024

/* What a step sent. */
struct appstep_desc {
	char shown[APPSTEP_SQL_MAX];   /* SQL as sent, parameters listed after it */
	char inlined[APPSTEP_SQL_MAX]; /* SQL with parameters as literals */
	char kind[16];                 /* first keyword, lower case; "sync" when no SQL */
	bool cut;                      /* a text did not fit: inlined is not the whole step */
	bool binary;                   /* a parameter in binary format: inlined is not exact */
	bool visible;                  /* an interleaving point */
	bool control;                  /* only transaction control (COMMIT, ROLLBACK [TO],
					  BEGIN) and session housekeeping: a point only when
					  its transaction made one before (the proxy knows) */
};

/* The SQL a Bind's statement name was prepared with, or NULL (ctx: the
 * caller's). */
typedef const char *(*appstep_lookup_fn)(void *ctx, const char *name);

/* Whether the SQL of one Query or Parse is an interleaving point (see above). */
bool appstep_interleaves(const char *sql);
/* The first keyword of sql, lower case, into buf ("" when none). */
void appstep_kind(const char *sql, char *buf, size_t len);
/* Describes the step of len bytes at buf (whole typed messages): a Query's
 * SQL, or each Execute's statement (from the batch's Parse, else lookup)
 * with the Bind's parameters; statements joined by "; ". Never reads past
 * len; a malformed message ends the description. */
void appstep_describe(const uint8_t *buf, size_t len, appstep_lookup_fn lookup, void *ctx,
		      struct appstep_desc *d);
/* val (n bytes; NULL: SQL NULL) as a SQL literal into out: 'it''s', or
 * E'...' with backslashes doubled when val holds one; false when it does
 * not fit. */
bool appstep_quote(const char *val, size_t n, char *out, size_t len);

#endif
