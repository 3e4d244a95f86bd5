/* spec.h: an interleave phase as a spec for PostgreSQL's isolation tester.
 *
 * The spec runs unchanged in the real isolationtester (src/test/isolation
 * of the server's pgxs tree) and replays exactly what the run did up to the
 * phase. Setup: a schema of its own (named by the caller, pgrace_..., one
 * that does not exist; dropped with CASCADE before every permutation, and by
 * the teardown, as the spec's header says), made from pg_dump of the run's
 * sandbox as it was when the phase's race began: the schema and seed as
 * SQL or commands built them, every earlier phase's steps (migrations that
 * applied, and those that failed as expected and did not), this phase's
 * steps and the rows they left (INSERTs; the sandbox's name replaced by the
 * spec's schema); then the round's setup. One session per worker: its setup
 * sets the search_path and BEGINs with the phase's isolation level; one step
 * per flow statement, then COMMIT, named <worker>_<keyword> ("a_select",
 * "b_commit"); the key of the phase's first order becomes literals.
 * skip_if_found becomes session state: the check's step sets pgrace.skip
 * when it finds a row, and later statements of that session run only when
 * it is unset (a DO block around them), so a skipped INSERT is skipped
 * there too. Session a's teardown prints the rows query's count (column
 * pgrace_rows) after every permutation. Permutations: the orders that left
 * duplicates, or every executable order when none did or when asked; orders
 * pgrace found not executable are listed in a comment only (the isolation
 * tester would wait for their step until its timeout). */
#ifndef PGRACE_SPEC_H
#define PGRACE_SPEC_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "interleave.h"
#include "scenario.h"

/* The sandbox as the phase's race found it, for the spec. */
struct spec_capture {
	const char *schema; /* the spec's schema (spec_schema_name_ok) */
	char *dump;         /* malloc'd: setup SQL that makes schema as the sandbox was */
	long long round;    /* the round of the phase's first order: the spec's key */
};

/* True when schema may be the spec's: a lower-case name starting with
 * pgrace_, not of a run's sandbox form (pgrace clean would drop it); false
 * with err (a usage error) otherwise, `public` among them. */
bool spec_schema_name_ok(const char *schema, char *err, size_t errlen);
/* EXIT_PASS when schema does not exist in the database dsn names;
 * EXIT_USAGE (it does: the spec's setup would drop it) or EXIT_DATABASE
 * (cannot ask) with err. */
int spec_check_schema(const char *dsn, const char *schema, char *err, size_t errlen);
/* pg_dump's text of schema sandbox as a setup block's SQL, into cap->dump
 * (malloc'd): psql's meta-commands (\restrict) left out, every occurrence
 * of the sandbox's name replaced by cap->schema, and the search_path the
 * dump emptied set to cap->schema at the end. False with err naming the
 * dump's line when a '}' (an array or JSON value, a function body) would end
 * the spec block: that sandbox cannot be exported. */
bool spec_dump_setup(const char *dump, const char *sandbox, struct spec_capture *cap, char *err,
		     size_t errlen);
/* run_opts.before_last_race for a spec (ctx: a struct spec_capture): runs
 * pg_dump (PGRACE_PG_DUMP, else pg_dump in PATH) of schema sandbox on
 * admin's connection, with the sandbox's extensions, into ctx's dump, and
 * keeps round. False with err naming what cannot be exported (pg_dump
 * missing or failing, a '}' in the dump, which would end a spec block). */
bool spec_capture_sandbox(void *ctx, PGconn *admin, const char *sandbox, long long round,
			  char *err, size_t errlen);
/* Writes the spec of phase p, whose orders ran into s (run with cfg, the
 * migration applied when it raced: migrated, as the run saw it), to out,
 * from cap; all: every executable order, not only those that left
 * duplicates. False with err when the scenario's SQL cannot go into a spec
 * (a '}' in it ends a spec block) or out fails. */
bool spec_write(FILE *out, const struct scenario *sc, const struct phase *p,
		const struct race_cfg *cfg, const struct ilv_summary *s,
		const struct spec_capture *cap, bool migrated, bool all, char *err, size_t errlen);
/* spec_write into path through a temporary of its own in path's folder
 * (mkstemp: O_EXCL), renamed over path only when complete: a failed spec
 * leaves no file, a planted symlink is replaced, never followed. EXIT_PASS,
 * EXIT_USAGE (the spec cannot hold the scenario) or EXIT_RESULTS, with err. */
int spec_save(const char *path, const struct scenario *sc, const struct phase *p,
	      const struct race_cfg *cfg, const struct ilv_summary *s,
	      const struct spec_capture *cap, bool migrated, bool all, char *err, size_t errlen);

#endif
