/* attempt.h: what an attempt is, once, for every engine.
 *
 * An attempt is one worker's try at the scenario's flow: BEGIN, the flow's
 * statements, COMMIT (or ROLLBACK after a failed statement), then the rows
 * query that says what it left. race.c and worker.c (hold, fire, free runs)
 * and interleave.c (every order) drive attempts their own way, but every
 * piece of SQL they send for one and every reading of its answer is here:
 * the BEGIN text, how a flow step is sent (prepared or as one statement),
 * the text that stops a transaction, what a result counts as (ok, skipped,
 * lost, or a SQLSTATE with the constraint any class-23 error names), and
 * the rows query with the one shape its answer may have, and an attempt's
 * key. Calls db, key, outcome,
 * judge (which setup errors are the scenario's fault) and sandbox (the
 * search_path statement); no engine state. */
#ifndef PGRACE_ATTEMPT_H
#define PGRACE_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "key.h"
#include "outcome.h"
#include "scenario.h"

/* A transaction's access mode. */
enum attempt_access { ATTEMPT_READ_WRITE, ATTEMPT_READ_ONLY };

/* "BEGIN ISOLATION LEVEL <iso>[ READ ONLY]" into buf (returned). With
 * pooler_schema (behind a transaction pooler, where the transaction is the
 * only state a worker owns) the text goes on to set the search_path in the
 * transaction and ask its backend pid, so the answer's first value is that
 * pid; NULL: BEGIN alone. */
const char *attempt_begin_sql(char *buf, size_t len, enum isolation iso, enum attempt_access access,
			      const char *pooler_schema);
/* How a transaction stops: "COMMIT" when commit, else "ROLLBACK". */
const char *attempt_stop_sql(bool commit);
/* The name flow step i is prepared under on a worker's connection. */
const char *attempt_stmt_name(char *buf, size_t len, int i);
/* Sends script (BEGIN, COMMIT, ROLLBACK text) on c without waiting; false
 * (res says why) when it could not be sent. Finish it with db_poll(). */
bool attempt_send_sql(PGconn *c, const char *script, struct db_result *res);
/* Sends the preparation of flow step i on c, without waiting. */
bool attempt_send_prepare(PGconn *c, const struct scenario *sc, int i, struct db_result *res);
/* Prepares flow step i on c and waits until deadline_us. */
void attempt_prepare(PGconn *c, const struct scenario *sc, int i, uint64_t deadline_us,
		     struct db_result *res);
/* Sends flow step i on c with the parameters it uses (the protocol refuses
 * extras), without waiting: the statement prepared by attempt_prepare when
 * prepared, else its text as one statement through the extended protocol
 * (never a string of several). False (res says why) when not sent. */
bool attempt_send_step(PGconn *c, const struct scenario *sc, int i, bool prepared,
		       const char *const *params, struct db_result *res);

/* Evaluates sc's params for ctx into out (an attempt's key); false with
 * err naming the file and line on an arithmetic error such as an overflow. */
bool attempt_key(const struct scenario *sc, const struct key_ctx *ctx, struct key_values *out,
		 char *err, size_t errlen);

/* What an attempt's final result counts as. */
enum attempt_kind {
	ATTEMPT_OK,      /* ran to COMMIT, which succeeded */
	ATTEMPT_SKIPPED, /* a skip_if_found step found a row; committed, nothing written */
	ATTEMPT_ERROR,   /* the server refused it: counted under its SQLSTATE */
	ATTEMPT_LOST,    /* no answer from the server: libpq's own error, a timeout */
};

/* An attempt's outcome, as the outcome tables count it. */
struct attempt_outcome {
	enum attempt_kind kind;
	char name[8];        /* "ok", "skipped", "lost" or the SQLSTATE */
	char constraint[64]; /* the constraint the error named, "" when none */
	const char *message; /* the error's text ("" when none): valid while res is */
};

/* Reads res, an attempt's final result (COMMIT's, or the failed
 * statement's), into *o; skipped: a skip_if_found step ended it. */
void attempt_classify(const struct db_result *res, bool skipped, struct attempt_outcome *o);
/* res ends a try that may be tried again: a serialization failure (40001)
 * or a deadlock (40P01). */
bool attempt_retryable(const struct db_result *res);
/* Counts o in outcomes (with its message as the label's sample, "at
 * <where>: <message>", and the scenario line of the statement behind it, 0
 * when none) and, when it names one, in constraints. */
void attempt_count(const struct attempt_outcome *o, const char *where, int line,
		   struct outcome_table *outcomes, struct outcome_table *constraints);
/* The label an outcome counts under in the constraint table: the constraint
 * a class-23 error names, "(none)" for a unique or exclusion violation that
 * names none; NULL when the outcome counts for no constraint. */
const char *attempt_constraint_label(const char *sqlstate, const char *constraint);

/* How a rows query ended. */
enum attempt_rows_status {
	ATTEMPT_ROWS_OK,
	ATTEMPT_ROWS_BAD,         /* the scenario's fault: wrong SQL or wrong shape (err: file:line) */
	ATTEMPT_ROWS_BROKEN,      /* the database or the deadline */
	ATTEMPT_ROWS_INTERRUPTED, /* the stop flag */
};

/* Behind a pooler, opens the transaction the rows queries run in (so the
 * search_path holds for each): false with err on failure. Without a pooler
 * (pooler_schema NULL) it does nothing. */
bool attempt_rows_open(PGconn *c, const char *pooler_schema, uint64_t deadline_us, char *err,
		       size_t errlen);
/* Ends what attempt_rows_open began: COMMIT when ok, else ROLLBACK; false
 * with err when the COMMIT failed. */
bool attempt_rows_close(PGconn *c, const char *pooler_schema, bool ok, uint64_t deadline_us, char *err,
			size_t errlen);
/* Runs sc's rows query on c for key until deadline_us (watch, when not
 * NULL, is called at the deadline before the query is cancelled): *rows is
 * the key's rows when the answer is exactly one row of one non-negative
 * integer column; any other shape, or SQL the server refuses as wrong, is
 * the scenario's fault (err names file:line). res keeps the answer. */
enum attempt_rows_status attempt_rows(PGconn *c, const struct scenario *sc, const char *const *key,
				      uint64_t deadline_us, const struct db_watch *watch, long long *rows,
				      struct db_result *res, char *err, size_t errlen);
/* The shape check alone: true with *rows set when res (a successful result)
 * is exactly one row of one non-negative integer column; else false with
 * *why saying what it was instead. */
bool attempt_rows_value(const struct db_result *res, long long *rows, const char **why);

#endif
