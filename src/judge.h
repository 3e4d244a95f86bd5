/* judge.h: every verdict rule, in one pure module.
 *
 * The runner observes (what a step returned, what a race's rounds left, which
 * constraints the sandbox has) and the judge decides: each expectation's
 * result with its actual values, each step's and phase's verdict, the exit
 * code of a run. No I/O, no database, no globals: tests/test_judge.c covers
 * every rule with tables.
 *
 * The rules, in one place:
 * - a step without expect_error must succeed; with it, it must fail with
 *   that SQLSTATE (and message: a command's anywhere in its output); its
 *   metric checks run only when it succeeded; a built-in check that could
 *   not look at anything fails; a command that cannot start is the
 *   scenario's fault;
 * - SQL that is wrong in itself (judge_sql_is_wrong) is the scenario's
 *   fault (exit 2), so is an expectation that cannot be evaluated; a lost
 *   connection, a timeout or a signal is the database's (exit 3);
 * - a racing phase must evaluate at least one expectation in the mode it ran
 *   in, or it fails; one whose race completed no round (an interleave or
 *   replay phase with no executable order) has no evidence and fails (or is
 *   inconclusive when it must_reproduce), its expectations not evaluated;
 * - under --duration a free-running phase whose steps passed is measured,
 *   not passed; every other phase (steps only, interleave) is judged as
 *   always, and a failure anywhere fails the run;
 * - a phase that broke is an error and never passes; a failed step is a
 *   failure; a must_reproduce phase is inconclusive (exit 4) only when its
 *   steps passed and its race never left a duplicate. */
#ifndef PGRACE_JUDGE_H
#define PGRACE_JUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "pgrace.h"
#include "result.h"
#include "scenario.h"

/* How a statement outside the race ended, as far as verdicts care. */
enum obs_status {
	OBS_OK,
	OBS_ERROR,       /* the server refused it: see sqlstate */
	OBS_LOST,        /* the connection is gone */
	OBS_TIMEOUT,     /* its deadline passed */
	OBS_INTERRUPTED, /* SIGINT/SIGTERM */
};

/* A query's status as verdicts see it. */
enum obs_status judge_obs_status(enum db_status st);
/* judge_setup_error() of a query that ended as st with sqlstate; any
 * failure after a signal (signo, 0 when none) is VERDICT_ERROR. */
enum verdict judge_setup_failure(enum db_status st, const char *sqlstate, int signo);
/* A step's error that its retry_on lists: the step is tried again. */
bool judge_step_retryable(const struct step *st, enum db_status status, const char *sqlstate);

/* What one setup step did. Strings are the caller's. */
struct step_obs {
	enum obs_status status;
	const char *sqlstate;   /* "" when none */
	const char *message;    /* the server's (or libpq's) message, "" when none */
	const char *detail;     /* "" when none */
	const char *note;       /* a built-in check's own account, "" when none */
	bool unchecked;         /* a built-in check that could not look at anything */
	bool command;           /* a command, not SQL: sqlstate is what its output names */
	bool not_started;       /* a command that could not even start: the scenario's fault */
	const char *output[2];  /* a command's stderr and stdout, where expect_message looks */
	long long rows, affected, retries;
	long long stall_ms, load_attempts, load_ok, load_errors; /* under_load only */
};

/* True for SQLSTATEs that say a statement is wrong in itself, whatever state
 * the database is in (syntax, undefined table, column, function, parameter,
 * datatype mismatch, protocol violation). */
bool judge_sql_is_wrong(const char *sqlstate);
/* Whose fault a failed statement of the scenario is when no expectation
 * covers it (schema, seed, the rows query): VERDICT_ERROR when the database
 * could not be used (connection, resources, timeouts, shutdown, lock or
 * serialization conflicts), else VERDICT_BAD_SCENARIO. */
enum verdict judge_setup_error(enum obs_status status, const char *sqlstate);

/* Judges step st (index i in its phase, from 0) from o: appends its
 * expectation results to ph and returns VERDICT_PASS or _FAIL, or a verdict
 * that stops the run (_BAD_SCENARIO, _ERROR) with why saying where and what. */
enum verdict judge_step(const struct scenario *sc, const struct step *st, size_t i,
			const struct step_obs *o, struct phase_result *ph, char *why,
			size_t whylen);

/* How many of p's expectations apply when it races in mode. */
size_t judge_applicable(const struct phase *p, enum race_mode mode);
/* Calls visit for every NAME in p's constraint.NAME metrics (repeats included). */
void judge_constraint_names(const struct phase *p, void (*visit)(void *ctx, const char *name),
			    void *ctx);

/* Names the sandbox lacks at the end of a phase, for constraint.NAME. */
struct name_list {
	const char *const *names;
	size_t n;
};

/* _BAD_SCENARIO (why says where) when the server rejected p's flow as wrong
 * SQL in itself, else _PASS: the one rule a free run (measured, not judged)
 * is held to. */
enum verdict judge_flow(const struct scenario *sc, const struct phase *p,
			const struct phase_result *ph, char *why, size_t whylen);
/* Judges a racing phase from what ph holds (rounds, rows, outcomes): a flow
 * the server rejected as wrong SQL is _BAD_SCENARIO; otherwise every
 * expectation that applies to mode goes into ph->expects (a constraint.NAME
 * that is in missing says so in its actual text) and the verdict is _PASS or
 * _FAIL (also when none applies); an expectation that cannot be evaluated is
 * _BAD_SCENARIO. why says where and what for a verdict that stops the run. */
enum verdict judge_race(const struct scenario *sc, const struct phase *p, enum race_mode mode,
			const struct name_list *missing, struct phase_result *ph, char *why,
			size_t whylen);
/* The phase's verdict from what ph recorded (see the rules above):
 * _MEASURED for a free run (ph->free_run) that would pass; sets ph->verdict
 * and ph->passed (pass or measured: nothing failed). */
enum verdict judge_phase(const struct phase *p, struct phase_result *ph);
/* The exit code for a run's verdict; signo is the signal that stopped it, 0 when none. */
int judge_exit_code(enum verdict v, int signo);
/* A scenario's requires against the server a run met (major version from
 * version_num, PQserverVersion's; version as the server names it; have[i]:
 * it can create rq->extensions[i]): VERDICT_PASS when it has everything,
 * else VERDICT_SKIPPED with the first thing it lacks in reason ("needs
 * PostgreSQL >= 15, server is 13.23"): not run, so neither failed nor bad. */
enum verdict judge_requirements(const struct requirements *rq, int version_num,
				const char *version, const bool *have, char *reason, size_t len);


#endif
