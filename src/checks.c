/* checks.c: the built-in checks a step may run (checks.h): catalog reads
 * in the sandbox and amcheck. Each fills a struct check_try as a query
 * would, plus its own account (note) and whether it could look at
 * anything (unchecked). Calls db only. */
#include "checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* amcheck over every valid btree index of the sandbox. An amcheck installed
 * for good (outside any pgrace sandbox) is used as it is. Otherwise the
 * extension is created in the sandbox inside a transaction that is rolled
 * back after the check, so it never outlives the check nor shows to another
 * run; an advisory lock makes concurrent runs take turns (there is one
 * amcheck per database). No amcheck, or no index to verify, is a check that
 * checked nothing: t->unchecked. */
static void run_amcheck(PGconn *admin, const char *sandbox, struct check_try *t)
{
	char sql[1024], text[600];
	struct db_result rb, *r = &t->r;
	const char *schema[1] = {sandbox};
	bool own = false;
	db_query(admin,
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
		snprintf(ext_schema, sizeof ext_schema, "%s", sandbox);
		snprintf(sql, sizeof sql,
			 "BEGIN; SELECT pg_advisory_xact_lock(%lld); CREATE EXTENSION amcheck SCHEMA %s",
			 0x7067726163656bLL, sandbox);
		db_query(admin, sql, 0, NULL, 0, r);
		if (r->status != DB_OK) {
			snprintf(t->note, sizeof t->note, "amcheck is not available (%s)",
				 db_result_text(r, text, sizeof text));
			db_query(admin, "ROLLBACK", 0, NULL, 0, &rb);
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
	db_query(admin, sql, 1, schema, 0, r);
	if (own)
		db_query(admin, "ROLLBACK", 0, NULL, 0, &rb);
	if (r->status != DB_OK)
		return;
	t->unchecked = r->rows == 0;
	if (t->unchecked)
		snprintf(t->note, sizeof t->note, "the sandbox has no valid btree index to verify");
	else
		snprintf(t->note, sizeof t->note, "%lld btree indexes verified against the heap",
			 r->rows);
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
static bool catalog_text(PGconn *admin, const char *sql, const char *oid, char *out, size_t len,
			 struct db_result *r)
{
	const char *args[1] = {oid};
	db_query(admin, sql, 1, args, 0, r);
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
static void check_unique(PGconn *admin, const char *sandbox, const struct step *st, struct db_result *r,
			 char *note, size_t notelen)
{
	static const char cut[] = "CASE WHEN length(s) > 60 THEN left(s, 57) || '...' ELSE s END";
	static const struct {
		char kind;
		const char *what;
	} others[] = {{'c', "a CHECK constraint"},
		      {'f', "a FOREIGN KEY constraint"},
		      {'x', "an EXCLUDE constraint"},
		      {'t', "a constraint trigger"},
		      {'n', "a NOT NULL constraint"}};
	static const struct {
		char relkind;
		const char *what;
	} rels[] = {{'r', "a table"},          {'p', "a partitioned table"},
		    {'v', "a view"},           {'m', "a materialized view"},
		    {'S', "a sequence"},       {'f', "a foreign table"},
		    {'c', "a composite type"}, {'t', "a TOAST table"}};
	const char *args[4] = {sandbox, st->check_arg, st->check_table, st->check_cols};
	char kind[4] = "", flags[8] = "", idx[24] = "", rel[24] = "", table[64] = "", cols[64] = "",
	     pred[64] = "", sql[512];
	db_query(admin, unique_sql, 4, args, 0, r);
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
		 kind[0] == 'p'   ? "primary key"
		 : kind[0] == 'u' ? "unique constraint"
				  : "",
		 kind[0] != 'i' ? ""
		 : !unique      ? "index"
		 : expr         ? "unique expression index"
				: "unique index");
	if (partial) {
		snprintf(sql, sizeof sql,
			 "SELECT %s FROM (SELECT pg_get_expr(indpred, indrelid, true) AS s "
			 "FROM pg_index WHERE indexrelid = $1::oid) AS x",
			 cut);
		if (!catalog_text(admin, sql, idx, pred, sizeof pred, r))
			return;
	}
	if (valid && unique && on_table && on_cols) {
		r->rows = r->affected = 1;
		snprintf(note, notelen, "%s is a valid %s%s%s", st->check_arg, what,
			 partial ? " WHERE " : "", pred);
		return;
	}
	size_t len = (size_t)snprintf(note, notelen, "%s (%s %s%s%s) ", st->check_arg, article(what),
				      what, partial ? " WHERE " : "", pred);
	const char *sep = "";
	if (!on_table || !on_cols) {
		snprintf(sql, sizeof sql,
			 "SELECT %s FROM (SELECT string_agg(pg_get_indexdef(indexrelid, k, true), ', ' "
			 "ORDER BY k) AS s FROM pg_index, generate_series(1, indnkeyatts) AS k "
			 "WHERE indexrelid = $1::oid) AS x",
			 cut);
		if (!catalog_text(admin, "SELECT relname::text FROM pg_class WHERE oid = $1::oid", rel,
				  table, sizeof table, r) ||
		    !catalog_text(admin, sql, idx, cols, sizeof cols, r))
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

void checks_run(PGconn *admin, const char *schema, const struct step *st, struct check_try *t)
{
	const char *args[2] = {schema, st->check_arg};
	struct db_result *r = &t->r;
	switch (st->kind) {
	case STEP_CHECK_INVALID_INDEXES:
		db_query(admin,
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
		db_query(admin,
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
		check_unique(admin, schema, st, r, t->note, sizeof t->note);
		return;
	case STEP_CHECK_AMCHECK:
		run_amcheck(admin, schema, t);
		return;
	case STEP_SQL:
	case STEP_MIGRATE_UP:
	case STEP_MIGRATE_DOWN:
		break;
	}
}

struct missing {
	PGconn *admin;
	const char *schema;
	char **names;
	size_t n;
};

static void find_missing(void *ctx, const char *name)
{
	struct missing *m = ctx;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->names[i], name))
			return;
	const char *args[2] = {m->schema, name};
	struct db_result r;
	db_query(
		m->admin,
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

void checks_missing_names(PGconn *admin, const char *schema, const struct phase *p, struct name_list *out)
{
	struct missing m = {.admin = admin, .schema = schema};
	judge_constraint_names(p, find_missing, &m);
	out->names = (const char *const *)m.names;
	out->n = m.n;
}

void checks_free_names(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->names[i]);
	free((void *)l->names);
	l->names = NULL;
	l->n = 0;
}
