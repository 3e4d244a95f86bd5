/* expect.c: a small recursive-descent parser and evaluator for expectations.
 *
 * Grammar:  expectation := sum OP sum
 *           sum  := prod (('+' | '-') prod)*
 *           prod := unary (('*' | '/') unary)*
 *           unary := '-' unary | NUMBER | NAME | '(' sum ')'
 * Values are 64-bit signed integers; a '-' written right before digits is
 * part of the number, so -9223372036854775808 is a number like any other.
 *
 * Evaluation, name walks and freeing recurse over the tree, on worker threads
 * too (key parameters): the parser bounds the tree's height (MAX_HEIGHT, a
 * chain such as 1+1+...+1 is as tall as it is long) so that recursion never
 * outgrows a small stack. */
#include "expect.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { N_NUM, N_NAME, N_NEG, N_ADD, N_SUB, N_MUL, N_DIV };

struct expr {
	enum node_kind kind;
	long long num;
	char *name;
	struct expr *a, *b;
	int height; /* 1 for a leaf, 1 + the taller child otherwise */
};

struct parser {
	const char *s;
	const char *p;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
};

#define MAX_DEPTH 64   /* parentheses and unary minus, while parsing */
#define MAX_HEIGHT 256 /* levels of the finished tree */

static void fail(struct parser *ps, const char *what)
{
	if (ps->failed)
		return;
	ps->failed = true;
	snprintf(ps->err, ps->errlen, "%s at column %d of \"%s\"", what, (int)(ps->p - ps->s) + 1,
		 ps->s);
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p && isspace((unsigned char)*ps->p))
		ps->p++;
}

static struct expr *node(enum node_kind k, struct expr *a, struct expr *b)
{
	struct expr *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	e->kind = k;
	e->a = a;
	e->b = b;
	e->height = 1 + (a && b ? (a->height > b->height ? a->height : b->height)
			  : a	   ? a->height
			  : b	   ? b->height
				   : 0);
	return e;
}

/* Fails and frees e when it is taller than MAX_HEIGHT; returns e or NULL. */
static struct expr *bounded(struct parser *ps, struct expr *e)
{
	if (!e || e->height <= MAX_HEIGHT)
		return e;
	char what[96];
	snprintf(what, sizeof what,
		 "expression too long or nested too deeply (more than %d levels of operators)",
		 MAX_HEIGHT);
	fail(ps, what);
	expr_free(e);
	return NULL;
}

static struct expr *parse_sum(struct parser *ps);

static bool name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static struct expr *parse_unary(struct parser *ps)
{
	skip_ws(ps);
	if (++ps->depth > MAX_DEPTH) {
		fail(ps, "expression nested too deeply");
		return NULL;
	}
	struct expr *e = NULL;
	char c = *ps->p;
	if (c == '-' && !isdigit((unsigned char)ps->p[1])) {
		ps->p++;
		struct expr *a = parse_unary(ps);
		e = a ? bounded(ps, node(N_NEG, a, NULL)) : NULL;
	} else if (isdigit((unsigned char)c) || c == '-') {
		char *end;
		errno = 0;
		long long v = strtoll(ps->p, &end, 10);
		if (errno == ERANGE) {
			fail(ps, "number out of range");
		} else if (name_char(*end)) {
			fail(ps, "malformed number");
		} else {
			ps->p = end;
			e = node(N_NUM, NULL, NULL);
			e->num = v;
		}
	} else if (name_start(c)) {
		const char *start = ps->p;
		while (name_char(*ps->p))
			ps->p++;
		e = node(N_NAME, NULL, NULL);
		e->name = strndup(start, (size_t)(ps->p - start));
		if (!e->name)
			abort();
	} else if (c == '(') {
		ps->p++;
		e = parse_sum(ps);
		skip_ws(ps);
		if (e && *ps->p != ')') {
			fail(ps, "expected ')'");
			expr_free(e);
			e = NULL;
		} else if (e) {
			ps->p++;
		}
	} else {
		fail(ps, c ? "expected a number, a metric name or '('" : "unexpected end");
	}
	ps->depth--;
	return e;
}

static struct expr *parse_prod(struct parser *ps)
{
	struct expr *e = parse_unary(ps);
	while (e) {
		skip_ws(ps);
		char c = *ps->p;
		if (c != '*' && c != '/')
			break;
		ps->p++;
		struct expr *b = parse_unary(ps);
		if (!b) {
			expr_free(e);
			return NULL;
		}
		e = bounded(ps, node(c == '*' ? N_MUL : N_DIV, e, b));
	}
	return e;
}

static struct expr *parse_sum(struct parser *ps)
{
	struct expr *e = parse_prod(ps);
	while (e) {
		skip_ws(ps);
		char c = *ps->p;
		if (c != '+' && c != '-')
			break;
		ps->p++;
		struct expr *b = parse_prod(ps);
		if (!b) {
			expr_free(e);
			return NULL;
		}
		e = bounded(ps, node(c == '+' ? N_ADD : N_SUB, e, b));
	}
	return e;
}

static bool parse_op(struct parser *ps, enum expect_op *op)
{
	static const struct {
		const char *s;
		enum expect_op op;
	} ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
		   {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
	skip_ws(ps);
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t n = strlen(ops[i].s);
		if (strncmp(ps->p, ops[i].s, n) == 0) {
			ps->p += n;
			*op = ops[i].op;
			return true;
		}
	}
	fail(ps, "expected a comparison (== != < <= > >=)");
	return false;
}

struct expr *expr_parse(const char *text, char *err, size_t errlen)
{
	struct parser ps = {.s = text, .p = text, .err = err, .errlen = errlen};
	struct expr *e = parse_sum(&ps);
	skip_ws(&ps);
	if (e && *ps.p) {
		fail(&ps, "unexpected text");
		expr_free(e);
		return NULL;
	}
	return e;
}

bool expect_parse(const char *text, struct expectation *out, char *err, size_t errlen)
{
	struct parser ps = {.s = text, .p = text, .err = err, .errlen = errlen};
	memset(out, 0, sizeof *out);
	out->lhs = parse_sum(&ps);
	if (!out->lhs || !parse_op(&ps, &out->op))
		goto fail;
	out->rhs = parse_sum(&ps);
	if (!out->rhs)
		goto fail;
	skip_ws(&ps);
	if (*ps.p) {
		fail(&ps, "unexpected text after the comparison");
		goto fail;
	}
	out->text = strdup(text);
	if (!out->text)
		abort();
	return true;
fail:
	expr_free(out->lhs);
	expr_free(out->rhs);
	memset(out, 0, sizeof *out);
	return false;
}

bool expr_eval(const struct expr *e, metric_fn fn, void *ctx, long long *out, char *err,
	       size_t errlen)
{
	long long a = 0, b = 0;
	switch (e->kind) {
	case N_NUM:
		*out = e->num;
		return true;
	case N_NAME:
		if (!fn(ctx, e->name, out)) {
			snprintf(err, errlen, "unknown metric \"%s\"", e->name);
			return false;
		}
		return true;
	default:
		break;
	}
	if (!expr_eval(e->a, fn, ctx, &a, err, errlen))
		return false;
	if (e->b && !expr_eval(e->b, fn, ctx, &b, err, errlen))
		return false;
	bool overflow = false;
	switch (e->kind) {
	case N_NEG:
		overflow = __builtin_sub_overflow(0LL, a, out);
		break;
	case N_ADD:
		overflow = __builtin_add_overflow(a, b, out);
		break;
	case N_SUB:
		overflow = __builtin_sub_overflow(a, b, out);
		break;
	case N_MUL:
		overflow = __builtin_mul_overflow(a, b, out);
		break;
	case N_DIV:
		if (b == 0) {
			snprintf(err, errlen, "division by zero");
			return false;
		}
		overflow = a == LLONG_MIN && b == -1; /* traps on x86 */
		if (!overflow)
			*out = a / b;
		break;
	default:
		abort();
	}
	if (overflow) {
		snprintf(err, errlen, "integer overflow");
		return false;
	}
	return true;
}

bool expr_names(const struct expr *e, bool (*visit)(void *ctx, const char *name), void *ctx)
{
	if (!e)
		return true;
	if (e->kind == N_NAME)
		return visit(ctx, e->name);
	return expr_names(e->a, visit, ctx) && expr_names(e->b, visit, ctx);
}

static bool stop_at_name(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return false;
}

static bool no_metric(void *ctx, const char *name, long long *v)
{
	(void)ctx;
	(void)name;
	(void)v;
	return false;
}

bool expr_const_ok(const struct expr *e, char *err, size_t errlen)
{
	if (!e)
		return true;
	long long v;
	if (expr_names(e, stop_at_name, NULL)) /* no name in it: it has one value */
		return expr_eval(e, no_metric, NULL, &v, err, errlen);
	/* x / (2 - 2): a divisor without names that is zero */
	if (e->kind == N_DIV && expr_names(e->b, stop_at_name, NULL) &&
	    expr_eval(e->b, no_metric, NULL, &v, err, errlen) && v == 0) {
		snprintf(err, errlen, "division by zero");
		return false;
	}
	return expr_const_ok(e->a, err, errlen) && expr_const_ok(e->b, err, errlen);
}

void expr_free(struct expr *e)
{
	if (!e)
		return;
	expr_free(e->a);
	expr_free(e->b);
	free(e->name);
	free(e);
}

const char *expect_op_str(enum expect_op op)
{
	static const char *s[] = {"==", "!=", "<", "<=", ">", ">="};
	return s[op];
}

bool expect_eval(const struct expectation *x, metric_fn fn, void *ctx, bool *passed,
		 char *actual, size_t actlen, char *err, size_t errlen)
{
	long long l, r;
	if (!expr_eval(x->lhs, fn, ctx, &l, err, errlen) ||
	    !expr_eval(x->rhs, fn, ctx, &r, err, errlen))
		return false;
	switch (x->op) {
	case OP_EQ:
		*passed = l == r;
		break;
	case OP_NE:
		*passed = l != r;
		break;
	case OP_LT:
		*passed = l < r;
		break;
	case OP_LE:
		*passed = l <= r;
		break;
	case OP_GT:
		*passed = l > r;
		break;
	case OP_GE:
		*passed = l >= r;
		break;
	}
	snprintf(actual, actlen, "%lld %s %lld", l, expect_op_str(x->op), r);
	return true;
}

void expect_free(struct expectation *x)
{
	free(x->text);
	expr_free(x->lhs);
	expr_free(x->rhs);
	memset(x, 0, sizeof *x);
}
