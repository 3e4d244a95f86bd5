/* scenario.c: loads a scenario file with libfyaml and validates every key.
 *
 * The whole file is read first (size-capped, checked for NUL bytes and
 * invalid UTF-8 so those errors can name a line), parsed into a YAML
 * document, then walked. Unknown keys are errors: a typo must never turn a
 * check off silently. */
#include "scenario.h"
#include "text.h"

#include "metric.h"

#include "order.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlscan.h"

#define MAX_FILE_BYTES (1024 * 1024)

struct loader {
	const char *path;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 3, 4))) static bool
errorf(struct loader *L, int line, const char *fmt, ...)
{
	if (L->failed)
		return false;
	L->failed = true;
	int n = snprintf(L->err, L->errlen, "%s:%d: ", L->path, line);
	if (n < 0 || (size_t)n >= L->errlen)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* 1-based line where a node starts (for a collection: its first scalar). */
static int node_line(struct fy_node *n, int fallback)
{
	if (!n)
		return fallback;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *t = fy_node_get_scalar_token(n);
		const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
		return m ? m->line + 1 : fallback;
	}
	case FYNT_MAPPING: {
		void *it = NULL;
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
		return p ? node_line(fy_node_pair_key(p), fallback) : fallback;
	}
	case FYNT_SEQUENCE: {
		void *it = NULL;
		struct fy_node *item = fy_node_sequence_iterate(n, &it);
		return item ? node_line(item, fallback) : fallback;
	}
	}
	return fallback;
}

static const char *type_name(struct fy_node *n)
{
	if (!n)
		return "nothing";
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		return "a scalar";
	case FYNT_SEQUENCE:
		return "a list";
	case FYNT_MAPPING:
		return "a mapping";
	}
	return "?";
}

static bool want_type(struct loader *L, struct fy_node *n, enum fy_node_type t, const char *key,
		      int line)
{
	static const char *names[] = {"a scalar", "a list", "a mapping"};
	if (n && fy_node_is_alias(n))
		return errorf(L, node_line(n, line), "%s: YAML aliases are not supported", key);
	if (!n || fy_node_get_type(n) != t)
		return errorf(L, node_line(n, line), "%s: expected %s, got %s", key, names[t],
			      type_name(n));
	return true;
}

/* Scalar text of n (NUL-terminated by libfyaml), checked to be a scalar. */
static const char *scalar(struct loader *L, struct fy_node *n, const char *key, int line)
{
	if (!want_type(L, n, FYNT_SCALAR, key, line))
		return NULL;
	const char *s = fy_node_get_scalar0(n);
	if (!s)
		errorf(L, node_line(n, line), "%s: unreadable scalar", key);
	return s;
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

static bool get_string(struct loader *L, struct fy_node *n, const char *key, int line,
		       char **out)
{
	const char *s = scalar(L, n, key, line);
	if (!s)
		return false;
	if (blank(s))
		return errorf(L, line, "%s: must not be empty", key);
	*out = xstrdup(s);
	return true;
}

/* A name or description: a string without control characters, C1 or bidi
 * controls (they would reach reports raw, and reorder what a reader sees). */
static bool get_name(struct loader *L, struct fy_node *n, const char *key, int line, char **out)
{
	if (!get_string(L, n, key, line, out))
		return false;
	const unsigned char *u = (const unsigned char *)*out;
	for (size_t i = 0, len = strlen(*out), step; i < len; i += step) {
		step = text_utf8_len(u + i, len - i);
		uint32_t cp = step ? text_utf8_decode(u + i, step) : u[i];
		if (!step || text_is_control(cp)) {
			free(*out);
			*out = NULL;
			return cp < 0x80 || !step
				       ? errorf(L, node_line(n, line),
						"%s: control character 0x%02X not allowed", key, (unsigned)cp)
				       : errorf(L, node_line(n, line),
						"%s: control character U+%04X not allowed", key, (unsigned)cp);
		}
	}
	return true;
}

static bool get_sql(struct loader *L, struct fy_node *n, const char *key, int line,
		    struct sql_text *out)
{
	out->line = node_line(n, line);
	if (!get_string(L, n, key, line, &out->sql))
		return false;
	out->nparams = sql_max_param(out->sql);
	/* pgrace sends no COPY data and keeps no COPY output. */
	const char *pos = out->sql;
	struct sql_stmt st;
	while (sql_next_stmt(out->sql, &pos, &st))
		if (sql_is_client_copy(&st))
			return errorf(L, out->line + st.line,
				      "%s: COPY from STDIN or to STDOUT is not supported (pgrace has no "
				      "data to send and keeps no output); load data with INSERT ... SELECT",
				      key);
	return true;
}

/* A flow step is one statement: several would run outside the barrier's
 * reasoning (and, sent as one string, could leave the sandbox). */
static bool check_one_statement(struct loader *L, const struct sql_text *t, const char *key)
{
	const char *pos = t->sql;
	struct sql_stmt st;
	if (!sql_next_stmt(t->sql, &pos, &st))
		return errorf(L, t->line, "%s: no statement", key);
	if (sql_next_stmt(t->sql, &pos, &st))
		return errorf(L, t->line + st.line,
			      "%s: one statement per flow step, but a second one starts here (make it "
			      "a flow step of its own)",
			      key);
	return true;
}

static bool get_int(struct loader *L, struct fy_node *n, const char *key, int line, long lo,
		    long hi, int *out)
{
	const char *s = scalar(L, n, key, line);
	if (!s)
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return errorf(L, node_line(n, line), "%s: expected an integer from %ld to %ld, got \"%.40s\"",
			      key, lo, hi, s);
	*out = (int)v;
	return true;
}

static bool get_bool(struct loader *L, struct fy_node *n, const char *key, int line, bool *out)
{
	const char *s = scalar(L, n, key, line);
	if (!s)
		return false;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
		*out = false;
		return true;
	}
	return errorf(L, node_line(n, line), "%s: expected true or false, got \"%.40s\"", key, s);
}

/* Picks one of names[]; returns its index or -1 (error set). */
static int get_enum(struct loader *L, struct fy_node *n, const char *key, int line,
		    const char *const *names, size_t count)
{
	const char *s = scalar(L, n, key, line);
	if (!s)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	char choices[256] = "";
	for (size_t i = 0; i < count; i++) {
		size_t len = strlen(choices);
		snprintf(choices + len, sizeof choices - len, "%s%s", i ? ", " : "", names[i]);
	}
	errorf(L, node_line(n, line), "%s: expected one of %s, got \"%.40s\"", key, choices, s);
	return -1;
}

/* Iterates a mapping, rejecting keys not in allowed[]. */
struct map_iter {
	void *it;
	struct fy_node *map;
};

static bool next_pair(struct loader *L, struct map_iter *mi, const char *const *allowed,
		      const char *where, const char **key, struct fy_node **value, int *line)
{
	struct fy_node_pair *p = fy_node_mapping_iterate(mi->map, &mi->it);
	if (!p)
		return false;
	struct fy_node *k = fy_node_pair_key(p);
	*value = fy_node_pair_value(p);
	*line = node_line(k, node_line(*value, 0));
	if (k && fy_node_is_alias(k)) { /* its text is the anchor's name, not a key */
		errorf(L, *line, "%s: a YAML alias as a key is not supported", where);
		return false;
	}
	const char *ks = (k && fy_node_get_type(k) == FYNT_SCALAR) ? fy_node_get_scalar0(k) : NULL;
	if (!ks) {
		errorf(L, *line, "%s: keys must be plain strings", where);
		return false;
	}
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(ks, allowed[i]) == 0) {
			*key = allowed[i];
			return true;
		}
	char choices[512] = "";
	for (size_t i = 0; allowed[i]; i++) {
		size_t len = strlen(choices);
		snprintf(choices + len, sizeof choices - len, "%s%s", i ? ", " : "", allowed[i]);
	}
	errorf(L, *line, "%s: unknown key \"%.40s\" (expected one of: %s)", where, ks, choices);
	return false;
}

/* The scenario file's folder ("." when the path has none), malloc'd. */
static char *scenario_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	size_t n = (size_t)(slash - path);
	char *d = xcalloc(n + 1, 1);
	memcpy(d, path, n);
	return d;
}

/* Fills cmd from its line, folder (relative to the scenario's), shell flag
 * and deadline; false with the error set. */
static bool make_command(struct loader *L, int line, const char *text, const char *cwd,
			 bool shell, int timeout_ms, struct command *cmd)
{
	char perr[256];
	cmd->line = xstrdup(text);
	cmd->shell = shell;
	cmd->timeout_ms = timeout_ms ? timeout_ms : COMMAND_DEFAULT_TIMEOUT_MS;
	if (shell) {
		cmd->argv = xcalloc(4, sizeof *cmd->argv);
		cmd->argv[0] = xstrdup("/bin/sh");
		cmd->argv[1] = xstrdup("-c");
		cmd->argv[2] = xstrdup(text);
	} else if (!command_split(text, &cmd->argv, perr, sizeof perr)) {
		return errorf(L, line, "command: %s", perr);
	}
	char *dir = scenario_dir(L->path);
	if (cwd && cwd[0] == '/') {
		cmd->cwd = xstrdup(cwd);
	} else if (cwd) {
		size_t n = strlen(dir) + strlen(cwd) + 2;
		cmd->cwd = xcalloc(n, 1);
		snprintf(cmd->cwd, n, "%s/%s", dir, cwd);
	} else {
		cmd->cwd = xstrdup(dir);
	}
	free(dir);
	return true;
}

static const char *const command_keys[] = {"command", "cwd", "shell", "timeout_ms", NULL};

/* One of the command keys (cwd, shell, timeout_ms) into its field. */
static bool command_option(struct loader *L, const char *k, struct fy_node *v, int kl,
			   const char **cwd, bool *shell, int *timeout_ms)
{
	if (!strcmp(k, "cwd"))
		return (*cwd = scalar(L, v, k, kl)) != NULL;
	if (!strcmp(k, "shell"))
		return get_bool(L, v, k, kl, shell);
	return get_int(L, v, k, kl, 100, 3600000, timeout_ms);
}

/* SQL text, or {command: LINE, cwd: DIR, shell: BOOL, timeout_ms: N}. */
static bool get_sql_or_command(struct loader *L, struct fy_node *n, const char *key, int line,
			       struct sql_text *out)
{
	if (!n || fy_node_get_type(n) != FYNT_MAPPING || fy_node_is_alias(n))
		return get_sql(L, n, key, line, out);
	out->line = node_line(n, line);
	const char *text = NULL, *cwd = NULL;
	bool shell = false;
	int timeout_ms = 0, text_line = out->line;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, command_keys, key, &k, &v, &kl)) {
		if (!strcmp(k, "command")) {
			if (!(text = scalar(L, v, k, kl)))
				return false;
			text_line = kl;
		} else if (!command_option(L, k, v, kl, &cwd, &shell, &timeout_ms)) {
			return false;
		}
	}
	if (L->failed)
		return false;
	if (!text)
		return errorf(L, out->line, "%s: a mapping here names a command: missing key \"command\"",
			      key);
	out->command = xcalloc(1, sizeof *out->command);
	return make_command(L, text_line, text, cwd, shell, timeout_ms, out->command);
}

static void sql_text_free(struct sql_text *t)
{
	free(t->sql);
	if (t->command) {
		command_free(t->command);
		free(t->command);
	}
}

/* Checks every name of an expression against the metric table. */
struct name_check {
	enum metric_scope scope;
	char err[640];
};

static bool check_name(void *ctx, const char *name)
{
	struct name_check *nc = ctx;
	return metric_check(nc->scope, name, nc->err, sizeof nc->err);
}

static bool parse_one_expect(struct loader *L, const char *text, int line, enum expect_when when,
			     enum metric_scope scope, struct expectation *x)
{
	char perr[256];
	if (!expect_parse(text, x, perr, sizeof perr))
		return errorf(L, line, "expect: %s", perr);
	x->line = line;
	x->when = when;
	struct name_check nc = {.scope = scope};
	if (!expr_names(x->lhs, check_name, &nc) || !expr_names(x->rhs, check_name, &nc)) {
		errorf(L, line, "expect: %s", nc.err);
		expect_free(x);
		return false;
	}
	if (!expr_const_ok(x->lhs, perr, sizeof perr) || !expr_const_ok(x->rhs, perr, sizeof perr)) {
		errorf(L, line, "expect: %s", perr);
		expect_free(x);
		return false;
	}
	return true;
}

/* expect: a list of "EXPR OP EXPR", or {hold: ...} / {fire: ...} items. */
static bool parse_expects(struct loader *L, struct fy_node *n, int line, enum metric_scope scope,
			  struct expectation **out, size_t *count)
{
	if (!want_type(L, n, FYNT_SEQUENCE, "expect", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	*out = xcalloc((size_t)len, sizeof **out);
	*count = 0;
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = node_line(item, line);
		enum expect_when when = WHEN_ALWAYS;
		struct fy_node *val = item;
		if (item && fy_node_get_type(item) == FYNT_MAPPING && !fy_node_is_alias(item)) {
			if (fy_node_mapping_item_count(item) != 1)
				return errorf(L, iline, "expect: a mode-specific item is one key, hold, fire or interleave");
			struct fy_node_pair *p = fy_node_mapping_get_by_index(item, 0);
			struct fy_node *key = fy_node_pair_key(p);
			if (key && fy_node_is_alias(key))
				return errorf(L, iline, "expect: a YAML alias as a key is not supported");
			const char *k = fy_node_get_scalar0(key);
			if (!k || (strcmp(k, "hold") && strcmp(k, "fire") && strcmp(k, "interleave")))
				return errorf(L, iline, "expect: a mode-specific item is keyed hold, fire or interleave, got \"%.40s\"",
					      k ? k : "?");
			when = strcmp(k, "hold") == 0   ? WHEN_HOLD
			       : strcmp(k, "fire") == 0 ? WHEN_FIRE
							: WHEN_INTERLEAVE;
			val = fy_node_pair_value(p);
		}
		const char *text = scalar(L, val, "expect", iline);
		if (!text)
			return false;
		if (!parse_one_expect(L, text, iline, when, scope, &(*out)[*count]))
			return false;
		(*count)++;
	}
	if (*count == 0)
		return errorf(L, line, "expect: the list is empty");
	return true;
}

static const char *const mode_names[] = {"hold", "fire", "interleave"};
static const char *const iso_names[] = {"read committed", "repeatable read", "serializable"};
static const char *const dist_names[] = {"uniform", "hot"};

static bool parse_race(struct loader *L, struct fy_node *n, int line, struct race_cfg *r)
{
	static const char *const keys[] = {"workers", "rounds", "keys", "deadline_ms", "retries",
					   "mode", "isolation", "distribution",
					   "read_committed_workers", "max_interleavings", "seed",
					   "autocommit", NULL};
	memset(r, 0, sizeof *r);
	if (n && fy_node_get_type(n) == FYNT_SCALAR && blank(fy_node_get_scalar0(n)))
		return true; /* `race:` with nothing: defaults */
	if (!want_type(L, n, FYNT_MAPPING, "race", line))
		return false;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, keys, "race", &k, &v, &kl)) {
		int idx;
		bool ok = true;
		if (!strcmp(k, "workers"))
			ok = get_int(L, v, k, kl, 1, 5000, &r->workers), r->set |= RACE_SET_WORKERS;
		else if (!strcmp(k, "rounds"))
			ok = get_int(L, v, k, kl, 1, 1000000, &r->rounds), r->set |= RACE_SET_ROUNDS;
		else if (!strcmp(k, "keys"))
			ok = get_int(L, v, k, kl, 1, 5000, &r->keys), r->set |= RACE_SET_KEYS;
		else if (!strcmp(k, "deadline_ms"))
			ok = get_int(L, v, k, kl, 100, 3600000, &r->deadline_ms), r->set |= RACE_SET_DEADLINE;
		else if (!strcmp(k, "retries"))
			ok = get_int(L, v, k, kl, 0, 1000, &r->retries), r->set |= RACE_SET_RETRIES;
		else if (!strcmp(k, "read_committed_workers"))
			ok = get_int(L, v, k, kl, 0, 5000, &r->rc_workers), r->set |= RACE_SET_RC;
		else if (!strcmp(k, "max_interleavings"))
			ok = get_int(L, v, k, kl, 1, ORDER_MAX_SAMPLE, &r->max_interleavings),
			r->set |= RACE_SET_MAX_ILV;
		else if (!strcmp(k, "autocommit"))
			ok = get_bool(L, v, k, kl, &r->autocommit), r->set |= RACE_SET_AUTOCOMMIT;
		else if (!strcmp(k, "seed")) {
			int seed = 0;
			ok = get_int(L, v, k, kl, 0, 2147483647, &seed), r->seed = seed;
			r->set |= RACE_SET_SEED;
		} else if (!strcmp(k, "mode")) {
			ok = (idx = get_enum(L, v, k, kl, mode_names, 3)) >= 0;
			r->mode = (enum race_mode)idx, r->set |= RACE_SET_MODE;
		} else if (!strcmp(k, "isolation")) {
			ok = (idx = get_enum(L, v, k, kl, iso_names, 3)) >= 0;
			r->isolation = (enum isolation)idx, r->set |= RACE_SET_ISOLATION;
		} else {
			ok = (idx = get_enum(L, v, k, kl, dist_names, 2)) >= 0;
			r->dist = (enum key_dist)idx, r->set |= RACE_SET_DIST;
		}
		if (!ok)
			return false;
	}
	return !L->failed;
}

static bool parse_flow(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	static const char *const keys[] = {"sql", "skip_if_found", "on", NULL};
	if (!want_type(L, n, FYNT_SEQUENCE, "flow", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return errorf(L, line, "flow: needs at least one step");
	sc->flow = xcalloc((size_t)len, sizeof *sc->flow);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = node_line(item, line);
		struct flow_step *fs = &sc->flow[sc->n_flow++];
		if (!want_type(L, item, FYNT_MAPPING, "flow step", iline))
			return false;
		struct map_iter mi = {.map = item};
		const char *k;
		struct fy_node *v;
		int kl;
		while (next_pair(L, &mi, keys, "flow step", &k, &v, &kl)) {
			if (!strcmp(k, "on")) {
				fs->on_line = kl;
				if (!get_name(L, v, "flow step on", kl, &fs->on))
					return false;
				continue;
			}
			if (!strcmp(k, "sql") ? !get_sql(L, v, "flow step sql", kl, &fs->text) ||
							!check_one_statement(L, &fs->text, "flow step sql")
					      : !get_bool(L, v, k, kl, &fs->skip_if_found))
				return false;
		}
		if (L->failed)
			return false;
		if (!fs->text.sql)
			return errorf(L, iline, "flow step: missing key \"sql\"");
		const char *tc = sql_transaction_control(fs->text.sql);
		if (tc)
			return errorf(L, fs->text.line,
				      "flow step: %s is transaction control: a flow's statements run "
				      "inside one transaction that pgrace begins and commits (the commit "
				      "barrier and the outcome depend on it), so a flow step never begins, "
				      "ends or splits it",
				      tc);
	}
	return true;
}

/* One params entry: an integer expression, a template (it has a brace),
 * {text: TEMPLATE} or {variants: [TEMPLATE, ...]}. */
static bool parse_param(struct loader *L, struct fy_node *item, int iline, struct key_param *kp)
{
	static const char *const keys[] = {"text", "variants", NULL};
	char perr[768];
	if (item && fy_node_get_type(item) == FYNT_MAPPING && !fy_node_is_alias(item)) {
		if (fy_node_mapping_item_count(item) != 1)
			return errorf(L, iline, "params: a mapping entry is one key, text or variants");
		struct map_iter mi = {.map = item};
		const char *k;
		struct fy_node *v;
		int kl;
		if (!next_pair(L, &mi, keys, "params", &k, &v, &kl))
			return false;
		if (!strcmp(k, "text")) {
			const char *s = scalar(L, v, "params text", kl);
			if (!s)
				return false;
			if (!key_param_text(&s, 1, kp, perr, sizeof perr))
				return errorf(L, kl, "params: %s", perr);
			return true;
		}
		if (!want_type(L, v, FYNT_SEQUENCE, "params variants", kl))
			return false;
		int n = fy_node_sequence_item_count(v);
		if (n < 1 || n > 64)
			return errorf(L, kl, "params variants: expected 1 to 64 templates, got %d", n);
		const char *texts[64];
		void *it = NULL;
		struct fy_node *t;
		int i = 0;
		while ((t = fy_node_sequence_iterate(v, &it)))
			if (!(texts[i++] = scalar(L, t, "params variants", node_line(t, kl))))
				return false;
		if (!key_param_text(texts, (size_t)n, kp, perr, sizeof perr))
			return errorf(L, kl, "params: %s", perr);
		return true;
	}
	const char *s = scalar(L, item, "params", iline);
	if (!s)
		return false;
	bool ok = key_is_template(s) ? key_param_text(&s, 1, kp, perr, sizeof perr)
				     : key_param_expr(s, kp, perr, sizeof perr);
	if (!ok)
		return errorf(L, iline, "params: %s", perr);
	return true;
}

static bool parse_params(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!want_type(L, n, FYNT_SEQUENCE, "params", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0 || len > KEY_MAX_PARAMS)
		return errorf(L, line, "params: expected 1 to %d key parameters, got %d", KEY_MAX_PARAMS,
			      len);
	sc->params = xcalloc((size_t)len, sizeof *sc->params);
	sc->params_line = line;
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = node_line(item, line);
		if (!parse_param(L, item, iline, &sc->params[sc->n_params]))
			return false;
		sc->n_params++;
	}
	/* A parameter that cannot be evaluated in the first round (round 1,
	 * key 0, worker 0) would break it. */
	struct key_ctx first = {.round = 1};
	struct key_values kv;
	char perr[512];
	if (!key_eval(sc->params, sc->n_params, &first, &kv, perr, sizeof perr))
		return errorf(L, line, "params: %s in the first round (round 1, key 0)", perr);
	return true;
}

static bool parse_sql_map(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!want_type(L, n, FYNT_MAPPING, "sql", line))
		return false;
	int len = fy_node_mapping_item_count(n);
	sc->sql = xcalloc((size_t)len, sizeof *sc->sql);
	void *it = NULL;
	struct fy_node_pair *p;
	while ((p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(p);
		int kl = node_line(k, line);
		const char *name = scalar(L, k, "sql name", kl);
		if (!name)
			return false;
		struct named_sql *ns = &sc->sql[sc->n_sql++];
		ns->name = xstrdup(name);
		if (!get_sql(L, fy_node_pair_value(p), name, kl, &ns->text))
			return false;
	}
	return true;
}

static bool parse_migration(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	static const char *const keys[] = {"up", "down", NULL};
	if (!want_type(L, n, FYNT_MAPPING, "migration", line))
		return false;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, keys, "migration", &k, &v, &kl))
		if (!get_sql_or_command(L, v, !strcmp(k, "up") ? "migration.up" : "migration.down", kl,
					!strcmp(k, "up") ? &sc->migrate_up : &sc->migrate_down))
			return false;
	return !L->failed;
}

static bool parse_sqlstate(struct loader *L, struct fy_node *n, const char *key, int line,
			   char out[6])
{
	const char *s = scalar(L, n, key, line);
	if (!s)
		return false;
	bool ok = strlen(s) == 5;
	for (size_t i = 0; ok && i < 5; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z');
	if (!ok)
		return errorf(L, node_line(n, line),
			      "%s: expected a 5-character SQLSTATE such as 23505, got \"%.40s\"", key, s);
	memcpy(out, s, 6);
	return true;
}

/* An SQL identifier at *p into out, as PostgreSQL reads it: unquoted, folded
 * to lower case (ASCII letters); "quoted", as written with "" for a quote.
 * Advances *p past it. False when there is none (why left as the caller set
 * it), or it is malformed or longer than PostgreSQL's 63 bytes (why says so). */
static bool sql_ident(const char **p, char out[64], const char **why)
{
	const unsigned char *u = (const unsigned char *)*p;
	size_t n = 0;
	if (*u == '"') {
		for (u++;; u++) {
			if (!*u) {
				*why = "a quoted name without its closing quote";
				return false;
			}
			if (*u == '"' && u[1] != '"')
				break;
			if (*u == '"')
				u++;
			if (n == 63) {
				*why = "a name longer than 63 bytes";
				return false;
			}
			out[n++] = (char)*u;
		}
		u++;
		if (n == 0) {
			*why = "an empty quoted name";
			return false;
		}
	} else {
		if (!(isalpha(*u) || *u == '_' || *u >= 0x80))
			return false; /* why: the caller's, saying what it wanted */
		for (; isalnum(*u) || *u == '_' || *u == '$' || *u >= 0x80; u++) {
			if (n == 63) {
				*why = "a name longer than 63 bytes";
				return false;
			}
			out[n++] = *u < 0x80 ? (char)tolower(*u) : (char)*u;
		}
	}
	out[n] = '\0';
	*p = (const char *)u;
	return true;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define CHECK_COLS_MAX 32 /* PostgreSQL's INDEX_MAX_KEYS */

/* The key columns of "(a, "B", lower(c))" at *p, each as the catalog names
 * it (see scenario.h: check_cols), sorted, joined by \x1f, into *out
 * (malloc'd); advances *p past the ')'. False with why on a malformed list. */
static bool check_columns(const char **p, char **out, const char **why)
{
	char *cols[CHECK_COLS_MAX];
	size_t n = 0, total = 0;
	bool ok = false;
	const char *c = *p + 1; /* past '(' */
	for (;;) {
		/* one column: up to a ',' or ')' outside parentheses and quotes */
		const char *start = c;
		int depth = 0;
		char quote = 0;
		for (; *c && (quote || depth || (*c != ',' && *c != ')')); c++) {
			if (quote)
				quote = *c == quote ? 0 : quote;
			else if (*c == '\'' || *c == '"')
				quote = *c;
			else
				depth += *c == '(' ? 1 : *c == ')' ? -1 : 0;
		}
		if (!*c) {
			*why = "a column list closed by ')'";
			goto out;
		}
		while (start < c && isspace((unsigned char)*start))
			start++;
		const char *end = c;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (start == end) {
			*why = "a column name between the commas";
			goto out;
		}
		if (n == CHECK_COLS_MAX) {
			*why = "at most 32 columns";
			goto out;
		}
		char name[64], *piece = strndup(start, (size_t)(end - start));
		const char *q = piece, *ident_why = "";
		if (!piece)
			abort();
		if (sql_ident(&q, name, &ident_why) && !*q) {
			free(piece);
			piece = xstrdup(name);
		} else { /* an expression: compared without its blanks */
			char *w = piece;
			for (const char *r = piece; *r; r++)
				if (!isspace((unsigned char)*r))
					*w++ = *r;
			*w = '\0';
		}
		cols[n++] = piece;
		total += strlen(piece) + 1;
		if (*c++ == ')')
			break;
	}
	qsort(cols, n, sizeof *cols, str_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(cols[i - 1], cols[i])) {
			*why = "each column once";
			goto out;
		}
	*out = xcalloc(total, 1);
	for (size_t i = 0, len = 0; i < n; i++)
		len += (size_t)snprintf(*out + len, total - len, "%s%s", i ? "\x1f" : "", cols[i]);
	*p = c;
	ok = true;
out:
	for (size_t i = 0; i < n; i++)
		free(cols[i]);
	return ok;
}

/* "unique NAME on TABLE (col, ...)" after "unique ": the constraint or
 * index name, its table and its columns into st. */
static bool parse_check_unique(struct loader *L, const char *s, int line, struct step *st)
{
	char name[64], table[64];
	const char *p = s + 7, *why = "a name";
	while (*p == ' ')
		p++;
	if (!sql_ident(&p, name, &why))
		goto bad;
	while (*p == ' ')
		p++;
	if (!*p)
		return errorf(L, line,
			      "check: \"unique NAME\" must say where: unique NAME on TABLE (col, ...), got \"%.80s\" (a unique constraint of that name on another table or other columns would pass)",
			      s);
	why = "\"on\" after the name";
	if (strncmp(p, "on ", 3))
		goto bad;
	for (p += 3; *p == ' ';)
		p++;
	why = "the table name after \"on\"";
	if (!sql_ident(&p, table, &why))
		goto bad;
	while (*p == ' ')
		p++;
	why = "the columns in parentheses after the table";
	if (*p != '(' || !check_columns(&p, &st->check_cols, &why))
		goto bad;
	while (*p == ' ')
		p++;
	why = "nothing after the columns";
	if (*p)
		goto bad;
	st->kind = STEP_CHECK_UNIQUE;
	st->check_arg = xstrdup(name);
	st->check_table = xstrdup(table);
	return true;
bad:
	free(st->check_cols);
	st->check_cols = NULL;
	return errorf(L, line, "check: expected unique NAME on TABLE (col, ...): %s, got \"%.80s\"",
		      why, s);
}

/* check: invalid_indexes | amcheck | constraint NAME | unique NAME on TABLE (cols) */
static bool parse_check(struct loader *L, struct fy_node *n, int line, struct step *st)
{
	const char *s = scalar(L, n, "check", line);
	if (!s)
		return false;
	if (!strcmp(s, "invalid_indexes")) {
		st->kind = STEP_CHECK_INVALID_INDEXES;
	} else if (!strcmp(s, "amcheck")) {
		st->kind = STEP_CHECK_AMCHECK;
	} else if (!strncmp(s, "unique ", 7) && !blank(s + 7)) {
		return parse_check_unique(L, s, node_line(n, line), st);
	} else if (!strncmp(s, "constraint ", 11) && !blank(s + 11)) {
		const char *name = s + 11;
		while (*name == ' ')
			name++;
		st->kind = STEP_CHECK_CONSTRAINT;
		st->check_arg = xstrdup(name);
	} else {
		return errorf(L, node_line(n, line),
			      "check: expected invalid_indexes, amcheck, \"constraint NAME\" or \"unique NAME on TABLE (col, ...)\", got \"%.60s\"",
			      s);
	}
	return true;
}

/* dst = a copy of src (SQL or command). */
static void copy_text(struct sql_text *dst, const struct sql_text *src)
{
	*dst = *src;
	dst->sql = src->sql ? xstrdup(src->sql) : NULL;
	if (src->command) {
		dst->command = xcalloc(1, sizeof *dst->command);
		command_copy(dst->command, src->command);
	}
}

static bool parse_step(struct loader *L, struct fy_node *n, int line, const struct scenario *sc,
		       struct step *st)
{
	static const char *const keys[] = {"migrate",    "run",     "sql",      "check",
					   "command",    "cwd",     "shell",    "timeout_ms",
					   "under_load", "retries", "retry_on", "expect_error",
					   "expect_message", "expect", NULL};
	static const char *const dirs[] = {"up", "down"};
	if (!want_type(L, n, FYNT_MAPPING, "step", line))
		return false;
	st->line = line;
	int actions = 0;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	char label[160];
	const char *command = NULL, *cwd = NULL;
	bool shell = false;
	int timeout_ms = 0, command_line = line, option_line = 0;
	while (next_pair(L, &mi, keys, "step", &k, &v, &kl)) {
		if (actions && (!strcmp(k, "migrate") || !strcmp(k, "run") || !strcmp(k, "sql") ||
				!strcmp(k, "check") || !strcmp(k, "command")))
			return errorf(L, kl, "step: give exactly one of migrate, run, sql, check, command");
		if (!strcmp(k, "command")) {
			if (!(command = scalar(L, v, k, kl)))
				return false;
			command_line = kl;
			st->kind = STEP_SQL;
			snprintf(label, sizeof label, "command \"%.60s\"", command);
			actions++;
		} else if (!strcmp(k, "cwd") || !strcmp(k, "shell") || !strcmp(k, "timeout_ms")) {
			if (!command_option(L, k, v, kl, &cwd, &shell, &timeout_ms))
				return false;
			option_line = kl;
		} else if (!strcmp(k, "migrate")) {
			int d = get_enum(L, v, k, kl, dirs, 2);
			if (d < 0)
				return false;
			const struct sql_text *t = d == 0 ? &sc->migrate_up : &sc->migrate_down;
			if (!t->sql && !t->command)
				return errorf(L, kl, "step: migrate %s, but the scenario has no migration.%s",
					      dirs[d], dirs[d]);
			st->kind = d == 0 ? STEP_MIGRATE_UP : STEP_MIGRATE_DOWN;
			copy_text(&st->text, t);
			snprintf(label, sizeof label, "migrate %s", dirs[d]);
			actions++;
		} else if (!strcmp(k, "run")) {
			const char *name = scalar(L, v, k, kl);
			if (!name)
				return false;
			const struct sql_text *t = scenario_sql(sc, name);
			if (!t)
				return errorf(L, kl, "step: run \"%.60s\", but the sql map has no such entry",
					      name);
			st->kind = STEP_SQL;
			st->text.sql = xstrdup(t->sql);
			st->text.line = t->line;
			snprintf(label, sizeof label, "run %.60s", name);
			actions++;
		} else if (!strcmp(k, "sql")) {
			if (!get_sql(L, v, "step sql", kl, &st->text))
				return false;
			st->kind = STEP_SQL;
			snprintf(label, sizeof label, "sql at line %d", st->text.line);
			actions++;
		} else if (!strcmp(k, "check")) {
			if (!parse_check(L, v, kl, st))
				return false;
			snprintf(label, sizeof label, "check %.100s", fy_node_get_scalar0(v));
			actions++;
		} else if (!strcmp(k, "under_load")) {
			if (!get_bool(L, v, k, kl, &st->under_load))
				return false;
		} else if (!strcmp(k, "retries")) {
			if (!get_int(L, v, k, kl, 0, 100, &st->retries))
				return false;
		} else if (!strcmp(k, "retry_on")) {
			if (!want_type(L, v, FYNT_SEQUENCE, k, kl))
				return false;
			void *it = NULL;
			struct fy_node *item;
			while ((item = fy_node_sequence_iterate(v, &it))) {
				if (st->n_retry_on == STEP_RETRY_ON_MAX)
					return errorf(L, kl, "retry_on: at most %d SQLSTATEs", STEP_RETRY_ON_MAX);
				if (!parse_sqlstate(L, item, k, node_line(item, kl),
						    st->retry_on[st->n_retry_on++]))
					return false;
			}
		} else if (!strcmp(k, "expect_error")) {
			if (!parse_sqlstate(L, v, k, kl, st->expect_error))
				return false;
		} else if (!strcmp(k, "expect_message")) {
			if (!get_string(L, v, k, kl, &st->expect_message))
				return false;
		} else if (!parse_expects(L, v, kl, METRIC_STEP, &st->expects,
					  &st->n_expects)) {
			return false;
		}
		if (actions > 1)
			return errorf(L, kl, "step: give exactly one of migrate, run, sql, check");
	}
	if (L->failed)
		return false;
	if (actions == 0)
		return errorf(L, line, "step: missing the action (one of migrate, run, sql, check, command)");
	if (option_line && !command)
		return errorf(L, option_line, "step: cwd, shell and timeout_ms go with command");
	if (command) {
		st->text.line = command_line;
		st->text.command = xcalloc(1, sizeof *st->text.command);
		if (!make_command(L, command_line, command, cwd, shell, timeout_ms, st->text.command))
			return false;
	}
	if (st->retries && !st->n_retry_on) {
		static const char *defaults[] = {"55P03", "40001", "40P01"};
		for (size_t i = 0; i < 3; i++)
			memcpy(st->retry_on[st->n_retry_on++], defaults[i], 6);
	}
	if (st->expect_message && !st->expect_error[0])
		return errorf(L, line, "step: expect_message needs expect_error");
	if (st->expect_error[0] && st->n_expects)
		return errorf(L, line, "step: expect (rows, affected) cannot go with expect_error");
	st->label = xstrdup(label);
	return true;
}

/* SQL sent the key as $1..$n uses no more parameters than params gives. */
static bool params_fit(struct loader *L, const struct sql_text *t, const char *what,
		       const struct scenario *sc)
{
	if (t->nparams <= (int)sc->n_params)
		return true;
	return errorf(L, t->line, "%s uses $%d, but params gives only %zu key parameters", what,
		      t->nparams, sc->n_params);
}

/* orders: a list of "a1 b1 a2 ..." strings, checked against the flow once
 * the phase's workers are known (check_interleave). */
static bool parse_orders(struct loader *L, struct fy_node *n, int line, struct phase *ph)
{
	if (!want_type(L, n, FYNT_SEQUENCE, "orders", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return errorf(L, line, "orders: the list is empty");
	ph->orders = xcalloc((size_t)len, sizeof *ph->orders);
	ph->order_lines = xcalloc((size_t)len, sizeof *ph->order_lines);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = node_line(item, line);
		const char *text = scalar(L, item, "orders", iline);
		if (!text)
			return false;
		ph->order_lines[ph->n_orders] = iline;
		ph->orders[ph->n_orders++] = xstrdup(text);
	}
	return true;
}

static bool parse_phase(struct loader *L, struct fy_node *n, int line, struct scenario *sc,
			struct phase *ph)
{
	static const char *const keys[] = {"name", "steps", "race", "must_reproduce", "expect",
					   "round_setup", "orders", NULL};
	if (!want_type(L, n, FYNT_MAPPING, "phase", line))
		return false;
	ph->line = line;
	struct fy_node *expect = NULL;
	int expect_line = line;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, keys, "phase", &k, &v, &kl)) {
		bool ok = true;
		if (!strcmp(k, "name")) {
			ok = get_name(L, v, k, kl, &ph->name);
			if (ok && strlen(ph->name) > 100)
				ok = errorf(L, kl, "phase name: at most 100 characters");
		} else if (!strcmp(k, "race")) {
			ok = parse_race(L, v, kl, &ph->race);
			ph->has_race = true;
		} else if (!strcmp(k, "must_reproduce")) {
			ok = get_bool(L, v, k, kl, &ph->must_reproduce);
		} else if (!strcmp(k, "round_setup")) {
			ok = get_sql(L, v, k, kl, &ph->round_setup) &&
			     params_fit(L, &ph->round_setup, "round_setup", sc);
		} else if (!strcmp(k, "expect")) {
			expect = v;
			expect_line = kl;
		} else if (!strcmp(k, "orders")) {
			ok = parse_orders(L, v, kl, ph);
		} else {
			if (!want_type(L, v, FYNT_SEQUENCE, "steps", kl))
				return false;
			int len = fy_node_sequence_item_count(v);
			if (len == 0)
				return errorf(L, kl, "steps: the list is empty");
			ph->steps = xcalloc((size_t)len, sizeof *ph->steps);
			void *it = NULL;
			struct fy_node *item;
			while (ok && (item = fy_node_sequence_iterate(v, &it)))
				ok = parse_step(L, item, node_line(item, kl), sc, &ph->steps[ph->n_steps++]);
		}
		if (!ok)
			return false;
	}
	if (L->failed)
		return false;
	if (!ph->name)
		return errorf(L, line, "phase: missing key \"name\"");
	if (!ph->has_race && !ph->n_steps)
		return errorf(L, line, "phase \"%s\": needs steps, a race, or both", ph->name);
	if (ph->round_setup.sql && !ph->has_race)
		return errorf(L, ph->round_setup.line,
			      "phase \"%s\": round_setup needs the phase to have a race (it runs before each round)",
			      ph->name);
	for (size_t i = 0; i < ph->n_steps; i++)
		if (ph->steps[i].under_load && !ph->has_race)
			return errorf(L, ph->steps[i].line,
				      "phase \"%s\": under_load needs the phase to have a race (its workers make the load)",
				      ph->name);
	if (expect) {
		if (!ph->has_race)
			return errorf(L, expect_line,
				      "phase \"%s\": expect needs a race (steps carry their own expect)",
				      ph->name);
		if (!parse_expects(L, expect, expect_line, METRIC_PHASE, &ph->expects, &ph->n_expects))
			return false;
	} else if (ph->has_race) {
		return errorf(L, line, "phase \"%s\": a race needs an expect list", ph->name);
	}
	return true;
}

static bool parse_phases(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!want_type(L, n, FYNT_SEQUENCE, "phases", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return errorf(L, line, "phases: needs at least one phase");
	sc->phases = xcalloc((size_t)len, sizeof *sc->phases);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		struct phase *ph = &sc->phases[sc->n_phases++];
		if (!parse_phase(L, item, node_line(item, line), sc, ph))
			return false;
		for (size_t i = 0; i + 1 < sc->n_phases; i++)
			if (strcmp(sc->phases[i].name, ph->name) == 0)
				return errorf(L, ph->line, "phase \"%s\": name already used at line %d",
					      ph->name, sc->phases[i].line);
	}
	return true;
}

/* Reads the file, refusing what is too big, binary or not UTF-8. */
static char *read_file(struct loader *L, size_t *len)
{
	char *buf = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
	 * refused as not a regular file. */
	int fd = open(L->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
	if (!f) {
		errorf(L, 0, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		errorf(L, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > MAX_FILE_BYTES) {
		errorf(L, 0, "file is %lld bytes, more than the %d a scenario may have",
		       (long long)st.st_size, MAX_FILE_BYTES);
		goto out;
	}
	buf = xcalloc((size_t)st.st_size + 1, 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		errorf(L, 0, "read error: %s", strerror(errno));
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/* NUL bytes and invalid UTF-8, reported with their line. */
static bool check_text(struct loader *L, const unsigned char *s, size_t len)
{
	int line = 1;
	for (size_t i = 0; i < len;) {
		if (s[i] == '\n')
			line++;
		if (s[i] == 0)
			return errorf(L, line, "NUL byte: not a text file");
		size_t n = text_utf8_len(s + i, len - i);
		if (n == 0)
			return errorf(L, line, "invalid UTF-8 (byte 0x%02X)", s[i]);
		i += n;
	}
	return true;
}

/* An extension name as CREATE EXTENSION takes it unquoted. */
static bool extension_name_ok(const char *s)
{
	if (!*s || strlen(s) > 63 || !(islower((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool parse_requires(struct loader *L, struct fy_node *n, int line, struct requirements *rq)
{
	static const char *const keys[] = {"server_version", "extensions", NULL};
	if (!want_type(L, n, FYNT_MAPPING, "requires", line))
		return false;
	rq->line = line;
	struct map_iter mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, keys, "requires", &k, &v, &kl)) {
		if (!strcmp(k, "server_version")) {
			if (!get_int(L, v, "requires server_version", kl, 9, 99, &rq->server_version))
				return false;
			continue;
		}
		if (!want_type(L, v, FYNT_SEQUENCE, "requires extensions", kl))
			return false;
		void *it = NULL;
		struct fy_node *item;
		while ((item = fy_node_sequence_iterate(v, &it))) {
			int il = node_line(item, kl);
			const char *s = scalar(L, item, "requires extensions", il);
			if (!s)
				return false;
			if (!extension_name_ok(s))
				return errorf(L, il, "requires extensions: \"%.64s\" is not an extension name (lower case letters, digits, _)", s);
			if (rq->n_extensions == REQUIRES_MAX_EXTENSIONS)
				return errorf(L, il, "requires extensions: at most %d", REQUIRES_MAX_EXTENSIONS);
			rq->extensions[rq->n_extensions++] = xstrdup(s);
		}
	}
	return !L->failed;
}

/* A target name: lower case letters, digits and _, as --target NAME= takes it. */
static bool target_name_ok(const char *s)
{
	return extension_name_ok(s) && strlen(s) <= 31;
}

static bool parse_targets(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!want_type(L, n, FYNT_SEQUENCE, "targets", line))
		return false;
	sc->targets_line = line;
	int len = fy_node_sequence_item_count(n);
	if (len < 2 || len > TARGETS_MAX)
		return errorf(L, line, "targets: expected 2 to %d names (the first is the --dsn server), got %d",
			      TARGETS_MAX, len);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int il = node_line(item, line);
		const char *s = scalar(L, item, "targets", il);
		if (!s)
			return false;
		if (!target_name_ok(s))
			return errorf(L, il, "targets: \"%.40s\" is not a target name (lower case letters, digits, _; at most 31)", s);
		for (size_t i = 0; i < sc->n_targets; i++)
			if (!strcmp(sc->targets[i], s))
				return errorf(L, il, "targets: \"%s\" named twice", s);
		sc->targets[sc->n_targets++] = xstrdup(s);
	}
	return true;
}

/* Each flow step's on: names one of the targets. */
static bool resolve_flow_targets(struct loader *L, struct scenario *sc)
{
	for (size_t i = 0; i < sc->n_flow; i++) {
		struct flow_step *fs = &sc->flow[i];
		if (!fs->on)
			continue;
		if (sc->n_targets == 0)
			return errorf(L, fs->on_line, "flow step on: \"%s\", but the scenario names no targets (targets: [primary, %s])",
				      fs->on, fs->on);
		size_t t = 0;
		while (t < sc->n_targets && strcmp(sc->targets[t], fs->on))
			t++;
		if (t == sc->n_targets)
			return errorf(L, fs->on_line, "flow step on: \"%.40s\" is not one of the targets", fs->on);
		fs->target = (int)t;
	}
	return true;
}

/* A phase racing in autocommit (race: {autocommit: true}): fire mode only
 * (hold holds each worker's transaction open before its COMMIT), at READ
 * COMMITTED (each statement runs at the session's default), on one server. */
static bool check_autocommit(struct loader *L, const struct scenario *sc, const struct phase *ph)
{
	struct race_cfg cfg = scenario_race(sc, ph, NULL);
	if (!ph->has_race || !cfg.autocommit)
		return true;
	const char *refusal = scenario_autocommit_refusal(&cfg, false);
	if (refusal)
		return errorf(L, ph->line, "phase \"%s\": %s", ph->name, refusal);
	if (cfg.isolation != ISO_READ_COMMITTED || cfg.rc_workers)
		return errorf(L, ph->line,
			      "phase \"%s\": race: {autocommit: true} runs each statement at the "
			      "server's default isolation: leave isolation at read committed",
			      ph->name);
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].on)
			return errorf(L, sc->flow[i].on_line,
				      "phase \"%s\": race: {autocommit: true} runs every flow step on the "
				      "--dsn server",
				      ph->name);
	return true;
}

bool scenario_interleave_check(const struct scenario *sc, const struct phase *ph,
			       const struct race_cfg *cfg, int *line, char *why, size_t len)
{
	int steps = (int)sc->n_flow + 1;
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].on) {
			*line = sc->flow[i].on_line;
			snprintf(why, len,
				 "phase \"%s\": interleave mode runs every step on the --dsn server; flow "
				 "step on: \"%s\" goes with hold or fire",
				 ph->name, sc->flow[i].on);
			return false;
		}
	if (cfg->workers > ORDER_MAX_WORKERS || cfg->workers * steps > ORDER_MAX_LEN) {
		*line = ph->line;
		snprintf(why, len,
			 "phase \"%s\": interleave mode runs 1 to %d workers with at most %d steps "
			 "in all (workers x (flow statements + COMMIT)), not %d x %d",
			 ph->name, ORDER_MAX_WORKERS, ORDER_MAX_LEN, cfg->workers, steps);
		return false;
	}
	for (size_t i = 0; i < ph->n_steps; i++)
		if (ph->steps[i].under_load) {
			*line = ph->steps[i].line;
			snprintf(why, len,
				 "phase \"%s\": under_load needs mode hold or fire (interleave runs one "
				 "step at a time)",
				 ph->name);
			return false;
		}
	for (size_t i = 0; i < ph->n_orders; i++) {
		struct order o;
		char perr[160];
		if (!order_parse(ph->orders[i], cfg->workers, steps, &o, perr, sizeof perr)) {
			*line = ph->order_lines[i];
			snprintf(why, len, "phase \"%s\", orders: %s", ph->name, perr);
			return false;
		}
	}
	return true;
}

/* An interleave phase: what scenario_interleave_check() asks, and orders
 * only in interleave phases. */
static bool check_interleave(struct loader *L, const struct scenario *sc, const struct phase *ph)
{
	struct race_cfg cfg = scenario_race(sc, ph, NULL);
	if (!ph->has_race || cfg.mode != MODE_INTERLEAVE) {
		if (ph->n_orders)
			return errorf(L, ph->order_lines[0], "phase \"%s\": orders go with mode interleave",
				      ph->name);
		return true;
	}
	char why[512];
	int line = ph->line;
	if (!scenario_interleave_check(sc, ph, &cfg, &line, why, sizeof why))
		return errorf(L, line, "%s", why);
	return true;
}

static bool parse_root(struct loader *L, struct fy_node *root, struct scenario *sc)
{
	static const char *const keys[] = {"name", "description", "requires", "targets", "schema", "seed",
					   "migration", "sql", "race", "params", "rows",
					   "round_setup", "flow", "phases", NULL};
	if (!root)
		return errorf(L, 1, "the file is empty");
	if (!want_type(L, root, FYNT_MAPPING, "scenario", 1))
		return false;
	/* The phases refer to migration and sql: take those first. */
	struct fy_node *phases = NULL;
	int phases_line = 1;
	struct map_iter mi = {.map = root};
	const char *k;
	struct fy_node *v;
	int kl;
	while (next_pair(L, &mi, keys, "scenario", &k, &v, &kl)) {
		bool ok = true;
		if (!strcmp(k, "name"))
			ok = get_name(L, v, k, kl, &sc->name);
		else if (!strcmp(k, "description"))
			ok = get_name(L, v, k, kl, &sc->description);
		else if (!strcmp(k, "requires"))
			ok = parse_requires(L, v, kl, &sc->requires);
		else if (!strcmp(k, "targets"))
			ok = parse_targets(L, v, kl, sc);
		else if (!strcmp(k, "schema"))
			ok = get_sql_or_command(L, v, k, kl, &sc->schema);
		else if (!strcmp(k, "seed"))
			ok = get_sql_or_command(L, v, k, kl, &sc->seed);
		else if (!strcmp(k, "rows"))
			ok = get_sql(L, v, k, kl, &sc->rows);
		else if (!strcmp(k, "round_setup"))
			ok = get_sql(L, v, k, kl, &sc->round_setup);
		else if (!strcmp(k, "migration"))
			ok = parse_migration(L, v, kl, sc);
		else if (!strcmp(k, "sql"))
			ok = parse_sql_map(L, v, kl, sc);
		else if (!strcmp(k, "race"))
			ok = parse_race(L, v, kl, &sc->race);
		else if (!strcmp(k, "params"))
			ok = parse_params(L, v, kl, sc);
		else if (!strcmp(k, "flow"))
			ok = parse_flow(L, v, kl, sc);
		else
			phases = v, phases_line = kl;
		if (!ok)
			return false;
	}
	if (L->failed)
		return false;
	static const struct {
		const char *key;
		size_t off;
	} required[] = {{"name", offsetof(struct scenario, name)},
			{"rows", offsetof(struct scenario, rows.sql)}};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!*(char **)((char *)sc + required[i].off))
			return errorf(L, 1, "missing required key \"%s\"", required[i].key);
	if (!sc->schema.sql && !sc->schema.command)
		return errorf(L, 1, "missing required key \"schema\"");
	if (!sc->flow)
		return errorf(L, 1, "missing required key \"flow\"");
	if (!sc->params)
		return errorf(L, 1, "missing required key \"params\"");
	if (!phases)
		return errorf(L, 1, "missing required key \"phases\"");
	if (!resolve_flow_targets(L, sc))
		return false;
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].text.nparams > (int)sc->n_params)
			return errorf(L, sc->flow[i].text.line,
				      "flow step uses $%d, but params gives only %zu key parameters",
				      sc->flow[i].text.nparams, sc->n_params);
	if (!params_fit(L, &sc->rows, "rows", sc) ||
	    !params_fit(L, &sc->round_setup, "round_setup", sc))
		return false;
	if (!parse_phases(L, phases, phases_line, sc))
		return false;
	/* Defaults the file did not set. */
	struct race_cfg *r = &sc->race;
	if (!(r->set & RACE_SET_WORKERS))
		r->workers = 16;
	if (!(r->set & RACE_SET_ROUNDS))
		r->rounds = 20;
	if (!(r->set & RACE_SET_KEYS))
		r->keys = 1;
	if (!(r->set & RACE_SET_DEADLINE))
		r->deadline_ms = 10000;
	if (!(r->set & RACE_SET_MAX_ILV))
		r->max_interleavings = 1000;
	if (!(r->set & RACE_SET_SEED))
		r->seed = 1;
	for (size_t i = 0; i < sc->n_phases; i++)
		if (!check_interleave(L, sc, &sc->phases[i]) || !check_autocommit(L, sc, &sc->phases[i]))
			return false;
	return true;
}

bool scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen)
{
	struct loader L = {.path = path, .err = err, .errlen = errlen};
	size_t len = 0;
	memset(sc, 0, sizeof *sc);
	char *buf = read_file(&L, &len);
	if (!buf)
		return false;
	bool ok = scenario_parse(path, buf, len, sc, err, errlen);
	free(buf);
	return ok;
}

bool scenario_parse(const char *path, const char *buf, size_t len, struct scenario *sc, char *err,
		    size_t errlen)
{
	struct loader L = {.path = path, .err = err, .errlen = errlen};
	struct fy_diag *diag = NULL;
	struct fy_document *doc = NULL;
	struct fy_parser *fyp = NULL;
	memset(sc, 0, sizeof *sc);
	if (len > MAX_FILE_BYTES) {
		errorf(&L, 0, "file is %zu bytes, more than the %d a scenario may have", len,
		       MAX_FILE_BYTES);
		goto out;
	}
	if (!check_text(&L, (const unsigned char *)buf, len))
		goto out;

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.level = FYET_ERROR;
	diag = fy_diag_create(&dcfg);
	if (!diag)
		abort();
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
	fyp = fy_parser_create(&cfg);
	if (!fyp || fy_parser_set_string(fyp, buf, len) != 0)
		abort();
	doc = fy_parse_load_document(fyp);
	if (doc) {
		/* A scenario is one document: a second one would be ignored. */
		struct fy_event *ev;
		while (!L.failed && (ev = fy_parser_parse(fyp))) {
			if (ev->type == FYET_DOCUMENT_START) {
				const struct fy_mark *m = fy_event_start_mark(ev);
				errorf(&L, m ? m->line + 1 : 1, "a second YAML document: a scenario file holds one");
			}
			fy_parser_event_free(fyp, ev);
		}
		if (!L.failed && fy_parser_get_stream_error(fyp))
			fy_parse_document_destroy(fyp, doc), doc = NULL;
	}
	if (!doc && !L.failed) {
		void *it = NULL;
		struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
		/* libfyaml puts errors at end of input one line past the last */
		int line = e && e->line > 0 ? e->line : 1, last = 1;
		for (size_t i = 0; i + 1 < len; i++)
			last += buf[i] == '\n';
		errorf(&L, line < last ? line : last, "YAML: %s",
		       e && e->msg ? e->msg : "no document, the file is empty");
	}
	if (L.failed)
		goto out;
	sc->path = xstrdup(path);
	parse_root(&L, fy_document_root(doc), sc);
out:
	if (L.failed)
		scenario_free(sc);
	if (doc)
		fy_parse_document_destroy(fyp, doc);
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return !L.failed;
}

static void free_expects(struct expectation *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_free(&x[i]);
	free(x);
}

void scenario_free(struct scenario *sc)
{
	free(sc->path);
	free(sc->name);
	free(sc->description);
	for (size_t i = 0; i < sc->requires.n_extensions; i++)
		free(sc->requires.extensions[i]);
	sql_text_free(&sc->schema);
	sql_text_free(&sc->seed);
	sql_text_free(&sc->migrate_up);
	sql_text_free(&sc->migrate_down);
	free(sc->rows.sql);
	for (size_t i = 0; i < sc->n_sql; i++) {
		free(sc->sql[i].name);
		free(sc->sql[i].text.sql);
	}
	free(sc->sql);
	for (size_t i = 0; i < sc->n_params; i++)
		key_param_free(&sc->params[i]);
	free(sc->params);
	sql_text_free(&sc->round_setup);
	for (size_t i = 0; i < sc->n_flow; i++) {
		free(sc->flow[i].text.sql);
		free(sc->flow[i].on);
	}
	for (size_t i = 0; i < sc->n_targets; i++)
		free(sc->targets[i]);
	free(sc->flow);
	for (size_t i = 0; i < sc->n_phases; i++) {
		struct phase *ph = &sc->phases[i];
		free(ph->name);
		for (size_t j = 0; j < ph->n_steps; j++) {
			struct step *st = &ph->steps[j];
			free(st->label);
			free(st->check_arg);
			free(st->check_table);
			free(st->check_cols);
			sql_text_free(&st->text);
			free(st->expect_message);
			free_expects(st->expects, st->n_expects);
		}
		free(ph->steps);
		free_expects(ph->expects, ph->n_expects);
		sql_text_free(&ph->round_setup);
		for (size_t j = 0; j < ph->n_orders; j++)
			free(ph->orders[j]);
		free(ph->orders);
		free(ph->order_lines);
	}
	free(sc->phases);
	memset(sc, 0, sizeof *sc);
}

struct race_cfg scenario_race(const struct scenario *sc, const struct phase *p,
			      const struct race_cfg *ov)
{
	struct race_cfg r = sc->race;
	const struct race_cfg *layers[] = {ov, p ? &p->race : NULL};
	for (size_t i = 0; i < 2; i++) {
		const struct race_cfg *l = layers[i];
		if (!l)
			continue;
		if (l->set & RACE_SET_WORKERS)
			r.workers = l->workers;
		if (l->set & RACE_SET_ROUNDS)
			r.rounds = l->rounds;
		if (l->set & RACE_SET_KEYS)
			r.keys = l->keys;
		if (l->set & RACE_SET_DEADLINE)
			r.deadline_ms = l->deadline_ms;
		if (l->set & RACE_SET_RETRIES)
			r.retries = l->retries;
		if (l->set & RACE_SET_MODE)
			r.mode = l->mode;
		if (l->set & RACE_SET_ISOLATION)
			r.isolation = l->isolation;
		if (l->set & RACE_SET_DIST)
			r.dist = l->dist;
		if (l->set & RACE_SET_RC)
			r.rc_workers = l->rc_workers;
		if (l->set & RACE_SET_MAX_ILV)
			r.max_interleavings = l->max_interleavings;
		if (l->set & RACE_SET_SEED)
			r.seed = l->seed;
		if (l->set & RACE_SET_AUTOCOMMIT)
			r.autocommit = l->autocommit;
	}
	/* Interleave mode races two workers unless the phase says how many, or
	 * the command line or the scenario's defaults do together with mode
	 * interleave: a worker count meant for hold and fire (16, --workers 8)
	 * would make thousands of orders. One key per order. */
	if (r.mode == MODE_INTERLEAVE) {
		const struct race_cfg *named[] = {p ? &p->race : NULL, ov, &sc->race};
		r.workers = 2;
		for (size_t i = 0; i < 3; i++) {
			const struct race_cfg *l = named[i];
			if (l && (l->set & RACE_SET_WORKERS) &&
			    (i == 0 || ((l->set & RACE_SET_MODE) && l->mode == MODE_INTERLEAVE))) {
				r.workers = l->workers;
				break;
			}
		}
		r.keys = 1;
	}
	if (r.keys > r.workers)
		r.keys = r.workers;
	if (r.rc_workers > r.workers)
		r.rc_workers = r.workers;
	return r;
}

const char *scenario_autocommit_refusal(const struct race_cfg *cfg, bool pooler)
{
	if (!cfg->autocommit)
		return NULL;
	if (cfg->mode != MODE_FIRE)
		return "race: {autocommit: true} races in fire mode only "
		       "(hold and interleave hold each worker's transaction open)";
	if (pooler)
		return "race: {autocommit: true} races in fire mode only, and not through --pooler "
		       "(it sets the search_path per transaction)";
	return NULL;
}

const struct sql_text *scenario_part(const struct scenario *sc, const char *name)
{
	const struct sql_text *t = NULL;
	if (!strcmp(name, "schema"))
		t = &sc->schema;
	else if (!strcmp(name, "seed"))
		t = &sc->seed;
	else if (!strcmp(name, "rows"))
		t = &sc->rows;
	else if (!strcmp(name, "migration.up"))
		t = &sc->migrate_up;
	else if (!strcmp(name, "migration.down"))
		t = &sc->migrate_down;
	else if (!strncmp(name, "sql.", 4))
		t = scenario_sql(sc, name + 4);
	else if (!strncmp(name, "flow.", 5)) {
		char *end;
		errno = 0;
		long n = strtol(name + 5, &end, 10);
		if (!errno && end != name + 5 && !*end && n >= 1 && (size_t)n <= sc->n_flow)
			t = &sc->flow[n - 1].text;
	}
	return t && (t->sql || t->command) ? t : NULL;
}

const struct sql_text *scenario_sql(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_sql; i++)
		if (strcmp(sc->sql[i].name, name) == 0)
			return &sc->sql[i].text;
	return NULL;
}

const char *mode_name(enum race_mode m)
{
	return mode_names[m];
}

const char *isolation_name(enum isolation i)
{
	return iso_names[i];
}

const char *isolation_sql(enum isolation i)
{
	static const char *s[] = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"};
	return s[i];
}
