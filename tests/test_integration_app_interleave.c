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
#include <unistd.h>

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
#define REGISTER(extra)                                                                             \
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
	const char *line = "n=$(( $(cat \"cnt.$PGRACE_WORKER\" 2>/dev/null || echo 0) + 1 )); "
			   "echo $n > \"cnt.$PGRACE_WORKER\"; "
			   "x='SELECT 1 FROM user_tenant_membership LIMIT 1;'; [ $((n % 2)) = 0 ] && "
			   "x=''; " REGISTER("$x");
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

/* ---- hostile ---------------------------------------------------------- */

/* An app that never connects breaks the order (exit 3), naming the worker:
 * never a pass on no orders. */
Test(app_interleave, an_app_that_never_connects_breaks_the_phase)
{
	const char *file = variant("noconnect.yaml", "echo not today", "      - rounds >= 0\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "never connected through pgrace's listener"), "%s", proc_said(&p));
	cr_assert(contains(p.out, "order 1"), "%s", proc_said(&p));
	cr_assert_not(contains(p.out, "PASS in"), "%s", proc_said(&p));
	proc_free(&p);
}

/* An app that hangs mid-order (its transaction open, between two steps) is
 * killed at its deadline with its process group, and the order says so. */
Test(app_interleave, an_app_that_hangs_mid_order_is_killed_at_its_deadline)
{
	const char *line = "(printf 'BEGIN;\\nSELECT count(*) FROM user_tenant_membership;\\n'; "
			   "sleep 3600) | psql -X -q -v ON_ERROR_STOP=1";
	const char *f0 = variant("hang0.yaml", line, "      - rounds >= 0\n");
	const char *file = variant_of(f0, "hang.yaml", "timeout_ms: 60000", "timeout_ms: 3000");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_lt(now_s() - t0, 120.0, "the deadline was not kept");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "still running at its deadline"), "%s", proc_said(&p));
	proc_free(&p);
}

/* An app that opens a second connection (the check on one, the insert on
 * another): both are the worker's, its steps interleave as any, and the
 * spec refuses the order (one session per worker) saying why. */
Test(app_interleave, a_second_connection_is_the_workers_and_the_spec_says_why_not)
{
	const char *line =
		"psql -X -q -v ON_ERROR_STOP=1 -c \"SELECT count(*) FROM user_tenant_membership WHERE "
		"user_id = $1\" && psql -X -q -v ON_ERROR_STOP=1 -c \"INSERT INTO "
		"user_tenant_membership "
		"(user_id, tenant_id) VALUES ($1, $2)\"";
	const char *file = variant("twoconn.yaml", line, "      - rounds_with_duplicates >= 1\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("t.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("t.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	/* autocommit: SELECT and INSERT each, (2+2)!/(2!2!) orders */
	cr_assert_eq(jint(il, "interleavings"), 6);
	json_t *o = json_array_get(jget(il, "orders"), 0), *st;
	size_t i;
	bool second = false;
	json_array_foreach(jget(o, "steps"), i, st) second |= jint(st, "connection") == 1;
	cr_assert(second, "the insert came on the worker's second connection");
	json_decref(doc);
	proc_free(&p);
	code = run_pgrace(ARGS("spec", file, "--phase", "race", "-o", spath("t.spec"), "--schema",
			       "pgrace_spec_twoconn"),
			  &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	cr_assert(contains(p.err, "second connection (a spec has one session per worker)"), "%s",
		  proc_said(&p));
	cr_assert_neq(access(spath("t.spec"), F_OK), 0, "no partial spec is left");
	proc_free(&p);
}

/* COPY is a round trip like any: its data passes while it runs, and the
 * order goes on when it is done. */
Test(app_interleave, an_app_that_sends_copy_is_interleaved)
{
	const char *line = "printf '%s\\t%s\\n' \"$1\" \"$2\" | psql -X -q -v ON_ERROR_STOP=1 -c "
			   "\"COPY user_tenant_membership (user_id, tenant_id) FROM STDIN\"";
	const char *file = variant("copy.yaml", line, "      - rows_per_key.min == 2\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("c.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("c.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	cr_assert_eq(jint(il, "interleavings"), 2, "one COPY each: a1 b1 and b1 a1");
	json_t *st = json_array_get(jget(json_array_get(jget(il, "orders"), 0), "steps"), 0);
	cr_assert_str_eq(jstr(st, "kind"), "copy");
	json_decref(doc);
	proc_free(&p);
}

/* The password in pgrace's --dsn reaches the app in its passfile; an app
 * that prints it and sends it in its SQL has it masked in the terminal,
 * the JSON (step SQL and output tails) and the spec. */
Test(app_interleave, a_password_the_app_prints_or_sends_is_masked)
{
	const char *pw = "Pw%x@y:z/#q";
	char dsn[512];
	snprintf(dsn, sizeof dsn, "host=%s port=%s user=%s dbname=%s password='%s'",
		 getenv("PGHOST") ? getenv("PGHOST") : "/var/run/postgresql",
		 getenv("PGPORT") ? getenv("PGPORT") : "5432",
		 getenv("PGUSER") ? getenv("PGUSER") : "postgres",
		 getenv("PGDATABASE") ? getenv("PGDATABASE") : "postgres", pw);
	const char *line =
		"cat \"$PGPASSFILE\"; pw=$(cut -d':' -f5- \"$PGPASSFILE\" | sed 's/\\\\//g'); "
		"echo \"password is $pw\" >&2; psql -X -q -v ON_ERROR_STOP=1 -c "
		"\"SELECT count(*) FROM user_tenant_membership WHERE role = '$pw'\"";
	const char *file = variant("pw.yaml", line, "      - rounds >= 1\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--dsn", dsn, "--json", spath("pw.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	cr_assert_not(contains(p.out, pw) || contains(p.err, pw), "%s", proc_said(&p));
	FILE *f = fopen(spath("pw.json"), "r");
	cr_assert_not_null(f);
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cr_assert(contains(text, "role = '"), "the step's SQL is in the JSON");
	cr_assert(contains(text, "password is "), "the output tail is in the JSON");
	cr_assert_not(contains(text, pw), "the password is in the JSON");
	proc_free(&p);
}

/* max_interleavings 0 and past its limit are usage errors; 1 runs one
 * order of a sample and says it is a sample. */
Test(app_interleave, max_interleavings_out_of_range_is_refused_and_one_is_a_sample)
{
	const char *file = variant("max.yaml", REGISTER(""), "      - rounds >= 1\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--max-interleavings", "0"), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "--max-interleavings", "100001"), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "--max-interleavings", "1", "--json", spath("m.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	cr_assert(contains(p.out, "a sample of 1 of 20 orders"), "%s", proc_said(&p));
	json_t *doc = load_json(spath("m.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	cr_assert_eq(jint(il, "interleavings"), 1);
	cr_assert(jbool(il, "sampled"));
	cr_assert_not(jbool(il, "exhaustive"));
	json_decref(doc);
	proc_free(&p);
}

/* Three workers: (3+3+3)!/(3!3!3!) = 1680 orders, more than the 12 asked
 * for: a seeded sample of 12 distinct orders, each run as planned. */
Test(app_interleave, three_workers_past_the_limit_run_a_seeded_sample)
{
	const char *f0 = variant("three0.yaml", REGISTER(""), "      - rounds_with_duplicates >= 1\n");
	const char *file = variant_of(f0, "three.yaml", "workers: 2}", "workers: 3}");
	struct proc p;
	int code = run_pgrace(
		ARGS("run", file, "-q", "--max-interleavings", "12", "--json", spath("3.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("3.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	cr_assert_eq(jint(il, "orders_possible"), 1680);
	cr_assert(jbool(il, "sampled"));
	cr_assert_eq(jint(il, "interleavings"), 12);
	json_t *orders = jget(il, "orders");
	for (size_t i = 0; i < json_array_size(orders); i++) {
		cr_assert_str_eq(jstr(json_array_get(orders, i), "state"), "ran");
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(jstr(json_array_get(orders, i), "order"),
					  jstr(json_array_get(orders, j), "order"));
	}
	json_decref(doc);
	proc_free(&p);
}

/* ---- warm workers ------------------------------------------------------ */

/* A warm worker that reads keys and answers through psql, one process per
 * worker for the phase: the same 20 orders as cold. */
#define WARM_LOOP(body) "while IFS=\"$(printf '\\t')\" read -r u t; do " body "; done"

Test(app_interleave, a_warm_worker_answers_each_key_and_runs_every_order)
{
	const char *line = WARM_LOOP(
		"printf 'BEGIN;\\nSELECT count(*) FROM user_tenant_membership WHERE user_id = %s;\\n"
		"INSERT INTO user_tenant_membership (user_id, tenant_id) VALUES (%s, %s);\\nCOMMIT;\\n' "
		"$u $u $t | psql -X -q -v ON_ERROR_STOP=1 >&2 && echo ok $$ || echo error");
	const char *f0 = variant("warm0.yaml", line,
				 "      - rounds_with_duplicates == rounds\n"
				 "      - app.exit_ok == attempts\n");
	const char *file = variant_of(f0, "warm.yaml", "shell: true", "shell: true\n    warm: true");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("w.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("w.json"));
	json_t *il = jget(phase(doc, "race"), "interleave"), *o;
	cr_assert_eq(jint(il, "interleavings"), 20);
	/* one process per worker for the whole phase: its pid in every answer */
	char pid_a[32] = "";
	size_t i;
	json_array_foreach(jget(il, "orders"), i, o)
	{
		const char *out = jstr(json_array_get(jget(o, "workers"), 0), "stdout_tail");
		if (!pid_a[0])
			snprintf(pid_a, sizeof pid_a, "%s", out);
		cr_assert_str_eq(out, pid_a, "worker a was started again");
	}
	json_decref(doc);
	proc_free(&p);
}

/* A warm worker that dies after its first key is started again for the
 * next order (the dead one's order counts its exit status); one that
 * never answers is killed at the order's deadline and the order broken. */
Test(app_interleave, a_warm_worker_that_dies_restarts_and_one_that_never_answers_is_killed)
{
	const char *line = WARM_LOOP("psql -X -q -c \"SELECT 1 FROM user_tenant_membership LIMIT 1\" "
				     ">&2; exit 7");
	const char *f0 = variant("die0.yaml", line, "      - app.exit_failed == attempts\n");
	const char *file = variant_of(f0, "die.yaml", "shell: true", "shell: true\n    warm: true");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("die.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("die.json"));
	json_t *il = jget(phase(doc, "race"), "interleave");
	cr_assert_eq(jint(il, "interleavings"), 2);
	cr_assert_eq(jint(json_array_get(jget(json_array_get(jget(il, "orders"), 1), "workers"), 0),
			  "exit_code"),
		     7, "the second order ran on a new process, which exited 7 too");
	json_decref(doc);
	proc_free(&p);
	line = WARM_LOOP("psql -X -q -c \"SELECT 1 FROM user_tenant_membership LIMIT 1\" >&2; "
			 "sleep 3607");
	const char *g0 = variant("mute0.yaml", line, "      - rounds >= 0\n");
	const char *g1 = variant_of(g0, "mute1.yaml", "shell: true", "shell: true\n    warm: true");
	const char *g = variant_of(g1, "mute.yaml", "timeout_ms: 60000", "timeout_ms: 3000");
	double t0 = now_s();
	code = run_pgrace(ARGS("run", g), &p);
	cr_assert_lt(now_s() - t0, 120.0, "the deadline was not kept");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "no answer by the order's deadline"), "%s", proc_said(&p));
	proc_free(&p);
	cr_assert_neq(system("pgrep -f 'slee[p] 3607' >/dev/null"), 0, "a warm process was left running");
}

/* A warm worker that breaks the one-line answer: two lines for one key
 * (the second would be taken for the next key's answer, judging an order
 * whose process still runs), or a banner on stdout before its first key
 * (taken for that key's answer, its real answer then one too many). Each breaks the phase naming the worker
 * and the rule (exit 3), never a pass; before, the first passed. */
Test(app_interleave, a_warm_worker_that_writes_more_than_its_answer_breaks_the_phase)
{
	const char *line = WARM_LOOP(
		"printf 'BEGIN;\\nSELECT count(*) FROM user_tenant_membership WHERE user_id = %s;\\n"
		"INSERT INTO user_tenant_membership (user_id, tenant_id) VALUES (%s, %s);\\nCOMMIT;\\n' "
		"$u $u $t | psql -X -q -v ON_ERROR_STOP=1 >&2; echo ok; echo ok again");
	const char *f0 = variant("two0.yaml", line, "      - rounds >= 0\n");
	const char *file = variant_of(f0, "two.yaml", "shell: true", "shell: true\n    warm: true");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "answered one key with 2 lines on stdout"), "%s", proc_said(&p));
	proc_free(&p);
	line = "echo hello from the app; " WARM_LOOP("echo ok");
	const char *g0 = variant("banner0.yaml", line, "      - rounds >= 0\n");
	const char *g = variant_of(g0, "banner.yaml", "shell: true", "shell: true\n    warm: true");
	code = run_pgrace(ARGS("run", g), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	/* the banner is read as the first key's answer or beside it: the
	 * answer that follows is the one too many */
	cr_assert(contains(p.out, "a warm worker writes exactly one line per key"), "%s",
		  proc_said(&p));
	proc_free(&p);
}

/* An app with more round trips than an order can hold: the order is
 * broken saying so (exit 3), its processes released to end by themselves,
 * never a pass on a cut order. */
Test(app_interleave, more_points_than_an_order_holds_is_refused_with_why)
{
	const char *line = "i=0; while [ $i -lt 40 ]; do echo 'SELECT 1 FROM user_tenant_membership;'; "
			   "i=$((i + 1)); done | psql -X -q -v ON_ERROR_STOP=1";
	const char *file = variant("many.yaml", line, "      - rounds >= 0\n");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "more than 64 interleaving points in one order"), "%s", proc_said(&p));
	proc_free(&p);
}

/* An app flow's spec is one order: --all, which asks for every order as a
 * permutation of one set of steps, is refused before anything runs. */
Test(app_interleave, spec_all_is_refused_for_an_app_flow)
{
	const char *file = variant("all.yaml", REGISTER(""), "      - rounds >= 1\n");
	struct proc p;
	int code = run_pgrace(ARGS("spec", file, "--phase", "race", "--all"), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	cr_assert(contains(p.err, "an app flow's spec is one order"), "%s", proc_said(&p));
	proc_free(&p);
}
