/* test_integration_hostile.c: the surfaces of issue 17 tried as a hostile
 * or careless user would, against a real PostgreSQL: waits without a
 * deadline (round_setup, `pgrace clean` behind a foreign lock), a step that
 * releases the run's owner lock, and messages that blamed the wrong thing
 * or said nothing.
 *
 * Each test says how it failed before its fix. Every wait is bounded. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "harness.h"

#define FIXTURE PGRACE_TEST_DATA "/faults/membership.yaml"

TestSuite(hostile, .init = scratch_init, .fini = scratch_fini, .timeout = 180);

/* Schemas named name exactly in the database dsn names. */
static long schemas_in(const char *dsn, const char *like)
{
	PGconn *c = pg_open_dsn(dsn);
	const char *params[] = {like};
	char *v = pg_value(c, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1", 1, params);
	long n = strtol(v, NULL, 10);
	free(v);
	PQfinish(c);
	return n;
}

/* Waits (at most 30 s, failing the test) until a statement naming marker
 * runs in the database c is connected to. */
static void wait_statement(PGconn *c, const char *marker)
{
	char like[96];
	snprintf(like, sizeof like, "%%%s%%", marker);
	const char *params[] = {like};
	free(pg_poll_value(c, 30, "the statement ran",
			   "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
			   "AND query LIKE $1 AND pid <> pg_backend_pid()",
			   1, params));
}

/* ---- item 9: the owner lock survives a step that releases locks ---- */

/* Before: the owner lock lived on the connection that runs steps, so a
 * step's pg_advisory_unlock_all() (or DISCARD ALL) released it and a
 * concurrent `pgrace clean` dropped the live run's sandbox ("dropped (its
 * run is gone)"). Now the lock has a connection of its own. */
Test(hostile, step_releasing_locks_keeps_the_owner_lock)
{
	char dsn[128], marker[64], steps[512];
	const char *db = test_own_database("pgrace_hostile", "unlock", dsn, sizeof dsn);
	snprintf(marker, sizeof marker, "unlocked_%d", (int)getpid());
	snprintf(steps, sizeof steps,
		 "  - name: migrate\n    steps:\n"
		 "      - sql: SELECT pg_advisory_unlock_all()\n"
		 "      - sql: DISCARD ALL\n"
		 "      - sql: SELECT pg_sleep(20) AS %s\n"
		 "      - migrate: up\n",
		 marker);
	const char *yaml = variant_of(FIXTURE, "unlock.yaml",
				      "  - name: migrate\n    steps:\n      - migrate: up\n", steps);
	struct proc p, q;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--dsn", dsn, "--workers", "2", "--rounds", "1", "-q"),
				 &p);
	PGconn *c = pg_open_dsn(dsn);
	wait_statement(c, marker);
	PQfinish(c);
	int code = run_pgrace(ARGS("clean", "--dsn", dsn), &q);
	cr_expect_eq(code, 0, "%s", proc_said(&q));
	cr_expect(contains(q.out, "kept (its run is alive"),
		  "clean did not keep the live run's sandbox\n%s", proc_said(&q));
	cr_expect_eq(schemas_in(dsn, "pgrace\\_%"), 1, "clean dropped a live run's sandbox");
	proc_free(&q);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	code = wait_pgrace(pid, &p, 30);
	cr_expect_eq(code, 143, "%s", proc_said(&p));
	cr_expect_eq(schemas_in(dsn, "pgrace\\_%"), 0, "the run left its sandbox");
	proc_free(&p);
	test_drop_database(db);
}

/* ---- item 7: `pgrace clean` behind a foreign lock ---- */

/* Before: clean's DROP SCHEMA waited without end behind a lock a leftover
 * session held on a table of a dead run's sandbox (the test killed it after
 * 30 s). Now each drop waits at most its lock timeout, clean names the pid
 * and the lock, keeps that sandbox, drops the others and exits 3. */
Test(hostile, clean_behind_a_foreign_lock)
{
	char dsn[128], pid_text[32];
	const char *db = test_own_database("pgrace_hostile", "cleanlock", dsn, sizeof dsn);
	PGconn *c = pg_open_dsn(dsn);
	exec_ok(c, "CREATE SCHEMA pgrace_1_0000beef; CREATE TABLE pgrace_1_0000beef.held (x int); "
		   "CREATE SCHEMA pgrace_2_0000cafe");
	PGconn *holder = pg_open_dsn(dsn);
	exec_ok(holder, "BEGIN; LOCK TABLE pgrace_1_0000beef.held IN ACCESS SHARE MODE");
	snprintf(pid_text, sizeof pid_text, "pid %d ", PQbackendPID(holder));
	struct proc q;
	pid_t pid = spawn_pgrace(ARGS("clean", "--dsn", dsn), &q);
	int code = wait_pgrace(pid, &q, 30);
	cr_expect_eq(code, 3, "%s", proc_said(&q));
	cr_expect(contains(q.err, "pgrace_1_0000beef"), "%s", proc_said(&q));
	cr_expect(contains(q.err, pid_text), "the holder is not named\n%s", proc_said(&q));
	cr_expect(contains(q.err, "AccessShareLock"), "%s", proc_said(&q));
	cr_expect(contains(q.err, "held"), "the table is not named\n%s", proc_said(&q));
	cr_expect(contains(q.out, "pgrace_2_0000cafe: dropped"), "%s", proc_said(&q));
	cr_expect_eq(schemas_in(dsn, "pgrace\\_1\\_0000beef"), 1, "the held sandbox was dropped");
	cr_expect_eq(schemas_in(dsn, "pgrace\\_2\\_0000cafe"), 0, "the free sandbox was kept");
	proc_free(&q);
	/* --lock-timeout-ms bounds the wait too; the lock gone, the drop goes. */
	exec_ok(holder, "ROLLBACK");
	code = run_pgrace(ARGS("clean", "--dsn", dsn, "--lock-timeout-ms", "200"), &q);
	cr_expect_eq(code, 0, "%s", proc_said(&q));
	cr_expect_eq(schemas_in(dsn, "pgrace\\_%"), 0, "%s", proc_said(&q));
	proc_free(&q);
	PQfinish(holder);
	PQfinish(c);
	test_drop_database(db);
}

/* ---- item 6: round_setup is under the round's deadline ---- */

/* Before: round_setup ran with db.c's 60 s default, not the round's
 * deadline: a 20 s pg_sleep against --deadline-ms 1000 waited and the run
 * passed. Now it is cancelled at the deadline: exit 3, the round_setup line,
 * and what it waited on (no lock: the PgSleep wait event). */
Test(hostile, round_setup_sleeping_past_the_deadline)
{
	const char *yaml = variant_of(FIXTURE, "setup-sleep.yaml", "race:\n  workers: 16\n",
				      "round_setup: SELECT pg_sleep(20) WHERE $1::bigint > 0\n"
				      "race:\n  workers: 16\n");
	char *text = read_file(yaml, NULL);
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--deadline-ms", "1000", "--workers", "2", "-q"), &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, yaml, line_of(text, "round_setup:")), "%s", proc_said(&p));
	cr_expect(contains(p.err, "round_setup (round 1) did not finish within the round's deadline "
				  "of 1000 ms"),
		  "%s", proc_said(&p));
	cr_expect(contains(p.err, "PgSleep"), "what it waited on is not said\n%s", proc_said(&p));
	free(text);
	proc_free(&p);
}

/* The same in interleave mode (round_setup runs before each order), and a
 * wait on a lock held outside pgrace names the holder. Before: the run
 * waited for the lock, up to 60 s per order. */
Test(hostile, round_setup_blocked_names_the_holder)
{
	const char *yaml = variant_of(SEED, "setup-lock.yaml", "race:\n",
				      "round_setup: SELECT pg_advisory_xact_lock(4242, 17) WHERE "
				      "$1::bigint > 0\nrace:\n");
	PGconn *holder = pg_open();
	exec_ok(holder, "SELECT pg_advisory_lock(4242, 17)");
	char pid_text[64];
	snprintf(pid_text, sizeof pid_text, "a lock held by pid %d", PQbackendPID(holder));
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", yaml, "--deadline-ms", "1000", "--mode", "interleave", "-q"),
				 &p);
	int code = wait_pgrace(pid, &p, 30);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "did not finish within the round's deadline of 1000 ms"), "%s",
		  proc_said(&p));
	cr_expect(contains(p.err, pid_text), "the holder is not named\n%s", proc_said(&p));
	PQfinish(holder);
	proc_free(&p);
}

/* ---- item 13: output files never follow a planted file ---- */

/* Before: `init -o OUT` wrote OUT.tmp with fopen("w"), following a symlink
 * planted there and overwriting the file it pointed to. Now the temporary is
 * a fresh mkstemp file (outfile.h): the planted link and its target stay as
 * they were, OUT is the scenario. A --json into a folder that cannot take a
 * temporary is refused without a partial file. */
Test(hostile, init_output_ignores_a_planted_symlink)
{
	char table[96], sql[256], dsn[128];
	snprintf(table, sizeof table, "hostile_init_%d", (int)getpid());
	/* a database of its own: a run of this suite's other tests, at the same
	 * time, would see the table appear outside its sandbox (outside.h) */
	const char *db = test_own_database("pgrace_hostile", "init", dsn, sizeof dsn);
	PGconn *c = pg_open_dsn(dsn);
	snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (a int, b int)", table,
		 table);
	exec_ok(c, sql);
	const char *victim = spath("victim.txt"), *out = spath("out.yaml");
	write_file(victim, "precious\n", 9);
	char link[600];
	snprintf(link, sizeof link, "%s.tmp", out);
	cr_assert_eq(symlink(victim, link), 0);
	struct proc p;
	int code = run_pgrace(ARGS("init", "--dsn", dsn, "--table", table, "--key", "a,b", "-o", out),
			      &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	char *v = read_file(victim, NULL);
	cr_expect_str_eq(v, "precious\n", "the planted symlink's target was overwritten");
	free(v);
	char *yaml = read_file(out, NULL);
	cr_expect(yaml && contains(yaml, "phases:"), "no scenario in %s", out);
	free(yaml);
	proc_free(&p);
	unlink(link);
	PQfinish(c);
	test_drop_database(db);
}

/* ---- item 15: JUnit stays XML whatever the server says ---- */

/* Before: a server message with U+FFFE or U+FFFF (well-formed UTF-8) went
 * into the JUnit file raw and xmllint refused it ("Char 0xFFFE out of
 * allowed range"). Now every character XML 1.0 forbids is replaced. */
Test(hostile, junit_of_a_hostile_server_message_is_xml)
{
	const char *yaml = variant_of(
		FIXTURE, "raise.yaml", "  - name: migrate\n    steps:\n      - migrate: up\n",
		"  - name: migrate\n    steps:\n      - sql: DO $$ BEGIN RAISE EXCEPTION 'bad %', "
		"chr(65534) || chr(65535) || chr(1) || chr(27) || ']]><x>&' || chr(8238); END $$\n"
		"      - migrate: up\n");
	const char *junit = spath("raise.xml");
	struct proc p, x;
	int code = run_pgrace(
		ARGS("run", yaml, "--workers", "2", "--rounds", "1", "-q", "--junit", junit), &p);
	cr_expect_neq(code, 0, "%s", proc_said(&p));
	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml, "no JUnit file\n%s", proc_said(&p));
	cr_expect(contains(xml, "bad "), "the server's message is not in the file:\n%s", xml);
	cr_expect(!contains(xml, "\xef\xbf\xbe"), "U+FFFE written raw");
	int lint = wait_pgrace(spawn_cmd(ARGS("/usr/bin/xmllint", "--noout", junit), &x), &x, 30);
	cr_expect_eq(lint, 0, "xmllint refuses the JUnit file\n%s\n%s", proc_said(&x), xml);
	free(xml);
	proc_free(&x);
	proc_free(&p);
}

/* ---- item 17: messages ---- */

#define REPLICA_READ PGRACE_SOURCE_DIR "/scenarios/replica-read-check.yaml"

/* Before: a --target no scenario names was ignored in silence (the seed
 * ran and passed; a misspelt replica made its scenario "skipped"), and one
 * naming the first target (--dsn's) too. Now exit 2, naming it. */
Test(hostile, target_no_scenario_uses_is_refused)
{
	static const struct {
		const char *file, *target, *said;
	} cases[] = {
		{SEED, "replica=dbname=postgres",
		 "--target replica: no scenario given has a target replica"},
		{REPLICA_READ, "replcia=dbname=postgres",
		 "no scenario given has a target replcia (replica)"},
		{REPLICA_READ, "primary=dbname=postgres",
		 "--target primary: primary is the first target"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proc p;
		int code = run_pgrace(ARGS("run", cases[i].file, "--target", cases[i].target, "-q",
					   "--workers", "2", "--rounds", "1"),
				      &p);
		cr_expect_eq(code, 2, "case %zu: %s", i, proc_said(&p));
		cr_expect(contains(p.err, cases[i].said), "case %zu: %s", i, proc_said(&p));
		proc_free(&p);
	}
}

/* Before: an --admin-dsn reaching another database than --dsn built the
 * sandbox in one and raced in the other, and the run blamed the rows
 * query's file:line. Now both are asked which database they reach, and a
 * mismatch is refused with exit 2 naming both. */
Test(hostile, admin_dsn_on_another_database_is_refused)
{
	char dsn[128];
	const char *db = test_own_database("pgrace_hostile", "admin", dsn, sizeof dsn);
	struct proc p;
	int code = run_pgrace(ARGS("run", FIXTURE, "--dsn", dsn, "--admin-dsn", "dbname=postgres", "-q",
				   "--workers", "2", "--rounds", "1"),
			      &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "--admin-dsn reaches database postgres"), "%s", proc_said(&p));
	cr_expect(contains(p.err, db), "the --dsn database is not named\n%s", proc_said(&p));
	cr_expect(!names_file_line(p.err, FIXTURE), "a line of the scenario is blamed\n%s",
		  proc_said(&p));
	proc_free(&p);
	test_drop_database(db);
}

#define COMMAND_YAML PGRACE_TEST_DATA "/integration/command.yaml"
#define MIGRATE_UP                                                                       \
	"    command: psql -X -q -v ON_ERROR_STOP=1 \"$DATABASE_URL\" -c \"ALTER TABLE " \
	"made_by_command ADD CONSTRAINT made_uq UNIQUE (k)\""

/* Before: a command killed by a signal read "exited with status 139", as
 * did a shell reporting a command under it killed so. Now the signal is
 * named: "was killed by SIGSEGV"; a shell's 139 says what it means. */
Test(hostile, command_killed_by_a_signal_is_named)
{
	static const struct {
		const char *command, *said;
	} cases[] = {
		{"    command: echo dying >&2; kill -SEGV $$", "was killed by SIGSEGV"},
		{"    command: sh -c 'kill -SEGV $$'; exit $?",
		 "exited with status 139 (a command killed by SIGSEGV)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "segv-%zu.yaml", i);
		const char *file = variant_of(COMMAND_YAML, name, MIGRATE_UP, cases[i].command);
		struct proc p;
		int code = run_pgrace(ARGS("run", file), &p);
		cr_expect_eq(code, 1, "case %zu: %s", i, proc_said(&p));
		cr_expect(contains(p.out, cases[i].said) || contains(p.err, cases[i].said),
			  "case %zu: %s", i, proc_said(&p));
		proc_free(&p);
	}
}

/* Before: --mode hold raced a phase whose `orders:` stand under the
 * scenario's mode interleave in hold mode and dropped its orders in
 * silence, though `pgrace check` refuses orders outside interleave mode in
 * the file. Now the run refuses it the same way: exit 2, naming the orders
 * line. */
Test(hostile, mode_that_drops_orders_is_refused)
{
	char *seed = read_file(SEED, NULL);
	cr_assert_not_null(seed);
	char *phases = strstr(seed, "\nphases:\n");
	cr_assert_not_null(phases);
	phases[1] = '\0';
	char *interleave = replace_all(seed, "  mode: hold\n", "  mode: interleave\n");
	size_t len = strlen(interleave) + 256;
	char *text = malloc(len);
	cr_assert_not_null(text);
	snprintf(text, len,
		 "%sphases:\n  - name: replay\n    race: {workers: 2}\n"
		 "    orders: [\"a1 a2 b1 a3 b2 b3\"]\n    expect:\n"
		 "      - interleavings_with_duplicates == 1\n",
		 interleave);
	const char *file = spath("orders.yaml");
	write_file(file, text, strlen(text));
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 0, "the replay itself: %s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "--mode", "hold", "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(names_exact_line(p.err, file, line_of(text, "    orders: ")), "%s", proc_said(&p));
	cr_expect(contains(p.err, "orders go with mode interleave: --mode hold would race the "
				  "phase without them"),
		  "%s", proc_said(&p));
	free(text);
	free(interleave);
	free(seed);
	proc_free(&p);
}
