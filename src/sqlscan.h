/* sqlscan.h: the statements, words and $n placeholders of SQL text, as
 * PostgreSQL's lexer sees them.
 *
 * Pure, no server, built on the tokens of sqllex.h: it splits a script at
 * the semicolons that are outside string literals ('...', E'...' with
 * backslash escapes), quoted identifiers ("..."), dollar-quoted strings
 * ($$...$$, $tag$...$tag$) and comments (-- to the end of the line, nested
 * slash-star), reads the words of a statement outside those, and finds and
 * fills $n placeholders outside them. It does not know SQL-standard
 * function bodies (BEGIN ATOMIC ... END), whose inner semicolons it takes
 * for statement ends: a caller that refuses several statements then refuses
 * such a body too, which errs on the safe side. */
#ifndef PGRACE_SQLSCAN_H
#define PGRACE_SQLSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* One statement of a script: where its first word starts and where it ends
 * (at its semicolon, or the end of the script). */
struct sql_stmt {
	const char *start; /* first character that is not blank or a comment */
	size_t len;        /* up to, not including, the semicolon */
	int line;          /* 0-based line of start within the script */
};

/* The statement after *pos (a cursor into a NUL-terminated script, start
 * it at the script itself; script is that start, for line numbers); false
 * when only blanks, comments and semicolons are left. Empty statements
 * (";;") are skipped. */
bool sql_next_stmt(const char *script, const char **pos, struct sql_stmt *out);
/* Number of non-empty statements in script. */
int sql_count_stmts(const char *script);
/* The n-th word (0-based) of st outside literals and comments, upper-cased
 * into buf; "" when st has fewer words. A word is a keyword, name or number
 * (sqllex's SQLLEX_WORD: letters, digits, '_' and '$', not starting with
 * '$'); a $n placeholder is none. */
const char *sql_word(const struct sql_stmt *st, int n, char *buf, size_t len);
/* st has word (upper case) among its words outside literals and comments. */
bool sql_has_word(const struct sql_stmt *st, const char *word);
/* st is a COPY that reads from or writes to the client (FROM STDIN, TO
 * STDOUT): pgrace has no data to send and keeps no output. */
bool sql_is_client_copy(const struct sql_stmt *st);
/* st cannot run inside a transaction block (CREATE INDEX CONCURRENTLY,
 * VACUUM, ...): it must be sent alone. */
bool sql_needs_own_transaction(const struct sql_stmt *st);

/* The leading keywords of sql when they are transaction control ("COMMIT",
 * "SAVEPOINT", "START TRANSACTION", ...; comments skipped), NULL when they
 * are not. */
const char *sql_transaction_control(const char *sql);
/* Highest $n placeholder in sql, outside quotes and comments (0 if none). */
int sql_max_param(const char *sql);
/* sql with every $n placeholder (outside quotes and comments) replaced by
 * values[n - 1] as a quoted literal ('1'); placeholders past nvalues stay.
 * Malloc'd. For tools that take no parameters (the isolation tester). */
char *sql_bind(const char *sql, const char *const *values, int nvalues);

#endif
