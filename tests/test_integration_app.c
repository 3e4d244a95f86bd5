/* test_integration_app.c: application flows (app.h) with psql as the app,
 * against a real PostgreSQL.
 *
 * examples/psql-app passes: hold lets psql's check-then-insert duplicate
 * before the constraint and, after it, one row per key with N-1 x 23505 on
 * the wire naming the constraint and N-1 psql processes exiting non-zero
 * with the message in their output. Then the ways it must never pass: an
 * app that connects to the server directly (bypassing the listener), one
 * still running at its deadline, one that insists on TLS, a command that
 * cannot start; and what app flows refuse (orders: lists, under_load). */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(app, .init = scratch_init, .fini = scratch_fini, .timeout = 300);

#define EXAMPLE PGRACE_SOURCE_DIR "/examples/psql-app/psql-app.yaml"
#define APP_LINE \
	"command: psql -X -q -v ON_ERROR_STOP=1 -v user_id=\"$1\" -v tenant_id=\"$2\" -f register.sql"

/* The example with its app command replaced by line (a shell line). */
static const char *with_command(const char *name, const char *line)
{
	char repl[1024];
	snprintf(repl, sizeof repl, "command: %s", line);
	return variant_of(EXAMPLE, name, APP_LINE, repl);
}

Test(app, psql_races_through_the_listener)
{
	char line[512];
	snprintf(line, sizeof line,
		 "psql -X -q -v ON_ERROR_STOP=1 -v user_id=\"$1\" -v tenant_id=\"$2\" -f %s",
		 PGRACE_SOURCE_DIR "/examples/psql-app/register.sql");
	const char *file = with_command("psql-app.yaml", line);
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("r.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("r.json"));
	json_t *before = phase(doc, "before"), *after = phase(doc, "after");
	long long workers = jint(before, "workers"), rounds = jint(after, "rounds");
	cr_assert_eq(jint2(before, "rows_per_key", "min"), workers, "hold lets every psql insert");
	cr_assert_eq(jint2(after, "rows_per_key", "max"), 1);
	cr_assert_eq(jint2(after, "outcomes", "23505"), (workers - 1) * rounds);
	cr_assert_eq(jint2(after, "constraints", "uq_membership"), (workers - 1) * rounds);
	/* each worker's process in the kept rounds: before, every psql exited 0
	 * in round 1 (the first, duplicated); after, one did and the others
	 * exited 3 with the constraint on the wire and in their stderr tail */
	json_t *kept = jget(jget(before, "app"), "rounds");
	cr_assert_eq(json_array_size(kept), 1, "round 1 is the first and the first duplicate");
	cr_assert_str_eq(json_string_value(jget(json_array_get(kept, 0), "why")),
			 "first, first duplicate");
	json_t *ws = jget(json_array_get(kept, 0), "workers");
	cr_assert_eq((long long)json_array_size(ws), workers);
	for (size_t i = 0; i < json_array_size(ws); i++)
		cr_assert_eq(jint(json_array_get(ws, i), "exit_code"), 0);
	kept = jget(jget(after, "app"), "rounds");
	cr_assert_str_eq(json_string_value(jget(json_array_get(kept, 0), "why")),
			 "first, first passing");
	ws = jget(json_array_get(kept, 0), "workers");
	long long ok = 0;
	for (size_t i = 0; i < json_array_size(ws); i++) {
		json_t *w = json_array_get(ws, i);
		if (jint(w, "exit_code") == 0) {
			ok++;
			continue;
		}
		cr_assert_eq(jint(w, "exit_code"), 3);
		cr_assert_str_eq(json_string_value(jget(w, "end")), "exited with status 3");
		cr_assert_str_eq(json_string_value(jget(w, "sqlstate")), "23505");
		cr_assert_str_eq(json_string_value(jget(w, "constraint")), "uq_membership");
		cr_assert(contains(json_string_value(jget(w, "stderr_tail")), "uq_membership"), "%s",
			  json_string_value(jget(w, "stderr_tail")));
	}
	/* its steps as the listener relayed them, from the round's start: BEGIN
	 * first; the winner's COMMIT held until the losers were blocked, each
	 * loser's INSERT answered with 23505 and the constraint after the
	 * release; each process exited after its last answer */
	long long held_commits = 0, losers = 0;
	for (size_t i = 0; i < json_array_size(ws); i++) {
		json_t *w = json_array_get(ws, i), *trips = jget(w, "trips");
		size_t n = json_array_size(trips);
		cr_assert(n >= 3 && jint(w, "trips_seen") == (long long)n, "%zu steps", n);
		cr_assert_str_eq(json_string_value(jget(json_array_get(trips, 0), "what")), "BEGIN");
		long long last_done = 0;
		for (size_t k = 0; k < n; k++) {
			json_t *t = json_array_get(trips, k);
			cr_assert(jint(t, "sent_us") >= jint(t, "in_us") && jint(t, "done_us") >= jint(t, "sent_us"));
			last_done = jint(t, "done_us");
			const char *what = json_string_value(jget(t, "what"));
			if (!strcmp(what, "COMMIT") && json_is_true(jget(t, "held")))
				held_commits++;
			if (!strcmp(json_string_value(jget(t, "outcome")), "23505")) {
				losers++;
				cr_assert_str_eq(json_string_value(jget(t, "constraint")), "uq_membership");
			}
		}
		cr_assert(jint(w, "exited_us") >= last_done, "exit after its last answer");
	}
	cr_assert_eq(held_commits, 1, "the winner's COMMIT waited at the listener");
	cr_assert_eq(losers, workers - 1);
	cr_assert_eq(ok, 1, "one psql inserted");
	json_decref(doc);
	proc_free(&p);
}

Test(app, an_app_that_bypasses_the_listener_fails_the_phase)
{
	/* PGHOST is the listener's; the app connects to the real server's
	 * socket folder it was given some other way */
	char line[512];
	snprintf(line, sizeof line, "psql -X -h \"$REAL_PGHOST\" -p %s -c 'SELECT 1'",
		 getenv("PGPORT") ? getenv("PGPORT") : "5432");
	const char *file = with_command("bypass.yaml", line);
	setenv("REAL_PGHOST", getenv("PGHOST") ? getenv("PGHOST") : "/var/run/postgresql", 1);
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	unsetenv("REAL_PGHOST");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a: the app never connected through pgrace's listener"), "%s",
		  proc_said(&p));
	cr_assert(contains(p.out, "phase before"), "%s", proc_said(&p));
	cr_assert_not(contains(p.out, "PASS in"), "%s", proc_said(&p));
	proc_free(&p);
}

Test(app, an_app_past_its_deadline_is_killed_and_reported)
{
	const char *file0 = with_command("slow0.yaml", "sleep 60");
	const char *file = variant_of(file0, "slow.yaml", "timeout_ms: 60000", "timeout_ms: 500");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_lt(now_s() - t0, 30.0, "the deadline was not kept");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "still running at its deadline"), "%s", proc_said(&p));
	proc_free(&p);
}

Test(app, an_app_that_insists_on_tls_is_named)
{
	const char *file = with_command("tls.yaml", "PGSSLMODE=require psql -X -c 'SELECT 1'");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "insists on TLS"), "%s", proc_said(&p));
	proc_free(&p);
}

Test(app, a_command_that_cannot_start_names_its_line)
{
	const char *file0 = with_command("nostart0.yaml", "no-such-program-pgrace x");
	const char *file = variant_of(file0, "nostart.yaml", "shell: true", "shell: false");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	cr_assert(contains(p.out, "could not be started"), "%s", proc_said(&p));
	proc_free(&p);
}

Test(app, an_orders_list_and_under_load_are_refused)
{
	struct proc p;
	const char *listed = variant_of(EXAMPLE, "listed.yaml", "  - name: after\n    race: {}\n",
					"  - name: after\n    race: {mode: interleave}\n"
					"    orders: [\"a1 b1 a2 b2\"]\n");
	int code = run_pgrace(ARGS("run", listed), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	cr_assert(names_file_line(p.err, listed), "%s", proc_said(&p));
	cr_assert(contains(p.err, "orders: lists go with SQL flows"), "%s", proc_said(&p));
	proc_free(&p);
	const char *file = variant_of(EXAMPLE, "load.yaml", "  - name: after\n    race: {}\n",
				      "  - name: after\n    steps:\n      - run: cleanup\n"
				      "        under_load: true\n    race: {}\n");
	code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 2, "%s", proc_said(&p));
	cr_assert(names_file_line(p.err, file), "%s", proc_said(&p));
	cr_assert(contains(p.err, "an app flow has none"), "%s", proc_said(&p));
	proc_free(&p);
}

/* An app's output is untrusted: invalid UTF-8, a bidi override, an escape
 * sequence, "]]>" in the tail pgrace shows stay escaped on the terminal and
 * leave the JSON and JUnit well-formed. */
Test(app, a_hostile_output_tail_stays_escaped)
{
	const char *file = with_command(
		"hostile.yaml",
		"printf 'bad \\377\\376 \\342\\200\\256 ]]> <x> \\033[31m \\001' >&2; exit 4");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", spath("h.json"), "--junit", spath("h.xml")),
			      &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "its output ends: bad \\xff\\xfe \\u202e ]]> <x> \\x1b[31m \\x01"),
		  "%s", proc_said(&p));
	cr_assert_null(strchr(p.out, '\033'), "a raw escape reached the terminal");
	json_t *doc = load_json(spath("h.json"));
	cr_assert(contains(jstr(doc, "error"), "never connected"));
	json_decref(doc);
	struct proc x;
	int lint = wait_pgrace(spawn_cmd(ARGS("/usr/bin/xmllint", "--noout", spath("h.xml")), &x), &x,
			       30);
	cr_assert_eq(lint, 0, "xmllint refuses the JUnit file: %s", proc_said(&x));
	proc_free(&x);
	proc_free(&p);
}

/* Hold mode holds COMMITs: an app in autocommit sends none, so nothing is
 * held and nothing raced. Before: the round passed on unsynchronised
 * processes. Fire mode holds its first data statement: it races. */
Test(app, a_round_that_held_nothing_is_not_judged)
{
	const char *file = with_command(
		"autocommit.yaml",
		"psql -X -q -v ON_ERROR_STOP=1 -c \"INSERT INTO user_tenant_membership (user_id, "
		"tenant_id) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM user_tenant_membership WHERE "
		"user_id = $1 AND tenant_id = $2)\"");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "hold mode held nothing"), "%s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "--mode", "fire", "--json", spath("f.json")), &p);
	cr_assert(code == 0 || code == 1, "%s", proc_said(&p));
	json_t *doc = load_json(spath("f.json"));
	cr_assert_eq(jint(phase(doc, "after"), "rounds"), 3, "fire raced every round");
	/* the listener's release spread is measured (its value is the bench's) */
	json_t *spread = jget(jget(phase(doc, "after"), "release"), "spread_us");
	cr_assert(json_is_integer(jget(spread, "p50")) && json_is_integer(jget(spread, "max")),
		  "no release spread in an app flow's fire phase");
	json_decref(doc);
	proc_free(&p);
}

/* SIGINT while the app's processes run: pgrace kills their process groups
 * and exits 130, naming the worker (before: the round's message was an
 * uninitialised buffer), and nothing of the app is left running. */
Test(app, sigint_kills_the_apps_and_says_so)
{
	const char *file = with_command("sigint.yaml", "sleep 3737");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", file), &p);
	double t0 = now_s();
	while (system("pgrep -f 'slee[p] 3737' >/dev/null") != 0 && now_s() - t0 < 60)
		sleep_ms(50);
	kill(pid, SIGINT);
	int code = wait_pgrace(pid, &p, 60);
	cr_assert_eq(code, 130, "%s", proc_said(&p));
	cr_assert(contains(p.out, "interrupted by SIGINT: its process group was killed"), "%s",
		  proc_said(&p));
	sleep_ms(200);
	cr_assert_neq(system("pgrep -f 'slee[p] 3737' >/dev/null"), 0, "an app process was left running");
	proc_free(&p);
}

/* app_scenario with n workers. */
static const char *app_scenario_n(const char *name, int n, const char *script, const char *schema,
				  const char *rows, const char *expect)
{
	char sh[64], text[4096];
	snprintf(sh, sizeof sh, "%s.sh", name);
	const char *script_path = spath(sh);
	write_file(script_path, script, strlen(script));
	snprintf(text, sizeof text,
		 "name: %s\n"
		 "schema: |\n%s"
		 "race:\n  workers: %d\n  rounds: 1\n  mode: hold\n"
		 "params: [round]\n"
		 "rows: %s\n"
		 "flow:\n  app:\n    command: sh %s \"$1\"\n    shell: true\n    timeout_ms: 60000\n"
		 "phases:\n  - name: race\n    race: {}\n    expect:\n      - %s\n",
		 name, schema, n, rows, script_path, expect);
	char yaml[64];
	snprintf(yaml, sizeof yaml, "%s.yaml", name);
	const char *path = spath(yaml);
	write_file(path, text, strlen(text));
	return path;
}

/* A scenario of its own in scratch/name: hold mode, 3 workers, one round,
 * the app command a shell line running script (its $1 the key). */
static const char *app_scenario(const char *name, const char *script, const char *schema,
				const char *rows, const char *expect)
{
	return app_scenario_n(name, 3, script, schema, rows, expect);
}

/* An app with two connections, both waiting on a lock a peer holds, is one
 * blocked worker, not two. Worker a (PGRACE_WORKER=0) locks the gate row
 * and is held at its COMMIT, worker b's two psql processes wait on that
 * lock, worker c starts late and must still run its statements before
 * anyone commits: it sees no marker of worker a. Before: the barrier
 * counted blocked backends against workers (1 held + 2 blocked >= 3) and
 * released worker a's COMMIT while worker c had not started, so worker c
 * saw the marker. */
Test(app, two_blocked_connections_are_one_blocked_worker)
{
	const char *script =
		"P='psql -X -q -v ON_ERROR_STOP=1'\n"
		"case $PGRACE_WORKER in\n"
		"0) $P -c BEGIN -c 'UPDATE gate SET id = id' -c \"INSERT INTO marker VALUES ($1)\" "
		"-c COMMIT ;;\n"
		"1) sleep 0.5\n"
		"   $P -c BEGIN -c 'UPDATE gate SET id = id' -c COMMIT &\n"
		"   $P -c BEGIN -c 'UPDATE gate SET id = id' -c COMMIT &\n"
		"   wait ;;\n"
		"2) sleep 3\n"
		"   $P -c BEGIN -c \"INSERT INTO seen SELECT $1, count(*) FROM marker WHERE k = $1\" "
		"-c COMMIT ;;\n"
		"esac\n";
	const char *file = app_scenario(
		"twoconn", script,
		"  CREATE TABLE gate (id int PRIMARY KEY);\n  INSERT INTO gate VALUES (1);\n"
		"  CREATE TABLE marker (k bigint);\n  CREATE TABLE seen (k bigint, markers bigint);\n",
		"SELECT count(*) FROM seen WHERE k = $1 AND markers = 0", "rows_per_key.min == 1");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", spath("twoconn.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("twoconn.json"));
	json_t *ph = phase(doc, "race");
	cr_assert_eq(jint2(ph, "app", "connections"), 4, "worker b opened two connections");
	json_decref(doc);
	proc_free(&p);
}

#define T_SCHEMA "  CREATE TABLE t (k bigint);\n"
#define T_ROWS "SELECT count(*) FROM t WHERE k = $1"

/* An app that gives up on its COMMIT while pgrace holds it (a client-side
 * timeout, here timeout(1) killing psql) and exits 0 raced nothing: its
 * transaction never committed. Before: the worker counted "ok" and the
 * phase passed on two of three racers. */
Test(app, an_app_that_gives_up_on_its_held_commit_breaks_the_round)
{
	const char *script =
		"P='psql -X -q -v ON_ERROR_STOP=1'\n"
		"case $PGRACE_WORKER in\n"
		"0) timeout 1 $P -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT; exit 0 ;;\n"
		"*) sleep 3; $P -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT ;;\n"
		"esac\n";
	const char *file =
		app_scenario("giveup", script, T_SCHEMA, T_ROWS, "outcomes.ok == attempts");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a lost a connection mid-way: its client hung up while "
				  "pgrace held a step of it"),
		  "%s", proc_said(&p));
	cr_assert_not(contains(p.out, "PASS in"), "%s", proc_said(&p));
	proc_free(&p);
}

/* A connection the listener closes over a protocol error (a message whose
 * length lies) is lost, never silent: before, the worker that sent it
 * counted "ok" and the phase passed. */
Test(app, a_connection_the_listener_refuses_breaks_the_round)
{
	const char *script =
		"case $PGRACE_WORKER in\n"
		"0) exec python3 -c '\n"
		"import os, socket, struct, sys\n"
		"s = socket.create_connection((os.environ[\"PGHOST\"], int(os.environ[\"PGPORT\"])))\n"
		"kv = b\"user\\0\" + os.environ[\"PGUSER\"].encode() + b\"\\0database\\0\" + "
		"os.environ[\"PGDATABASE\"].encode() + b\"\\0\\0\"\n"
		"body = struct.pack(\"!I\", 196608) + kv\n"
		"s.sendall(struct.pack(\"!I\", len(body) + 4) + body)\n"
		"buf = b\"\"\n"
		"while b\"Z\\0\\0\\0\\5\" not in buf:\n"
		"    d = s.recv(4096)\n"
		"    if not d:\n"
		"        sys.exit(5)\n"
		"    buf += d\n"
		"s.sendall(b\"Q\" + struct.pack(\"!I\", 0x7fffffff))\n"
		"s.recv(4096)\n"
		"' ;;\n"
		"*) psql -X -q -v ON_ERROR_STOP=1 -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT ;;\n"
		"esac\n";
	const char *file =
		app_scenario_n("refused", 2, script, T_SCHEMA, T_ROWS, "outcomes.ok == attempts");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a lost a connection mid-way: pgrace's listener closed its "
				  "connection"),
		  "%s", proc_said(&p));
	cr_assert_not(contains(p.out, "PASS in"), "%s", proc_said(&p));
	proc_free(&p);
}

/* A connection the server closes under the app (its backend terminated) is
 * lost, as a SQL worker's: the round breaks naming the worker, rather than
 * counting the FATAL as the attempt's outcome. */
Test(app, a_connection_the_server_closes_breaks_the_round)
{
	const char *script =
		"P='psql -X -q -v ON_ERROR_STOP=1'\n"
		"case $PGRACE_WORKER in\n"
		"0) $P -c BEGIN -c 'SELECT pg_terminate_backend(pg_backend_pid())' ;;\n"
		"*) $P -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT ;;\n"
		"esac\n";
	const char *file = app_scenario_n("terminated", 2, script, T_SCHEMA, T_ROWS,
					  "rows_per_key.max <= 1");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a lost a connection mid-way: the server closed its "
				  "connection (backend pid "),
		  "%s", proc_said(&p));
	proc_free(&p);
}

/* Fire mode, an app whose first statement that touches data waits on a
 * lock its peer took before being held (an advisory lock, a SELECT of no
 * table: not a data statement): the waiting worker can only reach its hold
 * point once the held one goes on, so it counts as settled, as in hold
 * mode. Before: fire never asked the lock view, the round waited for the
 * deadline and broke ("still running at its deadline"). */
Test(app, fire_releases_when_a_worker_waits_on_a_held_peer)
{
	const char *script = "psql -X -q -v ON_ERROR_STOP=1 -c BEGIN -c 'SELECT pg_advisory_xact_lock(42)' "
			     "-c \"INSERT INTO t VALUES ($1)\" -c COMMIT\n";
	const char *held = app_scenario_n("firelock0", 2, script, T_SCHEMA, T_ROWS,
					  "rows_per_key.min == 2");
	const char *file0 = variant_of(held, "firelock1.yaml", "mode: hold", "mode: fire");
	const char *file = variant_of(file0, "firelock.yaml", "timeout_ms: 60000", "timeout_ms: 8000");
	struct proc p;
	int code = run_pgrace(ARGS("run", file), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
}

/* More connections open at once than the listener lists per worker (64)
 * would leave backends out of the lock view: the round breaks saying so,
 * never releases on a partial view (before, the view listed 8 and left
 * the rest out without a word). */
Test(app, more_connections_than_the_view_follows_break_the_round)
{
	static const char py[] =
		"import os, socket, struct, sys, time\n"
		"def conn():\n"
		"    s = socket.create_connection((os.environ['PGHOST'], int(os.environ['PGPORT'])))\n"
		"    kv = (b'user\\0' + os.environ['PGUSER'].encode() + b'\\0database\\0' +\n"
		"          os.environ['PGDATABASE'].encode() + b'\\0\\0')\n"
		"    body = struct.pack('!I', 196608) + kv\n"
		"    s.sendall(struct.pack('!I', len(body) + 4) + body)\n"
		"    buf = b''\n"
		"    while b'Z\\0\\0\\0\\x05' not in buf:\n"
		"        d = s.recv(4096)\n"
		"        if not d:\n"
		"            sys.exit(5)\n"
		"        buf += d\n"
		"    return s\n"
		"socks = [conn() for _ in range(65)]\n"
		"time.sleep(1.5)\n"
		"for s in socks:\n"
		"    s.sendall(b'X\\0\\0\\0\\x04')\n"
		"    s.close()\n";
	const char *py_path = spath("many.py");
	write_file(py_path, py, strlen(py));
	char script[1024];
	snprintf(script, sizeof script,
		 "P='psql -X -q -v ON_ERROR_STOP=1'\n"
		 "case $PGRACE_WORKER in\n"
		 "0) python3 %s || exit $? ;;\n"
		 "esac\n"
		 "$P -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT\n",
		 py_path);
	const char *file = app_scenario_n("many", 2, script, T_SCHEMA, T_ROWS, "rows_per_key.min == 2");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", file), &p);
	/* the broken round lets the held processes go (before: they waited
	 * for their 60 s deadline) */
	cr_assert_lt(now_s() - t0, 40.0, "the held processes waited for their deadline");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a had more than 64 connections open at once"), "%s",
		  proc_said(&p));
	proc_free(&p);
}

/* --deadline-ms is a round's whole budget for app flows too (when sooner
 * than the command's timeout_ms). Before: it was accepted and ignored, the
 * processes ran to their 60 s timeout. */
Test(app, deadline_ms_bounds_an_app_round)
{
	const char *file = with_command("slowd.yaml", "sleep 60");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", file, "--deadline-ms", "1000"), &p);
	cr_assert_lt(now_s() - t0, 30.0, "--deadline-ms was not kept");
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a was still running at its deadline (it had not connected"),
		  "%s", proc_said(&p));
	proc_free(&p);
}

/* A COMMIT that blocks once released: a deferred unique constraint is
 * checked at COMMIT, where the second worker waits on the first's
 * insert, then gets 23505 naming the constraint; the round completes with
 * one row, the error counted from the wire. */
Test(app, a_released_commit_that_blocks_on_a_deferred_constraint)
{
	const char *script = "psql -X -q -v ON_ERROR_STOP=1 -c BEGIN "
			     "-c \"INSERT INTO t VALUES ($1)\" -c COMMIT\n";
	const char *file =
		app_scenario_n("deferred", 2, script,
			       "  CREATE TABLE t (k bigint CONSTRAINT t_k_once UNIQUE DEFERRABLE "
			       "INITIALLY DEFERRED);\n",
			       T_ROWS, "rows_per_key.max == 1");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", spath("deferred.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("deferred.json"));
	json_t *ph = phase(doc, "race");
	cr_assert_eq(jint2(ph, "outcomes", "23505"), 1, "the second COMMIT failed on the wire");
	cr_assert_eq(jint2(ph, "constraints", "t_k_once"), 1);
	cr_assert_eq(jint2(ph, "app", "exit_failed"), 1);
	json_decref(doc);
	proc_free(&p);
}

/* An app that waits on a lock a session outside pgrace holds (here the
 * test's own connection, an advisory lock) is killed at its deadline, and
 * the message names who blocked it. Before: "still running at its
 * deadline" and nothing about why. */
Test(app, a_worker_blocked_from_outside_is_named_at_its_deadline)
{
	PGconn *outsider = PQconnectdb("");
	cr_assert_eq(PQstatus(outsider), CONNECTION_OK, "%s", PQerrorMessage(outsider));
	exec_ok(outsider, "SELECT pg_advisory_lock(777)");
	char pid[32];
	snprintf(pid, sizeof pid, "pid %d outside pgrace", PQbackendPID(outsider));
	const char *script =
		"P='psql -X -q -v ON_ERROR_STOP=1'\n"
		"case $PGRACE_WORKER in\n"
		"0) $P -c BEGIN -c 'SELECT pg_advisory_xact_lock(777)' -c COMMIT ;;\n"
		"*) $P -c BEGIN -c \"INSERT INTO t VALUES ($1)\" -c COMMIT ;;\n"
		"esac\n";
	const char *file = app_scenario_n("outside", 2, script, T_SCHEMA, T_ROWS, "rows_per_key.max <= 1");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--deadline-ms", "3000"), &p);
	PQfinish(outsider);
	cr_assert_eq(code, 3, "%s", proc_said(&p));
	cr_assert(contains(p.out, "worker a was still running at its deadline (running)"), "%s",
		  proc_said(&p));
	cr_assert(contains(p.out, pid), "%s", proc_said(&p));
	proc_free(&p);
}

/* A process that sends more steps than the report keeps (40 SELECTs on a
 * first connection, then the race on a second): the last 32 are kept, so
 * its racing transaction (BEGIN ... COMMIT on connection 1) is on its lane. */
Test(app, the_last_steps_are_kept)
{
	char line[768];
	snprintf(line, sizeof line,
		 "for i in $(seq 40); do echo \"SELECT $i;\"; done | psql -X -q >/dev/null; "
		 "psql -X -q -v ON_ERROR_STOP=1 -v user_id=\"$1\" -v tenant_id=\"$2\" -f %s",
		 PGRACE_SOURCE_DIR "/examples/psql-app/register.sql");
	const char *file = with_command("many-steps.yaml", line);
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--json", spath("m.json")), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(spath("m.json"));
	json_t *ws = jget(json_array_get(jget(jget(phase(doc, "after"), "app"), "rounds"), 0), "workers");
	cr_assert(json_array_size(ws) > 0);
	for (size_t i = 0; i < json_array_size(ws); i++) {
		json_t *w = json_array_get(ws, i), *trips = jget(w, "trips");
		size_t n = json_array_size(trips);
		cr_assert(jint(w, "trips_seen") > 40, "%lld steps seen", jint(w, "trips_seen"));
		cr_assert_eq(n, 32, "the last 32 kept");
		json_t *last = json_array_get(trips, n - 1);
		cr_expect_eq(jint(last, "conn"), 1, "the racing connection's steps are the last");
		const char *what = json_string_value(jget(last, "what"));
		cr_expect(!strcmp(what, "COMMIT") || !strcmp(json_string_value(jget(last, "outcome")), "23505"),
			  "the last step is the COMMIT or the failed INSERT: %s", what);
		int begins = 0;
		for (size_t k = 0; k < n; k++)
			begins += !strcmp(json_string_value(jget(json_array_get(trips, k), "what")), "BEGIN");
		cr_expect_eq(begins, 1, "its racing transaction's BEGIN is kept");
	}
	json_decref(doc);
	proc_free(&p);
}
