/* sqllex.c: SQL tokens as PostgreSQL's lexer bounds them (see sqllex.h).
 *
 * One function per token kind that can span more than a character; each
 * returns where its token ends (the end of the text when it never closes,
 * with *open set). sqllex_next() picks by the first characters only, so a
 * caller that starts at a token boundary stays on token boundaries. */
#include "sqllex.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

static bool word_start(char c)
{
	return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static bool word_char(char c)
{
	return word_start(c) || c == '$';
}

/* A dollar-quote tag's characters after its first (scan.l's dolq_cont). */
static bool tag_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Length of the dollar-quote tag at p ("$$" or "$name$"), 0 when p starts none. */
static size_t dollar_tag(const char *p)
{
	if (p[0] != '$' || isdigit((unsigned char)p[1]))
		return 0;
	size_t n = 1;
	while (tag_char(p[n]))
		n++;
	return p[n] == '$' ? n + 1 : 0;
}

/* -- to the newline, or slash-star to its matching star-slash. */
static const char *comment_end(const char *p, bool *open)
{
	if (p[0] == '-') {
		const char *nl = strchr(p, '\n');
		*open = false;
		return nl ? nl : p + strlen(p);
	}
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
	*open = true;
	return p + strlen(p);
}

/* A literal or quoted name opening at the quote p: a doubled quote stands
 * for one; with escapes (E'...') a backslash takes the next character. */
static const char *quoted_end(const char *p, bool escapes, bool *open)
{
	char q = *p;
	for (const char *s = p + 1; *s; s++) {
		if (escapes && *s == '\\' && s[1])
			s++;
		else if (*s == q && s[1] == q)
			s++;
		else if (*s == q)
			return s + 1;
	}
	*open = true;
	return p + strlen(p);
}

static const char *dollar_end(const char *p, size_t tag, bool *open)
{
	for (const char *s = p + tag; (s = strchr(s, '$')) != NULL; s++)
		if (!strncmp(s, p, tag))
			return s + tag;
	*open = true;
	return p + strlen(p);
}

enum sqllex_kind sqllex_next(const char *p, struct sqllex_token *out)
{
	const char *end = p + 1;
	bool open = false;
	enum sqllex_kind kind = SQLLEX_OTHER;
	size_t tag;
	if (!*p) {
		kind = SQLLEX_END;
		end = p;
	} else if (isspace((unsigned char)*p)) {
		kind = SQLLEX_SPACE;
		while (isspace((unsigned char)*end))
			end++;
	} else if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
		kind = SQLLEX_COMMENT;
		end = comment_end(p, &open);
	} else if ((p[0] == 'E' || p[0] == 'e') && p[1] == '\'') {
		kind = SQLLEX_STRING;
		end = quoted_end(p + 1, true, &open);
	} else if (*p == '\'' || *p == '"') {
		kind = *p == '\'' ? SQLLEX_STRING : SQLLEX_QNAME;
		end = quoted_end(p, false, &open);
	} else if (*p == '$' && isdigit((unsigned char)p[1])) {
		kind = SQLLEX_PARAM;
		while (isdigit((unsigned char)*end))
			end++;
	} else if ((tag = dollar_tag(p)) > 0) {
		kind = SQLLEX_DOLLAR;
		end = dollar_end(p, tag, &open);
	} else if (word_start(*p)) {
		kind = SQLLEX_WORD;
		while (word_char(*end))
			end++;
	} else if (*p == ';') {
		kind = SQLLEX_SEMI;
	}
	out->kind = kind;
	out->start = p;
	out->len = (size_t)(end - p);
	out->open = open;
	return kind;
}

enum sqllex_kind sqllex_next_code(const char *p, struct sqllex_token *out)
{
	while (sqllex_next(p, out) == SQLLEX_SPACE || out->kind == SQLLEX_COMMENT)
		p = out->start + out->len;
	return out->kind;
}

int sqllex_param_number(const struct sqllex_token *t)
{
	long n = 0;
	for (size_t i = 1; i < t->len; i++) {
		n = n * 10 + (t->start[i] - '0');
		if (n > INT_MAX)
			return 0;
	}
	return (int)n;
}

const char *sqllex_kind_name(enum sqllex_kind k)
{
	static const char *const names[] = {
		[SQLLEX_END] = "end",       [SQLLEX_SPACE] = "space", [SQLLEX_COMMENT] = "comment",
		[SQLLEX_STRING] = "string", [SQLLEX_QNAME] = "qname", [SQLLEX_DOLLAR] = "dollar",
		[SQLLEX_PARAM] = "param",   [SQLLEX_WORD] = "word",   [SQLLEX_SEMI] = "semi",
		[SQLLEX_OTHER] = "other",
	};
	return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
