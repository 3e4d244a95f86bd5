/* test_integration_servers.c: what depends on the server a run meets:
 * a scenario's requires (skipped, with the reason, on a server that lacks
 * what it needs), the constraints only some versions have.
 *
 * Against the PG* server, like the other integration tests; scenario
 * variants are derived from the seed at run time (harness.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

TestSuite(servers, .init = scratch_init, .fini = scratch_fini);

/* The PG* server's server_version, e.g. "15.18" (static buffer). */
static const char *server_version(void)
{
	static char v[32];
	PGconn *c = pg_open();
	const char *s = PQparameterStatus(c, "server_version");
	snprintf(v, sizeof v, "%s", s ? s : "?");
	v[strcspn(v, " ")] = '\0';
	PQfinish(c);
	return v;
}

/* A seed variant that requires `requires` (a YAML flow mapping). */
static const char *requiring(const char *name, const char *requires)
{
	char to[256];
	snprintf(to, sizeof to, "requires: %s\nschema: |", requires);
	return seed_variant(name, "schema: |", to);
}

/* A scenario needing a newer server is skipped: exit 6, verdict skipped,
 * the reason names both versions, nothing ran, no schema was made, and the
 * JUnit case is skipped (not failed, not an error). */
Test(servers, newer_server_required_skips, .timeout = 120)
{
	const char *file = requiring("needs99.yaml", "{server_version: 99}");
	const char *json = spath("skip.json"), *junit = spath("skip.xml");
	struct proc p;
	long before = schemas_like("pgrace\\_%");
	int code = run_pgrace(ARGS("run", file, "--json", json, "--junit", junit), &p);
	cr_expect_eq(code, 6, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "skipped");
	char want[128];
	snprintf(want, sizeof want, "needs PostgreSQL >= 99, server is %s", server_version());
	cr_expect_str_eq(jstr(doc, "skipped"), want);
	cr_expect_str_eq(jstr(doc, "server_version"), server_version());
	cr_expect_eq(json_array_size(jget(doc, "phases")), 0);
	cr_expect(contains(p.out, "SKIPPED"), "%s", proc_said(&p));
	cr_expect(contains(p.out, want), "%s", proc_said(&p));
	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml);
	cr_expect(contains(xml, "<skipped message=\"needs PostgreSQL &gt;= 99") ||
			  contains(xml, "<skipped message=\"needs PostgreSQL >= 99"),
		  "%s", xml);
	cr_expect(contains(xml, "failures=\"0\" errors=\"0\" skipped=\"1\""), "%s", xml);
	/* The other integration tests run beside this one: only ours must not grow. */
	cr_expect_leq(schemas_like("pgrace\\_%"), before + 2);
	free(xml);
	json_decref(doc);
	proc_free(&p);
}

/* An extension the server cannot create skips the scenario too. */
Test(servers, missing_extension_skips, .timeout = 120)
{
	const char *file = requiring("needsext.yaml", "{extensions: [pgrace_no_such_extension]}");
	const char *json = spath("ext.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--json", json), &p), 6, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "skipped");
	cr_expect(contains(jstr(doc, "skipped"), "needs extension pgrace_no_such_extension"), "%s",
		  jstr(doc, "skipped"));
	json_decref(doc);
	proc_free(&p);
}

/* Skipped beside a pass: exit 0, overall verdict pass, each run its own. */
Test(servers, skipped_beside_pass_exits_0, .timeout = 120)
{
	const char *file = requiring("needs99.yaml", "{server_version: 99}");
	const char *json = spath("both.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, file, "-q", "--rounds", "3", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	json_t *runs = jget(doc, "runs");
	cr_assert_eq(json_array_size(runs), 2);
	cr_expect_str_eq(jstr(json_array_get(runs, 0), "verdict"), "pass");
	cr_expect_str_eq(jstr(json_array_get(runs, 1), "verdict"), "skipped");
	json_decref(doc);
	proc_free(&p);
}

/* A requirement the server meets changes nothing: the seed still passes. */
Test(servers, met_requirement_runs, .timeout = 120)
{
	const char *file = requiring("needs13.yaml", "{server_version: 13, extensions: [amcheck]}");
	const char *json = spath("met.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--rounds", "3", "--json", json), &p), 0,
		     "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	cr_expect(json_is_null(jget(doc, "skipped")));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- constraints beyond UNIQUE ---- */

#define EXCLUSION PGRACE_SOURCE_DIR "/scenarios/room-booking-exclusion.yaml"
#define TEMPORAL PGRACE_SOURCE_DIR "/scenarios/room-booking-temporal.yaml"

/* The room-booking race, closed by an exclusion constraint: the race
 * double-books, the migration refuses overlaps (23P01), after it one
 * booking per room and every other request refused, the 23P01s naming the
 * constraint; btree_gist went with the sandbox. */
Test(servers, room_booking_exclusion_passes, .timeout = 300)
{
	const char *json = spath("rb.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", EXCLUSION, "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	json_t *before = phase(doc, "before");
	cr_expect_eq(jint(before, "rounds_with_duplicates"), jint(before, "rounds"));
	cr_expect_eq(jint2(before, "rows_per_key", "min"), jint(before, "workers"));
	json_t *after = phase(doc, "after");
	long long rounds = jint(after, "rounds"), workers = jint(after, "workers");
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	json_t *out = jget(after, "outcomes");
	cr_expect_eq(jcount(out, "ok"), rounds);
	cr_expect_gt(jcount(out, "23P01"), 0);
	cr_expect_eq(jcount(out, "23P01") + jcount(out, "40P01"), (workers - 1) * rounds);
	cr_expect_eq(jcount(jget(after, "constraints"), "no_double_booking"), jcount(out, "23P01"),
		     "the 23P01s name the constraint: %s",
		     json_dumps(jget(after, "constraints"), JSON_COMPACT));
	assert_schema_dropped(doc);
	/* The extension was the sandbox's: no schema of this run still holds it. */
	char pattern[96];
	snprintf(pattern, sizeof pattern, "%s", jstr(doc, "schema"));
	PGconn *c = pg_open();
	const char *params[1] = {pattern};
	char *n = pg_value(c,
			   "SELECT count(*) FROM pg_extension e JOIN pg_namespace s "
			   "ON s.oid = e.extnamespace WHERE s.nspname = $1",
			   1, params);
	cr_expect_str_eq(n, "0");
	free(n);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
}

/* A UNIQUE (room_id, during) instead: equal slots only, overlaps pass, the
 * gate fails (exit 1) in the phase after the migration. */
Test(servers, room_booking_with_plain_unique_fails, .timeout = 300)
{
	const char *file = variant_of(EXCLUSION, "rb-unique.yaml",
				      "EXCLUDE USING gist (room_id WITH =, during WITH &&)",
				      "UNIQUE (room_id, during)");
	const char *json = spath("rbu.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--json", json), &p), 1, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	json_t *after = phase(doc, "after");
	cr_expect(!jbool(after, "passed"));
	cr_expect_gt(jint2(after, "rows_per_key", "max"), 1);
	json_decref(doc);
	proc_free(&p);
}

/* PostgreSQL 18's WITHOUT OVERLAPS: passes on 18 and later, skipped with
 * the reason before. */
Test(servers, room_booking_temporal_by_version, .timeout = 300)
{
	const char *json = spath("tmp.json");
	struct proc p;
	PGconn *c = pg_open();
	int v = PQserverVersion(c);
	PQfinish(c);
	int code = run_pgrace(ARGS("run", TEMPORAL, "-q", "--json", json), &p);
	json_t *doc = load_json(json);
	if (v >= 180000) {
		cr_expect_eq(code, 0, "%s", proc_said(&p));
		cr_expect_str_eq(jstr(doc, "verdict"), "pass");
		json_t *after = phase(doc, "after");
		cr_expect_eq(jcount(jget(after, "constraints"), "no_double_booking"),
			     jcount(jget(after, "outcomes"), "23P01"));
	} else {
		cr_expect_eq(code, 6, "%s", proc_said(&p));
		char want[96];
		snprintf(want, sizeof want, "needs PostgreSQL >= 18, server is %s", server_version());
		cr_expect_str_eq(jstr(doc, "skipped"), want);
	}
	json_decref(doc);
	proc_free(&p);
}
