/* app_interleave.h: interleave mode of an application flow: every order in
 * which the app's processes' round trips can reach the server, discovered
 * as the processes run (stateless model checking, as CHESS and dBug do for
 * threads).
 *
 * A step is a protocol round trip (appstep.h); an interleaving point is a
 * step that is not session housekeeping (appstep.h says which, and why
 * skipping the others loses no order). Each order is a round of the app
 * flow (app.h): every worker's process starts from scratch on the order's
 * own key (the round's, after the phase's round_setup, as SQL interleave
 * orders do), the listener holds each point (PROXY_HOLD_STEPS) and logs
 * every step, and this driver releases one worker's point at a time,
 * whenever every worker is settled: held at a point, blocked on a lock
 * another worker holds (the lock view over the backend pids the listener
 * read), or exited. Housekeeping steps pass at once.
 *
 * Orders: the first run releases the lowest worker each time; each run
 * records at each decision the workers that could go (enabled) and the
 * kind of step each holds; every other enabled worker at every decision
 * past the run's forced prefix becomes a new order (the prefix up to there,
 * then that worker), depth first. So for two workers with a and b points
 * and no lock waits the orders are exactly the (a+b)!/(a!b!) interleavings.
 * A re-run of a prefix whose decisions do not match its parent's (another
 * set of enabled workers, another kind of step: the app sent a different
 * number or kind of steps) is "diverged": its remaining steps are released
 * freely and it counts in neither rows nor outcomes; the phase fails on it.
 * When the first order's points (p_i per worker) allow more than
 * max_interleavings orders ((sum p_i)! / prod p_i!), a seeded sample of that
 * many distinct sequences of those points is run instead; a sampled order
 * that asks a worker blocked on a lock for a step is "not executable" (as
 * the isolation tester says), one that asks a worker with no step left, or
 * whose workers send more points than planned, diverged. No partial-order
 * reduction beyond the housekeeping steps. */
#ifndef PGRACE_APP_INTERLEAVE_H
#define PGRACE_APP_INTERLEAVE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app.h"
#include "appstep.h"
#include "race.h"
#include "result.h"

#define APPIL_MAX_WORKERS 8
#define APPIL_MAX_POINTS 64 /* interleaving points per order, every worker's */

/* One step an order's worker sent (every round trip, points or not). */
struct appil_step {
	int worker, conn; /* conn: the worker's connection, 0 for its first */
	bool point;       /* an interleaving point (held, then released) */
	bool waited;      /* seen blocked on another worker's lock */
	bool cut, binary; /* inlined is not exact (appstep.h) */
	char kind[16];
	char *shown, *inlined; /* malloc'd; passwords scrubbed */
	char tag[64];          /* CommandComplete tag, "" when none */
	char sqlstate[6];
	char constraint[64];
};

/* One decision: who could go, with what, and who went. */
struct appil_decision {
	unsigned enabled;
	unsigned char chosen;
	char kind[APPIL_MAX_WORKERS][16];
};

enum appil_state { APPIL_RAN, APPIL_DIVERGED, APPIL_NOT_EXECUTABLE };

/* One order and what it did. */
struct appil_order {
	enum appil_state state;
	char why[240];              /* diverged / not executable: where and how */
	int parent, branch;         /* the order it branched from (-1: none) and at which decision */
	struct appil_decision *dec; /* n_dec of them, malloc'd (APPIL_MAX_POINTS while it runs) */
	int n_dec;
	unsigned char plan[APPIL_MAX_POINTS]; /* the workers it was asked to follow */
	int n_plan;
	struct appil_step *steps; /* every step, in the order they reached the listener */
	int n_steps;
	long long rows; /* rows for its key after it; -1 when not counted */
	long long round;
	struct app_worker_result *w;       /* one per worker, malloc'd */
	bool recovered[APPIL_MAX_WORKERS]; /* a class-23 error, then a SELECT, then exit 0 */
	uint64_t us;                       /* its processes' start to the rows counted */
};

/* A phase's orders. */
struct appil_summary {
	int workers;
	struct appil_order *orders;
	size_t n_orders, cap;
	bool exhaustive; /* every order the tree has ran */
	bool sampled;    /* a seeded sample (see above) */
	uint64_t seed;
	uint64_t estimate;             /* (sum p_i)! / prod p_i! of the first order's points p_i
				* per worker; UINT64_MAX: more */
	int points[APPIL_MAX_WORKERS]; /* most points per worker in an order that ran */
	uint64_t possible;             /* (sum p_i)! / prod p_i! of points[]: the interleavings of the
				* most points seen, an upper bound (lock waits, early ends) */
	size_t unexplored;             /* branches left when max_interleavings stopped the search */
	long long with_duplicates, diverged, not_executable, recovered;
	uint64_t total_us;
};

/* Called before each order with its round and index (the phase's
 * round_setup); false stops the phase (the callee says why). */
typedef bool (*appil_before_fn)(void *ctx, long long round, long long index);

/* Runs the orders of a phase's app flow on a (opened by app_open for cfg in
 * mode interleave) with admin for the lock view, rounds from *round + 1
 * (advanced), into s; counts outcomes of the orders that ran as planned
 * into *t and *at, and their rows into *rr_all (rows_min/max over orders).
 * On a broken order err says which and why. */
enum race_status appil_run(struct app_race *a, PGconn *admin, const struct race_cfg *cfg,
			   struct appil_summary *s, long long *round, appil_before_fn before,
			   void *before_ctx, struct race_totals *t, struct app_totals *at, char *err,
			   size_t errlen);
/* "a1 b1 a2 b2" of o's decisions into buf. */
void appil_notation(const struct appil_order *o, char *buf, size_t len);
/* Index of the first order that ran as planned and left duplicates, -1. */
long appil_first_duplicate(const struct appil_summary *s);
/* The phase's orders as JSON, in the shape of an interleave phase's
 * ("orders": order, rows, duplicate, executable, workers...), plus each
 * order's steps with their SQL; NULL on allocation failure. */
json_t *appil_json(const struct appil_summary *s);
/* The terminal summary's lines of an app interleave phase. */
void appil_summary_text(FILE *out, const struct appil_summary *s, const char *phase);
/* Frees what s holds (NULL is fine); s itself too. */
void appil_free(struct appil_summary *s);

#endif
