/* stats.h: latency histograms in microseconds.
 *
 * Log-linear buckets (32 sub-buckets per power of two: under 3% error),
 * plus the exact min, max and count; values above about 19 hours share
 * the last bucket. One per worker on the
 * hot path, merged after join: recording takes no lock. */
#ifndef PGRACE_STATS_H
#define PGRACE_STATS_H

#include <stdint.h>

#define HIST_SUB 32
#define HIST_EXP 32
#define HIST_BUCKETS (HIST_SUB * HIST_EXP)

struct hist {
	uint64_t count;
	uint64_t min, max; /* exact, microseconds */
	uint64_t sum;
	uint32_t bucket[HIST_BUCKETS];
};

/* Empties h. */
void hist_init(struct hist *h);
/* Empties h as hist_init does, writing only the buckets between its
 * min's and its max's (the rest are zero): a worker's histogram, emptied
 * every round, keeps its untouched pages untouched. */
void hist_clear(struct hist *h);
/* Records one value in microseconds. */
void hist_record(struct hist *h, uint64_t us);
/* Adds src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Value at percentile p (0..100), within bucket precision, clamped to [min, max]; 0 if empty. */
uint64_t hist_percentile(const struct hist *h, double p);
/* One-sided 95 % upper bound on a per-trial probability after events in
 * trials (exact Clopper-Pearson: the p at which P(X <= events) = 0.05; with
 * no events 1 - 0.05^(1/trials), about 3/trials). 1 when trials is 0 or
 * every trial was an event. */
double stats_upper95(long long events, long long trials);
/* Monotonic clock in microseconds. */
uint64_t clock_us(void);

#endif
