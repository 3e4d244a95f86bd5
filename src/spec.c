/* spec.c: writing an interleave phase as an isolation tester spec. */
#include "spec.h"

#include "key.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>


bool spec_migrated(const struct scenario *sc, const struct phase *p)
{
	bool migrated = false;
	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *q = &sc->phases[i];
		for (size_t j = 0; j < q->n_steps; j++) {
			if (q->steps[j].kind == STEP_MIGRATE_UP)
				migrated = true;
			else if (q->steps[j].kind == STEP_MIGRATE_DOWN)
				migrated = false;
		}
		if (q == p)
			break;
	}
	return migrated;
}

/* sql bound to the spec's key as worker spells it (round 1, key 0, phase
 * round 0: every permutation starts from a fresh schema, so one key serves
 * them all), without trailing blanks and semicolons. */
static char *bound(const struct scenario *sc, const char *sql, int worker, char *err,
		   size_t errlen)
{
	struct key_ctx ctx = {.round = 1, .key = 0, .phase_round = 0, .worker = worker};
	struct key_values kv;
	char why[512];
	if (!key_eval(sc->params, sc->n_params, &ctx, &kv, why, sizeof why)) {
		snprintf(err, errlen, "%s:%d: params: %s", sc->path, sc->params_line, why);
		return NULL;
	}
	char *out = sql_bind(sql, kv.ptr, (int)sc->n_params);
	size_t len = strlen(out);
	while (len && (isspace((unsigned char)out[len - 1]) || out[len - 1] == ';'))
		out[--len] = '\0';
	return out;
}

/* One spec block: "{", the SQL indented, "}". The isolation tester ends a
 * block at the first '}', so SQL holding one cannot go in. */
static bool block(FILE *out, const char *what, const char *sql, int line, const char *path,
		  char *err, size_t errlen)
{
	if (strchr(sql, '}')) {
		snprintf(err, errlen, "%s:%d: %s holds a '}', which ends a block of an isolation spec",
			 path, line, what);
		return false;
	}
	size_t len = strlen(sql);
	if (!memchr(sql, '\n', len ? len - 1 : 0)) { /* one line: { sql } */
		fprintf(out, "{ %.*s }\n", (int)(len && sql[len - 1] == '\n' ? len - 1 : len), sql);
		return true;
	}
	fputs("{\n  ", out);
	for (const char *c = sql; *c; c++) {
		fputc(*c, out);
		if (*c == '\n' && c[1])
			fputs("  ", out);
	}
	fputs(sql[0] && sql[strlen(sql) - 1] == '\n' ? "}\n" : "\n}\n", out);
	return true;
}

/* A flow statement as the step's SQL (malloc'd): the check of a
 * skip_if_found step records what it found; statements after a check run
 * only when it found nothing. */
static char *step_sql(const struct scenario *sc, size_t i, int worker, char *err, size_t errlen)
{
	char *sql = bound(sc, sc->flow[i].text.sql, worker, err, errlen);
	if (!sql)
		return NULL;
	if (strstr(sql, "$pgrace$") || strstr(sql, "pgrace_found")) {
		snprintf(err, errlen, "%s:%d: flow statement uses a name the spec reserves", sc->path,
			 sc->flow[i].text.line);
		free(sql);
		return NULL;
	}
	bool guarded = false;
	for (size_t j = 0; j < i; j++)
		guarded |= sc->flow[j].skip_if_found;
	size_t len = strlen(sql) * 2 + 512;
	char *out = malloc(len), *inner = malloc(len);
	if (!out || !inner)
		abort();
	if (sc->flow[i].skip_if_found)
		snprintf(inner, len,
			 "WITH pgrace_found AS (%s) SELECT set_config('pgrace.skip', 'true', true) AS "
			 "skipped FROM pgrace_found LIMIT 1",
			 sql);
	else
		snprintf(inner, len, "%s", sql);
	if (guarded)
		snprintf(out, len,
			 "DO $pgrace$ BEGIN IF current_setting('pgrace.skip', true) IS DISTINCT FROM "
			 "'true' THEN EXECUTE $pgrace_sql$ %s $pgrace_sql$; END IF; END $pgrace$;",
			 inner);
	else
		snprintf(out, len, "%s;", inner);
	free(inner);
	free(sql);
	return out;
}

/* Which orders become permutation lines. */
static bool chosen(const struct ilv_summary *s, const struct ilv_order *o, bool all)
{
	if (!o->executable)
		return false;
	return all || s->with_duplicates == 0 || o->rows > 1;
}

bool spec_write(FILE *out, const struct scenario *sc, const struct phase *p,
		const struct race_cfg *cfg, const struct ilv_summary *s, const char *schema,
		bool all, char *err, size_t errlen)
{
	char sql[512];
	bool ok = false, migrated = spec_migrated(sc, p);
	char *rows = NULL, *steps[ORDER_MAX_LEN] = {NULL};
	size_t n_chosen = 0;
	for (size_t i = 0; i < s->n_orders; i++)
		n_chosen += chosen(s, &s->orders[i], all);
	if (n_chosen == 0) { /* with no permutation line the tester runs every order */
		snprintf(err, errlen, "phase %s: no executable order to write", p->name);
		return false;
	}

	fprintf(out, "# Isolation spec for phase %s of scenario %s (%s), written by pgrace.\n",
		p->name, sc->name, sc->path);
	fputs("# Run it with PostgreSQL's isolation tester (it reads the spec on stdin):\n"
	      "#   $(dirname $(dirname $(pg_config --pgxs)))/test/isolation/isolationtester"
	      " 'dbname=...' < this.spec\n", out);
	fprintf(out, "# pgrace ran %zu orders (%s) of %d workers x %d steps, %s, %s: %lld left "
		     "duplicates, %lld were not executable.\n",
		s->n_orders, s->listed ? "listed" : s->exhaustive ? "every order" : "a sample",
		cfg->workers, s->steps, isolation_name(cfg->isolation),
		migrated ? "migrated" : "not migrated", s->with_duplicates, s->not_executable);
	fprintf(out, "# Permutations below: %zu, %s.\n", n_chosen,
		all || s->with_duplicates == 0 ? "every executable order"
					       : "the orders that left duplicates");
	for (size_t i = 0; i < s->n_orders; i++) {
		const struct ilv_order *o = &s->orders[i];
		char text[512];
		if (o->executable)
			continue;
		ilv_describe(o, text, sizeof text);
		fprintf(out, "#   not executable: %s\n", text);
	}
	fputs("\nsetup\n", out);
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE;\nCREATE SCHEMA %s;\nSET search_path TO %s;\n",
		 schema, schema, schema);
	if (!block(out, "setup", sql, 0, sc->path, err, errlen))
		goto out;
	const struct sql_text *setup[3] = {&sc->schema, &sc->seed, migrated ? &sc->migrate_up : NULL};
	const char *what[3] = {"schema", "seed", "migration up"};
	for (int i = 0; i < 3; i++) {
		if (!setup[i] || !setup[i]->sql)
			continue;
		fputs("setup\n", out);
		if (!block(out, what[i], setup[i]->sql, setup[i]->line, sc->path, err, errlen))
			goto out;
	}
	const struct sql_text *rs = p->round_setup.sql ? &p->round_setup : &sc->round_setup;
	if (rs->sql) { /* the round's own setup, for the spec's key */
		char *b = bound(sc, rs->sql, 0, err, errlen);
		if (!b)
			goto out;
		fputs("setup\n", out);
		bool fine = block(out, "round_setup", b, rs->line, sc->path, err, errlen);
		free(b);
		if (!fine)
			goto out;
	}
	fputs("teardown\n", out);
	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE;\n", schema);
	block(out, "teardown", sql, 0, sc->path, err, errlen);

	rows = bound(sc, sc->rows.sql, 0, err, errlen);
	if (!rows)
		goto out;
	for (int w = 0; w < cfg->workers; w++) {
		for (size_t i = 0; i < sc->n_flow; i++) {
			free(steps[i]);
			if (!(steps[i] = step_sql(sc, i, w, err, errlen)))
				goto out;
		}
		char label[ORDER_NAME_LEN + 4];
		fprintf(out, "\nsession %c\nsetup\n", 'a' + w);
		snprintf(sql, sizeof sql, "SET search_path TO %s;\nBEGIN ISOLATION LEVEL %s;\n", schema,
			 isolation_sql(w < cfg->rc_workers ? ISO_READ_COMMITTED : cfg->isolation));
		block(out, "session setup", sql, 0, sc->path, err, errlen);
		for (size_t i = 0; i <= sc->n_flow; i++) {
			order_step_label(w, s->step_names[i], label, sizeof label);
			fprintf(out, "step %s ", label);
			if (!block(out, "flow statement", i < sc->n_flow ? steps[i] : "COMMIT;",
				   i < sc->n_flow ? sc->flow[i].text.line : 0, sc->path, err, errlen))
				goto out;
		}
		if (w == 0) {
			size_t len = strlen(rows) + 64;
			char *t = malloc(len);
			if (!t)
				abort();
			snprintf(t, len, "SELECT (%s) AS pgrace_rows;", rows);
			fputs("teardown\n", out);
			bool fine = block(out, "rows", t, sc->rows.line, sc->path, err, errlen);
			free(t);
			if (!fine)
				goto out;
		}
	}
	fputc('\n', out);
	for (size_t i = 0; i < s->n_orders; i++) {
		char perm[ORDER_MAX_LEN * (ORDER_NAME_LEN + 4) + 16];
		if (!chosen(s, &s->orders[i], all))
			continue;
		order_permutation(&s->orders[i].order, (const char(*)[ORDER_NAME_LEN])s->step_names,
				  perm, sizeof perm);
		fprintf(out, "%s\n", perm);
	}
	ok = !ferror(out);
	if (!ok)
		snprintf(err, errlen, "cannot write the spec");
out:
	free(rows);
	for (size_t i = 0; i < ORDER_MAX_LEN; i++)
		free(steps[i]);
	return ok;
}
