/* scenario_server.c: what a scenario says about the servers it runs on.
 *
 * `requires:` (a minimum server_version_num, extensions), `targets:` (the
 * named servers flow steps may run `on:`) and the `check:` steps that read
 * the catalog (invalid_indexes, amcheck, constraint NAME, unique NAME on
 * TABLE (cols)); for the last, SQL identifiers and column lists are read as
 * PostgreSQL reads them, so the check names what the catalog will hold. */
#include "loader.h"

#include "mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			piece = mem_strdup(name);
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
	*out = mem_calloc(total, 1);
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
		return loader_error(L, line,
				    "check: \"unique NAME\" must say where: unique NAME on TABLE (col, "
				    "...), got \"%.80s\" (a unique constraint of that name on another "
				    "table or other columns would pass)",
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
	st->check_arg = mem_strdup(name);
	st->check_table = mem_strdup(table);
	return true;
bad:
	free(st->check_cols);
	st->check_cols = NULL;
	return loader_error(L, line,
			    "check: expected unique NAME on TABLE (col, ...): %s, got \"%.80s\"", why, s);
}

/* check: invalid_indexes | amcheck | constraint NAME | unique NAME on TABLE (cols) */
bool scenario_parse_check(struct loader *L, struct fy_node *n, int line, struct step *st)
{
	const char *s = loader_scalar(L, n, "check", line);
	if (!s)
		return false;
	if (!strcmp(s, "invalid_indexes")) {
		st->kind = STEP_CHECK_INVALID_INDEXES;
	} else if (!strcmp(s, "amcheck")) {
		st->kind = STEP_CHECK_AMCHECK;
	} else if (!strncmp(s, "unique ", 7) && !loader_blank(s + 7)) {
		return parse_check_unique(L, s, loader_line(n, line), st);
	} else if (!strncmp(s, "constraint ", 11) && !loader_blank(s + 11)) {
		const char *name = s + 11;
		while (*name == ' ')
			name++;
		st->kind = STEP_CHECK_CONSTRAINT;
		st->check_arg = mem_strdup(name);
	} else {
		return loader_error(L, loader_line(n, line),
				    "check: expected invalid_indexes, amcheck, \"constraint NAME\" or "
				    "\"unique NAME on TABLE (col, ...)\", got \"%.60s\"",
				    s);
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

bool scenario_parse_requires(struct loader *L, struct fy_node *n, int line, struct requirements *rq)
{
	static const char *const keys[] = {"server_version", "extensions", NULL};
	if (!loader_want_type(L, n, FYNT_MAPPING, "requires", line))
		return false;
	rq->line = line;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, keys, "requires", &k, &v, &kl)) {
		if (!strcmp(k, "server_version")) {
			if (!loader_int(L, v, "requires server_version", kl, 9, 99, &rq->server_version))
				return false;
			continue;
		}
		if (!loader_want_type(L, v, FYNT_SEQUENCE, "requires extensions", kl))
			return false;
		void *it = NULL;
		struct fy_node *item;
		while ((item = fy_node_sequence_iterate(v, &it))) {
			int il = loader_line(item, kl);
			const char *s = loader_scalar(L, item, "requires extensions", il);
			if (!s)
				return false;
			if (!extension_name_ok(s))
				return loader_error(L, il,
						    "requires extensions: \"%.64s\" is not an extension "
						    "name (lower case letters, digits, _)",
						    s);
			if (rq->n_extensions == REQUIRES_MAX_EXTENSIONS)
				return loader_error(L, il, "requires extensions: at most %d",
						    REQUIRES_MAX_EXTENSIONS);
			rq->extensions[rq->n_extensions++] = mem_strdup(s);
		}
	}
	return !L->failed;
}

/* A target name: lower case letters, digits and _, as --target NAME= takes it. */
static bool target_name_ok(const char *s)
{
	return extension_name_ok(s) && strlen(s) <= 31;
}

bool scenario_parse_targets(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "targets", line))
		return false;
	sc->targets_line = line;
	int len = fy_node_sequence_item_count(n);
	if (len < 2 || len > TARGETS_MAX)
		return loader_error(
			L, line,
			"targets: expected 2 to %d names (the first is the --dsn server), got %d",
			TARGETS_MAX, len);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int il = loader_line(item, line);
		const char *s = loader_scalar(L, item, "targets", il);
		if (!s)
			return false;
		if (!target_name_ok(s))
			return loader_error(L, il,
					    "targets: \"%.40s\" is not a target name (lower case "
					    "letters, digits, _; at most 31)",
					    s);
		for (size_t i = 0; i < sc->n_targets; i++)
			if (!strcmp(sc->targets[i], s))
				return loader_error(L, il, "targets: \"%s\" named twice", s);
		sc->targets[sc->n_targets++] = mem_strdup(s);
	}
	return true;
}

/* Each flow step's on: names one of the targets. */
bool scenario_resolve_targets(struct loader *L, struct scenario *sc)
{
	for (size_t i = 0; i < sc->n_flow; i++) {
		struct flow_step *fs = &sc->flow[i];
		if (!fs->on)
			continue;
		if (sc->n_targets == 0)
			return loader_error(L, fs->on_line,
					    "flow step on: \"%s\", but the scenario names no targets "
					    "(targets: [primary, %s])",
					    fs->on, fs->on);
		size_t t = 0;
		while (t < sc->n_targets && strcmp(sc->targets[t], fs->on))
			t++;
		if (t == sc->n_targets)
			return loader_error(L, fs->on_line,
					    "flow step on: \"%.40s\" is not one of the targets", fs->on);
		fs->target = (int)t;
	}
	return true;
}
