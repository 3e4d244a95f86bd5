/* outside.h: what a command changed in the database outside the sandbox.
 *
 * A command is the user's tool (a migration runner), and a tool that does
 * not read PGOPTIONS or DATABASE_URL's options, or sets its own
 * search_path, works in the user's schemas instead of the run's. pgrace
 * cannot stop that, but it can see it: a snapshot of the catalog outside
 * the sandbox before the command and another after it name every object
 * created, dropped or altered meanwhile.
 *
 * What is watched: every schema but the system's (pg_catalog,
 * information_schema, pg_toast, temporary ones) and pgrace's (pgrace_...,
 * the sandboxes of this run and of others); in them schemas, relations
 * (tables, indexes, sequences, views, ...) with their columns, defaults,
 * triggers, rules and policies, functions and procedures, types (enum
 * labels included) and constraints. A catalog row's xmin changes with any
 * update of it (ALTER, RENAME, GRANT), a relation's relfilenode with a
 * rewrite (TRUNCATE, ALTER COLUMN TYPE); VACUUM and ANALYZE update in
 * place and change neither. Rows a command writes into the user's tables
 * are not catalog changes and are not seen; neither are changes another
 * session makes meanwhile told apart from the command's. */
#ifndef PGRACE_OUTSIDE_H
#define PGRACE_OUTSIDE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* One catalog object outside the sandbox. */
struct outside_obj {
	int cat; /* its catalog: 1 namespace, 2 class, 3 proc, 4 type, 5 constraint */
	long long oid;
	char *kind;  /* "table", "function", ... */
	char *stamp; /* changes whenever the object does */
	char *name;  /* schema-qualified, quoted as SQL quotes it */
};

/* The objects, sorted by (cat, oid). */
struct outside_snap {
	struct outside_obj *objs;
	size_t n;
};

/* Reads the snapshot on c (any search_path) until deadline_us (0: 60 s);
 * false with *r saying why (the query's status and message). */
bool outside_snapshot(PGconn *c, uint64_t deadline_us, struct outside_snap *s, struct db_result *r);
/* Frees what s holds (s itself is the caller's). */
void outside_free(struct outside_snap *s);
/* Writes into buf what differs from before to after, one clause per
 * object ("table public.x created, function public.f(integer) altered"),
 * cut with "and N more" when buf is full; returns how many objects changed. */
size_t outside_diff(const struct outside_snap *before, const struct outside_snap *after, char *buf,
		    size_t len);

#endif
