/* run.c: plays a scenario's phases in a sandbox schema and judges them.
 *
 * Setup errors (unreachable server, rejected schema SQL) end the run with a
 * message; what happens inside a race is data, counted and judged by the
 * scenario's expectations. The sandbox schema is dropped on every path. */
#include "run.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "db.h"
#include "judge.h"
#include "lockview.h"
#include "outside.h"
#include "race.h"
#include "sandbox.h"
#include "server.h"
#include "sqlscan.h"
#include "text.h"

extern char **environ;

int run_exit_code(enum verdict v)
{
	return judge_exit_code(v, db_stop_requested());
}

struct runner {
	const struct scenario *sc;
	const struct run_opts *opts;
	struct run_result *res;
	PGconn *admin;      /* setup, steps and cleanup; search_path = the sandbox */
	PGconn *owner;      /* holds the sandbox's owner lock (sandbox.h), runs nothing else */
	const char *admin_dsn; /* opts->admin_dsn, else opts->dsn */
	bool admin_pooled;  /* the admin connection goes through the transaction pooler */
	bool migrated;
	long long round;    /* global round counter: keys never repeat across phases */
	struct command_result *cmd; /* the last command's output (allocated on first use) */
	bool touched_outside; /* the last command changed the catalog outside the sandbox */
	const char *target_dsn[TARGETS_MAX]; /* the scenario's targets' conninfo ([0]: --dsn) */
};

/* How long a replica target may take to replay the setup before the first round. */
#define REPLAY_TIMEOUT_MS 60000

/* Ends the run: records why and the verdict it deserves. */
__attribute__((format(printf, 3, 4))) static void stop_run(struct runner *rn, enum verdict v,
							     const char *fmt, ...)
{
	struct run_result *res = rn->res;
	if (res->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
	res->verdict = verdict_worse(res->verdict, v);
}

static enum obs_status obs_status(enum db_status st)
{
	switch (st) {
	case DB_OK:
		return OBS_OK;
	case DB_ERROR:
		return OBS_ERROR;
	case DB_LOST:
		return OBS_LOST;
	case DB_TIMEOUT:
		return OBS_TIMEOUT;
	case DB_INTERRUPTED:
		break;
	}
	return OBS_INTERRUPTED;
}

/* Verdict for a query that failed outside a race and outside any step:
 * connection problems are the database's, anything else means the
 * scenario's SQL is wrong. */
static enum verdict setup_verdict(const struct db_result *r)
{
	if (db_stop_requested())
		return VERDICT_ERROR;
	return judge_setup_error(obs_status(r->status), r->sqlstate);
}

static bool retryable_step_error(const struct step *st, const struct db_result *r)
{
	for (int i = 0; r->status == DB_ERROR && i < st->n_retry_on; i++)
		if (!strcmp(r->sqlstate, st->retry_on[i]))
			return true;
	return false;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Runs a script of the scenario on the admin connection. When that goes
 * through a transaction pooler (pgbouncer hands each transaction any server
 * connection, but keeps one for the whole of a query message), the script is
 * sent in one message after a session SET of the search_path, which holds
 * past a COMMIT inside the script (SET LOCAL did not, and made the script one
 * transaction block), and RESET after it so the pool's connection does not
 * keep it. Statements that must run outside a transaction block cannot go
 * that way: check_pooled_scripts() refuses them before the run. */
static void admin_sql(struct runner *rn, const char *sql, struct db_result *r)
{
	if (!rn->admin_pooled) {
		db_query(rn->admin, sql, 0, NULL, 0, r);
		return;
	}
	char path[96];
	size_t len = strlen(sql) + 256;
	char *full = malloc(len);
	if (!full)
		abort();
	snprintf(full, len, "%s;\n%s\n;RESET search_path",
		 sandbox_path_sql(path, sizeof path, rn->res->schema, false), sql);
	db_query_trailed(rn->admin, full, 0, r);
	free(full);
}

/* A script's first statement that cannot run inside a transaction block,
 * as its line in the file; 0 when none. */
static int own_transaction_line(const struct sql_text *t)
{
	const char *pos = t->sql;
	struct sql_stmt st;
	while (t->sql && sql_next_stmt(t->sql, &pos, &st))
		if (sql_needs_own_transaction(&st))
			return t->line + st.line;
	return 0;
}

/* Through a transaction pooler without --admin-dsn, before any connection:
 * a script with a statement that cannot run inside a transaction block
 * (CREATE INDEX CONCURRENTLY, VACUUM) cannot be given the sandbox's
 * search_path (see admin_sql()): refused, exit 2, naming file:line. */
static bool check_pooled_scripts(struct runner *rn)
{
	const struct scenario *sc = rn->sc;
	const struct sql_text *setup[2] = {&sc->schema, &sc->seed};
	int line = 0;
	for (int i = 0; !line && i < 2; i++)
		line = own_transaction_line(setup[i]);
	for (size_t i = 0; !line && i < sc->n_phases; i++)
		for (size_t j = 0; !line && j < sc->phases[i].n_steps; j++)
			line = own_transaction_line(&sc->phases[i].steps[j].text);
	if (!line)
		return true;
	stop_run(rn, VERDICT_BAD_SCENARIO,
		 "%s:%d: this statement cannot run inside a transaction block, and through a "
		 "transaction pooler (--pooler) pgrace can give a script the sandbox's search_path "
		 "only in one; give --admin-dsn a connection that keeps its session (the server "
		 "itself, or a session-mode pool) for setup and steps",
		 sc->path, line);
	return false;
}

/* What one try of a step left: the query's result, and for a built-in
 * check its own account and whether it could look at anything. */
struct step_try {
	struct db_result r;
	char note[256];
	bool unchecked;
};

/* amcheck over every valid btree index of the sandbox. An amcheck installed
 * for good (outside any pgrace sandbox) is used as it is. Otherwise the
 * extension is created in the sandbox inside a transaction that is rolled
 * back after the check, so it never outlives the check nor shows to another
 * run; an advisory lock makes concurrent runs take turns (there is one
 * amcheck per database). No amcheck, or no index to verify, is a check that
 * checked nothing: t->unchecked. */
static void run_amcheck(struct runner *rn, struct step_try *t)
{
	char sql[1024], text[600];
	struct db_result rb, *r = &t->r;
	const char *schema[1] = {rn->res->schema};
	bool own = false;
	db_query(rn->admin,
		 "SELECT quote_ident(n.nspname) FROM pg_extension e "
		 "JOIN pg_namespace n ON n.oid = e.extnamespace "
		 "WHERE e.extname = 'amcheck' AND n.nspname NOT LIKE 'pgrace\\_%'",
		 0, NULL, 0, r);
	if (r->status != DB_OK)
		return;
	char ext_schema[64];
	snprintf(ext_schema, sizeof ext_schema, "%s", r->first_value);
	if (r->rows == 0) {
		own = true;
		snprintf(ext_schema, sizeof ext_schema, "%s", rn->res->schema);
		snprintf(sql, sizeof sql,
			 "BEGIN; SELECT pg_advisory_xact_lock(%lld); CREATE EXTENSION amcheck SCHEMA %s",
			 0x7067726163656bLL, rn->res->schema);
		db_query(rn->admin, sql, 0, NULL, 0, r);
		if (r->status != DB_OK) {
			snprintf(t->note, sizeof t->note, "amcheck is not available (%s)",
				 db_result_text(r, text, sizeof text));
			db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &rb);
			if (r->status == DB_ERROR)
				memset(r, 0, sizeof *r);
			t->unchecked = true;
			return;
		}
	}
	snprintf(sql, sizeof sql,
		 "SELECT c.relname::text, %s.bt_index_check(c.oid, true) FROM pg_index i "
		 "JOIN pg_class c ON c.oid = i.indexrelid "
		 "JOIN pg_namespace n ON n.oid = c.relnamespace "
		 "JOIN pg_am am ON am.oid = c.relam "
		 "WHERE n.nspname = $1 AND am.amname = 'btree' AND i.indisvalid",
		 ext_schema);
	db_query(rn->admin, sql, 1, schema, 0, r);
	if (own)
		db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &rb);
	if (r->status != DB_OK)
		return;
	t->unchecked = r->rows == 0;
	if (t->unchecked)
		snprintf(t->note, sizeof t->note, "the sandbox has no valid btree index to verify");
	else
		snprintf(t->note, sizeof t->note, "%lld btree indexes verified against the heap",
			 r->rows);
}

static bool command_outcome(const struct command *cmd, struct command_result *cr,
			    struct db_result *r);

/* Runs a scenario's command with the sandbox as its default schema; *r says
 * how it went as a query would (DB_ERROR: it failed, sqlstate what its
 * output names; DB_TIMEOUT / DB_INTERRUPTED: killed). False when it could
 * not even start (r->message says why). Its output stays in rn->cmd.
 * A command that changed the catalog outside the sandbox (outside.h) has
 * failed whatever its exit status: r says what changed, and
 * rn->touched_outside is set. */
static bool run_command(struct runner *rn, const struct command *cmd, struct db_result *r)
{
	struct outside_snap before, after;
	memset(r, 0, sizeof *r);
	rn->touched_outside = false;
	if (!rn->cmd && !(rn->cmd = malloc(sizeof *rn->cmd)))
		abort();
	struct command_result *cr = rn->cmd;
	memset(cr, 0, sizeof *cr);
	if (!outside_snapshot(rn->admin, 0, &before, r)) {
		char text[600];
		snprintf(r->message, sizeof r->message, "cannot read the catalog before the command: %s",
			 db_result_text(r, text, sizeof text));
		if (r->status == DB_ERROR) /* the database's fault, never the scenario's */
			r->status = DB_LOST;
		return true;
	}
	char **env = command_env(environ, rn->admin, rn->res->schema);
	command_run(cmd->argv, cmd->cwd, env,
		    clock_us() + (uint64_t)cmd->timeout_ms * 1000u, cr);
	command_argv_free(env);
	bool started = command_outcome(cmd, cr, r);
	struct db_result ar;
	if (!outside_snapshot(rn->admin, 0, &after, &ar)) {
		outside_free(&before);
		if (r->status == DB_OK || r->status == DB_ERROR) {
			char text[600];
			*r = ar;
			snprintf(r->message, sizeof r->message,
				 "cannot read the catalog after the command: %s",
				 db_result_text(&ar, text, sizeof text));
			if (r->status == DB_ERROR)
				r->status = DB_LOST;
		}
		return started;
	}
	char changed[400];
	if (outside_diff(&before, &after, changed, sizeof changed)) {
		char said[sizeof r->message];
		snprintf(said, sizeof said, "%s", r->status == DB_OK ? "" : r->message);
		r->status = DB_ERROR;
		r->sqlstate[0] = '\0';
		snprintf(r->message, sizeof r->message,
			 "changed the database outside the sandbox: %s%s%s", changed,
			 said[0] ? "; " : "", said);
		rn->touched_outside = true;
	}
	outside_free(&before);
	outside_free(&after);
	return started;
}

/* What a finished command means as a query result (run_command). */
static bool command_outcome(const struct command *cmd, struct command_result *cr,
			    struct db_result *r)
{
	switch (cr->status) {
	case CMD_OK:
		r->status = DB_OK;
		return true;
	case CMD_SPAWN_ERROR:
		r->status = DB_ERROR;
		snprintf(r->message, sizeof r->message, "%s", cr->why);
		return false;
	case CMD_TIMEOUT:
		r->status = DB_TIMEOUT;
		snprintf(r->message, sizeof r->message, "command \"%.200s\" %s", cmd->line, cr->why);
		return true;
	case CMD_INTERRUPTED:
		r->status = DB_INTERRUPTED;
		snprintf(r->message, sizeof r->message, "command \"%.200s\" interrupted: killed",
			 cmd->line);
		return true;
	case CMD_FAILED:
		break;
	}
	r->status = DB_ERROR;
	command_sqlstate(cr->err, r->sqlstate);
	if (!r->sqlstate[0])
		command_sqlstate(cr->out, r->sqlstate);
	/* The last lines of stderr (else stdout), on one line. */
	const char *said = command_last_lines(cr->err[0] ? cr->err : cr->out, 6);
	char ended[96];
	int n = snprintf(r->message, sizeof r->message, "command \"%.80s\" %s%s", cmd->line,
			 command_end_text(cr, cmd->shell, ended, sizeof ended), *said ? ":" : "");
	bool line_start = true;
	for (const char *c = said; *c && n >= 0 && (size_t)n + 4 < sizeof r->message; c++) {
		if (*c == '\n' || *c == '\r') {
			line_start = true;
			continue;
		}
		if (line_start) /* lines joined by " | ", blank ones dropped */
			n += snprintf(r->message + n, sizeof r->message - (size_t)n, "%s",
				      n && r->message[n - 1] == ':' ? " " : " | ");
		line_start = false;
		r->message[n++] = *c;
	}
	if (n >= 0 && (size_t)n < sizeof r->message)
		r->message[n] = '\0';
	return true;
}

/* What check: unique finds under the name, one line (see check_unique):
 * its kind (a contype, "i" for an index, "r" and a relkind for another
 * relation), flags (V valid, U unique, T on the table, C on the columns,
 * E expression index, P partial, D deferrable; "-" where not), the index's
 * and the table's oids. The constraint on the named table is preferred,
 * then a unique one, then a constraint over an index of the same name. */
static const char unique_sql[] =
	"WITH named AS ("
	" SELECT c.contype::text AS kind, c.conrelid AS rel, c.conindid AS idx,"
	"  c.condeferrable AS def, 0 AS pri"
	" FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
	" WHERE n.nspname = $1 AND c.conname = $2"
	" UNION ALL"
	" SELECT CASE WHEN k.relkind IN ('i', 'I') THEN 'i' ELSE 'r' || k.relkind::text END,"
	"  COALESCE(i.indrelid, 0), CASE WHEN i.indexrelid IS NULL THEN 0 ELSE k.oid END, false, 1"
	" FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace"
	" LEFT JOIN pg_index i ON i.indexrelid = k.oid"
	" WHERE n.nspname = $1 AND k.relname = $2"
	"), best AS ("
	" SELECT b.*, t.relname = $3 AS on_table FROM named b LEFT JOIN pg_class t ON t.oid = b.rel"
	" ORDER BY t.relname = $3 DESC NULLS LAST, b.kind IN ('u', 'p', 'i') DESC, b.pri LIMIT 1"
	")"
	" SELECT b.kind || ' '"
	" || CASE WHEN i.indisvalid THEN 'V' ELSE '-' END"
	" || CASE WHEN i.indisunique THEN 'U' ELSE '-' END"
	" || CASE WHEN b.on_table THEN 'T' ELSE '-' END"
	" || CASE WHEN cols.canon = $4 THEN 'C' ELSE '-' END"
	" || CASE WHEN i.indexprs IS NOT NULL THEN 'E' ELSE '-' END"
	" || CASE WHEN i.indpred IS NOT NULL THEN 'P' ELSE '-' END"
	" || CASE WHEN b.def THEN 'D' ELSE '-' END"
	" || ' ' || b.idx::oid::bigint || ' ' || b.rel::oid::bigint"
	" FROM best b LEFT JOIN pg_index i ON i.indexrelid = b.idx"
	" LEFT JOIN LATERAL ("
	"  SELECT string_agg(col, E'\\x1f' ORDER BY col COLLATE \"C\") AS canon FROM ("
	"   SELECT CASE WHEN i.indkey[k - 1] <> 0 THEN a.attname::text"
	"    ELSE regexp_replace(pg_get_indexdef(i.indexrelid, k, true), '\\s', '', 'g') END AS col"
	"   FROM generate_series(1, i.indnkeyatts) AS k"
	"   LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]"
	"  ) AS kc"
	" ) AS cols ON true";

/* One line about the catalog object oid (sql takes it as $1) into out: a
 * table's name, an index's columns or predicate, cut to fit db_result. */
static bool catalog_text(struct runner *rn, const char *sql, const char *oid, char *out,
			 size_t len, struct db_result *r)
{
	const char *args[1] = {oid};
	db_query(rn->admin, sql, 1, args, 0, r);
	if (r->status != DB_OK)
		return false;
	snprintf(out, len, "%s", r->first_value);
	return true;
}

/* "a" or "an" before what check_unique calls a thing ("index", "unique ..."). */
static const char *article(const char *what)
{
	return what[0] == 'i' ? "an" : "a";
}

/* check: unique NAME on TABLE (cols): rows = 1 when NAME, in the sandbox, is
 * a unique constraint, a primary key or a unique index (expression and
 * partial ones too), valid, on TABLE, over exactly those key columns (in
 * any order); note says which it is, or precisely what is there instead. */
static void check_unique(struct runner *rn, const struct step *st, struct db_result *r,
			 char *note, size_t notelen)
{
	static const char cut[] = "CASE WHEN length(s) > 60 THEN left(s, 57) || '...' ELSE s END";
	static const struct {
		char kind;
		const char *what;
	} others[] = {{'c', "a CHECK constraint"},   {'f', "a FOREIGN KEY constraint"},
		      {'x', "an EXCLUDE constraint"}, {'t', "a constraint trigger"},
		      {'n', "a NOT NULL constraint"}};
	static const struct {
		char relkind;
		const char *what;
	} rels[] = {{'r', "a table"},          {'p', "a partitioned table"}, {'v', "a view"},
		    {'m', "a materialized view"}, {'S', "a sequence"},         {'f', "a foreign table"},
		    {'c', "a composite type"},   {'t', "a TOAST table"}};
	const char *args[4] = {rn->res->schema, st->check_arg, st->check_table, st->check_cols};
	char kind[4] = "", flags[8] = "", idx[24] = "", rel[24] = "", table[64] = "", cols[64] = "",
	     pred[64] = "", sql[512];
	db_query(rn->admin, unique_sql, 4, args, 0, r);
	if (r->status != DB_OK)
		return;
	if (r->rows == 0) {
		snprintf(note, notelen, "%s does not exist", st->check_arg);
		r->affected = 0;
		return;
	}
	if (sscanf(r->first_value, "%3s %7s %23s %23s", kind, flags, idx, rel) != 4 ||
	    strlen(flags) != 7) {
		snprintf(note, notelen, "unreadable catalog answer \"%s\"", r->first_value);
		r->rows = r->affected = 0;
		return;
	}
	bool valid = flags[0] == 'V', unique = flags[1] == 'U', on_table = flags[2] == 'T',
	     on_cols = flags[3] == 'C', expr = flags[4] == 'E', partial = flags[5] == 'P',
	     deferrable = flags[6] == 'D';
	r->rows = r->affected = 0;
	if (kind[0] != 'u' && kind[0] != 'p' && kind[0] != 'i') {
		const char *what = "something else";
		for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
			if (kind[0] == others[i].kind && !kind[1])
				what = others[i].what;
		for (size_t i = 0; kind[0] == 'r' && i < sizeof rels / sizeof rels[0]; i++)
			if (kind[1] == rels[i].relkind)
				what = rels[i].what;
		snprintf(note, notelen, "%s is %s, not a unique constraint or index", st->check_arg,
			 what);
		return;
	}
	char what[64];
	snprintf(what, sizeof what, "%s%s%s%s", deferrable ? "deferrable " : "",
		 partial ? "partial " : "",
		 kind[0] == 'p' ? "primary key" : kind[0] == 'u' ? "unique constraint" : "",
		 kind[0] != 'i' ? "" : !unique ? "index" : expr ? "unique expression index" : "unique index");
	if (partial) {
		snprintf(sql, sizeof sql,
			 "SELECT %s FROM (SELECT pg_get_expr(indpred, indrelid, true) AS s "
			 "FROM pg_index WHERE indexrelid = $1::oid) AS x", cut);
		if (!catalog_text(rn, sql, idx, pred, sizeof pred, r))
			return;
	}
	if (valid && unique && on_table && on_cols) {
		r->rows = r->affected = 1;
		snprintf(note, notelen, "%s is a valid %s%s%s", st->check_arg, what,
			 partial ? " WHERE " : "", pred);
		return;
	}
	size_t len = (size_t)snprintf(note, notelen, "%s (%s %s%s%s) ", st->check_arg,
				      article(what), what, partial ? " WHERE " : "", pred);
	const char *sep = "";
	if (!on_table || !on_cols) {
		snprintf(sql, sizeof sql,
			 "SELECT %s FROM (SELECT string_agg(pg_get_indexdef(indexrelid, k, true), ', ' "
			 "ORDER BY k) AS s FROM pg_index, generate_series(1, indnkeyatts) AS k "
			 "WHERE indexrelid = $1::oid) AS x", cut);
		if (!catalog_text(rn, "SELECT relname::text FROM pg_class WHERE oid = $1::oid", rel,
				  table, sizeof table, r) ||
		    !catalog_text(rn, sql, idx, cols, sizeof cols, r))
			return;
		if (len < notelen)
			len += (size_t)snprintf(note + len, notelen - len, "is on %s%s (%s)",
						on_table ? "" : "table ", table, cols);
		sep = ", ";
	}
	if (!unique && len < notelen)
		len += (size_t)snprintf(note + len, notelen - len, "%sis not unique", sep), sep = ", ";
	if (!valid && len < notelen)
		snprintf(note + len, notelen - len, "%sis INVALID", sep);
	r->rows = r->affected = 0;
}

/* Runs the step's SQL or built-in check once. */
static void exec_step(struct runner *rn, const struct step *st, struct step_try *t)
{
	const char *args[2] = {rn->res->schema, st->check_arg};
	struct db_result *r = &t->r;
	t->note[0] = '\0';
	t->unchecked = false;
	switch (st->kind) {
	case STEP_SQL:
	case STEP_MIGRATE_UP:
	case STEP_MIGRATE_DOWN:
		if (st->text.command) {
			if (run_command(rn, st->text.command, r) && r->status == DB_OK)
				snprintf(t->note, sizeof t->note, "exit status 0");
		} else
			admin_sql(rn, st->text.sql, r);
		return;
	case STEP_CHECK_INVALID_INDEXES:
		db_query(rn->admin,
			 "SELECT c.relname::text FROM pg_index i "
			 "JOIN pg_class c ON c.oid = i.indexrelid "
			 "JOIN pg_namespace n ON n.oid = c.relnamespace "
			 "WHERE n.nspname = $1 AND NOT i.indisvalid ORDER BY 1",
			 1, args, 0, r);
		if (r->status == DB_OK && r->rows)
			snprintf(t->note, sizeof t->note, "invalid: %s%s", r->first_value,
				 r->rows > 1 ? " and more" : "");
		return;
	case STEP_CHECK_CONSTRAINT:
		db_query(rn->admin,
			 "SELECT c.contype::text FROM pg_constraint c "
			 "JOIN pg_namespace n ON n.oid = c.connamespace "
			 "WHERE n.nspname = $1 AND c.conname = $2 AND c.convalidated "
			 "AND (c.conindid = 0 OR EXISTS (SELECT 1 FROM pg_index i "
			 "WHERE i.indexrelid = c.conindid AND i.indisvalid))",
			 2, args, 0, r);
		if (r->status == DB_OK)
			snprintf(t->note, sizeof t->note, "constraint %s %s", st->check_arg,
				 r->rows ? "present and valid" : "absent or not valid");
		return;
	case STEP_CHECK_UNIQUE:
		check_unique(rn, st, r, t->note, sizeof t->note);
		return;
	case STEP_CHECK_AMCHECK:
		run_amcheck(rn, t);
		return;
	}
}

/* Runs the step, again after a retry_on error up to its retries; a
 * transaction the step's own SQL opened and left failed is rolled back, so
 * it cannot poison the next step. */
static void step_tries(struct runner *rn, const struct step *st, struct step_try *t,
		       long long *retries)
{
	for (*retries = 0;; ++*retries) {
		exec_step(rn, st, t);
		/* BEGIN; ...; COMMIT; as `alembic --sql` writes */
		if (PQtransactionStatus(rn->admin) == PQTRANS_INERROR) {
			struct db_result rb;
			db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &rb);
		}
		if (!retryable_step_error(st, &t->r) || *retries >= st->retries)
			return;
		pause_ms(100);
	}
}

/* An under_load step's writers: started before the step... */
static void load_start(struct runner *rn, struct race *race)
{
	race_free_start(race, rn->round + 1, false, 0);
	pause_ms(200); /* let the writers get going before the step */
}

/* ...and stopped after it, their figures in *o; false (the run stopped)
 * when they broke. */
static bool load_stop(struct runner *rn, const struct phase *p, const struct step *st,
		      struct race *race, struct step_obs *o)
{
	char err[1024];
	long long used = 0;
	struct race_totals t;
	memset(&t, 0, sizeof t);
	pause_ms(200); /* and keep them going after it */
	enum race_status rs = race_free_wait(race, true, &used, err, sizeof err);
	rn->round += used;
	if (rs != RACE_OK) {
		stop_run(rn, VERDICT_ERROR, "phase %s, %s, load: %s", p->name, st->label, err);
		return false;
	}
	race_totals(race, &t, NULL);
	o->stall_ms = (long long)(t.latency.max / 1000);
	o->load_attempts = t.attempts;
	o->load_ok = outcome_get(&t.outcomes, "ok") + outcome_get(&t.outcomes, "skipped");
	o->load_errors = t.attempts - o->load_ok;
	return true;
}

static void record_step(struct phase_result *ph, const struct step *st, const struct step_obs *o,
			double elapsed_s)
{
	struct step_result *sr = realloc(ph->steps, sizeof *sr * (ph->n_steps + 1));
	if (!sr)
		abort();
	ph->steps = sr;
	sr = &sr[ph->n_steps++];
	memset(sr, 0, sizeof *sr);
	snprintf(sr->label, sizeof sr->label, "%s", st->label);
	snprintf(sr->sqlstate, sizeof sr->sqlstate, "%s", o->status == OBS_OK ? "" : o->sqlstate);
	sr->rows = o->rows;
	sr->affected = o->affected;
	sr->retries = o->retries;
	sr->under_load = st->under_load;
	sr->stall_ms = o->stall_ms;
	sr->load_attempts = o->load_attempts;
	sr->load_errors = o->load_errors;
	sr->elapsed_s = elapsed_s;
}

/* Runs step i of phase p on the admin connection, under the phase's load
 * when it asks for it, and has it judged; false when the run must stop. */
static bool run_step(struct runner *rn, const struct phase *p, size_t i, struct phase_result *ph,
		     struct race *race)
{
	const struct step *st = &p->steps[i];
	struct step_try t;
	struct step_obs o = {0};
	char why[1024];
	if (st->under_load)
		load_start(rn, race);
	uint64_t t0 = clock_us();
	step_tries(rn, st, &t, &o.retries);
	double elapsed_s = (double)(clock_us() - t0) / 1e6;
	if (st->under_load && !load_stop(rn, p, st, race, &o))
		return false;
	o.status = obs_status(t.r.status);
	o.sqlstate = t.r.sqlstate;
	o.message = t.r.message;
	o.detail = t.r.detail;
	o.note = t.note;
	o.unchecked = t.unchecked;
	if (st->text.command) {
		o.command = true;
		o.not_started = t.r.status == DB_ERROR && rn->cmd->status == CMD_SPAWN_ERROR;
		o.output[0] = rn->cmd->err;
		o.output[1] = rn->cmd->out;
	}
	o.rows = t.r.rows;
	o.affected = t.r.affected;
	record_step(ph, st, &o, elapsed_s);
	enum verdict v = judge_step(rn->sc, st, i, &o, ph, why, sizeof why);
	if (o.status == OBS_OK && (st->kind == STEP_MIGRATE_UP || st->kind == STEP_MIGRATE_DOWN))
		rn->migrated = st->kind == STEP_MIGRATE_UP;
	if (st->text.command && rn->touched_outside && (v == VERDICT_PASS || v == VERDICT_FAIL)) {
		/* Whatever it expected: the user's data is not the run's to
		 * change, and the next command would change more. */
		ph->verdict = verdict_worse(ph->verdict, VERDICT_FAIL);
		stop_run(rn, VERDICT_FAIL, "%s:%d: phase %s, %s: %s", rn->sc->path, st->line,
			 p->name, st->label, t.r.message);
		return false;
	}
	if (v == VERDICT_PASS || v == VERDICT_FAIL)
		return true;
	if (v == VERDICT_ERROR)
		ph->broken = true;
	ph->verdict = verdict_worse(ph->verdict, v);
	stop_run(rn, v, "%s", why);
	return false;
}

/* The progress line on stderr (a terminal, not --quiet): phase, round,
 * rows per key, rounds with duplicates and the outcomes so far. */
static void progress(const struct runner *rn, const struct phase_result *ph, int total,
		     const struct outcome_table *so_far)
{
	if (!rn->opts->progress)
		return;
	/* At most ten lines a second, and always the last round's. */
	static uint64_t last_us;
	uint64_t now = clock_us();
	if (ph->rounds < total && now - last_us < 100000u)
		return;
	last_us = now;
	char outcomes[160] = "", safe_outcomes[160], name[21];
	size_t len = 0;
	for (size_t i = 0; i < so_far->n && len < sizeof outcomes; i++)
		len += (size_t)snprintf(outcomes + len, sizeof outcomes - len, " %s=%lld",
					so_far->label[i], so_far->count[i]);
	/* Names and labels may hold anything: escaped (text.h) before they
	 * reach the terminal. */
	text_escape(ph->name, sizeof ph->name, name, sizeof name);
	text_escape(outcomes, sizeof outcomes, safe_outcomes, sizeof safe_outcomes);
	fprintf(stderr, "\r\033[K%-20.20s round %d/%d  rows/key %lld..%lld  dup rounds %lld %s",
		name, ph->rounds, total, ph->rows_min, ph->rows_max, ph->rounds_with_duplicates,
		safe_outcomes);
	fflush(stderr);
}

/* Stops the run after a race that did not complete: the scenario's fault
 * (err names file:line) is a bad scenario, anything else breaks the phase. */
static void race_failed(struct runner *rn, const struct phase *p, struct phase_result *ph,
			enum race_status st, const char *where, const char *err,
			const struct race_totals *t)
{
	if (st == RACE_BAD) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "%s (phase %s, %s)", err, p->name, where);
		return;
	}
	ph->broken = true;
	long long deadlocks = t ? outcome_get(&t->outcomes, "40P01") : 0;
	if (deadlocks && strstr(err, "in deadlock with each other"))
		stop_run(rn, VERDICT_ERROR, "phase %s, %s: %s (40P01 so far in this phase: %lld)",
			 p->name, where, err, deadlocks);
	else
		stop_run(rn, VERDICT_ERROR, "phase %s, %s: %s", p->name, where, err);
}

/* What the round_setup query waits for when its deadline passes, asked
 * from a connection opened for that (the admin connection is busy, the
 * owner's runs nothing but its lock); "" behind a pooler, whose backend pid
 * means nothing. */
struct setup_watch {
	struct runner *rn;
	char what[256];
};

static void setup_at_deadline(PGconn *c, void *ctx)
{
	struct setup_watch *w = ctx;
	char err[512];
	if (w->rn->admin_pooled)
		return;
	PGconn *asker = db_connect(w->rn->admin_dsn, NULL, err, sizeof err);
	if (!asker)
		return;
	lockview_session_wait(asker, PQbackendPID(c), w->what, sizeof w->what);
	PQfinish(asker);
}

/* The round's round_setup, once per key, committed before the workers
 * start, all of it within the round's deadline (deadline_ms) as a flow
 * step is: past it the query is cancelled and the run stops (exit 3),
 * saying what it waited for; false when the run must stop. */
static bool round_setup(struct runner *rn, const struct phase *p, const struct sql_text *t,
			long long round, int phase_round, int keys, int deadline_ms)
{
	const struct scenario *sc = rn->sc;
	struct db_result r;
	struct key_values kv;
	struct setup_watch watch = {rn, ""};
	const struct db_watch dw = {setup_at_deadline, &watch};
	char why[512], text[600], sql[160];
	uint64_t deadline = clock_us() + (uint64_t)deadline_ms * 1000u;
	if (rn->admin_pooled) { /* the search_path lives in a transaction of our own */
		char path[96];
		snprintf(sql, sizeof sql, "BEGIN; %s",
			 sandbox_path_sql(path, sizeof path, rn->res->schema, true));
		db_query(rn->admin, sql, 0, NULL, deadline, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	for (int k = 0; k < keys; k++) {
		struct key_ctx ctx = {round, k, phase_round, 0};
		if (!key_eval(sc->params, sc->n_params, &ctx, &kv, why, sizeof why)) {
			stop_run(rn, VERDICT_BAD_SCENARIO, "%s:%d: params: %s (round %lld, key %d)",
				 sc->path, sc->params_line, why, round, k);
			return false;
		}
		db_query_watched(rn->admin, t->sql, t->nparams, kv.ptr, deadline, &dw, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	if (rn->admin_pooled) {
		db_query(rn->admin, "COMMIT", 0, NULL, deadline, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	return true;
failed:
	if (PQtransactionStatus(rn->admin) != PQTRANS_IDLE)
		db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &(struct db_result){0});
	if (r.status == DB_TIMEOUT) {
		char waited[300] = "";
		if (watch.what[0])
			snprintf(waited, sizeof waited, "; it was waiting on %s", watch.what);
		stop_run(rn, VERDICT_ERROR,
			 "%s:%d: phase %s, round_setup (round %lld) did not finish within the round's "
			 "deadline of %d ms and was cancelled%s (raise the phase's race: {deadline_ms: "
			 "N}, or --deadline-ms)",
			 sc->path, t->line, p->name, round, deadline_ms, waited);
		return false;
	}
	stop_run(rn, setup_verdict(&r), "%s:%d: phase %s, round_setup (round %lld): %s", sc->path,
		 t->line, p->name, round, db_result_text(&r, text, sizeof text));
	return false;
}

static bool race_rounds(struct runner *rn, const struct phase *p, struct race *race,
			const struct race_cfg *cfg, struct phase_result *ph, struct race_totals *t)
{
	char err[1024];
	const struct sql_text *setup = p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup;
	for (int i = 0; i < cfg->rounds; i++) {
		struct round_result rr;
		if (setup->sql &&
		    !round_setup(rn, p, setup, rn->round + 1, i, cfg->keys, cfg->deadline_ms)) {
			ph->broken = true;
			return false;
		}
		enum race_status st = race_round(race, ++rn->round, i, &rr, err, sizeof err);
		if (st != RACE_OK) {
			char where[160];
			snprintf(where, sizeof where, "round %d", i + 1);
			race_failed(rn, p, ph, st, where, err, t);
			return false;
		}
		ph->rounds++;
		if (ph->rows_min < 0 || rr.rows_min < ph->rows_min)
			ph->rows_min = rr.rows_min;
		if (rr.rows_max > ph->rows_max)
			ph->rows_max = rr.rows_max;
		if (rr.order[0] && !ph->fire_order[0]) {
			ph->fire_round = i + 1;
			snprintf(ph->fire_order, sizeof ph->fire_order, "%s", rr.order);
			memcpy(ph->fire_events, rr.events, rr.n_events * sizeof *rr.events);
			ph->n_fire_events = rr.n_events;
		}
		if (rr.keys_with_duplicates)
			ph->rounds_with_duplicates++;
		ph->extra_rows += rr.extra_rows;
		hist_record(&t->skew, rr.skew_us);
		race_totals(race, t, ph->per_key); /* the workers are parked between rounds */
		progress(rn, ph, cfg->rounds, &t->outcomes);
	}
	return true;
}

static bool round_setup(struct runner *rn, const struct phase *p, const struct sql_text *t,
			long long round, int phase_round, int keys, int deadline_ms);

struct order_setup {
	struct runner *rn;
	const struct phase *p;
	const struct sql_text *sql;
	const struct phase_result *ph;
	uint64_t t0;
	int deadline_ms; /* the round's, for its round_setup */
};

/* The interleave progress line on stderr (a terminal, not --quiet): orders
 * done of all, the duplicates so far, elapsed and an estimate of what is
 * left. At most ten lines a second, and always the last order's. */
static void order_progress(const struct order_setup *os, long long done)
{
	if (!os->rn->opts->progress)
		return;
	static uint64_t last_us;
	uint64_t now = clock_us();
	long long total = (long long)os->ph->ilv.n_orders, dups = 0;
	if (done < total && now - last_us < 100000u)
		return;
	last_us = now;
	for (long long i = 0; i < done && i < total; i++)
		dups += os->ph->ilv.orders[i].rows > 1;
	double elapsed = (double)(now - os->t0) / 1e6;
	char name[21], eta[32] = "";
	if (done > 0 && done < total)
		snprintf(eta, sizeof eta, ", about %.1f s left", elapsed / (double)done * (double)(total - done));
	text_escape(os->ph->name, sizeof os->ph->name, name, sizeof name);
	fprintf(stderr, "\r\033[K%-20.20s order %lld/%lld  dup orders %lld  %.1f s%s", name, done,
		total, dups, elapsed, eta);
	fflush(stderr);
}

/* Before an interleave order: the progress line, then the phase's
 * round_setup for its one key. */
static bool before_order(void *ctx, long long round, long long index)
{
	struct order_setup *os = ctx;
	order_progress(os, index);
	return !os->sql->sql ||
	       round_setup(os->rn, os->p, os->sql, round, (int)index, 1, os->deadline_ms);
}

/* The phase's race in interleave mode: its orders, one per round; false
 * when the run must stop. */
static bool race_interleave(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
			    struct phase_result *ph, struct race_totals *t)
{
	char err[1024];
	if (!ilv_plan(rn->sc, p, cfg, &ph->ilv, err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "%s", err);
		return false;
	}
	const struct run_opts *ro = rn->opts;
	if (ro->before_last_race && ro->last_phase && !strcmp(p->name, ro->last_phase) &&
	    !ro->before_last_race(ro->before_last_race_ctx, rn->admin, rn->res->schema, rn->round + 1,
				 err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "phase %s: %s", p->name, err);
		return false;
	}
	struct order_setup os = {rn, p, p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup,
				 ph, clock_us(), cfg->deadline_ms};
	enum race_status st = ilv_run(rn->opts->dsn, rn->res->schema, rn->opts->pooler, rn->sc,
				      cfg, &ph->ilv, &rn->round,
				      os.sql->sql || rn->opts->progress ? before_order : NULL, &os, t,
				      err, sizeof err);
	order_progress(&os, (long long)ph->ilv.n_orders);
	if (rn->opts->progress)
		fprintf(stderr, "\r\033[K");
	for (size_t i = 0; i < ph->ilv.n_orders; i++) {
		const struct ilv_order *o = &ph->ilv.orders[i];
		if (!o->executable)
			continue;
		ph->rounds++;
		if (ph->rows_min < 0 || o->rows < ph->rows_min)
			ph->rows_min = o->rows;
		if (o->rows > ph->rows_max)
			ph->rows_max = o->rows;
	}
	ph->rounds_with_duplicates = ph->ilv.with_duplicates;
	if (st != RACE_OK) {
		if (err[0]) /* else round_setup said why */
			race_failed(rn, p, ph, st, "interleave", err, t);
		else
			ph->broken = true;
		return false;
	}
	return true;
}

/* The phase's race free-running for --duration: measured, not judged. */
static bool race_free(struct runner *rn, const struct phase *p, struct race *race,
		      struct phase_result *ph)
{
	char err[1024];
	long long base = rn->round + 1, used = 0;
	uint64_t t0 = clock_us();
	race_free_start(race, base, rn->opts->hot, rn->opts->duration_ms);
	enum race_status st = race_free_wait(race, false, &used, err, sizeof err);
	ph->duration_s = (double)(clock_us() - t0) / 1e6;
	rn->round += used;
	if (st == RACE_OK && rn->opts->hot) {
		struct round_result rr;
		st = race_rows(race, base, &rr, err, sizeof err);
		ph->rows_min = rr.rows_min;
		ph->rows_max = rr.rows_max;
		ph->rounds_with_duplicates = rr.keys_with_duplicates > 0;
	}
	if (st != RACE_OK) {
		race_failed(rn, p, ph, st, "free run", err, NULL);
		return false;
	}
	return true;
}

/* Names of constraint.NAME metrics that name nothing in the sandbox. */
struct missing {
	struct runner *rn;
	char **names;
	size_t n;
};

static void find_missing(void *ctx, const char *name)
{
	struct missing *m = ctx;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->names[i], name))
			return;
	const char *args[2] = {m->rn->res->schema, name};
	struct db_result r;
	db_query(m->rn->admin,
		 "SELECT 1 FROM pg_namespace n WHERE n.nspname = $1 AND ("
		 "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.connamespace = n.oid AND c.conname = $2) "
		 "OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = $2 "
		 "AND c.relkind IN ('i', 'I')))",
		 2, args, 0, &r);
	if (r.status != DB_OK || r.rows > 0)
		return; /* present, or cannot tell: nothing to add */
	char **grown = realloc(m->names, sizeof *grown * (m->n + 1));
	if (!grown || !(grown[m->n] = strdup(name)))
		abort();
	m->names = grown;
	m->n++;
}

/* Runs a phase: its workers connect first (so steps can run under their
 * load), then the steps, then the race, then the checks. False when the run
 * must stop. */
static bool run_phase(struct runner *rn, const struct phase *p, struct phase_result *ph)
{
	const struct scenario *sc = rn->sc;
	struct race_cfg cfg = scenario_race(sc, p, &rn->opts->override);
	struct race *race = NULL;
	char err[1024];
	bool go_on = true;
	bool interleave = p->has_race && cfg.mode == MODE_INTERLEAVE;
	struct race_totals t;
	memset(&t, 0, sizeof t);
	hist_init(&t.latency);
	hist_init(&t.skew);
	if (p->has_race) {
		ph->mode = cfg.mode;
		ph->isolation = cfg.isolation;
		ph->workers = cfg.workers;
		ph->keys = cfg.keys;
		ph->rows_min = -1;
		ph->free_run = rn->opts->duration_ms > 0;
		if (interleave)
			ph->free_run = false; /* orders are rounds: --duration does not apply */
		if (cfg.keys > 1 && !ph->free_run) {
			ph->per_key = calloc((size_t)cfg.keys, sizeof *ph->per_key);
			if (!ph->per_key)
				abort();
			ph->n_per_key = (size_t)cfg.keys;
		}
		if (!interleave)
			race = race_open(rn->opts->dsn, rn->target_dsn, rn->res->schema,
					 rn->opts->pooler, sc, &cfg, err, sizeof err);
		if (!race && !interleave) {
			ph->broken = true;
			stop_run(rn, VERDICT_ERROR, "phase %s: %s", p->name, err);
			return false;
		}
		if (race && !rn->admin_pooled) /* through a pooler the pid names no backend */
			race_set_admin_pid(race, PQbackendPID(rn->admin));
	}
	for (size_t j = 0; go_on && j < p->n_steps; j++)
		go_on = run_step(rn, p, j, ph, race);
	ph->migrated = rn->migrated;
	if (go_on && interleave)
		go_on = race_interleave(rn, p, &cfg, ph, &t);
	else if (go_on && race)
		go_on = ph->free_run ? race_free(rn, p, race, ph)
				     : race_rounds(rn, p, race, &cfg, ph, &t);
	if (race) {
		race_join(race); /* a broken round may leave workers still finishing */
		race_totals(race, &t, ph->per_key);
		race_close(race);
	}
	if (rn->opts->progress && race)
		fprintf(stderr, "\r\033[K");
	if (!race && !interleave)
		return go_on;
	/* The rounds that completed count even when a later one broke; with
	 * none, rows_min stays -1: no rows were counted (reported as null). */
	ph->attempts = t.attempts;
	ph->retries = t.retries;
	ph->outcomes = t.outcomes;
	ph->constraints = t.constraints;
	ph->latency = t.latency;
	ph->skew_us_p50 = hist_percentile(&t.skew, 50);
	ph->skew_us_max = t.skew.max;
	/* Of the duplicates a round could leave (every worker but one per key
	 * inserting), the share it did leave. */
	long long room = (long long)ph->rounds * (ph->workers - ph->keys);
	ph->duplicate_yield = room > 0 ? (double)ph->extra_rows / (double)room : 0;
	ph->detect_us_p50 = hist_percentile(&t.detect, 50);
	ph->detect_us_max = t.detect.max;
	ph->coord_polls = t.polls;
	ph->coord_cpu_share = t.round_us ? (double)t.coord_cpu_us / (double)t.round_us : 0;
	if (ph->free_run && ph->duration_s > 0)
		ph->tps = (double)ph->attempts / ph->duration_s;
	if (cfg.mode == MODE_FIRE && !ph->free_run)
		ph->upper95 = stats_upper95(ph->rounds_with_duplicates, ph->rounds);
	if (outcome_get(&ph->outcomes, "ok") == 0)
		outcome_add(&ph->outcomes, "ok", 0);
	if (!go_on)
		return false;
	enum verdict v;
	char why[1024];
	if (ph->free_run) {
		v = judge_flow(sc, p, ph, why, sizeof why);
	} else {
		struct missing m = {.rn = rn};
		judge_constraint_names(p, find_missing, &m);
		struct name_list missing = {(const char *const *)m.names, m.n};
		v = judge_race(sc, p, cfg.mode, &missing, ph, why, sizeof why);
		for (size_t i = 0; i < m.n; i++)
			free(m.names[i]);
		free(m.names);
	}
	if (v == VERDICT_PASS || v == VERDICT_FAIL)
		return true;
	ph->verdict = verdict_worse(ph->verdict, v);
	stop_run(rn, v, "%s", why);
	return false;
}

/* Runs the setup SQL (schema, seed) of the scenario. */
static bool run_setup_sql(struct runner *rn, const char *what, const struct sql_text *t)
{
	if (!t->sql && !t->command)
		return true;
	struct db_result r;
	char text[600];
	if (t->command) {
		/* A failing schema or seed command is the scenario's (or its
		 * project's) fault, as rejected SQL is; a hung one the run's. */
		bool started = run_command(rn, t->command, &r);
		if (r.status == DB_OK)
			return true;
		enum verdict v = started && r.status != DB_ERROR ? VERDICT_ERROR : VERDICT_BAD_SCENARIO;
		stop_run(rn, rn->touched_outside ? VERDICT_FAIL : v, "%s:%d: %s: %s", rn->sc->path,
			 t->line, what, r.message);
		return false;
	}
	admin_sql(rn, t->sql, &r);
	if (r.status == DB_OK)
		return true;
	stop_run(rn, setup_verdict(&r), "%s:%d: %s: %s", rn->sc->path, t->line, what,
		 db_result_text(&r, text, sizeof text));
	return false;
}

/* Before any round: are there connections enough for the largest phase? */
static bool check_connections(struct runner *rn)
{
	const struct scenario *sc = rn->sc;
	int most = 0;
	const char *phase = NULL;
	for (size_t i = 0; i < sc->n_phases; i++) {
		if (!sc->phases[i].has_race)
			continue;
		struct race_cfg cfg = scenario_race(sc, &sc->phases[i], &rn->opts->override);
		if (cfg.workers > most) {
			most = cfg.workers;
			phase = sc->phases[i].name;
		}
	}
	if (!phase)
		return true;
	struct db_result r;
	char text[600];
	db_query(rn->admin,
		 "SELECT current_setting('max_connections')::int"
		 " - current_setting('superuser_reserved_connections')::int"
		 " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
		 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		stop_run(rn, VERDICT_ERROR, "cannot read max_connections: %s",
			 db_result_text(&r, text, sizeof text));
		return false;
	}
	long long free_slots = strtoll(r.first_value, NULL, 10);
	if (most + 1 > free_slots) {
		stop_run(rn, VERDICT_ERROR,
			 "phase %s needs %d connections (%d workers and a coordinator), but the server "
			 "has %lld free (raise max_connections or lower --workers)",
			 phase, most + 1, most, free_slots);
		return false;
	}
	return true;
}

/* Before anything runs: every racing phase must have an expectation that
 * applies in the mode it will race in, or it would judge nothing; a phase
 * that --mode interleave turns into an interleave phase must be one that
 * can be (no under_load steps, at most 4 workers, ...); an autocommit race
 * must race in fire mode. */
static bool check_modes(struct runner *rn)
{
	const struct scenario *sc = rn->sc;
	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *p = &sc->phases[i];
		if (!p->has_race)
			continue;
		struct race_cfg cfg = scenario_race(sc, p, &rn->opts->override);
		char why[512];
		int line = p->line;
		/* The loader refuses orders outside interleave mode: --mode must
		 * not drop them in silence either. */
		if (p->n_orders && cfg.mode != MODE_INTERLEAVE) {
			stop_run(rn, VERDICT_BAD_SCENARIO,
				 "%s:%d: phase %s: orders go with mode interleave: --mode %s would race "
				 "the phase without them (run it without --mode, or with --mode "
				 "interleave)",
				 sc->path, p->order_lines[0], p->name, mode_name(cfg.mode));
			return false;
		}
		if (cfg.mode == MODE_INTERLEAVE &&
		    !scenario_interleave_check(sc, p, &cfg, &line, why, sizeof why)) {
			stop_run(rn, VERDICT_BAD_SCENARIO, "%s:%d: %s", sc->path, line, why);
			return false;
		}
		const char *refusal = scenario_autocommit_refusal(&cfg, rn->opts->pooler);
		if (refusal) {
			stop_run(rn, VERDICT_BAD_SCENARIO, "%s:%d: phase %s: %s", sc->path, p->line,
				 p->name, refusal);
			return false;
		}
		/* A free run (--duration) measures, it judges nothing. */
		if (!rn->opts->duration_ms && judge_applicable(p, cfg.mode) == 0) {
			stop_run(rn, VERDICT_BAD_SCENARIO,
				 "%s:%d: phase %s races in mode %s, but every expectation of it is "
				 "limited to another mode: it would judge nothing (add one for %s, or "
				 "race it in the mode its expectations name)",
				 sc->path, p->line, p->name, mode_name(cfg.mode), mode_name(cfg.mode));
			return false;
		}
	}
	return true;
}

/* Names the sandbox and takes its owner lock (sandbox.h), before the
 * schema exists, so `pgrace clean` never sees it without an owner. The
 * lock lives on a connection of its own that runs nothing else: on the
 * admin connection a step's DISCARD ALL or pg_advisory_unlock_all() would
 * release it while the run lives. Behind a pooler it is held in an open
 * transaction there. A name whose lock is taken (another run's name hashes
 * alike) is replaced. */
static bool own_sandbox(struct runner *rn, char *err, size_t errlen)
{
	if (!rn->owner)
		rn->owner = db_connect(rn->admin_dsn, NULL, err, errlen);
	if (!rn->owner)
		return false;
	for (int tries = 0; tries < 3; tries++) {
		sandbox_name(rn->res->schema, sizeof rn->res->schema);
		int taken = sandbox_lock(rn->owner, rn->res->schema, rn->admin_pooled, err, errlen);
		if (taken != 0)
			return taken > 0;
	}
	snprintf(err, errlen, "cannot take a sandbox's owner lock: three names in a row were taken");
	return false;
}

/* Drops the sandbox, whatever state the run left (sandbox_drop); a
 * sandbox left behind makes the run an error, and says how to drop it. */
static void drop_schema(struct runner *rn)
{
	char err[600];
	/* 10 s covers a restart (pg_ctl restart: a few seconds of refused
	 * connections) without holding a dead server's run for long. */
	if (sandbox_drop(&rn->admin, rn->admin_dsn, rn->res->schema, clock_us() + 10u * 1000000u,
			 err, sizeof err))
		return;
	text_line(stderr, "pgrace: could not drop schema %s: %s (`pgrace clean` drops it once this run is gone)",
		  rn->res->schema, err);
	stop_run(rn, VERDICT_ERROR, "could not drop schema %s: %s", rn->res->schema, err);
	rn->res->verdict = verdict_worse(rn->res->verdict, VERDICT_ERROR);
}

void run_scenario(const struct scenario *sc, const struct run_opts *opts, struct run_result *res)
{
	struct runner rn = {.sc = sc, .opts = opts, .res = res};
	char err[1024], sql[160];
	uint64_t t0 = clock_us();
	memset(res, 0, sizeof *res);
	snprintf(res->scenario, sizeof res->scenario, "%s", sc->name);
	snprintf(res->file, sizeof res->file, "%s", sc->path);
	res->phases = calloc(sc->n_phases, sizeof *res->phases);
	if (!res->phases)
		abort();
	if (!check_modes(&rn)) {
		res->schema[0] = '\0';
		goto out;
	}

	rn.admin_dsn = opts->admin_dsn ? opts->admin_dsn : opts->dsn;
	rn.admin_pooled = opts->pooler && !opts->admin_dsn;
	if (rn.admin_pooled && !check_pooled_scripts(&rn)) {
		res->schema[0] = '\0';
		goto out;
	}
	rn.admin = db_connect(rn.admin_dsn, NULL, err, sizeof err);
	if (!rn.admin) {
		stop_run(&rn, VERDICT_ERROR, "cannot connect: %s", err);
		res->schema[0] = '\0';
		goto out;
	}
	struct db_result r;
	char text[600];
	struct server_info si;
	bool met = true;
	server_info_get(rn.admin, &si);
	snprintf(res->server_version, sizeof res->server_version, "%s", si.version);
	if (!server_check(rn.admin, &sc->requires, &si, &met, err, sizeof err)) {
		stop_run(&rn, VERDICT_ERROR, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}
	if (opts->admin_dsn) { /* two connections that must reach one database */
		enum verdict dv = server_same_database(rn.admin, opts->dsn, err, sizeof err);
		if (dv != VERDICT_PASS) {
			stop_run(&rn, dv, "%s", err);
			res->schema[0] = '\0';
			goto out;
		}
	}
	if (met) /* a target not given on the command line: skipped too */
		met = server_targets(sc, opts->dsn, opts->targets, opts->n_targets, rn.target_dsn, err,
				     sizeof err);
	if (met) { /* a "replica" that is the primary would pass what it cannot prove */
		enum verdict tv = server_check_replicas(rn.admin, sc, rn.target_dsn, err, sizeof err);
		if (tv != VERDICT_PASS) {
			stop_run(&rn, tv, "%s", err);
			res->schema[0] = '\0';
			goto out;
		}
	}
	if (!met) { /* not run, so not judged: skipped, with the reason */
		snprintf(res->skipped, sizeof res->skipped, "%s", err);
		res->verdict = VERDICT_SKIPPED;
		res->schema[0] = '\0';
		goto out;
	}
	if (!own_sandbox(&rn, err, sizeof err)) {
		stop_run(&rn, VERDICT_ERROR, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}
	char path[96];
	if (rn.admin_pooled) /* no session state: each script sets its own search_path */
		snprintf(sql, sizeof sql, "CREATE SCHEMA %s", res->schema);
	else
		snprintf(sql, sizeof sql, "CREATE SCHEMA %s; %s", res->schema,
			 sandbox_path_sql(path, sizeof path, res->schema, false));
	db_query(rn.admin, sql, 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		stop_run(&rn, VERDICT_ERROR, "cannot create the sandbox schema: %s",
			 db_result_text(&r, text, sizeof text));
		if (r.status == DB_ERROR) {
			res->schema[0] = '\0'; /* the server refused it: nothing of ours to drop */
			goto out;
		}
		goto drop; /* cancelled or lost on the way: it may exist all the same */
	}
	if (!server_create_extensions(rn.admin, res->schema, &sc->requires, err, sizeof err)) {
		stop_run(&rn, VERDICT_ERROR, "%s:%d: requires: %s", sc->path, sc->requires.line, err);
		goto drop;
	}
	if (!check_connections(&rn) || !run_setup_sql(&rn, "schema", &sc->schema) ||
	    !run_setup_sql(&rn, "seed", &sc->seed))
		goto drop;
	/* Replicas get the sandbox by replication: no round before they have it. */
	for (size_t t = 1; t < sc->n_targets; t++)
		if (!server_wait_replay(rn.admin, sc->targets[t], rn.target_dsn[t], res->schema,
					REPLAY_TIMEOUT_MS, err, sizeof err)) {
			stop_run(&rn, VERDICT_ERROR, "%s", err);
			goto drop;
		}

	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *p = &sc->phases[i];
		struct phase_result *ph = &res->phases[res->n_phases++];
		uint64_t p0 = clock_us();
		snprintf(ph->name, sizeof ph->name, "%s", p->name);
		ph->has_race = p->has_race;
		hist_init(&ph->latency);
		bool go_on = run_phase(&rn, p, ph);
		ph->elapsed_s = (double)(clock_us() - p0) / 1e6;
		res->verdict = verdict_worse(res->verdict, judge_phase(p, ph));
		if (!go_on || (opts->last_phase && !strcmp(p->name, opts->last_phase)))
			break;
		if (db_stop_requested()) {
			stop_run(&rn, VERDICT_ERROR, "%s", db_stop_text());
			break;
		}
	}
	res->complete = res->n_phases == sc->n_phases && !res->error[0];
	if (opts->duration_ms && res->verdict == VERDICT_PASS)
		res->verdict = VERDICT_MEASURED; /* nothing was judged: it did not "pass" */
drop:
	if (res->verdict == VERDICT_ERROR && !db_stop_requested())
		server_name_lost(sc, rn.target_dsn, res->error, sizeof res->error);
	drop_schema(&rn);
	if (res->verdict == VERDICT_ERROR) /* a replica promoted meanwhile keeps a copy */
		server_drop_on_promoted(sc, rn.target_dsn, res->schema);
out:
	free(rn.cmd);
	if (rn.admin)
		PQfinish(rn.admin);
	if (rn.owner) /* last: the lock outlives the schema */
		PQfinish(rn.owner);
	res->elapsed_s = (double)(clock_us() - t0) / 1e6;
}

void run_result_free(struct run_result *res)
{
	for (size_t i = 0; i < res->n_phases; i++) {
		free(res->phases[i].expects);
		free(res->phases[i].steps);
		free(res->phases[i].per_key);
		ilv_free(&res->phases[i].ilv);
	}
	free(res->phases);
	res->phases = NULL;
	res->n_phases = 0;
}
