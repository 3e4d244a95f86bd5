/* test_integration_attempt.c: the engines agree on what an attempt's answer
 * means (src/attempt.c), against a real PostgreSQL.
 *
 * Before attempt.c, hold/fire (race.c) and interleave (interleave.c) each
 * read answers their own way: an exclusion violation (23P01) counted for its
 * constraint in race.c only, so room-booking-exclusion's after phase failed
 * in interleave mode (exit 1); and a rows query of the wrong shape stopped a
 * hold run (exit 2) but was read as a count by interleave mode, which
 * passed. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(attempt, .init = scratch_init, .fini = scratch_fini, .timeout = 300);

#define SEED_ROWS                                                                                  \
	"rows: SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2"

/* Old code: exit 1, constraints empty in the interleave phases. */
Test(attempt, exclusion_counts_for_its_constraint_in_every_mode)
{
	const char *file = PGRACE_SOURCE_DIR "/scenarios/room-booking-exclusion.yaml";
	static const char *const modes[] = {"hold", "interleave"};
	for (size_t m = 0; m < 2; m++) {
		struct proc p;
		int code = run_pgrace(ARGS("run", file, "-q", "--mode", modes[m], "--workers", "2",
					   "--rounds", "3", "--json", spath("r.json")),
				      &p);
		if (code == 6) { /* no btree_gist on this server: nothing to compare */
			proc_free(&p);
			cr_skip_test("room-booking-exclusion skipped: %s", proc_said(&p));
		}
		cr_expect_eq(code, 0, "mode %s: %s", modes[m], proc_said(&p));
		json_t *doc = load_json(spath("r.json"));
		long long named = 0;
		size_t i;
		json_t *ph;
		json_array_foreach(jget(doc, "phases"), i, ph)
		{
			json_t *c = jget(ph, "constraints");
			const char *k;
			json_t *v;
			json_object_foreach(c, k, v) named += json_integer_value(v);
		}
		cr_expect_gt(named, 0, "mode %s: no violation counted for a constraint", modes[m]);
		json_decref(doc);
		proc_free(&p);
	}
}

/* Old code: interleave mode read "SELECT count(*), 1" as a count and
 * passed (exit 0); hold mode refused it (exit 2). */
Test(attempt, rows_query_shape_is_checked_in_interleave_mode)
{
	static const char *const rows[] = {
		"rows: SELECT count(*), 1 FROM user_tenant_membership WHERE user_id = $1 AND tenant_id = $2",
		"rows: SELECT -1 WHERE $1::bigint > 0 AND $2::bigint > 0",
		"rows: SELECT NULL::bigint WHERE $1::bigint > 0 AND $2::bigint > 0",
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "rows-%zu.yaml", i);
		const char *file = seed_variant(name, SEED_ROWS, rows[i]);
		static const char *const modes[] = {"hold", "interleave"};
		for (size_t m = 0; m < 2; m++) {
			struct proc p;
			int code = run_pgrace(ARGS("run", file, "-q", "--mode", modes[m]), &p);
			cr_expect_eq(code, 2, "case %zu, mode %s: %s", i, modes[m], proc_said(&p));
			cr_expect(strstr(p.err, "it must return exactly one row with one integer column"),
				  "case %zu, mode %s: %s", i, modes[m], proc_said(&p));
			proc_free(&p);
		}
	}
}
