/* app_interleave.c: the orders of an app flow, discovered as its processes
 * run, and the driver that makes each run follow one (app_interleave.h).
 * What the orders print as (JSON, terminal) is app_interleave_report.c's. */
#include "app_interleave.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lockview.h"
#include "mem.h"
#include "proxy.h"
#include "secret.h"
#include "stats.h"

#define LOCK_EVERY_US 2000u /* the lock view asked at most this often */

/* Where a worker stands at one look of the driver (drive_step). */
enum seen { SEEN_RUNNING, SEEN_HELD, SEEN_BUSY, SEEN_BLOCKED, SEEN_EXITED };

/* One order's run: what the driver follows and what it saw. */
struct drive {
	struct app_race *a;
	PGconn *admin;
	const struct lockview *view;
	int n;
	struct appil_order *o;
	const struct appil_order *parent; /* depth first: decisions to match, else NULL */
	bool sampled;                     /* o->plan is a sample: no parent to match */
	bool free_run;                    /* diverged or not executable: everything released */
	int sent_at[APPIL_MAX_WORKERS];   /* released: unsettled until its steps pass this */
	uint64_t next_lock_us;
	long long waited_seq[APPIL_MAX_WORKERS][APPIL_MAX_POINTS];
	int n_waited[APPIL_MAX_WORKERS];
};

/* Releases every worker and holds nothing more: the order's processes run
 * to their ends by themselves. */
static void let_go(struct drive *d)
{
	struct proxy *px = app_proxy(d->a);
	d->free_run = true;
	for (int w = 0; w < d->n; w++) {
		proxy_set_policy(px, w, PROXY_HOLD_NONE);
		proxy_release(px, w);
	}
}

/* The kind of the point worker w holds, into buf ("" when none). */
static void held_kind(struct proxy *px, int w, const struct proxy_view *v, char *buf, size_t len)
{
	struct proxy_step s;
	buf[0] = '\0';
	for (int i = v->logged - 1; i >= 0; i--)
		if (proxy_step(px, w, i, &s) && s.held && !s.sent) {
			snprintf(buf, len, "%s", s.d.kind);
			return;
		}
}

/* Which busy workers wait on a lock another worker holds: asks the lock
 * view over every worker's backend pids; false with err. */
static bool ask_blocked(struct drive *d, const struct proxy_view *v, unsigned *blocked, char *err,
			size_t errlen)
{
	/* every pid a view lists: at most 10 digits and a comma each, braces */
	char pids[APPIL_MAX_WORKERS * PROXY_MAX_PIDS * 11 + 3];
	int owner[APPIL_MAX_WORKERS * PROXY_MAX_PIDS];
	size_t n = 0;
	int k = 0;
	pids[n++] = '{';
	for (int w = 0; w < d->n; w++)
		for (int i = 0; i < v[w].n_pids; i++) {
			n += (size_t)snprintf(pids + n, sizeof pids - n, "%s%u", k ? "," : "",
					      v[w].pids[i]);
			owner[k++] = w;
		}
	snprintf(pids + n, sizeof pids - n, "}");
	const char *params[1] = {pids};
	struct db_result r;
	char text[320];
	*blocked = 0;
	db_query(d->admin, d->view->waits_among_peers, 1, params, clock_us() + 10000000u, &r);
	if (r.status != DB_OK || r.rows != 1) {
		snprintf(err, errlen, "asking the server about lock waits: %s",
			 db_result_text(&r, text, sizeof text));
		return false;
	}
	/* "2:1 3:12": the second pid waits on the first (1-based in $1) */
	for (const char *p = r.first_value; *p;) {
		char *end;
		long i = strtol(p, &end, 10);
		if (end == p)
			break;
		if (i >= 1 && i <= k)
			*blocked |= 1u << owner[i - 1];
		p = end;
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return true;
}

/* Marks the step worker w has at the server as one that waited. */
static void note_waited(struct drive *d, int w, const struct proxy_view *v)
{
	struct proxy_step s;
	for (int i = v->logged - 1; i >= 0; i--)
		if (proxy_step(app_proxy(d->a), w, i, &s) && s.sent && !s.done) {
			for (int j = 0; j < d->n_waited[w]; j++)
				if (d->waited_seq[w][j] == s.seq)
					return;
			if (d->n_waited[w] < APPIL_MAX_POINTS)
				d->waited_seq[w][d->n_waited[w]++] = s.seq;
			return;
		}
}

/* "a:select b:insert" of a decision's enabled workers, into buf. */
static void decision_text(const struct appil_decision *dec, int n, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	for (int w = 0; w < n && k < len; w++)
		if (dec->enabled & (1u << w))
			k += (size_t)snprintf(buf + k, len - k, "%s%c:%s", k ? " " : "", 'a' + w,
					      dec->kind[w]);
	if (!k)
		snprintf(buf, len, "none");
}

/* The decision at o->n_dec when the run departs from what it was to
 * follow: diverged or not executable, with why; false when it fits. */
static bool departs(struct drive *d, const struct appil_decision *now, unsigned blocked)
{
	struct appil_order *o = d->o;
	int pos = o->n_dec;
	char had[200], has[200];
	if (pos >= o->n_plan)
		return false;
	int want = o->plan[pos];
	decision_text(now, d->n, has, sizeof has);
	if (!(now->enabled & (1u << want))) {
		if (blocked & (1u << want)) {
			o->state = APPIL_NOT_EXECUTABLE;
			snprintf(o->why, sizeof o->why,
				 "point %d asks worker %c for a step, but %c waits on a lock another "
				 "worker holds (enabled: %s)",
				 pos + 1, 'a' + want, 'a' + want, has);
		} else {
			o->state = APPIL_DIVERGED;
			snprintf(o->why, sizeof o->why,
				 "point %d asks worker %c for a step, but %c sent no more (enabled: %s)",
				 pos + 1, 'a' + want, 'a' + want, has);
		}
		return true;
	}
	if (!d->parent)
		return false;
	const struct appil_decision *then = &d->parent->dec[pos];
	bool same = then->enabled == now->enabled;
	for (int w = 0; same && w < d->n; w++)
		if ((now->enabled & (1u << w)) && strcmp(then->kind[w], now->kind[w]) != 0)
			same = false;
	if (same)
		return false;
	decision_text(then, d->n, had, sizeof had);
	o->state = APPIL_DIVERGED;
	snprintf(o->why, sizeof o->why,
		 "at point %d the same order's first run had %s ready, this run %s: the app sent "
		 "a different number or kind of steps",
		 pos + 1, had, has);
	return true;
}

/* app_drive_fn: releases one point when every worker is settled. */
static bool drive_step(void *ctx, const bool *done, char *err, size_t errlen)
{
	struct drive *d = ctx;
	struct proxy *px = app_proxy(d->a);
	struct proxy_view v[APPIL_MAX_WORKERS];
	enum seen st[APPIL_MAX_WORKERS];
	bool any_busy = false;
	if (d->free_run)
		return true;
	for (int w = 0; w < d->n; w++) {
		proxy_view(px, w, &v[w]);
		if (v[w].log_full) {
			snprintf(err, errlen,
				 "worker %c sent more than %d round trips in one order: too many to "
				 "interleave",
				 'a' + w, PROXY_MAX_LOG);
			let_go(d);
			return false;
		}
		if (done[w])
			st[w] = SEEN_EXITED;
		else if (d->sent_at[w] >= 0 && v[w].steps <= d->sent_at[w])
			return true; /* its released step is not at the server yet */
		else if (v[w].held > 0)
			st[w] = SEEN_HELD;
		else if (v[w].n_busy > 0)
			st[w] = SEEN_BUSY;
		else
			return true; /* running in the app: wait for it */
		if (st[w] != SEEN_EXITED)
			d->sent_at[w] = -1;
		any_busy |= st[w] == SEEN_BUSY;
	}
	unsigned blocked = 0;
	if (any_busy) {
		uint64_t now = clock_us();
		if (now < d->next_lock_us)
			return true;
		d->next_lock_us = now + LOCK_EVERY_US;
		if (!ask_blocked(d, v, &blocked, err, errlen)) {
			let_go(d);
			return false;
		}
		for (int w = 0; w < d->n; w++)
			if (st[w] == SEEN_BUSY) {
				if (!(blocked & (1u << w)))
					return true; /* its step still runs */
				st[w] = SEEN_BLOCKED;
				note_waited(d, w, &v[w]);
			}
	}
	struct appil_decision dec;
	memset(&dec, 0, sizeof dec);
	for (int w = 0; w < d->n; w++)
		if (st[w] == SEEN_HELD) {
			dec.enabled |= 1u << w;
			held_kind(px, w, &v[w], dec.kind[w], sizeof dec.kind[w]);
		}
	struct appil_order *o = d->o;
	if (!dec.enabled) {
		/* everyone exited or blocked: a deadlock the server ends, or the end;
		 * a planned order with points left asked for more than was sent */
		bool all_exited = true;
		for (int w = 0; w < d->n; w++)
			all_exited &= st[w] == SEEN_EXITED;
		if (all_exited && o->n_dec < o->n_plan && o->state == APPIL_RAN) {
			o->state = APPIL_DIVERGED;
			snprintf(o->why, sizeof o->why,
				 "the processes ended after %d points of the %d planned: the app sent "
				 "fewer steps",
				 o->n_dec, o->n_plan);
		}
		return true;
	}
	if (o->n_dec >= APPIL_MAX_POINTS) {
		snprintf(err, errlen, "more than %d interleaving points in one order: too many",
			 APPIL_MAX_POINTS);
		let_go(d);
		return false;
	}
	if (departs(d, &dec, blocked)) {
		let_go(d);
		return true;
	}
	int c = -1;
	if (o->n_dec < o->n_plan)
		c = o->plan[o->n_dec];
	else if (d->sampled) {
		o->state = APPIL_DIVERGED;
		snprintf(o->why, sizeof o->why,
			 "the processes sent more points than the %d planned: the app sent more steps",
			 o->n_plan);
		let_go(d);
		return true;
	} else
		for (int w = 0; w < d->n && c < 0; w++)
			if (dec.enabled & (1u << w))
				c = w;
	dec.chosen = (unsigned char)c;
	o->dec[o->n_dec++] = dec;
	d->sent_at[c] = v[c].steps;
	proxy_release(px, c);
	return true;
}

/* A text into a malloc'd copy, passwords scrubbed. */
static char *scrubbed(const char *s)
{
	size_t n = strlen(s) + 1;
	char *c = mem_malloc(n);
	memcpy(c, s, n);
	secret_scrub(c, n, false);
	return c;
}

/* The listener's log of the round into o's steps, in the order they came. */
static void collect_steps(struct drive *d)
{
	struct proxy *px = app_proxy(d->a);
	struct appil_order *o = d->o;
	int total = 0;
	for (int w = 0; w < d->n; w++) {
		struct proxy_view v;
		proxy_view(px, w, &v);
		total += v.logged;
	}
	o->steps = mem_calloc((size_t)(total ? total : 1), sizeof *o->steps);
	long long *seq = mem_calloc((size_t)(total ? total : 1), sizeof *seq);
	for (int w = 0; w < d->n; w++) {
		struct proxy_view v;
		proxy_view(px, w, &v);
		for (int i = 0; i < v.logged && o->n_steps < total; i++) {
			struct proxy_step s;
			if (!proxy_step(px, w, i, &s))
				continue;
			/* insertion by the order they went to the server (those
			 * that never did last): a few dozen steps */
			long long key = s.sent_seq >= 0 ? s.sent_seq : (1LL << 40) + s.seq;
			int at = o->n_steps++;
			while (at > 0 && seq[at - 1] > key) {
				o->steps[at] = o->steps[at - 1];
				seq[at] = seq[at - 1];
				at--;
			}
			struct appil_step *t = &o->steps[at];
			seq[at] = key;
			memset(t, 0, sizeof *t);
			t->worker = w;
			t->conn = s.conn;
			t->point = s.held;
			t->cut = s.d.cut;
			t->binary = s.d.binary;
			snprintf(t->kind, sizeof t->kind, "%s", s.d.kind);
			t->shown = scrubbed(s.d.shown);
			t->inlined = scrubbed(s.d.inlined);
			snprintf(t->tag, sizeof t->tag, "%s", s.tag);
			snprintf(t->sqlstate, sizeof t->sqlstate, "%s", s.sqlstate);
			snprintf(t->constraint, sizeof t->constraint, "%s", s.constraint);
			for (int j = 0; j < d->n_waited[w]; j++)
				if (d->waited_seq[w][j] == s.seq)
					t->waited = true;
		}
	}
	free(seq);
}

/* Did worker w recover: a class-23 error, a SELECT after it, exit 0? */
static bool recovered(const struct appil_order *o, int w)
{
	bool failed = false;
	if (o->w[w].exit_code != 0 || o->w[w].signal)
		return false;
	for (int i = 0; i < o->n_steps; i++) {
		const struct appil_step *t = &o->steps[i];
		if (t->worker != w)
			continue;
		if (!strncmp(t->sqlstate, "23", 2))
			failed = true;
		else if (failed && !strcmp(t->kind, "select"))
			return true;
	}
	return false;
}

static struct appil_order *new_order(struct appil_summary *s)
{
	if (s->n_orders == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->orders = mem_realloc(s->orders, s->cap * sizeof *s->orders);
	}
	struct appil_order *o = &s->orders[s->n_orders++];
	memset(o, 0, sizeof *o);
	o->parent = o->branch = -1;
	o->rows = -1;
	o->dec = mem_calloc(APPIL_MAX_POINTS, sizeof *o->dec);
	return o;
}

/* (sum p)! / prod p! by multiplying binomials; UINT64_MAX when too big. */
static uint64_t multinomial(const int *p, int n)
{
	uint64_t r = 1;
	int sum = 0;
	for (int w = 0; w < n; w++)
		for (int i = 1; i <= p[w]; i++) {
			sum++;
			/* r = r * sum / i, exact at each step */
			unsigned __int128 x = (unsigned __int128)r * (unsigned)sum;
			x /= (unsigned)i;
			if (x > UINT64_MAX / 2)
				return UINT64_MAX;
			r = (uint64_t)x;
		}
	return r;
}

/* splitmix64 */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A shuffled sequence of the first order's points into o->plan. */
static void sample_plan(struct appil_summary *s, struct appil_order *o, uint64_t *rng)
{
	int k = 0;
	for (int w = 0; w < s->workers; w++)
		for (int i = 0; i < s->points[w] && k < APPIL_MAX_POINTS; i++)
			o->plan[k++] = (unsigned char)w;
	for (int i = k - 1; i > 0; i--) {
		int j = (int)(next_random(rng) % (uint64_t)(i + 1));
		unsigned char t = o->plan[i];
		o->plan[i] = o->plan[j];
		o->plan[j] = t;
	}
	o->n_plan = k;
}

static bool same_plan(const struct appil_order *x, const struct appil_order *y)
{
	return x->n_plan == y->n_plan && memcmp(x->plan, y->plan, (size_t)x->n_plan) == 0;
}

/* A branch still to run: order parent's decisions before at, then worker. */
struct branch {
	int parent, at;
	unsigned char worker;
};

/* Runs o: its processes, the driver, its steps and rows. */
static enum race_status run_one(struct drive *d, struct appil_summary *s, long long round,
				long long index, struct race_totals *t, struct app_totals *at, char *err,
				size_t errlen)
{
	struct appil_order *o = d->o;
	struct round_result rr;
	struct race_totals ot;
	struct app_totals oat;
	memset(&ot, 0, sizeof ot);
	memset(&oat, 0, sizeof oat);
	hist_init(&ot.latency);
	for (int w = 0; w < d->n; w++)
		d->sent_at[w] = -1;
	memset(d->n_waited, 0, sizeof d->n_waited);
	d->free_run = false;
	d->next_lock_us = 0;
	o->round = round;
	o->w = mem_calloc((size_t)d->n, sizeof *o->w);
	uint64_t t0 = clock_us();
	app_set_driver(d->a, drive_step, d);
	enum race_status st = app_round(d->a, round, index, &rr, &ot, &oat, o->w, err, errlen);
	o->us = clock_us() - t0;
	o->dec = mem_realloc(o->dec, (size_t)(o->n_dec ? o->n_dec : 1) * sizeof *o->dec); /* what it used */
	collect_steps(d);
	if (st != RACE_OK)
		return st;
	o->rows = rr.rows_max;
	if (o->state != APPIL_RAN) {
		if (o->state == APPIL_DIVERGED)
			s->diverged++;
		else
			s->not_executable++;
		return RACE_OK;
	}
	if (rr.keys_with_duplicates)
		s->with_duplicates++;
	for (int w = 0; w < d->n; w++)
		if ((o->recovered[w] = recovered(o, w)))
			s->recovered++;
	t->attempts += ot.attempts;
	outcome_merge(&t->outcomes, &ot.outcomes);
	outcome_merge(&t->constraints, &ot.constraints);
	for (int w = 0; w < d->n; w++)
		hist_record(&t->latency, o->us);
	at->exit_ok += oat.exit_ok;
	at->exit_failed += oat.exit_failed;
	at->output_matched += oat.output_matched;
	at->connections += oat.connections;
	return RACE_OK;
}

enum race_status appil_run(struct app_race *a, PGconn *admin, const struct race_cfg *cfg,
			   struct appil_summary *s, long long *round, appil_before_fn before,
			   void *before_ctx, struct race_totals *t, struct app_totals *at, char *err,
			   size_t errlen)
{
	char why[256];
	struct drive d = {.a = a, .admin = admin, .n = cfg->workers};
	enum race_status st = RACE_OK;
	struct branch *stack = NULL;
	size_t n_stack = 0, cap_stack = 0;
	uint64_t rng = (uint64_t)cfg->seed, t_first = clock_us();
	size_t max = (size_t)cfg->max_interleavings;
	memset(s, 0, sizeof *s);
	s->workers = cfg->workers;
	s->seed = (uint64_t)cfg->seed;
	err[0] = '\0';
	if (cfg->workers > APPIL_MAX_WORKERS) {
		snprintf(err, errlen, "interleave mode of an app flow runs 1 to %d workers, not %d",
			 APPIL_MAX_WORKERS, cfg->workers);
		return RACE_BAD;
	}
	d.view = lockview_detect(admin, why, sizeof why);
	if (!d.view) {
		snprintf(err, errlen, "interleave mode: %s", why);
		return RACE_BROKEN;
	}
	for (size_t n = 0; n < max; n++) {
		struct appil_order *o;
		if (n == 0) {
			o = new_order(s);
		} else if (s->sampled) {
			o = new_order(s);
			bool fresh = false;
			for (int tries = 0; tries < 64 && !fresh; tries++) {
				sample_plan(s, o, &rng);
				fresh = true;
				for (size_t i = 0; fresh && i + 1 < s->n_orders; i++)
					fresh = !same_plan(&s->orders[i], o);
			}
			if (!fresh) { /* the space is smaller than it looked: enough */
				free(s->orders[--s->n_orders].dec);
				break;
			}
		} else {
			if (n_stack == 0) {
				s->exhaustive = true;
				break;
			}
			struct branch b = stack[--n_stack];
			o = new_order(s);
			const struct appil_order *p = &s->orders[b.parent];
			o->parent = b.parent;
			o->branch = b.at;
			for (int i = 0; i < b.at; i++)
				o->plan[i] = p->dec[i].chosen;
			o->plan[b.at] = b.worker;
			o->n_plan = b.at + 1;
		}
		size_t idx = s->n_orders - 1;
		d.o = o;
		d.parent = o->parent >= 0 ? &s->orders[o->parent] : NULL;
		d.sampled = s->sampled;
		if (before && !before(before_ctx, *round + 1, (long long)idx)) {
			free(s->orders[--s->n_orders].dec);
			st = RACE_BROKEN;
			break;
		}
		st = run_one(&d, s, ++*round, (long long)idx, t, at, err, errlen);
		/* run_one may have grown nothing; o stays valid until new_order */
		if (st != RACE_OK) {
			char note[APPIL_MAX_POINTS * 4], text[1400];
			appil_notation(o, note, sizeof note);
			snprintf(text, sizeof text, "order %zu (%s): %s", idx + 1, note, err);
			snprintf(err, errlen, "%s", text);
			break;
		}
		if (n == 0) {
			for (int i = 0; i < o->n_dec; i++) {
				s->points[o->dec[i].chosen]++;
				o->plan[i] = o->dec[i].chosen;
			}
			o->n_plan = o->n_dec;
			s->estimate = multinomial(s->points, s->workers);
			if (s->estimate > max) {
				s->sampled = true;
				continue;
			}
		}
		if (o->state == APPIL_RAN && n > 0) {
			int p[APPIL_MAX_WORKERS] = {0};
			for (int i = 0; i < o->n_dec; i++)
				p[o->dec[i].chosen]++;
			for (int w = 0; w < s->workers; w++)
				if (p[w] > s->points[w])
					s->points[w] = p[w];
		}
		if (s->sampled || o->state != APPIL_RAN)
			continue;
		/* every other worker that could have gone, past the forced prefix */
		for (int i = o->n_dec - 1; i > o->branch; i--)
			for (int w = s->workers - 1; w >= 0; w--) {
				if (!(o->dec[i].enabled & (1u << w)) || w == o->dec[i].chosen)
					continue;
				if (n_stack == cap_stack) {
					cap_stack = cap_stack ? cap_stack * 2 : 64;
					stack = mem_realloc(stack, cap_stack * sizeof *stack);
				}
				stack[n_stack++] = (struct branch){(int)idx, i, (unsigned char)w};
			}
	}
	if (st == RACE_OK && !s->sampled && n_stack == 0)
		s->exhaustive = true;
	s->unexplored = s->sampled ? 0 : n_stack;
	s->possible = multinomial(s->points, s->workers);
	s->total_us = clock_us() - t_first;
	app_set_driver(a, NULL, NULL);
	free(stack);
	return st;
}

void appil_notation(const struct appil_order *o, char *buf, size_t len)
{
	int count[APPIL_MAX_WORKERS] = {0};
	size_t k = 0;
	buf[0] = '\0';
	for (int i = 0; i < o->n_dec && k < len; i++) {
		int w = o->dec[i].chosen;
		k += (size_t)snprintf(buf + k, len - k, "%s%c%d", i ? " " : "", 'a' + w, ++count[w]);
	}
}

long appil_first_duplicate(const struct appil_summary *s)
{
	for (size_t i = 0; i < s->n_orders; i++)
		if (s->orders[i].state == APPIL_RAN && s->orders[i].rows > 1)
			return (long)i;
	return -1;
}

void appil_free(struct appil_summary *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_orders; i++) {
		for (int j = 0; j < s->orders[i].n_steps; j++) {
			free(s->orders[i].steps[j].shown);
			free(s->orders[i].steps[j].inlined);
		}
		free(s->orders[i].steps);
		free(s->orders[i].w);
		free(s->orders[i].dec);
	}
	free(s->orders);
	free(s);
}
