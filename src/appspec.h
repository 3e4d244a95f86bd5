/* appspec.h: one order of an app flow's interleave phase as a spec for
 * PostgreSQL's isolation tester, so a person can read and keep the app's
 * race as a regression test.
 *
 * The spec's setup is spec.h's: schema cap->schema made again from pg_dump
 * of the run's sandbox as the phase's race found it, then the phase's
 * round_setup for the order's key. Each worker is a session (its setup sets
 * the search_path) and each round trip it sent is a step, named
 * <worker><number>_<kind> ("a03_insert"), holding the SQL as the app sent
 * it with its bind parameters inlined as quoted literals and the sandbox's
 * name replaced by the spec's; housekeeping steps (BEGIN, SET, SHOW) too,
 * so the sessions do what the app did. One permutation: every step in the
 * order it reached the server (a step that waited on a lock is followed by
 * the steps that released it, as the isolation tester expects). Session
 * a's teardown prints the rows query's count for the order's key (column
 * pgrace_rows). The order written is the first that left duplicates, else
 * the first in which a worker got an error, else the first that ran as
 * planned. Refused, with why: an order in which a
 * worker used more than one connection (a spec has one session per
 * worker), or a step that is not exact (a binary parameter, a text cut at
 * APPSTEP_SQL_MAX, an unknown prepared statement) or holds a '}'. */
#ifndef PGRACE_APPSPEC_H
#define PGRACE_APPSPEC_H

#include <stdbool.h>
#include <stdio.h>

#include "app_interleave.h"
#include "scenario.h"
#include "spec.h"

/* The index of the order appspec writes for s, -1 when none ran as planned. */
long appspec_order(const struct appil_summary *s);
/* Writes that order of phase p (run in sandbox, migrated as the run saw it)
 * to out from cap; false with err when it cannot go into a spec or out
 * fails. */
bool appspec_write(FILE *out, const struct scenario *sc, const struct phase *p,
		   const struct appil_summary *s, const struct spec_capture *cap, const char *sandbox,
		   bool migrated, char *err, size_t errlen);
/* appspec_write into path as spec_save does (a temporary renamed when
 * complete); EXIT_PASS, EXIT_USAGE (cannot go into a spec) or
 * EXIT_RESULTS, with err. */
int appspec_save(const char *path, const struct scenario *sc, const struct phase *p,
		 const struct appil_summary *s, const struct spec_capture *cap, const char *sandbox,
		 bool migrated, char *err, size_t errlen);

#endif
