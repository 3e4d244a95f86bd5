/* evloop_loop.h: one event-loop thread's state, shared by evloop.c (the
 * rounds) and evloop_connect.c (connecting the workers before them). Not
 * for any other module: the rest of pgrace sees evloop.h only. */
#ifndef PGRACE_EVLOOP_LOOP_H
#define PGRACE_EVLOOP_LOOP_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "worker.h"

#define LOOP_EVENTS 64 /* epoll events taken per wait */

struct loop {
	struct evloop_ctl *ctl;
	int id;
	pthread_t thread;
	bool started;
	int epfd, evfd;
	struct worker **w; /* its workers */
	int n;
	long long gen;                  /* the generation it runs */
	int active;                     /* its workers not finished in this generation */
	int at_line, held;              /* how many wait at the start line / the commit line */
	bool changed;                   /* a worker reached the commit line since the last report */
	uint64_t wake_at;               /* earliest timer of its workers, 0 = none */
	int ready, finished, connected; /* to report to the coordinator */
} __attribute__((aligned(64)));

/* Worker w's connection to target t (0: the primary). */
PGconn *evloop_conn_of(struct worker *w, int t);
/* The loop thread that drives w. */
struct loop *evloop_loop_of(struct worker *w);
/* Watches connection t of w for input, and for room to write when want_write. */
void evloop_watch(struct worker *w, int t, bool want_write);
/* Tells the coordinator what changed on l since its last report. */
void evloop_report(struct loop *l);
/* Connects l's workers before any round (evloop_connect.c). */
void evloop_connect_workers(struct loop *l);

#endif
