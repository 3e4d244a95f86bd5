/* test_integration_init.c: `pgrace init` against a real database holding
 * the seed's tables with rows in them (in a schema of the test's own): the
 * scenario it writes passes `pgrace run` unchanged for each flow, and the
 * table's rows are the same afterwards; a missing table, an unknown column,
 * an already-unique key (by a constraint, a partial or an expression index)
 * and a view are exit 2. Each table of make_cases() is one way a copied
 * schema could never pass (a CHECK on the key, a short varchar key, a
 * parent's CHECK, a composite foreign key, a DEFAULT, generated column or
 * index calling a function of the source schema, a trigger, a shared
 * sequence): the scenario init writes
 * for it passes, and says in the file what it left out. */
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

/* The tables a copied schema used to fail on, one per case. */
static void make_cases(void)
{
	PGconn *c = pg_open();
	char sql[8192];
	int n = snprintf(sql, sizeof sql,
		 "SET search_path TO %s;"
		 "CREATE TABLE chk_key (id bigserial PRIMARY KEY,"
		 "  user_id int NOT NULL CHECK (user_id BETWEEN 1 AND 5),"
		 "  tenant_id int NOT NULL CHECK (tenant_id > 0),"
		 "  note text NOT NULL CHECK (note <> E'x\\nfoo: bar'));"
		 "CREATE TABLE short_key (id bigserial PRIMARY KEY, code varchar(2) NOT NULL,"
		 "  region char(3) NOT NULL);"
		 "CREATE TABLE orgs (id int PRIMARY KEY CHECK (id < 100),"
		 "  name text NOT NULL CHECK (name LIKE 'org%%'));"
		 "CREATE TABLE org_members (id bigserial PRIMARY KEY, org_id int NOT NULL REFERENCES orgs,"
		 "  user_id int NOT NULL);"
		 "CREATE TABLE accounts (tenant_id int NOT NULL, user_id int NOT NULL,"
		 "  PRIMARY KEY (tenant_id, user_id));"
		 "CREATE TABLE grants (id bigserial PRIMARY KEY, user_id int NOT NULL, tenant_id int NOT NULL,"
		 "  perm text NOT NULL DEFAULT 'read',"
		 "  FOREIGN KEY (tenant_id, user_id) REFERENCES accounts (tenant_id, user_id));"
		 "CREATE FUNCTION make_code() RETURNS text LANGUAGE sql"
		 "  AS $$ SELECT 'c' || floor(random() * 1000)::int $$;"
		 "CREATE TABLE coded (id bigserial PRIMARY KEY, user_id int NOT NULL, tenant_id int NOT NULL,"
		 "  code text NOT NULL DEFAULT make_code());"
		 "CREATE TABLE soft (id bigserial PRIMARY KEY, user_id int NOT NULL, tenant_id int NOT NULL,"
		 "  deleted_at timestamptz);"
		 "CREATE UNIQUE INDEX soft_live ON soft (user_id, tenant_id) WHERE deleted_at IS NULL;"
		 "CREATE TABLE emails (id bigserial PRIMARY KEY, email text NOT NULL);"
		 "CREATE UNIQUE INDEX emails_lower ON emails (lower(email));"
		 "CREATE TABLE audited (id bigserial PRIMARY KEY, user_id int NOT NULL,"
		 "  tenant_id int NOT NULL, touched timestamptz);"
		 "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql"
		 "  AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;"
		 "CREATE TRIGGER audited_touch BEFORE INSERT ON audited"
		 "  FOR EACH ROW EXECUTE FUNCTION touch();"
		 "CREATE FUNCTION norm(text) RETURNS text LANGUAGE sql IMMUTABLE"
		 "  AS $$ SELECT lower($1) $$;"
		 "CREATE TABLE funcs (id bigserial PRIMARY KEY, user_id int NOT NULL, tenant_id int NOT NULL,"
		 "  name text, code text GENERATED ALWAYS AS (norm(name)) STORED);"
		 "CREATE INDEX funcs_norm ON funcs (norm(name));"
		 "CREATE TABLE inv (id bigserial PRIMARY KEY, user_id int NOT NULL, tenant_id int NOT NULL);"
		 "INSERT INTO inv (user_id, tenant_id) VALUES (1, 1), (1, 1);"
		 "CREATE SEQUENCE shared_ids;"
		 "CREATE TABLE shared_a (id bigint PRIMARY KEY DEFAULT nextval('shared_ids'),"
		 "  user_id int NOT NULL, tenant_id int NOT NULL);"
		 "CREATE TABLE shared_b (id bigint PRIMARY KEY DEFAULT nextval('shared_ids'), name text);",
		 src);
	cr_assert(n > 0 && (size_t)n < sizeof sql, "make_cases: the SQL does not fit");
	exec_ok(c, sql);
	/* Over the duplicates CONCURRENTLY fails and leaves an INVALID index. */
	snprintf(sql, sizeof sql, "CREATE UNIQUE INDEX CONCURRENTLY inv_key ON %s.inv (user_id, tenant_id)",
		 src);
	PGresult *res = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "inv_key should have failed");
	PQclear(res);
	PQfinish(c);
}

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
	make_cases();
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

/* init on src.TABLE with KEYS writes a scenario that passes unchanged with
 * the real binary; returns the file's text (the caller frees it). */
static char *init_passes(const char *table, const char *keys)
{
	char qual[128], name[160];
	snprintf(qual, sizeof qual, "%s.%s", src, table);
	snprintf(name, sizeof name, "%s.yaml", table);
	const char *file = spath(name);
	struct proc p;
	int code = run_pgrace(ARGS("init", "--table", qual, "--key", keys, "-o", file), &p);
	cr_assert_eq(code, 0, "init %s: %s", table, proc_said(&p));
	proc_free(&p);
	char *text = read_file(file, NULL);
	code = run_pgrace(ARGS("run", file, "-q"), &p);
	cr_expect_eq(code, 0, "the scenario init wrote for %s should pass unchanged:\n%s\n%s", table,
		     proc_said(&p), text);
	proc_free(&p);
	return text;
}

/* A CHECK on a key column (the rounds' keys are 1, 2, 3...) or on a column
 * whose value pgrace makes up is left out, and the file says which, on one
 * comment line even when its text has a line break. */
Test(init, check_on_key_left_out, .timeout = 180)
{
	char *text = init_passes("chk_key", "user_id,tenant_id");
	cr_expect(contains(text, "left out: CONSTRAINT chk_key_user_id_check"), "%s", text);
	cr_expect(contains(text, "left out: CONSTRAINT chk_key_note_check"), "%s", text);
	cr_expect(contains(text, "CONSTRAINT chk_key_pkey PRIMARY KEY (id)"), "%s", text);
	free(text);
}

/* varchar(2) and char(3) keys: the values fit, none is cut into another. */
Test(init, short_text_keys_fit, .timeout = 180)
{
	char *text = init_passes("short_key", "code,region");
	cr_expect(contains(text, "for runs of up\n  # to 99 rounds in all"), "%s", text);
	free(text);
}

/* The parent's CHECKs (id < 100, name LIKE 'org%') against 20000 seed rows. */
Test(init, parent_check_left_out, .timeout = 180)
{
	char *text = init_passes("org_members", "org_id,user_id");
	cr_expect(contains(text, "left out: CONSTRAINT orgs_id_check"), "%s", text);
	free(text);
}

/* A two-column foreign key: the parent gets the pairs the rounds use. */
Test(init, composite_foreign_key_seeded, .timeout = 180)
{
	free(init_passes("grants", "user_id,tenant_id"));
}

/* DEFAULT make_code(), a function of the source schema: not copied, the
 * column gets a value of pgrace's, and the file says so. */
Test(init, default_calling_own_function, .timeout = 180)
{
	char *text = init_passes("coded", "user_id,tenant_id");
	cr_expect(contains(text, "left out: DEFAULT make_code()"), "%s", text);
	free(text);
}

/* A generated column and an index calling a function of the source schema
 * are left out (the function is not copied), and the file says so. */
Test(init, generated_and_index_calling_own_function, .timeout = 180)
{
	char *text = init_passes("funcs", "user_id,tenant_id");
	cr_expect(contains(text, "left out: GENERATED ALWAYS AS (norm(name)) STORED"), "%s", text);
	cr_expect(contains(text, "left out: CREATE INDEX funcs_norm"), "%s", text);
	free(text);
}

/* An INVALID unique index over the key checks nothing in the source: made in
 * the sandbox it would be valid and close the race. Left out, and said. */
Test(init, invalid_index_left_out, .timeout = 180)
{
	char *text = init_passes("inv", "user_id,tenant_id");
	cr_expect(contains(text, "left out: CREATE UNIQUE INDEX inv_key"), "%s", text);
	cr_expect(contains(text, "INVALID in the source"), "%s", text);
	free(text);
}

/* A trigger is not copied (its function is not), and the file says so. */
Test(init, trigger_said_in_file, .timeout = 180)
{
	char *text = init_passes("audited", "user_id,tenant_id");
	cr_expect(contains(text, "left out: CREATE TRIGGER audited_touch"), "%s", text);
	free(text);
}

/* A DEFAULT nextval() of a sequence the column does not own is no serial. */
Test(init, shared_sequence_commented, .timeout = 180)
{
	char *text = init_passes("shared_a", "user_id,tenant_id");
	cr_expect(!contains(text, "serial in the source"), "%s", text);
	cr_expect(contains(text, "DEFAULT nextval('shared_ids'::regclass) in the source"), "%s", text);
	free(text);
}

/* A partial or an expression unique index already makes the key unique. */
Test(init, unique_by_partial_or_expression_index, .timeout = 60)
{
	char table[128];
	snprintf(table, sizeof table, "%s.soft", src);
	init_refused(table, "user_id,tenant_id", "already unique by INDEX soft_live");
	snprintf(table, sizeof table, "%s.emails", src);
	init_refused(table, "email", "already unique by INDEX emails_lower");
}
