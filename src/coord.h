/* coord.h: the coordinator of a race's rounds: its start line and its
 * commit barrier.
 *
 * The coordinator runs on the caller's thread with a connection of its own
 * (the monitor). Fire and hold rounds share the start line: it waits until
 * every worker has BEGUN (or finished), then says go, all at once. Hold
 * rounds then have the commit barrier: the coordinator asks the engine's
 * lock view until every worker has either finished its statements or is
 * blocked on a lock held by another worker, twice in a row, then releases
 * every COMMIT at once. When a round runs out of time it asks the server
 * why (who blocks whom) for the message. Calls evloop (its commands and
 * counters), lockview (all the SQL it asks) and db; reads the workers'
 * atomic view and pids, never their other state. */
#ifndef PGRACE_COORD_H
#define PGRACE_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "evloop.h"
#include "lockview.h"
#include "stats.h"
#include "worker.h"

struct coord {
	struct evloop_ctl *ctl;
	struct evloop *ev;
	struct worker *w; /* the race's workers, n of them */
	int n;
	int deadline_ms;
	bool pooler; /* the workers' pids change every round (race_open()) */
	PGconn *monitor;
	const struct lockview *view;
	bool monitor_prepared;      /* the view's blocked_by_peers is prepared on monitor */
	char *pid_array;            /* "{pid,pid,...}" for the view's queries */
	int monitor_pid, admin_pid; /* pgrace's own other backends (0: unknown) */
	/* figures over the phase's rounds, the coordinator's own until taken */
	struct hist detect; /* hold: last worker settled -> COMMITs released, per round */
	long long polls;    /* hold: lock-view queries asked */
};

/* Connects the monitor to dsn (in schema unless pooler) and finds the
 * engine's lock view: hold needs one (false with err without it), fire
 * only describes a stuck round with it. Fills c's monitor fields. */
bool coord_open(struct coord *c, const char *dsn, const char *schema, bool pooler, bool hold, char *err,
		size_t errlen);
/* Closes the monitor and frees what coord_open and coord_pids made. */
void coord_close(struct coord *c);
/* Reads the workers' backend pids into the view's pid list (under the
 * loops' mutex: behind a pooler they change every round). */
void coord_pids(struct coord *c);
/* Waits until *counter (one of ctl's, under its mutex) reaches n or
 * deadline_us; false on timeout or the stop flag. */
bool coord_wait(struct coord *c, const int *counter, int n, uint64_t deadline_us);
/* The start line of generation gen: waits until every worker is ready,
 * then says go (and, in fire mode or when the wait failed, releases the
 * commits too). False, with err saying who was stuck (unless stopped), when
 * the deadline passed first. */
bool coord_start_line(struct coord *c, long long gen, bool fire, uint64_t deadline_us, char *err,
		      size_t errlen);
/* Hold mode's commit barrier for generation gen: waits until the workers
 * have settled (see above), records the detection time, then releases the
 * commits (always, so nobody waits past it). False with err when the
 * deadline passed, the stop flag rose or the monitor failed (*failed). */
bool coord_commit_barrier(struct coord *c, long long gen, uint64_t deadline_us, bool *failed, char *err,
			  size_t errlen);
/* A hint for a round whose deadline passed while workers waited on each
 * other's locks (a deadlock the server breaks only after deadlock_timeout);
 * "" when none do. */
void coord_mutual_wait_hint(struct coord *c, char *hint, size_t len);
/* After a rows query timed out: who holds an ACCESS EXCLUSIVE lock on a
 * table of schema, as "; pid N outside pgrace holds ..."; "" when nobody. */
void coord_rows_blocker(struct coord *c, const char *schema, char *buf, size_t len);

#endif
