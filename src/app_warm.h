/* app_warm.h: warm workers of an application flow: one process per worker
 * that stays up for the whole phase and is handed one key per order.
 *
 * With `flow: {app: {warm: true}}` pgrace starts each worker's command once
 * (the environment as for every app process, but no key: no arguments after
 * the command's own, no PGRACE_KEYn), then, for each round or order, writes
 * one line to its stdin: the key's values separated by tabs. The app handles
 * that key as a request would (it must connect anew for it: pgrace closes
 * the last order's connections before the next), then writes exactly one
 * line to stdout: its answer, "ok ..." when it succeeded (the order's exit
 * status 0), anything else when it failed (status 1); everything else it
 * prints goes to stderr (more lines, or stdout written with no key
 * outstanding, break the round: they would answer another key). The answer and the stderr written since the key
 * are the order's output (expect_output, tails). A process that exits
 * answers with its exit status and is started again for the next order; one
 * that has not answered by the order's deadline is killed with its process
 * group (the order is broken). At the phase's end stdin is closed; a
 * process still running 2 s later is killed. A key value holding a tab or a
 * newline cannot be sent: the round is broken, naming it.
 *
 * Start-up (interpreter, imports) is paid once per phase instead of once per
 * order: docs/performance.md has the figures. Call everything from one
 * thread (the coordinator's, which the processes' death signal is tied to). */
#ifndef PGRACE_APP_WARM_H
#define PGRACE_APP_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"

struct app_warm; /* opaque */

/* Room for n workers' processes, none started yet. */
struct app_warm *app_warm_new(int n);
/* Whether worker w's process is up. */
bool app_warm_running(const struct app_warm *h, int w);
/* Starts worker w's process: argv in cwd with envp; false with err. */
bool app_warm_start(struct app_warm *h, int w, char *const *argv, const char *cwd, char *const *envp,
		    char *err, size_t errlen);
/* Sends worker w the key (n values) as a line; false with err, also when
 * it wrote to stdout since its last answer (a banner, a second line). */
bool app_warm_send(struct app_warm *h, int w, const char *const *values, int n, char *err, size_t errlen);
/* Reads what worker w said; true once its answer is in or it exited. */
bool app_warm_poll(struct app_warm *h, int w);
/* Worker w's order as a command's result (its answer or exit; watch: the
 * text counted as expect_output, NULL none) into *r, and its buffers
 * cleared for the next order; false with err when it wrote more than one
 * line on stdout for the key. */
bool app_warm_take(struct app_warm *h, int w, const char *watch, struct command_result *r, char *err,
		   size_t errlen);
/* Kills worker w's process group: its result is a timeout (a missed
 * deadline), or interrupted (SIGINT/SIGTERM). */
void app_warm_kill(struct app_warm *h, int w, bool interrupted);
/* Ends every process (stdin closed, then killed after 2 s) and frees h
 * (NULL is fine). */
void app_warm_free(struct app_warm *h);

#endif
