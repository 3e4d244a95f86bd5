/* outside.c: catalog snapshots outside the sandbox, and their difference
 * (outside.h). One query reads the snapshot; the comparison is pure. */
#include "outside.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* cat, oid, kind, stamp, name; sorted as outside_diff() merges them. A
 * relation's stamp folds in the rows of the catalogs that hang from it
 * (columns, defaults, triggers, rules, policies), a type's its enum labels,
 * so that ALTER TABLE ... ALTER COLUMN shows as the table altered. */
static const char snapshot_sql[] =
	"WITH ns AS (SELECT oid, nspname FROM pg_namespace"
	" WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
	" AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'"
	" AND nspname NOT LIKE 'pgrace\\_%')"
	" SELECT 1, n.oid::int8, 'schema', n.xmin::text, quote_ident(n.nspname)"
	" FROM pg_namespace n JOIN ns ON ns.oid = n.oid"
	" UNION ALL"
	" SELECT 2, c.oid::int8, CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table'"
	"  WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'S' THEN 'sequence'"
	"  WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'c' THEN 'type'"
	"  WHEN 'f' THEN 'foreign table' ELSE 'relation' END,"
	"  concat_ws(' ', c.xmin::text, c.relfilenode::text,"
	"  (SELECT md5(string_agg(a.attnum::text || ':' || a.xmin::text, ',' ORDER BY a.attnum))"
	"   FROM pg_attribute a WHERE a.attrelid = c.oid),"
	"  (SELECT md5(string_agg(d.oid::text || ':' || d.xmin::text, ',' ORDER BY d.oid))"
	"   FROM pg_attrdef d WHERE d.adrelid = c.oid),"
	"  (SELECT md5(string_agg(t.oid::text || ':' || t.xmin::text, ',' ORDER BY t.oid))"
	"   FROM pg_trigger t WHERE t.tgrelid = c.oid),"
	"  (SELECT md5(string_agg(w.oid::text || ':' || w.xmin::text, ',' ORDER BY w.oid))"
	"   FROM pg_rewrite w WHERE w.ev_class = c.oid),"
	"  (SELECT md5(string_agg(p.oid::text || ':' || p.xmin::text, ',' ORDER BY p.oid))"
	"   FROM pg_policy p WHERE p.polrelid = c.oid)),"
	"  quote_ident(ns.nspname) || '.' || quote_ident(c.relname)"
	" FROM pg_class c JOIN ns ON ns.oid = c.relnamespace"
	" UNION ALL"
	" SELECT 3, p.oid::int8, CASE p.prokind WHEN 'p' THEN 'procedure'"
	"  WHEN 'a' THEN 'aggregate' ELSE 'function' END, p.xmin::text,"
	"  quote_ident(ns.nspname) || '.' || quote_ident(p.proname)"
	"  || '(' || pg_get_function_identity_arguments(p.oid) || ')'"
	" FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace"
	" UNION ALL"
	" SELECT 4, t.oid::int8, CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END,"
	"  concat_ws(' ', t.xmin::text,"
	"  (SELECT md5(string_agg(e.oid::text || ':' || e.xmin::text, ',' ORDER BY e.oid))"
	"   FROM pg_enum e WHERE e.enumtypid = t.oid)),"
	"  quote_ident(ns.nspname) || '.' || quote_ident(t.typname)"
	" FROM pg_type t JOIN ns ON ns.oid = t.typnamespace"
	" WHERE t.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)"
	" UNION ALL"
	" SELECT 5, o.oid::int8, 'constraint', o.xmin::text,"
	"  quote_ident(ns.nspname) || '.' || quote_ident(o.conname)"
	" FROM pg_constraint o JOIN ns ON ns.oid = o.connamespace"
	" ORDER BY 1, 2";

bool outside_snapshot(PGconn *c, uint64_t deadline_us, struct outside_snap *s, struct db_result *r)
{
	memset(s, 0, sizeof *s);
	PGresult *res = db_query_rows(c, snapshot_sql, 0, NULL, deadline_us, r);
	if (!res)
		return false;
	int n = PQntuples(res);
	s->objs = mem_malloc(sizeof *s->objs * (size_t)(n > 0 ? n : 1));
	for (int i = 0; i < n; i++) {
		struct outside_obj *o = &s->objs[i];
		o->cat = (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
		o->oid = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		o->kind = mem_strdup(PQgetvalue(res, i, 2));
		o->stamp = mem_strdup(PQgetvalue(res, i, 3));
		o->name = mem_strdup(PQgetvalue(res, i, 4));
	}
	s->n = (size_t)n;
	PQclear(res);
	return true;
}

void outside_free(struct outside_snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->objs[i].kind);
		free(s->objs[i].stamp);
		free(s->objs[i].name);
	}
	free(s->objs);
	memset(s, 0, sizeof *s);
}

static int obj_cmp(const struct outside_obj *a, const struct outside_obj *b)
{
	if (a->cat != b->cat)
		return a->cat < b->cat ? -1 : 1;
	return a->oid < b->oid ? -1 : a->oid > b->oid;
}

/* Appends "kind name what" to buf while it fits (keeping room for the
 * "and N more" tail); counts the ones that did not in *left. */
static void say(char *buf, size_t len, const struct outside_obj *o, const char *what, size_t *left)
{
	size_t used = strlen(buf);
	char clause[512];
	int n = snprintf(clause, sizeof clause, "%s%s %s %s", used ? ", " : "", o->kind, o->name, what);
	if (n < 0 || (size_t)n >= sizeof clause || used + (size_t)n + 24 > len) {
		(*left)++;
		return;
	}
	memcpy(buf + used, clause, (size_t)n + 1);
}

size_t outside_diff(const struct outside_snap *before, const struct outside_snap *after, char *buf,
		    size_t len)
{
	size_t i = 0, j = 0, changed = 0, left = 0;
	if (len)
		buf[0] = '\0';
	while (i < before->n || j < after->n) {
		const struct outside_obj *b = i < before->n ? &before->objs[i] : NULL;
		const struct outside_obj *a = j < after->n ? &after->objs[j] : NULL;
		int cmp = !b ? 1 : !a ? -1 : obj_cmp(b, a);
		if (cmp < 0) {
			say(buf, len, b, "dropped", &left);
			changed++;
			i++;
		} else if (cmp > 0) {
			say(buf, len, a, "created", &left);
			changed++;
			j++;
		} else {
			if (strcmp(b->stamp, a->stamp)) {
				say(buf, len, a, "altered", &left);
				changed++;
			}
			i++;
			j++;
		}
	}
	if (left && len) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%sand %zu more", used ? ", " : "", left);
	}
	return changed;
}
