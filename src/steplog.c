/* steplog.c: the per-worker log of an app flow's steps (steplog.h). */
#include "steplog.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct steplog {
	int workers;
	struct proxy_step **e; /* per worker, PROXY_MAX_LOG each */
	int *n;
	bool *full;
	long long seq, sent_seq;
};

struct steplog *steplog_new(int workers)
{
	struct steplog *l = mem_calloc(1, sizeof *l);
	l->workers = workers;
	l->e = mem_calloc((size_t)workers, sizeof *l->e);
	for (int w = 0; w < workers; w++)
		l->e[w] = mem_calloc(PROXY_MAX_LOG, sizeof *l->e[w]);
	l->n = mem_calloc((size_t)workers, sizeof *l->n);
	l->full = mem_calloc((size_t)workers, sizeof *l->full);
	return l;
}

void steplog_reset(struct steplog *l)
{
	memset(l->n, 0, (size_t)l->workers * sizeof *l->n);
	memset(l->full, 0, (size_t)l->workers * sizeof *l->full);
	l->seq = l->sent_seq = 0;
}

int steplog_add(struct steplog *l, int w, int conn, const uint8_t *buf, size_t len,
		appstep_lookup_fn lookup, void *ctx)
{
	if (l->n[w] >= PROXY_MAX_LOG) {
		l->full[w] = true;
		return -1;
	}
	struct proxy_step *s = &l->e[w][l->n[w]];
	memset(s, 0, sizeof *s);
	s->seq = l->seq++;
	s->sent_seq = -1;
	s->conn = conn;
	appstep_describe(buf, len, lookup, ctx, &s->d);
	return l->n[w]++;
}

struct proxy_step *steplog_at(struct steplog *l, int w, int i)
{
	return l && i >= 0 && i < l->n[w] ? &l->e[w][i] : NULL;
}

void steplog_sent(struct steplog *l, struct proxy_step *s)
{
	s->sent = true;
	s->sent_seq = l->sent_seq++;
}

void steplog_tag(struct proxy_step *s, const uint8_t *body, size_t len)
{
	size_t n = 0;
	while (n < len && body[n])
		n++;
	if (n >= sizeof s->tag)
		n = sizeof s->tag - 1;
	memcpy(s->tag, body, n);
	s->tag[n] = '\0';
}

int steplog_count(const struct steplog *l, int w)
{
	return l ? l->n[w] : 0;
}

bool steplog_full(const struct steplog *l, int w)
{
	return l && l->full[w];
}

void steplog_free(struct steplog *l)
{
	if (!l)
		return;
	for (int w = 0; w < l->workers; w++)
		free(l->e[w]);
	free(l->e);
	free(l->n);
	free(l->full);
	free(l);
}
