/* attempt.h: the rules of an attempt that every engine shares.
 *
 * race.c (hold, fire, free runs) and interleave.c (every order) each drive
 * attempts their own way, but what an attempt's answer means is decided
 * here, once: which violation counts for a constraint, and whether the rows
 * query's answer has the one shape it may have. Pure: no I/O. */
#ifndef PGRACE_ATTEMPT_H
#define PGRACE_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

/* The label an outcome counts under in the constraint table: the constraint
 * a class-23 error names, "(none)" for a unique or exclusion violation that
 * names none; NULL when the outcome counts for no constraint. */
const char *attempt_constraint_label(const char *sqlstate, const char *constraint);
/* The rows query's answer as a count: true with *rows set when res (a
 * successful result) is exactly one row of one non-negative integer column;
 * else false with *why saying what it was instead. */
bool attempt_rows_value(const struct db_result *res, long long *rows, const char **why);

#endif
