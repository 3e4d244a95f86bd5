/* order.h: the orders in which k workers' steps can interleave.
 *
 * A worker's flow is s steps (its statements, then COMMIT); an order says,
 * position by position, which worker runs its next step. k workers with s
 * steps each have (k*s)! / (s!)^k orders (the permutations of a multiset).
 * Orders are listed in lexicographic order, worker a before b: the first is
 * "a1 a2 a3 b1 b2 b3". Above a limit, a sample is drawn with a small fixed
 * PRNG (splitmix64) from a seed: the same seed gives the same orders on
 * every machine. Notation: "a1 b1 a2 b2 a3 b3" (worker letter, step number
 * from 1) and the isolation tester's `permutation "a_select" "b_select" ...`.
 * Everything here is pure: no I/O, no database. */
#ifndef PGRACE_ORDER_H
#define PGRACE_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_MAX_WORKERS 4
#define ORDER_MAX_LEN 32   /* workers * steps: two bits a position pack into 64 */
#define ORDER_NAME_LEN 24  /* a step's name in an isolation spec, with its NUL */
#define ORDER_MAX_SAMPLE 100000

struct order {
	int workers, steps;             /* k, s */
	unsigned char w[ORDER_MAX_LEN]; /* position i runs the next step of worker w[i] */
};

/* (k*s)! / (s!)^k for k workers of s steps; UINT64_MAX when it does not fit. */
uint64_t order_count(int workers, int steps);
/* The first order: every step of worker a, then of b, ... */
void order_first(struct order *o, int workers, int steps);
/* The next order in lexicographic order; false (o unchanged) after the last. */
bool order_next(struct order *o);
/* The orders a phase runs: all of them when there are at most max, else max
 * distinct ones drawn uniformly with seed; either way in lexicographic order.
 * Returns a malloc'd array of *n orders (free it), *exhaustive says which.
 * Needs 1 <= workers <= ORDER_MAX_WORKERS, workers * steps <= ORDER_MAX_LEN,
 * 1 <= max <= ORDER_MAX_SAMPLE. */
struct order *order_list(int workers, int steps, size_t max, uint64_t seed, size_t *n,
			 bool *exhaustive);
/* Step index (0-based) within its worker of the step at position pos. */
int order_step_at(const struct order *o, int pos);
/* "a1 b1 a2 b2 a3 b3" into buf. */
void order_notation(const struct order *o, char *buf, size_t len);
/* Parses notation for workers x steps: every step of every worker once, each
 * worker's in order. False with err saying what is wrong. */
bool order_parse(const char *text, int workers, int steps, struct order *o, char *err,
		 size_t errlen);
/* Names of a flow's steps for an isolation spec, from each statement's first
 * SQL keyword ("select", "insert"), numbered when one repeats ("select1",
 * "select3"); the last of n is "commit". sql has n - 1 statements. */
void order_step_names(const char *const *sql, int n, char (*names)[ORDER_NAME_LEN]);
/* The isolation tester's line: permutation "a_select" "b_select" ... with
 * names from order_step_names() (worker letter, underscore, name). */
void order_permutation(const struct order *o, const char (*names)[ORDER_NAME_LEN], char *buf,
		       size_t len);
/* One step as a worker of a free race ran it (monotonic clock, us). */
struct order_event {
	int worker, step;        /* from 0; step n_flow is COMMIT, -1 the try's BEGIN */
	uint64_t sent_us, done_us;
};

/* What a step of a round ended in. */
struct step_end {
	char outcome[8];     /* its SQLSTATE, "error" when it failed without one, "" ok */
	char constraint[64]; /* the constraint that error names, "" when none */
};

#define ORDER_MAX_EVENTS 64

/* The order a round's steps were sent in, as notation ("a1 b1 a2 ..."):
 * the n events (one per step that ran; sorted here by send time, ties by
 * worker, then step) of workers x steps; a step that did not run (the flow
 * ended early) goes right before the worker's next step that did, or at the
 * end, so the text is a complete order an interleave phase can replay. A
 * BEGIN (step -1) is sorted with the rest but is not part of the order. False
 * when workers > 26 or the order would exceed len. */
bool order_observed(struct order_event *ev, size_t n, int workers, int steps, char *buf,
		    size_t len);

/* The name every surface gives worker (from 0): a, b, ..., z, aa, ab, ...
 * (the letters of order notation, "a1 b1"), into buf; returns buf. */
const char *order_worker_name(int worker, char *buf, size_t len);

/* "a_select": worker w's step named name, as an isolation spec step. */
void order_step_label(int worker, const char *name, char *buf, size_t len);

#endif
