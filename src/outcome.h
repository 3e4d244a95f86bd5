/* outcome.h: what one attempt ended as, and per-worker counters of them.
 *
 * Counting rule, per phase: attempts = ok + skipped + sum(errors by SQLSTATE)
 * + lost. "ok" means the flow ran to COMMIT and the COMMIT succeeded;
 * "skipped" means a step marked skip_if_found found a row and the attempt
 * ended there (committed, nothing written); an error is counted under its
 * SQLSTATE, wherever it surfaced (a statement or the COMMIT); "lost" is an
 * error libpq made itself (connection lost), which carries no SQLSTATE. */
#ifndef PGRACE_OUTCOME_H
#define PGRACE_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

enum outcome_class {
	OC_OK,
	OC_SKIPPED,
	OC_UNIQUE_VIOLATION,  /* 23505 */
	OC_SERIALIZATION,     /* 40001 */
	OC_DEADLOCK,          /* 40P01 */
	OC_OTHER_ERROR,       /* any other SQLSTATE */
	OC_LOST,              /* no SQLSTATE: libpq's own error, connection gone */
};

/* Classifies a SQLSTATE; NULL or "" (libpq's own errors) is OC_LOST. */
enum outcome_class outcome_classify(const char *sqlstate);
/* True for errors a flow may retry: serialization failure, deadlock. */
bool outcome_retryable(const char *sqlstate);
/* True for the violations counted by the constraint they name: 23505
 * (unique) and 23P01 (exclusion, also PostgreSQL 18's WITHOUT OVERLAPS). */
bool outcome_names_constraint(const char *sqlstate);

/* A SQLSTATE PostgreSQL defines, with its condition name. */
struct sqlstate_def {
	const char *code; /* "23505" */
	const char *name; /* "unique_violation" */
};

/* Every SQLSTATE PostgreSQL 13 to 18 defines, sorted by code; *n gets the
 * count (src/sqlstates.inc, generated from errcodes.txt). */
const struct sqlstate_def *outcome_sqlstates(size_t *n);
/* The condition name of code ("unique_violation"), NULL when PostgreSQL
 * defines no such SQLSTATE. */
const char *outcome_sqlstate_name(const char *code);

#define OUTCOME_SLOTS 24 /* distinct outcome labels per table; more go to "other" */

/* Counts by label: "ok", "skipped", "lost", "other", a SQLSTATE, or
 * a constraint name. Plain arrays: each worker owns one, merged after join. */
struct outcome_table {
	size_t n;
	char label[OUTCOME_SLOTS][64];
	long long count[OUTCOME_SLOTS];
	char sample[OUTCOME_SLOTS][160]; /* first message seen for the label, "" if none */
	int line[OUTCOME_SLOTS];         /* scenario line of the statement behind sample, 0 if none */
};

/* Empties t, writing only its count of labels (a slot is set up afresh
 * when a label takes it): its untouched pages stay untouched. */
void outcome_clear(struct outcome_table *t);
/* Adds delta to label's count (a full table counts it under "other"). */
void outcome_add(struct outcome_table *t, const char *label, long long delta);
/* Keeps msg (and the scenario line it came from, 0 if none) as label's
 * sample unless it has one already. */
void outcome_note(struct outcome_table *t, const char *label, const char *msg, int line);
/* label's sample message, "" when none. */
const char *outcome_sample(const struct outcome_table *t, const char *label);
/* Count for label, 0 when absent. */
long long outcome_get(const struct outcome_table *t, const char *label);
/* Adds every count of src into dst. */
void outcome_merge(struct outcome_table *dst, const struct outcome_table *src);
/* Sum of all counts. */
long long outcome_total(const struct outcome_table *t);

#endif
