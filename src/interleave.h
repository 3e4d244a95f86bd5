/* interleave.h: interleave mode: a phase's flow run step by step, in every
 * order of its workers' steps (order.h), one order per round on a fresh key.
 *
 * A worker's steps are its flow statements, then COMMIT; BEGIN (with the
 * isolation level) is sent before the first step and is not one. One thread
 * drives k connections with libpq's asynchronous calls: it sends the step the
 * order names, then waits until that step has finished or the server says
 * its backend is blocked by another backend of the round
 * (pg_isolation_test_session_is_blocked, as PostgreSQL's isolation tester
 * asks; 1 ms after the step was sent, then at doubling intervals up to the
 * isolation tester's 10 ms). A blocked step stays pending while the order
 * goes on and completes when its blocker ends. When the order names a later
 * step of a worker whose step is still pending, pgrace waits only if the
 * lock waits form a cycle (the server's deadlock detector will end one of
 * them); otherwise the order is not executable (the isolation tester would
 * wait for that step until its timeout cancels it): it is recorded at that
 * position and counts in neither rows nor outcomes, and its transactions are
 * rolled back without a cancel: the idle workers first, which releases what
 * the pending steps wait on, then each worker whose step has finished, until
 * none is left. The connections live for the whole phase (each order starts
 * from idle ones, BEGIN sent to all at once); the sandbox is not reset
 * between orders: each order runs on a fresh key, as rounds do. A step that does not run because its worker's flow ended
 * early (skip_if_found found a row, or a statement failed) is recorded as
 * skipped; such a worker still sends its COMMIT at its position (after an
 * error the server answers it with ROLLBACK), so its locks live exactly as
 * long as in the isolation tester. No retries: every worker makes one
 * attempt per order. Every wait has the round's deadline (deadline_ms) and
 * looks at the stop flag. Behind a transaction pooler (pooler) nothing
 * relies on session state: each worker's transaction sets its search_path
 * and names its backend (it keeps that backend until COMMIT), statements go
 * unprepared.
 *
 * With cfg->reduction (not for an `orders:` list, not behind a pooler), the
 * flow's footprints are asked of the server first (footprint.h) and only
 * the first order of each class of orders that differ by commuting steps
 * (reduce.h) runs; every other order of the class is counted with its
 * results (rows, outcomes, duplicates, not executable), as the full
 * enumeration would find them. Which orders to try is reduce.h's and
 * order.h's business; this file only runs them. */
#ifndef PGRACE_INTERLEAVE_H
#define PGRACE_INTERLEAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "footprint.h"
#include "order.h"
#include "race.h"
#include "reduce.h"
#include "scenario.h"

enum ilv_step_status {
	ILV_NOT_REACHED, /* the order stopped before it (not executable) */
	ILV_RAN,         /* finished without waiting */
	ILV_WAITED,      /* waited on a lock, then finished */
	ILV_FAILED,      /* ended in an error (its SQLSTATE is the worker's outcome) */
	ILV_SKIPPED,     /* not run: the worker's flow had ended early */
	ILV_STUCK,       /* still waiting when the order became not executable */
};

/* What one worker ended as in one order. */
struct ilv_worker {
	char outcome[8];      /* "ok", "skipped", a SQLSTATE; "" when not executable */
	char constraint[64];  /* the constraint a 23505 named */
	int error_step;       /* 1-based step where its error surfaced, 0 when none */
	unsigned blocked_by;  /* bit i: one of its steps waited on worker i */
	char message[160];    /* the error's message, "" when none */
};

/* One order and what it did. */
struct ilv_order {
	struct order order;
	size_t same_as;       /* the order whose run stands for this one: its own index when it
			       * ran, else the first order of its class (reduce.h), whose
			       * results it carries (statuses moved to its own positions) */
	bool executable;
	int stuck_pos;        /* not executable: position that could not start, else -1 */
	int stuck_on;         /* ... and the worker whose pending step blocked it */
	long long rows;       /* rows for the order's key after it; -1 when not executable */
	unsigned char status[ORDER_MAX_LEN]; /* enum ilv_step_status, by position */
	struct ilv_worker w[ORDER_MAX_WORKERS];
};

/* Where a phase's orders spent their time (monotonic clock, us, summed over
 * the orders): what ran before each (the phase's round_setup), BEGIN on
 * every worker, the steps (sent until finished or seen blocked, lock-view
 * questions excluded), the lock-view questions themselves, ending a
 * not-executable order (its rollbacks and any cancel), and the rows query.
 * The parts (and the probe) add up to `total`, the phase's orders from first to last. */
struct ilv_time {
	uint64_t probe_us;     /* partial-order reduction's footprint probe, once */
	uint64_t before_us, begin_us, steps_us, detect_us, teardown_us, rows_us, total_us;
	uint64_t lock_queries; /* lock-view questions asked */
	uint64_t cancels;      /* cancel requests sent */
};

/* A phase's orders and their totals. */
struct ilv_summary {
	struct ilv_order *orders;   /* the orders run, in the order they ran */
	size_t n_orders;
	uint64_t total;             /* every possible order: (k*s)!/(s!)^k (UINT64_MAX: more) */
	bool exhaustive;            /* every possible order ran */
	bool listed;                /* the phase's `orders:` list chose them */
	uint64_t seed;              /* the sample's seed */
	int steps;                  /* per worker: flow statements + COMMIT */
	long long with_duplicates;  /* orders that left more than one row for their key */
	long long not_executable;
	bool reduced;               /* partial-order reduction chose which orders ran */
	struct reduce_step footprint[ORDER_MAX_LEN]; /* reduced: each flow statement's */
	struct footprint_rels rels; /* reduced: the relations footprint[].rels names */
	size_t ran;                 /* orders run; the others (pruned) carry a run's results */
	char step_names[ORDER_MAX_LEN][ORDER_NAME_LEN]; /* "select", "insert", "commit" */
	struct ilv_time time;
};

/* The orders phase p runs with cfg: its `orders:` list (parsed for cfg's
 * workers), else all or a sample. False with err when a listed order does not
 * fit the flow. Fills everything of *s but the results (free with ilv_free). */
bool ilv_plan(const struct scenario *sc, const struct phase *p, const struct race_cfg *cfg,
	      struct ilv_summary *s, char *err, size_t errlen);
/* Called before each order with its round and its index in the phase (the
 * phase's round_setup); false stops the phase (the callee says why). */
typedef bool (*ilv_before_fn)(void *ctx, long long round, long long index);

/* Runs every planned order of s on cfg->workers connections in schema, one
 * per round from *round + 1 (advanced), counting outcomes into *t; before
 * (NULL: nothing) runs ahead of each. On RACE_BROKEN / RACE_INTERRUPTED /
 * RACE_BAD err says which order and why (empty when before said no); the
 * orders that completed stay in s. */
enum race_status ilv_run(const char *dsn, const char *schema, bool pooler,
			 const struct scenario *sc, const struct race_cfg *cfg, struct ilv_summary *s,
			 long long *round, ilv_before_fn before, void *before_ctx,
			 struct race_totals *t, char *err, size_t errlen);
/* Index of the first order that left duplicates, -1 when none. */
long ilv_first_duplicate(const struct ilv_summary *s);
/* The letters of the workers worker w of o waited on ("a", "bc"; "" when none). */
void ilv_blockers(const struct ilv_order *o, int w, char *buf, size_t len);
/* One order in full, on one line: "a1 b1 a2 b2 a3 b3 -> 2 rows; a ok; b
 * 23505 at b2 (uq_x) after waiting on a", or "... -> not executable at b3 (b2
 * waits on a)". */
void ilv_describe(const struct ilv_order *o, char *buf, size_t len);
/* Name of a step status in JSON: "not_reached", "ran", "waited", "failed",
 * "skipped", "stuck". */
const char *ilv_status_name(enum ilv_step_status s);
/* Partial-order reduction of s's planned orders by f (reduce.h): each
 * order's same_as becomes the first order of its class, s->reduced true,
 * s->footprint f's flow statements (worker a's). */
void ilv_reduce(struct ilv_summary *s, const struct reduce_flow *f);
/* Order to takes the results of from, a run order of its class: each
 * step's status moves with the step (worker and step number) to to's
 * position. */
void ilv_carry(const struct ilv_order *from, struct ilv_order *to);
/* Frees what ilv_plan allocated (NULL orders are fine). */
void ilv_free(struct ilv_summary *s);

#endif
