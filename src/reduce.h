/* reduce.h: partial-order reduction of interleave orders: which orders of
 * order.h are bound to end the same, so that one of each class is run.
 *
 * Two adjacent steps of different workers commute when running them in
 * either order leaves the same state and lets the rest of the order run the
 * same way; orders that differ only by swapping commuting neighbours form a
 * class (a Mazurkiewicz trace), and one order per class is run. What a step
 * touches comes from the server (footprint.h): the relations it locks, in
 * which modes; here it is data. The rule is conservative, because two
 * steps that do not block each other can still change whether a third
 * worker's waiting step is stuck:
 *
 * - two flow statements commute when neither can ever wait on a lock of
 *   another worker (a read-only statement waits only on an ACCESS EXCLUSIVE
 *   lock, a writing one on any writer of a relation it writes), and they
 *   touch no common relation or both only read;
 * - a COMMIT releases locks (and a deferred check may make it wait): it
 *   commutes with a step of another worker only when the two workers' whole
 *   flows are not linked by any chain of workers whose flows share a
 *   relation;
 * - a step whose footprint is unknown commutes with nothing.
 *
 * One order per class: the lexicographically least (Anisimov and Knuth's
 * normal form: no factor b u a with a < b where a commutes with b and with
 * every step of u). Everything here is pure: no I/O, no database. */
#ifndef PGRACE_REDUCE_H
#define PGRACE_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "order.h"

#define REDUCE_MAX_RELS 64

/* What one flow statement touches. */
struct reduce_step {
	uint64_t rels;  /* bit i: relation i of the phase's list (footprint.h) */
	bool writes;    /* a lock stronger than ACCESS SHARE on one of them, or a row written */
	bool exclusive; /* an ACCESS EXCLUSIVE lock on one of them */
	bool unknown;   /* cannot be told: it commutes with nothing */
};

/* The footprints of every worker's flow statements: step[w][j] for j below
 * steps - 1 (the last step, COMMIT, is derived from them). */
struct reduce_flow {
	int workers, steps;
	struct reduce_step step[ORDER_MAX_WORKERS][ORDER_MAX_LEN];
	/* filled by reduce_prepare() from the above */
	bool commute[ORDER_MAX_WORKERS][ORDER_MAX_LEN][ORDER_MAX_WORKERS][ORDER_MAX_LEN];
};

/* Fills f->commute from f's workers, steps and footprints: call it once
 * before the functions below. */
void reduce_prepare(struct reduce_flow *f);
/* Do step s1 of worker w1 and step s2 of worker w2 (0-based; steps - 1 is
 * COMMIT) commute? Never for one worker. */
bool reduce_commute(const struct reduce_flow *f, int w1, int s1, int w2, int s2);
/* Is o the least order of its class? */
bool reduce_is_normal(const struct reduce_flow *f, const struct order *o);
/* The least order of o's class into out (may be o). */
void reduce_normal(const struct reduce_flow *f, const struct order *o, struct order *out);
/* Classes of the n orders: rep[i] is the index of the first of orders[0..n)
 * in i's class (i when it is the first). Returns how many classes. */
size_t reduce_classes(const struct reduce_flow *f, const struct order *orders, size_t n, size_t *rep);

#endif
