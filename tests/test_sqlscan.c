/* test_sqlscan.c: the statement splitter and word reader of sqlscan.h,
 * table-driven: what PostgreSQL's lexer would see as statements. */
#include <criterion/criterion.h>

#include <string.h>

#include "sqlscan.h"

static const struct {
	const char *sql;
	int statements;
} counts[] = {
	{"", 0},
	{"  \n-- only a comment\n", 0},
	{";;  ;", 0},
	{"SELECT 1", 1},
	{"SELECT 1;", 1},
	{"SELECT 1; SELECT 2", 2},
	{"SELECT 'a;b'", 1},
	{"SELECT 'it''s; fine'", 1},
	{"SELECT E'back\\'slash; still'", 1},
	{"SELECT 'plain\\'; SELECT 2", 2}, /* standard strings: the backslash is a character */
	{"SELECT \"odd;name\" FROM t", 1},
	{"SELECT $$a;b$$", 1},
	{"SELECT $tag$ $$ ; $tag$", 1},
	{"SELECT $1; SELECT $2", 2}, /* parameters are no dollar quotes */
	{"SELECT a$b$c; SELECT 2", 2}, /* $ inside an identifier opens nothing */
	{"SELECT 1 -- no; split\n", 1},
	{"SELECT 1 /* no; /* nested; */ split */", 1},
	{"/* lead */ SELECT 1; /* tail */", 1},
	{"SELECT 'never closed; SELECT 2", 1},
	{"INSERT INTO t VALUES (1);\nCREATE TABLE public.x (y int)", 2},
};

Test(sqlscan, counts_statements)
{
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
		cr_expect_eq(sql_count_stmts(counts[i].sql), counts[i].statements,
			     "\"%s\": %d statements, expected %d", counts[i].sql,
			     sql_count_stmts(counts[i].sql), counts[i].statements);
}

Test(sqlscan, statement_lines_and_words)
{
	const char *sql = "-- header\nSELECT 1;\n\n  /* c */ Create Index Concurrently i ON t (x);";
	const char *pos = sql;
	struct sql_stmt st;
	char w[32];
	cr_assert(sql_next_stmt(sql, &pos, &st));
	cr_expect_eq(st.line, 1);
	cr_expect_str_eq(sql_word(&st, 0, w, sizeof w), "SELECT");
	cr_expect(!sql_needs_own_transaction(&st));
	cr_assert(sql_next_stmt(sql, &pos, &st));
	cr_expect_eq(st.line, 3);
	cr_expect_str_eq(sql_word(&st, 2, w, sizeof w), "CONCURRENTLY");
	cr_expect_str_eq(sql_word(&st, 9, w, sizeof w), "");
	cr_expect(sql_needs_own_transaction(&st));
	cr_expect(!sql_next_stmt(sql, &pos, &st));
}

static bool is_client_copy(const char *sql)
{
	const char *pos = sql;
	struct sql_stmt st;
	cr_assert(sql_next_stmt(sql, &pos, &st), "no statement in \"%s\"", sql);
	return sql_is_client_copy(&st);
}

Test(sqlscan, client_copy)
{
	cr_expect(is_client_copy("COPY t FROM STDIN"));
	cr_expect(is_client_copy("copy (select 1) to stdout with (format csv)"));
	cr_expect(is_client_copy("/* x */ COPY t (a, b) FROM stdin;"));
	cr_expect(!is_client_copy("COPY t FROM '/tmp/file'"));
	cr_expect(!is_client_copy("COPY t FROM PROGRAM 'echo stdin'"));
	cr_expect(!is_client_copy("SELECT 'COPY t FROM STDIN'"));
	cr_expect(!is_client_copy("INSERT INTO stdin VALUES (1)"));
}
