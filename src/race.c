/* race.c: a race's workers, one round or one free run at a time.
 *
 * race_open() sets up the workers (worker.c's state machines), the event
 * loops that drive them (evloop.c) and the coordinator (coord.c), and
 * connects everything before any round. A round: the keys are evaluated,
 * a generation starts (every worker BEGINs), the coordinator runs the start
 * line and, in hold mode, the commit barrier, then the rows query counts
 * what the round left (attempt.c). A free run starts a generation without a
 * start line and ends it on demand. Counters are merged after a round, when
 * every worker has finished. Calls worker, evloop, coord, attempt and key;
 * sends no SQL of its own. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "race.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "attempt.h"
#include "connpool.h"
#include "coord.h"
#include "db.h"
#include "evloop.h"
#include "lastbyte.h"
#include "vlog.h"
#include "worker.h"

#define CONNECT_DEADLINE_US (30u * 1000000u)
/* How long the kept connections' resets may take, all together (connpool.h). */
#define KEEP_DEADLINE_US (3u * 1000000u)
#define MAX_THREADS 64

struct race {
	const struct scenario *sc;
	struct race_cfg cfg;
	const char *schema;
	bool pooler; /* no session state: see race_open() */
	struct worker *w;
	struct worker_env env;  /* what every worker shares */
	char begin_sql[2][192]; /* [0] cfg isolation, [1] READ COMMITTED */
	struct evloop_ctl ctl;  /* the coordinator's commands and the loops' reports */
	struct evloop *ev;
	struct coord coord;
	atomic_bool free_stop;
	struct key_values *keys;         /* [cfg.keys]: this round's keys (as worker 0 spells them) */
	struct key_values *worker_keys;  /* [workers]: each worker's, when params use worker */
	uint64_t coord_cpu_us, round_us; /* coordinator thread CPU, and wall time, over rounds */
	uint64_t connect_us;             /* connecting every worker (race_open), until taken */
	struct connpool *pool;           /* kept connections: taken, handed back (or NULL) */
	const char *dsn;                 /* the server the workers connect to (targets[0]) */
	bool keep;                       /* race_close hands the connections to pool (race_keep) */
	size_t w_bytes;                  /* the mapping of w */
};

void round_result_add_key(struct round_result *out, long long rows)
{
	if (out->rows_min < 0 || rows < out->rows_min)
		out->rows_min = rows;
	if (rows > out->rows_max)
		out->rows_max = rows;
	if (rows > 1) {
		out->keys_with_duplicates++;
		out->extra_rows += rows - 1;
	}
}

int race_key_of(const struct race_cfg *c, int w)
{
	if (c->keys <= 1)
		return 0;
	if (c->dist == DIST_UNIFORM)
		return w % c->keys;
	return w < c->workers / 2 ? 0 : 1 + (w % (c->keys - 1));
}

int race_threads(int workers, char *err, size_t errlen)
{
	const char *env = getenv("PGRACE_THREADS");
	long n;
	if (env && *env) {
		char *end;
		errno = 0;
		n = strtol(env, &end, 10);
		if (errno || *end || n < 1 || n > MAX_THREADS) {
			snprintf(err, errlen, "PGRACE_THREADS must be a number from 1 to %d, not '%s'",
				 MAX_THREADS, env);
			return 0;
		}
	} else {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		if (n > MAX_THREADS)
			n = MAX_THREADS;
	}
	return (int)(n < workers ? n : workers);
}

/* Free runs pipeline unless PGRACE_PIPELINE=off (for comparison). */
static bool pipeline_wanted(void)
{
	const char *env = getenv("PGRACE_PIPELINE");
	return !(env && (!strcmp(env, "off") || !strcmp(env, "0")));
}

struct race *race_open(const char *dsn, const char *const *targets, const char *schema, bool pooler,
		       const struct scenario *sc, const struct race_cfg *cfg, struct connpool *pool,
		       char *err, size_t errlen)
{
	struct race *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	r->sc = sc;
	r->dsn = dsn;
	/* Kept connections are the --dsn server's only, as sessions of their
	 * own: not through a pooler, not with connections to other targets. */
	r->pool = !pooler && sc->n_targets <= 1 ? pool : NULL;
	r->cfg = *cfg;
	r->schema = schema;
	r->pooler = pooler;
	struct evloop_ctl *ctl = &r->ctl;
	*ctl = (struct evloop_ctl){.dsn = dsn,
				   .schema = schema,
				   .targets = targets,
				   .pooler = pooler,
				   .sc = sc,
				   .cfg = &r->cfg};
	if (pthread_mutex_init(&ctl->mu, NULL) || pthread_cond_init(&ctl->cv, NULL))
		abort();
	/* Through a pooler the transaction is the only state we own: BEGIN sets
	 * the search_path in it and learns which backend serves it. */
	attempt_begin_sql(r->begin_sql[0], sizeof r->begin_sql[0], cfg->isolation, ATTEMPT_READ_WRITE,
			  pooler ? schema : NULL);
	attempt_begin_sql(r->begin_sql[1], sizeof r->begin_sql[1], ISO_READ_COMMITTED,
			  ATTEMPT_READ_WRITE, pooler ? schema : NULL);
	r->env = (struct worker_env){
		.sc = sc,
		.cfg = &r->cfg,
		.io = evloop_io(),
		.begin_sql = {r->begin_sql[0], r->begin_sql[1]},
		.pooler = pooler,
		/* A flow with steps on other targets is not pipelined: those steps
		 * run on connections of their own, between the pipeline's. */
		.can_pipeline = !pooler && pipeline_wanted() && sc->n_targets <= 1 && !cfg->autocommit,
		/* Without the send() interposition fire rounds release by send. */
		.last_byte = cfg->release == RELEASE_LAST_BYTE && lastbyte_available(),
		.free_stop = &r->free_stop,
	};
	r->keys = calloc((size_t)cfg->keys, sizeof *r->keys);
	r->worker_keys = key_uses_worker(sc->params, sc->n_params)
				 ? calloc((size_t)cfg->workers, sizeof *r->worker_keys)
				 : NULL;
	/* Mapped, not malloc'd: zero pages the kernel hands out as they are
	 * first written (a worker's unused counters cost nothing), and given
	 * back whole at race_close (a freed 20 MiB heap block would stay). */
	r->w_bytes = sizeof *r->w * (size_t)cfg->workers;
	r->w = mmap(NULL, r->w_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->w == MAP_FAILED)
		abort();
	if (!r->keys || (key_uses_worker(sc->params, sc->n_params) && !r->worker_keys))
		abort();
	for (int i = 0; i < cfg->workers; i++)
		worker_init(&r->w[i], &r->env, i, race_key_of(cfg, i),
			    i < cfg->rc_workers ? ISO_READ_COMMITTED : cfg->isolation);
	r->coord = (struct coord){
		.ctl = ctl, .w = r->w, .n = cfg->workers, .deadline_ms = cfg->deadline_ms};
	const char *refusal = scenario_autocommit_refusal(cfg, pooler);
	if (refusal) {
		snprintf(err, errlen, "%s", refusal);
		goto fail;
	}
	int n_loops = race_threads(cfg->workers, err, errlen);
	if (n_loops == 0)
		goto fail;
	r->ev = evloop_create(ctl, r->w, cfg->workers, n_loops, err, errlen);
	if (!r->ev)
		goto fail;
	r->coord.ev = r->ev;
	if (!coord_open(&r->coord, dsn, schema, pooler, cfg->mode == MODE_HOLD, err, errlen))
		goto fail;
	uint64_t t0 = clock_us();
	/* the loops connect the workers left without a kept connection */
	for (int i = 0; r->pool && i < cfg->workers; i++)
		r->w[i].conn = connpool_take(r->pool, dsn, schema);
	if (!evloop_start(r->ev, err, errlen))
		goto fail;
	if (!coord_wait(&r->coord, &ctl->connected, cfg->workers, t0 + CONNECT_DEADLINE_US)) {
		if (db_stop_requested())
			snprintf(err, errlen, "connecting: %s", db_stop_text());
		else
			snprintf(err, errlen, "workers did not connect within 30 s");
		goto fail;
	}
	for (int i = 0; i < cfg->workers; i++)
		if (r->w[i].broken) {
			snprintf(err, errlen, "%s", r->w[i].why);
			goto fail;
		}
	r->connect_us = clock_us() - t0;
	coord_pids(&r->coord);
	return r;
fail:
	race_close(r);
	return NULL;
}

void race_set_admin_pid(struct race *r, int pid)
{
	r->coord.admin_pid = pid;
}

/* The round's keys, and each worker's params for it. */
static bool make_params(struct race *r, long long round, long long phase_round, char *err, size_t errlen)
{
	for (int k = 0; k < r->cfg.keys; k++) {
		struct key_ctx ctx = {round, k, phase_round, 0};
		if (!attempt_key(r->sc, &ctx, &r->keys[k], err, errlen))
			return false;
	}
	for (int i = 0; i < r->cfg.workers; i++) {
		struct worker *w = &r->w[i];
		struct key_ctx ctx = {round, w->key, phase_round, i};
		if (r->worker_keys && !attempt_key(r->sc, &ctx, &r->worker_keys[i], err, errlen))
			return false;
		w->round_params = r->worker_keys ? r->worker_keys[i].ptr : r->keys[w->key].ptr;
	}
	return true;
}

/* CPU time of the calling thread, microseconds. */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A rows query's deadline: the round's budget from now, at most 10 s. */
static uint64_t rows_deadline(const struct race *r)
{
	uint64_t budget = (uint64_t)r->cfg.deadline_ms * 1000u;
	return clock_us() + (budget < 10u * 1000000u ? budget : 10u * 1000000u);
}

/* Who keeps a rows query waiting at its deadline, asked from a connection
 * opened for that while the query still waits (the monitor runs it): the
 * lock's holder then is the one that blocks it. */
struct rows_watch {
	struct race *r;
	bool asked; /* who is the answer: someone, or "" for nobody */
	char who[200];
};

static void rows_at_deadline(PGconn *c, void *ctx)
{
	(void)c;
	struct rows_watch *w = ctx;
	char err[512];
	if (w->r->pooler)
		return;
	PGconn *asker = db_connect(w->r->dsn, NULL, err, sizeof err);
	if (!asker)
		return;
	w->asked = coord_rows_blocker(&w->r->coord, asker, w->r->schema, w->who, sizeof w->who);
	PQfinish(asker);
}

/* Rows per key of the current keys, through the scenario's rows query. */
static enum race_status count_rows(struct race *r, struct round_result *out, char *err, size_t errlen)
{
	static const enum race_status as_race[] = {
		[ATTEMPT_ROWS_OK] = RACE_OK,
		[ATTEMPT_ROWS_BAD] = RACE_BAD,
		[ATTEMPT_ROWS_BROKEN] = RACE_BROKEN,
		[ATTEMPT_ROWS_INTERRUPTED] = RACE_INTERRUPTED,
	};
	const char *pooled = r->pooler ? r->schema : NULL;
	struct db_result res;
	out->rows_min = -1;
	/* Behind a pooler, one transaction, so the search_path holds for every key. */
	if (!attempt_rows_open(r->coord.monitor, pooled, rows_deadline(r), err, errlen))
		return RACE_BROKEN;
	for (int k = 0; k < r->cfg.keys; k++) {
		long long rows = 0;
		struct rows_watch watch = {r, false, ""};
		const struct db_watch dw = {rows_at_deadline, &watch};
		enum attempt_rows_status st = attempt_rows(r->coord.monitor, r->sc, r->keys[k].ptr,
							   rows_deadline(r), &dw, &rows, &res, err, errlen);
		if (st != ATTEMPT_ROWS_OK && res.status == DB_TIMEOUT) {
			size_t n = strlen(err);
			if (watch.asked && watch.who[0])
				snprintf(err + n, errlen - n, "%s", watch.who);
			else /* nobody then, or the question failed: once more, after the cancel */
				coord_rows_blocker(&r->coord, NULL, r->schema, err + n, errlen - n);
		}
		if (st != ATTEMPT_ROWS_OK) {
			attempt_rows_close(r->coord.monitor, pooled, false, clock_us() + 2000000u, err,
					   errlen);
			return as_race[st];
		}
		round_result_add_key(out, rows);
	}
	if (!attempt_rows_close(r->coord.monitor, pooled, true, rows_deadline(r), err, errlen))
		return RACE_BROKEN;
	return RACE_OK;
}

/* A fire or hold round on one key: each step's send, completion and what
 * it ended in (each worker's BEGIN too), from each worker's own record (read after the round, when
 * every worker is parked); when it duplicated, the order its workers' steps
 * were sent in. */
static void observe_order(struct race *r, struct round_result *out)
{
	struct order_event all[ORDER_MAX_EVENTS];
	size_t n = 0;
	for (int i = 0; i < r->cfg.workers; i++)
		for (int j = 0; j < r->w[i].n_steps && n < ORDER_MAX_EVENTS; j++)
			all[n++] = r->w[i].steps[j];
	/* each worker's BEGIN, where room is left (order_observed passes it over) */
	for (int i = 0; i < r->cfg.workers && n < ORDER_MAX_EVENTS; i++)
		if (r->w[i].begin.sent_us)
			all[n++] = r->w[i].begin;
	if (!order_observed(all, n, r->cfg.workers, (int)r->sc->n_flow + 1, out->order,
			    sizeof out->order) ||
	    !out->keys_with_duplicates)
		out->order[0] = '\0';
	memcpy(out->events, all, n * sizeof *all); /* sorted by send time */
	out->n_events = n;
	/* a failed step ends its worker's try: it is the worker's last */
	for (size_t i = 0; i < n; i++) {
		const struct worker *w = &r->w[all[i].worker];
		bool last = w->n_steps > 0 && w->steps[w->n_steps - 1].step == all[i].step;
		out->ends[i] = last ? w->step_end : (struct step_end){"", ""};
	}
}

static enum race_status finish_round(struct race *r, bool all_done, bool ok, bool failed,
				     struct round_result *out, char *err, size_t errlen);

static enum race_status play_round(struct race *r, long long round, long long phase_round,
				   struct round_result *out, char *err, size_t errlen);

/* A round, and the coordinator's share of it: its thread's CPU time
 * against the round's wall time, from the start to the rows counted. */
enum race_status race_round(struct race *r, long long round, long long phase_round,
			    struct round_result *out, char *err, size_t errlen)
{
	uint64_t cpu0 = thread_cpu_us(), wall0 = clock_us();
	enum race_status st = play_round(r, round, phase_round, out, err, errlen);
	r->coord_cpu_us += thread_cpu_us() - cpu0;
	r->round_us += clock_us() - wall0;
	return st;
}

static enum race_status play_round(struct race *r, long long round, long long phase_round,
				   struct round_result *out, char *err, size_t errlen)
{
	int n = r->cfg.workers;
	bool failed = false;
	memset(out, 0, sizeof *out);
	err[0] = '\0';
	if (!make_params(r, round, phase_round, err, errlen))
		return RACE_BAD;
	vlog_round(round);
	for (int i = 0; i < n; i++)
		atomic_store(&r->w[i].view, WV_IDLE);

	uint64_t deadline = clock_us() + (uint64_t)r->cfg.deadline_ms * 1000u;
	evloop_lock(&r->ctl.mu);
	r->ctl.ready = r->ctl.finished = 0;
	evloop_unlock(&r->ctl.mu);
	r->ctl.round_deadline_us = deadline;
	atomic_store(&r->ctl.free_mode, false);
	long long gen = atomic_fetch_add(&r->ctl.gen, 1) + 1;
	evloop_wake(r->ev);

	bool ok = coord_start_line(&r->coord, gen, r->cfg.mode == MODE_FIRE, deadline, err, errlen);
	if (ok && r->cfg.mode == MODE_HOLD)
		ok = coord_commit_barrier(&r->coord, gen, deadline, &failed, err, errlen);
	/* The workers' own deadlines end every query; give cancels time to land.
	 * Workers still waiting at the round's deadline are asked about first:
	 * waits on each other are a deadlock among them, not the database's. */
	bool all_done = coord_wait(&r->coord, &r->ctl.finished, n, deadline);
	char hint[320] = "";
	if (!all_done && !db_stop_requested()) {
		coord_mutual_wait_hint(&r->coord, hint, sizeof hint);
		all_done = coord_wait(&r->coord, &r->ctl.finished, n, deadline + 5u * 1000000u);
	}
	enum race_status st = finish_round(r, all_done, ok, failed, out, err, errlen);
	if (st == RACE_BROKEN && hint[0]) {
		size_t used = strlen(err);
		snprintf(err + used, errlen - used, "%s", hint);
	}
	return st;
}

/* How a round that ran its course ended: interrupted, broken (err says
 * why), or RACE_OK with its rows counted and skew measured. */
static enum race_status finish_round(struct race *r, bool all_done, bool ok, bool failed,
				     struct round_result *out, char *err, size_t errlen)
{
	int n = r->cfg.workers;
	if (db_stop_requested()) {
		snprintf(err, errlen, "%s", db_stop_text());
		return RACE_INTERRUPTED;
	}
	if (!all_done) {
		if (!failed && ok)
			snprintf(err, errlen, "workers did not finish within the round deadline of %d ms",
				 r->cfg.deadline_ms);
		/* Their queries are cancelled by their own deadlines: race_close joins them. */
		return RACE_BROKEN;
	}
	if (failed)
		return RACE_BROKEN;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < n; i++) {
		struct worker *w = &r->w[i];
		if (w->broken) {
			if (!err[0] || w->bad)
				snprintf(err, errlen, "%s", w->why);
			return w->bad ? RACE_BAD : RACE_BROKEN;
		}
		if (w->first_send_us < lo)
			lo = w->first_send_us;
		if (w->first_send_us > hi)
			hi = w->first_send_us;
	}
	if (!ok)
		return RACE_BROKEN;
	out->skew_us = hi - lo;
	/* The release spread: first to last tail write; the send release's
	 * is the spread of first sends. */
	out->release_us = out->skew_us;
	uint64_t tlo = UINT64_MAX, thi = 0;
	for (int i = 0; i < n; i++) {
		uint64_t at = atomic_load(&r->w[i].tail.written_us);
		if (!at)
			continue;
		out->tails++;
		tlo = at < tlo ? at : tlo;
		thi = at > thi ? at : thi;
	}
	if (out->tails) {
		out->release_us = thi - tlo;
		out->realtime = r->coord.realtime_release;
	}

	enum race_status st = count_rows(r, out, err, errlen);
	if (st == RACE_OK && r->cfg.mode != MODE_INTERLEAVE && r->cfg.keys == 1 &&
	    r->cfg.workers <= 26 && /* workers a to z */
	    r->cfg.workers * ((int)r->sc->n_flow + 1) <= ORDER_MAX_EVENTS)
		observe_order(r, out);
	return st;
}

enum race_status race_rows(struct race *r, long long round, struct round_result *out, char *err,
			   size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!make_params(r, round, 0, err, errlen))
		return RACE_BAD;
	return count_rows(r, out, err, errlen);
}

void race_free_start(struct race *r, long long round_base, bool hot, int duration_ms)
{
	vlog_round(-1);
	evloop_lock(&r->ctl.mu);
	r->ctl.ready = r->ctl.finished = 0;
	evloop_unlock(&r->ctl.mu);
	atomic_store(&r->ctl.free_mode, true);
	r->env.free_hot = hot;
	r->env.free_base = round_base;
	atomic_store(&r->free_stop, false);
	r->env.free_until = duration_ms > 0 ? clock_us() + (uint64_t)duration_ms * 1000u : 0;
	atomic_fetch_add(&r->ctl.gen, 1);
	evloop_wake(r->ev);
}

enum race_status race_free_wait(struct race *r, bool stop, long long *keys_used, char *err, size_t errlen)
{
	err[0] = '\0';
	if (stop)
		atomic_store(&r->free_stop, true);
	/* Past free_until each worker ends its attempt in progress, bounded by
	 * that attempt's own deadline. */
	uint64_t now = clock_us();
	uint64_t deadline = (r->env.free_until > now ? r->env.free_until : now) +
			    (uint64_t)r->cfg.deadline_ms * 1000u + 5u * 1000000u;
	bool done = coord_wait(&r->coord, &r->ctl.finished, r->cfg.workers, deadline);
	if (!done)
		atomic_store(&r->free_stop, true);
	long long most = 0;
	for (int i = 0; i < r->cfg.workers; i++) {
		if (r->w[i].free_attempts > most)
			most = r->w[i].free_attempts;
		r->w[i].free_attempts = 0;
	}
	*keys_used = r->env.free_hot ? 1 : most * r->cfg.workers;
	if (db_stop_requested()) {
		snprintf(err, errlen, "%s", db_stop_text());
		return RACE_INTERRUPTED;
	}
	if (!done) {
		snprintf(err, errlen, "free-running workers did not stop within their deadline");
		return RACE_BROKEN;
	}
	for (int i = 0; i < r->cfg.workers; i++)
		if (r->w[i].broken) {
			snprintf(err, errlen, "%s", r->w[i].why);
			return r->w[i].bad ? RACE_BAD : RACE_BROKEN;
		}
	return RACE_OK;
}

void race_totals(struct race *r, struct race_totals *t, struct outcome_table *per_key)
{
	hist_merge(&t->detect, &r->coord.detect);
	hist_init(&r->coord.detect);
	t->polls += r->coord.polls;
	t->coord_cpu_us += r->coord_cpu_us;
	t->round_us += r->round_us;
	t->connect_us += r->connect_us;
	r->connect_us = 0;
	r->coord.polls = 0;
	r->coord_cpu_us = r->round_us = 0;
	for (int i = 0; i < r->cfg.workers; i++) {
		struct worker *w = &r->w[i];
		if (per_key)
			outcome_merge(&per_key[w->key], &w->outcomes);
		t->attempts += w->attempts;
		t->retries += w->retries;
		outcome_merge(&t->outcomes, &w->outcomes);
		outcome_merge(&t->constraints, &w->constraints);
		hist_merge(&t->latency, &w->latency);
		w->attempts = w->retries = 0;
		outcome_clear(&w->outcomes);
		outcome_clear(&w->constraints);
		hist_clear(&w->latency);
	}
}

void race_join(struct race *r)
{
	if (!r)
		return;
	atomic_store(&r->free_stop, true);
	evloop_join(r->ev);
}

void race_keep(struct race *r)
{
	r->keep = true;
}

void race_close(struct race *r)
{
	if (!r)
		return;
	race_join(r);
	evloop_destroy(r->ev);
	PGconn **kept = NULL;
	int n_kept = 0;
	if (r->keep && r->pool && !db_stop_requested()) {
		kept = calloc((size_t)r->cfg.workers, sizeof *kept);
		if (!kept)
			abort();
	}
	for (int i = 0; i < r->cfg.workers; i++) {
		if (kept && r->w[i].conn && !r->w[i].cancel_sent && !r->w[i].dead)
			kept[n_kept++] = r->w[i].conn;
		else if (r->w[i].conn)
			PQfinish(r->w[i].conn);
		for (size_t t = 1; t < TARGETS_MAX; t++)
			if (r->w[i].tconn[t])
				PQfinish(r->w[i].tconn[t]);
		worker_free(&r->w[i]);
	}
	if (kept)
		connpool_keep(r->pool, r->dsn, r->schema, kept, n_kept, clock_us() + KEEP_DEADLINE_US);
	free(kept);
	coord_close(&r->coord);
	free(r->keys);
	free(r->worker_keys);
	if (r->w)
		munmap(r->w, r->w_bytes);
	pthread_cond_destroy(&r->ctl.cv);
	pthread_mutex_destroy(&r->ctl.mu);
	free(r);
}
