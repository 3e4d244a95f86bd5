/* sqlscan.c: statements, words and placeholders of SQL text (see sqlscan.h).
 *
 * Every reader here walks the tokens of sqllex.c, so statement ends,
 * comments, literals and $n placeholders are where PostgreSQL sees them,
 * and one reader never disagrees with another about them. */
#include "sqlscan.h"

#include "mem.h"
#include "sqllex.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int lines_between(const char *from, const char *to)
{
	int n = 0;
	for (const char *p = from; p < to; p++)
		n += *p == '\n';
	return n;
}

bool sql_next_stmt(const char *script, const char **pos, struct sql_stmt *out)
{
	struct sqllex_token t;
	const char *p = *pos;
	/* blanks, comments and empty statements before the first word */
	while (sqllex_next_code(p, &t) == SQLLEX_SEMI)
		p = t.start + t.len;
	if (t.kind == SQLLEX_END) {
		*pos = t.start;
		return false;
	}
	const char *start = t.start;
	for (p = start; sqllex_next(p, &t) != SQLLEX_END && t.kind != SQLLEX_SEMI;)
		p = t.start + t.len;
	out->start = start;
	out->len = (size_t)(t.start - start);
	out->line = lines_between(script, start);
	*pos = t.start + t.len;
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
	struct sqllex_token t;
	if (len)
		buf[0] = '\0';
	/* a token that never closes may run past the statement: stop at its end */
	for (; p < end && sqllex_next(p, &t) != SQLLEX_END; p = t.start + t.len) {
		if (t.kind != SQLLEX_WORD || n-- > 0)
			continue;
		size_t k = 0;
		for (; k + 1 < len && k < t.len && t.start + k < end; k++)
			buf[k] = (char)toupper((unsigned char)t.start[k]);
		if (len)
			buf[k] = '\0';
		return buf;
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

/* t is the word w (upper case) in any case. */
static bool is_word(const struct sqllex_token *t, const char *w)
{
	if (t->kind != SQLLEX_WORD || t->len != strlen(w))
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (toupper((unsigned char)t->start[i]) != w[i])
			return false;
	return true;
}

const char *sql_transaction_control(const char *sql)
{
	static const char *const words[][2] = {
		{"BEGIN", NULL},     {"START", "TRANSACTION"},   {"COMMIT", NULL},
		{"END", NULL},       {"ROLLBACK", NULL},         {"ABORT", NULL},
		{"SAVEPOINT", NULL}, {"RELEASE", NULL},          {"PREPARE", "TRANSACTION"},
	};
	static const char *const names[] = {
		"BEGIN", "START TRANSACTION", "COMMIT",  "END",		  "ROLLBACK",
		"ABORT", "SAVEPOINT",	      "RELEASE", "PREPARE TRANSACTION",
	};
	struct sqllex_token first, second;
	sqllex_next_code(sql, &first);
	sqllex_next_code(first.start + first.len, &second);
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (is_word(&first, words[i][0]) && (!words[i][1] || is_word(&second, words[i][1])))
			return names[i];
	return NULL;
}

int sql_max_param(const char *sql)
{
	struct sqllex_token t;
	int most = 0;
	for (const char *p = sql; sqllex_next(p, &t) != SQLLEX_END; p = t.start + t.len) {
		int n = t.kind == SQLLEX_PARAM ? sqllex_param_number(&t) : 0;
		if (n > most && n < 100000)
			most = n;
	}
	return most;
}

char *sql_bind(const char *sql, const char *const *values, int nvalues)
{
	/* each value at most doubles (quotes) plus its two quotes: measure first */
	struct sqllex_token t;
	size_t cap = 1;
	for (const char *p = sql; sqllex_next(p, &t) != SQLLEX_END; p = t.start + t.len) {
		int n = t.kind == SQLLEX_PARAM ? sqllex_param_number(&t) : 0;
		cap += n >= 1 && n <= nvalues ? strlen(values[n - 1]) * 2 + 2 : t.len;
	}
	char *out = mem_malloc(cap);
	size_t len = 0;
	for (const char *p = sql; sqllex_next(p, &t) != SQLLEX_END; p = t.start + t.len) {
		int n = t.kind == SQLLEX_PARAM ? sqllex_param_number(&t) : 0;
		if (n < 1 || n > nvalues) {
			memcpy(out + len, t.start, t.len);
			len += t.len;
			continue;
		}
		out[len++] = '\'';
		for (const char *v = values[n - 1]; *v; v++) {
			if (*v == '\'')
				out[len++] = '\'';
			out[len++] = *v;
		}
		out[len++] = '\'';
	}
	out[len] = '\0';
	return out;
}
