/* test_integration_app_interleave.c: interleave mode of app flows
 * (app_interleave.h) with psql as the app, against a real PostgreSQL.
 *
 * The ways it must never pass on what it did not race: an app that sends
 * a different number of statements on a re-run (diverged orders, the phase
 * fails); and the hostile ones: an app that never connects, one that hangs
 * mid-order, one that opens a second connection, one that sends COPY, one
 * that prints the password, max_interleavings 0 and past its limit, three
 * workers. The real frameworks (SQLAlchemy, Django) are app-interleave-test.py's. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(app_interleave, .init = scratch_init, .fini = scratch_fini, .timeout = 600);

#define EXAMPLE PGRACE_SOURCE_DIR "/examples/psql-app/psql-app.yaml"
#define APP_LINE \
	"command: psql -X -q -v ON_ERROR_STOP=1 -v user_id=\"$1\" -v tenant_id=\"$2\" -f register.sql"

/* psql-app with its app command replaced by line (a shell line) and its
 * phases by one interleave phase with expects (YAML list items). */
static const char *variant(const char *name, const char *line, const char *expects)
{
	char repl[2048], tmp[64], phases[1024];
	snprintf(repl, sizeof repl, "command: %s", line);
	snprintf(tmp, sizeof tmp, "0-%s", name);
	const char *f = variant_of(EXAMPLE, tmp, APP_LINE, repl);
	FILE *in = fopen(f, "r");
	cr_assert_not_null(in);
	static char text[16384];
	size_t n = fread(text, 1, sizeof text - 1, in);
	fclose(in);
	text[n] = '\0';
	char *ph = strstr(text, "\nphases:");
	cr_assert_not_null(ph);
	snprintf(phases, sizeof phases,
		 "\nphases:\n  - name: race\n    race: {mode: interleave, workers: 2}\n    expect:\n%s",
		 expects);
	snprintf(ph, sizeof text - (size_t)(ph - text), "%s", phases);
	const char *out = spath(name);
	FILE *o = fopen(out, "w");
	cr_assert_not_null(o);
	fputs(text, o);
	fclose(o);
	return out;
}

/* A check-then-insert through psql, one statement per round trip; extra is
 * SQL sent after BEGIN (may be empty). */
#define REGISTER(extra)                                                                          \
	"printf 'BEGIN;\\n%s\\nSELECT count(*) FROM user_tenant_membership WHERE user_id = %s AND " \
	"tenant_id = %s;\\nINSERT INTO user_tenant_membership (user_id, tenant_id) VALUES (%s, "    \
	"%s);\\nCOMMIT;\\n' \"" extra "\" \"$1\" \"$2\" \"$1\" \"$2\" | psql -X -q -v ON_ERROR_STOP=1"

Test(app_interleave, psql_check_then_insert_duplicates_where_both_selects_precede_a_commit)
{
	const char *file = variant("plain.yaml", REGISTER(""), "      - rounds_with_duplicates >= 1\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("p.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("p.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	/* SELECT, INSERT, COMMIT each: (3+3)!/(3!3!) orders, every one run as
	 * planned, and psql does not read its rows: every order duplicates */
	cr_assert_eq(jint(il, "interleavings"), 20);
	cr_assert(jbool(il, "exhaustive"));
	cr_assert_eq(jint(il, "interleavings_with_duplicates"), 20);
	cr_assert_eq(jint(il, "interleavings_diverged"), 0);
	json_decref(doc);
	proc_free(&p);
}

/* The fixture skips a query on every other run of each worker (a counter
 * file per worker): the re-run of an order's prefix sends another number
 * of steps. Those orders are diverged, counted in neither rows nor
 * outcomes, and the phase fails on them (exit 1), naming where. */
Test(app_interleave, an_app_that_skips_a_query_on_a_rerun_diverges_and_fails)
{
	const char *line =
		"n=$(( $(cat \"cnt.$PGRACE_WORKER\" 2>/dev/null || echo 0) + 1 )); "
		"echo $n > \"cnt.$PGRACE_WORKER\"; "
		"x='SELECT 1 FROM user_tenant_membership LIMIT 1;'; [ $((n % 2)) = 0 ] && x=''; " REGISTER("$x");
	const char *file = variant("skip.yaml", line, "      - rounds_with_duplicates >= 0\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", spath("d.json")), &p);
	cr_assert_eq(code, 1, "diverged orders fail the phase: %s", proc_said(&p));
	cr_assert(contains(p.out, "diverged: at point"), "%s", proc_said(&p));
	cr_assert(contains(p.out, "different number or kind of steps"), "%s", proc_said(&p));
	json_t *doc = load_json(spath("d.json"));
	json_t *ph = phase(doc, "race"), *il = jget(ph, "interleave");
	long long diverged = jint(il, "interleavings_diverged");
	cr_assert_geq(diverged, 1);
	cr_assert_eq(jint(ph, "rounds"), jint(il, "interleavings") - diverged,
		     "diverged orders are not counted as rounds");
	bool named = false;
	json_t *ex = jget(ph, "expectations");
	for (size_t i = 0; i < json_array_size(ex); i++) {
		json_t *e = json_array_get(ex, i);
		if (contains(jstr(e, "expect"), "no diverged order")) {
			named = true;
			cr_assert_not(jbool(e, "passed"));
		}
	}
	cr_assert(named, "the failed expectation names the divergence");
	json_decref(doc);
	proc_free(&p);
}
