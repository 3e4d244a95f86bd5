/* pgrace.h: exit codes and verdicts, shared by every module.
 *
 * The exit code is the contract CI reads. The codes are also one table
 * (exitcode.c: what --help prints, and what the README, the man page and
 * docs/ci.md are tested against); judge_exit_code() is the only place that
 * maps a verdict to a code. */
#ifndef PGRACE_H
#define PGRACE_H

/* Process exit codes; exitcode.c's table says what each means. */
enum pgrace_exit {
	EXIT_PASS = 0,         /* every expectation held */
	EXIT_FAIL = 1,         /* an expectation failed: the regression a gate exists for */
	EXIT_USAGE = 2,        /* bad usage or bad scenario file (message names file:line) */
	EXIT_DATABASE = 3,     /* the database could not be used: unreachable, died, timed out */
	EXIT_INCONCLUSIVE = 4, /* a phase that must reproduce the race never did */
	EXIT_RESULTS = 5,      /* verdict reached, but the result files could not be written */
	EXIT_SKIPPED = 6,      /* every scenario was skipped: the server lacks what they require */
	EXIT_SIGINT = 130,     /* interrupted by SIGINT */
	EXIT_SIGTERM = 143,    /* terminated by SIGTERM */
};

/* A run's verdict, worst last (but skipped, the mildest): verdict_worse()
 * picks the more severe of two. */
enum verdict {
	VERDICT_PASS,
	VERDICT_INCONCLUSIVE,
	VERDICT_FAIL,
	VERDICT_BAD_SCENARIO, /* scenario SQL rejected by the server: exit 2 */
	VERDICT_ERROR,        /* database unusable or run interrupted: exit 3 / 130 / 143 */
	VERDICT_SKIPPED,      /* the server lacks what the scenario requires: nothing ran; milder
			       * than pass, so a pass beside it exits 0, and skipped alone exits 6 */
	VERDICT_MEASURED,     /* a --duration run: figures taken, nothing judged; exit 0; milder
			       * than pass, above skipped */
};

/* Name used in JSON: "pass", "inconclusive", "fail", "bad_scenario", "error",
 * "skipped", "measured". */
const char *verdict_name(enum verdict v);
/* The more severe of a and b. */
enum verdict verdict_worse(enum verdict a, enum verdict b);

#endif
