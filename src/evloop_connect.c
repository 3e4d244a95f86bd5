/* evloop_connect.c: connecting a loop's workers before its first round
 * (evloop_loop.h). Up to CONNECTING_MAX connections are in flight at once
 * on the loop's epoll set (PQconnectStart and PQconnectPoll, through db.c's
 * db_connect_* for the DSN's options and the sandbox's search_path), each
 * within its connect_timeout; connections kept from an earlier phase
 * (connpool.h) are taken as they are. A worker that cannot connect is
 * broken with the reason, naming it. May call db.c, order.c (worker names),
 * vlog.c and evloop.c's loop helpers; nothing else. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "db.h"
#include "evloop_loop.h"
#include "order.h"
#include "stats.h"
#include "vlog.h"

/* Connections a loop opens at once: enough to keep the server's backend
 * start-ups busy, few enough not to flood its listen queue. */
#define CONNECTING_MAX 32

/* A connection being made: worker w's connection t. */
struct pending {
	struct worker *w;
	int i, t; /* l->w[i] */
	int fd;   /* registered in the epoll set (-1: none) */
	uint64_t start_us, deadline_us;
};

/* w could not connect: why, then none of its connections stays. */
static void connect_failed(struct worker *w, int t, const char *err)
{
	const struct scenario *sc = evloop_loop_of(w)->ctl->sc;
	if (!w->broken) {
		const char *target = t > 0 ? sc->targets[t] : "";
		w->broken = true;
		char name[8];
		snprintf(w->why, sizeof w->why, "worker %s could not connect%s%s: %s",
			 order_worker_name(w->id, name, sizeof name), target[0] ? " to target " : "",
			 target, err);
	}
}

/* Ends connection attempt p (its worker's connection is made or failed):
 * its fd leaves the epoll set. */
static void pending_done(struct loop *l, struct pending *p)
{
	if (p->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	p->fd = -1;
}

/* Registers p's connection for what PQconnectPoll waits for (st); its
 * socket may have changed (another host, or a retry without TLS). */
static bool pending_watch(struct loop *l, struct pending *p, PostgresPollingStatusType st)
{
	PGconn *c = evloop_conn_of(p->w, p->t);
	int fd = PQsocket(c);
	struct epoll_event ev = {.events = st == PGRES_POLLING_READING ? EPOLLIN : EPOLLOUT, .data.ptr = p};
	if (fd < 0)
		return false;
	if (fd == p->fd && epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return true;
	if (p->fd >= 0 && p->fd != fd)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, p->fd, NULL); /* it may be closed already */
	p->fd = fd;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

/* A worker whose every connection is settled: ready for rounds (watched
 * once every worker is), or broken with none kept. */
static void worker_connected(struct loop *l, struct worker *w)
{
	for (int t = 0; !w->broken && t < TARGETS_MAX; t++)
		if (evloop_conn_of(w, t) && PQsetnonblocking(evloop_conn_of(w, t), 1) != 0)
			connect_failed(w, t, "cannot make the connection non-blocking");
	if (w->broken) {
		for (int t = 0; t < TARGETS_MAX; t++) {
			PQfinish(evloop_conn_of(w, t));
			if (t)
				w->tconn[t] = NULL;
		}
		w->conn = NULL;
	} else {
		vlog_worker(w->conn, w->id);
		w->pid = PQbackendPID(w->conn);
	}
	l->connected++;
}

/* Connects the loop's workers before any round, up to CONNECTING_MAX
 * connections at once on the loop's epoll set (PQconnectStart and
 * PQconnectPoll), each within its connect_timeout; the stop flag or quit
 * ends the waits (the workers not connected are broken, "interrupted"). */
void evloop_connect_workers(struct loop *l)
{
	struct evloop_ctl *ctl = l->ctl;
	const struct scenario *sc = ctl->sc;
	const char *schema = ctl->pooler ? NULL : ctl->schema;
	int per = sc->n_targets > 1 ? (int)sc->n_targets : 1; /* connections per worker */
	int jobs = l->n * per, next = 0, inflight = 0;
	int *left = calloc((size_t)l->n + 1, sizeof *left); /* per worker: connections not settled */
	struct pending *p = calloc(CONNECTING_MAX, sizeof *p);
	struct epoll_event ev[LOOP_EVENTS];
	if (!left || !p)
		abort();
	for (int i = 0; i < l->n; i++)
		left[i] = per;
	for (int k = 0; k < CONNECTING_MAX; k++)
		p[k].fd = -1;
	while (next < jobs || inflight > 0) {
		bool stop = db_stop_requested() || atomic_load(&ctl->quit);
		/* start connections while there is room */
		for (int k = 0; !stop && k < CONNECTING_MAX && next < jobs; k++) {
			if (p[k].w)
				continue;
			int i = next / per, t = next % per;
			struct worker *w = l->w[i];
			next++;
			if (evloop_conn_of(w, t)) { /* kept from an earlier phase (connpool.h) */
				k--;
				if (--left[i] == 0)
					worker_connected(l, w);
				continue;
			}
			char err[512];
			PGconn *c = NULL;
			if (!w->broken) {
				p[k].deadline_us = 0;
				p[k].start_us = clock_us();
				c = db_connect_start(t ? ctl->targets[t] : ctl->dsn, schema, &p[k].deadline_us,
						     err, sizeof err);
				if (!c)
					connect_failed(w, t, err);
			}
			if (t)
				w->tconn[t] = c;
			else
				w->conn = c;
			if (c) {
				p[k].w = w;
				p[k].i = i;
				p[k].t = t;
				p[k].fd = -1;
				if (pending_watch(l, &p[k], PGRES_POLLING_WRITING)) {
					inflight++;
					continue;
				}
				connect_failed(w, t, "cannot watch the connection's socket");
				p[k].w = NULL;
			}
			if (--left[i] == 0)
				worker_connected(l, w);
		}
		if (stop && next < jobs) { /* the rest are not started */
			for (; next < jobs; next++) {
				struct worker *w = l->w[next / per];
				connect_failed(w, 0, "interrupted");
				if (--left[next / per] == 0)
					worker_connected(l, w);
			}
		}
		evloop_report(l);
		if (inflight == 0)
			continue;
		int k = epoll_wait(l->epfd, ev, LOOP_EVENTS, 20);
		uint64_t now = clock_us();
		for (int e = 0; e < k; e++) {
			struct pending *q = ev[e].data.ptr;
			if (!q) { /* the eventfd: quit or a signal, seen above */
				uint64_t v;
				if (read(l->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
					abort();
				continue;
			}
			if (!q->w)
				continue; /* settled by an earlier event of this batch */
			PGconn *c = evloop_conn_of(q->w, q->t);
			PostgresPollingStatusType st = PQconnectPoll(c);
			if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
				if (pending_watch(l, q, st))
					continue;
				st = PGRES_POLLING_FAILED;
			}
			char err[512] = "";
			if (st != PGRES_POLLING_OK || PQstatus(c) != CONNECTION_OK) {
				db_connect_failed(c, err, sizeof err);
				connect_failed(q->w, q->t, err);
			} else {
				db_connect_ready(c);
			}
			pending_done(l, q);
			q->w = NULL;
			inflight--;
			if (--left[q->i] == 0)
				worker_connected(l, l->w[q->i]);
		}
		/* deadlines, and the stop flag: what is still connecting ends */
		for (int j = 0; j < CONNECTING_MAX; j++) {
			struct pending *q = &p[j];
			if (!q->w || (!stop && now < q->deadline_us))
				continue;
			char err[512];
			if (stop)
				snprintf(err, sizeof err, "interrupted");
			else
				db_connect_timeout(q->start_us, err, sizeof err);
			connect_failed(q->w, q->t, err);
			pending_done(l, q);
			q->w = NULL;
			inflight--;
			if (--left[q->i] == 0)
				worker_connected(l, l->w[q->i]);
		}
	}
	/* the epoll set now watches the workers' connections (while connecting
	 * its events were the pending connections') */
	for (int i = 0; i < l->n; i++)
		for (int t = 0; l->w[i]->conn && t < TARGETS_MAX; t++)
			if (evloop_conn_of(l->w[i], t))
				evloop_watch(l->w[i], t, false);
	evloop_report(l);
	free(left);
	free(p);
}

