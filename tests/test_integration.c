/* test_integration.c: the real pgrace binary against a real PostgreSQL.
 *
 * Every test spawns PGRACE_BIN (posix_spawn, no shell), captures its exit
 * code, stdout and stderr into files of a scratch folder of its own
 * (mkdtemp, removed afterwards), and reads the JSON / JUnit it wrote. The
 * server comes from the PG* environment only (scripts/test.sh exports it);
 * the tests also talk to it through libpq (PQconnectdb("")) to check that
 * the sandbox schema is gone after a run.
 *
 * Scenario variants (a CHECK instead of the UNIQUE migration, a truncated
 * file, a schema syntax error, ...) are derived at run time from the seed
 * scenario, so they follow it when it changes; a test fails loudly when the
 * text it rewrites is no longer in the seed.
 *
 * Tests run in parallel (--jobs 2) against one server: nothing here assumes
 * it is alone; schema checks name the run's own schema (or its pid).
 *
 * The helpers (spawning, scratch folder, JSON, libpq) are in harness.h. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define INCONCLUSIVE PGRACE_TEST_DATA "/integration/inconclusive.yaml"
#define SECRET "s3cr3tpw"
#define UQ_NAME "uq_user_tenant_membership_user_tenant"

/* An unreachable server: nothing listens on TCP port 1. */
#define DEAD_DSN "host=127.0.0.1 port=1 connect_timeout=2"

TestSuite(integration, .init = scratch_init, .fini = scratch_fini);

/* Runs pgrace with args (which write the JSON to json), expects exit code
 * want and the JSON verdict verdict; returns the JSON document. */
static json_t *run_verdict(const char *const *args, const char *json, int want, const char *verdict,
			   struct proc *p)
{
	int code = run_pgrace(args, p);
	cr_expect_eq(code, want, "%s", proc_said(p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), verdict);
	return doc;
}

/* The run's schema is gone; frees doc and p's output. */
static void end_run(json_t *doc, struct proc *p)
{
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(p);
}

/* ---- 1. the seed scenario tells the whole story ---- */

Test(integration, seed_scenario_passes, .timeout = 120)
{
	const char *json = spath("seed.json"), *junit = spath("seed.xml");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--json", json, "--junit", junit), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	cr_expect(jbool(doc, "complete"));
	cr_expect(json_is_null(jget(doc, "error")));

	static const char *const order[] = {"baseline", "before",           "interleave-before",
					    "precheck", "migrate",          "after",
					    "interleave-after", "downgrade"};
	static const bool migrated[] = {false, false, false, false, true, true, true, false};
	json_t *phases = jget(doc, "phases");
	cr_assert_eq(json_array_size(phases), 8, "expected 8 phases, got %zu",
		     json_array_size(phases));
	for (size_t i = 0; i < 8; i++) {
		json_t *ph = json_array_get(phases, i);
		cr_expect_str_eq(jstr(ph, "name"), order[i], "phase %zu", i);
		cr_expect_eq(jbool(ph, "migrated"), migrated[i], "phase %s: migrated", order[i]);
		cr_expect(jbool(ph, "passed"), "phase %s did not pass", order[i]);
		cr_expect(!jbool(ph, "broken"), "phase %s broken", order[i]);
	}

	json_t *before = phase(doc, "before");
	long long rounds = jint(before, "rounds");
	cr_expect_gt(rounds, 0);
	cr_expect_eq(jint(before, "rounds_with_duplicates"), rounds);
	cr_expect_gt(jint2(before, "rows_per_key", "min"), 1);

	json_t *after = phase(doc, "after");
	rounds = jint(after, "rounds");
	long long workers = jint(after, "workers");
	cr_expect_gt(rounds, 0);
	cr_expect_gt(workers, 1);
	cr_expect_eq(jint2(after, "rows_per_key", "min"), 1);
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	cr_expect_eq(jint(after, "rounds_with_duplicates"), 0);
	json_t *outcomes = jget(after, "outcomes");
	cr_expect_eq(json_object_size(outcomes), 2, "after: outcomes %s",
		     json_dumps(outcomes, JSON_COMPACT));
	cr_expect_eq(jint(outcomes, "ok"), rounds);
	cr_expect_eq(jint(outcomes, "23505"), (workers - 1) * rounds);
	json_t *constraints = jget(after, "constraints");
	cr_expect_eq(json_object_size(constraints), 1);
	cr_expect_eq(jint(constraints, UQ_NAME), (workers - 1) * rounds);

	json_t *expects = jget(phase(doc, "precheck"), "expectations"), *x;
	size_t i;
	bool mentions_23505 = false;
	cr_expect_gt(json_array_size(expects), 0);
	json_array_foreach(expects, i, x)
	{
		cr_expect(jbool(x, "passed"), "precheck: %s: %s", jstr(x, "expect"), jstr(x, "actual"));
		mentions_23505 |= contains(jstr(x, "expect"), "23505");
	}
	cr_expect(mentions_23505, "no precheck expectation mentions 23505");

	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml, "no JUnit file");
	cr_expect_eq(count_of(xml, "<testcase "), 8, "JUnit:\n%s", xml);
	cr_expect(contains(xml, "tests=\"8\" failures=\"0\" errors=\"0\""), "JUnit:\n%s", xml);

	free(xml);
	end_run(doc, &p);
}

/* ---- 2. a migration that adds the wrong constraint fails the gate ---- */

Test(integration, wrong_constraint_fails, .timeout = 120)
{
	const char *yaml = seed_variant("check.yaml", "UNIQUE (user_id, tenant_id)", "CHECK (user_id > 0)");
	const char *json = spath("check.json");
	struct proc p;
	json_t *doc = run_verdict(ARGS("run", yaml, "-q", "--json", json), json, 1, "fail", &p);
	json_t *after = phase(doc, "after");
	cr_expect(!jbool(after, "passed"), "phase after passed with a CHECK constraint");
	cr_expect(!jbool(after, "broken"));
	cr_expect_gt(jint2(after, "rows_per_key", "max"), 1);
	end_run(doc, &p);
}

/* ---- 3. a truncated scenario file is bad usage, named by file:line ---- */

Test(integration, truncated_file_is_usage_error, .timeout = 120)
{
	size_t len = 0;
	char *seed = read_file(SEED, &len);
	cr_assert_not_null(seed);
	const char *yaml = spath("half.yaml");
	write_file(yaml, seed, len / 2);
	free(seed);

	const char *json = spath("half.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--json", json), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_file_line(p.err, yaml), "stderr does not name %s:<line>:\n%s", yaml, p.err);
	cr_expect(access(json, F_OK) != 0, "a JSON result was written for an unloadable file");
	proc_free(&p);
}

/* ---- 4. an unreachable server is exit 3 ---- */

Test(integration, unreachable_server_exits_3, .timeout = 120)
{
	const char *json = spath("dead.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--dsn", DEAD_DSN, "--json", json), &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	bool said = contains(p.out, "could not connect") || contains(p.err, "could not connect") ||
		    contains(p.out, "cannot connect") || contains(p.err, "cannot connect");
	cr_expect(said, "no \"could not connect\" message\nstdout:\n%s\nstderr:\n%s", p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "error");
	cr_expect(!jbool(doc, "complete"));
	cr_expect(json_is_string(jget(doc, "error")));
	json_decref(doc);
	proc_free(&p);
}

/* ---- 5. hold mode is deterministic ---- */

Test(integration, hold_mode_repeats_the_same_verdict, .timeout = 600)
{
	for (int run = 0; run < 20; run++) {
		char name[32];
		snprintf(name, sizeof name, "hold%d.json", run);
		const char *json = spath(name);
		struct proc p;
		int code = run_pgrace(
			ARGS("run", SEED, "--workers", "8", "--rounds", "5", "-q", "--json", json), &p);
		cr_assert_eq(code, 0, "run %d: %s", run, proc_said(&p));
		json_t *doc = load_json(json);
		json_t *after = phase(doc, "after"), *before = phase(doc, "before");
		cr_assert_eq(jint(after, "workers"), 8, "run %d: --workers not applied", run);
		cr_assert_eq(jint(after, "rounds"), 5, "run %d: --rounds not applied", run);
		cr_assert_eq(jint2(after, "outcomes", "23505"), 7 * 5, "run %d: after 23505", run);
		cr_assert_eq(jint2(after, "outcomes", "ok"), 5, "run %d: after ok", run);
		cr_assert_eq(jint(before, "rounds_with_duplicates"), 5,
			     "run %d: before rounds_with_duplicates", run);
		/* A phase's own race settings outrank the flags (README "Usage"). */
		json_t *baseline = phase(doc, "baseline");
		cr_assert_eq(jint(baseline, "workers"), 1, "run %d: baseline workers", run);
		cr_assert_eq(jint(baseline, "rounds"), 3, "run %d: baseline rounds", run);
		end_run(doc, &p);
		unlink(json);
	}
}

/* The same gate on a busy machine: other processes take the CPU, so the
 * workers wake up late after the coordinator's "go". Hold mode must still
 * hold every worker before COMMIT: no "skipped" attempt after the
 * migration, all 16 rows before it, every round. */
Test(integration, hold_mode_holds_under_cpu_load, .timeout = 300)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	start_cpu_load(cpus > 0 && cpus < 8 ? (int)cpus + 1 : 8);
	for (int run = 0; run < 5; run++) {
		char name[32];
		snprintf(name, sizeof name, "load%d.json", run);
		const char *json = spath(name);
		struct proc p;
		int code = run_pgrace(ARGS("run", SEED, "--json", json), &p);
		json_t *doc = load_json(json);
		json_t *after = phase(doc, "after"), *before = phase(doc, "before");
		long long workers = jint(after, "workers"), rounds = jint(after, "rounds");
		cr_expect_eq(code, 0, "run %d: %s", run, proc_said(&p));
		cr_expect_eq(jcount(jget(after, "outcomes"), "skipped"), 0,
			     "run %d: after: %lld attempts skipped: they ran their SELECT after the "
			     "winner's COMMIT, so hold released COMMIT before every worker was held",
			     run, jcount(jget(after, "outcomes"), "skipped"));
		cr_expect_eq(jint2(after, "outcomes", "23505"), (workers - 1) * rounds,
			     "run %d: after 23505", run);
		cr_expect_eq(jint2(before, "rows_per_key", "min"), jint(before, "workers"),
			     "run %d: before: a round left fewer rows than workers", run);
		end_run(doc, &p);
		if (code != 0)
			break;
	}
	stop_cpu_load();
}

/* ---- 6. fire mode runs and keeps its books ---- */

Test(integration, fire_mode_runs, .timeout = 120)
{
	const char *json = spath("fire.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--mode", "fire", "--rounds", "10", "-q", "--json", json), &p);
	cr_assert(code == 0 || code == 4, "%s", proc_said(&p));

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), code == 0 ? "pass" : "inconclusive");
	json_t *after = phase(doc, "after");
	cr_expect_str_eq(jstr(after, "mode"), "fire");
	cr_expect_eq(jint(after, "rounds"), 10);
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	json_t *o = jget(after, "outcomes");
	long long attempts = jint(after, "attempts");
	cr_expect_gt(attempts, 0);
	cr_expect_eq(attempts, jcount(o, "ok") + jcount(o, "skipped") + jcount(o, "23505"),
		     "attempts %lld, outcomes %s", attempts, json_dumps(o, JSON_COMPACT));
	cr_expect(jbool(after, "passed"));
	end_run(doc, &p);
}

/* ---- 7. the sandbox is dropped, other schemas are left alone ---- */

Test(integration, sandbox_schema_is_dropped, .timeout = 120)
{
	/* A schema of ours holding a table of the scenario's name: must survive
	 * untouched. */
	char sentinel[64], sql[256];
	snprintf(sentinel, sizeof sentinel, "it_sentinel_%d", (int)getpid());
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
		 "CREATE TABLE %s.user_tenant_membership (user_id bigint, tenant_id bigint)",
		 sentinel, sentinel, sentinel);
	exec_ok(c, sql);

	const char *json = spath("sandbox.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", SEED, "--workers", "4", "--rounds", "3", "-q", "--json", json), &p);
	int code = wait_pgrace(pid, &p, RUN_LIMIT_S);
	cr_expect_eq(code, 0, "%s", proc_said(&p));

	json_t *doc = load_json(json);
	const char *schema = jstr(doc, "schema");
	char prefix[64];
	snprintf(prefix, sizeof prefix, "pgrace_%d_", (int)pid);
	cr_expect(!strncmp(schema, prefix, strlen(prefix)), "schema \"%s\", expected %s...", schema,
		  prefix);
	assert_schema_dropped(doc);
	char like[80];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	cr_expect_eq(schemas_like(like), 0, "a schema %s... of this run remains", prefix);

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.user_tenant_membership", sentinel);
	PGresult *r = PQexec(c, sql);
	cr_expect_eq(PQresultStatus(r), PGRES_TUPLES_OK, "sentinel table gone: %s", PQerrorMessage(c));
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		cr_expect_str_eq(PQgetvalue(r, 0, 0), "0", "the run wrote into another schema");
	PQclear(r);
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", sentinel);
	exec_ok(c, sql);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
}

/* Ctrl-C in the middle of a race: exit 130, results written, schema dropped. */
Test(integration, sigint_drops_the_sandbox, .timeout = 120)
{
	const char *json = spath("sigint.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", SEED, "--rounds", "1000000", "-q", "--json", json), &p);

	/* Wait until the run's schema exists, so the signal lands mid-run. */
	char like[80];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	double t0 = now_s();
	while (schemas_like(like) == 0) {
		if (now_s() - t0 > 30) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_assert_fail("the run's schema never appeared");
		}
		sleep_ms(20);
	}
	sleep_ms(300);
	cr_assert_eq(kill(pid, SIGINT), 0);
	int code = wait_pgrace(pid, &p, 60);
	cr_expect_eq(code, 130, "%s", proc_said(&p));
	cr_expect_eq(schemas_like(like), 0, "the schema survived SIGINT");

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "error");
	cr_expect(!jbool(doc, "complete"));
	end_run(doc, &p);
}

/* ---- 8. bad usage is exit 2 with a message ---- */

Test(integration, bad_usage_exits_2, .timeout = 120)
{
	const char *missing = spath("no-such-scenario.yaml");
	static const char *const dead = "host=127.0.0.1 port=1 connect_timeout=1";
	const struct {
		const char *what;
		const char *args[8];
	} cases[] = {
		{"unknown flag", {"run", SEED, "--frobnicate", NULL}},
		{"--workers 0", {"run", SEED, "--workers", "0", NULL}},
		{"--workers -3", {"run", SEED, "--workers", "-3", NULL}},
		{"--workers 99999999999", {"run", SEED, "--workers", "99999999999", NULL}},
		{"--workers 8x", {"run", SEED, "--workers", "8x", NULL}},
		{"--rounds 0", {"run", SEED, "--rounds", "0", NULL}},
		{"--mode sometimes", {"run", SEED, "--mode", "sometimes", NULL}},
		{"missing scenario", {"run", missing, "--dsn", dead, NULL}},
		{"run without files", {"run", NULL}},
		{"unknown command", {"frobnicate", SEED, NULL}},
		{"no command", {NULL}},
		{"check without files", {"check", NULL}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proc p;
		int code = run_pgrace(cases[i].args, &p);
		cr_expect_eq(code, 2, "%s: exit %d\nstderr:\n%s", cases[i].what, code, p.err);
		cr_expect(p.err[0] != '\0', "%s: nothing on stderr", cases[i].what);
		cr_expect(contains(p.err, "pgrace"), "%s: stderr does not say who speaks:\n%s",
			  cases[i].what, p.err);
		proc_free(&p);
	}

	/* The missing file is named. */
	struct proc p;
	run_pgrace(ARGS("run", missing, "--dsn", dead), &p);
	cr_expect(contains(p.err, missing), "stderr does not name %s:\n%s", missing, p.err);
	proc_free(&p);
}

/* ---- 9. check and list ---- */

Test(integration, check_and_list, .timeout = 120)
{
	struct proc p;
	int code = run_pgrace(ARGS("check", SEED), &p);
	cr_expect_eq(code, 0, "check seed: exit %d\n%s", code, p.err);
	cr_expect(contains(p.out, "ok"), "check seed stdout:\n%s", p.out);
	proc_free(&p);

	const char *bad = PGRACE_TEST_DATA "/bad/workers-zero.yaml";
	code = run_pgrace(ARGS("check", bad), &p);
	cr_expect_eq(code, 2, "check bad: exit %d", code);
	cr_expect(names_file_line(p.err, bad), "stderr does not name %s:<line>:\n%s", bad, p.err);
	proc_free(&p);

	/* One good, one bad: still 2, and the bad one is named. */
	code = run_pgrace(ARGS("check", SEED, bad), &p);
	cr_expect_eq(code, 2, "check good+bad: exit %d", code);
	cr_expect(names_file_line(p.err, bad), "stderr:\n%s", p.err);
	proc_free(&p);

	code = run_pgrace(ARGS("list", PGRACE_SOURCE_DIR "/scenarios"), &p);
	cr_expect_eq(code, 0, "list: exit %d\n%s", code, p.err);
	cr_expect(contains(p.out, "membership-unique"), "list stdout:\n%s", p.out);
	proc_free(&p);
}

/* ---- 10. the password never appears ---- */

/* Runs with dsn, expects exit code (or 0/3 when code is -1) and SECRET nowhere. */
static void assert_password_hidden(const char *dsn, bool quiet, int want)
{
	const char *json = spath(quiet ? "pw-q.json" : "pw.json");
	const char *junit = spath(quiet ? "pw-q.xml" : "pw.xml");
	struct proc p;
	unlink(json); /* no stale file from an earlier call */
	unlink(junit);
	int code = quiet ? run_pgrace(ARGS("run", SEED, "-q", "--dsn", dsn, "--json", json, "--junit", junit), &p)
			 : run_pgrace(ARGS("run", SEED, "--dsn", dsn, "--json", json, "--junit", junit), &p);
	if (want >= 0)
		cr_expect_eq(code, want, "dsn %s: %s", dsn, proc_said(&p));
	else
		cr_expect(code == 0 || code == 3, "dsn %s: %s", dsn, proc_said(&p));
	cr_expect(!contains(p.out, SECRET), "password on stdout:\n%s", p.out);
	cr_expect(!contains(p.err, SECRET), "password on stderr:\n%s", p.err);
	char *j = read_file(json, NULL), *x = read_file(junit, NULL);
	if (code == 2) { /* refused before any run: nothing written */
		cr_expect_null(j, "JSON written for a refused --dsn");
		cr_expect_null(x, "JUnit written for a refused --dsn");
	} else {
		cr_expect_not_null(j, "no JSON written");
		cr_expect_not_null(x, "no JUnit written");
	}
	cr_expect(!j || !contains(j, SECRET), "password in JSON:\n%s", j);
	cr_expect(!x || !contains(x, SECRET), "password in JUnit:\n%s", x);
	free(j);
	free(x);
	proc_free(&p);
}

Test(integration, password_never_appears, .timeout = 120)
{
	static const char *const dsns[] = {
		"postgresql://postgres:" SECRET "@127.0.0.1:1/postgres?connect_timeout=2",
		"host=127.0.0.1 port=1 password=" SECRET " connect_timeout=2",
	};
	for (size_t i = 0; i < sizeof dsns / sizeof dsns[0]; i++) {
		assert_password_hidden(dsns[i], false, 3);
		assert_password_hidden(dsns[i], true, 3);
	}
	/* A server that is reached (the PG* one; trust auth ignores the
	 * password, password auth refuses it: 0 or 3). */
	assert_password_hidden("password=" SECRET " connect_timeout=5", false, -1);
}

/* libpq's message for a malformed DSN may quote the part of the URI it
 * choked on, password included: pgrace refuses the DSN (exit 2) without it. */
Test(integration, password_never_appears_in_malformed_dsn, .timeout = 120)
{
	static const char *const dsns[] = {
		/* unterminated IPv6 bracket: libpq quotes the whole URI */
		"postgresql://postgres:" SECRET "@[::1/postgres?connect_timeout=2",
		/* bad percent-encoding in the password: libpq quotes the password */
		"postgresql://postgres:" SECRET "%zz@127.0.0.1:1/postgres?connect_timeout=2",
	};
	for (size_t i = 0; i < sizeof dsns / sizeof dsns[0]; i++)
		assert_password_hidden(dsns[i], true, 2);
}

/* ---- 11. the server rejects the schema SQL: file:line and its message ---- */

Test(integration, schema_syntax_error_names_file_line, .timeout = 120)
{
	const char *yaml = seed_variant("syntax.yaml", "CREATE TABLE users (", "CREATE TABLEX users (");
	char *text = read_file(yaml, NULL);
	cr_assert_not_null(text);
	int line = line_of(text, "CREATE TABLEX users (");
	free(text);
	cr_assert_gt(line, 0);

	const char *json = spath("syntax.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "-q", "--json", json), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, yaml, line), "stderr does not name %s:%d:\n%s", yaml, line,
		  p.err);
	cr_expect(contains(p.err, "42601"), "no SQLSTATE 42601 on stderr:\n%s", p.err);
	cr_expect(contains(p.err, "syntax error"), "no server message on stderr:\n%s", p.err);

	json_t *doc = load_json(json);
	cr_expect_str_neq(jstr(doc, "verdict"), "pass");
	cr_expect(!jbool(doc, "complete"));
	end_run(doc, &p);

	/* Without -q the message still reaches the user (summary on stdout). */
	code = run_pgrace(ARGS("run", yaml), &p);
	cr_expect_eq(code, 2, "exit %d", code);
	cr_expect(names_exact_line(p.out, yaml, line) || names_exact_line(p.err, yaml, line),
		  "no %s:%d: in the output\nstdout:\n%s\nstderr:\n%s", yaml, line, p.out, p.err);
	proc_free(&p);
}

/* ---- 12. a race that cannot be reproduced ---- */

Test(integration, unreproducible_race_is_inconclusive, .timeout = 120)
{
	const char *json = spath("inconclusive.json");
	struct proc p;
	json_t *doc = run_verdict(ARGS("run", INCONCLUSIVE, "-q", "--json", json), json, 4,
				  "inconclusive", &p);
	cr_expect(jbool(doc, "complete"));
	json_t *ph = phase(doc, "unprotected");
	cr_expect(!jbool(ph, "passed"));
	cr_expect(!jbool(ph, "broken"));
	cr_expect_eq(jint(ph, "rounds_with_duplicates"), 0);
	cr_expect_eq(jint2(ph, "rows_per_key", "max"), 1);
	end_run(doc, &p);
}

/* The seed with the constraint already in CREATE TABLE: "before" cannot
 * reproduce (inconclusive on its own), but the precheck expectations fail
 * too, and a failure outranks inconclusive: exit 1. */
Test(integration, already_protected_schema_fails, .timeout = 120)
{
	const char *yaml = seed_variant("protected.yaml", "role       text NOT NULL DEFAULT 'member',",
					"role       text NOT NULL DEFAULT 'member',\n"
					"      UNIQUE (user_id, tenant_id),");
	const char *json = spath("protected.json");
	struct proc p;
	json_t *doc = run_verdict(ARGS("run", yaml, "-q", "--json", json), json, 1, "fail", &p);
	json_t *before = phase(doc, "before");
	cr_expect(!jbool(before, "passed"));
	cr_expect_eq(jint(before, "rounds_with_duplicates"), 0);
	cr_expect(!jbool(phase(doc, "precheck"), "passed"));
	end_run(doc, &p);
}

/* ---- result files that cannot be written: exit 5 ---- */

Test(integration, unwritable_results_exit_5, .timeout = 120)
{
	const char *json = spath("no-such-dir/out.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--workers", "2", "--rounds", "2", "-q", "--json", json), &p);
	cr_expect_eq(code, 5, "%s", proc_said(&p));
	cr_expect(contains(p.err, json), "stderr does not name %s:\n%s", json, p.err);
	proc_free(&p);
}

/* What scripts ask of pgrace instead of parsing YAML or computing
 * percentiles themselves (scripts/bench.sh): a part's SQL, and percentiles
 * by pgrace's own histogram. No database. */
Test(integration, show_and_percentiles_for_scripts, .timeout = 60)
{
	struct proc p;
	int code = run_pgrace(ARGS("show", SEED, "rows"), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	cr_expect_str_eq(p.out, "SELECT count(*) FROM user_tenant_membership WHERE user_id = $1 "
				"AND tenant_id = $2\n");
	proc_free(&p);
	code = run_pgrace(ARGS("show", SEED, "sql.nothing"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "has no part \"sql.nothing\""), "%s", proc_said(&p));
	proc_free(&p);

	/* 1..1000 microseconds: exact max and count, percentiles within the
	 * histogram's 3 %. */
	char *in = malloc(8 * 1000);
	cr_assert(in);
	size_t len = 0;
	for (int v = 1000; v >= 1; v--)
		len += (size_t)snprintf(in + len, 8 * 1000 - len, "%d\n", v);
	write_file(spath("values"), in, len);
	free(in);
	const char *sh[] = {"/bin/sh", "-c", "", NULL};
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "'%s' percentiles < '%s'", pgrace_bin(), spath("values"));
	sh[2] = cmd;
	pid_t pid = spawn_cmd(sh, &p);
	code = wait_pgrace(pid, &p, 30);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	unsigned long long p50, p90, p99, max, count;
	cr_assert_eq(sscanf(p.out, "%llu %llu %llu %llu %llu", &p50, &p90, &p99, &max, &count), 5,
		     "%s", proc_said(&p));
	cr_expect(p50 >= 485 && p50 <= 515, "p50 %llu", p50);
	cr_expect(p90 >= 873 && p90 <= 927, "p90 %llu", p90);
	cr_expect(p99 >= 960 && p99 <= 1000, "p99 %llu", p99);
	cr_expect_eq(max, 1000);
	cr_expect_eq(count, 1000);
	proc_free(&p);
	snprintf(cmd, sizeof cmd, "echo 12ms | '%s' percentiles", pgrace_bin());
	pid = spawn_cmd(sh, &p);
	code = wait_pgrace(pid, &p, 30);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "line 1: expected a count of microseconds"), "%s", proc_said(&p));
	proc_free(&p);
}
