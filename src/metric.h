/* metric.h: every name an expression may use, in one table.
 *
 * Three scopes: a racing phase's expectations (rows_per_key.min,
 * outcomes.23505, constraint.NAME, ...), a setup step's expectations (rows,
 * affected, ...) and the key parameters (round, key, phase_round, worker). The
 * loader validates names against this table, the judge and the key
 * evaluator read values by the id it gives, and docs/scenario-format.md is
 * checked against it by tests/test_metric.c. A new metric is one row here
 * and one case where its value is read. Pure: no I/O. */
#ifndef PGRACE_METRIC_H
#define PGRACE_METRIC_H

#include <stdbool.h>
#include <stddef.h>

enum metric_scope { METRIC_PHASE, METRIC_STEP, METRIC_PARAM };

enum metric_id {
	/* phase */
	M_WORKERS,
	M_ROUNDS,
	M_KEYS,
	M_ATTEMPTS,
	M_RETRIES,
	M_ROUNDS_WITH_DUPLICATES,
	M_EXTRA_ROWS,
	M_ROWS_MIN,
	M_ROWS_MAX,
	M_OUTCOMES,   /* outcomes.<ok|skipped|lost|SQLSTATE> */
	M_CONSTRAINT, /* constraint.<name> */
	M_INTERLEAVINGS,
	M_INTERLEAVINGS_WITH_DUPLICATES,
	M_INTERLEAVINGS_NOT_EXECUTABLE,
	M_APP_EXIT_OK,
	M_APP_EXIT_FAILED,
	M_APP_OUTPUT_MATCHED,
	/* step */
	M_STEP_ROWS,
	M_STEP_AFFECTED,
	M_STEP_RETRIES,
	M_STEP_STALL_MS,
	M_STEP_LOAD_ATTEMPTS,
	M_STEP_LOAD_OK,
	M_STEP_LOAD_ERRORS,
	/* key parameters */
	M_PARAM_ROUND,
	M_PARAM_KEY,
	M_PARAM_PHASE_ROUND,
	M_PARAM_WORKER,
};

struct metric_def {
	const char *name;  /* the full name, or for a family its prefix ("outcomes.") */
	enum metric_scope scope;
	enum metric_id id;
	bool family;       /* name is a prefix; the rest is checked by metric_check */
	const char *shown; /* how docs and messages show it: "outcomes.<ok|skipped|lost|SQLSTATE>" */
	const char *doc;   /* one line: what it counts */
};

/* The whole table, in documentation order; *n gets its length. */
const struct metric_def *metric_table(size_t *n);
/* The definition name has in scope, NULL when none; for a family, *suffix
 * (when not NULL) points at the part after the prefix. */
const struct metric_def *metric_find(enum metric_scope scope, const char *name,
				     const char **suffix);
/* True when name is valid in scope: known, and a family member's suffix
 * well-formed (outcomes.: ok, skipped, lost or a SQLSTATE PostgreSQL
 * defines; constraint.: a non-empty name). Otherwise err says why, with a
 * "did you mean" when a valid name is close. */
bool metric_check(enum metric_scope scope, const char *name, char *err, size_t errlen);
/* The names of scope as docs show them, comma-separated, into buf. */
const char *metric_names(enum metric_scope scope, char *buf, size_t len);

#endif
