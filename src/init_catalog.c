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
		"   ORDER BY e.enumsortorder LIMIT 1),"
		" format_type(a.atttypid, -1),"
		" CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 "
		"END,"
		" a.attnum,"
		/* 14: the default calls a function outside pg_catalog (not copied) */
		" EXISTS (SELECT 1 FROM pg_depend dp JOIN pg_proc pr ON pr.oid = dp.refobjid"
		"   WHERE dp.classid = 'pg_attrdef'::regclass AND dp.objid = d.oid"
		"   AND dp.refclassid = 'pg_proc'::regclass"
		"   AND pr.pronamespace <> 'pg_catalog'::regnamespace),"
		/* 15: the sequence of a nextval() default is the column's own (serial) */
		" EXISTS (SELECT 1 FROM pg_depend s JOIN pg_depend dd ON dd.refobjid = s.objid"
		"   WHERE s.classid = 'pg_class'::regclass AND s.refobjid = a.attrelid"
		"   AND s.refobjsubid = a.attnum AND s.deptype = 'a'"
		"   AND dd.classid = 'pg_attrdef'::regclass AND dd.objid = d.oid"
		"   AND dd.refclassid = 'pg_class'::regclass)"
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
				 "column %s.%s has type %s, which pgrace init cannot recreate in the "
				 "sandbox "
				 "(built-in types and enums of the table's schema only); write the "
				 "scenario's "
				 "schema by hand",
				 t->name, PQgetvalue(res, i, 0), type);
			PQclear(res);
			return false;
		}
		struct init_column *col = &t->cols[t->n_cols++];
		col->name = mem_strdup(PQgetvalue(res, i, 0));
		col->type = mem_strdup(type);
		col->cast_type = mem_strdup(PQgetvalue(res, i, 11));
		col->max_len = (int)strtol(PQgetvalue(res, i, 12), NULL, 10);
		col->attnum = (int)strtol(PQgetvalue(res, i, 13), NULL, 10);
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
		} else if (def && !strcmp(PQgetvalue(res, i, 14), "t")) {
			/* It calls a function of the user's: not copied, so the sandbox
			 * has no such function; pgrace gives the column a value. */
			size_t len = strlen(def) + 40;
			col->def_left_out = mem_calloc(len, 1);
			snprintf(col->def_left_out, len,
				 gen[0] == 's' ? "GENERATED ALWAYS AS (%s) STORED" : "DEFAULT %s", def);
			free(def);
		} else if (gen[0] == 's') {
			col->generated = def;
		} else if (def && !strncmp(def, "nextval(", 8)) {
			/* A serial column, or one sharing a sequence: the sequence is not
			 * ours to copy, an identity of its own numbers the rows. */
			col->serial = true;
			col->identity = mem_strdup("BY DEFAULT");
			if (strcmp(PQgetvalue(res, i, 15), "t"))
				col->serial_def = def;
			else
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

static int *attnum_list(const char *text, size_t *n)
{
	/* "1 3 4" (array_to_string of an int2[]) */
	int *out = NULL;
	*n = 0;
	for (const char *p = text; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		int *grown = realloc(out, sizeof *out * (*n + 1));
		if (!grown)
			abort();
		out = grown;
		out[(*n)++] = (int)v;
		p = end;
	}
	return out;
}

#define CONSTRAINT_COLUMNS                                                                      \
	"SELECT 'CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid)," \
	" c.contype::text, array_to_string(c.conkey, ' '),"                                     \
	" EXISTS (SELECT 1 FROM pg_depend dp JOIN pg_proc pr ON pr.oid = dp.refobjid"           \
	"   WHERE dp.classid = 'pg_constraint'::regclass AND dp.objid = c.oid"                  \
	"   AND dp.refclassid = 'pg_proc'::regclass"                                            \
	"   AND pr.pronamespace <> 'pg_catalog'::regnamespace),"                                \
	" c.confrelid::text, quote_ident(p.relname), array_to_string(c.confkey, ' '),"          \
	" p.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = c.conrelid),"         \
	" quote_ident(c.conname)"                                                               \
	" FROM pg_constraint c LEFT JOIN pg_class p ON p.oid = c.confrelid"                     \
	" WHERE c.conrelid = $1::oid "

/* The constraints of the table with oid oid (contype in types, an SQL
 * list) into t. The result (columns: def, contype, conkey, own function,
 * confrelid, parent, confkey, parent in the same schema, name) goes to *out when
 * out is not NULL (the caller clears it). */
static bool read_constraints(PGconn *c, const char *oid, const char *types, struct init_table *t,
			     PGresult **out, char *err, size_t errlen)
{
	char sql[2048];
	snprintf(sql, sizeof sql, "%s AND c.contype IN (%s) ORDER BY c.contype DESC, c.conname",
		 CONSTRAINT_COLUMNS, types);
	const char *params[1] = {oid};
	PGresult *res = query(c, sql, 1, params, err, errlen);
	if (!res)
		return false;
	int n = PQntuples(res);
	t->constraints = mem_calloc((size_t)n + 1, sizeof *t->constraints);
	for (int i = 0; i < n; i++) {
		struct init_constraint *con = &t->constraints[t->n_constraints++];
		con->def = mem_strdup(PQgetvalue(res, i, 0));
		con->type = PQgetvalue(res, i, 1)[0];
		con->attnums = attnum_list(PQgetvalue(res, i, 2), &con->n_attnums);
		con->own_function = !strcmp(PQgetvalue(res, i, 3), "t");
		con->name = mem_strdup(PQgetvalue(res, i, 8));
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return true;
}

/* The table's own triggers (not those behind its constraints): pgrace does
 * not copy them (their functions are the user's), the file says so. */
static bool read_triggers(PGconn *c, const char *oid, struct init_table *t, char *err, size_t errlen)
{
	const char *params[1] = {oid};
	PGresult *res = query(c,
			      "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1::oid"
			      " AND NOT tgisinternal ORDER BY tgname",
			      1, params, err, errlen);
	if (!res)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
		push(&t->triggers, &t->n_triggers, mem_strdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return true;
}

static int find_attnum(const struct init_table *t, int attnum)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].attnum == attnum)
			return (int)i;
	return -1;
}

/* A parent table (an FK target): its columns, its own PRIMARY KEY, UNIQUE
 * and CHECK constraints (its foreign keys are left out) and its triggers. */
static int add_parent(PGconn *c, struct init_model *m, const char *oid, const char *name, bool *usage,
		      char *err, size_t errlen)
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
	if (!read_columns(c, oid, m, p, usage, err, errlen) ||
	    !read_constraints(c, oid, "'p', 'u', 'c'", p, NULL, err, errlen) ||
	    !read_triggers(c, oid, p, err, errlen))
		return -1;
	return (int)(m->n_parents - 1);
}

/* A foreign key of the table into parent p: its column pairs by attnum. */
static bool add_fk(struct init_model *m, int p, const char *conkey, const char *confkey)
{
	size_t n, pn;
	int *cols = attnum_list(conkey, &n), *pcols = attnum_list(confkey, &pn);
	bool ok = n == pn && n > 0;
	for (size_t j = 0; ok && j < n; j++) {
		cols[j] = find_attnum(&m->table, cols[j]);
		pcols[j] = find_attnum(&m->parents[p], pcols[j]);
		ok = cols[j] >= 0 && pcols[j] >= 0;
	}
	if (!ok) {
		free(cols);
		free(pcols);
		return false;
	}
	struct init_fk *grown = realloc(m->fks, sizeof *grown * (m->n_fks + 1));
	if (!grown)
		abort();
	m->fks = grown;
	m->fks[m->n_fks++] = (struct init_fk){.parent = p, .n = n, .cols = cols, .parent_cols = pcols};
	for (size_t j = 0; j < n; j++) {
		struct init_column *col = &m->table.cols[cols[j]];
		if (col->fk_parent < 0) {
			col->fk_parent = p;
			col->fk_column = mem_strdup(m->parents[p].cols[pcols[j]].name);
		}
	}
	return true;
}

__attribute__((format(printf, 4, 5))) static bool usage_fail(bool *usage, char *err, size_t errlen,
							     const char *fmt, ...)
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
		usage_fail(
			usage, err, errlen,
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
		res = query(
			c,
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
				usage_fail(usage, err, errlen, "--key: column \"%s\" given twice",
					   keys[i]);
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

	/* Already unique: a valid unique index over key columns only. Its
	 * columns are its plain ones, or for an expression index those the
	 * expressions use (pg_depend, which also lists a predicate's columns:
	 * an expression index with a predicate over other columns is not
	 * taken for one over the key). A partial index counts too: rows like
	 * the flow's (deleted_at NULL, the defaults) usually fall under its
	 * predicate; the message shows the predicate for the case they do not. */
	const char *up[2] = {oid, attnums};
	res = query(c,
		    "SELECT quote_ident(ic.relname), pg_get_expr(i.indpred, i.indrelid)"
		    " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
		    " WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid"
		    " AND CASE WHEN i.indexprs IS NULL THEN i.indkey::int2[]"
		    "   ELSE ARRAY(SELECT d.refobjsubid::int2 FROM pg_depend d"
		    "     WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid"
		    "     AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid"
		    "     AND d.refobjsubid > 0) END <@ $2::int2[]"
		    " ORDER BY i.indpred IS NOT NULL, i.indexprs IS NOT NULL, 1 LIMIT 1",
		    2, up, err, errlen);
	if (!res)
		goto out;
	if (PQntuples(res) == 1) {
		bool partial = !PQgetisnull(res, 0, 1);
		usage_fail(
			usage, err, errlen,
			"the key is already unique by INDEX %s on %s%s%s%s: there is no race to gate%s",
			PQgetvalue(res, 0, 0), m->table.name, partial ? " (partial: WHERE " : "",
			partial ? PQgetvalue(res, 0, 1) : "", partial ? ")" : "",
			partial ? " for rows under that predicate (for rows outside it, write the "
				  "scenario by hand)"
				: "");
		goto out;
	}
	PQclear(res);

	/* Constraints (NOT NULL ones, pg 18, are in the columns already). */
	params[0] = oid;
	res = NULL;
	if (!read_constraints(c, oid, "'p', 'u', 'c', 'f', 'x'", &m->table, &res, err, errlen) ||
	    !read_triggers(c, oid, &m->table, err, errlen))
		goto out;
	for (int i = 0; i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 1), "f") || !strcmp(PQgetvalue(res, i, 4), oid))
			continue; /* not a foreign key, or one to the table itself */
		if (strcmp(PQgetvalue(res, i, 7), "t")) {
			/* Its parent would be the real table, outside the sandbox. */
			usage_fail(usage, err, errlen,
				   "%s: a foreign key points at %s in another schema; pgrace init "
				   "copies the "
				   "tables of the table's own schema only",
				   m->table.name, PQgetvalue(res, i, 5));
			goto out;
		}
		int p = add_parent(c, m, PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), usage, err,
				   errlen);
		if (p < 0)
			goto out;
		if (!add_fk(m, p, PQgetvalue(res, i, 2), PQgetvalue(res, i, 6))) {
			snprintf(err, errlen, "%s: cannot read the columns of a foreign key into %s",
				 m->table.name, PQgetvalue(res, i, 5));
			goto out;
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
		    "SELECT pg_get_indexdef(i.indexrelid),"
		    " EXISTS (SELECT 1 FROM pg_depend dp JOIN pg_proc pr ON pr.oid = dp.refobjid"
		    "   WHERE dp.classid = 'pg_class'::regclass AND dp.objid = i.indexrelid"
		    "   AND dp.refclassid = 'pg_proc'::regclass"
		    "   AND pr.pronamespace <> 'pg_catalog'::regnamespace),"
		    " i.indisvalid"
		    " FROM pg_index i WHERE i.indrelid = $1::oid"
		    " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid"
		    "   AND c.conindid = i.indexrelid) ORDER BY 1",
		    1, params, err, errlen);
	if (!res)
		goto out;
	for (int i = 0; i < PQntuples(res); i++) {
		/* One calling a function of the user's cannot be made (not copied);
		 * an INVALID one (a failed CREATE INDEX CONCURRENTLY) would be made
		 * valid in the sandbox, a unique one closing the race the source has. */
		bool own = !strcmp(PQgetvalue(res, i, 1), "t"),
		     invalid = strcmp(PQgetvalue(res, i, 2), "t") != 0;
		char *def = unqualified(PQgetvalue(res, i, 0), m->source_schema);
		if (!own && !invalid) {
			push(&m->table.indexes, &m->table.n_indexes, def);
			continue;
		}
		size_t len = strlen(def) + 80;
		char *note = mem_calloc(len, 1);
		snprintf(note, len, "%s\n%s", def,
			 invalid ? "INVALID in the source: it checks nothing there"
				 : "it calls a function of the source schema, not copied");
		free(def);
		push(&m->table.indexes_left_out, &m->table.n_indexes_left_out, note);
	}
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
		free(c->cast_type);
		free(c->def_left_out);
		free(c->serial_def);
	}
	free(t->cols);
	for (size_t i = 0; i < t->n_constraints; i++) {
		free(t->constraints[i].def);
		free(t->constraints[i].name);
		free(t->constraints[i].attnums);
	}
	free(t->constraints);
	for (size_t i = 0; i < t->n_triggers; i++)
		free(t->triggers[i]);
	for (size_t i = 0; i < t->n_indexes_left_out; i++)
		free(t->indexes_left_out[i]);
	free(t->indexes_left_out);
	free(t->triggers);
	free(t->rows_json);
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
	for (size_t i = 0; i < m->n_fks; i++) {
		free(m->fks[i].cols);
		free(m->fks[i].parent_cols);
	}
	free(m->fks);
	for (size_t i = 0; i < m->n_versions; i++)
		table_free(&m->versions[i]);
	free(m->versions);
	free(m->pk_column);
	for (size_t i = 0; i < m->n_types; i++)
		free(m->types[i]);
	free(m->types);
	memset(m, 0, sizeof *m);
}

bool init_catalog_versions(PGconn *c, struct init_model *m, char *err, size_t errlen)
{
	/* Where the usual tools keep the version a database is at. */
	static const char *const names[] = {
		"alembic_version",   "flyway_schema_history", "schema_migrations",  "django_migrations",
		"knex_migrations",   "knex_migrations_lock",  "_prisma_migrations", "goose_db_version",
		"databasechangelog", "databasechangeloglock",
	};
	m->versions_read = true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char rel[256], sql[512];
		snprintf(rel, sizeof rel, "%s.%s", m->source_schema, names[i]);
		const char *params[1] = {rel};
		PGresult *res = query(c,
				      "SELECT c.oid::text FROM pg_class c WHERE c.oid = to_regclass($1)"
				      " AND c.relkind = 'r'",
				      1, params, err, errlen);
		if (!res)
			return false;
		if (PQntuples(res) != 1) {
			PQclear(res);
			continue;
		}
		char oid[32];
		snprintf(oid, sizeof oid, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		struct init_table *grown = realloc(m->versions, sizeof *grown * (m->n_versions + 1));
		if (!grown)
			abort();
		m->versions = grown;
		struct init_table *t = &m->versions[m->n_versions++];
		memset(t, 0, sizeof *t);
		t->name = mem_strdup(names[i]);
		bool usage = false;
		if (!read_columns(c, oid, m, t, &usage, err, errlen) ||
		    !read_constraints(c, oid, "'p', 'u', 'c'", t, NULL, err, errlen))
			return false;
		/* The bookkeeping rows, not the table's: they say the version. */
		snprintf(sql, sizeof sql, "SELECT coalesce(jsonb_agg(v), '[]')::text FROM %s v", rel);
		if (!(res = query(c, sql, 0, NULL, err, errlen)))
			return false;
		t->rows_json = mem_strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return true;
}
