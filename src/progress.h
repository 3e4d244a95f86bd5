/* progress.h: the progress line a running phase writes on a terminal
 * (stderr, not --quiet): rounds or orders done of all, what they found so
 * far. At most ten lines a second, and always the last one; names and
 * labels escaped (text.h) before they reach the terminal. Calls text and
 * stats only. */
#ifndef PGRACE_PROGRESS_H
#define PGRACE_PROGRESS_H

#include <stdint.h>

#include "outcome.h"
#include "result.h"

/* A rounds phase: round ph->rounds of total, rows per key, rounds with
 * duplicates and the outcomes so far. */
void progress_rounds(const struct phase_result *ph, int total, const struct outcome_table *so_far);
/* An interleave phase: order done of all, the duplicates so far, elapsed
 * since t0_us and an estimate of what is left. */
void progress_orders(const struct phase_result *ph, long long done, uint64_t t0_us);
/* Clears the line. */
void progress_clear(void);

#endif
