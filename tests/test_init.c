/* test_init.c: the scenario `pgrace init` writes, from a model built by
 * hand (no database): it loads, it races the key columns with the chosen
 * flow, seeds the parents its foreign keys need, and refuses what it cannot
 * make values for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "init.h"
#include "scenario.h"

static char *s(const char *text)
{
	char *d = strdup(text);
	cr_assert_not_null(d);
	return d;
}

static void column(struct init_table *t, const char *name, const char *type, bool not_null,
		   const char *def)
{
	t->cols = realloc(t->cols, sizeof *t->cols * (t->n_cols + 1));
	cr_assert_not_null(t->cols);
	struct init_column *c = &t->cols[t->n_cols++];
	memset(c, 0, sizeof *c);
	c->name = s(name);
	c->type = s(type);
	c->not_null = not_null;
	c->def = def ? s(def) : NULL;
	c->kind = init_kind_of(type);
	c->fk_parent = -1;
	c->attnum = (int)t->n_cols;
}

/* A one-column foreign key: column col of the table into parent's column pcol. */
static void fk(struct init_model *m, int col, int parent, int pcol)
{
	m->fks = realloc(m->fks, sizeof *m->fks * (m->n_fks + 1));
	cr_assert_not_null(m->fks);
	struct init_fk *f = &m->fks[m->n_fks++];
	f->parent = parent;
	f->n = 1;
	f->cols = malloc(sizeof *f->cols);
	f->parent_cols = malloc(sizeof *f->parent_cols);
	cr_assert(f->cols && f->parent_cols);
	f->cols[0] = col;
	f->parent_cols[0] = pcol;
	m->table.cols[col].fk_parent = parent;
	m->table.cols[col].fk_column = s(m->parents[parent].cols[pcol].name);
}

/* Drops the model's foreign keys. */
static void no_fks(struct init_model *m)
{
	for (size_t i = 0; i < m->n_fks; i++) {
		free(m->fks[i].cols);
		free(m->fks[i].parent_cols);
	}
	m->n_fks = 0;
}

static void constraint(struct init_table *t, const char *text)
{
	t->constraints = realloc(t->constraints, sizeof *t->constraints * (t->n_constraints + 1));
	cr_assert_not_null(t->constraints);
	struct init_constraint *con = &t->constraints[t->n_constraints++];
	memset(con, 0, sizeof *con);
	con->def = s(text);
	con->type = strstr(text, " CHECK ") ? 'c' : '?';
}

/* The seed's tables: membership (id identity, user_id -> users, tenant_id ->
 * tenants, role default, a NOT NULL note without default), users with a
 * unique email. */
static void seed_model(struct init_model *m)
{
	memset(m, 0, sizeof *m);
	m->source_schema = s("public");
	struct init_table *t = &m->table;
	t->name = s("user_tenant_membership");
	column(t, "id", "bigint", true, NULL);
	t->cols[0].identity = s("BY DEFAULT");
	column(t, "user_id", "bigint", true, NULL);
	column(t, "tenant_id", "bigint", true, NULL);
	column(t, "role", "text", true, "'member'::text");
	column(t, "note", "text", true, NULL);
	constraint(t, "CONSTRAINT user_tenant_membership_pkey PRIMARY KEY (id)");
	constraint(t, "CONSTRAINT m_user_fkey FOREIGN KEY (user_id) REFERENCES users(id)");
	constraint(t, "CONSTRAINT m_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id)");
	m->keys[0] = 1;
	m->keys[1] = 2;
	m->n_keys = 2;
	m->has_pk_column = true;
	m->pk_column = s("id");
	m->parents = calloc(2, sizeof *m->parents);
	cr_assert_not_null(m->parents);
	m->n_parents = 2;
	struct init_table *u = &m->parents[0], *tn = &m->parents[1];
	u->name = s("users");
	column(u, "id", "bigint", true, NULL);
	column(u, "email", "text", true, NULL);
	u->cols[1].unique = true;
	constraint(u, "CONSTRAINT users_pkey PRIMARY KEY (id)");
	constraint(u, "CONSTRAINT users_email_key UNIQUE (email)");
	tn->name = s("tenants");
	column(tn, "id", "bigint", true, NULL);
	column(tn, "name", "text", true, NULL);
	constraint(tn, "CONSTRAINT tenants_pkey PRIMARY KEY (id)");
	fk(m, 1, 0, 0);
	fk(m, 2, 1, 0);
}

/* init_write into a string, which must load as a scenario. */
static char *write_ok(const struct init_model *m, const struct init_opts *o, struct scenario *sc)
{
	char *buf = NULL, err[1024] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert(init_write(f, m, o, err, sizeof err), "%s", err);
	cr_assert_eq(fclose(f), 0);
	cr_assert(scenario_parse("init.yaml", buf, len, sc, err, sizeof err), "%s\n%s", err, buf);
	return buf;
}

Test(init, check_then_insert_loads)
{
	struct init_model m;
	seed_model(&m);
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	struct scenario sc;
	char *text = write_ok(&m, &o, &sc);
	cr_expect_str_eq(sc.name, "user_tenant_membership-unique");
	cr_assert_eq(sc.n_flow, 2);
	cr_expect(sc.flow[0].skip_if_found);
	cr_expect(strstr(sc.flow[0].text.sql,
			 "WHERE user_id = $1::bigint AND tenant_id = $2::bigint"), "%s",
		  sc.flow[0].text.sql);
	/* The NOT NULL column without a default gets a literal; role keeps its default. */
	cr_expect(strstr(sc.flow[1].text.sql, "(user_id, tenant_id, note)"), "%s", sc.flow[1].text.sql);
	cr_expect(strstr(sc.flow[1].text.sql, "$1::bigint, $2::bigint, 'x'"), "%s", sc.flow[1].text.sql);
	cr_expect(strstr(sc.migrate_up.sql, "ADD CONSTRAINT uq_user_tenant_membership_user_id_tenant_id "
					    "UNIQUE (user_id, tenant_id)"),
		  "%s", sc.migrate_up.sql);
	cr_expect(strstr(sc.migrate_down.sql, "DROP CONSTRAINT uq_user_tenant_membership_user_id_tenant_id"));
	/* Parents first, identity kept, the seed covers the keys with unique emails. */
	const char *users = strstr(sc.schema.sql, "CREATE TABLE users"),
		   *member = strstr(sc.schema.sql, "CREATE TABLE user_tenant_membership");
	cr_expect(users && member && users < member, "%s", sc.schema.sql);
	cr_expect(strstr(sc.schema.sql, "id bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL"));
	cr_expect(strstr(sc.seed.sql, "INSERT INTO users (id, email)\nSELECT (g)::bigint, 'email-' || g"),
		  "%s", sc.seed.sql);
	cr_expect(strstr(sc.seed.sql, "generate_series(1, 20000)"));
	const struct sql_text *cleanup = scenario_sql(&sc, "cleanup");
	cr_assert_not_null(cleanup);
	cr_expect(strstr(cleanup->sql, "d.id > keep.id"), "%s", cleanup->sql);
	cr_expect_eq(sc.n_phases, 6);
	cr_expect_str_eq(sc.phases[1].name, "before");
	cr_expect(sc.phases[1].must_reproduce);
	cr_expect_eq(sc.phases[3].steps[1].kind, STEP_CHECK_UNIQUE);
	struct key_values kv;
	struct key_ctx ctx = {7, 0, 0, 0};
	char err[256];
	cr_assert(key_eval(sc.params, sc.n_params, &ctx, &kv, err, sizeof err));
	cr_expect_str_eq(kv.ptr[0], "7");
	cr_expect_str_eq(kv.ptr[1], "1");
	scenario_free(&sc);
	free(text);
	init_model_free(&m);
}

Test(init, other_flows_load)
{
	struct init_model m;
	seed_model(&m);
	struct scenario sc;
	struct init_opts o = {.flow = FLOW_WHERE_NOT_EXISTS};
	char *text = write_ok(&m, &o, &sc);
	cr_assert_eq(sc.n_flow, 1);
	cr_expect(strstr(sc.flow[0].text.sql, "WHERE NOT EXISTS (SELECT 1 FROM user_tenant_membership "
					      "WHERE user_id = $1::bigint"),
		  "%s", sc.flow[0].text.sql);
	scenario_free(&sc);
	free(text);
	o.flow = FLOW_ON_CONFLICT;
	text = write_ok(&m, &o, &sc);
	cr_assert_eq(sc.n_flow, 1);
	cr_expect(strstr(sc.flow[0].text.sql, "ON CONFLICT (user_id, tenant_id) DO NOTHING"));
	cr_expect(strstr(text, "outcomes.42P10 == attempts"));
	scenario_free(&sc);
	free(text);
	init_model_free(&m);
}

Test(init, schema_command_and_text_keys)
{
	struct init_model m;
	seed_model(&m);
	/* Key columns of text and uuid. */
	free(m.table.cols[1].type);
	m.table.cols[1].type = s("uuid");
	m.table.cols[1].kind = KIND_UUID;
	m.table.cols[1].fk_parent = -1;
	no_fks(&m);
	free(m.table.cols[2].type);
	m.table.cols[2].type = s("text");
	m.table.cols[2].kind = KIND_TEXT;
	m.table.cols[2].fk_parent = -1;
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT, .schema_command = "alembic upgrade 'head'"};
	struct scenario sc;
	char *text = write_ok(&m, &o, &sc);
	cr_assert_not_null(sc.schema.command);
	cr_expect_str_eq(sc.schema.command->line, "alembic upgrade 'head'");
	struct key_values kv;
	struct key_ctx ctx = {7, 0, 0, 0};
	char err[256];
	cr_assert(key_eval(sc.params, sc.n_params, &ctx, &kv, err, sizeof err));
	cr_expect_str_eq(kv.ptr[0], "00000000-0000-4000-8000-100000000007");
	cr_expect_str_eq(kv.ptr[1], "k1");
	scenario_free(&sc);
	free(text);
	init_model_free(&m);
}

Test(init, refuses_what_it_cannot_make)
{
	struct init_model m;
	seed_model(&m);
	free(m.table.cols[4].type);
	m.table.cols[4].type = s("mood");
	m.table.cols[4].kind = KIND_OTHER;
	char *buf = NULL, err[512] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	cr_expect_not(init_write(f, &m, &o, err, sizeof err));
	fclose(f);
	cr_expect(strstr(err, "note (mood") && strstr(err, "cannot make a value"), "%s", err);
	cr_expect_eq(len, 0, "nothing written before the error");
	free(buf);
	init_model_free(&m);
}

Test(init, kinds_and_names)
{
	static const struct {
		const char *type;
		enum init_kind kind;
	} kinds[] = {
		{"bigint", KIND_INT}, {"integer", KIND_INT}, {"numeric(10,2)", KIND_INT},
		{"character varying(80)", KIND_TEXT}, {"text", KIND_TEXT}, {"uuid", KIND_UUID},
		{"timestamp with time zone", KIND_TIME}, {"jsonb", KIND_JSON}, {"boolean", KIND_BOOL},
		{"textual", KIND_OTHER}, {"mood", KIND_OTHER}, {"bigint[]", KIND_OTHER},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		cr_expect_eq(init_kind_of(kinds[i].type), kinds[i].kind, "%s", kinds[i].type);
	struct init_model m;
	seed_model(&m);
	char name[64];
	init_constraint_name(&m, name, sizeof name);
	cr_expect_str_eq(name, "uq_user_tenant_membership_user_id_tenant_id");
	free(m.table.name);
	m.table.name = s("\"A Very Long Table Name That Goes On And On And On Forever\"");
	init_constraint_name(&m, name, sizeof name);
	cr_expect_eq(strlen(name), 63);
	cr_expect_str_eq(name, "uq_a_very_long_table_name_that_goes_on_and_on_and_on_forever_us");
	init_model_free(&m);
	enum init_flow fl;
	cr_expect(init_flow_parse("on-conflict", &fl) && fl == FLOW_ON_CONFLICT);
	cr_expect_not(init_flow_parse("upsert", &fl));
}

Test(init, your_own_migration_command)
{
	struct init_model m;
	seed_model(&m);
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT,
			      .schema_command = "alembic upgrade 004",
			      .migrate_command = "alembic upgrade 005",
			      .downgrade_command = "alembic downgrade 004",
			      .command_cwd = "/srv/app's"};
	struct scenario sc;
	char *text = write_ok(&m, &o, &sc);
	cr_assert_not_null(sc.migrate_up.command);
	cr_expect_str_eq(sc.migrate_up.command->line, "alembic upgrade 005");
	cr_expect_str_eq(sc.migrate_down.command->line, "alembic downgrade 004");
	cr_expect_str_eq(sc.migrate_up.command->cwd, "/srv/app's");
	/* The constraint's name is unknown: nothing checks it by name. */
	cr_expect_null(strstr(text, "check: unique"), "%s", text);
	cr_expect_null(strstr(text, "- constraint."), "%s", text);
	cr_expect(strstr(text, "hold: outcomes.23505 == (workers - 1) * rounds"));
	scenario_free(&sc);
	free(text);
	o.constraint = "uq_user_tenant_membership_user_tenant";
	text = write_ok(&m, &o, &sc);
	cr_expect(strstr(text, "check: unique uq_user_tenant_membership_user_tenant on "
			       "user_tenant_membership (user_id, tenant_id)"),
		  "%s", text);
	cr_expect(strstr(text, "constraint.uq_user_tenant_membership_user_tenant == outcomes.23505"));
	scenario_free(&sc);
	free(text);
	init_model_free(&m);
}

/* A CHECK over a column pgrace writes (the key, the made-up note) is left
 * out and listed in the file; one over a column with a default stays. */
Test(init, checks_on_written_columns_left_out)
{
	struct init_model m;
	seed_model(&m);
	struct init_table *t = &m.table;
	constraint(t, "CONSTRAINT m_user_check CHECK ((user_id < 5))");
	t->constraints[t->n_constraints - 1].attnums = malloc(sizeof(int));
	cr_assert_not_null(t->constraints[t->n_constraints - 1].attnums);
	t->constraints[t->n_constraints - 1].attnums[0] = t->cols[1].attnum;
	t->constraints[t->n_constraints - 1].n_attnums = 1;
	constraint(t, "CONSTRAINT m_role_check CHECK ((role <> ''))");
	t->constraints[t->n_constraints - 1].attnums = malloc(sizeof(int));
	cr_assert_not_null(t->constraints[t->n_constraints - 1].attnums);
	t->constraints[t->n_constraints - 1].attnums[0] = t->cols[3].attnum;
	t->constraints[t->n_constraints - 1].n_attnums = 1;
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	struct scenario sc;
	char *text = write_ok(&m, &o, &sc);
	cr_expect(strstr(text, "#   left out: CONSTRAINT m_user_check CHECK ((user_id < 5))\n"
			       "#     (user_tenant_membership.user_id: a CHECK on a column whose values "
			       "pgrace makes up)"),
		  "%s", text);
	cr_expect(!strstr(sc.schema.sql, "m_user_check"), "%s", sc.schema.sql);
	cr_expect(strstr(sc.schema.sql, "CONSTRAINT m_role_check CHECK ((role <> ''))"), "%s",
		  sc.schema.sql);
	scenario_free(&sc);
	free(text);
	init_model_free(&m);
}

/* A varchar(2) key: the round number alone, cast without the length (a
 * cast to varchar(2) would cut 'k10' into 'k1', another round's key). */
Test(init, short_varchar_key)
{
	struct init_model m;
	seed_model(&m);
	no_fks(&m);
	m.table.cols[1].fk_parent = m.table.cols[2].fk_parent = -1;
	for (int i = 1; i <= 2; i++) {
		struct init_column *c = &m.table.cols[i];
		free(c->type);
		c->type = s("character varying(2)");
		c->cast_type = s("character varying");
		c->max_len = 2;
		c->kind = KIND_TEXT;
	}
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	struct scenario sc;
	char *text = write_ok(&m, &o, &sc);
	cr_expect(strstr(sc.flow[0].text.sql, "user_id = $1::character varying AND"), "%s",
		  sc.flow[0].text.sql);
	struct key_values kv;
	struct key_ctx ctx = {42, 0, 0, 0};
	char err[256];
	cr_assert(key_eval(sc.params, sc.n_params, &ctx, &kv, err, sizeof err));
	cr_expect_str_eq(kv.ptr[0], "42");
	cr_expect_str_eq(kv.ptr[1], "1");
	scenario_free(&sc);
	free(text);
	/* One character cannot hold a key per round: refused. */
	m.table.cols[1].max_len = 1;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_expect(!init_write(f, &m, &o, err, sizeof err));
	cr_expect(strstr(err, "too short for a distinct key each round"), "%s", err);
	fclose(f);
	free(buf);
	init_model_free(&m);
}
