/* progress.c: the progress line of a running phase (progress.h). */
#include "progress.h"

#include <stdio.h>

#include "stats.h"
#include "text.h"

void progress_rounds(const struct phase_result *ph, int total, const struct outcome_table *so_far)
{
	static uint64_t last_us;
	uint64_t now = clock_us();
	if (ph->rounds < total && now - last_us < 100000u)
		return;
	last_us = now;
	char outcomes[160] = "", safe_outcomes[160], name[21];
	size_t len = 0;
	for (size_t i = 0; i < so_far->n && len < sizeof outcomes; i++)
		len += (size_t)snprintf(outcomes + len, sizeof outcomes - len, " %s=%lld",
					so_far->label[i], so_far->count[i]);
	text_escape(ph->name, sizeof ph->name, name, sizeof name);
	text_escape(outcomes, sizeof outcomes, safe_outcomes, sizeof safe_outcomes);
	fprintf(stderr, "\r\033[K%-20.20s round %d/%d  rows/key %lld..%lld  dup rounds %lld %s", name,
		ph->rounds, total, ph->rows_min, ph->rows_max, ph->rounds_with_duplicates, safe_outcomes);
	fflush(stderr);
}

void progress_orders(const struct phase_result *ph, long long done, uint64_t t0_us)
{
	static uint64_t last_us;
	uint64_t now = clock_us();
	long long total = (long long)ph->ilv.n_orders, dups = 0;
	if (done < total && now - last_us < 100000u)
		return;
	last_us = now;
	for (long long i = 0; i < done && i < total; i++)
		dups += ph->ilv.orders[i].rows > 1;
	double elapsed = (double)(now - t0_us) / 1e6;
	char name[21], eta[32] = "";
	if (done > 0 && done < total)
		snprintf(eta, sizeof eta, ", about %.1f s left",
			 elapsed / (double)done * (double)(total - done));
	text_escape(ph->name, sizeof ph->name, name, sizeof name);
	fprintf(stderr, "\r\033[K%-20.20s order %lld/%lld  dup orders %lld  %.1f s%s", name, done, total,
		dups, elapsed, eta);
	fflush(stderr);
}

void progress_clear(void)
{
	fprintf(stderr, "\r\033[K");
}
