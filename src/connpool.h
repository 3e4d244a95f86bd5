/* connpool.h: the workers' connections kept from one racing phase to the
 * next of the same run.
 *
 * Connecting is most of a large run's time (the server starts a backend per
 * connection: 1,000 of them take seconds on 2 cores), and a scenario's
 * racing phases usually connect the same number of workers to the same
 * server and sandbox. A phase that ends cleanly hands its workers'
 * connections here; each is reset with DISCARD ALL first (prepared
 * statements, session settings back to the connection's own, temporary
 * tables, advisory locks, LISTEN: a kept connection is a fresh session on a
 * warm backend), and only one idle, out of any transaction and pipeline,
 * whose reset succeeded within the deadline, is kept. The next phase on the
 * same conninfo and schema takes them instead of connecting; one on another
 * conninfo or schema empties the pool first. Used by one thread at a time
 * (the runner's, between phases). */
#ifndef PGRACE_CONNPOOL_H
#define PGRACE_CONNPOOL_H

#include <libpq-fe.h>
#include <stdint.h>

struct connpool {
	char *dsn, *schema; /* what every kept connection was opened with */
	PGconn **c;
	int n, cap;
	long long kept, dropped; /* over the pool's life: handed back and kept, or closed */
};

/* An empty pool (a zeroed struct is one too). */
void connpool_init(struct connpool *p);
/* One kept connection opened on dsn with search_path schema (either NULL),
 * or NULL when there is none (a pool of another dsn or schema is emptied). */
PGconn *connpool_take(struct connpool *p, const char *dsn, const char *schema);
/* Takes c[0..n) (NULLs skipped; each ends kept or closed, never left to the
 * caller, and the array is overwritten): resets them all at once with DISCARD ALL and keeps those that
 * are idle afterwards; closes those that are not, that fail, or that have
 * not answered by deadline_us (clock_us() time) or when the stop flag is up. */
void connpool_keep(struct connpool *p, const char *dsn, const char *schema, PGconn **c, int n,
		   uint64_t deadline_us);
/* Closes every kept connection and frees the pool's memory (reusable after). */
void connpool_clear(struct connpool *p);

#endif
