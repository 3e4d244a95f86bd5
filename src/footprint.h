/* footprint.h: what each flow statement touches, asked of the server, for
 * partial-order reduction (reduce.h).
 *
 * Each flow statement runs alone on a connection that is not a worker's (the
 * coordinator's monitor, so the workers' sessions and the -v log of their
 * transactions hold nothing but the orders), in a transaction of the
 * phase's isolation that is rolled back at once, on the key of the phase's
 * first order; while it is open the lock view (lockview.h,
 * step_footprint) says which relations the backend locked and how, with
 * those that foreign keys and inheritance tie to them. A relation's locks
 * are taken when a statement is planned, whatever rows it finds, so one run
 * tells them; what runs only for some rows (triggers, functions of the
 * user's own in the statement or in a default, check, policy, index or
 * rule, volatile built-ins in the statement such as pg_advisory_xact_lock
 * or nextval) makes the step unknown, as does a statement that failed alone or a
 * lock that is not on a relation (advisory locks). An unknown step commutes
 * with nothing: the reduction then prunes less, never wrongly. */
#ifndef PGRACE_FOOTPRINT_H
#define PGRACE_FOOTPRINT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockview.h"
#include "reduce.h"
#include "scenario.h"

#define FOOTPRINT_NAME_LEN 64

/* The relations the steps' masks name: bit i is name[i] (as regclass
 * prints it from the sandbox). */
struct footprint_rels {
	int n;
	char name[REDUCE_MAX_RELS][FOOTPRINT_NAME_LEN];
};

/* Fills f (workers, steps = flow statements + COMMIT, every worker's
 * statements alike; reduce_prepare() done) by running each flow statement
 * of sc on c (idle; BEGIN with begin_sql, the statement with key, then
 * ROLLBACK) and asking monitor (which may be c itself: the question then
 * runs inside that transaction) about c's backend. False with err only when
 * a connection is lost; anything else the server says makes that step
 * unknown. names gets the relations' names. c is idle again afterwards. */
bool footprint_probe(PGconn *c, PGconn *monitor, const struct lockview *view, const struct scenario *sc,
		     int workers, const char *begin_sql, const char *const *key, uint64_t deadline_us,
		     struct reduce_flow *f, struct footprint_rels *names, char *err, size_t errlen);

#endif
