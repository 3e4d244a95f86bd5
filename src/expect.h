/* expect.h: expectations ("rows_per_key.max == 1") and their verdicts.
 *
 * An expectation is `EXPR OP EXPR` where OP is one of == != < <= > >= and EXPR
 * is integer arithmetic (+ - * / and parentheses) over numbers and metric
 * names. Metric names are [A-Za-z_][A-Za-z0-9_.]* ("outcomes.23505" is one
 * name). Parsing and evaluation are pure: no I/O, no database. */
#ifndef PGRACE_EXPECT_H
#define PGRACE_EXPECT_H

#include <stdbool.h>
#include <stddef.h>

struct expr; /* opaque parsed arithmetic expression */

enum expect_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

/* Which release modes an expectation applies to. */
enum expect_when { WHEN_ALWAYS, WHEN_HOLD, WHEN_FIRE, WHEN_INTERLEAVE };

struct expectation {
	char *text;          /* as written in the scenario, without a mode prefix */
	int line;            /* 1-based line in the scenario file */
	enum expect_when when;
	struct expr *lhs, *rhs;
	enum expect_op op;
};

/* Looks a metric up; returns false when the name is unknown. */
typedef bool (*metric_fn)(void *ctx, const char *name, long long *value);

/* Parses `text` into *out (lhs, op, rhs); on error writes what is wrong to err
 * and returns false. Owns nothing of text after return. */
bool expect_parse(const char *text, struct expectation *out, char *err, size_t errlen);
/* Parses a bare arithmetic expression (e.g. a key parameter); NULL on error. */
struct expr *expr_parse(const char *text, char *err, size_t errlen);
/* Evaluates e; false (with err) on unknown metric or division by zero. */
bool expr_eval(const struct expr *e, metric_fn fn, void *ctx, long long *out, char *err,
	       size_t errlen);
/* Calls visit for every metric name in e; stops and returns false when visit does. */
bool expr_names(const struct expr *e, bool (*visit)(void *ctx, const char *name), void *ctx);
/* False (err set) when a part of e without metric names cannot be
 * evaluated (a division by zero): it would fail whatever the metrics are. */
bool expr_const_ok(const struct expr *e, char *err, size_t errlen);
/* Frees an expression (NULL is fine). */
void expr_free(struct expr *e);

/* Evaluates x: *passed tells the verdict, actual gets "lhs OP rhs" with the
 * values, e.g. "3 == 1". Returns false (err set) when it cannot be evaluated. */
bool expect_eval(const struct expectation *x, metric_fn fn, void *ctx, bool *passed,
		 char *actual, size_t actlen, char *err, size_t errlen);
/* Frees what expect_parse allocated inside x. */
void expect_free(struct expectation *x);
/* "==", "<=", ... */
const char *expect_op_str(enum expect_op op);

#endif
