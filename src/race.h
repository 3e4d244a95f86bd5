/* race.h: the workers racing a scenario's flow, one round at a time.
 *
 * race_open() connects every worker before any round, so connection time is
 * never part of a race. The workers (worker.h: each a state machine, not a
 * thread) are driven by a few event-loop threads (evloop.h: one per core,
 * or PGRACE_THREADS; never more than workers), each multiplexing its
 * workers' non-blocking connections. A round: every worker BEGINs, waits
 * at the start line, then runs the flow on the round's key (key.h evaluates
 * it; with params that use `worker`, each worker sends its own spelling,
 * and the rows query worker 0's); at the go each loop sends its workers'
 * first statements back to back. In fire mode each commits as soon as it
 * is done. In hold mode each stops before COMMIT; the coordinator (coord.h)
 * asks the server until every worker has either finished its statements or
 * is blocked on a lock held by another worker, then releases all commits at
 * once: deterministic.
 * Free runs (--duration, and steps under_load) drop the start line: each
 * worker runs the flow back to back on fresh keys, pipelined where the flow
 * allows (libpq pipeline mode: BEGIN with the first statement, the last
 * statement with COMMIT; a skip_if_found statement ends a batch; not behind
 * a pooler, not with PGRACE_PIPELINE=off). A worker prepares the flow's
 * statements once, on its first attempt (not behind a pooler).
 * Every query has a deadline (past it, it is cancelled) and the stop flag
 * cancels it too; every wait has the round's deadline. */
#ifndef PGRACE_RACE_H
#define PGRACE_RACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "order.h"
#include "outcome.h"
#include "scenario.h"
#include "stats.h"

struct race; /* opaque: the workers of one phase */
struct connpool;

/* What one round left behind. */
struct round_result {
	long long rows_min, rows_max; /* rows per key over this round's keys */
	int keys_with_duplicates;
	long long extra_rows;         /* rows beyond each key's first, summed over the keys */
	uint64_t skew_us;             /* last first-send minus first first-send */
	uint64_t release_us;          /* fire: first to last tail write (last-byte), else skew_us */
	int tails;                    /* fire: workers released by their tail (last-byte) */
	bool realtime;                /* fire: the tails went out at realtime priority (release.h) */
	/* A fire or hold round on one key (at most 26 workers, ORDER_MAX_EVENTS
	 * steps in all): each step's send and completion, each worker's BEGIN
	 * (step -1) where room is left, sorted by send time,
	 * and what it ended in (n_events 0 otherwise); when the round left
	 * duplicates, the order its steps were sent in ("a1 b1 a2 ...", "" otherwise). */
	char order[ORDER_MAX_EVENTS * 4];
	struct order_event events[ORDER_MAX_EVENTS];
	struct step_end ends[ORDER_MAX_EVENTS];
	size_t n_events;
};

/* Totals over a phase's rounds, merged from the workers after their rounds. */
struct race_totals {
	long long attempts, retries;
	struct outcome_table outcomes;    /* final outcome of each attempt */
	struct outcome_table constraints; /* 23505s and 23P01s by constraint name ("" -> "(none)") */
	struct hist latency;               /* first send to final outcome, per attempt */
	struct hist skew;                  /* per round */
	struct hist release;               /* fire: release_us per round */
	long long tails;                   /* fire: round_result.tails summed */
	long long realtime_rounds;         /* fire: rounds whose tails went out at realtime priority */
	/* the coordinator, over the phase's rounds */
	struct hist detect;     /* hold: last worker settled -> COMMITs released, per round */
	long long polls;        /* hold: lock-view queries it asked */
	uint64_t coord_cpu_us;  /* its thread's CPU time during rounds */
	uint64_t round_us;      /* the rounds' wall time */
	uint64_t connect_us;    /* connecting the workers, all at once on the loops */
};

enum race_status {
	RACE_OK,
	RACE_BROKEN,      /* the database or the harness: a lost connection, a deadline */
	RACE_INTERRUPTED, /* SIGINT/SIGTERM */
	RACE_BAD,         /* the scenario's fault (err names file:line): wrong rows query,
			   * a key parameter that cannot be evaluated, a flow that ends its
			   * own transaction */
};

/* Folds one key's row count into out (rows_min starts below 0: none yet):
 * the range, and a key with more than one row as duplicated. */
void round_result_add_key(struct round_result *out, long long rows);
/* Worker w's key index: uniform spreads workers evenly; hot puts half of
 * them on key 0 and spreads the rest over the others (SQL and app workers). */
int race_key_of(const struct race_cfg *c, int w);
/* Event-loop threads for that many workers: PGRACE_THREADS (1 to 64), else
 * one per online core, never more than workers; 0, with err, when
 * PGRACE_THREADS holds anything else. */
int race_threads(int workers, char *err, size_t errlen);
/* Starts cfg->workers connected workers in schema; NULL with err on failure.
 * pooler: keep no session state (a transaction-pooling pooler such as
 * pgbouncer may hand each transaction another server connection): the
 * search_path is set per transaction and each worker's backend pid is asked
 * inside its transaction, every round. targets[t] (t >= 1, for the
 * scenario's targets) is the conninfo of target t: each worker connects to
 * it too, and a flow step `on:` it runs there, outside the worker's
 * transaction (its own implicit one); targets[0] is dsn. pool (or NULL):
 * workers take kept connections from it before connecting (not through a
 * pooler, nor with targets). */
struct race *race_open(const char *dsn, const char *const *targets, const char *schema, bool pooler,
		       const struct scenario *sc, const struct race_cfg *cfg, struct connpool *pool,
		       char *err, size_t errlen);
/* Tells r the backend pid of pgrace's own setup connection, so a worker it
 * blocks (a step left a transaction open) is not said to be blocked from
 * outside. */
void race_set_admin_pid(struct race *r, int pid);
/* Runs one round; round numbers the key (the `round` name in params). On a
 * broken round err says which worker and why. */
enum race_status race_round(struct race *r, long long round, long long phase_round,
			    struct round_result *out, char *err, size_t errlen);
/* Rows per key for round's keys (key = 0..keys-1), without racing. */
enum race_status race_rows(struct race *r, long long round, struct round_result *out, char *err,
			   size_t errlen);
/* Starts free-running: no barrier, each worker runs the flow back to back,
 * each attempt on a fresh key (rounds from round_base on) or, when hot, all
 * on round_base's key; for duration_ms, or until race_free_wait(stop). */
void race_free_start(struct race *r, long long round_base, bool hot, int duration_ms);
/* Ends a free run (stop: at once, else when its duration passes) and waits
 * for the workers; *keys_used = rounds consumed from round_base. */
enum race_status race_free_wait(struct race *r, bool stop, long long *keys_used, char *err,
				size_t errlen);
/* Merges the workers' counters into *t. Only while no round runs: after a
 * round that returned RACE_OK, or after race_join(); per_key, when not NULL, has cfg->keys tables and gets each key's
 * outcomes (a worker races on the same key index every round). */
void race_totals(struct race *r, struct race_totals *t, struct outcome_table *per_key);
/* Stops and joins the worker threads (a broken or interrupted round may
 * leave them finishing their queries); connections stay open. */
void race_join(struct race *r);
/* Marks r's phase as ended cleanly: race_close hands its workers'
 * connections to the pool race_open was given. */
void race_keep(struct race *r);
/* race_join(), then closes every connection (or, after race_keep, hands
 * them to the pool: connpool_keep) and frees r (NULL is fine). */
void race_close(struct race *r);

#endif
