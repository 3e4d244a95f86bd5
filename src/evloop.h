/* evloop.h: the event-loop threads that drive a race's workers.
 *
 * A few threads (race_threads() says how many) each own a share of the
 * workers: their connections (non-blocking libpq, one epoll set per loop),
 * their timers and the I/O of their batches. A loop turns what happens on
 * a socket or a clock into the worker's events (worker_advance) and
 * implements its struct worker_io. The coordinator commands the loops
 * through struct evloop_ctl's generation numbers (atomics; each loop is
 * woken through its eventfd) and hears back through its counters under one
 * mutex; nothing is shared on the hot path. Calls worker, attempt, db and
 * vlog; knows nothing of rounds' keys, rows or the lock view. */
#ifndef PGRACE_EVLOOP_H
#define PGRACE_EVLOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "worker.h"

/* What the coordinator and the loops share. The coordinator sets the plain
 * fields before it raises gen; the loops report under mu. */
struct evloop_ctl {
	/* how workers connect */
	const char *dsn, *schema;
	const char *const *targets; /* [t >= 1]: conninfo of the scenario's target t */
	bool pooler;
	const struct scenario *sc;
	const struct race_cfg *cfg;
	/* the coordinator's commands */
	atomic_llong gen, go_gen, commit_gen; /* start a generation; go; release the commits */
	atomic_bool quit;                     /* end every wait, then the threads */
	atomic_bool free_mode;                /* the generation is a free run */
	uint64_t round_deadline_us;           /* a round's deadline (the workers wait 1 s more) */
	/* what the loops report */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int connected, ready, finished;
};

struct evloop; /* opaque: the loop threads of one race */

/* Locks and unlocks m; abort() on failure (it never fails). */
void evloop_lock(pthread_mutex_t *m);
void evloop_unlock(pthread_mutex_t *m);
/* The struct worker_io the loops implement (env->io of their workers). */
const struct worker_io *evloop_io(void);
/* Sets up n_loops loops (epoll set, eventfd) over workers w[0..n) (worker i
 * to loop i % n_loops); NULL with err on failure. No thread yet. */
struct evloop *evloop_create(struct evloop_ctl *ctl, struct worker *w, int n, int n_loops, char *err,
			     size_t errlen);
/* Starts the threads: each connects its workers, reporting each in
 * ctl->connected, then waits for generations; false with err when a thread
 * could not start (those started are joined by evloop_join). */
bool evloop_start(struct evloop *ev, char *err, size_t errlen);
/* Wakes every loop: a new command is in ctl. */
void evloop_wake(struct evloop *ev);
/* Raises quit and joins the threads (each ends its workers' waits first). */
void evloop_join(struct evloop *ev);
/* evloop_join, then closes the loops' descriptors and frees ev (NULL is
 * fine); the workers' connections are the caller's. */
void evloop_destroy(struct evloop *ev);

#endif
