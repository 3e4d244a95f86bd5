/* test_appstep.c: a step's SQL, parameters, kind and interleaving point
 * read from its protocol bytes (appstep.h), on byte buffers: a Query, an
 * extended batch with text, NULL and binary parameters, a named statement
 * found through the lookup, quoting, and which statements are points,
 * table-driven. */
#include <criterion/criterion.h>

#include <string.h>

#include "appstep.h"
#include "pgwire.h"

TestSuite(appstep, .timeout = 30);

static size_t msg(uint8_t *out, uint8_t type, const void *body, size_t len)
{
	pgwire_put_header(out, type, (uint32_t)len);
	memcpy(out + 5, body, len);
	return len + 5;
}

/* A Bind of statement name with n text parameters (NULL: SQL NULL). */
static size_t bind(uint8_t *out, const char *name, const char *const *vals, int n, bool binary)
{
	uint8_t body[512];
	size_t k = 0;
	body[k++] = '\0'; /* portal */
	memcpy(body + k, name, strlen(name) + 1);
	k += strlen(name) + 1;
	body[k++] = 0;
	body[k++] = 1; /* one format code for all */
	body[k++] = 0;
	body[k++] = binary ? 1 : 0;
	body[k++] = 0;
	body[k++] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		if (!vals[i]) {
			memset(body + k, 0xff, 4);
			k += 4;
			continue;
		}
		uint32_t l = (uint32_t)strlen(vals[i]);
		body[k++] = (uint8_t)(l >> 24);
		body[k++] = (uint8_t)(l >> 16);
		body[k++] = (uint8_t)(l >> 8);
		body[k++] = (uint8_t)l;
		memcpy(body + k, vals[i], l);
		k += l;
	}
	body[k++] = 0;
	body[k++] = 0;
	return msg(out, 'B', body, k);
}

static size_t parse(uint8_t *out, const char *name, const char *sql)
{
	uint8_t body[512];
	size_t k = 0;
	memcpy(body + k, name, strlen(name) + 1);
	k += strlen(name) + 1;
	memcpy(body + k, sql, strlen(sql) + 1);
	k += strlen(sql) + 1;
	body[k++] = 0;
	body[k++] = 0;
	return msg(out, 'P', body, k);
}

static size_t batch_end(uint8_t *out)
{
	static const uint8_t exec[] = {0, 0, 0, 0, 0};
	size_t k = msg(out, 'E', exec, sizeof exec);
	return k + msg(out + k, 'S', "", 0);
}

Test(appstep, a_query_is_shown_as_sent)
{
	uint8_t b[256];
	const char *sql = "SELECT 1 FROM m WHERE id = 7";
	size_t n = msg(b, 'Q', sql, strlen(sql) + 1);
	struct appstep_desc d;
	appstep_describe(b, n, NULL, NULL, &d);
	cr_assert_str_eq(d.shown, sql);
	cr_assert_str_eq(d.inlined, sql);
	cr_assert_str_eq(d.kind, "select");
	cr_assert(d.visible);
	cr_assert_not(d.control);
	cr_assert_not(d.cut);
}

Test(appstep, parameters_are_shown_and_inlined_quoted)
{
	uint8_t b[1024];
	const char *vals[] = {"7", "it's", NULL, "a\\b"};
	size_t n = parse(b, "", "INSERT INTO m VALUES ($1, $2, $3, $4) -- $9 '$1'");
	n += bind(b + n, "", vals, 4, false);
	n += batch_end(b + n);
	struct appstep_desc d;
	appstep_describe(b, n, NULL, NULL, &d);
	cr_assert_str_eq(d.inlined, "INSERT INTO m VALUES ('7', 'it''s', NULL, E'a\\\\b') -- $9 '$1'");
	cr_assert_str_eq(d.shown, "INSERT INTO m VALUES ($1, $2, $3, $4) -- $9 '$1' -- $1 = '7', $2 = "
				  "'it''s', $3 = NULL, $4 = E'a\\\\b'");
	cr_assert_str_eq(d.kind, "insert");
	cr_assert_not(d.binary);
	cr_assert(d.visible);
}

static const char *lookup(void *ctx, const char *name)
{
	(void)ctx;
	return !strcmp(name, "s1") ? "UPDATE m SET x = $1" : NULL;
}

Test(appstep, a_named_statement_comes_from_the_lookup)
{
	uint8_t b[512];
	const char *vals[] = {"5"};
	size_t n = bind(b, "s1", vals, 1, false);
	n += batch_end(b + n);
	struct appstep_desc d;
	appstep_describe(b, n, lookup, NULL, &d);
	cr_assert_str_eq(d.inlined, "UPDATE m SET x = '5'");
	cr_assert_str_eq(d.kind, "update");
	n = bind(b, "nosuch", vals, 1, false);
	n += batch_end(b + n);
	appstep_describe(b, n, lookup, NULL, &d);
	cr_assert(d.cut, "an unknown statement is not exact");
}

Test(appstep, a_binary_parameter_is_flagged)
{
	uint8_t b[512];
	const char *vals[] = {"\x01\x02"};
	size_t n = parse(b, "", "SELECT $1");
	n += bind(b + n, "", vals, 1, true);
	n += batch_end(b + n);
	struct appstep_desc d;
	appstep_describe(b, n, NULL, NULL, &d);
	cr_assert(d.binary);
	cr_assert(strstr(d.shown, "'\\x0102'"), "%s", d.shown);
}

Test(appstep, a_truncated_step_stops_without_overrunning)
{
	uint8_t b[256];
	const char *sql = "SELECT 1 FROM t";
	size_t n = msg(b, 'Q', sql, strlen(sql) + 1);
	for (size_t cut = 0; cut < n; cut++) {
		struct appstep_desc d;
		appstep_describe(b, cut, NULL, NULL, &d);
		cr_assert_str_eq(d.shown, "");
		cr_assert_str_eq(d.kind, "sync");
		cr_assert_not(d.visible);
	}
}

Test(appstep, which_statements_interleave)
{
	static const struct {
		const char *sql;
		bool point, control;
	} cases[] = {
		{"SELECT 1 FROM m", true, false},
		{"INSERT INTO m VALUES (1)", true, false},
		{"COMMIT", true, true},
		{"ROLLBACK", true, true},
		{"ROLLBACK TO SAVEPOINT s1", true, true},
		{"rollback to s1", true, true},
		{"BEGIN", false, true},
		{"SAVEPOINT s1", false, true},
		{"RELEASE SAVEPOINT s1", false, true},
		{"SET search_path = x", false, true},
		{"show standard_conforming_strings", false, true},
		{"select pg_catalog.version()", false, true},
		{"SET x = 1; INSERT INTO m VALUES (1)", true, false},
		{"SELECT 1 FROM m; COMMIT", true, false},
		{"BEGIN; COMMIT", true, true},
		{"(SELECT 1 FROM m)", true, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t b[256];
		size_t n = msg(b, 'Q', cases[i].sql, strlen(cases[i].sql) + 1);
		struct appstep_desc d;
		appstep_describe(b, n, NULL, NULL, &d);
		cr_expect_eq(d.visible, cases[i].point, "%s: point", cases[i].sql);
		cr_expect_eq(d.control, cases[i].control, "%s: control", cases[i].sql);
	}
}

Test(appstep, quoting_fits_or_says_no)
{
	char out[8];
	cr_assert(appstep_quote("ab", 2, out, sizeof out));
	cr_assert_str_eq(out, "'ab'");
	cr_assert_not(appstep_quote("abcdefgh", 8, out, sizeof out));
	cr_assert(appstep_quote(NULL, 0, out, sizeof out));
	cr_assert_str_eq(out, "NULL");
}
