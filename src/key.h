/* key.h: a scenario's key parameters ($1..$n) and their values for one
 * attempt.
 *
 * A parameter is an integer expression (`round`, `round * 2 + 1`) or text:
 * a template whose {EXPR} holes are integer expressions
 * (`user{round}@example.test`; `{{` and `}}` are literal braces), or a list
 * of such variants of which worker w uses the one at w modulo their number
 * (`Ann{round}@x.io`, `ann{round}@x.io`, ...), so that workers race the same
 * key spelled differently. Expressions use the key-parameter names of the
 * metric table (round, key, phase_round, worker). Values are sent as text:
 * an integer in decimal, a template as it comes out. Pure: no I/O. */
#ifndef PGRACE_KEY_H
#define PGRACE_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "expect.h"

#define KEY_MAX_PARAMS 16   /* $1..$16 */
#define KEY_BUF_BYTES 1024  /* all of one key's values, NULs included */

/* Where an attempt stands: what a parameter's names evaluate to. */
struct key_ctx {
	long long round;       /* over the whole run, from 1 */
	long long key;         /* the key's index in its round, from 0 */
	long long phase_round; /* within the phase, from 0 */
	long long worker;      /* the worker, from 0 */
};

/* One part of a template: literal text, or an integer expression. */
struct key_part {
	char *text;        /* NULL for an expression */
	struct expr *expr; /* NULL for text */
};

struct key_template {
	struct key_part *parts;
	size_t n_parts;
};

/* One params entry. */
struct key_param {
	struct expr *expr;             /* an integer expression; NULL for text */
	struct key_template *variants; /* text: worker w uses variants[w % n_variants] */
	size_t n_variants;
	bool uses_worker;              /* its value can differ between workers */
};

/* One key's values, $1..$n as ptr[0..n-1] (pointing into buf). */
struct key_values {
	char buf[KEY_BUF_BYTES];
	const char *ptr[KEY_MAX_PARAMS];
};

/* Parses an integer expression entry; false with err on a syntax error or
 * a name that is not a key parameter. */
bool key_param_expr(const char *text, struct key_param *out, char *err, size_t errlen);
/* Parses n templates (n >= 1: one template, or a list of variants); false
 * with err on an unclosed brace, an empty or bad hole, or an unknown name. */
bool key_param_text(const char *const *texts, size_t n, struct key_param *out, char *err,
		    size_t errlen);
/* Frees what a key_param holds (not the struct). */
void key_param_free(struct key_param *p);
/* True when text is to be read as a template rather than an expression (it
 * has a brace). */
bool key_is_template(const char *text);
/* Evaluates params[0..n-1] for ctx into out; false with err (naming the
 * parameter) on an arithmetic error or a key longer than KEY_BUF_BYTES. */
bool key_eval(const struct key_param *params, size_t n, const struct key_ctx *ctx,
	      struct key_values *out, char *err, size_t errlen);
/* True when some parameter's value can differ between workers. */
bool key_uses_worker(const struct key_param *params, size_t n);

#endif
