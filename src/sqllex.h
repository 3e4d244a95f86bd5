/* sqllex.h: SQL text cut into tokens, the way PostgreSQL's lexer cuts it.
 *
 * The one lexer of pgrace: the statement splitter (sqlscan.c), the $n
 * placeholder reader and the transaction-control test (sqlscan.c, for the
 * loader) and the step namer of isolation specs (order.c) all read SQL
 * through it, so they agree on where a comment, literal or quoted name ends.
 * Pure: no allocation, no I/O, no server. It knows what PostgreSQL's
 * scan.l knows about token boundaries with standard_conforming_strings on:
 * -- comments to the end of the line, slash-star comments that nest,
 * 'literals' with '' for a quote, E'literals' with backslash escapes,
 * "quoted names" with "" for a quote, dollar quotes ($$...$$,
 * $tag$...$tag$), $n parameters, words (keywords, names, numbers) and
 * semicolons. Everything else is a one-character SQLLEX_OTHER token. */
#ifndef PGRACE_SQLLEX_H
#define PGRACE_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>

enum sqllex_kind {
	SQLLEX_END,     /* the NUL at the end of the text; len 0 */
	SQLLEX_SPACE,   /* a run of white space */
	SQLLEX_COMMENT, /* -- to (not including) the newline, or a nested slash-star */
	SQLLEX_STRING,  /* '...', E'...' (the E is part of the token) */
	SQLLEX_QNAME,   /* "..." */
	SQLLEX_DOLLAR,  /* $$...$$ or $tag$...$tag$ */
	SQLLEX_PARAM,   /* $1, $23 */
	SQLLEX_WORD,    /* letters, digits, '_', '$' and bytes >= 0x80, not starting with '$' */
	SQLLEX_SEMI,    /* ; */
	SQLLEX_OTHER,   /* any other single character: operators, parentheses, a lone '$' */
};

struct sqllex_token {
	enum sqllex_kind kind;
	const char *start;
	size_t len;
	bool open; /* a comment, literal, quoted name or dollar quote that never closes:
		      it runs to the end of the text */
};

/* The token that starts at p, a token boundary of a NUL-terminated text (the
 * text's start, or the end of the token before); the next one starts at
 * out->start + out->len. Returns out->kind. */
enum sqllex_kind sqllex_next(const char *p, struct sqllex_token *out);
/* The first token at or after p that is not white space or a comment. */
enum sqllex_kind sqllex_next_code(const char *p, struct sqllex_token *out);
/* The number of a SQLLEX_PARAM token ($12 is 12); 0 when it does not fit an int. */
int sqllex_param_number(const struct sqllex_token *t);
/* Name of a kind ("comment"), for messages and tests. */
const char *sqllex_kind_name(enum sqllex_kind k);

#endif
