/* test_sqllex.c: the SQL lexer (sqllex.h), table-driven.
 *
 * Each row is a text and the tokens PostgreSQL's lexer would cut it into,
 * written as "kind:text" with the white space left out; then the readers
 * built on it (statements, placeholders, transaction control, step names)
 * are checked to agree on texts where the old hand-written lexers did not. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"
#include "sqllex.h"
#include "sqlscan.h"

TestSuite(sqllex, .timeout = 30);

#define MAX_TOKENS 12

static const struct {
	const char *sql;
	const char *tokens[MAX_TOKENS]; /* SQLLEX_SPACE tokens left out */
	bool open;                      /* the last token never closes */
} cases[] = {
	{"", {NULL}, false},
	{"SELECT 1;", {"word:SELECT", "word:1", "semi:;"}, false},
	{"a$b$c $$x$$", {"word:a$b$c", "dollar:$$x$$"}, false},
	{"$1+$23", {"param:$1", "other:+", "param:$23"}, false},
	{"$tag$ $$ ; $tag$;", {"dollar:$tag$ $$ ; $tag$", "semi:;"}, false},
	{"$_1$ x $_1$", {"dollar:$_1$ x $_1$"}, false},
	{"$ 1", {"other:$", "word:1"}, false},
	{"$x$ never", {"dollar:$x$ never"}, true},
	{"'it''s' x", {"string:'it''s'", "word:x"}, false},
	{"'a\\' b", {"string:'a\\'", "word:b"}, false}, /* standard: backslash is a character */
	{"E'a\\'b' c", {"string:E'a\\'b'", "word:c"}, false},
	{"e'\\\\' c", {"string:e'\\\\'", "word:c"}, false},
	{"e'\\' c", {"string:e'\\' c"}, true},
	{"fooE'x'", {"word:fooE", "string:'x'"}, false}, /* E only as its own word */
	{"\"a\"\"b\".c", {"qname:\"a\"\"b\"", "other:.", "word:c"}, false},
	{"\"open", {"qname:\"open"}, true},
	{"x -- c; d\ny", {"word:x", "comment:-- c; d", "word:y"}, false},
	{"/* a /* b */ c */ d", {"comment:/* a /* b */ c */", "word:d"}, false},
	{"/* a /* b */ c", {"comment:/* a /* b */ c"}, true},
	{"/**/x", {"comment:/**/", "word:x"}, false},
	{"a/b-c", {"word:a", "other:/", "word:b", "other:-", "word:c"}, false},
	{"\xc3\xa9t\xc3\xa9 (1)", {"word:\xc3\xa9t\xc3\xa9", "other:(", "word:1", "other:)"}, false},
};

Test(sqllex, tokens)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sqllex_token t;
		const char *p = cases[i].sql;
		int n = 0;
		bool open = false;
		while (sqllex_next(p, &t) != SQLLEX_END) {
			cr_assert(t.len > 0, "\"%s\": empty %s token", cases[i].sql,
				  sqllex_kind_name(t.kind));
			p = t.start + t.len;
			if (t.kind == SQLLEX_SPACE)
				continue;
			char got[128];
			snprintf(got, sizeof got, "%s:%.*s", sqllex_kind_name(t.kind), (int)t.len,
				 t.start);
			cr_assert(n < MAX_TOKENS && cases[i].tokens[n], "\"%s\": extra token %s",
				  cases[i].sql, got);
			cr_expect_str_eq(got, cases[i].tokens[n], "\"%s\" token %d", cases[i].sql, n);
			open = t.open;
			n++;
		}
		cr_expect(n == MAX_TOKENS || cases[i].tokens[n] == NULL, "\"%s\": %d tokens, missing %s",
			  cases[i].sql, n, cases[i].tokens[n]);
		cr_expect_eq(open, cases[i].open, "\"%s\": open", cases[i].sql);
		cr_expect_eq(t.len, 0);
		cr_expect_eq(t.start, cases[i].sql + strlen(cases[i].sql), "\"%s\": END not at the NUL",
			     cases[i].sql);
	}
}

Test(sqllex, next_code_and_param_number)
{
	struct sqllex_token t;
	cr_expect_eq(sqllex_next_code("  -- x\n /* y */ $42", &t), SQLLEX_PARAM);
	cr_expect_eq(sqllex_param_number(&t), 42);
	cr_expect_eq(sqllex_next_code("$99999999999", &t), SQLLEX_PARAM);
	cr_expect_eq(sqllex_param_number(&t), 0, "too big for an int");
	cr_expect_eq(sqllex_next_code(" /* only */ ", &t), SQLLEX_END);
}

/* Texts on which the hand-written lexers of scenario.c and order.c (comments
 * closed at the first star-slash) disagreed with sqlscan.c (nested): each
 * reader must now see the same comment. */
static const struct {
	const char *sql;
	int statements, max_param;
	const char *control, *name;
} agree[] = {
	{"/* a /* b */ $3; */ SELECT $1", 1, 1, NULL, "select"},
	{"/* x /* y */ */ COMMIT", 1, 0, "COMMIT", "commit1"}, /* as the last step is */
	{"/* x /* y */ ; $2 */ INSERT INTO t VALUES ($1)", 1, 1, NULL, "insert"},
	{"-- $4 /* \nUPDATE t SET a = $2 /* */ */", 1, 2, NULL, "update"},
	{"START /* x */ TRANSACTION", 1, 0, "START TRANSACTION", "start"},
};

Test(sqllex, readers_agree_on_nested_comments)
{
	for (size_t i = 0; i < sizeof agree / sizeof agree[0]; i++) {
		const char *sql = agree[i].sql;
		cr_expect_eq(sql_count_stmts(sql), agree[i].statements, "\"%s\": statements", sql);
		cr_expect_eq(sql_max_param(sql), agree[i].max_param, "\"%s\": max param", sql);
		const char *tc = sql_transaction_control(sql);
		if (agree[i].control)
			cr_expect(tc && !strcmp(tc, agree[i].control), "\"%s\": control %s", sql,
				  tc ? tc : "NULL");
		else
			cr_expect_null(tc, "\"%s\": control %s", sql, tc);
		const char *flow[] = {sql};
		char names[2][ORDER_NAME_LEN];
		order_step_names(flow, 2, names);
		cr_expect_str_eq(names[0], agree[i].name, "\"%s\": step name", sql);
	}
}
