/* interleave_plan.c: which orders an interleave phase runs (its list, all
 * of them, a sample; one per class under partial-order reduction) and how
 * an order's results read (see interleave.h); interleave.c runs them. Pure:
 * no I/O, no database. */
#include "interleave.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ilv_plan(const struct scenario *sc, const struct phase *p, const struct race_cfg *cfg,
	      struct ilv_summary *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	int k = cfg->workers, steps = (int)sc->n_flow + 1;
	if (k < 1 || k > ORDER_MAX_WORKERS || k * steps > ORDER_MAX_LEN) {
		snprintf(err, errlen,
			 "interleave mode runs 1 to %d workers with at most %d steps in all "
			 "(workers x (flow statements + COMMIT)); phase %s has %d x %d",
			 ORDER_MAX_WORKERS, ORDER_MAX_LEN, p->name, k, steps);
		return false;
	}
	s->steps = steps;
	s->seed = (uint64_t)cfg->seed;
	s->ran = 0;
	s->total = order_count(k, steps);
	const char *sql[ORDER_MAX_LEN];
	for (size_t i = 0; i < sc->n_flow; i++)
		sql[i] = sc->flow[i].text.sql;
	order_step_names(sql, steps, s->step_names);
	if (p->n_orders) {
		s->listed = true;
		s->orders = calloc(p->n_orders, sizeof *s->orders);
		if (!s->orders)
			abort();
		for (size_t i = 0; i < p->n_orders; i++) {
			char why[160];
			if (!order_parse(p->orders[i], k, steps, &s->orders[i].order, why, sizeof why)) {
				snprintf(err, errlen, "%s:%d: phase %s, orders: %s", sc->path,
					 p->order_lines[i], p->name, why);
				ilv_free(s);
				return false;
			}
		}
		s->n_orders = p->n_orders;
		for (size_t i = 0; i < s->n_orders; i++)
			s->orders[i].same_as = i;
		return true;
	}
	size_t n;
	struct order *list = order_list(k, steps, (size_t)cfg->max_interleavings, s->seed, &n,
					&s->exhaustive);
	s->orders = calloc(n, sizeof *s->orders);
	if (!s->orders)
		abort();
	for (size_t i = 0; i < n; i++) {
		s->orders[i].order = list[i];
		s->orders[i].same_as = i;
	}
	free(list);
	s->n_orders = n;
	return true;
}

void ilv_free(struct ilv_summary *s)
{
	free(s->orders);
	s->orders = NULL;
	s->n_orders = 0;
}

long ilv_first_duplicate(const struct ilv_summary *s)
{
	for (size_t i = 0; i < s->n_orders; i++)
		if (s->orders[i].executable && s->orders[i].rows > 1)
			return (long)i;
	return -1;
}

void ilv_blockers(const struct ilv_order *o, int w, char *buf, size_t len)
{
	size_t n = 0;
	for (int i = 0; i < ORDER_MAX_WORKERS && n + 1 < len; i++)
		if (o->w[w].blocked_by & (1u << i))
			buf[n++] = (char)('a' + i);
	buf[n] = '\0';
}

const char *ilv_status_name(enum ilv_step_status s)
{
	static const char *const names[] = {"not_reached", "ran",     "waited",
					    "failed",      "skipped", "stuck"};
	return names[s];
}

void ilv_describe(const struct ilv_order *o, char *buf, size_t len)
{
	char note[ORDER_MAX_LEN * 4];
	order_notation(&o->order, note, sizeof note);
	size_t n = (size_t)snprintf(buf, len, "%s -> ", note);
	if (n >= len)
		return;
	if (!o->executable) {
		int pos = o->stuck_pos, w = o->order.w[pos];
		int pending = 0;
		for (int i = 0; i < pos; i++)
			if (o->order.w[i] == w)
				pending = i;
		snprintf(buf + n, len - n, "not executable at %c%d (%c%d waits on %c)", 'a' + w,
			 order_step_at(&o->order, pos) + 1, 'a' + w,
			 order_step_at(&o->order, pending) + 1,
			 o->stuck_on >= 0 ? 'a' + o->stuck_on : '?');
		return;
	}
	n += (size_t)snprintf(buf + n, len - n, "%lld row%s", o->rows, o->rows == 1 ? "" : "s");
	for (int i = 0; i < o->order.workers && n < len; i++) {
		const struct ilv_worker *w = &o->w[i];
		char by[ORDER_MAX_WORKERS + 1];
		ilv_blockers(o, i, by, sizeof by);
		n += (size_t)snprintf(buf + n, len - n, "; %c %s", 'a' + i, w->outcome);
		if (w->error_step && n < len)
			n += (size_t)snprintf(buf + n, len - n, " at %c%d", 'a' + i, w->error_step);
		if (w->constraint[0] && n < len)
			n += (size_t)snprintf(buf + n, len - n, " (%s)", w->constraint);
		if (by[0] && n < len)
			n += (size_t)snprintf(buf + n, len - n, " after waiting on %s", by);
	}
}

/* Order to carries the results of from, an order of its class: each step's
 * status moves with the step (worker and step number) to to's position. */
void ilv_carry(const struct ilv_order *from, struct ilv_order *to)
{
	int len = from->order.workers * from->order.steps;
	int at[ORDER_MAX_WORKERS][ORDER_MAX_LEN];
	to->executable = from->executable;
	to->rows = from->rows;
	to->stuck_on = from->stuck_on;
	to->stuck_pos = -1;
	memcpy(to->w, from->w, sizeof to->w);
	memset(to->status, ILV_NOT_REACHED, sizeof to->status);
	for (int p = 0; p < len; p++)
		at[to->order.w[p]][order_step_at(&to->order, p)] = p;
	for (int p = 0; p < len; p++) {
		int q = at[from->order.w[p]][order_step_at(&from->order, p)];
		to->status[q] = from->status[p];
		if (p == from->stuck_pos)
			to->stuck_pos = q;
	}
}

void ilv_reduce(struct ilv_summary *s, const struct reduce_flow *f)
{
	size_t n = s->n_orders ? s->n_orders : 1;
	size_t *rep = malloc(sizeof *rep * n);
	struct order *orders = malloc(sizeof *orders * n);
	if (!rep || !orders)
		abort();
	for (size_t i = 0; i < s->n_orders; i++)
		orders[i] = s->orders[i].order;
	reduce_classes(f, orders, s->n_orders, rep);
	for (size_t i = 0; i < s->n_orders; i++)
		s->orders[i].same_as = rep[i];
	s->reduced = true;
	for (int j = 0; j < f->steps - 1 && j < ORDER_MAX_LEN; j++)
		s->footprint[j] = f->step[0][j];
	free(rep);
	free(orders);
}
