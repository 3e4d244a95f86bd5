/* release.h: the go of a last-byte fire round, every held tail written back
 * to back (lastbyte.h holds them).
 *
 * One writer sends a tail in 2-4 us (a send that wakes a backend), but a
 * backend it wakes may take its core in the middle of the burst: on an
 * idle 2-core machine 16 tails took 50-300 us and 64 took 1.7-2.3 ms,
 * gaps of 100-700 us between two tails. When the process may raise a
 * thread to SCHED_FIFO (root, or an RLIMIT_RTPRIO above 0), the burst runs
 * at realtime priority, which no backend preempts, on two threads on two
 * cores, the caller's from the first tail and a helper's from the last
 * (each tail is taken by exactly one: lastbyte_release), for as long as the
 * burst lasts; then both go back to normal. Otherwise, or with one core or
 * fewer than RELEASE_TWO_MIN held tails, the caller writes them all. */
#ifndef PGRACE_RELEASE_H
#define PGRACE_RELEASE_H

#include "lastbyte.h"

enum { RELEASE_TWO_MIN = 8 };

/* Worker i's tail. */
typedef struct lastbyte_tail *(*release_tail_fn)(void *ctx, int i);

/* Writes every held tail of [0, n) and returns when all are out; true when
 * two realtime writers did it. */
bool release_burst(int n, release_tail_fn tail_of, void *ctx);

#endif
