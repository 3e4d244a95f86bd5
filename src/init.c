/* init.c: `pgrace init`: the catalog read (libpq, at the edge) and the
 * scenario writer (pure).
 *
 * Only the catalog is read: pg_class, pg_attribute, pg_attrdef,
 * pg_constraint, pg_index and the pg_get_*def() functions, with the
 * session's search_path set to the table's schema so that what they print
 * is unqualified and lands in pgrace's sandbox when the scenario runs. The
 * table's rows are never read nor written. */
#include "init.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "mem.h"
#include "outfile.h"
#include "pgrace.h"
#include "secret.h"
#include "text.h"

#define SEED_ROWS 20000
#define UUID_BASE 100000000000LL /* 12 digits: the last group of a key's uuid */

static char *dup_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : mem_strdup(PQgetvalue(res, row, col));
}

bool init_flow_parse(const char *name, enum init_flow *out)
{
	static const char *const names[] = {"check-then-insert", "where-not-exists", "on-conflict"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum init_flow)i;
			return true;
		}
	return false;
}

enum init_kind init_kind_of(const char *type)
{
	static const struct {
		const char *prefix;
		enum init_kind kind;
	} kinds[] = {
		{"smallint", KIND_INT},  {"integer", KIND_INT},
		{"bigint", KIND_INT},    {"numeric", KIND_INT},
		{"text", KIND_TEXT},     {"character varying", KIND_TEXT},
		{"character", KIND_TEXT}, {"citext", KIND_TEXT},
		{"uuid", KIND_UUID},     {"boolean", KIND_BOOL},
		{"timestamp", KIND_TIME}, {"date", KIND_TIME},
		{"time", KIND_TIME},     {"jsonb", KIND_JSON},
		{"json", KIND_JSON},     {"bytea", KIND_BYTES},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = strlen(kinds[i].prefix);
		if (!strncmp(type, kinds[i].prefix, n) &&
		    (type[n] == '\0' || type[n] == '(' || type[n] == ' '))
			return kinds[i].kind;
	}
	return KIND_OTHER;
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

static int find_column(const struct init_table *t, const char *qname)
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
		int col = find_column(&m->table, PQgetvalue(res, 0, 0));
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
			int col = find_column(&m->table, PQgetvalue(res, i, 5));
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

/* ---- the writer (pure) ----------------------------------------------- */

void init_constraint_name(const struct init_model *m, char *buf, size_t len)
{
	char raw[512];
	size_t n = (size_t)snprintf(raw, sizeof raw, "uq_%s", m->table.name);
	for (size_t i = 0; i < m->n_keys && n < sizeof raw; i++)
		n += (size_t)snprintf(raw + n, sizeof raw - n, "_%s", m->table.cols[m->keys[i]].name);
	size_t w = 0;
	for (const char *p = raw; *p && w + 1 < len && w < 63; p++) {
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			ch = ch == '"' ? 0 : '_';
		if (ch)
			buf[w++] = ch;
	}
	buf[w] = '\0';
}

/* The value number n makes for a key column of kind k, as SQL over the
 * integer expression num ("g", "1"). */
static void key_sql(enum init_kind k, const char *num, char *buf, size_t len)
{
	if (k == KIND_TEXT)
		snprintf(buf, len, "'k' || %s", num);
	else if (k == KIND_UUID)
		snprintf(buf, len, "('00000000-0000-4000-8000-' || (%s + %lld))::uuid", num, UUID_BASE);
	else
		snprintf(buf, len, "%s", num);
}

/* A value for a NOT NULL column without a default. unique: it must differ
 * row by row (num, when not NULL, numbers the row). */
static bool fill_sql(const struct init_column *c, bool unique, const char *num, char *buf,
		     size_t len)
{
	switch (c->kind) {
	case KIND_INT:
		if (unique && num)
			snprintf(buf, len, "%s", num);
		else if (unique)
			snprintf(buf, len, "(random() * 1000000000)::%s", c->type);
		else
			snprintf(buf, len, "0");
		return true;
	case KIND_TEXT:
		if (unique && num)
			snprintf(buf, len, "'%s-' || %s", c->name[0] == '"' ? "v" : c->name, num);
		else if (unique)
			snprintf(buf, len, "gen_random_uuid()::text");
		else
			snprintf(buf, len, "'x'");
		return true;
	case KIND_UUID:
		snprintf(buf, len, "gen_random_uuid()");
		return true;
	case KIND_BOOL:
		snprintf(buf, len, "false");
		return !unique;
	case KIND_TIME:
		snprintf(buf, len, "now()::%s", c->type);
		return true;
	case KIND_JSON:
		snprintf(buf, len, "'{}'::%s", c->type);
		return !unique;
	case KIND_BYTES:
		snprintf(buf, len, "''::bytea");
		return !unique;
	case KIND_ENUM:
		snprintf(buf, len, "%s::%s", c->enum_first ? c->enum_first : "NULL", c->type);
		return !unique && c->enum_first;
	case KIND_OTHER:
		break;
	}
	return false;
}

/* Does the row pgrace inserts need a value for c? */
static bool needs_value(const struct init_column *c)
{
	return c->not_null && !c->def && !c->identity && !c->generated;
}

static void write_table(FILE *f, const struct init_table *t, bool with_indexes)
{
	fprintf(f, "  CREATE TABLE %s (\n", t->name);
	size_t items = t->n_cols + t->n_constraints;
	size_t k = 0;
	for (size_t i = 0; i < t->n_cols; i++, k++) {
		const struct init_column *c = &t->cols[i];
		fprintf(f, "      %s %s", c->name, c->type);
		if (c->identity)
			fprintf(f, " GENERATED %s AS IDENTITY", c->identity);
		if (c->generated)
			fprintf(f, " GENERATED ALWAYS AS (%s) STORED", c->generated);
		if (c->def)
			fprintf(f, " DEFAULT %s", c->def);
		if (c->not_null)
			fprintf(f, " NOT NULL");
		fprintf(f, "%s%s\n", k + 1 < items ? "," : "", c->serial ? "  -- serial in the source" : "");
	}
	for (size_t i = 0; i < t->n_constraints; i++, k++)
		fprintf(f, "      %s%s\n", t->constraints[i], k + 1 < items ? "," : "");
	fprintf(f, "  );\n");
	for (size_t i = 0; with_indexes && i < t->n_indexes; i++)
		fprintf(f, "  %s;\n", t->indexes[i]);
}

/* WHERE k1 = $1::type AND k2 = $2::type */
static void key_where(FILE *f, const struct init_model *m)
{
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		fprintf(f, "%s%s = $%zu::%s", i ? " AND " : "WHERE ", c->name, i + 1, c->type);
	}
}

static void key_list(FILE *f, const struct init_model *m, const char *sep)
{
	for (size_t i = 0; i < m->n_keys; i++)
		fprintf(f, "%s%s", i ? sep : "", m->table.cols[m->keys[i]].name);
}

/* The columns the flow inserts (keys first, then those needing a value) and
 * their values. */
static bool insert_parts(const struct init_model *m, char *cols, size_t clen, char *vals,
			 size_t vlen, char *err, size_t errlen)
{
	size_t cn = 0, vn = 0;
	cols[0] = vals[0] = '\0';
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		cn += (size_t)snprintf(cols + cn, clen - cn, "%s%s", i ? ", " : "", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, "%s$%zu::%s", i ? ", " : "", i + 1, c->type);
	}
	for (size_t i = 0; i < m->table.n_cols && cn < clen && vn < vlen; i++) {
		const struct init_column *c = &m->table.cols[i];
		bool is_key = false;
		for (size_t j = 0; j < m->n_keys; j++)
			is_key = is_key || m->keys[j] == (int)i;
		if (is_key || !needs_value(c))
			continue;
		char v[256];
		if (c->fk_parent >= 0) {
			const struct init_table *p = &m->parents[c->fk_parent];
			int pc = find_column(p, c->fk_column);
			char k[128];
			key_sql(pc >= 0 ? p->cols[pc].kind : KIND_INT, "1", k, sizeof k);
			snprintf(v, sizeof v, "(%s)::%s", k, c->type);
		} else if (!fill_sql(c, c->unique, NULL, v, sizeof v)) {
			snprintf(err, errlen,
				 "column %s (%s, NOT NULL, no default): pgrace init cannot make a value of that "
				 "type; give it a default or edit the scenario by hand",
				 c->name, c->type);
			return false;
		}
		cn += (size_t)snprintf(cols + cn, clen - cn, ", %s", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, ", %s", v);
	}
	return true;
}

/* INSERT INTO parent (...) SELECT ... FROM generate_series(1, N) AS g */
static bool write_parent_seed(FILE *f, const struct init_model *m, const struct init_table *p,
			      int rows, char *err, size_t errlen)
{
	char cols[2048] = "", vals[4096] = "";
	size_t cn = 0, vn = 0;
	for (size_t i = 0; i < p->n_cols; i++) {
		const struct init_column *c = &p->cols[i];
		/* The column the table's key points at gets the keys' values. */
		bool referenced = false;
		for (size_t j = 0; j < m->table.n_cols; j++) {
			const struct init_column *tc = &m->table.cols[j];
			referenced = referenced ||
				     (tc->fk_parent >= 0 && &m->parents[tc->fk_parent] == p &&
				      !strcmp(tc->fk_column, c->name));
		}
		char v[256];
		if (referenced) {
			char k[128];
			key_sql(c->kind, "g", k, sizeof k);
			snprintf(v, sizeof v, "(%s)::%s", k, c->type);
		} else if (!needs_value(c)) {
			continue;
		} else if (!fill_sql(c, c->unique, "g", v, sizeof v)) {
			snprintf(err, errlen,
				 "column %s.%s (%s, NOT NULL, no default): pgrace init cannot make seed "
				 "values of that type; edit the scenario by hand",
				 p->name, c->name, c->type);
			return false;
		}
		cn += (size_t)snprintf(cols + cn, sizeof cols - cn, "%s%s", cn ? ", " : "", c->name);
		vn += (size_t)snprintf(vals + vn, sizeof vals - vn, "%s%s", vn ? ", " : "", v);
		if (cn >= sizeof cols || vn >= sizeof vals) {
			snprintf(err, errlen, "table %s: too many columns to seed", p->name);
			return false;
		}
	}
	if (!cn) {
		fprintf(f, "  INSERT INTO %s SELECT FROM generate_series(1, %d);\n", p->name, rows);
		return true;
	}
	fprintf(f, "  INSERT INTO %s (%s)\n  SELECT %s\n  FROM generate_series(1, %d) AS g;\n",
		p->name, cols, vals, rows);
	return true;
}

/* params: one entry per key column: the first varies with the round, the
 * others are the same every round. */
static bool write_params(FILE *f, const struct init_model *m, char *err, size_t errlen)
{
	fprintf(f, "params:\n");
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		enum init_kind k = c->kind;
		if (c->fk_parent >= 0) {
			const struct init_table *p = &m->parents[c->fk_parent];
			int pc = find_column(p, c->fk_column);
			if (pc >= 0)
				k = p->cols[pc].kind;
		}
		switch (k) {
		case KIND_INT:
			fprintf(f, "  - %s\n", i == 0 ? "round" : "1");
			break;
		case KIND_TEXT:
			fprintf(f, "  - %s\n", i == 0 ? "'k{round}'" : "{text: k1}");
			break;
		case KIND_UUID:
			if (i == 0)
				fprintf(f, "  - '00000000-0000-4000-8000-{round + %lld}'\n", UUID_BASE);
			else
				fprintf(f, "  - {text: 00000000-0000-4000-8000-%lld}\n", UUID_BASE + 1);
			break;
		default:
			snprintf(err, errlen,
				 "key column %s has type %s: pgrace init makes keys of integer, text and uuid "
				 "columns",
				 c->name, c->type);
			return false;
		}
	}
	return true;
}

static const char *const flow_names[] = {"check-then-insert", "where-not-exists", "on-conflict"};

static void write_flow(FILE *f, const struct init_model *m, enum init_flow flow,
		       const char *cols, const char *vals)
{
	fprintf(f, "flow:\n");
	switch (flow) {
	case FLOW_CHECK_THEN_INSERT:
		fprintf(f, "  # Check, then insert only when nothing was found.\n"
			   "  - sql: |\n      SELECT 1 FROM %s ",
			m->table.name);
		key_where(f, m);
		fprintf(f, "\n    skip_if_found: true\n  - sql: |\n      INSERT INTO %s (%s)\n      VALUES (%s)\n",
			m->table.name, cols, vals);
		break;
	case FLOW_WHERE_NOT_EXISTS:
		fprintf(f, "  # One statement: insert unless the key is there.\n"
			   "  - sql: |\n      INSERT INTO %s (%s)\n      SELECT %s\n"
			   "      WHERE NOT EXISTS (SELECT 1 FROM %s ",
			m->table.name, cols, vals, m->table.name);
		key_where(f, m);
		fprintf(f, ")\n");
		break;
	case FLOW_ON_CONFLICT:
		fprintf(f, "  # Insert, and let the unique key arbitrate (it needs the migration).\n"
			   "  - sql: |\n      INSERT INTO %s (%s)\n      VALUES (%s)\n      ON CONFLICT (",
			m->table.name, cols, vals);
		key_list(f, m, ", ");
		fprintf(f, ") DO NOTHING\n");
		break;
	}
}

static void write_phases(FILE *f, enum init_flow flow, const char *uq, const char *where)
{
	fprintf(f, "phases:\n");
	if (flow == FLOW_ON_CONFLICT) {
		fprintf(f,
			"  # Without a unique key on the columns ON CONFLICT has no arbiter: every\n"
			"  # attempt is refused (42P10) before it writes anything.\n"
			"  - name: before\n"
			"    race: {rounds: 3}\n"
			"    expect:\n"
			"      - outcomes.42P10 == attempts\n"
			"      - rows_per_key.max == 0\n\n"
			"  - name: precheck\n"
			"    steps:\n"
			"      - run: precheck\n"
			"        expect: [rows == 0]\n\n"
			"  - name: migrate\n"
			"    steps:\n"
			"      - migrate: up\n"
			"%s%s%s"
			"\n"
			"  # With it: one row, and every request succeeds (the losers insert nothing).\n"
			"  - name: after\n"
			"    race: {}\n"
			"    expect:\n"
			"      - rows_per_key.min == 1\n"
			"      - rows_per_key.max == 1\n"
			"      - rounds_with_duplicates == 0\n"
			"      - outcomes.ok == attempts\n\n"
			"  - name: downgrade\n"
			"    steps:\n"
			"      - migrate: down\n"
			"    race: {rounds: 3}\n"
			"    expect:\n"
			"      - outcomes.42P10 == attempts\n",
			where ? "      - check: unique " : "", where ? where : "",
			where ? "\n        expect: [rows == 1]\n" : "");
		return;
	}
	bool check = flow == FLOW_CHECK_THEN_INSERT;
	fprintf(f,
		"  # Alone, the flow is correct: one row per key.\n"
		"  - name: baseline\n"
		"    race: {workers: 1, rounds: 3}\n"
		"    expect:\n"
		"      - rows_per_key.min == 1\n"
		"      - rows_per_key.max == 1\n"
		"      - outcomes.ok == rounds\n\n"
		"  # Concurrently, it duplicates (held before COMMIT: every round, every worker).\n"
		"  - name: before\n"
		"    race: {}\n"
		"    must_reproduce: true\n"
		"    expect:\n"
		"      - rounds_with_duplicates >= 1\n"
		"      - hold: rounds_with_duplicates == rounds\n"
		"      - hold: rows_per_key.min == workers\n\n"
		"  # The pre-migration check finds the duplicates, the migration refuses to\n"
		"  # apply over them, the cleanup keeps the oldest row of each key.\n"
		"  - name: precheck\n"
		"    steps:\n"
		"      - run: precheck\n"
		"        expect: [rows >= 1]\n"
		"      - migrate: up\n"
		"        expect_error: \"23505\"\n"
		"        expect_message: could not create unique index\n"
		"      - run: cleanup\n"
		"        expect: [affected >= 1]\n"
		"      - run: precheck\n"
		"        expect: [rows == 0]\n\n"
		"  - name: migrate\n"
		"    steps:\n"
		"      - migrate: up\n"
		"%s%s%s"
		"\n"
		"  # One row per key; every other attempt meets the constraint.\n"
		"  - name: after\n"
		"    race: {}\n"
		"    expect:\n"
		"      - rows_per_key.min == 1\n"
		"      - rows_per_key.max == 1\n"
		"      - rounds_with_duplicates == 0\n"
		"      - attempts == outcomes.ok + %soutcomes.23505\n"
		"%s%s%s"
		"      - hold: outcomes.ok == rounds\n"
		"      - hold: outcomes.23505 == (workers - 1) * rounds\n\n"
		"  # After the downgrade the race is back.\n"
		"  - name: downgrade\n"
		"    steps:\n"
		"      - migrate: down\n"
		"    race: {}\n"
		"    must_reproduce: true\n"
		"    expect:\n"
		"      - rounds_with_duplicates >= 1\n",
		where ? "      - check: unique " : "", where ? where : "",
		where ? "\n        expect: [rows == 1]\n" : "", check ? "outcomes.skipped + " : "",
		uq ? "      - constraint." : "", uq ? uq : "", uq ? " == outcomes.23505\n" : "");
}

/* {command: '...', cwd: '...'} and a newline (YAML single quotes: '' is '). */
static void write_command(FILE *f, const char *cmd, const char *cwd)
{
	fprintf(f, "{command: '");
	for (const char *p = cmd; *p; p++)
		fprintf(f, *p == '\'' ? "''" : "%c", *p);
	fprintf(f, "'");
	if (cwd) {
		fprintf(f, ", cwd: '");
		for (const char *p = cwd; *p; p++)
			fprintf(f, *p == '\'' ? "''" : "%c", *p);
		fprintf(f, "'");
	}
	fprintf(f, "}\n");
}

bool init_write(FILE *f, const struct init_model *m, const struct init_opts *o, char *err,
		size_t errlen)
{
	char uq[64], cols[4096], vals[8192];
	const struct init_table *t = &m->table;
	int rows = o->seed_rows > 0 ? o->seed_rows : SEED_ROWS;
	init_constraint_name(m, uq, sizeof uq);
	if (!insert_parts(m, cols, sizeof cols, vals, sizeof vals, err, errlen))
		return false;
	/* Check everything that can fail before writing a line. */
	FILE *null = fopen("/dev/null", "w");
	if (!null) {
		snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
		return false;
	}
	bool ok = write_params(null, m, err, errlen);
	for (size_t i = 0; ok && i < m->n_parents; i++)
		ok = write_parent_seed(null, m, &m->parents[i], rows, err, errlen);
	fclose(null);
	if (!ok)
		return false;

	fprintf(f, "# Written by `pgrace init` from the catalog of %s.%s%s%s: a first gate for\n"
		   "# UNIQUE (",
		m->source_schema, t->name, o->dsn_note ? " on " : "", o->dsn_note ? o->dsn_note : "");
	key_list(f, m, ", ");
	fprintf(f, "), with the %s flow. Every run works in a sandbox schema\n"
		   "# of its own: the table's rows are never read or changed. Edit it freely:\n"
		   "# docs/scenario-format.md has every key.\n",
		flow_names[o->flow]);
	fprintf(f, "name: %s-unique\n", t->name[0] == '"' ? "table" : t->name);
	fprintf(f, "description: >-\n  %s flow on %s (", flow_names[o->flow], t->name);
	key_list(f, m, ", ");
	fprintf(f, ") duplicates under concurrency;\n  UNIQUE (");
	key_list(f, m, ", ");
	fprintf(f, ") closes the race.\n\n");

	if (o->schema_command) {
		fprintf(f, "# The schema, as your own tool makes it.\nschema: ");
		write_command(f, o->schema_command, o->command_cwd);
	} else {
		fprintf(f, "# The table as the catalog describes it");
		if (m->n_parents)
			fprintf(f, ", after the tables its foreign keys point at\n# (their own foreign keys left out)");
		fprintf(f, ".\nschema: |\n");
		for (size_t i = 0; i < m->n_types; i++)
			fprintf(f, "  %s;\n", m->types[i]);
		for (size_t i = 0; i < m->n_parents; i++)
			write_table(f, &m->parents[i], false);
		write_table(f, t, true);
	}
	fprintf(f, "\n");
	if (m->n_parents) {
		fprintf(f, "# Rows for the keys the rounds use (round numbers from 1).\nseed: |\n");
		for (size_t i = 0; i < m->n_parents; i++)
			write_parent_seed(f, m, &m->parents[i], rows, err, errlen);
		fprintf(f, "\n");
	}
	if (o->migrate_command) {
		fprintf(f, "# The fix, as your own tool applies and reverts it.\nmigration:\n  up: ");
		write_command(f, o->migrate_command, o->command_cwd);
		fprintf(f, "  down: ");
		write_command(f, o->downgrade_command, o->command_cwd);
		fprintf(f, "\n");
	} else {
		fprintf(f, "# The fix: a unique key on the columns (your own tool instead:\n"
			   "# migration: {up: {command: ...}, down: {command: ...}}).\n"
			   "migration:\n  up: ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (",
			t->name, uq);
		key_list(f, m, ", ");
		fprintf(f, ")\n  down: ALTER TABLE %s DROP CONSTRAINT %s\n\n", t->name, uq);
	}

	fprintf(f, "sql:\n  # The pre-migration check: keys with more than one row.\n  precheck: |\n    SELECT ");
	key_list(f, m, ", ");
	fprintf(f, ", count(*) FROM %s\n    GROUP BY ", t->name);
	key_list(f, m, ", ");
	fprintf(f, " HAVING count(*) > 1\n  # Keep the oldest row of each key.\n  cleanup: |\n"
		   "    DELETE FROM %s AS d USING %s AS keep\n    WHERE ",
		t->name, t->name);
	for (size_t i = 0; i < m->n_keys; i++) {
		const char *k = t->cols[m->keys[i]].name;
		fprintf(f, "d.%s = keep.%s AND ", k, k);
	}
	if (m->has_pk_column)
		fprintf(f, "d.%s > keep.%s\n\n", m->pk_column, m->pk_column);
	else
		fprintf(f, "d.ctid > keep.ctid\n\n");

	fprintf(f, "race:\n  workers: 8\n  rounds: 10\n  mode: hold\n  isolation: read committed\n\n");
	fprintf(f, "# The key a round races on, $1..$%zu: a fresh one each round.\n", m->n_keys);
	write_params(f, m, err, errlen);
	fprintf(f, "\n# Rows for one key after a round.\nrows: SELECT count(*) FROM %s ", t->name);
	key_where(f, m);
	fprintf(f, "\n\n");
	write_flow(f, m, o->flow, cols, vals);
	fprintf(f, "\n");
	/* With your own migration the constraint's name is what you say, or unknown. */
	if (o->migrate_command) {
		if (!o->constraint) {
			write_phases(f, o->flow, NULL, NULL);
			return true;
		}
		snprintf(uq, sizeof uq, "%s", o->constraint);
	}
	char where[1024];
	size_t wn = (size_t)snprintf(where, sizeof where, "%s on %s (", uq, t->name);
	for (size_t i = 0; i < m->n_keys && wn < sizeof where; i++)
		wn += (size_t)snprintf(where + wn, sizeof where - wn, "%s%s", i ? ", " : "",
				       t->cols[m->keys[i]].name);
	if (wn < sizeof where)
		snprintf(where + wn, sizeof where - wn, ")");
	write_phases(f, o->flow, uq, where);
	return true;
}

/* ---- the subcommand --------------------------------------------------- */

static const char init_usage[] =
	"Usage: pgrace init --table TABLE --key COL[,COL...] [OPTION]...\n"
	"Writes a first scenario for UNIQUE (COL, ...) on TABLE, from the catalog only.\n"
	"  -t, --table=TABLE          the table (schema-qualified or on the search_path)\n"
	"  -k, --key=COL,...          the columns that must be unique together\n"
	"  -d, --dsn=CONNINFO         conninfo string or postgresql:// URI (default: PG*)\n"
	"      --flow=NAME            check-then-insert (default), where-not-exists, on-conflict\n"
	"      --schema-from-db       the schema from the catalog (default)\n"
	"      --schema-command=CMD   the schema from a command (e.g. \"alembic upgrade 004\")\n"
	"      --migrate-command=CMD  the migration as your command (\"alembic upgrade 005\"),\n"
	"      --downgrade-command=CMD  and its downgrade (\"alembic downgrade 004\")\n"
	"      --constraint=NAME      the constraint your migration adds (checked by name)\n"
	"  -o, --output=FILE          write it there (default: standard output)\n";

/* Splits a comma-separated list in place into names[]; returns the count. */
static size_t split_keys(char *list, const char **names, size_t max)
{
	size_t n = 0;
	for (char *p = list; p && *p && n < max + 1;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		while (*p == ' ')
			p++;
		char *end = p + strlen(p);
		while (end > p && end[-1] == ' ')
			*--end = '\0';
		if (n < max)
			names[n] = p;
		n++;
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

__attribute__((format(printf, 1, 2))) static int init_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	text_line(stderr, "pgrace init: %s", msg); /* arguments may hold anything */
	return EXIT_USAGE;
}

int init_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"table", required_argument, NULL, 't'},
		{"key", required_argument, NULL, 'k'},
		{"dsn", required_argument, NULL, 'd'},
		{"flow", required_argument, NULL, 'F'},
		{"schema-from-db", no_argument, NULL, 'S'},
		{"schema-command", required_argument, NULL, 'C'},
		{"migrate-command", required_argument, NULL, 'M'},
		{"downgrade-command", required_argument, NULL, 'D'},
		{"constraint", required_argument, NULL, 'N'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *table = NULL, *output = NULL;
	char *keylist = NULL, *dsn = NULL;
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	bool from_db = false;
	int c, rc = EXIT_USAGE;
	PGconn *conn = NULL;
	struct init_model m;
	bool have_model = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:k:d:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			table = optarg;
			break;
		case 'k':
			free(keylist);
			keylist = mem_strdup(optarg);
			break;
		case 'd':
			if (!secret_take_dsn(optarg, &dsn)) {
				rc = init_error("%s", SECRET_DSN_INVALID);
				goto out;
			}
			break;
		case 'F':
			if (!init_flow_parse(optarg, &o.flow)) {
				rc = init_error("--flow: expected check-then-insert, where-not-exists or on-conflict, got \"%s\"",
						optarg);
				goto out;
			}
			break;
		case 'S':
			from_db = true;
			break;
		case 'C':
			o.schema_command = optarg;
			break;
		case 'M':
			o.migrate_command = optarg;
			break;
		case 'D':
			o.downgrade_command = optarg;
			break;
		case 'N':
			o.constraint = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			rc = EXIT_PASS;
			goto out;
		default:
			fputs(init_usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		rc = init_error("unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (!table || !keylist) {
		rc = init_error("--table and --key are required (pgrace init --help)");
		goto out;
	}
	if (from_db && o.schema_command) {
		rc = init_error("--schema-from-db and --schema-command exclude each other");
		goto out;
	}
	if (!o.migrate_command != !o.downgrade_command) {
		rc = init_error("--migrate-command and --downgrade-command go together");
		goto out;
	}
	if (o.constraint && !o.migrate_command) {
		rc = init_error("--constraint names the constraint of your own --migrate-command");
		goto out;
	}
	const char *keys[INIT_MAX_KEYS];
	size_t n_keys = split_keys(keylist, keys, INIT_MAX_KEYS);
	if (n_keys == 0 || n_keys > INIT_MAX_KEYS) {
		rc = init_error("--key: give 1 to %d column names, comma-separated", INIT_MAX_KEYS);
		goto out;
	}
	for (size_t i = 0; i < n_keys; i++)
		if (!keys[i][0]) {
			rc = init_error("--key: an empty column name in \"%s\"", keylist);
			goto out;
		}
	char err[1024];
	conn = db_connect(dsn, NULL, err, sizeof err);
	if (!conn) {
		text_line(stderr, "pgrace init: cannot connect: %s", err);
		rc = EXIT_DATABASE;
		goto out;
	}
	bool usage = false;
	if (!init_catalog(conn, table, keys, n_keys, &m, &usage, err, sizeof err)) {
		text_line(stderr, "pgrace init: %s", err);
		rc = usage ? EXIT_USAGE : EXIT_DATABASE;
		goto out;
	}
	have_model = true;
	/* Where the command runs: the scenario's folder is where it is written. */
	char here[4096];
	if ((o.schema_command || o.migrate_command) && output && strchr(output, '/') &&
	    getcwd(here, sizeof here))
		o.command_cwd = here;
	FILE *f = stdout;
	struct outfile of;
	if (output) {
		if (!outfile_open(&of, output)) {
			rc = init_error("cannot write %s: %s", output, strerror(errno));
			goto out;
		}
		f = of.f;
	}
	bool ok = init_write(f, &m, &o, err, sizeof err);
	if (output && !outfile_close(&of, ok) && ok) {
		rc = init_error("cannot write %s: %s", output, strerror(errno));
		goto out;
	}
	if (!ok) {
		rc = init_error("%s", err);
		goto out;
	}
	if (output)
		text_line(stderr, "pgrace init: wrote %s (run it: pgrace run %s)", output, output);
	rc = EXIT_PASS;
out:
	if (have_model)
		init_model_free(&m);
	if (conn)
		PQfinish(conn);
	free(keylist);
	free(dsn);
	return rc;
}
