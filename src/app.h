/* app.h: a phase's race run by the application's own processes, through
 * pgrace's protocol listener (proxy.h).
 *
 * Each round starts the scenario's app command once per worker, at once,
 * with the worker's key parameters as arguments ($1..$n after the command's
 * own; for shell: true, the shell's positional parameters) and in the
 * environment (PGRACE_KEY1..PGRACE_KEYn, PGRACE_WORKER, PGRACE_ROUND,
 * PGRACE_KEY_INDEX), and with PGHOST/PGPORT/DATABASE_URL naming the
 * worker's own listener on 127.0.0.1 (PGUSER, PGDATABASE, PGOPTIONS with
 * the sandbox's search_path, and a PGPASSFILE as for commands; no password
 * in the environment). Every connection to a worker's port is that
 * worker's. Hold mode holds each COMMIT/END until every worker is at its
 * commit, blocked on a lock its peers hold (the lock view, over the backend
 * pids the listener read), or finished; fire mode holds each worker's first
 * data statement until every worker has reached its own, finished, or is
 * blocked on a peer's lock before reaching it, then releases them
 * together; interleave mode holds every interleaving point and lets its
 * driver (app_interleave.h) choose who goes.
 *
 * A worker's attempt is its process: its outcome is the SQLSTATE of the
 * first error its connections got on the wire ("ok" without one), every
 * class-23 error naming a constraint counts for it, and its exit status and
 * whether its output held the scenario's expect_output are counted too. A
 * worker that never connected through its listener, a process still running
 * at its deadline (killed with its process group) or one that could not be
 * started breaks the round, naming the worker and its output's tail
 * (passwords scrubbed): never a pass on nothing.
 *
 * Each worker is the attempt core's application kind (worker.h, WK_APP:
 * its states in worker_advance), coordinated by the release rule SQL
 * workers have (coord.h); the phase runs them instead of SQL workers and
 * shares the round's key evaluation, rows query and totals. */
#ifndef PGRACE_APP_H
#define PGRACE_APP_H

#include <libpq-fe.h>
#include <stddef.h>

#include "race.h"
#include "result.h"
#include "scenario.h"

struct app_race; /* opaque */

/* Opens one listener per worker towards the server admin is connected to
 * (its host and port) for a phase with cfg; NULL with err on failure (err
 * names file:line when the scenario asks for what app flows cannot do). */
struct app_race *app_open(PGconn *admin, const char *schema, const struct scenario *sc,
			  const struct race_cfg *cfg, char *err, size_t errlen);
/* Runs one round (round numbers the key, as for SQL flows): starts the
 * processes, holds and releases their steps, waits for every one, then
 * counts rows per key with admin. Adds to *t and *at; fills wr (one per
 * worker, NULL: not wanted) with each process's end, output tails, exit
 * time and steps as the listener relayed them; on a
 * broken round err names the worker and why. */
enum race_status app_round(struct app_race *a, long long round, long long phase_round,
			   struct round_result *out, struct race_totals *t, struct app_totals *at,
			   struct app_worker_result *wr, char *err, size_t errlen);
/* Decides a round's releases in place of hold's and fire's barrier: called
 * with the workers' processes' ends (done[w]) whenever something changed or
 * a few milliseconds passed, until every process ended; false with err
 * breaks the round (its processes still end at their deadline). */
typedef bool (*app_drive_fn)(void *ctx, const bool *done, char *err, size_t errlen);
/* Makes fn (NULL: the mode's own barrier) decide a's rounds from now on;
 * interleave mode's driver (app_interleave.h). */
void app_set_driver(struct app_race *a, app_drive_fn fn, void *ctx);
/* a's listener (the driver reads its views and log, and releases). */
struct proxy *app_proxy(struct app_race *a);
/* Closes the listeners and frees a (NULL is fine). */
void app_close(struct app_race *a);

#endif
