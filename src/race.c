/* race.c: the worker threads and the round coordinator.
 *
 * Each worker owns its connection, counters and histogram; nothing is shared
 * on the hot path but the round's generation numbers under one mutex, read at
 * the start line and the commit line. Counters are merged after the round,
 * when every worker is parked. */
#include "race.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "lockview.h"
#include "sandbox.h"
#include "judge.h"
#include "metric.h"

#define STACK_BYTES (256 * 1024)
#define CONNECT_DEADLINE_US (30u * 1000000u)

enum worker_state { W_IDLE, W_RUNNING, W_HELD, W_FINISHED };

struct worker {
	struct race *race;
	int id;
	int key;                 /* index of the key it races on */
	enum isolation iso;
	PGconn *conn;
	PGconn *tconn[TARGETS_MAX]; /* [t >= 1]: target t's connection, for steps on: it */
	int pid;                 /* backend pid */
	pthread_t thread;
	bool started;
	atomic_int state;
	uint64_t first_send_us;  /* this round */
	bool prepare_tried;      /* prepare_flow() ran on this connection */
	bool prepared;           /* flow statement i is prepared as pgrace_flow_<i> */
	uint64_t deadline_us;    /* for this worker's queries: the round's, or the free attempt's */
	long long free_attempts; /* free mode: attempts made */
	char where[48];          /* where the last try failed: "flow step 2", "COMMIT" */
	int where_line;          /* its scenario line, 0 for COMMIT */
	unsigned long long rng;  /* retry jitter, seeded per worker */
	bool broken;             /* this round could not complete */
	bool bad;                /* ... through the scenario's fault (why names file:line) */
	char why[384];
	struct key_values free_key;  /* free mode: this attempt's key */
	struct key_values round_key; /* this round's key as this worker spells it (params use worker) */
	/* counters: the worker's own until merged */
	long long attempts, retries;
	struct outcome_table outcomes, constraints;
	struct hist latency;
} __attribute__((aligned(64)));

struct race {
	const struct scenario *sc;
	struct race_cfg cfg;
	const char *dsn, *schema;
	const char *const *targets; /* [t >= 1]: conninfo of the scenario's target t */
	struct worker *w;
	PGconn *monitor;         /* coordinator's own connection */
	const struct lockview *view; /* the engine's lock view: hold mode asks it */
	bool pooler;             /* no session state: see race_open() */
	char begin_sql[2][192];  /* [0] cfg isolation, [1] READ COMMITTED */
	/* the round, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv_workers, cv_coord;
	long long gen, go_gen, commit_gen;
	bool quit;
	bool joined;             /* race_join() ran: the threads are gone */
	int connected, ready, finished;
	uint64_t deadline_us;
	struct key_values *keys; /* [cfg.keys]: this round's keys (as worker 0 spells them) */
	bool per_worker;         /* params use worker: each worker has its own round_key */
	char *pid_array;         /* "{pid,pid,...}" for the monitor's queries */
	int monitor_pid, admin_pid; /* pgrace's own other backends (0: unknown) */
	/* free mode, set before the generation starts */
	bool free_mode, free_hot;
	long long free_base;     /* round of the first free key */
	uint64_t free_until;     /* clock_us() deadline, 0 = until race_free_wait(stop) */
	atomic_bool free_stop;
};

static void lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m))
		abort();
}

static void unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m))
		abort();
}

/* Waits on cv for at most 50 ms (realtime clock, as pthread wants). */
static void wait_slice(pthread_cond_t *cv, pthread_mutex_t *m)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int rc = pthread_cond_timedwait(cv, m, &ts);
	if (rc && rc != ETIMEDOUT)
		abort();
}

static void broadcast(pthread_cond_t *cv)
{
	if (pthread_cond_broadcast(cv))
		abort();
}

static void mark_broken(struct worker *w, const char *what, const struct db_result *res)
{
	if (w->broken)
		return;
	char text[320];
	w->broken = true;
	snprintf(w->why, sizeof w->why, "worker %d (backend pid %d) %s: %s", w->id, w->pid, what,
		 res ? db_result_text(res, text, sizeof text) : "");
}

/* A query outcome that ends the round for this worker: the connection or
 * the deadline, not the database's verdict on the flow. */
static bool fatal(const struct db_result *res)
{
	return res->status == DB_LOST || res->status == DB_TIMEOUT ||
	       res->status == DB_INTERRUPTED;
}

static void run_sql(struct worker *w, const char *sql, const char *what, struct db_result *res)
{
	db_query(w->conn, sql, 0, NULL, w->deadline_us, res);
	if (res->status != DB_OK)
		mark_broken(w, what, res);
}

/* Waits until *gen_field reaches gen; false when the deadline passes or stop. */
static bool wait_gen(struct worker *w, const long long *gen_field, long long gen)
{
	struct race *r = w->race;
	bool ok = true;
	lock(&r->mu);
	while (*gen_field < gen && !r->quit) {
		if (db_stop_requested() || clock_us() >= w->deadline_us) {
			ok = false;
			break;
		}
		wait_slice(&r->cv_workers, &r->mu);
	}
	if (r->quit)
		ok = false;
	unlock(&r->mu);
	return ok;
}

/* Evaluates the scenario's params for ctx into out; false (err names the
 * file and line) on an arithmetic error such as an overflow. */
static bool eval_key(const struct scenario *sc, const struct key_ctx *ctx, struct key_values *out,
		     char *err, size_t errlen)
{
	char why[512];
	if (key_eval(sc->params, sc->n_params, ctx, out, why, sizeof why))
		return true;
	snprintf(err, errlen, "%s:%d: params: %s (round %lld, key %lld, worker %lld)", sc->path,
		 sc->params_line, why, ctx->round, ctx->key, ctx->worker);
	return false;
}

/* Counts one attempt's final outcome. */
static void count_outcome(struct worker *w, const struct db_result *res, bool skipped)
{
	w->attempts++;
	if (res->status == DB_OK) {
		outcome_add(&w->outcomes, skipped ? "skipped" : "ok", 1);
		return;
	}
	if (res->status != DB_ERROR) {
		outcome_add(&w->outcomes, "lost", 1);
		outcome_note(&w->outcomes, "lost", res->message, 0);
		return;
	}
	outcome_add(&w->outcomes, res->sqlstate, 1);
	char msg[160];
	snprintf(msg, sizeof msg, "at %s: %s", w->where, res->message);
	outcome_note(&w->outcomes, res->sqlstate, msg, w->where_line);
	if (outcome_names_constraint(res->sqlstate))
		outcome_add(&w->constraints, res->constraint[0] ? res->constraint : "(none)", 1);
}

/* Before a retry: a random pause up to 2^tries ms (at most 64 ms), so a
 * serialization loser does not meet the same winner still committing. */
static void backoff(struct worker *w, int tries)
{
	w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
	long cap_us = 1000L << (tries < 6 ? tries : 6);
	long us = (long)((w->rng >> 33) % (unsigned long long)cap_us);
	struct timespec ts = {0, us * 1000L};
	nanosleep(&ts, NULL);
}

/* One try of the flow inside the open transaction; ends it (COMMIT or
 * ROLLBACK). Returns the final result; *skipped when a check found the row. */
static void try_flow(struct worker *w, const char *const *params, long long gen, bool hold,
		     struct db_result *res, bool *skipped)
{
	struct race *r = w->race;
	const struct scenario *sc = r->sc;
	*skipped = false;
	for (size_t i = 0; i < sc->n_flow; i++) {
		/* Each statement gets the parameters it uses: the protocol refuses extras. */
		int t = sc->flow[i].target;
		if (t > 0) { /* another target: its own connection, outside the transaction */
			db_query(w->tconn[t], sc->flow[i].text.sql, sc->flow[i].text.nparams, params,
				 w->deadline_us, res);
		} else if (w->prepared) {
			char stmt[32];
			snprintf(stmt, sizeof stmt, "pgrace_flow_%zu", i);
			db_query_prepared(w->conn, stmt, sc->flow[i].text.nparams, params,
					  w->deadline_us, res);
		} else {
			db_statement(w->conn, sc->flow[i].text.sql, sc->flow[i].text.nparams, params,
				 w->deadline_us, res);
		}
		if (res->status != DB_OK) {
			if (sc->n_targets)
				snprintf(w->where, sizeof w->where, "flow step %zu on %s", i + 1,
					 sc->targets[t]);
			else
				snprintf(w->where, sizeof w->where, "flow step %zu", i + 1);
			w->where_line = sc->flow[i].text.line;
			break;
		}
		if (PQtransactionStatus(w->conn) != PQTRANS_INTRANS) {
			/* COMMIT, ROLLBACK, a procedure that commits: the barrier and
			 * the outcome would both be lies. */
			snprintf(w->why, sizeof w->why,
				 "%s:%d: flow step %zu ended the transaction it runs in (a flow's "
				 "statements run inside one transaction that pgrace begins and commits: "
				 "no COMMIT, ROLLBACK or transaction control in a flow)",
				 sc->path, sc->flow[i].text.line, i + 1);
			w->broken = w->bad = true;
			return;
		}
		if (sc->flow[i].skip_if_found && res->rows > 0) {
			*skipped = true;
			break;
		}
	}
	if (res->status != DB_OK) {
		struct db_result rb;
		if (!fatal(res)) {
			db_query(w->conn, "ROLLBACK", 0, NULL, w->deadline_us, &rb);
			if (fatal(&rb))
				mark_broken(w, "lost its connection at ROLLBACK", &rb);
		} else {
			char what[96];
			snprintf(what, sizeof what, "could not finish the flow (%s)", w->where);
			mark_broken(w, what, res);
		}
		return;
	}
	if (hold) {
		atomic_store(&w->state, W_HELD);
		if (!wait_gen(w, &r->commit_gen, gen)) {
			mark_broken(w, "was not released to COMMIT before the deadline", NULL);
			res->status = DB_TIMEOUT;
			return;
		}
		atomic_store(&w->state, W_RUNNING);
	}
	/* Errors surface at COMMIT too: deferred constraints, serialization. */
	db_query(w->conn, "COMMIT", 0, NULL, w->deadline_us, res);
	snprintf(w->where, sizeof w->where, "COMMIT");
	w->where_line = 0;
	if (fatal(res))
		mark_broken(w, "could not COMMIT", res);
}

/* One attempt: the flow, retried after 40001/40P01 up to cfg.retries times,
 * its final outcome counted and its latency taken from t0. begun: the first
 * try's transaction is open already (a round BEGINs before the start line). */
static void attempt(struct worker *w, const char *const *params, long long gen, bool hold,
		    bool begun, uint64_t t0)
{
	struct race *r = w->race;
	const char *begin = r->begin_sql[w->iso != r->cfg.isolation];
	struct db_result res;
	bool skipped = false;
	for (int tries = 0;; tries++) {
		if (tries > 0) {
			w->retries++;
			backoff(w, tries - 1);
		}
		if (tries > 0 || !begun) {
			run_sql(w, begin, "could not BEGIN", &res);
			if (w->broken)
				return;
		}
		try_flow(w, params, gen, hold, &res, &skipped);
		if (w->broken)
			return;
		if (res.status != DB_ERROR || !outcome_retryable(res.sqlstate) ||
		    tries >= r->cfg.retries)
			break;
	}
	count_outcome(w, &res, skipped);
	hist_record(&w->latency, clock_us() - t0);
}

/* Parses and plans each flow statement once per connection, not once per
 * attempt: on the first attempt, after the phase's steps (a migration may
 * change the tables) and before the start line. Not behind a pooler (a
 * prepared statement is session state), and not when the server refuses
 * one: then every statement goes unprepared and its error surfaces in the
 * race as before. */
static void prepare_flow(struct worker *w, uint64_t deadline_us)
{
	struct race *r = w->race;
	if (w->prepare_tried || r->pooler)
		return;
	w->prepare_tried = true;
	w->prepared = true;
	for (size_t i = 0; w->prepared && i < r->sc->n_flow; i++) {
		char stmt[32];
		struct db_result res;
		if (r->sc->flow[i].target > 0)
			continue; /* runs unprepared on its target's connection */
		snprintf(stmt, sizeof stmt, "pgrace_flow_%zu", i);
		db_prepare(w->conn, stmt, r->sc->flow[i].text.sql, r->sc->flow[i].text.nparams,
			   deadline_us, &res);
		w->prepared = res.status == DB_OK;
		if (fatal(&res))
			mark_broken(w, "could not prepare the flow", &res);
	}
}

static void play_round(struct worker *w, long long gen)
{
	struct race *r = w->race;
	bool hold = r->cfg.mode == MODE_HOLD;
	struct db_result res;
	w->broken = false;
	w->first_send_us = 0;
	/* A second past the coordinator's: it diagnoses a stuck worker (who
	 * blocks it?) while the worker still waits. */
	w->deadline_us = r->deadline_us + 1000000u;
	const char *begin = r->begin_sql[w->iso != r->cfg.isolation];

	prepare_flow(w, w->deadline_us);
	if (!w->broken)
		run_sql(w, begin, "could not BEGIN", &res);
	lock(&r->mu);
	if (r->pooler && !w->broken)
		w->pid = (int)strtol(res.first_value, NULL, 10);
	r->ready++;
	broadcast(&r->cv_coord);
	unlock(&r->mu);
	if (w->broken || !wait_gen(w, &r->go_gen, gen)) {
		mark_broken(w, "was not released before the deadline", NULL);
		return;
	}
	atomic_store(&w->state, W_RUNNING);
	uint64_t t0 = clock_us();
	w->first_send_us = t0;
	attempt(w, r->per_worker ? w->round_key.ptr : r->keys[w->key].ptr, gen, hold, true, t0);
}

/* Free mode: the flow back to back, no barrier, a fresh key per attempt
 * (attempt i of worker w takes round base + i * workers + w) or one hot key.
 * Each attempt has the round budget (deadline_ms) as its deadline. */
static void play_free(struct worker *w)
{
	struct race *r = w->race;
	const struct scenario *sc = r->sc;
	w->broken = false;
	prepare_flow(w, clock_us() + (uint64_t)r->cfg.deadline_ms * 1000u);
	if (w->broken)
		return;
	w->first_send_us = clock_us();
	for (long long i = 0;; i++) {
		if (atomic_load(&r->free_stop) || db_stop_requested() ||
		    (r->free_until && clock_us() >= r->free_until))
			break;
		struct key_ctx ctx = {r->free_hot ? r->free_base : r->free_base + i * r->cfg.workers + w->id,
				      0, i, w->id};
		if (!eval_key(sc, &ctx, &w->free_key, w->why, sizeof w->why)) {
			w->broken = w->bad = true;
			return;
		}
		uint64_t t0 = clock_us();
		w->deadline_us = t0 + (uint64_t)r->cfg.deadline_ms * 1000u;
		attempt(w, w->free_key.ptr, 0, false, false, t0);
		if (w->broken)
			return;
		w->free_attempts = i + 1;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct race *r = w->race;
	char err[512];
	w->conn = db_connect(r->dsn, r->pooler ? NULL : r->schema, err, sizeof err);
	const char *failed = w->conn ? NULL : r->sc->n_targets ? r->sc->targets[0] : "";
	for (size_t t = 1; w->conn && !failed && t < r->sc->n_targets; t++) {
		w->tconn[t] = db_connect(r->targets[t], r->pooler ? NULL : r->schema, err, sizeof err);
		if (!w->tconn[t])
			failed = r->sc->targets[t];
	}
	lock(&r->mu);
	if (!failed) {
		w->pid = PQbackendPID(w->conn);
	} else {
		w->broken = true;
		snprintf(w->why, sizeof w->why, "worker %d could not connect%s%s: %s", w->id,
			 failed[0] ? " to target " : "", failed, err);
		PQfinish(w->conn);
		w->conn = NULL;
	}
	r->connected++;
	broadcast(&r->cv_coord);
	unlock(&r->mu);

	long long seen = 0;
	for (;;) {
		lock(&r->mu);
		while (r->gen == seen && !r->quit)
			wait_slice(&r->cv_workers, &r->mu);
		bool quit = r->quit;
		seen = r->gen;
		unlock(&r->mu);
		if (quit)
			break;
		if (w->conn && r->free_mode)
			play_free(w);
		else if (w->conn)
			play_round(w, seen);
		atomic_store(&w->state, W_FINISHED);
		lock(&r->mu);
		r->finished++;
		broadcast(&r->cv_coord);
		unlock(&r->mu);
	}
	return NULL;
}

/* Waits until *counter reaches n or the deadline; false on timeout or stop. */
static bool coord_wait(struct race *r, const int *counter, int n, uint64_t deadline)
{
	bool ok = true;
	lock(&r->mu);
	while (*counter < n) {
		if (db_stop_requested() || clock_us() >= deadline) {
			ok = false;
			break;
		}
		wait_slice(&r->cv_coord, &r->mu);
	}
	unlock(&r->mu);
	return ok;
}

/* Worker w's key index: uniform spreads workers evenly; hot puts half of
 * them on key 0 and spreads the rest over the others. */
static int key_of(const struct race_cfg *c, int w)
{
	if (c->keys <= 1)
		return 0;
	if (c->dist == DIST_UNIFORM)
		return w % c->keys;
	return w < c->workers / 2 ? 0 : 1 + (w % (c->keys - 1));
}

/* "{pid,...}" of the workers' backends, for the monitor's queries. */
static void build_pid_array(struct race *r)
{
	size_t cap = (size_t)r->cfg.workers * 12 + 3, len = 0;
	r->pid_array[len++] = '{';
	for (int i = 0; i < r->cfg.workers; i++)
		len += (size_t)snprintf(r->pid_array + len, cap - len, "%s%d", i ? "," : "",
					r->w[i].pid);
	snprintf(r->pid_array + len, cap - len, "}");
}

struct race *race_open(const char *dsn, const char *const *targets, const char *schema, bool pooler,
		       const struct scenario *sc, const struct race_cfg *cfg, char *err,
		       size_t errlen)
{
	struct race *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	r->sc = sc;
	r->cfg = *cfg;
	r->dsn = dsn;
	r->targets = targets;
	r->schema = schema;
	r->pooler = pooler;
	/* Through a pooler the transaction is the only state we own: set the
	 * search_path in it and learn which backend serves it (one round trip). */
	char tail[128] = "", path[96];
	if (pooler)
		snprintf(tail, sizeof tail, "; %s; SELECT pg_backend_pid()",
			 sandbox_path_sql(path, sizeof path, schema, true));
	snprintf(r->begin_sql[0], sizeof r->begin_sql[0], "BEGIN ISOLATION LEVEL %s%s",
		 isolation_sql(cfg->isolation), tail);
	snprintf(r->begin_sql[1], sizeof r->begin_sql[1], "BEGIN ISOLATION LEVEL READ COMMITTED%s",
		 tail);
	if (pthread_mutex_init(&r->mu, NULL) || pthread_cond_init(&r->cv_workers, NULL) ||
	    pthread_cond_init(&r->cv_coord, NULL))
		abort();
	r->keys = calloc((size_t)cfg->keys, sizeof *r->keys);
	r->per_worker = key_uses_worker(sc->params, sc->n_params);
	r->w = aligned_alloc(64, sizeof *r->w * (size_t)cfg->workers);
	if (!r->keys || !r->w)
		abort();
	memset(r->w, 0, sizeof *r->w * (size_t)cfg->workers);
	r->monitor = db_connect(dsn, pooler ? NULL : schema, err, errlen);
	if (!r->monitor)
		goto fail;
	/* Hold mode's barrier needs the engine's lock view; fire mode only
	 * describes a stuck round with it. */
	char why[512];
	static const struct lockview none = { /* sees nothing, says so */
		.engine = "none",
		.blocked_by_peers = "SELECT 0 WHERE $1::text IS NOT NULL",
		.blocked_from_outside = "SELECT $1::text WHERE false",
		.peers_and_deadlock_timeout = "SELECT '0 0' WHERE $1::text IS NOT NULL",
	};
	r->view = lockview_detect(r->monitor, why, sizeof why);
	if (!r->view && cfg->mode == MODE_HOLD) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	if (!r->view)
		r->view = &none;

	pthread_attr_t attr;
	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, STACK_BYTES))
		abort();
	int started = 0;
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &r->w[i];
		w->race = r;
		w->id = i;
		w->key = key_of(cfg, i);
		w->rng = 0x9E3779B97F4A7C15ull * (unsigned long long)(i + 1) ^ clock_us();
		w->iso = i < cfg->rc_workers ? ISO_READ_COMMITTED : cfg->isolation;
		hist_init(&w->latency);
		if (pthread_create(&w->thread, &attr, worker_main, w)) {
			snprintf(err, errlen, "cannot start worker thread %d of %d", i, cfg->workers);
			break;
		}
		w->started = true;
		started++;
	}
	pthread_attr_destroy(&attr);
	if (started < cfg->workers)
		goto fail;
	if (!coord_wait(r, &r->connected, cfg->workers, clock_us() + CONNECT_DEADLINE_US)) {
		snprintf(err, errlen, "%s",
			 db_stop_requested() ? "interrupted while connecting"
					     : "workers did not connect within 30 s");
		goto fail;
	}
	for (int i = 0; i < cfg->workers; i++)
		if (r->w[i].broken) {
			snprintf(err, errlen, "%s", r->w[i].why);
			goto fail;
		}
	r->pid_array = malloc((size_t)cfg->workers * 12 + 3);
	if (!r->pid_array)
		abort();
	build_pid_array(r);
	r->monitor_pid = PQbackendPID(r->monitor);
	return r;
fail:
	race_close(r);
	return NULL;
}

static bool make_params(struct race *r, long long round, long long phase_round, char *err,
			size_t errlen)
{
	for (int k = 0; k < r->cfg.keys; k++) {
		struct key_ctx ctx = {round, k, phase_round, 0};
		if (!eval_key(r->sc, &ctx, &r->keys[k], err, errlen))
			return false;
	}
	for (int i = 0; r->per_worker && i < r->cfg.workers; i++) {
		struct key_ctx ctx = {round, r->w[i].key, phase_round, i};
		if (!eval_key(r->sc, &ctx, &r->w[i].round_key, err, errlen))
			return false;
	}
	return true;
}

/* Hold mode: true once every worker has finished its statements or waits
 * on a lock held by another worker (asked of the server). */
static bool settled(struct race *r, char *err, size_t errlen, bool *failed)
{
	int running = 0;
	for (int i = 0; i < r->cfg.workers; i++) {
		int st = atomic_load(&r->w[i].state);
		if (st == W_IDLE)
			return false; /* not even past the start line yet */
		if (st == W_RUNNING)
			running++;
	}
	if (running == 0)
		return true;
	const char *params[1] = {r->pid_array};
	struct db_result res;
	db_query(r->monitor, r->view->blocked_by_peers, 1, params, r->deadline_us, &res);
	if (res.status == DB_TIMEOUT || res.status == DB_INTERRUPTED)
		return false; /* the round's deadline or a signal: the caller says which */
	if (res.status != DB_OK) {
		char text[320];
		snprintf(err, errlen, "the coordinator's connection failed: %s",
			 db_result_text(&res, text, sizeof text));
		*failed = true;
		return false;
	}
	int blocked = (int)strtol(res.first_value, NULL, 10);
	/* A worker counted blocked may have been RUNNING when we looked: only
	 * trust the count when it covers every running worker. */
	int still = 0;
	for (int i = 0; i < r->cfg.workers; i++)
		if (atomic_load(&r->w[i].state) == W_RUNNING)
			still++;
	return blocked >= still && still == running;
}

/* Who backend pid is, for a message: one of pgrace's own connections (a
 * step that left a transaction open holds locks on the setup connection),
 * or a session outside pgrace. */
static void blocker_name(const struct race *r, int pid, char *buf, size_t len)
{
	if (pid && pid == r->admin_pid)
		snprintf(buf, len,
			 "pgrace's own setup connection (pid %d): a step left a transaction open that "
			 "holds the lock",
			 pid);
	else if (pid && pid == r->monitor_pid)
		snprintf(buf, len, "pgrace's own coordinator connection (pid %d)", pid);
	else
		snprintf(buf, len, "pid %d outside pgrace", pid);
}

void race_set_admin_pid(struct race *r, int pid)
{
	r->admin_pid = pid;
}

/* Why the workers still running are stuck, from the server's view. */
static void describe_stuck(struct race *r, const char *what, char *err, size_t errlen)
{
	/* First choice: a worker blocked by a session that is not ours. */
	struct db_result res;
	const char *p1[1] = {r->pid_array};
	db_query(r->monitor, r->view->blocked_from_outside, 1, p1, clock_us() + 2000000u, &res);
	int outside = 0, victim = 0;
	if (res.status == DB_OK && res.rows > 0 &&
	    sscanf(res.first_value, "%d %d", &outside, &victim) == 2) {
		int found = -1;
		lock(&r->mu); /* behind a pooler, workers write their pid under mu */
		for (int i = 0; found < 0 && i < r->cfg.workers; i++)
			if (r->w[i].pid == victim)
				found = i;
		unlock(&r->mu);
		if (found >= 0) {
			char who[160];
			blocker_name(r, outside, who, sizeof who);
			snprintf(err, errlen, "%s: worker %d (backend pid %d) is blocked by %s", what,
				 found, victim, who);
			return;
		}
	}
	for (int i = 0; i < r->cfg.workers; i++) {
		int st = atomic_load(&r->w[i].state);
		if (st == W_RUNNING || st == W_IDLE) {
			snprintf(err, errlen, "%s: worker %d %s", what, i,
				 st == W_IDLE ? "never reached the start line"
					      : "never finished its statements");
			return;
		}
	}
	snprintf(err, errlen, "%s", what);
}

/* The rows query's answer for one key: exactly one row of one integer
 * column, never assumed. A result of another shape, or SQL the server
 * refuses as wrong, is the scenario's fault (RACE_BAD, naming file:line). */
static enum race_status rows_value(struct race *r, const struct db_result *res, long long *rows,
				   char *err, size_t errlen)
{
	const struct sql_text *q = &r->sc->rows;
	char text[320];
	if (res->status != DB_OK) {
		enum obs_status os = res->status == DB_ERROR ? OBS_ERROR : OBS_LOST;
		bool bad = judge_setup_error(os, res->sqlstate) == VERDICT_BAD_SCENARIO;
		snprintf(err, errlen, "%s:%d: rows query failed: %s", r->sc->path, q->line,
			 db_result_text(res, text, sizeof text));
		return res->status == DB_INTERRUPTED ? RACE_INTERRUPTED : bad ? RACE_BAD : RACE_BROKEN;
	}
	const char *why = NULL;
	char *end = NULL;
	errno = 0;
	if (res->columns == 0)
		why = "no result set (it must be a query)";
	else if (res->rows != 1)
		why = res->rows == 0 ? "no row" : "more than one row";
	else if (res->columns != 1)
		why = "more than one column";
	else if (res->first_null)
		why = "NULL";
	else if ((*rows = strtoll(res->first_value, &end, 10), errno || end == res->first_value ||
		  *end))
		why = "a value that is not an integer";
	else if (*rows < 0)
		why = "a negative count";
	if (!why)
		return RACE_OK;
	snprintf(err, errlen,
		 "%s:%d: the rows query returned %s (\"%.40s\", %lld rows, %d columns): it must "
		 "return exactly one row with one integer column, the key's rows, such as "
		 "SELECT count(*) FROM t WHERE k = $1",
		 r->sc->path, q->line, why, res->first_value, res->rows, res->columns);
	return RACE_BAD;
}

/* A hint for a round whose deadline passed while workers waited on locks
 * held by other workers of the round (at COMMIT: a deferred unique check,
 * a deadlock the server breaks only after deadlock_timeout); "" when none
 * do. */
static void mutual_wait_hint(struct race *r, char *hint, size_t len)
{
	const char *params[1] = {r->pid_array};
	struct db_result res;
	int waiting = 0;
	char timeout[32] = "";
	hint[0] = '\0';
	db_query(r->monitor, r->view->peers_and_deadlock_timeout, 1, params, clock_us() + 2000000u,
		 &res);
	if (res.status != DB_OK || sscanf(res.first_value, "%d %31s", &waiting, timeout) != 2 ||
	    waiting == 0)
		return;
	snprintf(hint, len,
		 "; when the deadline passed, %d workers were waiting on locks held by other workers "
		 "of the round: the workers were in deadlock with each other, which the server "
		 "breaks one 40P01 at a time, each after deadlock_timeout (%s); raise the phase's "
		 "race: {deadline_ms: N} (now %d, or --deadline-ms) well above that",
		 waiting, timeout, r->cfg.deadline_ms);
}

/* A rows query's deadline: the round's budget from now, at most 10 s. */
static uint64_t rows_deadline(const struct race *r)
{
	uint64_t budget = (uint64_t)r->cfg.deadline_ms * 1000u;
	return clock_us() + (budget < 10u * 1000000u ? budget : 10u * 1000000u);
}

/* After a rows query timed out: the session that holds an ACCESS EXCLUSIVE
 * lock on a table of the sandbox (the one lock a read waits for), as
 * "; pid N outside pgrace holds AccessExclusiveLock on T"; nothing when
 * none does. Asked once the query is cancelled, from the same connection. */
static void rows_blocker(struct race *r, char *buf, size_t len)
{
	struct db_result res;
	const char *params[1] = {r->schema};
	buf[0] = '\0';
	db_query(r->monitor,
		 "SELECT l.pid || ' ' || c.relname FROM pg_locks l "
		 "JOIN pg_class c ON c.oid = l.relation "
		 "JOIN pg_namespace n ON n.oid = c.relnamespace "
		 "WHERE n.nspname = $1 AND l.granted AND l.mode = 'AccessExclusiveLock' "
		 "AND l.pid <> pg_backend_pid() ORDER BY l.pid LIMIT 1",
		 1, params, clock_us() + 2000000u, &res);
	int pid = 0;
	char table[64] = "";
	if (res.status != DB_OK || res.rows == 0 ||
	    sscanf(res.first_value, "%d %63s", &pid, table) != 2)
		return;
	char who[160];
	blocker_name(r, pid, who, sizeof who);
	snprintf(buf, len, "; %s holds an ACCESS EXCLUSIVE lock on table %s", who, table);
}

/* Rows per key of the current keys, through the scenario's rows query. */
static enum race_status count_rows(struct race *r, struct round_result *out, char *err,
				   size_t errlen)
{
	struct db_result res;
	char text[320];
	out->rows_min = -1;
	if (r->pooler) { /* one transaction, so the search_path holds for every key */
		char sql[160];
		char path[96];
		snprintf(sql, sizeof sql, "BEGIN; %s", sandbox_path_sql(path, sizeof path, r->schema, true));
		db_query(r->monitor, sql, 0, NULL, rows_deadline(r), &res);
		if (res.status != DB_OK) {
			snprintf(err, errlen, "rows query: %s", db_result_text(&res, text, sizeof text));
			return RACE_BROKEN;
		}
	}
	for (int k = 0; k < r->cfg.keys; k++) {
		db_query(r->monitor, r->sc->rows.sql, r->sc->rows.nparams, r->keys[k].ptr,
			 rows_deadline(r), &res);
		long long rows = 0;
		enum race_status st = rows_value(r, &res, &rows, err, errlen);
		if (st != RACE_OK && res.status == DB_TIMEOUT) {
			size_t n = strlen(err);
			rows_blocker(r, err + n, errlen - n);
		}
		if (st != RACE_OK) {
			if (r->pooler)
				db_query(r->monitor, "ROLLBACK", 0, NULL, clock_us() + 2000000u, &res);
			return st;
		}
		if (out->rows_min < 0 || rows < out->rows_min)
			out->rows_min = rows;
		if (rows > out->rows_max)
			out->rows_max = rows;
		if (rows > 1)
			out->keys_with_duplicates++;
	}
	if (r->pooler) {
		db_query(r->monitor, "COMMIT", 0, NULL, rows_deadline(r), &res);
		if (res.status != DB_OK) {
			snprintf(err, errlen, "rows query: %s", db_result_text(&res, text, sizeof text));
			return RACE_BROKEN;
		}
	}
	return RACE_OK;
}

static enum race_status finish_round(struct race *r, bool all_done, bool ok, bool failed,
				     struct round_result *out, char *err, size_t errlen);

enum race_status race_round(struct race *r, long long round, long long phase_round,
			    struct round_result *out, char *err, size_t errlen)
{
	int n = r->cfg.workers;
	bool failed = false;
	memset(out, 0, sizeof *out);
	err[0] = '\0';
	if (!make_params(r, round, phase_round, err, errlen))
		return RACE_BAD;
	for (int i = 0; i < n; i++)
		atomic_store(&r->w[i].state, W_IDLE);

	uint64_t deadline = clock_us() + (uint64_t)r->cfg.deadline_ms * 1000u;
	lock(&r->mu);
	r->deadline_us = deadline;
	r->ready = r->finished = 0;
	long long gen = ++r->gen;
	broadcast(&r->cv_workers);
	unlock(&r->mu);

	bool ok = coord_wait(r, &r->ready, n, deadline);
	if (ok && r->pooler) {
		lock(&r->mu); /* the pids were written before ready++, under mu */
		build_pid_array(r);
		unlock(&r->mu);
	}
	if (!ok && !db_stop_requested()) {
		char what[96];
		snprintf(what, sizeof what, "round deadline of %d ms passed before the start line",
			 r->cfg.deadline_ms);
		describe_stuck(r, what, err, errlen);
	}
	lock(&r->mu);
	r->go_gen = gen;
	if (r->cfg.mode == MODE_FIRE || !ok)
		r->commit_gen = gen;
	broadcast(&r->cv_workers);
	unlock(&r->mu);

	if (ok && r->cfg.mode == MODE_HOLD) {
		/* Settled twice in a row: a worker seen blocked stays blocked until
		 * someone commits, and nobody commits before we say so. */
		int confirmations = 0;
		while (confirmations < 2) {
			if (settled(r, err, errlen, &failed))
				confirmations++;
			else
				confirmations = 0;
			if (failed || db_stop_requested() || clock_us() >= deadline) {
				ok = false;
				break;
			}
			if (confirmations < 2) {
				struct timespec ts = {0, 200 * 1000};
				nanosleep(&ts, NULL);
			}
		}
		if (!ok && !failed && !db_stop_requested()) {
			char what[64];
			snprintf(what, sizeof what, "round deadline of %d ms passed", r->cfg.deadline_ms);
			describe_stuck(r, what, err, errlen);
		}
		lock(&r->mu);
		r->commit_gen = gen;
		broadcast(&r->cv_workers);
		unlock(&r->mu);
	}
	/* The workers' own deadlines end every query; give cancels time to land.
	 * Workers still waiting at the round's deadline are asked about first:
	 * waits on each other are a deadlock among them, not the database's. */
	bool all_done = coord_wait(r, &r->finished, n, deadline);
	char hint[320] = "";
	if (!all_done && !db_stop_requested()) {
		mutual_wait_hint(r, hint, sizeof hint);
		all_done = coord_wait(r, &r->finished, n, deadline + 5u * 1000000u);
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

	return count_rows(r, out, err, errlen);
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
	lock(&r->mu);
	r->free_mode = true;
	r->free_hot = hot;
	r->free_base = round_base;
	atomic_store(&r->free_stop, false);
	r->free_until = duration_ms > 0 ? clock_us() + (uint64_t)duration_ms * 1000u : 0;
	r->ready = r->finished = 0;
	r->gen++;
	broadcast(&r->cv_workers);
	unlock(&r->mu);
}

enum race_status race_free_wait(struct race *r, bool stop, long long *keys_used, char *err,
				size_t errlen)
{
	err[0] = '\0';
	if (stop)
		atomic_store(&r->free_stop, true);
	/* Past free_until each worker ends its attempt in progress, bounded by
	 * that attempt's own deadline. */
	uint64_t now = clock_us();
	uint64_t deadline = (r->free_until > now ? r->free_until : now) +
			    (uint64_t)r->cfg.deadline_ms * 1000u + 5u * 1000000u;
	bool done = coord_wait(r, &r->finished, r->cfg.workers, deadline);
	if (!done)
		atomic_store(&r->free_stop, true);
	lock(&r->mu);
	r->free_mode = false;
	unlock(&r->mu);
	long long most = 0;
	for (int i = 0; i < r->cfg.workers; i++) {
		if (r->w[i].free_attempts > most)
			most = r->w[i].free_attempts;
		r->w[i].free_attempts = 0;
	}
	*keys_used = r->free_hot ? 1 : most * r->cfg.workers;
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
		memset(&w->outcomes, 0, sizeof w->outcomes);
		memset(&w->constraints, 0, sizeof w->constraints);
		hist_init(&w->latency);
	}
}

void race_join(struct race *r)
{
	if (!r || r->joined)
		return;
	lock(&r->mu);
	r->quit = true;
	r->commit_gen = r->go_gen = r->gen + 1;
	broadcast(&r->cv_workers);
	unlock(&r->mu);
	atomic_store(&r->free_stop, true);
	for (int i = 0; i < r->cfg.workers; i++) {
		struct worker *w = &r->w[i];
		if (w->started && pthread_join(w->thread, NULL))
			abort();
		w->started = false;
	}
	r->joined = true;
}

void race_close(struct race *r)
{
	if (!r)
		return;
	race_join(r);
	for (int i = 0; i < r->cfg.workers; i++) {
		if (r->w[i].conn)
			PQfinish(r->w[i].conn);
		for (size_t t = 1; t < TARGETS_MAX; t++)
			if (r->w[i].tconn[t])
				PQfinish(r->w[i].tconn[t]);
	}
	if (r->monitor)
		PQfinish(r->monitor);
	free(r->keys);
	free(r->pid_array);
	free(r->w);
	pthread_cond_destroy(&r->cv_workers);
	pthread_cond_destroy(&r->cv_coord);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
