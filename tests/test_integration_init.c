/* test_integration_init.c: `pgrace init` against a real database holding
 * the seed's tables with rows in them (in a schema of the test's own): the
 * scenario it writes passes `pgrace run` unchanged for each flow, and the
 * table's rows are the same afterwards; a missing table, an unknown column,
 * an already-unique key and a view are exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

static char src[64];          /* the source schema */
static char qualified[128];   /* src.user_tenant_membership */

static void make_source(void)
{
	scratch_init();
	snprintf(src, sizeof src, "init_src_%d", (int)getpid());
	snprintf(qualified, sizeof qualified, "%s.user_tenant_membership", src);
	PGconn *c = pg_open();
	char sql[2048];
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s;"
		 "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE);"
		 "CREATE TABLE tenants (id bigint PRIMARY KEY, name text NOT NULL);"
		 "CREATE TABLE user_tenant_membership ("
		 "  id bigserial PRIMARY KEY,"
		 "  user_id bigint NOT NULL REFERENCES users (id),"
		 "  tenant_id bigint NOT NULL REFERENCES tenants (id),"
		 "  role text NOT NULL DEFAULT 'member',"
		 "  created_at timestamptz NOT NULL DEFAULT now());"
		 "CREATE INDEX ix_membership_tenant ON user_tenant_membership (tenant_id);"
		 "INSERT INTO users SELECT g, 'u' || g || '@example.test' FROM generate_series(1, 40) g;"
		 "INSERT INTO tenants VALUES (1, 'acme'), (2, 'globex');"
		 "INSERT INTO user_tenant_membership (user_id, tenant_id)"
		 "  SELECT g, 1 + g %% 2 FROM generate_series(1, 40) g;"
		 "INSERT INTO user_tenant_membership (user_id, tenant_id) VALUES (2, 1), (2, 1);"
		 "CREATE VIEW members AS SELECT user_id, tenant_id FROM user_tenant_membership;"
		 "CREATE TYPE plan AS ENUM ('free', 'pro'); CREATE TYPE seat_role AS ENUM ('member', 'admin');"
		 "CREATE TABLE teams (id int PRIMARY KEY, plan plan NOT NULL);"
		 "CREATE TABLE seats (id bigserial PRIMARY KEY, team_id int NOT NULL REFERENCES teams,"
		 "  user_id bigint NOT NULL, role seat_role NOT NULL DEFAULT 'member', level seat_role NOT NULL);"
		 "INSERT INTO teams VALUES (1, 'pro'); INSERT INTO seats (team_id, user_id, level) VALUES (1, 1, 'admin');"
		 "CREATE DOMAIN address AS text CHECK (VALUE LIKE '%%@%%');"
		 "CREATE TABLE mails (id int NOT NULL, a address NOT NULL);",
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

TestSuite(init, .init = make_source, .fini = drop_source);

/* A digest of every row of the source table (and of its parents). */
static char *digest(void)
{
	PGconn *c = pg_open();
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT md5(coalesce((SELECT string_agg(m::text, ',' ORDER BY id) FROM %s.user_tenant_membership m), '')"
		 " || coalesce((SELECT string_agg(u::text, ',' ORDER BY id) FROM %s.users u), ''))",
		 src, src);
	char *v = pg_value(c, sql, 0, NULL);
	PQfinish(c);
	return v;
}

static void init_and_run(const char *flow)
{
	char *before = digest();
	const char *file = spath("s.yaml"), *json = spath("s.json");
	struct proc p;
	int code = run_pgrace(ARGS("init", "--table", qualified, "--key", "user_id,tenant_id", "--flow",
				   flow, "-o", file),
			      &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	code = run_pgrace(ARGS("run", file, "--json", json), &p);
	cr_expect_eq(code, 0, "the scenario init wrote (%s) should pass unchanged; %s", flow,
		     proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
	char *after = digest();
	cr_expect_str_eq(after, before, "the table's rows changed");
	free(before);
	free(after);
}

Test(init, check_then_insert_passes, .timeout = 120)
{
	init_and_run("check-then-insert");
}

Test(init, where_not_exists_passes, .timeout = 120)
{
	init_and_run("where-not-exists");
}

Test(init, on_conflict_passes, .timeout = 120)
{
	init_and_run("on-conflict");
}

static void init_refused(const char *table, const char *keys, const char *needle)
{
	struct proc p;
	const char *file = spath("bad.yaml");
	int code = run_pgrace(ARGS("init", "--table", table, "--key", keys, "-o", file), &p);
	cr_expect_eq(code, 2, "%s", proc_said(&p));
	cr_expect(contains(p.err, needle), "%s", proc_said(&p));
	cr_expect_eq(access(file, F_OK), -1, "a file was written");
	proc_free(&p);
}

Test(init, bad_requests_exit_2, .timeout = 60)
{
	char table[128];
	init_refused("no_such_table_anywhere", "a", "no table \"no_such_table_anywhere\"");
	init_refused(qualified, "user_id,nope", "has no column \"nope\"");
	snprintf(table, sizeof table, "%s.users", src);
	init_refused(table, "email", "already unique");
	init_refused(table, "id,email", "already unique");
	snprintf(table, sizeof table, "%s.members", src);
	init_refused(table, "user_id,tenant_id", "is not a plain table");
	snprintf(table, sizeof table, "%s.mails", src);
	init_refused(table, "id", "has type address, which pgrace init cannot recreate");
}

/* Enums of the table's schema are recreated in the sandbox (a NOT NULL enum
 * column without a default gets its first label). */
Test(init, enums_are_recreated, .timeout = 120)
{
	char table[128];
	snprintf(table, sizeof table, "%s.seats", src);
	const char *file = spath("seats.yaml");
	struct proc p;
	int code = run_pgrace(ARGS("init", "--table", table, "--key", "team_id,user_id", "-o", file), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
	char *text = read_file(file, NULL);
	cr_expect(contains(text, "CREATE TYPE seat_role AS ENUM ('member', 'admin');"), "%s", text);
	free(text);
	code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	proc_free(&p);
}
