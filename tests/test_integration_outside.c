/* test_integration_outside.c: a command that changes the database outside
 * the sandbox fails the run, naming what it changed (outside.h).
 *
 * The tools here ignore the sandbox on purpose (they set search_path to
 * public), as one that reads neither PGOPTIONS nor DATABASE_URL's options
 * would. Their changes to public are seen by any pgrace run on the server at
 * that moment, so these tests live in an executable of their own and run one
 * at a time (ctest runs executables one after another): beside other
 * command tests they would fail those too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

TestSuite(outside, .init = scratch_init, .fini = scratch_fini);

/* The user's objects a test makes in public, dropped whatever happens. */
static char user_table[64], escaped_table[64];

static void drop_user_tables(void)
{
	char sql[256];
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS public.%s, public.%s", user_table, escaped_table);
	exec_ok(c, sql);
	PQfinish(c);
}

/* A tool that ignores PGOPTIONS and DATABASE_URL's options (a psycopg2
 * script that sets its own search_path) alters a table of the user's and
 * creates one beside it. Before: the run passed (exit 0) and nothing said
 * so. Now the step fails naming both objects, and the run stops, exit 1. */
static void step_case(void)
{
	snprintf(user_table, sizeof user_table, "users_own_%d", (int)getpid());
	snprintf(escaped_table, sizeof escaped_table, "escaped_%d", (int)getpid());
	drop_user_tables();
	PGconn *c = pg_open();
	char sql[256];
	snprintf(sql, sizeof sql, "CREATE TABLE public.%s (k int)", user_table);
	exec_ok(c, sql);
	PQfinish(c);
	char yaml[2048];
	snprintf(yaml, sizeof yaml,
		 "name: outside\n"
		 "schema: CREATE TABLE t (k bigint)\n"
		 "params: [round]\n"
		 "rows: SELECT count(*) FROM t WHERE k = $1\n"
		 "flow:\n"
		 "  - sql: INSERT INTO t VALUES ($1)\n"
		 "phases:\n"
		 "  - name: migrate\n"
		 "    steps:\n"
		 "      - command: >-\n"
		 "          /usr/bin/python3 -c \"import os, psycopg2;"
		 " c = psycopg2.connect(os.environ['DATABASE_URL']); c.autocommit = True;"
		 " c.cursor().execute('SET search_path TO public;"
		 " ALTER TABLE %s ADD COLUMN v int; CREATE TABLE %s (x int)')\"\n"
		 "  - name: race\n"
		 "    race: {workers: 2, rounds: 1}\n"
		 "    expect: [rows_per_key.max == 2]\n",
		 user_table, escaped_table);
	const char *file = spath("outside.yaml");
	write_file(file, yaml, strlen(yaml));
	const char *json = spath("outside.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "--json", json), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	char want[128];
	snprintf(want, sizeof want, "table public.%s altered", user_table);
	cr_expect(contains(p.out, want) || contains(p.err, want), "no \"%s\": %s", want, proc_said(&p));
	snprintf(want, sizeof want, "table public.%s created", escaped_table);
	cr_expect(contains(p.out, want) || contains(p.err, want), "no \"%s\": %s", want, proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
	drop_user_tables();
}

/* A schema command that creates a function in public: the run stops at
 * once (exit 1), naming file:line and the function. Before: it passed. */
static void schema_case(void)
{
	char fn[64], yaml[2048];
	snprintf(fn, sizeof fn, "escaped_fn_%d", (int)getpid());
	snprintf(yaml, sizeof yaml,
		 "name: outside-schema\n"
		 "schema:\n"
		 "  command: >-\n"
		 "    psql -X -q -v ON_ERROR_STOP=1\n"
		 "    -c \"CREATE TABLE t (k bigint)\"\n"
		 "    -c \"CREATE FUNCTION public.%s() RETURNS int LANGUAGE sql AS 'SELECT 1'\"\n"
		 "params: [round]\n"
		 "rows: SELECT count(*) FROM t WHERE k = $1\n"
		 "flow:\n"
		 "  - sql: INSERT INTO t VALUES ($1)\n"
		 "phases:\n"
		 "  - name: race\n"
		 "    race: {workers: 2, rounds: 1}\n"
		 "    expect: [rows_per_key.max == 2]\n",
		 fn);
	const char *file = spath("schema.yaml");
	write_file(file, yaml, strlen(yaml));
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 1, "%s", proc_said(&p));
	char want[128];
	snprintf(want, sizeof want, "function public.%s() created", fn);
	cr_expect(contains(p.err, want), "no \"%s\": %s", want, proc_said(&p));
	cr_expect(names_exact_line(p.err, file, 3), "%s", proc_said(&p));
	proc_free(&p);
	PGconn *c = pg_open();
	char sql[256];
	snprintf(sql, sizeof sql, "DROP FUNCTION IF EXISTS public.%s()", fn);
	exec_ok(c, sql);
	PQfinish(c);
}

/* One test, the cases one after the other (see the top of the file). */
Test(outside, commands_that_change_public_fail_the_run, .timeout = 240)
{
	step_case();
	schema_case();
}
