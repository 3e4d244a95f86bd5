/* checks.h: the built-in checks of a scenario's steps (check: invalid
 * indexes, constraint NAME, unique NAME on TABLE (cols), amcheck), run on
 * the setup connection against the sandbox schema; and the constraint names
 * a phase's metrics give that the sandbox lacks. */
#ifndef PGRACE_CHECKS_H
#define PGRACE_CHECKS_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "db.h"
#include "judge.h"
#include "scenario.h"

/* What one try of a step left: the query's result, and for a built-in
 * check its own account and whether it could look at anything. */
struct check_try {
	struct db_result r;
	char note[256];
	bool unchecked;
};

/* Runs st's built-in check (st->kind a STEP_CHECK_*) on admin in schema:
 * t->r as a query's result (rows = 1 for a check that holds), t->note says
 * what was found, t->unchecked when there was nothing to look at. Caller
 * clears t->note and t->unchecked. */
void checks_run(PGconn *admin, const char *schema, const struct step *st, struct check_try *t);

/* The names p's constraint.NAME metrics give that name no constraint and
 * no index in schema (a name the server cannot be asked about counts as
 * present); free with checks_free_names. */
void checks_missing_names(PGconn *admin, const char *schema, const struct phase *p,
			  struct name_list *out);
/* Frees what checks_missing_names allocated. */
void checks_free_names(struct name_list *l);

#endif
