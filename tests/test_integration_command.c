/* test_integration_command.c: schema, migration and steps as commands,
 * run by the real pgrace against a real PostgreSQL.
 *
 * The commands are psql and sh: psql reads the PG* variables and PGOPTIONS
 * exactly as Alembic's psycopg2 does, so what they create must land in the
 * run's sandbox schema and go with it. Variants of
 * tests/data/integration/command.yaml make a migration fail, hang past its
 * deadline, or name a program that does not exist. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

#define COMMAND_YAML PGRACE_TEST_DATA "/integration/command.yaml"
#define MIGRATE_UP                                                                                 \
	"    command: psql -X -q -v ON_ERROR_STOP=1 \"$DATABASE_URL\" -c \"ALTER TABLE "           \
	"made_by_command ADD CONSTRAINT made_uq UNIQUE (k)\""

TestSuite(command, .init = scratch_init, .fini = scratch_fini);

Test(command, tables_land_in_the_sandbox, .timeout = 120)
{
	const char *json = spath("c.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", COMMAND_YAML, "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	/* The expected 23505 of a command is matched from psql's output. */
	json_t *mig = phase(doc, "migrate");
	json_t *x = json_array_get(jget(mig, "expectations"), 3);
	cr_assert_not_null(x);
	cr_expect(contains(jstr(x, "expect"), "fails with 23505"), "%s", jstr(x, "expect"));
	cr_expect(jbool(x, "passed"));
	assert_schema_dropped(doc);
	/* Nothing the commands made landed outside a sandbox (this run's is
	 * gone, asserted above; tests running beside this one have their own). */
	PGconn *c = pg_open();
	char *left = pg_value(c,
			      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
			      "c.relnamespace WHERE c.relname = 'made_by_command' "
			      "AND n.nspname NOT LIKE 'pgrace\\_%'",
			      0, NULL);
	cr_expect_str_eq(left, "0");
	free(left);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
}

Test(command, failing_migration_shows_its_stderr, .timeout = 120)
{
	const char *file = variant_of(COMMAND_YAML, "fail.yaml", MIGRATE_UP,
				      "    command: echo some output; echo first-line >&2; echo "
				      "boom-from-stderr >&2; exit 4");
	const char *json = spath("f.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", json), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	cr_expect(contains(p.out, "boom-from-stderr") && contains(p.out, "status 4"), "%s",
		  proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

Test(command, hung_migration_is_killed, .timeout = 120)
{
	char repl[1024];
	const char *pidfile = spath("hung.pid");
	snprintf(repl, sizeof repl,
		 "    command: echo $$ > %s; sleep 300 & wait\n    timeout_ms: 1000", pidfile);
	const char *file = variant_of(COMMAND_YAML, "hang.yaml", MIGRATE_UP, repl);
	const char *json = spath("h.json");
	struct proc p;
	double t0 = now_s();
	int code = run_pgrace(ARGS("run", file, "--json", json), &p);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect_lt(now_s() - t0, 60.0);
	json_t *doc = load_json(json);
	cr_expect(contains(jstr(doc, "error"), "killed"), "%s", jstr(doc, "error"));
	assert_schema_dropped(doc);
	char *text = read_file(pidfile, NULL);
	cr_assert_not_null(text, "the command never ran");
	pid_t pid = (pid_t)strtol(text, NULL, 10);
	cr_assert_gt(pid, 0);
	cr_expect_not(pid_running(pid), "the hung command (pid %d) is still running", (int)pid);
	free(text);
	json_decref(doc);
	proc_free(&p);
}

Test(command, missing_program_is_a_bad_scenario, .timeout = 120)
{
	const char *file = variant_of(COMMAND_YAML, "missing.yaml", "command: psql -X -q -v ON_ERROR_STOP=1 -c \"CREATE TABLE",
				      "command: pgrace-no-such-tool -c \"CREATE TABLE");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, "pgrace-no-such-tool") && names_file_line(p.err, file), "%s",
		  proc_said(&p));
	proc_free(&p);
}

/* SIGTERM while a command runs: pgrace kills it (the stop flag), drops its
 * schema and exits 143; the command is gone. */
Test(command, sigterm_kills_the_running_command, .timeout = 120)
{
	char repl[1024];
	const char *pidfile = spath("term.pid");
	snprintf(repl, sizeof repl, "    command: echo $$ > %s; sleep 300 & wait\n    timeout_ms: 100000",
		 pidfile);
	const char *file = variant_of(COMMAND_YAML, "term.yaml", MIGRATE_UP, repl);
	const char *json = spath("t.json");
	struct proc p;
	pid_t pg = spawn_pgrace(ARGS("run", file, "--json", json), &p);
	pid_t cmd = 0; /* the file may be there before its number is */
	for (int i = 0; i < 3000 && cmd <= 0; i++) {
		char *text = read_file(pidfile, NULL);
		cmd = text ? (pid_t)strtol(text, NULL, 10) : 0;
		free(text);
		if (cmd <= 0)
			sleep_ms(10);
	}
	cr_assert_gt(cmd, 0, "the command never started");
	kill(pg, SIGTERM);
	int code = wait_pgrace(pg, &p, 60);
	cr_expect_eq(code, 143, "%s", proc_said(&p));
	cr_expect_not(pid_running(cmd), "the command (pid %d) outlived pgrace's stop", (int)cmd);
	json_t *doc = load_json(json);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* The connection's own options (here from --dsn) reach the command beside
 * the sandbox's search_path; without them the same check fails. */
static const char options_yaml[] =
	"name: options\n"
	"schema:\n"
	"  command: psql -X -q -v ON_ERROR_STOP=1 -c \"DO $$BEGIN IF current_setting('statement_timeout') "
	"<> '12345ms' THEN RAISE 'not passed'; END IF; END$$\" -c \"CREATE TABLE t (k int)\"\n"
	"params: [round]\n"
	"rows: SELECT count(*) FROM t WHERE k = $1\n"
	"flow:\n"
	"  - sql: INSERT INTO t VALUES ($1)\n"
	"phases:\n"
	"  - name: r\n"
	"    race: {workers: 1, rounds: 1}\n"
	"    expect: [rows_per_key.max == 1]\n";

Test(command, dsn_options_reach_the_command, .timeout = 120)
{
	const char *file = spath("options.yaml");
	write_file(file, options_yaml, strlen(options_yaml));
	const char *dsn = "options='-c statement_timeout=12345'";
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--dsn", dsn), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 2, "without the option the check must fail; %s", proc_said(&p));
	cr_expect(contains(p.err, "not passed"), "%s", proc_said(&p));
	proc_free(&p);
}

/* ---- DATABASE_URL ---- */

/* The user's objects a test may leave in public, dropped whatever happens. */
static char user_table[64], escaped_table[64];

static void drop_user_tables(void)
{
	char sql[256];
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS public.%s, public.%s", user_table,
		 escaped_table);
	exec_ok(c, sql);
	PQfinish(c);
}

/* DATABASE_URL alone (PGOPTIONS unset, as node-postgres, pgx or JDBC see
 * the connection) puts what it creates in the sandbox. Before: the URL had
 * no options, the table went to public, and the next step did not find it. */
Test(command, database_url_alone_reaches_the_sandbox, .timeout = 120)
{
	snprintf(user_table, sizeof user_table, "unused_%d", (int)getpid());
	snprintf(escaped_table, sizeof escaped_table, "from_url_%d", (int)getpid());
	drop_user_tables();
	char yaml[2048];
	snprintf(yaml, sizeof yaml,
		 "name: url-only\n"
		 "schema: CREATE TABLE t (k bigint)\n"
		 "params: [round]\n"
		 "rows: SELECT count(*) FROM t WHERE k = $1\n"
		 "flow:\n"
		 "  - sql: INSERT INTO t VALUES ($1)\n"
		 "phases:\n"
		 "  - name: migrate\n"
		 "    steps:\n"
		 "      - command: >-\n"
		 "          unset PGOPTIONS PGHOST PGPORT PGUSER PGDATABASE;\n"
		 "          psql -X -q -v ON_ERROR_STOP=1 \"$DATABASE_URL\"\n"
		 "          -c \"CREATE TABLE %s (x int)\"\n"
		 "        shell: true\n"
		 "      - sql: SELECT * FROM %s\n"
		 "  - name: race\n"
		 "    race: {workers: 2, rounds: 1}\n"
		 "    expect: [rows_per_key.max == 2]\n",
		 escaped_table, escaped_table);
	const char *file = spath("url.yaml");
	write_file(file, yaml, strlen(yaml));
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	PGconn *c = pg_open();
	const char *name[1] = {escaped_table};
	char *left = pg_value(c, "SELECT count(*) FROM pg_class WHERE relname = $1", 1, name);
	cr_expect_str_eq(left, "0", "the table outlived the sandbox");
	free(left);
	PQfinish(c);
	drop_user_tables();
}

/* ---- no leftovers ---- */

/* The pid a command wrote to path, waiting up to 30 s for it; 0 if none. */
static pid_t pid_from(const char *path)
{
	pid_t pid = 0;
	for (int i = 0; i < 3000 && pid <= 0; i++) {
		char *text = read_file(path, NULL);
		pid = text ? (pid_t)strtol(text, NULL, 10) : 0;
		free(text);
		if (pid <= 0)
			sleep_ms(10);
	}
	return pid;
}

/* Waits up to 10 s for pid to be gone; true when it is. */
static bool gone(pid_t pid)
{
	for (int i = 0; i < 1000 && pid_running(pid); i++)
		sleep_ms(10);
	return !pid_running(pid);
}

/* A passing step whose command leaves a daemon behind: a sleeper in a
 * session of its own (setsid), started through a subshell that exits at
 * once (a double fork), so neither the command's process group nor its
 * parent holds it. Before: the sleeper outlived the step, the run and
 * pgrace. Now pgrace, a child subreaper, inherits it and kills it when the
 * command exits. */
Test(command, a_daemon_a_passing_command_leaves_is_killed, .timeout = 120)
{
	char repl[1024];
	const char *pidfile = spath("daemon.pid");
	snprintf(repl, sizeof repl,
		 "    command: (setsid sh -c 'echo $$ > %s; exec sleep 300' </dev/null >/dev/null "
		 "2>&1 &); while ! test -s %s; do sleep 0.01; done",
		 pidfile, pidfile);
	const char *file = variant_of(COMMAND_YAML, "daemon.yaml", MIGRATE_UP, repl);
	const char *json = spath("d.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", json), &p);
	/* The migration no longer adds the constraint: the race after it fails,
	 * but the step itself passed. */
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	json_t *mig = phase(doc, "migrate");
	json_t *x = json_array_get(jget(mig, "expectations"), 0);
	cr_assert_not_null(x);
	cr_expect(jbool(x, "passed"), "the daemon's step: %s", jstr(x, "actual"));
	json_decref(doc);
	pid_t pid = pid_from(pidfile);
	cr_assert_gt(pid, 0, "the daemon never started");
	bool left = pid_running(pid);
	if (left)
		kill(pid, SIGKILL);
	cr_expect_not(left, "the daemon (pid %d) outlived its step", (int)pid);
	proc_free(&p);
}

/* pgrace killed with SIGKILL while a command runs: it cannot clean up, but
 * the command (its direct child) dies with it (PR_SET_PDEATHSIG). Before:
 * the command ran on, reparented, to its own end. */
Test(command, a_command_dies_with_a_killed_pgrace, .timeout = 120)
{
	char repl[1024];
	const char *pidfile = spath("orphan.pid");
	snprintf(repl, sizeof repl,
		 "    command: echo $$ > %s; sleep 300 & wait\n    timeout_ms: 100000", pidfile);
	const char *file = variant_of(COMMAND_YAML, "orphan.yaml", MIGRATE_UP, repl);
	struct proc p;
	pid_t pg = spawn_pgrace(ARGS("run", file, "-q"), &p);
	pid_t cmd = pid_from(pidfile);
	cr_assert_gt(cmd, 0, "the command never started");
	kill(pg, SIGKILL);
	wait_pgrace(pg, &p, 60);
	bool died = gone(cmd);
	kill(-cmd, SIGKILL); /* its sleep, and the command if it lived on */
	cr_expect(died, "the command (pid %d) outlived a SIGKILLed pgrace", (int)cmd);
	proc_free(&p);
}
