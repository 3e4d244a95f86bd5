/* key.c: key parameters: integer expressions and text templates, parsed
 * once by the loader and evaluated for every attempt into fixed buffers. */
#include "key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "metric.h"

/* Checks every name of an expression against the key-parameter names. */
struct names {
	char err[640];
	bool worker;
};

static bool check_name(void *ctx, const char *name)
{
	struct names *nc = ctx;
	if (!metric_check(METRIC_PARAM, name, nc->err, sizeof nc->err))
		return false;
	const struct metric_def *d = metric_find(METRIC_PARAM, name, NULL);
	if (d && d->id == M_PARAM_WORKER)
		nc->worker = true;
	return true;
}

/* Parses text as an expression whose names are key parameters. */
static struct expr *parse_expr(const char *text, bool *worker, char *err, size_t errlen)
{
	struct expr *e = expr_parse(text, err, errlen);
	if (!e)
		return NULL;
	struct names nc = {.worker = false};
	if (!expr_names(e, check_name, &nc)) {
		snprintf(err, errlen, "%s", nc.err);
		expr_free(e);
		return NULL;
	}
	if (!expr_const_ok(e, err, errlen)) {
		expr_free(e);
		return NULL;
	}
	*worker = *worker || nc.worker;
	return e;
}

bool key_param_expr(const char *text, struct key_param *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->expr = parse_expr(text, &out->uses_worker, err, errlen);
	return out->expr != NULL;
}

bool key_is_template(const char *text)
{
	return strchr(text, '{') || strchr(text, '}');
}

static void template_free(struct key_template *t)
{
	for (size_t i = 0; i < t->n_parts; i++) {
		free(t->parts[i].text);
		expr_free(t->parts[i].expr);
	}
	free(t->parts);
	memset(t, 0, sizeof *t);
}

/* Appends a literal part of len bytes (merged into a literal before it). */
static void add_text(struct key_template *t, const char *s, size_t len)
{
	struct key_part *last = t->n_parts ? &t->parts[t->n_parts - 1] : NULL;
	if (last && last->text) {
		size_t old = strlen(last->text);
		char *grown = realloc(last->text, old + len + 1);
		if (!grown)
			abort();
		memcpy(grown + old, s, len);
		grown[old + len] = '\0';
		last->text = grown;
		return;
	}
	struct key_part *p = &t->parts[t->n_parts++];
	p->text = mem_calloc(len + 1, 1);
	memcpy(p->text, s, len);
}

static bool parse_template(const char *text, struct key_template *t, bool *worker, char *err,
			   size_t errlen)
{
	size_t len = strlen(text);
	t->parts = mem_calloc(len + 1, sizeof *t->parts); /* at most one part per byte */
	t->n_parts = 0;
	for (const char *p = text; *p;) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			add_text(t, p, 1);
			p += 2;
		} else if (*p == '}') {
			snprintf(err, errlen, "template \"%.80s\": a lone \"}\" (write \"}}\" for a brace)",
				 text);
			goto fail;
		} else if (*p == '{') {
			const char *end = strchr(p + 1, '}');
			if (!end) {
				snprintf(err, errlen, "template \"%.80s\": \"{\" without its \"}\"", text);
				goto fail;
			}
			size_t n = (size_t)(end - p - 1);
			char *hole = mem_calloc(n + 1, 1);
			memcpy(hole, p + 1, n);
			char why[512];
			struct expr *e = parse_expr(hole, worker, why, sizeof why);
			free(hole);
			if (!e) {
				snprintf(err, errlen, "template \"%.80s\", {%.*s}: %s", text, (int)(n < 60 ? n : 60),
					 p + 1, why);
				goto fail;
			}
			t->parts[t->n_parts++].expr = e;
			p = end + 1;
		} else {
			size_t n = strcspn(p, "{}");
			add_text(t, p, n);
			p += n;
		}
	}
	if (t->n_parts == 0)
		add_text(t, "", 0); /* the empty string */
	return true;
fail:
	template_free(t);
	return false;
}

bool key_param_text(const char *const *texts, size_t n, struct key_param *out, char *err,
		    size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->variants = mem_calloc(n, sizeof *out->variants);
	for (size_t i = 0; i < n; i++) {
		if (!parse_template(texts[i], &out->variants[i], &out->uses_worker, err, errlen)) {
			key_param_free(out);
			return false;
		}
		out->n_variants++;
	}
	if (n > 1)
		out->uses_worker = true;
	return true;
}

void key_param_free(struct key_param *p)
{
	expr_free(p->expr);
	for (size_t i = 0; i < p->n_variants; i++)
		template_free(&p->variants[i]);
	free(p->variants);
	memset(p, 0, sizeof *p);
}

static bool ctx_value(void *arg, const char *name, long long *v)
{
	const struct key_ctx *c = arg;
	const struct metric_def *d = metric_find(METRIC_PARAM, name, NULL);
	switch (d ? d->id : M_WORKERS) {
	case M_PARAM_ROUND:
		*v = c->round;
		return true;
	case M_PARAM_KEY:
		*v = c->key;
		return true;
	case M_PARAM_PHASE_ROUND:
		*v = c->phase_round;
		return true;
	case M_PARAM_WORKER:
		*v = c->worker;
		return true;
	default:
		return false;
	}
}

/* Appends s to out->buf at *used; false when it does not fit. */
static bool put(struct key_values *out, size_t *used, const char *s, size_t n)
{
	if (*used + n + 1 > sizeof out->buf)
		return false;
	memcpy(out->buf + *used, s, n);
	*used += n;
	return true;
}

bool key_eval(const struct key_param *params, size_t n, const struct key_ctx *ctx,
	      struct key_values *out, char *err, size_t errlen)
{
	size_t used = 0;
	char num[32], why[256];
	for (size_t i = 0; i < n && i < KEY_MAX_PARAMS; i++) {
		const struct key_param *p = &params[i];
		size_t start = used;
		long long v;
		if (p->expr) {
			if (!expr_eval(p->expr, ctx_value, (void *)ctx, &v, why, sizeof why))
				goto bad;
			int len = snprintf(num, sizeof num, "%lld", v);
			if (!put(out, &used, num, (size_t)len))
				goto long_key;
		} else {
			long long w = ctx->worker < 0 ? 0 : ctx->worker;
			const struct key_template *t =
				&p->variants[(size_t)(w % (long long)p->n_variants)];
			for (size_t j = 0; j < t->n_parts; j++) {
				const struct key_part *part = &t->parts[j];
				if (part->text) {
					if (!put(out, &used, part->text, strlen(part->text)))
						goto long_key;
					continue;
				}
				if (!expr_eval(part->expr, ctx_value, (void *)ctx, &v, why, sizeof why))
					goto bad;
				int len = snprintf(num, sizeof num, "%lld", v);
				if (!put(out, &used, num, (size_t)len))
					goto long_key;
			}
		}
		out->buf[used++] = '\0';
		out->ptr[i] = out->buf + start;
		continue;
bad:
		snprintf(err, errlen, "parameter $%zu: %s", i + 1, why);
		return false;
long_key:
		snprintf(err, errlen, "parameter $%zu: the key's values need more than %d bytes", i + 1,
			 KEY_BUF_BYTES);
		return false;
	}
	return true;
}

bool key_uses_worker(const struct key_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (params[i].uses_worker)
			return true;
	return false;
}
