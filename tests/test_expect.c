/* test_expect.c: the expectation parser and evaluator.
 *
 * Tables of expressions with their values, of expectations with their
 * verdicts and `actual` strings, and of malformed texts with the error they
 * must produce. Metrics come from a small fixed table. */
#include <criterion/criterion.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

TestSuite(expect, .timeout = 30);

struct metric {
	const char *name;
	long long value;
};

static const struct metric metrics[] = {
	{"a", 3},
	{"b", 4},
	{"zero", 0},
	{"workers", 16},
	{"rounds", 20},
	{"outcomes.23505", 15},
	{"outcomes.ok", 1},
	{"rows_per_key.max", 1},
	{"x1.y2_z", 7},
	{"_under", 11},
	{"big", LLONG_MAX},
	{"min", LLONG_MIN},
	{NULL, 0},
};

static int lookups;

static bool lookup(void *ctx, const char *name, long long *value)
{
	lookups++;
	for (const struct metric *m = ctx; m->name; m++)
		if (strcmp(m->name, name) == 0) {
			*value = m->value;
			return true;
		}
	return false;
}

/* ---- arithmetic ------------------------------------------------------- */

Test(expect, eval_values)
{
	static const struct {
		const char *text;
		long long want;
	} cases[] = {
		{"0", 0},
		{"42", 42},
		{"9223372036854775807", LLONG_MAX},
		{"-9223372036854775808", LLONG_MIN}, /* the least value is a number too */
		{"-9223372036854775808 + 1", LLONG_MIN + 1},
		{"1 -9223372036854775807", LLONG_MIN + 2}, /* binary minus, then the number */
		{"-9223372036854775808 / 2 * 2", LLONG_MIN},
		{"1 + 2 * 3", 7},           /* * before + */
		{"1 * 2 + 3", 5},
		{"(1 + 2) * 3", 9},         /* parentheses */
		{"((((7))))", 7},
		{"2 * (3 + 4) * 5", 70},
		{"10 - 4 - 3", 3},          /* left-associative */
		{"100 / 10 / 5", 2},
		{"2 - 3", -1},
		{"7 / 2", 3},               /* integer division truncates */
		{"-7 / 2", -3},             /* ... toward zero */
		{"7 / -2", -3},
		{"-3", -3},                 /* unary minus */
		{"--3", 3},
		{"- - 3", 3},
		{"-(2 + 3)", -5},
		{"2 * -3", -6},
		{"2 - -3", 5},
		{"-a * b", -12},
		{"a - b * 2", -5},
		{"outcomes.23505", 15},     /* dotted names with digits */
		{"(workers - 1) * rounds", 300},
		{"outcomes.23505 - (workers - 1)", 0},
		{"rows_per_key.max", 1},
		{"x1.y2_z * 2", 14},
		{"_under", 11},
		{"big", LLONG_MAX},
		{"min", LLONG_MIN},
		{"  a\t+\nb  ", 7},           /* whitespace anywhere */
		{"a+b*a-b/a", 14},          /* no whitespace at all: 3 + 12 - 1 */
		{"0 * big", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct expr *e = expr_parse(cases[i].text, err, sizeof err);
		cr_expect_not_null(e, "\"%s\": %s", cases[i].text, err);
		if (!e)
			continue;
		long long v = -999;
		bool ok = expr_eval(e, lookup, (void *)metrics, &v, err, sizeof err);
		cr_expect(ok, "\"%s\": %s", cases[i].text, err);
		cr_expect_eq(v, cases[i].want, "\"%s\" = %lld, want %lld", cases[i].text, v,
			     cases[i].want);
		expr_free(e);
	}
}

Test(expect, eval_errors)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{"1 / 0", "division by zero"},
		{"a / zero", "division by zero"},
		{"1 / (a - 3)", "division by zero"},
		{"b / (zero * 5) + 1", "division by zero"},
		{"nosuch", "unknown metric \"nosuch\""},
		{"a + nosuch.metric * 2", "unknown metric \"nosuch.metric\""},
		{"outcomes.40001", "unknown metric \"outcomes.40001\""},
		{"A", "unknown metric \"A\""}, /* names are case-sensitive */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct expr *e = expr_parse(cases[i].text, err, sizeof err);
		cr_assert_not_null(e, "\"%s\": %s", cases[i].text, err);
		long long v = 0;
		cr_expect_not(expr_eval(e, lookup, (void *)metrics, &v, err, sizeof err),
			      "\"%s\" evaluated to %lld", cases[i].text, v);
		cr_expect(strstr(err, cases[i].err), "\"%s\": got \"%s\", want \"%s\"", cases[i].text,
			  err, cases[i].err);
		expr_free(e);
	}
}

/* 64-bit overflow is undefined behaviour in C, and LLONG_MIN / -1 traps
 * (SIGFPE) on x86: an expectation must fail to evaluate, never crash. */
static void expect_overflow(const char *const *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char err[256] = "";
		struct expr *e = expr_parse(cases[i], err, sizeof err);
		cr_assert_not_null(e, "\"%s\": %s", cases[i], err);
		long long v = 0;
		cr_expect_not(expr_eval(e, lookup, (void *)metrics, &v, err, sizeof err),
			      "\"%s\" evaluated to %lld", cases[i], v);
		cr_expect(strstr(err, "overflow"), "\"%s\": got \"%s\", want an overflow error",
			  cases[i], err);
		expr_free(e);
	}
}

Test(expect, eval_overflow_division)
{
	static const char *const cases[] = {
		"(-9223372036854775807 - 1) / -1",
		"min / -1",
	};
	expect_overflow(cases, sizeof cases / sizeof cases[0]);
}

Test(expect, eval_overflow)
{
	static const char *const cases[] = {
		"big + 1",
		"min - 1",
		"-min",
		"big * 2",
		"min * -1",
	};
	expect_overflow(cases, sizeof cases / sizeof cases[0]);
}

/* ---- parse errors ----------------------------------------------------- */

Test(expect, expr_parse_errors)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{"", "unexpected end at column 1"},
		{"   ", "unexpected end"},
		{"a b", "unexpected text at column 3"},
		{"1 +", "unexpected end"},
		{"1 + * 2", "expected a number, a metric name or '('"},
		{"(1 + 2", "expected ')'"},
		{"1 + 2)", "unexpected text"},
		{"()", "expected a number, a metric name or '('"},
		{"12abc", "malformed number"},
		{"1.5", "malformed number"},
		{"99999999999999999999", "number out of range"},
		{"9223372036854775808", "number out of range"},
		{"-9223372036854775809", "number out of range"},
		{"- 9223372036854775808", "number out of range"}, /* minus, then a number too big */
		{"-12abc", "malformed number"},
		{"a == 1", "unexpected text"}, /* a bare expression has no comparison */
		{"$1", "expected a number, a metric name or '('"},
		{".a", "expected a number, a metric name or '('"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		struct expr *e = expr_parse(cases[i].text, err, sizeof err);
		cr_expect_null(e, "\"%s\" parsed", cases[i].text);
		expr_free(e);
		cr_expect(strstr(err, cases[i].err), "\"%s\": got \"%s\", want \"%s\"", cases[i].text,
			  err, cases[i].err);
	}
}

Test(expect, expect_parse_errors)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{"", "unexpected end"},
		{"1 == ", "unexpected end"},
		{"== 1", "expected a number, a metric name or '('"},
		{"1 1", "expected a comparison (== != < <= > >=) at column 3"}, /* missing operator */
		{"a", "expected a comparison"},
		{"a = 1", "expected a comparison"},
		{"a =< 1", "expected a comparison"},
		{"a ! 1", "expected a comparison"},
		{"a === 1", "expected a number, a metric name or '('"},
		{"a <> 1", "expected a number, a metric name or '('"},
		{"a == 1 == 1", "unexpected text after the comparison"},
		{"a == 1 junk", "unexpected text after the comparison at column 8"}, /* trailing junk */
		{"a == 1;", "unexpected text after the comparison"},
		{"(a == 1", "expected ')'"},           /* unbalanced */
		{"a == (1", "expected ')'"},
		{"a) == 1", "expected a comparison"},
		{"a == 1)", "unexpected text after the comparison"},
		{"a == ((1)", "expected ')'"},
		{"1 + == 2", "expected a number, a metric name or '('"},
		{"1.0 == 1", "malformed number"},
		{"outcomes.23505 == 9223372036854775808", "number out of range"},
		{"rows_per_key.max == 1 && a == 1", "unexpected text after the comparison"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct expectation x;
		char err[256] = "";
		memset(&x, 0x5a, sizeof x);
		bool ok = expect_parse(cases[i].text, &x, err, sizeof err);
		cr_expect_not(ok, "\"%s\" parsed", cases[i].text);
		if (ok) {
			expect_free(&x);
			continue;
		}
		cr_expect(strstr(err, cases[i].err), "\"%s\": got \"%s\", want \"%s\"", cases[i].text,
			  err, cases[i].err);
		cr_expect(x.text == NULL && x.lhs == NULL && x.rhs == NULL,
			  "\"%s\": *out not emptied on failure", cases[i].text);
	}
}

static char *repeat(const char *open, int n, const char *middle, const char *close)
{
	size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
	char *s = malloc((size_t)n * (lo + lc) + lm + 1);
	cr_assert_not_null(s);
	char *p = s;
	for (int i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, middle, lm);
	p += lm;
	for (int i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return s;
}

/* Deep nesting fails cleanly with a message; no stack overflow. */
Test(expect, deep_nesting, .timeout = 10)
{
	static const struct {
		const char *open, *middle, *close;
		int n;
	} cases[] = {
		{"(", "1", ")", 1000},
		{"(", "1", "", 1000}, /* unbalanced too */
		{"-", "1", "", 1000},
		{"-(", "1", ")", 1000},
		{"(", "1 == 1", ")", 1000},
		{"(", "1", ")", 1000000},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = repeat(cases[i].open, cases[i].n, cases[i].middle, cases[i].close);
		char err[256] = "";
		struct expr *e = expr_parse(text, err, sizeof err);
		cr_expect_null(e, "case %zu parsed", i);
		expr_free(e);
		cr_expect(strstr(err, "nested too deeply"), "case %zu: %s", i, err);
		cr_expect_lt(strlen(err), sizeof err, "case %zu", i);
		struct expectation x;
		char *cmp = malloc(strlen(text) + 8);
		cr_assert_not_null(cmp);
		memcpy(cmp, "1 == ", 5);
		memcpy(cmp + 5, text, strlen(text) + 1);
		cr_expect_not(expect_parse(cmp, &x, err, sizeof err), "case %zu parsed", i);
		cr_expect(strstr(err, "nested too deeply"), "case %zu: %s", i, err);
		free(cmp);
		free(text);
	}
}

/* "1+1+...+1" with n terms (op between them). */
static char *chain(int n, const char *op)
{
	size_t lo = strlen(op);
	char *s = malloc((size_t)n * (lo + 1) + 1);
	cr_assert_not_null(s);
	char *p = s;
	for (int i = 0; i < n; i++) {
		if (i) {
			memcpy(p, op, lo);
			p += lo;
		}
		*p++ = '1';
	}
	*p = '\0';
	return s;
}

/* Long chains make trees as tall as they are long: past 256 levels they are
 * refused with a message, however long (before, 100,000 terms overflowed the
 * stack in parse, evaluation and free: a crash of `pgrace check`). */
Test(expect, long_chains_refused, .timeout = 20)
{
	static const struct {
		int n;
		const char *op;
	} cases[] = {
		{257, "+"}, {257, " - "}, {257, "*"}, {257, "/"}, {3000, "+"}, {100000, "+"},
		{1000000, "*"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = chain(cases[i].n, cases[i].op);
		char err[256] = "";
		struct expr *e = expr_parse(text, err, sizeof err);
		cr_expect_null(e, "%d terms of \"%s\" parsed", cases[i].n, cases[i].op);
		expr_free(e);
		cr_expect(strstr(err, "expression too long or nested too deeply (more than 256 levels"),
			  "%d terms of \"%s\": %s", cases[i].n, cases[i].op, err);
		struct expectation x;
		cr_expect_not(expect_parse(text, &x, err, sizeof err));
		cr_expect(strstr(err, "too long or nested too deeply"), "%s", err);
		free(text);
	}
	/* Mixed: (1+...+1)*1*...*1 is 200 + 100 levels tall. */
	char *sum = chain(200, "+"), *prod = chain(101, "*");
	size_t n = strlen(sum) + strlen(prod) + 8;
	char *mixed = malloc(n);
	cr_assert_not_null(mixed);
	snprintf(mixed, n, "(%s)%s", sum, prod + 1);
	char err[256] = "";
	struct expr *e = expr_parse(mixed, err, sizeof err);
	cr_expect_null(e, "a tree of 300 levels parsed");
	expr_free(e);
	cr_expect(strstr(err, "too long or nested too deeply"), "%s", err);
	free(sum);
	free(prod);
	free(mixed);
}

struct tall_eval {
	struct expr *e;
	long long v;
	bool ok;
	char err[128];
};

static void *eval_on_thread(void *arg)
{
	struct tall_eval *t = arg;
	t->ok = expr_eval(t->e, lookup, (void *)metrics, &t->v, t->err, sizeof t->err);
	return NULL;
}

/* The tallest tree allowed parses, and evaluates on a thread with half the
 * stack a worker has (key parameters are evaluated there). */
Test(expect, tallest_tree_evaluates_on_a_small_stack, .timeout = 20)
{
	char *text = chain(256, "+");
	char err[256] = "";
	struct tall_eval t = {.e = expr_parse(text, err, sizeof err)};
	cr_assert_not_null(t.e, "%s", err);
	pthread_attr_t attr;
	pthread_t th;
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 128 * 1024), 0);
	cr_assert_eq(pthread_create(&th, &attr, eval_on_thread, &t), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	pthread_attr_destroy(&attr);
	cr_expect(t.ok, "%s", t.err);
	cr_expect_eq(t.v, 256);
	expr_free(t.e);
	free(text);
}

/* Moderate nesting is fine. */
Test(expect, nesting_within_limit)
{
	char *text = repeat("(", 30, "a", " + 1)");
	char err[256] = "";
	struct expr *e = expr_parse(text, err, sizeof err);
	cr_assert_not_null(e, "%s", err);
	long long v = 0;
	cr_assert(expr_eval(e, lookup, (void *)metrics, &v, err, sizeof err), "%s", err);
	cr_expect_eq(v, 33);
	expr_free(e);
	free(text);
}

/* ---- verdicts --------------------------------------------------------- */

Test(expect, verdicts_and_actual)
{
	static const struct {
		const char *text;
		enum expect_op op;
		bool passed;
		const char *actual;
	} cases[] = {
		{"3 == 1", OP_EQ, false, "3 == 1"},
		{"a == 3", OP_EQ, true, "3 == 3"},
		{"a != b", OP_NE, true, "3 != 4"},
		{"a != 3", OP_NE, false, "3 != 3"},
		{"a < b", OP_LT, true, "3 < 4"},
		{"b < a", OP_LT, false, "4 < 3"},
		{"a < a", OP_LT, false, "3 < 3"},
		{"a <= a", OP_LE, true, "3 <= 3"},
		{"b <= a", OP_LE, false, "4 <= 3"},
		{"b > a", OP_GT, true, "4 > 3"},
		{"a > a", OP_GT, false, "3 > 3"},
		{"a >= a", OP_GE, true, "3 >= 3"},
		{"a >= b", OP_GE, false, "3 >= 4"},
		{"a<b", OP_LT, true, "3 < 4"},
		{"a>=-b", OP_GE, true, "3 >= -4"},
		{"outcomes.23505 == (workers - 1) * rounds", OP_EQ, false, "15 == 300"},
		{"outcomes.ok + outcomes.23505 == workers", OP_EQ, true, "16 == 16"},
		{"rows_per_key.max == 1", OP_EQ, true, "1 == 1"},
		{"min < big", OP_LT, true, "-9223372036854775808 < 9223372036854775807"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct expectation x;
		char err[256] = "";
		cr_assert(expect_parse(cases[i].text, &x, err, sizeof err), "\"%s\": %s",
			  cases[i].text, err);
		cr_expect_str_eq(x.text, cases[i].text);
		cr_expect_neq((void *)x.text, (void *)cases[i].text, "text is a copy");
		cr_expect_eq(x.op, cases[i].op, "\"%s\": op", cases[i].text);
		bool passed = !cases[i].passed;
		char actual[128] = "";
		cr_expect(expect_eval(&x, lookup, (void *)metrics, &passed, actual, sizeof actual, err,
				      sizeof err),
			  "\"%s\": %s", cases[i].text, err);
		cr_expect_eq(passed, cases[i].passed, "\"%s\": verdict", cases[i].text);
		cr_expect_str_eq(actual, cases[i].actual, "\"%s\"", cases[i].text);
		expect_free(&x);
		cr_expect(x.text == NULL && x.lhs == NULL && x.rhs == NULL);
	}
}

Test(expect, eval_error_in_expectation)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{"nosuch == 1", "unknown metric \"nosuch\""},
		{"1 == nosuch", "unknown metric \"nosuch\""},
		{"a / zero == 1", "division by zero"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct expectation x;
		char err[256] = "", actual[64] = "";
		bool passed = false;
		cr_assert(expect_parse(cases[i].text, &x, err, sizeof err), "%s", err);
		cr_expect_not(expect_eval(&x, lookup, (void *)metrics, &passed, actual, sizeof actual,
					  err, sizeof err),
			      "\"%s\"", cases[i].text);
		cr_expect(strstr(err, cases[i].err), "\"%s\": %s", cases[i].text, err);
		expect_free(&x);
	}
}

/* A short `actual` buffer is cut, never overrun. */
Test(expect, actual_truncated)
{
	struct expectation x;
	char err[256];
	cr_assert(expect_parse("big == min", &x, err, sizeof err));
	char actual[16];
	memset(actual, 'z', sizeof actual);
	bool passed = true;
	cr_assert(expect_eval(&x, lookup, (void *)metrics, &passed, actual, 8, err, sizeof err));
	cr_expect_not(passed);
	cr_expect_str_eq(actual, "9223372");
	cr_expect_eq(actual[8], 'z');
	expect_free(&x);
}

static bool collect(void *ctx, const char *name)
{
	char *buf = ctx;
	size_t len = strlen(buf);
	snprintf(buf + len, 256 - len, "%s%s", len ? "," : "", name);
	return strcmp(name, "stop") != 0;
}

Test(expect, names)
{
	static const struct {
		const char *text;
		bool all;
		const char *names;
	} cases[] = {
		{"1 + 2", true, ""},
		{"a", true, "a"},
		{"-(a + b) * outcomes.23505 / x1.y2_z - a", true, "a,b,outcomes.23505,x1.y2_z,a"},
		{"a + stop + b", false, "a,stop"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "", seen[256] = "";
		struct expr *e = expr_parse(cases[i].text, err, sizeof err);
		cr_assert_not_null(e, "%s", err);
		cr_expect_eq(expr_names(e, collect, seen), cases[i].all, "\"%s\"", cases[i].text);
		cr_expect_str_eq(seen, cases[i].names, "\"%s\"", cases[i].text);
		expr_free(e);
	}
	cr_expect(expr_names(NULL, collect, NULL), "NULL has no names");
}

Test(expect, op_strings)
{
	static const char *const want[] = {"==", "!=", "<", "<=", ">", ">="};
	static const enum expect_op ops[] = {OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
	for (size_t i = 0; i < 6; i++)
		cr_expect_str_eq(expect_op_str(ops[i]), want[i]);
	expr_free(NULL);
}

/* Evaluation asks the callback once per name occurrence and is repeatable. */
Test(expect, eval_is_pure)
{
	char err[256];
	struct expr *e = expr_parse("a * a + b", err, sizeof err);
	cr_assert_not_null(e, "%s", err);
	for (int round = 0; round < 3; round++) {
		long long v = 0;
		lookups = 0;
		cr_assert(expr_eval(e, lookup, (void *)metrics, &v, err, sizeof err));
		cr_expect_eq(v, 13);
		cr_expect_eq(lookups, 3);
	}
	expr_free(e);
}
