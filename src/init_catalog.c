/* init_catalog.c: `pgrace init`'s catalog read (libpq, at the edge).
 *
 * Only the catalog is read: pg_class, pg_attribute, pg_attrdef,
 * pg_constraint, pg_index, pg_trigger, pg_depend and the pg_get_*def()
 * functions, with the session's search_path set to the table's schema so
 * that what they print is unqualified and lands in pgrace's sandbox when the
 * scenario runs. The table's rows are never read nor written. What cannot
 * be copied faithfully is refused (exit 2) or recorded for the writer to
 * say in the file. */
#include "init.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static char *dup_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : mem_strdup(PQgetvalue(res, row, col));
}

/* ---- the catalog ------------------------------------------------------ */

static PGresult *query(PGconn *c, const char *sql, int n, const char *const *params, char *err,
		       size_t errlen)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	snprintf(err, errlen, "catalog query failed: %s", PQerrorMessage(c));
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ' ';
	PQclear(res);
	return NULL;
}

static void push(char ***list, size_t *n, char *s);

/* Columns of the table with oid oid into t; the enums they use into
 * m->types. A type pgrace cannot recreate in the sandbox (a domain, a
 * composite, an extension's type, anything of another schema) is refused:
 * the scenario would not run. */
static bool read_columns(PGconn *c, const char *oid, struct init_model *m, struct init_table *t,
			 bool *usage, char *err, size_t errlen)
{
	const char *params[1] = {oid};
	PGresult *res = query(
		c,
		"SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),"
		" pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.attidentity::text,"
		" a.attgenerated::text,"
		" EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique"
		"   AND a.attnum = ANY (i.indkey::int2[])),"
		" t.typtype::text, t.typnamespace = 'pg_catalog'::regnamespace,"
		" (SELECT 'CREATE TYPE ' || format_type(t.oid, NULL) || ' AS ENUM ('"
		"   || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) || ')'"
		"   FROM pg_enum e WHERE e.enumtypid = t.oid),"
		" (SELECT quote_literal(e.enumlabel) FROM pg_enum e WHERE e.enumtypid = t.oid"
		"   ORDER BY e.enumsortorder LIMIT 1)"
		" FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d"
		"   ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
		" WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped"
		" ORDER BY a.attnum",
		1, params, err, errlen);
	if (!res)
		return false;
	int n = PQntuples(res);
	t->cols = mem_calloc((size_t)n, sizeof *t->cols);
	for (int i = 0; i < n; i++) {
		const char *type = PQgetvalue(res, i, 1), *typtype = PQgetvalue(res, i, 7);
		bool builtin = !strcmp(PQgetvalue(res, i, 8), "t");
		bool is_enum = typtype[0] == 'e' && !strchr(type, '.');
		if (!builtin && !is_enum) {
			*usage = true;
			snprintf(err, errlen,
				 "column %s.%s has type %s, which pgrace init cannot recreate in the sandbox "
				 "(built-in types and enums of the table's schema only); write the scenario's "
				 "schema by hand",
				 t->name, PQgetvalue(res, i, 0), type);
			PQclear(res);
			return false;
		}
		struct init_column *col = &t->cols[t->n_cols++];
		col->name = mem_strdup(PQgetvalue(res, i, 0));
		col->type = mem_strdup(type);
		if (is_enum) {
			col->enum_first = mem_strdup(PQgetvalue(res, i, 10));
			const char *ddl = PQgetvalue(res, i, 9);
			bool known = false;
			for (size_t j = 0; j < m->n_types && !known; j++)
				known = !strcmp(m->types[j], ddl);
			if (!known)
				push(&m->types, &m->n_types, mem_strdup(ddl));
		}
		char *def = dup_or_null(res, i, 2);
		col->not_null = !strcmp(PQgetvalue(res, i, 3), "t");
		const char *ident = PQgetvalue(res, i, 4), *gen = PQgetvalue(res, i, 5);
		col->unique = !strcmp(PQgetvalue(res, i, 6), "t");
		col->kind = is_enum ? KIND_ENUM : init_kind_of(col->type);
		col->fk_parent = -1;
		if (ident[0] == 'a' || ident[0] == 'd') {
			col->identity = mem_strdup(ident[0] == 'a' ? "ALWAYS" : "BY DEFAULT");
			free(def);
		} else if (gen[0] == 's') {
			col->generated = def;
		} else if (def && !strncmp(def, "nextval(", 8)) {
			/* A serial column: its sequence is not ours to copy. */
			col->serial = true;
			col->identity = mem_strdup("BY DEFAULT");
			free(def);
		} else {
			col->def = def;
		}
	}
	PQclear(res);
	return true;
}

static void push(char ***list, size_t *n, char *s)
{
	char **grown = realloc(*list, sizeof **list * (*n + 1));
	if (!grown)
		abort();
	*list = grown;
	grown[(*n)++] = s;
}

int init_find_column(const struct init_table *t, const char *qname)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (!strcmp(t->cols[i].name, qname))
			return (int)i;
	return -1;
}

/* A parent table (an FK target): its columns and its own PRIMARY KEY,
 * UNIQUE and CHECK constraints (its foreign keys are left out). */
static int add_parent(PGconn *c, struct init_model *m, const char *oid, const char *name,
		      bool *usage, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_parents; i++)
		if (!strcmp(m->parents[i].name, name))
			return (int)i;
	struct init_table *grown = realloc(m->parents, sizeof *grown * (m->n_parents + 1));
	if (!grown)
		abort();
	m->parents = grown;
	struct init_table *p = &m->parents[m->n_parents++];
	memset(p, 0, sizeof *p);
	p->name = mem_strdup(name);
	if (!read_columns(c, oid, m, p, usage, err, errlen))
		return -1;
	const char *params[1] = {oid};
	PGresult *res = query(c,
			      "SELECT 'CONSTRAINT ' || quote_ident(conname) || ' ' ||"
			      " pg_get_constraintdef(oid) FROM pg_constraint"
			      " WHERE conrelid = $1::oid AND contype IN ('p', 'u', 'c')"
			      " ORDER BY contype DESC, conname",
			      1, params, err, errlen);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		push(&p->constraints, &p->n_constraints, mem_strdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return (int)(m->n_parents - 1);
}

__attribute__((format(printf, 4, 5))) static bool usage_fail(bool *usage, char *err,
							      size_t errlen, const char *fmt, ...)
{
	*usage = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

/* pg_get_indexdef() always qualifies the table ("ON public.t"): the index
 * must be made in the sandbox, so the schema goes. */
static char *unqualified(const char *def, const char *schema)
{
	char *out = mem_strdup(def);
	char pat[200];
	for (int only = 0; only < 2; only++) {
		snprintf(pat, sizeof pat, " ON %s%s.", only ? "ONLY " : "", schema);
		char *at = strstr(out, pat);
		if (at) {
			size_t cut = strlen(schema) + 1, keep = strlen(pat) - cut;
			memmove(at + keep, at + keep + cut, strlen(at + keep + cut) + 1);
			break;
		}
	}
	return out;
}

bool init_catalog(PGconn *c, const char *table, const char *const *keys, size_t n_keys,
		  struct init_model *m, bool *usage, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	*usage = false;
	PGresult *res = NULL;
	bool ok = false;
	const char *params[2] = {table, NULL};
	if (n_keys == 0 || n_keys > INIT_MAX_KEYS)
		return usage_fail(usage, err, errlen, "--key: give 1 to %d columns", INIT_MAX_KEYS);
	res = query(c,
		    "SELECT c.oid::text, quote_ident(n.nspname), quote_ident(c.relname), c.relkind::text"
		    " FROM pg_class c"
		    " JOIN pg_namespace n ON n.oid = c.relnamespace"
		    " WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
		    1, params, err, errlen);
	if (!res)
		goto out;
	if (PQntuples(res) != 1) {
		usage_fail(usage, err, errlen, "no table \"%s\" in the database (search_path: %s)",
			   table, "the connection's");
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "r")) {
		usage_fail(usage, err, errlen,
			   "%s is not a plain table (a partitioned table, view or foreign table): pgrace "
			   "init reads plain tables",
			   table);
		goto out;
	}
	char oid[32];
	snprintf(oid, sizeof oid, "%s", PQgetvalue(res, 0, 0));
	m->source_schema = mem_strdup(PQgetvalue(res, 0, 1));
	m->table.name = mem_strdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	/* What pg_get_*def() print is then unqualified. */
	char sql[256];
	snprintf(sql, sizeof sql, "SET search_path TO %s", m->source_schema);
	if (!(res = query(c, sql, 0, NULL, err, errlen)))
		goto out;
	PQclear(res);
	res = NULL;
	if (!read_columns(c, oid, m, &m->table, usage, err, errlen))
		goto out;

	/* The key: each name a column, given once. */
	char attnums[INIT_MAX_KEYS * 8 + 4] = "{";
	for (size_t i = 0; i < n_keys; i++) {
		const char *kp[2] = {oid, keys[i]};
		res = query(c,
			    "SELECT quote_ident(attname), attnum FROM pg_attribute WHERE attrelid = $1::oid"
			    " AND attname = $2 AND attnum > 0 AND NOT attisdropped",
			    2, kp, err, errlen);
		if (!res)
			goto out;
		if (PQntuples(res) != 1) {
			usage_fail(usage, err, errlen, "table %s has no column \"%s\"", m->table.name,
				   keys[i]);
			goto out;
		}
		int col = init_find_column(&m->table, PQgetvalue(res, 0, 0));
		for (size_t j = 0; j < i; j++)
			if (m->keys[j] == col) {
				usage_fail(usage, err, errlen, "--key: column \"%s\" given twice", keys[i]);
				goto out;
			}
		m->keys[m->n_keys++] = col;
		size_t len = strlen(attnums);
		snprintf(attnums + len, sizeof attnums - len, "%s%s", i ? "," : "",
			 PQgetvalue(res, 0, 1));
		PQclear(res);
		res = NULL;
	}
	snprintf(attnums + strlen(attnums), sizeof attnums - strlen(attnums), "}");

	/* Already unique: a valid, total unique index on a subset of the key. */
	const char *up[2] = {oid, attnums};
	res = query(c,
		    "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = $1::oid"
		    " AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL"
		    " AND i.indkey::int2[] <@ $2::int2[] ORDER BY 1 LIMIT 1",
		    2, up, err, errlen);
	if (!res)
		goto out;
	if (PQntuples(res) == 1) {
		usage_fail(usage, err, errlen,
			   "the key is already unique on %s: unique index %s covers it, there is no race "
			   "to gate",
			   m->table.name, PQgetvalue(res, 0, 0));
		goto out;
	}
	PQclear(res);

	/* Constraints (NOT NULL ones, pg 18, are in the columns already). */
	params[0] = oid;
	res = query(c,
		    "SELECT 'CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid),"
		    " c.contype::text, c.confrelid::text, quote_ident(p.relname),"
		    " cardinality(c.conkey),"
		    " (SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = c.conrelid"
		    "   AND attnum = c.conkey[1]),"
		    " (SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = c.confrelid"
		    "   AND attnum = c.confkey[1]),"
		    " p.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = c.conrelid)"
		    " FROM pg_constraint c LEFT JOIN pg_class p ON p.oid = c.confrelid"
		    " WHERE c.conrelid = $1::oid AND c.contype IN ('p', 'u', 'c', 'f', 'x')"
		    " ORDER BY c.contype DESC, c.conname",
		    1, params, err, errlen);
	if (!res)
		goto out;
	for (int i = 0; i < PQntuples(res); i++) {
		push(&m->table.constraints, &m->table.n_constraints, mem_strdup(PQgetvalue(res, i, 0)));
		if (strcmp(PQgetvalue(res, i, 1), "f") || !strcmp(PQgetvalue(res, i, 2), oid))
			continue; /* not a foreign key, or one to the table itself */
		if (strcmp(PQgetvalue(res, i, 7), "t")) {
			/* Its parent would be the real table, outside the sandbox. */
			usage_fail(usage, err, errlen,
				   "%s: a foreign key points at %s in another schema; pgrace init copies the "
				   "tables of the table's own schema only",
				   m->table.name, PQgetvalue(res, i, 3));
			goto out;
		}
		int p = add_parent(c, m, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), usage, err,
				   errlen);
		if (p < 0)
			goto out;
		if (!strcmp(PQgetvalue(res, i, 4), "1")) {
			int col = init_find_column(&m->table, PQgetvalue(res, i, 5));
			if (col >= 0 && m->table.cols[col].fk_parent < 0) {
				m->table.cols[col].fk_parent = p;
				m->table.cols[col].fk_column = mem_strdup(PQgetvalue(res, i, 6));
			}
		}
	}
	PQclear(res);

	/* A one-column primary key says which row is the oldest. */
	res = query(c,
		    "SELECT quote_ident(a.attname) FROM pg_constraint c JOIN pg_attribute a"
		    " ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
		    " WHERE c.conrelid = $1::oid AND c.contype = 'p' AND cardinality(c.conkey) = 1",
		    1, params, err, errlen);
	if (!res)
		goto out;
	if (PQntuples(res) == 1) {
		m->has_pk_column = true;
		m->pk_column = mem_strdup(PQgetvalue(res, 0, 0));
	}
	PQclear(res);

	/* Indexes that no constraint of the table owns. */
	res = query(c,
		    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = $1::oid"
		    " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid"
		    "   AND c.conindid = i.indexrelid) ORDER BY 1",
		    1, params, err, errlen);
	if (!res)
		goto out;
	for (int i = 0; i < PQntuples(res); i++)
		push(&m->table.indexes, &m->table.n_indexes,
		     unqualified(PQgetvalue(res, i, 0), m->source_schema));
	ok = true;
out:
	PQclear(res);
	if (!ok)
		init_model_free(m);
	return ok;
}

static void table_free(struct init_table *t)
{
	for (size_t i = 0; i < t->n_cols; i++) {
		struct init_column *c = &t->cols[i];
		free(c->name);
		free(c->type);
		free(c->def);
		free(c->identity);
		free(c->generated);
		free(c->fk_column);
		free(c->enum_first);
	}
	free(t->cols);
	for (size_t i = 0; i < t->n_constraints; i++)
		free(t->constraints[i]);
	free(t->constraints);
	for (size_t i = 0; i < t->n_indexes; i++)
		free(t->indexes[i]);
	free(t->indexes);
	free(t->name);
	memset(t, 0, sizeof *t);
}

void init_model_free(struct init_model *m)
{
	free(m->source_schema);
	table_free(&m->table);
	for (size_t i = 0; i < m->n_parents; i++)
		table_free(&m->parents[i]);
	free(m->parents);
	free(m->pk_column);
	for (size_t i = 0; i < m->n_types; i++)
		free(m->types[i]);
	free(m->types);
	memset(m, 0, sizeof *m);
}

