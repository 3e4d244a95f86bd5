/* test_integration_init_command.c: `pgrace init --schema-command` when the
 * command's schema has CHECKs over the columns pgrace writes (the rounds'
 * keys 1, 2, 3..., made-up values): the seed drops them and the scenario
 * passes with the real binary. An executable of its own: pgrace checks that
 * a command changes nothing outside the sandbox, and sees every session's
 * changes, so no other test may make tables while its command runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "harness.h"

static char src[64];

static void make_source(void)
{
	scratch_init();
	snprintf(src, sizeof src, "init_cmd_%d", (int)getpid());
	PGconn *c = pg_open();
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s;"
		 "CREATE TABLE chk_key (id bigserial PRIMARY KEY,"
		 "  user_id int NOT NULL CHECK (user_id BETWEEN 1 AND 5),"
		 "  tenant_id int NOT NULL CHECK (tenant_id > 0),"
		 "  note text NOT NULL CHECK (length(note) > 1));",
		 src, src, src);
	exec_ok(c, sql);
	PQfinish(c);
}

static void drop_source(void)
{
	PGconn *c = pg_open();
	char sql[128];
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", src);
	exec_ok(c, sql);
	PQfinish(c);
	scratch_fini();
}

TestSuite(init_command, .init = make_source, .fini = drop_source);

/* Before: every attempt failed with 23514 (user_id <= 5 against round keys,
 * length(note) > 1 against 'x'), exit 1. */
Test(init_command, schema_command_check_dropped, .timeout = 180)
{
	char qual[128];
	snprintf(qual, sizeof qual, "%s.chk_key", src);
	const char *file = spath("chk_cmd.yaml");
	struct proc p;
	int code = run_pgrace(
		ARGS("init", "--table", qual, "--key", "user_id,tenant_id", "--schema-command",
		     "psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE chk_key (id bigserial PRIMARY KEY,"
		     " user_id int NOT NULL CHECK (user_id BETWEEN 1 AND 5),"
		     " tenant_id int NOT NULL CHECK (tenant_id > 0),"
		     " note text NOT NULL CHECK (length(note) > 1))'",
		     "-o", file),
		&p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	char *text = read_file(file, NULL);
	cr_expect(contains(text, "ALTER TABLE chk_key DROP CONSTRAINT IF EXISTS chk_key_user_id_check;"),
		  "%s", text);
	cr_expect(contains(text, "ALTER TABLE chk_key DROP CONSTRAINT IF EXISTS chk_key_note_check;"),
		  "%s", text);
	code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 0, "%s\n%s", proc_said(&p), text);
	proc_free(&p);
	free(text);
}
