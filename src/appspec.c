/* appspec.c: an app flow's order as an isolation spec (appspec.h). */
#include "appspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pgrace.h"
#include "key.h"
#include "mem.h"
#include "outfile.h"

long appspec_order(const struct appil_summary *s)
{
	long first = appil_first_duplicate(s);
	for (size_t i = 0; first < 0 && i < s->n_orders; i++) /* one where a worker got an error */
		for (int w = 0; first < 0 && w < s->workers; w++)
			if (s->orders[i].state == APPIL_RAN && s->orders[i].w[w].sqlstate[0])
				first = (long)i;
	for (size_t i = 0; first < 0 && i < s->n_orders; i++)
		if (s->orders[i].state == APPIL_RAN)
			first = (long)i;
	return first;
}

/* text with every occurrence of from replaced by to (malloc'd). */
static char *replaced(const char *text, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	for (const char *p = text; fl && (p = strstr(p, from)); p += fl)
		n++;
	char *out = mem_malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
	for (const char *p = text;;) {
		const char *q = fl ? strstr(p, from) : NULL;
		if (!q) {
			memcpy(o, p, strlen(p) + 1);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	return out;
}

/* One block: "{ sql }" on one line, or indented lines. */
static void block(FILE *out, const char *sql)
{
	size_t len = strlen(sql);
	while (len && isspace((unsigned char)sql[len - 1]))
		len--;
	if (!memchr(sql, '\n', len)) {
		fprintf(out, "{ %.*s }\n", (int)len, sql);
		return;
	}
	fputs("{\n  ", out);
	for (size_t i = 0; i < len; i++) {
		fputc(sql[i], out);
		if (sql[i] == '\n')
			fputs("  ", out);
	}
	fputs("\n}\n", out);
}

/* SQL bound with the order's key (worker 0's spelling, as its rows were
 * counted), malloc'd; NULL with err. */
static char *bound(const struct scenario *sc, const struct appil_order *o, long idx, const char *sql,
		   char *err, size_t errlen)
{
	struct key_ctx ctx = {.round = o->round, .key = 0, .phase_round = idx, .worker = 0};
	struct key_values kv;
	char why[512];
	if (!key_eval(sc->params, sc->n_params, &ctx, &kv, why, sizeof why)) {
		snprintf(err, errlen, "%s:%d: params: %s", sc->path, sc->params_line, why);
		return NULL;
	}
	return sql_bind(sql, kv.ptr, (int)sc->n_params);
}

/* Can every step of o go into a spec? False with err naming the first
 * that cannot. */
static bool exportable(const struct appil_order *o, long idx, char *err, size_t errlen)
{
	char note[APPIL_MAX_POINTS * 4];
	appil_notation(o, note, sizeof note);
	for (int i = 0; i < o->n_steps; i++) {
		const struct appil_step *t = &o->steps[i];
		const char *why = t->conn ? "it came on the worker's second connection (a spec has one "
					    "session per worker)"
				  : t->binary ? "a parameter in binary format cannot be inlined exactly"
				  : t->cut ? "its SQL is longer than pgrace keeps, or names a prepared "
					     "statement pgrace did not see"
				  : strchr(t->inlined, '}') ? "it holds a '}', which ends a block of an "
							      "isolation spec"
							    : NULL;
		if (why) {
			snprintf(err,
				 errlen, "order %ld (%s), worker %c's step %s: cannot go into an isolation spec: %s",
				 idx + 1, note, 'a' + t->worker, t->kind, why);
			return false;
		}
	}
	return true;
}

bool appspec_write(FILE *out, const struct scenario *sc, const struct phase *p,
		   const struct appil_summary *s, const struct spec_capture *cap, const char *sandbox,
		   bool migrated, char *err, size_t errlen)
{
	long idx = appspec_order(s);
	char note[APPIL_MAX_POINTS * 4];
	if (idx < 0) {
		snprintf(err, errlen, "phase %s: no order ran as planned: nothing to write", p->name);
		return false;
	}
	const struct appil_order *o = &s->orders[idx];
	if (!exportable(o, idx, err, errlen))
		return false;
	appil_notation(o, note, sizeof note);
	bool ok = false;
	char *rows = NULL, *rs = NULL;
	fprintf(out, "# Isolation spec for phase %s of scenario %s (%s), written by pgrace:\n", p->name,
		sc->name, sc->path);
	fprintf(out,
		"# order %ld of %zu (%s), %s, of the application's own round trips, as its\n"
		"# processes sent them; it left %lld rows for its key (round %lld).\n",
		idx + 1, s->n_orders, note,
		o->rows > 1 ? "the first that left duplicates" : "the first that ran as planned",
		o->rows, o->round);
	fprintf(out, "# pgrace ran %zu orders (%s), %s: %lld left duplicates, %lld diverged.\n",
		s->n_orders,
		s->exhaustive ? "every order"
		: s->sampled  ? "a sample"
			      : "not all",
		migrated ? "migrated" : "not migrated", s->with_duplicates, s->diverged);
	fputs("# Run it with PostgreSQL's isolation tester (it reads the spec on stdin):\n"
	      "#   $(dirname $(dirname $(pg_config --pgxs)))/test/isolation/isolationtester"
	      " 'dbname=...' < this.spec\n",
	      out);
	fprintf(out,
		"# Setup drops schema %s and makes it again from pg_dump of the run's sandbox\n"
		"# as the phase's race found it.\n",
		cap->schema);
	if (strchr(cap->dump, '}')) {
		snprintf(err, errlen,
			 "the sandbox's dump holds a '}', which ends a block of an "
			 "isolation spec");
		goto out;
	}
	fprintf(out, "\nsetup\n{ DROP SCHEMA IF EXISTS %s CASCADE; }\nsetup\n", cap->schema);
	block(out, cap->dump);
	const struct sql_text *rst = p->round_setup.sql ? &p->round_setup : &sc->round_setup;
	if (rst->sql) {
		if (!(rs = bound(sc, o, idx, rst->sql, err, errlen)))
			goto out;
		if (strchr(rs, '}')) {
			snprintf(err, errlen,
				 "%s:%d: round_setup holds a '}', which ends a block of an "
				 "isolation spec",
				 sc->path, rst->line);
			goto out;
		}
		fputs("setup\n", out);
		block(out, rs);
	}
	fprintf(out, "teardown\n{ DROP SCHEMA %s CASCADE; }\n", cap->schema);
	if (!(rows = bound(sc, o, idx, sc->rows.sql, err, errlen)))
		goto out;
	size_t rl = strlen(rows);
	while (rl && (isspace((unsigned char)rows[rl - 1]) || rows[rl - 1] == ';'))
		rows[--rl] = '\0';
	if (strchr(rows, '}')) {
		snprintf(err, errlen,
			 "%s:%d: the rows query holds a '}', which ends a block of an "
			 "isolation spec",
			 sc->path, sc->rows.line);
		goto out;
	}
	for (int w = 0; w < s->workers; w++) {
		fprintf(out, "\nsession %c\nsetup\n{ SET search_path TO %s; }\n", 'a' + w, cap->schema);
		int k = 0;
		for (int i = 0; i < o->n_steps; i++) {
			const struct appil_step *t = &o->steps[i];
			if (t->worker != w)
				continue;
			char *sql = replaced(t->inlined, sandbox, cap->schema);
			fprintf(out, "step %c%02d_%s ", 'a' + w, ++k, t->kind);
			block(out, sql);
			free(sql);
		}
		if (w == 0)
			fprintf(out, "teardown\n{ SELECT (%s) AS pgrace_rows; }\n", rows);
	}
	fputs("\npermutation", out);
	int count[APPIL_MAX_WORKERS] = {0};
	for (int i = 0; i < o->n_steps; i++) {
		const struct appil_step *t = &o->steps[i];
		fprintf(out, " \"%c%02d_%s\"", 'a' + t->worker, ++count[t->worker], t->kind);
	}
	fputc('\n', out);
	ok = !ferror(out);
	if (!ok)
		snprintf(err, errlen, "cannot write the spec");
out:
	free(rows);
	free(rs);
	return ok;
}

int appspec_save(const char *path, const struct scenario *sc, const struct phase *p,
		 const struct appil_summary *s, const struct spec_capture *cap, const char *sandbox,
		 bool migrated, char *err, size_t errlen)
{
	struct outfile of;
	if (!outfile_open(&of, path)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return EXIT_RESULTS;
	}
	err[0] = '\0';
	bool ok = appspec_write(of.f, sc, p, s, cap, sandbox, migrated, err, errlen);
	int rc = ok ? EXIT_PASS : err[0] ? EXIT_USAGE : EXIT_RESULTS;
	if (!outfile_close(&of, ok) && ok) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		rc = EXIT_RESULTS;
	}
	return rc;
}
