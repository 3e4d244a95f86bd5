/* reduce.c: partial-order reduction of interleave orders (see reduce.h). */
#include "reduce.h"

#include <stdlib.h>
#include <string.h>

/* Worker w's flow statements: every relation, and whether any is unknown. */
static uint64_t flow_rels(const struct reduce_flow *f, int w, bool *unknown)
{
	uint64_t u = 0;
	*unknown = false;
	for (int j = 0; j < f->steps - 1; j++) {
		u |= f->step[w][j].rels;
		*unknown |= f->step[w][j].unknown;
	}
	return u;
}

/* Can statement s of worker w ever wait on a lock another worker holds? A
 * plain read waits only on ACCESS EXCLUSIVE; a write on any writer of a
 * common relation (row locks, unique keys); ACCESS EXCLUSIVE on anyone. */
static bool can_wait(const struct reduce_flow *f, int w, int s)
{
	const struct reduce_step *a = &f->step[w][s];
	if (a->unknown)
		return true;
	for (int v = 0; v < f->workers; v++)
		for (int j = 0; v != w && j < f->steps - 1; j++) {
			const struct reduce_step *b = &f->step[v][j];
			if (b->unknown)
				return true;
			if ((a->rels & b->rels) &&
			    ((a->writes && b->writes) || a->exclusive || b->exclusive))
				return true;
		}
	return false;
}

/* Are workers a and b linked by a chain of workers whose flows share a
 * relation (or is either flow unknown)? */
static bool linked(const struct reduce_flow *f, int a, int b)
{
	uint64_t rels[ORDER_MAX_WORKERS];
	bool unknown[ORDER_MAX_WORKERS];
	for (int w = 0; w < f->workers; w++) {
		rels[w] = flow_rels(f, w, &unknown[w]);
		if (unknown[w])
			return true;
	}
	unsigned reach = 1u << a;
	for (bool grew = true; grew;) {
		grew = false;
		for (int w = 0; w < f->workers; w++) {
			if (reach & (1u << w))
				continue;
			for (int v = 0; v < f->workers; v++)
				if ((reach & (1u << v)) && (rels[v] & rels[w])) {
					reach |= 1u << w;
					grew = true;
					break;
				}
		}
	}
	return (reach & (1u << b)) != 0;
}

static bool commute_rule(const struct reduce_flow *f, int w1, int s1, int w2, int s2)
{
	if (w1 == w2)
		return false;
	int commit = f->steps - 1;
	if (s1 == commit || s2 == commit)
		return !linked(f, w1, w2);
	const struct reduce_step *a = &f->step[w1][s1], *b = &f->step[w2][s2];
	if (a->unknown || b->unknown || can_wait(f, w1, s1) || can_wait(f, w2, s2))
		return false;
	return !(a->rels & b->rels) || (!a->writes && !b->writes);
}

void reduce_prepare(struct reduce_flow *f)
{
	memset(f->commute, 0, sizeof f->commute);
	for (int w1 = 0; w1 < f->workers; w1++)
		for (int s1 = 0; s1 < f->steps; s1++)
			for (int w2 = 0; w2 < f->workers; w2++)
				for (int s2 = 0; s2 < f->steps; s2++)
					f->commute[w1][s1][w2][s2] = commute_rule(f, w1, s1, w2, s2);
}

bool reduce_commute(const struct reduce_flow *f, int w1, int s1, int w2, int s2)
{
	return f->commute[w1][s1][w2][s2];
}

/* The step index of every position of o. */
static void step_indexes(const struct order *o, int *step)
{
	int next[ORDER_MAX_WORKERS] = {0};
	for (int p = 0; p < o->workers * o->steps; p++)
		step[p] = next[o->w[p]]++;
}

bool reduce_is_normal(const struct reduce_flow *f, const struct order *o)
{
	int step[ORDER_MAX_LEN];
	step_indexes(o, step);
	for (int j = 1; j < o->workers * o->steps; j++)
		for (int m = j - 1; m >= 0; m--) {
			if (!reduce_commute(f, o->w[m], step[m], o->w[j], step[j]))
				break;
			if (o->w[m] > o->w[j])
				return false;
		}
	return true;
}

void reduce_normal(const struct reduce_flow *f, const struct order *o, struct order *out)
{
	int len = o->workers * o->steps, step[ORDER_MAX_LEN];
	bool done[ORDER_MAX_LEN] = {false};
	struct order r = *o;
	step_indexes(o, step);
	/* Greedy: at each position the least worker whose next step has every
	 * step before it in o that it does not commute with already placed. */
	for (int p = 0; p < len; p++) {
		int best = -1;
		for (int j = 0; j < len; j++) {
			if (done[j] || (best >= 0 && o->w[j] >= o->w[best]))
				continue;
			bool ready = true;
			for (int m = 0; ready && m < j; m++)
				if (!done[m] && !reduce_commute(f, o->w[m], step[m], o->w[j], step[j]))
					ready = false;
			if (ready)
				best = j;
		}
		done[best] = true;
		r.w[p] = o->w[best];
	}
	for (int p = len; p < ORDER_MAX_LEN; p++)
		r.w[p] = 0;
	*out = r;
}

struct keyed {
	struct order nf;
	size_t index;
};

static int by_normal_form(const void *x, const void *y)
{
	const struct keyed *a = x, *b = y;
	int c = memcmp(a->nf.w, b->nf.w, sizeof a->nf.w);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

size_t reduce_classes(const struct reduce_flow *f, const struct order *orders, size_t n, size_t *rep)
{
	struct keyed *k = calloc(n ? n : 1, sizeof *k);
	if (!k)
		abort();
	for (size_t i = 0; i < n; i++) {
		memset(&k[i].nf, 0, sizeof k[i].nf);
		reduce_normal(f, &orders[i], &k[i].nf);
		k[i].index = i;
	}
	qsort(k, n, sizeof *k, by_normal_form);
	size_t classes = 0;
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || memcmp(k[i].nf.w, k[i - 1].nf.w, sizeof k[i].nf.w) != 0;
		if (first)
			classes++;
		rep[k[i].index] = first ? k[i].index : rep[k[i - 1].index];
	}
	free(k);
	return classes;
}
