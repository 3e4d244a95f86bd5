/* evloop.c: the event-loop threads that drive a race's workers (evloop.h).
 *
 * Each loop multiplexes its workers' non-blocking connections with one
 * epoll set (after wrk's event loop): it sends a worker's batch (through
 * attempt.c's senders), flushes it, reads its answers (in pipeline mode one
 * result per statement, then the sync), cancels a query past its deadline
 * and gives up on one whose cancel is not answered, and turns each of those
 * into the worker's event. The worker decides what comes next
 * (worker_advance); the loop only keeps count of where its workers stand
 * (at the start line, held, finished) to tell the coordinator. Free runs
 * pipeline where the flow allows (libpq pipeline mode, prepared statements,
 * no pooler). Connecting the workers before the first round is
 * evloop_connect.c's job. */
#include "evloop.h"
#include "evloop_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "attempt.h"
#include "db.h"
#include "order.h"
#include "lastbyte.h"
#include "vlog.h"

#define STACK_BYTES (256 * 1024)

struct evloop {
	struct evloop_ctl *ctl;
	struct loop *loops;
	int n_loops;
	bool joined;
};

void evloop_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m))
		abort();
}

void evloop_unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m))
		abort();
}

static void arm(struct loop *l, uint64_t t)
{
	if (t && (l->wake_at == 0 || t < l->wake_at))
		l->wake_at = t;
}

PGconn *evloop_conn_of(struct worker *w, int t)
{
	return t ? w->tconn[t] : w->conn;
}

struct loop *evloop_loop_of(struct worker *w)
{
	return w->loop;
}

/* Moves w on by ev and keeps the loop's count of where its workers stand. */
static void step(struct loop *l, struct worker *w, enum wevent ev)
{
	enum wstate before = w->state;
	bool was_ready = w->ready, was_done = w->done;
	enum wstate after = worker_advance(w, ev);
	if (before == WS_START_LINE || before == WS_ARMED)
		l->at_line--;
	if (after == WS_START_LINE || after == WS_ARMED)
		l->at_line++;
	if (before == WS_HELD)
		l->held--;
	if (after == WS_HELD) {
		l->held++;
		l->changed = true; /* the coordinator may be waiting for this one */
	}
	if (!was_ready && w->ready)
		l->ready++;
	if (!was_done && w->done) {
		l->active--;
		l->finished++;
	}
}

/* Watches connection t of w for input, and for room to write when
 * want_write. */
void evloop_watch(struct worker *w, int t, bool want_write)
{
	struct worker_slot *sl = &w->slot[t];
	struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0u), .data.ptr = sl};
	if (epoll_ctl(evloop_loop_of(w)->epfd, sl->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      PQsocket(evloop_conn_of(w, t)), &ev) == 0) {
		sl->watched = true;
		sl->want_write = want_write;
	}
}

static void unwatch(struct worker *w, int t)
{
	struct worker_slot *sl = &w->slot[t];
	if (sl->watched)
		epoll_ctl(evloop_loop_of(w)->epfd, EPOLL_CTL_DEL, PQsocket(evloop_conn_of(w, t)), NULL);
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

static struct db_result *answering(struct worker *w)
{
	return &w->items[w->cur < w->n_items ? w->cur : w->n_items - 1].res;
}

/* Flushes what libpq holds for w (non-blocking); false when that failed
 * (the answering item then says so, and the connection is buried). */
static bool flush(struct worker *w)
{
	PGconn *c = evloop_conn_of(w, w->bt);
	int f = PQflush(c);
	if (f < 0) {
		db_result_lost(c, answering(w));
		bury(w, answering(w));
		return false;
	}
	if ((f == 1) != w->slot[w->bt].want_write)
		evloop_watch(w, w->bt, f == 1);
	return true;
}

/* A send failed at item upto: every item of the batch failed the same way. */
static bool send_failed(struct worker *w, int upto)
{
	struct db_result res = w->items[upto].res;
	w->n_items = upto + 1;
	for (int i = 0; i <= upto; i++)
		w->items[i].res = res;
	bury(w, &res);
	return false;
}

/* worker_io.send: items [0, n_items) as one batch, one query or in
 * pipeline mode the run of them and a sync. */
static bool io_send(struct worker *w)
{
	const struct worker_env *e = w->env;
	PGconn *c = evloop_conn_of(w, w->bt);
	/* An encrypted connection's bytes are not messages: sent whole. */
	bool hold = w->hold_tail && !PQsslInUse(c) && !PQgssEncInUse(c);
	if (hold)
		lastbyte_hold(&w->tail, PQsocket(c));
	for (int i = 0; i < w->n_items; i++) {
		struct item *it = &w->items[i];
		bool sent = false;
		it->sent_us = clock_us();
		it->done_us = 0;
		it->ended = false;
		switch (it->kind) {
		case IT_PREPARE:
			sent = attempt_send_prepare(c, e->sc, it->idx, &it->res);
			break;
		case IT_BEGIN:
			sent = attempt_send_sql(c, e->begin_sql[w->iso != e->cfg->isolation], &it->res);
			break;
		case IT_STMT:
			/* A step on another target runs on that target's
			 * connection, unprepared, outside the transaction (its own
			 * implicit one). */
			sent = attempt_send_step(c, e->sc, it->idx, w->prepared && w->bt == 0, w->params,
						 &it->res);
			break;
		case IT_COMMIT:
		case IT_ROLLBACK:
			sent = attempt_send_sql(c, attempt_stop_sql(it->kind == IT_COMMIT), &it->res);
			break;
		}
		if (!sent)
			return send_failed(w, i);
	}
	if (w->pipeline && !PQpipelineSync(c)) {
		db_result_lost(c, &w->items[w->n_items - 1].res);
		return send_failed(w, w->n_items - 1);
	}
	bool ok = flush(w);
	if (hold)
		lastbyte_held(&w->tail); /* nothing held: the statement went whole */
	return ok;
}

static void io_arm(struct worker *w, uint64_t at_us)
{
	arm(evloop_loop_of(w), at_us);
}

static bool io_pipeline(struct worker *w, bool on)
{
	if (on)
		return PQenterPipelineMode(w->conn) == 1;
	if (PQexitPipelineMode(w->conn) == 1)
		return true;
	struct db_result res;
	memset(&res, 0, sizeof res);
	res.status = DB_LOST;
	snprintf(res.message, sizeof res.message, "could not leave pipeline mode");
	bury(w, &res);
	return false;
}

static void io_backend_pid(struct worker *w, int pid)
{
	struct evloop_ctl *ctl = evloop_loop_of(w)->ctl;
	evloop_lock(&ctl->mu); /* the coordinator reads pids under mu */
	w->pid = pid;
	evloop_unlock(&ctl->mu);
}

static void io_release(struct worker *w)
{
	lastbyte_release(&w->tail);
}

const struct worker_io *evloop_io(void)
{
	static const struct worker_io io = {
		.send = io_send,
		.arm = io_arm,
		.pipeline = io_pipeline,
		.backend_pid = io_backend_pid,
		.release = io_release,
	};
	return &io;
}

/* Reads w's answers; in pipeline mode one result per item, then the sync.
 * Whether each left a transaction open is noted for the worker (item
 * ended): unpipelined the connection's status says so exactly; pipelined
 * a statement's command tag, and at the sync the connection's status. */
static void collect(struct loop *l, struct worker *w)
{
	PGconn *c = evloop_conn_of(w, w->bt);
	if (!w->pipeline) {
		if (db_poll(c, &w->items[0].res)) {
			w->items[0].done_us = clock_us();
			w->items[0].ended = PQtransactionStatus(w->conn) != PQTRANS_INTRANS;
			bool lost = PQstatus(c) == CONNECTION_BAD && w->bt == 0;
			if (lost)
				bury(w, &w->items[0].res);
			step(l, w, lost ? WE_LOST : WE_ANSWER);
		}
		return;
	}
	if (!PQconsumeInput(c)) {
		db_result_lost(c, answering(w));
		bury(w, answering(w));
		step(l, w, WE_LOST);
		return;
	}
	/* Bounded: each turn takes one result libpq has parsed already. */
	for (int nulls = 0; nulls < 2;) {
		if (PQstatus(c) == CONNECTION_BAD) {
			db_result_lost(c, answering(w));
			bury(w, answering(w));
			step(l, w, WE_LOST);
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
			if (PQtransactionStatus(w->conn) != PQTRANS_INTRANS)
				w->items[w->n_items - 1].ended = true;
			step(l, w, WE_ANSWER);
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
	PGconn *c = evloop_conn_of(w, t);
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

static void on_io(struct loop *l, struct worker_slot *sl, uint32_t events)
{
	struct worker *w = sl->w;
	bool batch = worker_in_flight(w->state) && w->bt == sl->t;
	if ((events & EPOLLOUT) && batch && !flush(w)) {
		step(l, w, WE_LOST);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (batch)
		collect(l, w);
	else
		idle_input(w, sl->t);
}

static void cancel_query(struct loop *l, struct worker *w, int sig, uint64_t now)
{
	db_cancel(evloop_conn_of(w, w->bt));
	db_mark_cancelled(sig, answering(w));
	w->cancelled = true;
	w->cancel_sent = true;
	w->grace_us = now + DB_CANCEL_GRACE_S * 1000000u;
	arm(l, w->grace_us);
}

/* Fires every timer due at now, re-arms the rest: a query past its
 * deadline is cancelled, and given up when its cancel is not answered in
 * time; a wait at a line ends at the deadline; a pause ends. */
static void timers(struct loop *l, uint64_t now)
{
	l->wake_at = 0;
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		switch (w->state) {
		case WS_PREPARING:
		case WS_BEGINNING:
		case WS_ARMED:
		case WS_RUNNING:
		case WS_ROLLING_BACK:
			if (!w->cancelled && now >= w->deadline_us) {
				cancel_query(l, w, 0, now);
			} else if (w->cancelled && now >= w->grace_us) {
				db_cancel_unanswered(answering(w));
				bury(w, answering(w));
				step(l, w, WE_LOST);
			} else {
				arm(l, w->cancelled ? w->grace_us : w->deadline_us);
			}
			break;
		case WS_START_LINE:
		case WS_HELD:
			if (now >= w->deadline_us)
				step(l, w, WE_DEADLINE);
			else
				arm(l, w->deadline_us);
			break;
		case WS_BACKOFF:
			if (now >= w->wake_us)
				step(l, w, WE_TIMER);
			else
				arm(l, w->wake_us);
			break;
		default: /* WS_IDLE; an app worker (WS_APP_*) is never a loop's */
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
		if (worker_in_flight(w->state) && !w->cancelled)
			cancel_query(l, w, sig, now);
		else if (w->state == WS_START_LINE || w->state == WS_HELD)
			step(l, w, WE_DEADLINE);
	}
}

/* Every worker of l in state s gets ev (the go, the commits' release, the
 * end of a wait), back to back. */
static void release(struct loop *l, enum wstate s, enum wevent ev)
{
	for (int i = 0; i < l->n; i++)
		if (l->w[i]->state == s)
			step(l, l->w[i], ev);
}

/* A new generation: a round, or a free run. */
static void begin_generation(struct loop *l)
{
	struct evloop_ctl *ctl = l->ctl;
	bool free_mode = atomic_load(&ctl->free_mode);
	for (int i = 0; i < l->n; i++) {
		struct worker *w = l->w[i];
		/* A round's workers wait a second past the coordinator's deadline:
		 * it diagnoses a stuck worker (who blocks it?) while it still waits. */
		uint64_t deadline = free_mode ? clock_us() + (uint64_t)ctl->cfg->deadline_ms * 1000u
					      : ctl->round_deadline_us + 1000000u;
		worker_reset(w, free_mode, deadline, w->round_params);
		l->active++;
		if (!w->conn && !w->dead) { /* never connected: race_open failed */
			memset(&w->dead_res, 0, sizeof w->dead_res);
			w->dead_res.status = DB_LOST;
			snprintf(w->dead_res.message, sizeof w->dead_res.message, "not connected");
			w->dead = true;
		}
		step(l, w, WE_START);
	}
}

/* Tells the coordinator what changed since the last report. */
void evloop_report(struct loop *l)
{
	struct evloop_ctl *ctl = l->ctl;
	if (!l->ready && !l->finished && !l->connected && !l->changed)
		return;
	l->changed = false;
	evloop_lock(&ctl->mu);
	ctl->ready += l->ready;
	ctl->finished += l->finished;
	ctl->connected += l->connected;
	if (pthread_cond_broadcast(&ctl->cv))
		abort();
	evloop_unlock(&ctl->mu);
	l->ready = l->finished = l->connected = 0;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct evloop_ctl *ctl = l->ctl;
	struct epoll_event ev[LOOP_EVENTS];
	evloop_connect_workers(l);
	for (;;) {
		bool quit = atomic_load(&ctl->quit);
		long long gen = atomic_load(&ctl->gen);
		if (!quit && l->active == 0 && gen != l->gen) {
			l->gen = gen;
			begin_generation(l);
		}
		if (!quit && l->at_line && atomic_load(&ctl->go_gen) >= l->gen) {
			release(l, WS_ARMED, WE_GO);
			release(l, WS_START_LINE, WE_GO);
		}
		if (!quit && l->held && atomic_load(&ctl->commit_gen) >= l->gen)
			release(l, WS_HELD, WE_RELEASED);
		int sig = db_stop_requested();
		if (quit && (l->at_line || l->held)) {
			release(l, WS_ARMED, WE_GO); /* its statement was all but sent */
			release(l, WS_START_LINE, WE_DEADLINE);
			release(l, WS_HELD, WE_DEADLINE);
		}
		if (sig)
			stop_all(l, sig);
		uint64_t now = clock_us();
		if (l->wake_at && now >= l->wake_at)
			timers(l, now);
		evloop_report(l);
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
			on_io(l, ev[i].data.ptr, ev[i].events);
		}
	}
	return NULL;
}

struct evloop *evloop_create(struct evloop_ctl *ctl, struct worker *w, int n, int n_loops, char *err,
			     size_t errlen)
{
	struct evloop *ev = calloc(1, sizeof *ev);
	if (!ev)
		abort();
	ev->ctl = ctl;
	ev->n_loops = n_loops;
	ev->loops = aligned_alloc(64, sizeof *ev->loops * (size_t)n_loops);
	if (!ev->loops)
		abort();
	memset(ev->loops, 0, sizeof *ev->loops * (size_t)n_loops);
	for (int i = 0; i < n_loops; i++) /* a failed create closes only what it made */
		ev->loops[i].epfd = ev->loops[i].evfd = -1;
	for (int i = 0; i < n_loops; i++) {
		struct loop *l = &ev->loops[i];
		l->ctl = ctl;
		l->id = i;
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->w = calloc((size_t)n / (size_t)n_loops + 1, sizeof *l->w);
		if (!l->w)
			abort();
		if (l->epfd >= 0)
			l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
		if (l->epfd < 0 || l->evfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &e)) {
			snprintf(err, errlen, "cannot set up event loop %d: %s", i, strerror(errno));
			evloop_destroy(ev);
			return NULL;
		}
	}
	for (int i = 0; i < n; i++) {
		struct loop *l = &ev->loops[i % n_loops];
		w[i].loop = l;
		l->w[l->n++] = &w[i];
	}
	return ev;
}

bool evloop_start(struct evloop *ev, char *err, size_t errlen)
{
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, STACK_BYTES))
		abort();
	bool ok = true;
	for (int i = 0; i < ev->n_loops; i++) {
		if (pthread_create(&ev->loops[i].thread, &attr, loop_main, &ev->loops[i])) {
			snprintf(err, errlen, "cannot start event loop thread %d of %d", i, ev->n_loops);
			ok = false;
			break;
		}
		ev->loops[i].started = true;
	}
	pthread_attr_destroy(&attr);
	return ok;
}

void evloop_wake(struct evloop *ev)
{
	uint64_t one = 1;
	for (int i = 0; ev && i < ev->n_loops; i++)
		if (ev->loops[i].evfd >= 0 && write(ev->loops[i].evfd, &one, sizeof one) < 0 &&
		    errno != EAGAIN)
			abort();
}

void evloop_join(struct evloop *ev)
{
	if (!ev || ev->joined)
		return;
	atomic_store(&ev->ctl->quit, true);
	evloop_wake(ev);
	for (int i = 0; i < ev->n_loops; i++) {
		struct loop *l = &ev->loops[i];
		if (l->started && pthread_join(l->thread, NULL))
			abort();
		l->started = false;
	}
	ev->joined = true;
}

void evloop_destroy(struct evloop *ev)
{
	if (!ev)
		return;
	evloop_join(ev);
	for (int i = 0; i < ev->n_loops; i++) {
		if (ev->loops[i].epfd >= 0)
			close(ev->loops[i].epfd);
		if (ev->loops[i].evfd >= 0)
			close(ev->loops[i].evfd);
		free(ev->loops[i].w);
	}
	free(ev->loops);
	free(ev);
}
