/* attempt.c: what an attempt is, once, for every engine (attempt.h).
 *
 * Kept apart from the engines so that hold, fire and interleave cannot
 * disagree on what they send or what an answer means: they used to (an
 * exclusion violation counted for its constraint by one engine only; a rows
 * query of the wrong shape refused by one, read by the other; a flow step
 * sent as one statement by one, as a script by the other). */
#include "attempt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "sandbox.h"

const char *attempt_begin_sql(char *buf, size_t len, enum isolation iso, enum attempt_access access,
			      const char *pooler_schema)
{
	char path[96] = "";
	if (pooler_schema)
		sandbox_path_sql(path, sizeof path, pooler_schema, true);
	snprintf(buf, len, "BEGIN ISOLATION LEVEL %s%s%s%s%s", isolation_sql(iso),
		 access == ATTEMPT_READ_ONLY ? " READ ONLY" : "", pooler_schema ? "; " : "", path,
		 pooler_schema ? "; SELECT pg_backend_pid()" : "");
	return buf;
}

const char *attempt_stop_sql(bool commit)
{
	return commit ? "COMMIT" : "ROLLBACK";
}

const char *attempt_stmt_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "pgrace_flow_%d", i);
	return buf;
}

bool attempt_send_sql(PGconn *c, const char *script, struct db_result *res)
{
	return db_send(c, DB_SEND_SCRIPT, NULL, script, 0, NULL, res);
}

bool attempt_send_prepare(PGconn *c, const struct scenario *sc, int i, struct db_result *res)
{
	char stmt[32];
	return db_send(c, DB_SEND_PREPARE, attempt_stmt_name(stmt, sizeof stmt, i), sc->flow[i].text.sql,
		       sc->flow[i].text.nparams, NULL, res);
}

void attempt_prepare(PGconn *c, const struct scenario *sc, int i, uint64_t deadline_us,
		     struct db_result *res)
{
	char stmt[32];
	db_prepare(c, attempt_stmt_name(stmt, sizeof stmt, i), sc->flow[i].text.sql,
		   sc->flow[i].text.nparams, deadline_us, res);
}

bool attempt_send_step(PGconn *c, const struct scenario *sc, int i, bool prepared,
		       const char *const *params, struct db_result *res)
{
	char stmt[32];
	if (prepared)
		return db_send(c, DB_SEND_PREPARED, attempt_stmt_name(stmt, sizeof stmt, i), NULL,
			       sc->flow[i].text.nparams, params, res);
	return db_send(c, DB_SEND_ONE, NULL, sc->flow[i].text.sql, sc->flow[i].text.nparams, params, res);
}

void attempt_classify(const struct db_result *res, bool skipped, struct attempt_outcome *o)
{
	o->constraint[0] = '\0';
	o->message = "";
	if (res->status == DB_OK) {
		o->kind = skipped ? ATTEMPT_SKIPPED : ATTEMPT_OK;
		snprintf(o->name, sizeof o->name, "%s", skipped ? "skipped" : "ok");
		return;
	}
	o->message = res->message;
	if (res->status != DB_ERROR || !res->sqlstate[0]) {
		o->kind = ATTEMPT_LOST;
		snprintf(o->name, sizeof o->name, "lost");
		return;
	}
	o->kind = ATTEMPT_ERROR;
	snprintf(o->name, sizeof o->name, "%s", res->sqlstate);
	snprintf(o->constraint, sizeof o->constraint, "%s", res->constraint);
}

bool attempt_key(const struct scenario *sc, const struct key_ctx *ctx, struct key_values *out,
		 char *err, size_t errlen)
{
	char why[512];
	if (key_eval(sc->params, sc->n_params, ctx, out, why, sizeof why))
		return true;
	snprintf(err, errlen, "%s:%d: params: %s (round %lld, key %lld, worker %lld)", sc->path,
		 sc->params_line, why, ctx->round, ctx->key, ctx->worker);
	return false;
}

bool attempt_retryable(const struct db_result *res)
{
	return res->status == DB_ERROR && outcome_retryable(res->sqlstate);
}

void attempt_count(const struct attempt_outcome *o, const char *where, int line,
		   struct outcome_table *outcomes, struct outcome_table *constraints)
{
	outcome_add(outcomes, o->name, 1);
	if ((o->kind == ATTEMPT_ERROR || o->kind == ATTEMPT_LOST) && o->message && o->message[0]) {
		char msg[200];
		snprintf(msg, sizeof msg, "at %s: %s", where, o->message);
		outcome_note(outcomes, o->name, msg, line);
	}
	const char *label = attempt_constraint_label(o->kind == ATTEMPT_ERROR ? o->name : NULL,
						     o->constraint);
	if (label)
		outcome_add(constraints, label, 1);
}

const char *attempt_constraint_label(const char *sqlstate, const char *constraint)
{
	if (!sqlstate || strncmp(sqlstate, "23", 2) != 0)
		return NULL;
	if (constraint && constraint[0])
		return constraint;
	return outcome_names_constraint(sqlstate) ? "(none)" : NULL;
}

bool attempt_rows_open(PGconn *c, const char *pooler_schema, uint64_t deadline_us, char *err,
		       size_t errlen)
{
	if (!pooler_schema)
		return true;
	struct db_result res;
	char sql[160], path[96], text[320];
	snprintf(sql, sizeof sql, "BEGIN; %s", sandbox_path_sql(path, sizeof path, pooler_schema, true));
	db_query(c, sql, 0, NULL, deadline_us, &res);
	if (res.status == DB_OK)
		return true;
	snprintf(err, errlen, "rows query: %s", db_result_text(&res, text, sizeof text));
	return false;
}

bool attempt_rows_close(PGconn *c, const char *pooler_schema, bool ok, uint64_t deadline_us, char *err,
			size_t errlen)
{
	if (!pooler_schema)
		return true;
	struct db_result res;
	char text[320];
	db_query(c, attempt_stop_sql(ok), 0, NULL, deadline_us, &res);
	if (!ok || res.status == DB_OK)
		return true;
	snprintf(err, errlen, "rows query: %s", db_result_text(&res, text, sizeof text));
	return false;
}

enum attempt_rows_status attempt_rows(PGconn *c, const struct scenario *sc, const char *const *key,
				      uint64_t deadline_us, const struct db_watch *watch, long long *rows,
				      struct db_result *res, char *err, size_t errlen)
{
	const struct sql_text *q = &sc->rows;
	char text[320];
	db_query_watched(c, q->sql, q->nparams, key, deadline_us, watch, res);
	if (res->status != DB_OK) {
		enum obs_status os = res->status == DB_ERROR ? OBS_ERROR : OBS_LOST;
		bool bad = judge_setup_error(os, res->sqlstate) == VERDICT_BAD_SCENARIO;
		snprintf(err, errlen, "%s:%d: rows query failed: %s", sc->path, q->line,
			 db_result_text(res, text, sizeof text));
		return res->status == DB_INTERRUPTED ? ATTEMPT_ROWS_INTERRUPTED
		       : bad                         ? ATTEMPT_ROWS_BAD
						     : ATTEMPT_ROWS_BROKEN;
	}
	const char *why;
	if (attempt_rows_value(res, rows, &why))
		return ATTEMPT_ROWS_OK;
	snprintf(err, errlen,
		 "%s:%d: the rows query returned %s (\"%.40s\", %lld rows, %d columns): it must "
		 "return exactly one row with one integer column, the key's rows, such as "
		 "SELECT count(*) FROM t WHERE k = $1",
		 sc->path, q->line, why, res->first_value, res->rows, res->columns);
	return ATTEMPT_ROWS_BAD;
}

bool attempt_rows_value(const struct db_result *res, long long *rows, const char **why)
{
	char *end = NULL;
	*why = NULL;
	errno = 0;
	if (res->columns == 0)
		*why = "no result set (it must be a query)";
	else if (res->rows != 1)
		*why = res->rows == 0 ? "no row" : "more than one row";
	else if (res->columns != 1)
		*why = "more than one column";
	else if (res->first_null)
		*why = "NULL";
	else if ((*rows = strtoll(res->first_value, &end, 10), errno || end == res->first_value || *end))
		*why = "a value that is not an integer";
	else if (*rows < 0)
		*why = "a negative count";
	return *why == NULL;
}
