/* result.h: what a run leaves: per phase, its race's figures, its steps and
 * every expectation's verdict; and the run's own verdict. Plain data,
 * written by run.c and judge.c, read by report.c and html.c; no functions.
 * Verdicts are enum verdict (pgrace.h); the exit code a verdict maps to is
 * exitcode.c's table. */
#ifndef PGRACE_RESULT_H
#define PGRACE_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interleave.h"

struct appil_summary;
#include "order.h"
#include "outcome.h"
#include "pgrace.h"
#include "scenario.h"
#include "stats.h"

/* One expectation's verdict. */
struct expect_result {
	char expect[512]; /* what was expected, as written (steps: "error 23505 ...") */
	char actual[512]; /* what happened, with values */
	bool passed;
	int step; /* 1 + index of the step it checks; 0: the phase's race */
};

/* What one setup step did, as numbers (its checks are in expects). */
struct step_result {
	char label[160];  /* "migrate up", "run precheck", "check amcheck" */
	char sqlstate[6]; /* "" when it succeeded */
	long long rows, affected, retries;
	bool under_load;
	long long stall_ms, load_attempts, load_errors; /* under_load only */
	double elapsed_s;                               /* the step itself, retries included */
};

/* An application flow's own counts over a phase's rounds (app.h). */
struct app_totals {
	long long exit_ok, exit_failed; /* processes that exited 0, and not */
	long long output_matched;       /* processes whose output held expect_output */
	long long connections;          /* connections they made through the listener */
};

#define APP_TAIL_MAX 2048 /* bytes of each output tail an app worker's result keeps */

#define APP_TRIPS_MAX 32 /* last steps an app worker's result keeps per round */

/* One step (round trip) of an app worker's connections as pgrace's listener
 * relayed it, in microseconds from the round's start (its listener armed). */
struct app_trip {
	long long in_us;     /* it came in whole from the app */
	long long sent_us;   /* relayed to the server (later when held); -1 never */
	long long done_us;   /* its answer was back (ReadyForQuery); -1 never */
	int conn;            /* the worker's connection, from 0 in accept order */
	char what[12];       /* pgwire_sql_class_name: "BEGIN", "statement", "COMMIT", ... */
	bool held;           /* held at the mode's hold point */
	char sqlstate[6];    /* the error it got, "" when none; "error" when not kept */
	char constraint[64]; /* that error's constraint, "" when none */
};

/* One app worker's process in a kept round (app.h). */
struct app_worker_result {
	int exit_code;              /* its exit status, 128 + signal when a signal ended it */
	int signal;                 /* the signal that ended it, 0 when it exited */
	char end[96];               /* command_end_text: "exited with status 3" */
	bool matched;               /* its output held expect_output */
	char sqlstate[6];           /* the first error it got on the wire, "" without one */
	char constraint[64];        /* the first class-23 error's constraint, "" without one */
	char out[APP_TAIL_MAX + 1]; /* the last bytes of stdout, passwords scrubbed */
	char err[APP_TAIL_MAX + 1]; /* the last bytes of stderr, passwords scrubbed */
	long long exited_us;        /* when it ended, from the round's start */
	struct app_trip trips[APP_TRIPS_MAX]; /* its last steps as the listener saw them */
	int n_trips;                          /* of the trips_seen, the last kept */
	int trips_seen;
};

/* A round of an app flow kept for the report: the first, the first that
 * left duplicates, the first passing one with the migration applied. */
struct app_round_result {
	long long round;                   /* 1-based within the phase */
	char why[96];                      /* "first", "first duplicate", joined by ", " */
	struct app_worker_result *workers; /* one per worker, malloc'd */
	int n_workers;
};

#define APP_KEPT_ROUNDS 3

struct phase_result {
	char name[128];
	bool migrated; /* migration applied while the phase ran (after its steps) */
	bool has_race;
	enum race_mode mode;
	enum isolation isolation;
	int workers, rounds, keys;
	long long rounds_with_duplicates;
	long long extra_rows;                  /* rows beyond each key's first, over every round */
	double duplicate_yield;                /* extra_rows / (rounds x (workers - keys)): 0..1 */
	uint64_t detect_us_p50, detect_us_max; /* hold: last worker settled -> COMMITs released */
	long long coord_polls;                 /* hold: the coordinator's lock-view queries */
	double coord_cpu_share;                /* the coordinator thread's CPU / the rounds' wall time */
	long long rows_min, rows_max;          /* rows per key over every round and key */
	long long attempts;
	long long retries;
	struct outcome_table outcomes;    /* "ok", "skipped", SQLSTATEs, "lost" */
	struct outcome_table constraints; /* constraint name -> violations naming it */
	struct outcome_table *per_key;    /* outcomes by key index, when keys > 1 */
	size_t n_per_key;
	struct hist latency;               /* per attempt, start of flow to its end */
	uint64_t skew_us_p50, skew_us_max; /* spread of the workers' first sends */
	uint64_t release_us_p50, release_us_max; /* fire: first to last tail write, per round */
	long long release_tails; /* fire: workers released by their tail, over the rounds */
	long long release_realtime_rounds; /* fire: rounds whose tails went out at realtime priority */
	double connect_s;        /* connecting the phase's workers (before its first round) */
	struct expect_result *expects;
	size_t n_expects;
	struct step_result *steps; /* one per step that ran */
	size_t n_steps;
	enum verdict verdict;   /* judge_phase(): pass, fail, inconclusive, bad_scenario, error */
	bool passed;            /* verdict is pass or measured: nothing failed */
	bool broken;            /* a step or round could not complete (see run_result.error) */
	bool free_run;          /* --duration: free-running, measured, not judged */
	double duration_s;      /* free run: how long the workers ran */
	double tps;             /* free run: attempts per second */
	double upper95;         /* fire: 95 % upper bound on the per-round race probability */
	struct ilv_summary ilv; /* interleave: the orders and what each did */
	struct appil_summary *appil; /* interleave of an app flow (app_interleave.h), else NULL */
	struct app_totals app;  /* an app flow: its processes' exits and output (app.h) */
	struct app_round_result app_rounds[APP_KEPT_ROUNDS]; /* app flow: rounds kept */
	size_t n_app_rounds;
	/* fire: the first round that left duplicates, the order its steps were
	 * sent in (notation, "" when none) and each step's send and completion */
	long long fire_round;
	char fire_order[ORDER_MAX_EVENTS * 4];
	struct order_event fire_events[ORDER_MAX_EVENTS];
	struct step_end fire_ends[ORDER_MAX_EVENTS];
	size_t n_fire_events;
	/* fire or hold with the migration applied: the first round that left
	 * no duplicates (0 when none) and its steps, as fire_events */
	long long pass_round;
	struct order_event pass_events[ORDER_MAX_EVENTS];
	struct step_end pass_ends[ORDER_MAX_EVENTS];
	size_t n_pass_events;
	int steps_per_worker; /* fire or hold: the flow's statements and COMMIT */
	double elapsed_s;
};

struct run_result {
	char scenario[128];
	char file[1024];
	char schema[64];
	enum verdict verdict;
	bool complete;           /* every phase ran */
	char error[1024];        /* why the run stopped early, "" when it did not */
	char skipped[256];       /* verdict skipped: the requirement the server lacks */
	char server_version[32]; /* "13.23"; "" when never connected */
	struct phase_result *phases;
	size_t n_phases;
	double elapsed_s;
};

#endif
