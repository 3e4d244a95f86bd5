/* coord.h: the coordinator of a race's rounds: its start line and its
 * commit barrier.
 *
 * The coordinator runs on the caller's thread with a connection of its own
 * (the monitor). Fire and hold rounds share the start line: it waits until
 * every worker has BEGUN (or finished), then says go, all at once. Hold
 * rounds then have the commit barrier: the coordinator asks the engine's
 * lock view until every worker is settled (coord_rule: held, finished, or
 * with every backend that runs a statement blocked on a lock only the
 * round's backends hold), twice in a row when a blocked backend counted,
 * then releases every COMMIT at once. When a round runs out of time it asks
 * the server why (who blocks whom) for the message. Calls evloop (its
 * commands and counters), lockview (all the SQL it asks) and db; reads the
 * workers' atomic view and pids, never their other state.
 *
 * SQL workers (evloop) and application workers (app.c, one process each,
 * any number of connections) share the rule and the look that applies it
 * (coord_look): each engine says what it sees of its workers as
 * coord_members, the coordinator asks the lock view and decides. */
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

/* One worker as the release rule sees it. */
struct coord_member {
	int view;        /* enum wview: WV_IDLE not started yet, WV_RUNNING, WV_HELD, WV_FINISHED */
	const int *pids; /* its backends (a SQL worker has one, an app worker one per connection) */
	int n_pids;
	const int *busy; /* of them, those running a statement now (not held, not idle) */
	int n_busy;
};

/* What one look at the workers found (coord_look). */
enum coord_seen {
	COORD_WAIT,    /* some worker is not settled */
	COORD_SETTLED, /* release: every worker settled (confirmed when a blocked backend counted) */
	COORD_FAILED,  /* the lock view could not be asked (err says why) */
};

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
	bool monitor_borrowed;      /* coord_attach's: not closed by coord_close */
	char *pid_array;            /* "{pid,pid,...}" for the view's queries */
	int *pid_of;                /* [n]: each SQL worker's backend pid (coord_pids) */
	struct coord_member *members; /* [n]: the SQL workers as coord_look sees them */
	char *all_buf, *busy_buf;   /* coord_look's "{pid,...}" parameters */
	size_t all_cap, busy_cap;
	int streak;                 /* settled looks in a row that counted a blocked backend */
	bool all_blocked;           /* the last look found every busy backend blocked on peers */
	int monitor_pid, admin_pid; /* pgrace's own other backends (0: unknown) */
	bool realtime_release;      /* the last start line's tails went out at realtime priority */
	/* figures over the phase's rounds, the coordinator's own until taken */
	struct hist detect; /* hold: last worker settled -> COMMITs released, per round */
	long long polls;    /* hold: lock-view queries asked */
};

/* Connects the monitor to dsn (in schema unless pooler) and finds the
 * engine's lock view: hold needs one (false with err without it), fire
 * only describes a stuck round with it. Fills c's monitor fields. */
bool coord_open(struct coord *c, const char *dsn, const char *schema, bool pooler, bool hold, char *err,
		size_t errlen);
/* Readies c to coordinate n workers of an engine without event loops (the
 * app engine) on monitor, the caller's connection (coord_close leaves it
 * open), with view as its lock view (NULL: lockview_none()). */
void coord_attach(struct coord *c, int n, PGconn *monitor, const struct lockview *view);
/* The release rule, the one place it is written: every worker is finished,
 * held, or runs statements only on backends that wait on locks the round's
 * backends hold (a worker that has not started, or runs none of its
 * statements at the server, is not settled). blocked: how many of the
 * members' busy backends the lock view says so wait, -1 when not asked.
 * 1: settled; 0: not; -1: settled only if every busy backend is blocked
 * (blocked < 0 and some backend busy: ask the lock view). */
int coord_rule(const struct coord_member *m, int n, long long blocked);
/* One look of the barrier at the n members (m) an engine sees: applies
 * coord_rule, asking the lock view on the monitor (within deadline_us) when
 * ask_view and some backend runs; a look that counted blocked backends
 * settles only the second time in a row (a worker seen blocked stays so
 * until someone commits). Sets c->all_blocked. */
enum coord_seen coord_look(struct coord *c, const struct coord_member *m, int n, bool ask_view,
			   uint64_t deadline_us, char *err, size_t errlen);
/* Who blocks one of the members' backends from outside the round, for a
 * message: "worker W (backend pid P) is blocked by pid B outside pgrace"
 * (or by pgrace's own setup connection); "" when nobody does or the server
 * cannot say. */
void coord_outside_blocker(struct coord *c, const struct coord_member *m, int n, char *buf,
			   size_t len);
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
/* When a rows query waits past its deadline: who holds an ACCESS
 * EXCLUSIVE lock on a table of schema, as "; pid N outside pgrace holds
 * ..."; "" when nobody; the error (and false) when the question failed.
 * Asked on asker (while the query still waits), or on the monitor once it
 * was cancelled (asker NULL). */
bool coord_rows_blocker(struct coord *c, PGconn *asker, const char *schema, char *buf, size_t len);

#endif
