/* stats.c: log-linear latency histogram.
 *
 * Values below HIST_SUB land in exact buckets; above, each power of two is
 * split into HIST_SUB equal sub-buckets, so a bucket's width is at most
 * 1/HIST_SUB of its value. */
#include "stats.h"

#include <math.h>
#include <string.h>
#include <time.h>

static unsigned bucket_of(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= log2(HIST_SUB) */
	unsigned shift = msb - 5u;                          /* HIST_SUB == 32 == 1 << 5 */
	unsigned b = (shift + 1u) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* Highest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
	if (b < HIST_SUB)
		return b;
	unsigned shift = b / HIST_SUB - 1u;
	uint64_t base = (uint64_t)(b % HIST_SUB + HIST_SUB) << shift;
	return base + ((uint64_t)1 << shift) - 1;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

void hist_clear(struct hist *h)
{
	if (h->count) {
		int lo = bucket_of(h->min), hi = bucket_of(h->max);
		memset(&h->bucket[lo], 0, (size_t)(hi - lo + 1) * sizeof h->bucket[0]);
	}
	h->count = h->min = h->max = h->sum = 0;
}

void hist_record(struct hist *h, uint64_t us)
{
	if (h->count == 0 || us < h->min)
		h->min = us;
	if (us > h->max)
		h->max = us;
	h->count++;
	h->sum += us;
	h->bucket[bucket_of(us)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = bucket_top(i);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}

uint64_t clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space so that
 * large n neither underflows nor overflows. */
static double binomial_cdf(long long k, long long n, double p)
{
	double log_term = (double)n * log1p(-p), log_ratio = log(p) - log1p(-p);
	double log_sum = log_term;
	for (long long i = 0; i < k; i++) {
		log_term += log((double)(n - i) / (double)(i + 1)) + log_ratio;
		double hi = log_sum > log_term ? log_sum : log_term;
		log_sum = hi + log(exp(log_sum - hi) + exp(log_term - hi));
	}
	return exp(log_sum);
}

double stats_upper95(long long events, long long trials)
{
	if (trials <= 0 || events >= trials)
		return 1.0;
	if (events <= 0)
		return 1.0 - pow(0.05, 1.0 / (double)trials);
	/* The CDF falls as p rises: bisect for the p where it is 0.05. */
	double lo = (double)events / (double)trials, hi = 1.0;
	for (int i = 0; i < 100 && hi - lo > 1e-12; i++) {
		double mid = (lo + hi) / 2;
		if (binomial_cdf(events, trials, mid) > 0.05)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}
