/* spec.c: writing an interleave phase as an isolation tester spec: the
 * sandbox as the run left it before the phase's race (pg_dump of the
 * schema, renamed to the spec's own), the sessions and the permutations, and
 * the file it goes to (outfile.h: a temporary of its own, renamed when
 * complete). */
#define _GNU_SOURCE /* mkstemp, fdopen with glibc's feature macros */
#include "spec.h"

#include "attempt.h"
#include "command.h"
#include "db.h"
#include "key.h"
#include "mem.h"
#include "outfile.h"
#include "pgrace.h"
#include "sandbox.h"
#include "stats.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define DUMP_TIMEOUT_US (300u * 1000000u)


/* sql bound to the spec's key as worker spells it (the round of the phase's
 * first order, key 0, phase round 0: every permutation starts from the
 * sandbox as that order found it, so one key serves them all), without
 * trailing blanks and semicolons. */
static char *bound(const struct scenario *sc, long long round, const char *sql, int worker,
		   char *err, size_t errlen)
{
	struct key_ctx ctx = {.round = round, .key = 0, .phase_round = 0, .worker = worker};
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

/* block() of SQL bound with the key's values (raw: the scenario's text, at
 * line): a '}' that only the values brought in is the params line's doing,
 * not the statement's, and the message says so. */
static bool bound_block(FILE *out, const struct scenario *sc, const char *what, const char *raw,
			const char *sql, int line, char *err, size_t errlen)
{
	if (strchr(sql, '}') && !strchr(raw, '}')) {
		snprintf(err, errlen,
			 "%s:%d: params: a key value holds a '}' (bound into the %s at line %d), which "
			 "ends a block of an isolation spec",
			 sc->path, sc->params_line, what, line);
		return false;
	}
	return block(out, what, sql, line, sc->path, err, errlen);
}

/* A flow statement as the step's SQL (malloc'd): the check of a
 * skip_if_found step records what it found; statements after a check run
 * only when it found nothing. */
static char *step_sql(const struct scenario *sc, long long round, size_t i, int worker, char *err,
		      size_t errlen)
{
	char *sql = bound(sc, round, sc->flow[i].text.sql, worker, err, errlen);
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
		const struct race_cfg *cfg, const struct ilv_summary *s,
		const struct spec_capture *cap, bool migrated, bool all, char *err, size_t errlen)
{
	char sql[512];
	const char *schema = cap->schema;
	bool ok = false;
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
	fprintf(out, "# Setup drops schema %s (DROP SCHEMA IF EXISTS %s CASCADE) and makes it\n"
		     "# again from pg_dump of the run's sandbox as it was when the phase's race\n"
		     "# began (after every earlier phase and this phase's steps), key of round %lld.\n",
		schema, schema, cap->round);
	for (size_t i = 0; i < s->n_orders; i++) {
		const struct ilv_order *o = &s->orders[i];
		char text[512];
		if (o->executable)
			continue;
		ilv_describe(o, text, sizeof text);
		fprintf(out, "#   not executable: %s\n", text);
	}
	fputs("\nsetup\n", out);
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE;\n", schema);
	if (!block(out, "setup", sql, 0, sc->path, err, errlen))
		goto out;
	fputs("setup\n", out); /* the dump: it creates the schema, then the search_path */
	if (!block(out, "the sandbox's dump", cap->dump, 0, sc->path, err, errlen))
		goto out;
	const struct sql_text *rs = p->round_setup.sql ? &p->round_setup : &sc->round_setup;
	if (rs->sql) { /* the round's own setup, for the spec's key */
		char *b = bound(sc, cap->round, rs->sql, 0, err, errlen);
		if (!b)
			goto out;
		fputs("setup\n", out);
		bool fine = bound_block(out, sc, "round_setup", rs->sql, b, rs->line, err, errlen);
		free(b);
		if (!fine)
			goto out;
	}
	fputs("teardown\n", out);
	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE;\n", schema);
	block(out, "teardown", sql, 0, sc->path, err, errlen);

	rows = bound(sc, cap->round, sc->rows.sql, 0, err, errlen);
	if (!rows)
		goto out;
	for (int w = 0; w < cfg->workers; w++) {
		for (size_t i = 0; i < sc->n_flow; i++) {
			free(steps[i]);
			if (!(steps[i] = step_sql(sc, cap->round, i, w, err, errlen)))
				goto out;
		}
		char label[ORDER_NAME_LEN + 4];
		fprintf(out, "\nsession %c\nsetup\n", 'a' + w);
		char begin[192];
		attempt_begin_sql(begin, sizeof begin,
				  w < cfg->rc_workers ? ISO_READ_COMMITTED : cfg->isolation,
				  ATTEMPT_READ_WRITE, NULL);
		snprintf(sql, sizeof sql, "SET search_path TO %s;\n%s;\n", schema, begin);
		block(out, "session setup", sql, 0, sc->path, err, errlen);
		for (size_t i = 0; i <= sc->n_flow; i++) {
			order_step_label(w, s->step_names[i], label, sizeof label);
			fprintf(out, "step %s ", label);
			bool fine = i < sc->n_flow
					    ? bound_block(out, sc, "flow statement", sc->flow[i].text.sql,
							  steps[i], sc->flow[i].text.line, err, errlen)
					    : block(out, "flow statement", "COMMIT;", 0, sc->path, err,
						    errlen);
			if (!fine)
				goto out;
		}
		if (w == 0) {
			size_t len = strlen(rows) + 64;
			char *t = malloc(len);
			if (!t)
				abort();
			snprintf(t, len, "SELECT (%s) AS pgrace_rows;", rows);
			fputs("teardown\n", out);
			bool fine = bound_block(out, sc, "rows", sc->rows.sql, t, sc->rows.line, err,
						errlen);
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

bool spec_schema_name_ok(const char *schema, char *err, size_t errlen)
{
	size_t n = strlen(schema);
	if (n == 0 || n > 63 || strspn(schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != n ||
	    strncmp(schema, "pgrace_", 7) != 0 || n == 7) {
		snprintf(err, errlen,
			 "--schema: expected a lower-case name starting with pgrace_ (the spec's setup "
			 "drops that schema with CASCADE), got \"%s\"",
			 schema);
		return false;
	}
	if (sandbox_is_name(schema)) {
		snprintf(err, errlen,
			 "--schema: %s has the form of a run's sandbox (pgrace clean would drop it "
			 "while the isolation tester uses it): choose another name",
			 schema);
		return false;
	}
	return true;
}

int spec_check_schema(const char *dsn, const char *schema, char *err, size_t errlen)
{
	char cerr[512], text[600];
	PGconn *c = db_connect(dsn, NULL, cerr, sizeof cerr);
	if (!c) {
		snprintf(err, errlen, "cannot connect: %s", cerr);
		return EXIT_DATABASE;
	}
	struct db_result r;
	const char *args[1] = {schema};
	db_query(c, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, args, 0, &r);
	PQfinish(c);
	if (r.status != DB_OK) {
		snprintf(err, errlen, "cannot list the schemas: %s",
			 db_result_text(&r, text, sizeof text));
		return EXIT_DATABASE;
	}
	if (r.rows > 0) {
		snprintf(err, errlen,
			 "--schema: schema %s exists in this database, and the spec's setup would "
			 "drop it (DROP SCHEMA %s CASCADE): name one that does not exist",
			 schema, schema);
		return EXIT_USAGE;
	}
	return EXIT_PASS;
}

/* text with every occurrence of from replaced by to (malloc'd). */
static char *replaced(const char *text, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	for (const char *p = strstr(text, from); p; p = strstr(p + fl, from))
		n++;
	size_t len = strlen(text) + n * (tl > fl ? tl - fl : 0) + 1;
	char *out = mem_malloc(len), *o = out;
	const char *p = text;
	for (const char *hit; (hit = strstr(p, from)) != NULL; p = hit + fl) {
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
	}
	snprintf(o, len - (size_t)(o - out), "%s", p);
	return out;
}

bool spec_dump_setup(const char *dump, const char *sandbox, struct spec_capture *cap,
			  char *err, size_t errlen)
{
	size_t len = strlen(dump) + 1;
	char *kept = mem_malloc(len), *k = kept;
	int line = 0;
	for (const char *p = dump; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		line++;
		if (memchr(p, '}', n)) {
			snprintf(err, errlen,
				 "cannot export the sandbox: line %d of its dump holds a '}', which ends "
				 "a block of an isolation spec: %.*s",
				 line, (int)(n > 120 ? 120 : n - (nl ? 1 : 0)), p);
			free(kept);
			return false;
		}
		if (*p != '\\') {
			memcpy(k, p, n);
			k += n;
		}
		p += n;
	}
	*k = '\0';
	char *renamed = replaced(kept, sandbox, cap->schema);
	free(kept);
	size_t total = strlen(renamed) + strlen(cap->schema) + 64;
	cap->dump = mem_malloc(total);
	snprintf(cap->dump, total, "%s\nSET search_path TO %s;\n", renamed, cap->schema);
	free(renamed);
	return true;
}

bool spec_capture_sandbox(void *ctx, PGconn *admin, const char *sandbox, long long round,
			  char *err, size_t errlen)
{
	struct spec_capture *cap = ctx;
	char text[600];
	const char *tmp = getenv("TMPDIR");
	char tpath[1024];
	snprintf(tpath, sizeof tpath, "%s/pgrace-dump.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(tpath);
	if (fd < 0) {
		snprintf(err, errlen, "cannot make a file for pg_dump in %s: %s",
			 tmp && *tmp ? tmp : "/tmp", strerror(errno));
		return false;
	}
	close(fd);
	bool ok = false;
	cap->round = round;
	/* Extensions made in the sandbox (requires:) go with it: a schema's
	 * dump leaves them out unless named. */
	struct db_result r;
	const char *args[1] = {sandbox};
	db_query(admin,
		 "SELECT coalesce(string_agg(e.extname, ' ' ORDER BY e.extname), '') FROM pg_extension e "
		 "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = $1",
		 1, args, 0, &r);
	if (r.status != DB_OK) {
		snprintf(err, errlen, "cannot list the sandbox's extensions: %s",
			 db_result_text(&r, text, sizeof text));
		goto out;
	}
	const char *bin = getenv("PGRACE_PG_DUMP");
	char schema_arg[96], file_arg[1100], ext_args[8][96];
	snprintf(schema_arg, sizeof schema_arg, "--schema=%s", sandbox);
	snprintf(file_arg, sizeof file_arg, "--file=%s", tpath);
	char *argv[8 + 8] = {(char *)(bin && *bin ? bin : "pg_dump"), "--no-owner", "--no-privileges",
			     "--inserts", schema_arg, file_arg};
	int argc = 6, n_ext = 0;
	const char *names = r.first_value;
	while (*names && n_ext < 8) {
		size_t n = strcspn(names, " ");
		snprintf(ext_args[n_ext], sizeof ext_args[n_ext], "--extension=%.*s", (int)n, names);
		argv[argc++] = ext_args[n_ext++];
		names += n;
		names += strspn(names, " ");
	}
	argv[argc] = NULL;
	char **env = command_env(environ, admin, sandbox);
	struct command_result *cr = mem_malloc(sizeof *cr);
	command_run(argv, NULL, env, clock_us() + DUMP_TIMEOUT_US, cr);
	command_argv_free(env);
	if (cr->status != CMD_OK) {
		const char *said = command_last_lines(cr->err[0] ? cr->err : cr->out, 3);
		char how[112], ended[96];
		if (cr->status == CMD_FAILED)
			snprintf(how, sizeof how, " %s: ",
				 command_end_text(cr, false, ended, sizeof ended));
		snprintf(err, errlen,
			 "cannot export the sandbox: %s%s%s (pg_dump dumps the schema as the run "
			 "left it; PGRACE_PG_DUMP names another one)",
			 argv[0],
			 cr->status == CMD_SPAWN_ERROR ? ": " : cr->status == CMD_FAILED ? how : " failed: ",
			 cr->status == CMD_SPAWN_ERROR ? cr->why : said);
		free(cr);
		goto out;
	}
	free(cr);
	char *dump = NULL;
	FILE *f = fopen(tpath, "r");
	size_t size = 0;
	if (f) {
		FILE *m = open_memstream(&dump, &size);
		char chunk[8192];
		size_t got;
		while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
			fwrite(chunk, 1, got, m);
		if (m)
			fclose(m);
		fclose(f);
	}
	if (!dump) {
		snprintf(err, errlen, "cannot read pg_dump's output %s: %s", tpath, strerror(errno));
		goto out;
	}
	ok = spec_dump_setup(dump, sandbox, cap, err, errlen);
	free(dump);
out:
	unlink(tpath);
	return ok;
}

int spec_save(const char *path, const struct scenario *sc, const struct phase *p,
	      const struct race_cfg *cfg, const struct ilv_summary *s,
	      const struct spec_capture *cap, bool migrated, bool all, char *err, size_t errlen)
{
	struct outfile of;
	if (!outfile_open(&of, path)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return EXIT_RESULTS;
	}
	err[0] = '\0';
	bool ok = spec_write(of.f, sc, p, cfg, s, cap, migrated, all, err, errlen);
	int rc = ok ? EXIT_PASS : err[0] ? EXIT_USAGE : EXIT_RESULTS;
	/* Not ok: no partial spec where the complete one was asked for. */
	if (!outfile_close(&of, ok) && ok) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		rc = EXIT_RESULTS;
	}
	return rc;
}
