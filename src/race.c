/* race.c: the event loops that drive the workers, and the round coordinator.
 *
 * A few loop threads (one per core unless PGRACE_THREADS says otherwise,
 * never more than workers) each own a share of the workers: their
 * connections (non-blocking libpq, watched with one epoll set per loop), their
 * counters and histograms. Each worker is a small state machine (after
 * pgbench's advanceConnectionState and wrk's event loop): a query in flight,
 * the start line, the commit line, or a pause before a retry. The
 * coordinator (the caller's thread) talks to the loops through generation
 * numbers (atomics, each loop woken through its eventfd) and hears back
 * through counters under one mutex; nothing is shared on the hot path.
 * Counters are merged after a round, when every worker has finished.
 *
 * Free runs pipeline a flow where it allows (libpq pipeline mode, prepared
 * statements, no pooler): BEGIN goes out with the first statement, the last
 * statement with COMMIT, and a statement marked skip_if_found ends a batch
 * (the next one depends on its answer). Rounds never pipeline: the start
 * line follows BEGIN, and hold mode's COMMIT waits for the coordinator. */
#include "race.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "attempt.h"
#include "db.h"
#include "lockview.h"
#include "sandbox.h"
#include "judge.h"
#include "metric.h"
#include "vlog.h"

#define STACK_BYTES (256 * 1024)
#define CONNECT_DEADLINE_US (30u * 1000000u)
#define LOOP_EVENTS 64
#define MAX_THREADS 64

/* What the coordinator sees of a worker (settled(), describe_stuck()). */
enum worker_state { W_IDLE, W_RUNNING, W_HELD, W_FINISHED };

/* Where a worker's state machine stands. */
enum wstep {
	ST_NONE,       /* nothing in flight, nothing awaited: finished for now */
	ST_QUERY,      /* a batch in flight */
	ST_START_LINE, /* a round's BEGIN is done: waiting for the go */
	ST_HELD,       /* hold mode: the statements are done, waiting for the commit */
	ST_BACKOFF,    /* pausing before a retry */
};

/* One statement of a batch. An attempt's sequence is BEGIN (0), the flow's
 * statements (1..n) and COMMIT (n + 1); a batch is one of them, or in
 * pipeline mode a run of them followed by a sync. */
enum item_kind { IT_PREPARE, IT_BEGIN, IT_STMT, IT_COMMIT, IT_ROLLBACK };

struct item {
	enum item_kind kind;
	int idx; /* IT_STMT and IT_PREPARE: the flow step */
	bool ended; /* pipelined: its command tag ended the transaction */
	uint64_t sent_us, done_us; /* when it was sent and its answer was in */
	struct db_result res;
};

struct loop;

struct worker {
	struct race *race;
	struct loop *loop;
	int id;
	int key;                 /* index of the key it races on */
	enum isolation iso;
	PGconn *conn;
	PGconn *tconn[TARGETS_MAX]; /* [t >= 1]: target t's connection, for steps on: it */
	struct slot {               /* what epoll hands back: [0] conn, [t] tconn[t] */
		struct worker *w;
		int t;
		bool watched, want_write;
	} slot[TARGETS_MAX];
	int bt;                  /* the target the batch in flight runs on (0: conn) */
	int pid;                 /* backend pid */
	atomic_int state;        /* enum worker_state, for the coordinator */
	enum wstep step;
	bool dead;               /* the connection failed while idle; dead_res says how */
	struct db_result dead_res;
	bool pipeline;           /* in libpq pipeline mode (a free run that allows it) */
	/* the batch in flight */
	struct item *items;      /* [n_flow + 2] */
	int n_items, cur;        /* items sent; the one whose results come in */
	bool cancelled;          /* the batch was cancelled (its answering item says why) */
	uint64_t grace_us;       /* after a cancel: when to give up on the answer */
	/* the attempt */
	bool at_start;           /* the batch is a round's BEGIN before the start line */
	bool at_start_counted;   /* this round's ready was reported */
	bool free_run;
	const char *const *params;
	int tries;
	bool skipped;
	uint64_t t0;             /* the attempt's start, for its latency */
	uint64_t backoff_until;
	struct db_result final;  /* a failed statement's result, while ROLLBACK runs */
	int prep_next;           /* next flow statement to prepare */
	uint64_t first_send_us;  /* this round */
	struct order_event steps[ORDER_MAX_LEN]; /* this try's steps: send and completion */
	int n_steps;
	struct step_end step_end;   /* this try's failed step: what it ended in ("" while none) */
	_Atomic uint64_t settle_us; /* hold round: when it last sent a statement or reached
				     * the commit line (a blocked worker settled at its send) */
	bool prepare_tried;      /* the flow was prepared (or tried) on this connection */
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

struct loop {
	struct race *race;
	int id;
	pthread_t thread;
	bool started;
	int epfd, evfd;
	struct worker **w; /* its workers */
	int n;
	long long gen;     /* the generation it runs */
	int active;        /* its workers not finished in this generation */
	int at_line, held; /* how many wait at the start line / the commit line */
	bool stopping;     /* the stop flag was seen: queries cancelled */
	bool changed;      /* a worker reached the commit line since the last report */
	uint64_t wake_at;  /* earliest timer of its workers, 0 = none */
	int ready, finished, connected; /* to report to the coordinator */
} __attribute__((aligned(64)));

struct race {
	const struct scenario *sc;
	struct race_cfg cfg;
	const char *dsn, *schema;
	const char *const *targets; /* [t >= 1]: conninfo of the scenario's target t */
	struct worker *w;
	struct loop *loops;
	int n_loops;
	PGconn *monitor;         /* coordinator's own connection */
	const struct lockview *view; /* the engine's lock view: hold mode asks it */
	bool pooler;             /* no session state: see race_open() */
	bool can_pipeline;       /* free runs may pipeline this flow (prepared, no pooler) */
	char begin_sql[2][192];  /* [0] cfg isolation, [1] READ COMMITTED */
	/* the coordinator's commands, read by the loops */
	atomic_llong gen, go_gen, commit_gen;
	atomic_bool quit;
	atomic_bool free_stop;
	bool joined;             /* race_join() ran: the threads are gone */
	/* set before the generation starts */
	uint64_t deadline_us;
	struct key_values *keys; /* [cfg.keys]: this round's keys (as worker 0 spells them) */
	bool per_worker;         /* params use worker: each worker has its own round_key */
	atomic_bool free_mode;
	bool free_hot;
	long long free_base;     /* round of the first free key */
	uint64_t free_until;     /* clock_us() deadline, 0 = until race_free_wait(stop) */
	/* what the loops report, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv_coord;
	int connected, ready, finished;
	char *pid_array;         /* "{pid,pid,...}" for the monitor's queries */
	int monitor_pid, admin_pid; /* pgrace's own other backends (0: unknown) */
	bool monitor_prepared;   /* the lock view's blocked_by_peers is prepared on monitor */
	/* hold-mode coordinator figures, the coordinator's own until race_totals() */
	struct hist detect;      /* last worker settled -> COMMITs released, per round */
	long long polls;         /* lock-view queries asked */
	uint64_t coord_cpu_us, round_us; /* coordinator thread CPU, and wall time, over rounds */
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

/* Wakes every loop (its epoll_wait returns): a new command is there. */
static void wake_loops(struct race *r)
{
	uint64_t one = 1;
	for (int i = 0; i < r->n_loops; i++)
		if (r->loops[i].evfd >= 0 && write(r->loops[i].evfd, &one, sizeof one) < 0 &&
		    errno != EAGAIN)
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
	const char *label = attempt_constraint_label(res->sqlstate, res->constraint);
	if (label)
		outcome_add(&w->constraints, label, 1);
}

/* ---- the worker's state machine, run by its loop ---- */

static void arm(struct loop *l, uint64_t t)
{
	if (t && (l->wake_at == 0 || t < l->wake_at))
		l->wake_at = t;
}

static PGconn *conn_of(struct worker *w, int t)
{
	return t ? w->tconn[t] : w->conn;
}

/* Watches connection t of w for input, and for room to write when
 * want_write. */
static void watch(struct worker *w, int t, bool want_write)
{
	struct slot *sl = &w->slot[t];
	struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0u), .data.ptr = sl};
	if (epoll_ctl(w->loop->epfd, sl->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      PQsocket(conn_of(w, t)), &ev) == 0) {
		sl->watched = true;
		sl->want_write = want_write;
	}
}

static void unwatch(struct worker *w, int t)
{
	struct slot *sl = &w->slot[t];
	if (sl->watched)
		epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, PQsocket(conn_of(w, t)), NULL);
	sl->watched = false;
	sl->want_write = false;
}

/* The connection is not to be used again; res says why. */
static void bury(struct worker *w, const struct db_result *res)
{
	w->dead = true;
	w->dead_res = *res;
	for (int t = 0; t < TARGETS_MAX; t++)
		unwatch(w, t);
}

static void leave_pipeline(struct worker *w)
{
	if (!w->pipeline)
		return;
	w->pipeline = false;
	if (!w->dead && PQexitPipelineMode(w->conn) != 1) {
		struct db_result res;
		memset(&res, 0, sizeof res);
		res.status = DB_LOST;
		snprintf(res.message, sizeof res.message, "could not leave pipeline mode");
		bury(w, &res);
	}
}

/* w is done with this generation: the coordinator hears of it. */
static void finish(struct worker *w)
{
	struct loop *l = w->loop;
	if (w->step == ST_START_LINE)
		l->at_line--;
	if (w->step == ST_HELD)
		l->held--;
	w->step = ST_NONE;
	leave_pipeline(w);
	if (!w->free_run && !w->at_start_counted) {
		w->at_start_counted = true; /* a round counts every worker at its start line */
		l->ready++;
	}
	atomic_store(&w->state, W_FINISHED);
	l->active--;
	l->finished++;
}

static struct db_result *answering(struct worker *w)
{
	return &w->items[w->cur < w->n_items ? w->cur : w->n_items - 1].res;
}

static void evaluate(struct worker *w);

/* The batch is over: every answer is in, or the connection failed. */
static void complete(struct worker *w)
{
	w->step = ST_NONE;
	evaluate(w);
}

/* A send failed: every item of the batch failed the same way. */
static void send_failed(struct worker *w, int upto)
{
	struct db_result res = w->items[upto].res;
	w->n_items = upto + 1;
	for (int i = 0; i <= upto; i++)
		w->items[i].res = res;
	bury(w, &res);
	complete(w);
}

/* Flushes what libpq holds for w (non-blocking); false when that failed
 * (the batch is then complete, as lost). */
static bool flush(struct worker *w)
{
	PGconn *c = conn_of(w, w->bt);
	int f = PQflush(c);
	if (f < 0) {
		db_result_lost(c, answering(w));
		bury(w, answering(w));
		complete(w);
		return false;
	}
	if ((f == 1) != w->slot[w->bt].want_write)
		watch(w, w->bt, f == 1);
	return true;
}

/* Sends items [0, n_items) as one batch: one query, or in pipeline mode
 * the run of them and a sync. */
static void send_batch(struct worker *w)
{
	struct race *r = w->race;
	const struct scenario *sc = r->sc;
	w->bt = w->items[0].kind == IT_STMT ? sc->flow[w->items[0].idx].target : 0;
	if (!w->free_run)
		atomic_store(&w->settle_us, clock_us());
	PGconn *c = conn_of(w, w->bt);
	w->cur = 0;
	w->cancelled = false;
	w->step = ST_QUERY;
	arm(w->loop, w->deadline_us);
	if (w->dead) {
		for (int i = 0; i < w->n_items; i++)
			w->items[i].res = w->dead_res;
		complete(w);
		return;
	}
	for (int i = 0; i < w->n_items; i++) {
		struct item *it = &w->items[i];
		char stmt[32];
		bool sent = false;
		it->sent_us = clock_us();
		it->done_us = 0;
		snprintf(stmt, sizeof stmt, "pgrace_flow_%d", it->idx);
		switch (it->kind) {
		case IT_PREPARE:
			sent = db_send(c, DB_SEND_PREPARE, stmt, sc->flow[it->idx].text.sql,
				       sc->flow[it->idx].text.nparams, NULL, &it->res);
			break;
		case IT_BEGIN:
			sent = db_send(c, DB_SEND_SCRIPT, NULL, r->begin_sql[w->iso != r->cfg.isolation], 0,
				       NULL, &it->res);
			break;
		case IT_STMT:
			/* Each statement gets the parameters it uses (the protocol
			 * refuses extras), and runs alone: never a string of several.
			 * A step on another target runs on that target's connection,
			 * outside the transaction (its own implicit one). */
			if (w->prepared && w->bt == 0)
				sent = db_send(c, DB_SEND_PREPARED, stmt, NULL, sc->flow[it->idx].text.nparams,
					       w->params, &it->res);
			else
				sent = db_send(c, DB_SEND_ONE, NULL, sc->flow[it->idx].text.sql,
					       sc->flow[it->idx].text.nparams, w->params, &it->res);
			break;
		case IT_COMMIT:
			sent = db_send(c, DB_SEND_SCRIPT, NULL, "COMMIT", 0, NULL, &it->res);
			break;
		case IT_ROLLBACK:
			sent = db_send(c, DB_SEND_SCRIPT, NULL, "ROLLBACK", 0, NULL, &it->res);
			break;
		}
		it->ended = false;
		if (!sent) {
			send_failed(w, i);
			return;
		}
	}
	if (w->pipeline && !PQpipelineSync(c)) {
		db_result_lost(c, &w->items[w->n_items - 1].res);
		send_failed(w, w->n_items - 1);
		return;
	}
	flush(w);
}

static void send_one(struct worker *w, enum item_kind kind, int idx)
{
	w->items[0].kind = kind;
	w->items[0].idx = idx;
	w->n_items = 1;
	send_batch(w);
}

/* Goes on with the attempt from sequence index seq (0 BEGIN, 1..n the
 * flow's statements, n + 1 COMMIT). In hold mode COMMIT waits for the
 * coordinator. In pipeline mode the batch runs on to COMMIT, or to a
 * statement whose answer decides what follows (skip_if_found). */
static void send_from(struct worker *w, int seq, bool hold)
{
	const struct scenario *sc = w->race->sc;
	int n = (int)sc->n_flow;
	if (seq == 0 && w->race->cfg.autocommit)
		seq = 1; /* autocommit: no BEGIN (and no COMMIT: see evaluate()) */
	if (seq == n + 1 && hold) {
		w->step = ST_HELD;
		w->loop->held++;
		arm(w->loop, w->deadline_us);
		atomic_store(&w->settle_us, clock_us());
		atomic_store(&w->state, W_HELD);
		w->loop->changed = true; /* the coordinator may be waiting for this one */
		return;
	}
	w->n_items = 0;
	for (int k = seq; k <= n + 1; k++) {
		struct item *it = &w->items[w->n_items++];
		it->kind = k == 0 ? IT_BEGIN : k == n + 1 ? IT_COMMIT : IT_STMT;
		it->idx = k - 1;
		if (!w->pipeline || k == n + 1 || (k >= 1 && k < n && sc->flow[k - 1].skip_if_found))
			break;
		if (k < n && sc->flow[k].target > 0)
			break; /* the next step runs on another connection */
	}
	send_batch(w);
}

static uint64_t backoff_us(struct worker *w, int tries)
{
	w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
	unsigned long long cap_us = 1000ull << (tries < 6 ? tries : 6);
	return (w->rng >> 33) % cap_us;
}

static void next_free(struct worker *w);

/* One try ended with res (COMMIT's answer, or a failed statement's after
 * its ROLLBACK): retry after 40001/40P01 up to cfg.retries times, after a
 * random pause up to 2^tries ms (at most 64 ms), so a serialization loser
 * does not meet the same winner still committing; else count the attempt. */
static void try_end(struct worker *w, const struct db_result *res)
{
	struct race *r = w->race;
	if (res->status == DB_ERROR && outcome_retryable(res->sqlstate) && w->tries < r->cfg.retries) {
		w->tries++;
		w->retries++;
		w->skipped = false;
		w->backoff_until = clock_us() + backoff_us(w, w->tries - 1);
		w->step = ST_BACKOFF;
		arm(w->loop, w->backoff_until);
		return;
	}
	count_outcome(w, res, w->skipped);
	hist_record(&w->latency, clock_us() - w->t0);
	if (!w->free_run) {
		finish(w);
		return;
	}
	w->free_attempts++;
	next_free(w);
}

/* A round's BEGIN is done: to the start line. Behind a pooler BEGIN also
 * told which backend serves the transaction. */
static void at_start_line(struct worker *w, const struct db_result *res)
{
	struct race *r = w->race;
	if (r->pooler) {
		lock(&r->mu); /* describe_stuck() reads pids under mu */
		w->pid = (int)strtol(res->first_value, NULL, 10);
		unlock(&r->mu);
	}
	w->at_start_counted = true;
	w->loop->ready++;
	w->step = ST_START_LINE;
	w->loop->at_line++;
	arm(w->loop, w->deadline_us);
}

static void round_begin(struct worker *w)
{
	if (w->race->cfg.autocommit) { /* no transaction to open: straight to the start line */
		struct db_result none;
		memset(&none, 0, sizeof none);
		at_start_line(w, &none);
		return;
	}
	w->at_start = true;
	send_one(w, IT_BEGIN, 0);
}

static void free_go(struct worker *w)
{
	struct race *r = w->race;
	if (r->can_pipeline && w->prepared && !w->dead && PQenterPipelineMode(w->conn) == 1)
		w->pipeline = true;
	w->first_send_us = clock_us();
	next_free(w);
}

static void after_prepare(struct worker *w)
{
	if (w->free_run)
		free_go(w);
	else
		round_begin(w);
}

/* The first flow step from i on that runs on the worker's own connection
 * (steps on another target run unprepared there); n_flow when none. */
static int next_preparable(const struct scenario *sc, int i)
{
	while (i < (int)sc->n_flow && sc->flow[i].target > 0)
		i++;
	return i;
}

/* Parses and plans each flow statement once per connection, not once per
 * attempt: on the first attempt, after the phase's steps (a migration may
 * change the tables) and before the start line. Not behind a pooler (a
 * prepared statement is session state), and not when the server refuses
 * one: then every statement goes unprepared and its error surfaces in the
 * race as before. */
static void prepare_or_go(struct worker *w)
{
	struct race *r = w->race;
	if (w->prepare_tried || r->pooler || r->sc->n_flow == 0) {
		after_prepare(w);
		return;
	}
	w->prepare_tried = true;
	w->prepared = true;
	if (next_preparable(r->sc, 0) < (int)r->sc->n_flow)
		send_one(w, IT_PREPARE, next_preparable(r->sc, 0));
	else
		after_prepare(w);
}

/* Whether flow statement item i of the batch ended the transaction it ran
 * in. Unpipelined, the connection's transaction status says so exactly.
 * Pipelined, the status is known only at the sync, so each statement's
 * command tag is looked at (collect() sets the item's ended), and a batch that
 * ends on a statement must leave the transaction open. */
static bool ended_transaction(struct worker *w, int i)
{
	if (!w->pipeline)
		return PQtransactionStatus(w->conn) != PQTRANS_INTRANS;
	if (w->items[i].ended)
		return true;
	return i == w->n_items - 1 && PQtransactionStatus(w->conn) != PQTRANS_INTRANS;
}

/* What a batch's answers mean, item by item, and what comes next. */
/* Records a flow statement's or COMMIT's send and completion (step n_flow
 * is COMMIT) for the try under way: a fire round that duplicates reports
 * the order. */
static void note_step(struct worker *w, int step, const struct item *it)
{
	if (w->n_steps < ORDER_MAX_LEN)
		w->steps[w->n_steps++] = (struct order_event){w->id, step, it->sent_us,
							      it->done_us ? it->done_us : clock_us()};
	if (it->res.status != DB_OK) {
		snprintf(w->step_end.outcome, sizeof w->step_end.outcome, "%s",
			 it->res.sqlstate[0] ? it->res.sqlstate : "error");
		snprintf(w->step_end.constraint, sizeof w->step_end.constraint, "%s", it->res.constraint);
	}
}

static void evaluate(struct worker *w)
{
	struct race *r = w->race;
	const struct scenario *sc = r->sc;
	int n = (int)sc->n_flow, next = -1;
	for (int i = 0; i < w->n_items; i++) {
		struct item *it = &w->items[i];
		struct db_result *res = &it->res;
		switch (it->kind) {
		case IT_PREPARE:
			w->prepared = res->status == DB_OK;
			if (fatal(res)) {
				mark_broken(w, "could not prepare the flow", res);
				finish(w);
			} else if (w->prepared && next_preparable(sc, it->idx + 1) < n) {
				send_one(w, IT_PREPARE, next_preparable(sc, it->idx + 1));
			} else {
				after_prepare(w);
			}
			return;
		case IT_BEGIN:
			w->n_steps = 0; /* a try begins: only the last one's steps count */
			w->step_end = (struct step_end){"", ""};
			if (res->status != DB_OK) {
				mark_broken(w, "could not BEGIN", res);
				finish(w);
				return;
			}
			if (w->at_start) {
				w->at_start = false;
				at_start_line(w, res);
				return;
			}
			next = 1;
			break;
		case IT_STMT:
			note_step(w, it->idx, it);
			if (res->status != DB_OK) {
				if (sc->n_targets)
					snprintf(w->where, sizeof w->where, "flow step %d on %s", it->idx + 1,
						 sc->targets[sc->flow[it->idx].target]);
				else
					snprintf(w->where, sizeof w->where, "flow step %d", it->idx + 1);
				w->where_line = sc->flow[it->idx].text.line;
				if (fatal(res)) {
					char what[96];
					snprintf(what, sizeof what, "could not finish the flow (%s)", w->where);
					mark_broken(w, what, res);
					finish(w);
				} else if (r->cfg.autocommit) {
					try_end(w, res); /* its own transaction is over already */
				} else {
					w->final = *res;
					send_one(w, IT_ROLLBACK, 0);
				}
				return;
			}
			if (!r->cfg.autocommit && ended_transaction(w, i)) {
				/* COMMIT, ROLLBACK, a procedure that commits: the barrier
				 * and the outcome would both be lies. */
				snprintf(w->why, sizeof w->why,
					 "%s:%d: flow step %d ended the transaction it runs in (a flow's "
					 "statements run inside one transaction that pgrace begins and "
					 "commits: no COMMIT, ROLLBACK or transaction control in a flow)",
					 sc->path, sc->flow[it->idx].text.line, it->idx + 1);
				w->broken = w->bad = true;
				finish(w);
				return;
			}
			if (sc->flow[it->idx].skip_if_found && res->rows > 0) {
				w->skipped = true;
				next = n + 1;
			} else {
				next = it->idx + 2;
			}
			if (next == n + 1 && r->cfg.autocommit) {
				try_end(w, res); /* autocommit: nothing to COMMIT */
				return;
			}
			break;
		case IT_COMMIT:
			note_step(w, n, it);
			/* Errors surface at COMMIT too: deferred constraints, serialization. */
			snprintf(w->where, sizeof w->where, "COMMIT");
			w->where_line = 0;
			if (fatal(res)) {
				mark_broken(w, "could not COMMIT", res);
				finish(w);
			} else {
				try_end(w, res);
			}
			return;
		case IT_ROLLBACK:
			if (fatal(res)) {
				mark_broken(w, "lost its connection at ROLLBACK", res);
				finish(w);
			} else {
				try_end(w, &w->final);
			}
			return;
		}
	}
	if (next < 0) { /* an empty batch cannot be sent */
		mark_broken(w, "had nothing to send", NULL);
		finish(w);
		return;
	}
	send_from(w, next, r->cfg.mode == MODE_HOLD && !w->free_run);
}

/* Free mode: the flow back to back, no barrier, a fresh key per attempt
 * (attempt i of worker w takes round base + i * workers + w) or one hot key.
 * Each attempt has the round budget (deadline_ms) as its deadline. */
static void next_free(struct worker *w)
{
	struct race *r = w->race;
	if (atomic_load(&r->free_stop) || db_stop_requested() ||
	    (r->free_until && clock_us() >= r->free_until)) {
		finish(w);
		return;
	}
	long long i = w->free_attempts;
	struct key_ctx ctx = {r->free_hot ? r->free_base : r->free_base + i * r->cfg.workers + w->id, 0,
			      i, w->id};
	if (!eval_key(r->sc, &ctx, &w->free_key, w->why, sizeof w->why)) {
		w->broken = w->bad = true;
		finish(w);
		return;
	}
	w->params = w->free_key.ptr;
	w->t0 = clock_us();
	w->deadline_us = w->t0 + (uint64_t)r->cfg.deadline_ms * 1000u;
	w->tries = 0;
	w->skipped = false;
	send_from(w, 0, false);
}

/* Reads w's answers; in pipeline mode one result per item, then the sync. */
static void collect(struct worker *w)
{
	PGconn *c = conn_of(w, w->bt);
	if (!w->pipeline) {
		if (db_poll(c, &w->items[0].res)) {
			w->items[0].done_us = clock_us();
			if (PQstatus(c) == CONNECTION_BAD && w->bt == 0)
				bury(w, &w->items[0].res);
			complete(w);
		}
		return;
	}
	if (!PQconsumeInput(c)) {
		db_result_lost(c, answering(w));
		bury(w, answering(w));
		complete(w);
		return;
	}
	/* Bounded: each turn takes one result libpq has parsed already. */
	for (int nulls = 0; nulls < 2;) {
		if (PQstatus(c) == CONNECTION_BAD) {
			db_result_lost(c, answering(w));
			bury(w, answering(w));
			complete(w);
			return;
		}
		if (PQisBusy(c))
			return;
		PGresult *res = PQgetResult(c);
		if (!res) { /* the end of one statement's results */
			if (w->cur < w->n_items)
				w->items[w->cur++].done_us = clock_us();
			else
				nulls++;
			continue;
		}
		nulls = 0;
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			if (!PQisBusy(c))
				PQclear(PQgetResult(c)); /* the NULL that follows a sync */
			complete(w);
			return;
		}
		struct db_result *into = answering(w);
		if (st == PGRES_PIPELINE_ABORTED) {
			if (into->status == DB_OK) {
				into->status = DB_LOST;
				snprintf(into->message, sizeof into->message,
					 "not run: an earlier statement of its pipeline failed");
			}
		} else {
			db_take_result(c, res, into);
			const char *tag = PQcmdStatus(res);
			if (tag && (!strncmp(tag, "COMMIT", 6) || !strncmp(tag, "ROLLBACK", 8) ||
				    !strncmp(tag, "PREPARE TRANSACTION", 19)))
				w->items[w->cur < w->n_items ? w->cur : w->n_items - 1].ended = true;
		}
		PQclear(res);
	}
}

/* Input on connection t with no query in flight: a notice, or its end
 * (the worker's own connection ends the worker; a target's is left to fail
 * its next query). */
static void idle_input(struct worker *w, int t)
{
	PGconn *c = conn_of(w, t);
	if (w->dead)
		return;
	if (PQconsumeInput(c) && PQstatus(c) != CONNECTION_BAD) {
		PGnotify *nf;
		while ((nf = PQnotifies(c)) != NULL)
			PQfreemem(nf);
		return;
	}
	if (t > 0) {
		unwatch(w, t);
		return;
	}
	struct db_result res;
	memset(&res, 0, sizeof res);
	db_result_lost(c, &res);
	bury(w, &res);
}

static void on_io(struct slot *sl, uint32_t events)
{
	struct worker *w = sl->w;
	bool batch = w->step == ST_QUERY && w->bt == sl->t;
	if ((events & EPOLLOUT) && batch && !flush(w))
		return;
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (batch)
		collect(w);
	else
		idle_input(w, sl->t);
}

static void cancel_query(struct worker *w, int sig, uint64_t now)
{
	db_cancel(conn_of(w, w->bt));
	db_mark_cancelled(sig, answering(w));
	w->cancelled = true;
	w->grace_us = now + DB_CANCEL_GRACE_S * 1000000u;
	arm(w->loop, w->grace_us);
}

/* The waits that end without the coordinator: at the start line or the
 * commit line (the deadline, a signal, race_join()). */
static void end_wait(struct worker *w)
{
	mark_broken(w,
		    w->step == ST_HELD ? "was not released to COMMIT before the deadline"
				       : "was not released before the deadline",
		    NULL);
	finish(w);
}

/* Fires every timer due at now, re-arms the rest. */
static void timers(struct loop *l, uint64_t now)
{
	l->wake_at = 0;
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		switch (w->step) {
		case ST_QUERY:
			if (!w->cancelled && now >= w->deadline_us) {
				cancel_query(w, 0, now);
			} else if (w->cancelled && now >= w->grace_us) {
				db_cancel_unanswered(answering(w));
				bury(w, answering(w));
				complete(w);
			} else {
				arm(l, w->cancelled ? w->grace_us : w->deadline_us);
			}
			break;
		case ST_START_LINE:
		case ST_HELD:
			if (now >= w->deadline_us)
				end_wait(w);
			else
				arm(l, w->deadline_us);
			break;
		case ST_BACKOFF:
			if (now >= w->backoff_until)
				send_from(w, 0, false);
			else
				arm(l, w->backoff_until);
			break;
		case ST_NONE:
			break;
		}
	}
}

/* The stop flag is up: cancel every query in flight, end every wait. */
static void stop_all(struct loop *l, int sig)
{
	uint64_t now = clock_us();
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		if (w->step == ST_QUERY && !w->cancelled)
			cancel_query(w, sig, now);
		else if (w->step == ST_START_LINE || w->step == ST_HELD)
			end_wait(w);
	}
}

/* The coordinator said go: every worker at the start line sends its first
 * statement, back to back. */
static void release_start(struct loop *l)
{
	struct race *r = l->race;
	for (int i = 0; l->at_line > 0 && i < l->n; i++) {
		struct worker *w = l->w[i];
		if (w->step != ST_START_LINE)
			continue;
		l->at_line--;
		w->step = ST_NONE;
		atomic_store(&w->state, W_RUNNING);
		w->params = r->per_worker ? w->round_key.ptr : r->keys[w->key].ptr;
		w->tries = 0;
		w->skipped = false;
		w->t0 = clock_us();
		w->first_send_us = w->t0;
		send_from(w, 1, r->cfg.mode == MODE_HOLD);
	}
}

/* The coordinator released the commits. */
static void release_commit(struct loop *l)
{
	for (int i = 0; l->held > 0 && i < l->n; i++) {
		struct worker *w = l->w[i];
		if (w->step != ST_HELD)
			continue;
		l->held--;
		w->step = ST_NONE;
		atomic_store(&w->state, W_RUNNING);
		send_one(w, IT_COMMIT, 0);
	}
}

/* A new generation: a round, or a free run. */
static void begin_generation(struct loop *l)
{
	struct race *r = l->race;
	bool free_mode = atomic_load(&r->free_mode);
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		w->broken = false;
		w->free_run = free_mode;
		w->at_start = false;
		w->at_start_counted = free_mode;
		w->first_send_us = 0;
		w->step = ST_NONE;
		l->active++;
		if (!w->conn) {
			finish(w);
			continue;
		}
		if (free_mode) {
			w->deadline_us = clock_us() + (uint64_t)r->cfg.deadline_ms * 1000u;
		} else {
			/* A second past the coordinator's: it diagnoses a stuck
			 * worker (who blocks it?) while the worker still waits. */
			w->deadline_us = r->deadline_us + 1000000u;
		}
		prepare_or_go(w);
	}
}

/* Tells the coordinator what changed since the last report. */
static void report(struct loop *l)
{
	struct race *r = l->race;
	if (!l->ready && !l->finished && !l->connected && !l->changed)
		return;
	l->changed = false;
	lock(&r->mu);
	r->ready += l->ready;
	r->finished += l->finished;
	r->connected += l->connected;
	broadcast(&r->cv_coord);
	unlock(&r->mu);
	l->ready = l->finished = l->connected = 0;
}

/* Connects the loop's workers, one after the other, before any round. */
static void connect_workers(struct loop *l)
{
	struct race *r = l->race;
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		char err[512];
		if (db_stop_requested() || atomic_load(&r->quit)) {
			w->broken = true;
			snprintf(w->why, sizeof w->why, "worker %d was not connected: interrupted", w->id);
		} else {
			w->conn = db_connect(r->dsn, r->pooler ? NULL : r->schema, err, sizeof err);
			vlog_worker(w->conn, w->id, false);
			const char *failed = w->conn ? NULL : r->sc->n_targets ? r->sc->targets[0] : "";
			for (size_t t = 1; w->conn && !failed && t < r->sc->n_targets; t++) {
				w->tconn[t] = db_connect(r->targets[t], r->pooler ? NULL : r->schema, err,
							 sizeof err);
				if (!w->tconn[t])
					failed = r->sc->targets[t];
			}
			for (size_t t = 0; !failed && t < TARGETS_MAX; t++)
				if (conn_of(w, (int)t) && PQsetnonblocking(conn_of(w, (int)t), 1) != 0) {
					snprintf(err, sizeof err, "cannot make the connection non-blocking");
					failed = "";
				}
			if (failed) {
				w->broken = true;
				snprintf(w->why, sizeof w->why, "worker %d could not connect%s%s: %s", w->id,
					 failed[0] ? " to target " : "", failed, err);
				PQfinish(w->conn);
				w->conn = NULL;
			} else {
				w->pid = PQbackendPID(w->conn);
				for (int t = 0; t < TARGETS_MAX; t++)
					if (conn_of(w, t))
						watch(w, t, false);
			}
		}
		l->connected++;
		report(l);
	}
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct race *r = l->race;
	struct epoll_event ev[LOOP_EVENTS];
	connect_workers(l);
	for (;;) {
		bool quit = atomic_load(&r->quit);
		long long gen = atomic_load(&r->gen);
		if (!quit && l->active == 0 && gen != l->gen) {
			l->gen = gen;
			begin_generation(l);
		}
		if (!quit && l->at_line && atomic_load(&r->go_gen) >= l->gen)
			release_start(l);
		if (!quit && l->held && atomic_load(&r->commit_gen) >= l->gen)
			release_commit(l);
		int sig = db_stop_requested();
		if (sig || quit) {
			for (int i = 0; quit && (l->at_line || l->held) && i < l->n; i++)
				if (l->w[i]->step == ST_START_LINE || l->w[i]->step == ST_HELD)
					end_wait(l->w[i]);
			if (sig)
				stop_all(l, sig);
		}
		uint64_t now = clock_us();
		if (l->wake_at && now >= l->wake_at)
			timers(l, now);
		report(l);
		if (quit && l->active == 0)
			break;
		int ms = 50;
		if (l->wake_at) {
			uint64_t until = l->wake_at > now ? l->wake_at - now : 0;
			if (until < 50000)
				ms = (int)((until + 999) / 1000);
		}
		int k = epoll_wait(l->epfd, ev, LOOP_EVENTS, ms);
		for (int i = 0; i < k; i++) {
			if (!ev[i].data.ptr) {
				uint64_t v;
				if (read(l->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
					abort();
				continue;
			}
			on_io(ev[i].data.ptr, ev[i].events);
		}
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
	/* A flow with steps on other targets is not pipelined: those steps run
	 * on connections of their own, between the pipeline's. */
	r->can_pipeline = !pooler && pipeline_wanted() && sc->n_targets <= 1 && !cfg->autocommit;
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
	if (pthread_mutex_init(&r->mu, NULL) || pthread_cond_init(&r->cv_coord, NULL))
		abort();
	hist_init(&r->detect);
	r->keys = calloc((size_t)cfg->keys, sizeof *r->keys);
	r->per_worker = key_uses_worker(sc->params, sc->n_params);
	r->w = aligned_alloc(64, sizeof *r->w * (size_t)cfg->workers);
	if (!r->keys || !r->w)
		abort();
	memset(r->w, 0, sizeof *r->w * (size_t)cfg->workers);
	const char *refusal = scenario_autocommit_refusal(cfg, pooler);
	if (refusal) {
		snprintf(err, errlen, "%s", refusal);
		goto fail;
	}
	r->n_loops = race_threads(cfg->workers, err, errlen);
	if (r->n_loops == 0)
		goto fail;
	r->loops = aligned_alloc(64, sizeof *r->loops * (size_t)r->n_loops);
	if (!r->loops)
		abort();
	memset(r->loops, 0, sizeof *r->loops * (size_t)r->n_loops);
	for (int i = 0; i < r->n_loops; i++) /* a failed open closes only what it made */
		r->loops[i].epfd = r->loops[i].evfd = -1;
	for (int i = 0; i < r->n_loops; i++) {
		struct loop *l = &r->loops[i];
		l->race = r;
		l->id = i;
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->w = calloc((size_t)cfg->workers / (size_t)r->n_loops + 1, sizeof *l->w);
		if (!l->w)
			abort();
		if (l->epfd >= 0)
			l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		if (l->epfd < 0 || l->evfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev)) {
			snprintf(err, errlen, "cannot set up event loop %d: %s", i, strerror(errno));
			goto fail;
		}
	}
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &r->w[i];
		struct loop *l = &r->loops[i % r->n_loops];
		w->race = r;
		w->loop = l;
		w->id = i;
		w->key = key_of(cfg, i);
		w->rng = 0x9E3779B97F4A7C15ull * (unsigned long long)(i + 1) ^ clock_us();
		w->iso = i < cfg->rc_workers ? ISO_READ_COMMITTED : cfg->isolation;
		w->items = calloc(sc->n_flow + 2, sizeof *w->items);
		for (int t = 0; t < TARGETS_MAX; t++)
			w->slot[t] = (struct slot){.w = w, .t = t};
		if (!w->items)
			abort();
		hist_init(&w->latency);
		l->w[l->n++] = w;
	}
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
	/* The barrier's query, parsed and planned once (not through a pooler,
	 * where a prepared statement may land on another server connection). */
	if (cfg->mode == MODE_HOLD && !pooler) {
		struct db_result pres;
		db_prepare(r->monitor, "pgrace_blocked_by_peers", r->view->blocked_by_peers, 1,
			   clock_us() + 10u * 1000000u, &pres);
		r->monitor_prepared = pres.status == DB_OK;
	}

	pthread_attr_t attr;
	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, STACK_BYTES))
		abort();
	int started = 0;
	for (int i = 0; i < r->n_loops; i++) {
		if (pthread_create(&r->loops[i].thread, &attr, loop_main, &r->loops[i])) {
			snprintf(err, errlen, "cannot start event loop thread %d of %d", i, r->n_loops);
			break;
		}
		r->loops[i].started = true;
		started++;
	}
	pthread_attr_destroy(&attr);
	if (started < r->n_loops)
		goto fail;
	if (!coord_wait(r, &r->connected, cfg->workers, clock_us() + CONNECT_DEADLINE_US)) {
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
	r->polls++;
	if (r->monitor_prepared)
		db_query_prepared(r->monitor, "pgrace_blocked_by_peers", 1, params, r->deadline_us,
				  &res);
	else
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
	/* One row, one integer column: never assumed. */
	char *end = NULL;
	errno = 0;
	long blocked = res.rows == 1 && res.columns == 1 && !res.first_null
			       ? strtol(res.first_value, &end, 10)
			       : -1;
	if (blocked < 0 || errno || !end || *end) {
		snprintf(err, errlen,
			 "the %s lock view's blocked-workers query returned %lld rows of %d columns "
			 "(\"%.40s\"), not one count",
			 r->view->engine, res.rows, res.columns, res.first_value);
		*failed = true;
		return false;
	}
	/* A worker counted blocked may have been RUNNING when we looked: only
	 * trust the count when it covers every running worker. */
	int still = 0;
	for (int i = 0; i < r->cfg.workers; i++)
		if (atomic_load(&r->w[i].state) == W_RUNNING)
			still++;
	return blocked >= still && still == running;
}

/* CPU time of the calling thread, microseconds. */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Sleeps on cv_coord for at most us microseconds: a worker reaching the
 * commit line (a loop's report) wakes it early. */
static void coord_nap(struct race *r, uint64_t us)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(us * 1000u);
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	lock(&r->mu);
	int rc = pthread_cond_timedwait(&r->cv_coord, &r->mu, &ts);
	unlock(&r->mu);
	if (rc && rc != ETIMEDOUT)
		abort();
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
	const char *why;
	attempt_rows_value(res, rows, &why);
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
		if (rows > 1) {
			out->keys_with_duplicates++;
			out->extra_rows += rows - 1;
		}
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

/* A fire or hold round on one key: each step's send, completion and what
 * it ended in, from each worker's own record (read after the round, when
 * every worker is parked); when it duplicated, the order its workers' steps
 * were sent in. */
static void observe_order(struct race *r, struct round_result *out)
{
	struct order_event all[ORDER_MAX_EVENTS];
	size_t n = 0;
	for (int i = 0; i < r->cfg.workers; i++)
		for (int j = 0; j < r->w[i].n_steps && n < ORDER_MAX_EVENTS; j++)
			all[n++] = r->w[i].steps[j];
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
		atomic_store(&r->w[i].state, W_IDLE);

	uint64_t deadline = clock_us() + (uint64_t)r->cfg.deadline_ms * 1000u;
	lock(&r->mu);
	r->ready = r->finished = 0;
	unlock(&r->mu);
	r->deadline_us = deadline;
	atomic_store(&r->free_mode, false);
	long long gen = atomic_fetch_add(&r->gen, 1) + 1;
	wake_loops(r);

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
	if (r->cfg.mode == MODE_FIRE || !ok)
		atomic_store(&r->commit_gen, gen);
	atomic_store(&r->go_gen, gen);
	wake_loops(r);

	if (ok && r->cfg.mode == MODE_HOLD) {
		/* Settled twice in a row: a worker seen blocked stays blocked until
		 * someone commits, and nobody commits before we say so. Between
		 * polls the coordinator backs off (25 us doubling to 400 us: each
		 * poll costs the server a lock-table scan), and a worker reaching
		 * the commit line wakes it at once. */
		uint64_t nap = 25;
		int confirmations = 0;
		while (confirmations < 2) {
			if (settled(r, err, errlen, &failed)) {
				confirmations++;
				nap = 25;
			} else {
				confirmations = 0;
			}
			if (failed || db_stop_requested() || clock_us() >= deadline) {
				ok = false;
				break;
			}
			if (confirmations == 0) {
				coord_nap(r, nap);
				nap = nap * 2 > 400 ? 400 : nap * 2;
			}
		}
		uint64_t released = clock_us(), last = 0;
		for (int i = 0; ok && i < n; i++) {
			uint64_t t = atomic_load(&r->w[i].settle_us);
			if (t > last)
				last = t;
		}
		if (ok)
			hist_record(&r->detect, released > last ? released - last : 0);
		if (!ok && !failed && !db_stop_requested()) {
			char what[64];
			snprintf(what, sizeof what, "round deadline of %d ms passed", r->cfg.deadline_ms);
			describe_stuck(r, what, err, errlen);
		}
		atomic_store(&r->commit_gen, gen);
		wake_loops(r);
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

	enum race_status st = count_rows(r, out, err, errlen);
	if (st == RACE_OK && r->cfg.mode != MODE_INTERLEAVE && r->cfg.keys == 1 && r->cfg.workers <= 26 &&
	    r->cfg.workers * ((int)r->sc->n_flow + 1) <= ORDER_MAX_EVENTS) /* workers a to z */
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
	lock(&r->mu);
	r->ready = r->finished = 0;
	unlock(&r->mu);
	atomic_store(&r->free_mode, true);
	r->free_hot = hot;
	r->free_base = round_base;
	atomic_store(&r->free_stop, false);
	r->free_until = duration_ms > 0 ? clock_us() + (uint64_t)duration_ms * 1000u : 0;
	atomic_fetch_add(&r->gen, 1);
	wake_loops(r);
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
	hist_merge(&t->detect, &r->detect);
	hist_init(&r->detect);
	t->polls += r->polls;
	t->coord_cpu_us += r->coord_cpu_us;
	t->round_us += r->round_us;
	r->polls = 0;
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
		memset(&w->outcomes, 0, sizeof w->outcomes);
		memset(&w->constraints, 0, sizeof w->constraints);
		hist_init(&w->latency);
	}
}

void race_join(struct race *r)
{
	if (!r || r->joined)
		return;
	atomic_store(&r->free_stop, true);
	atomic_store(&r->quit, true);
	wake_loops(r);
	for (int i = 0; i < r->n_loops; i++) {
		struct loop *l = &r->loops[i];
		if (l->started && pthread_join(l->thread, NULL))
			abort();
		l->started = false;
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
		free(r->w[i].items);
	}
	for (int i = 0; r->loops && i < r->n_loops; i++) {
		if (r->loops[i].epfd >= 0)
			close(r->loops[i].epfd);
		if (r->loops[i].evfd >= 0)
			close(r->loops[i].evfd);
		free(r->loops[i].w);
	}
	if (r->monitor)
		PQfinish(r->monitor);
	free(r->loops);
	free(r->keys);
	free(r->pid_array);
	free(r->w);
	pthread_cond_destroy(&r->cv_coord);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
