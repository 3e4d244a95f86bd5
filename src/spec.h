/* spec.h: an interleave phase as a spec for PostgreSQL's isolation tester.
 *
 * The spec runs unchanged in the real isolationtester (src/test/isolation
 * of the server's pgxs tree). Setup: a schema of its own (named by the
 * caller, dropped and made again before every permutation; teardown drops
 * it), the scenario's schema
 * and seed, and its migration when the phase runs migrated. One session per
 * worker: its setup sets the search_path and BEGINs with the phase's
 * isolation level; one step per flow statement, then COMMIT, named
 * <worker>_<keyword> ("a_select", "b_commit"); the key's parameters become
 * literals. skip_if_found becomes session state: the check's step sets
 * pgrace.skip when it finds a row, and later statements of that session run
 * only when it is unset (a DO block around them), so a skipped INSERT is
 * skipped there too. Session a's teardown prints the rows query's count
 * (column pgrace_rows) after every permutation. Permutations: the orders
 * that left duplicates, or every executable order when none did or when
 * asked; orders pgrace found not executable are listed in a comment only
 * (the isolation tester would wait for their step until its timeout). Pure:
 * writes to the FILE * it is given. */
#ifndef PGRACE_SPEC_H
#define PGRACE_SPEC_H

#include <stdbool.h>
#include <stdio.h>

#include "interleave.h"
#include "scenario.h"

/* True when the migration is applied by the time phase p races (the last
 * migrate step of the phases up to p, its own steps included, was up). */
bool spec_migrated(const struct scenario *sc, const struct phase *p);
/* Writes the spec of phase p, whose orders ran into s (run with cfg), to
 * out, working in schema (a plain lower-case identifier); all: every
 * executable order, not only those that left duplicates.
 * False with err when the scenario's SQL cannot go into a spec (a '}' in
 * it ends a spec block) or out fails. */
bool spec_write(FILE *out, const struct scenario *sc, const struct phase *p,
		const struct race_cfg *cfg, const struct ilv_summary *s, const char *schema,
		bool all, char *err, size_t errlen);

#endif
