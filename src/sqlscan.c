/* sqlscan.c: statements and words of a SQL script (see sqlscan.h). */
#include "sqlscan.h"

#include <ctype.h>
#include <string.h>

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* Length of the dollar-quote tag at p ("$$" or "$name$"), 0 when p starts none. */
static size_t dollar_tag(const char *p)
{
	if (p[0] != '$')
		return 0;
	size_t n = 1;
	if (isdigit((unsigned char)p[1]))
		return 0; /* $1: a parameter */
	while (p[n] && p[n] != '$' && (isalnum((unsigned char)p[n]) || p[n] == '_' ||
				       (unsigned char)p[n] >= 0x80))
		n++;
	return p[n] == '$' ? n + 1 : 0;
}

/* When p (inside script) starts a literal, quoted identifier, dollar-quoted
 * string or comment, the character after it (the end of the script when
 * it never closes); else NULL. */
static const char *skip_quoted(const char *script, const char *p)
{
	bool word_before = p > script && ident_char(p[-1]);
	if (p[0] == '-' && p[1] == '-') {
		const char *nl = strchr(p, '\n');
		return nl ? nl : p + strlen(p);
	}
	if (p[0] == '/' && p[1] == '*') {
		int depth = 0;
		for (const char *q = p; *q; q++) {
			if (q[0] == '/' && q[1] == '*') {
				depth++;
				q++;
			} else if (q[0] == '*' && q[1] == '/') {
				q++;
				if (--depth == 0)
					return q + 1;
			}
		}
		return p + strlen(p);
	}
	if (p[0] == '\'' || p[0] == '"') {
		/* E'...' takes backslash escapes; '' and "" double the quote. */
		bool escapes = p[0] == '\'' && p > script && (p[-1] == 'E' || p[-1] == 'e') &&
			       (p - 1 == script || !ident_char(p[-2]));
		char q = p[0];
		for (const char *s = p + 1; *s; s++) {
			if (escapes && *s == '\\' && s[1])
				s++;
			else if (*s == q)
				return s + 1; /* a doubled quote reopens at once: still right */
		}
		return p + strlen(p);
	}
	size_t tag = word_before ? 0 : dollar_tag(p);
	if (tag) {
		for (const char *s = p + tag; (s = strchr(s, '$')) != NULL; s++)
			if (!strncmp(s, p, tag))
				return s + tag;
		return p + strlen(p);
	}
	return NULL;
}

static int lines_between(const char *from, const char *to)
{
	int n = 0;
	for (const char *p = from; p < to; p++)
		n += *p == '\n';
	return n;
}

bool sql_next_stmt(const char *script, const char **pos, struct sql_stmt *out)
{
	const char *p = *pos;
	for (;;) {
		/* Skip blanks, comments and empty statements before the first word. */
		while (*p && (isspace((unsigned char)*p) || *p == ';'))
			p++;
		if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
			p = skip_quoted(script, p);
			continue;
		}
		break;
	}
	if (!*p) {
		*pos = p;
		return false;
	}
	const char *start = p;
	while (*p && *p != ';') {
		const char *after = skip_quoted(script, p);
		p = after ? after : p + 1;
	}
	out->start = start;
	out->len = (size_t)(p - start);
	out->line = lines_between(script, start);
	*pos = *p ? p + 1 : p;
	return true;
}

int sql_count_stmts(const char *script)
{
	const char *pos = script;
	struct sql_stmt st;
	int n = 0;
	while (sql_next_stmt(script, &pos, &st))
		n++;
	return n;
}

const char *sql_word(const struct sql_stmt *st, int n, char *buf, size_t len)
{
	const char *p = st->start, *end = st->start + st->len;
	buf[0] = '\0';
	while (p < end) {
		const char *after = skip_quoted(st->start, p);
		if (after) {
			p = after;
			continue;
		}
		if (!ident_char(*p) || *p == '$') {
			p++;
			continue;
		}
		const char *w = p;
		while (p < end && ident_char(*p))
			p++;
		if (n-- == 0) {
			size_t k = 0;
			for (; k + 1 < len && w + k < p; k++)
				buf[k] = (char)toupper((unsigned char)w[k]);
			if (len)
				buf[k] = '\0';
			return buf;
		}
	}
	return buf;
}

bool sql_has_word(const struct sql_stmt *st, const char *word)
{
	char buf[64];
	for (int i = 0; *sql_word(st, i, buf, sizeof buf); i++)
		if (!strcmp(buf, word))
			return true;
	return false;
}

bool sql_is_client_copy(const struct sql_stmt *st)
{
	char w[16];
	return !strcmp(sql_word(st, 0, w, sizeof w), "COPY") &&
	       (sql_has_word(st, "STDIN") || sql_has_word(st, "STDOUT"));
}

bool sql_needs_own_transaction(const struct sql_stmt *st)
{
	char w0[32], w1[32];
	sql_word(st, 0, w0, sizeof w0);
	sql_word(st, 1, w1, sizeof w1);
	if (!strcmp(w0, "VACUUM"))
		return true;
	if (!strcmp(w0, "ALTER") && !strcmp(w1, "SYSTEM"))
		return true;
	if ((!strcmp(w0, "CREATE") || !strcmp(w0, "DROP")) &&
	    (!strcmp(w1, "DATABASE") || !strcmp(w1, "TABLESPACE")))
		return true;
	/* CREATE [UNIQUE] INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY,
	 * REINDEX ... CONCURRENTLY, DETACH PARTITION ... CONCURRENTLY. */
	return (!strcmp(w0, "CREATE") || !strcmp(w0, "DROP") || !strcmp(w0, "REINDEX") ||
		!strcmp(w0, "ALTER")) &&
	       sql_has_word(st, "CONCURRENTLY");
}
