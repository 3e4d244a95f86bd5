/* run.h: a scenario's phases, in order, against one sandbox schema, and
 * the results they leave.
 *
 * run_scenario() creates a schema of its own (pgrace_<pid>_<random>), sets
 * every connection's search_path to it, loads schema and seed, plays the
 * phases, evaluates every expectation, and drops the schema at the end,
 * whatever happened. The results are plain data for report.h. */
#ifndef PGRACE_RUN_H
#define PGRACE_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "pgrace.h"
#include "result.h"
#include "scenario.h"
#include "server.h"
#include "stats.h"

struct run_opts {
	const char *dsn;          /* conninfo or URI; NULL: PG* environment */
	struct target_arg targets[RUN_TARGETS_MAX]; /* the scenarios' other targets, by name */
	size_t n_targets;
	struct race_cfg override; /* command-line race settings (override.set says which) */
	int duration_ms;          /* > 0: race phases free-run this long instead of rounds */
	bool hot;                 /* free run: every attempt on one key, not a fresh one */
	bool pooler;              /* behind a transaction-pooling pooler: no session state */
	const char *admin_dsn;    /* setup, steps and cleanup (NULL: dsn); under pooler, a
				   * connection that keeps its session (direct, or a
				   * session-mode pool) */
	bool quiet;
	bool progress;            /* progress line on stderr */
	const char *last_phase;   /* when set, stop after the phase of that name */
	/* When set: called on the admin connection right before the race of
	 * interleave phase last_phase (after its steps), with the round of its
	 * first order; false stops the run as a bad scenario, why in err
	 * (pgrace spec's pg_dump of the sandbox). */
	bool (*before_last_race)(void *ctx, PGconn *admin, const char *schema, long long round,
				 char *err, size_t errlen);
	void *before_last_race_ctx;
};

/* Runs sc; fills *res (free with run_result_free). Never exits the process. */
void run_scenario(const struct scenario *sc, const struct run_opts *opts, struct run_result *res);
/* Frees what run_scenario allocated in res. */
void run_result_free(struct run_result *res);
/* Exit code for a verdict (and interrupt state). */
int run_exit_code(enum verdict v);

#endif
