/* test_spec.c: interleave phases written as isolation tester specs (spec.c).
 *
 * From scenarios parsed in memory and orders marked by hand: the setup
 * (schema, seed, migration when the phase runs migrated), one session per
 * worker with its isolation level, steps named after their keyword with the
 * key as literals, skip_if_found as session state, the rows count in session
 * a's teardown, which orders become permutation lines, and SQL a spec block
 * cannot hold. The real isolation tester runs these specs in
 * test_integration_interleave.c. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

TestSuite(spec, .timeout = 30);

static const char base_yaml[] =
	"name: t\n"
	"schema: CREATE TABLE m (u bigint, t bigint)\n"
	"seed: INSERT INTO m VALUES (0, 0)\n"
	"migration:\n"
	"  up: CREATE UNIQUE INDEX m_u_t ON m (u, t)\n"
	"  down: DROP INDEX m_u_t\n"
	"params: [round + 6, 2]\n"
	"rows: SELECT count(*) FROM m WHERE u = $1 AND t = $2\n"
	"flow:\n"
	"  - sql: SELECT 1 FROM m WHERE u = $1 AND t = $2\n"
	"    skip_if_found: true\n"
	"  - sql: INSERT INTO m VALUES ($1, $2);\n"
	"phases:\n"
	"  - name: before\n"
	"    race: {mode: interleave, isolation: serializable, read_committed_workers: 1}\n"
	"    expect: [interleavings == 20]\n"
	"  - name: up\n"
	"    steps: [{migrate: up}]\n"
	"  - name: after\n"
	"    race: {mode: interleave}\n"
	"    expect: [interleavings == 20]\n";

struct fixture {
	struct scenario sc;
	struct ilv_summary s;
	struct race_cfg cfg;
	const struct phase *p;
};

static void load(struct fixture *f, const char *yaml, const char *phase)
{
	char err[512];
	cr_assert(scenario_parse("t.yaml", yaml, strlen(yaml), &f->sc, err, sizeof err), "%s", err);
	f->p = NULL;
	for (size_t i = 0; i < f->sc.n_phases; i++)
		if (!strcmp(f->sc.phases[i].name, phase))
			f->p = &f->sc.phases[i];
	cr_assert_not_null(f->p);
	f->cfg = scenario_race(&f->sc, f->p, NULL);
	cr_assert(ilv_plan(&f->sc, f->p, &f->cfg, &f->s, err, sizeof err), "%s", err);
	cr_assert_eq(f->s.n_orders, 20);
	/* Orders 0 and 1 executable, 1 with duplicates; 2 not executable; the
	 * rest as if not run. */
	for (size_t i = 0; i < f->s.n_orders; i++)
		f->s.orders[i].executable = false;
	f->s.orders[0].executable = f->s.orders[1].executable = true;
	f->s.orders[0].rows = 1;
	f->s.orders[1].rows = 2;
	f->s.with_duplicates = 1;
	f->s.orders[2].stuck_pos = 4;
	f->s.orders[2].stuck_on = 0;
}

/* What pg_dump of the sandbox would give, already renamed (spec_dump_setup). */
static char fake_dump[] = "CREATE SCHEMA pgrace_spec_t;\n"
			  "CREATE TABLE pgrace_spec_t.m (u bigint, t bigint);\n"
			  "INSERT INTO pgrace_spec_t.m VALUES (0, 0);\n"
			  "SET search_path TO pgrace_spec_t;\n";

static char *write_spec_at(struct fixture *f, long long round, bool migrated, bool all, bool *ok,
			   char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_not_null(out);
	struct spec_capture cap = {.schema = "pgrace_spec_t", .dump = fake_dump, .round = round};
	*ok = spec_write(out, &f->sc, f->p, &f->cfg, &f->s, &cap, migrated, all, err, errlen);
	cr_assert_eq(fclose(out), 0);
	return buf;
}

static char *write_spec(struct fixture *f, bool all, bool *ok, char *err, size_t errlen)
{
	return write_spec_at(f, 1, !strcmp(f->p->name, "after"), all, ok, err, errlen);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void done(struct fixture *f, char *text)
{
	free(text);
	ilv_free(&f->s);
	scenario_free(&f->sc);
}

Test(spec, before_migration)
{
	struct fixture f;
	char err[256];
	bool ok;
	load(&f, base_yaml, "before");
	char *t = write_spec(&f, false, &ok, err, sizeof err);
	cr_assert(ok, "%s", err);
	cr_expect(strstr(t, "setup\n{ DROP SCHEMA IF EXISTS pgrace_spec_t CASCADE; }\nsetup\n{\n"
			    "  CREATE SCHEMA pgrace_spec_t;\n  CREATE TABLE pgrace_spec_t.m"), "%s", t);
	cr_expect(strstr(t, "# Setup drops schema pgrace_spec_t (DROP SCHEMA IF EXISTS pgrace_spec_t "
			    "CASCADE)"), "the header says what setup drops:\n%s", t);
	cr_expect(strstr(t, ", not migrated: "), "%s", t);
	cr_expect(!strstr(t, "CREATE UNIQUE INDEX"), "nothing but the dump makes the schema:\n%s", t);
	cr_expect(strstr(t, "teardown\n{ DROP SCHEMA pgrace_spec_t CASCADE; }"), "%s", t);
	/* worker a runs READ COMMITTED (read_committed_workers: 1), b SERIALIZABLE */
	cr_expect(strstr(t, "session a\nsetup\n{\n  SET search_path TO pgrace_spec_t;\n  BEGIN ISOLATION LEVEL READ COMMITTED;"), "%s", t);
	cr_expect(strstr(t, "session b\nsetup\n{\n  SET search_path TO pgrace_spec_t;\n  BEGIN ISOLATION LEVEL SERIALIZABLE;"), "%s", t);
	/* the key of round 1: $1 = 7, $2 = 2, as literals */
	cr_expect(strstr(t, "step a_select { WITH pgrace_found AS (SELECT 1 FROM m WHERE u = '7' AND t = '2') "
			    "SELECT set_config('pgrace.skip', 'true', true) AS skipped FROM pgrace_found LIMIT 1; }"), "%s", t);
	cr_expect(strstr(t, "step b_insert { DO $pgrace$ BEGIN IF current_setting('pgrace.skip', true) IS DISTINCT "
			    "FROM 'true' THEN EXECUTE $pgrace_sql$ INSERT INTO m VALUES ('7', '2') $pgrace_sql$; END IF; END $pgrace$; }"), "%s", t);
	cr_expect(strstr(t, "step b_commit { COMMIT; }"), "%s", t);
	cr_expect_eq(count(t, "pgrace_rows"), 1, "only session a counts rows:\n%s", t);
	cr_expect(strstr(t, "{ SELECT (SELECT count(*) FROM m WHERE u = '7' AND t = '2') AS pgrace_rows; }"), "%s", t);
	/* only the order that duplicated */
	cr_expect_eq(count(t, "\npermutation "), 1, "%s", t);
	char perm[256];
	order_permutation(&f.s.orders[1].order, (const char(*)[ORDER_NAME_LEN])f.s.step_names, perm, sizeof perm);
	cr_expect(strstr(t, perm), "%s not in\n%s", perm, t);
	cr_expect(strstr(t, "#   not executable: "), "%s", t);
	done(&f, t);

	load(&f, base_yaml, "before");
	t = write_spec(&f, true, &ok, err, sizeof err);
	cr_assert(ok, "%s", err);
	cr_expect_eq(count(t, "\npermutation "), 2, "--all: every executable order\n%s", t);
	done(&f, t);
}

Test(spec, after_migration_and_no_duplicate)
{
	struct fixture f;
	char err[256];
	bool ok;
	load(&f, base_yaml, "after");
	f.s.orders[1].rows = 1;
	f.s.with_duplicates = 0;
	char *t = write_spec(&f, false, &ok, err, sizeof err);
	cr_assert(ok, "%s", err);
	cr_expect(strstr(t, ", migrated: "), "the run's own account of the migration:\n%s", t);
	cr_expect_eq(count(t, "BEGIN ISOLATION LEVEL READ COMMITTED"), 2, "%s", t);
	cr_expect_eq(count(t, "\npermutation "), 2, "none duplicated: every executable order\n%s", t);
	done(&f, t);

	/* The key is the phase's first order's: round 5, $1 = 11. */
	load(&f, base_yaml, "after");
	t = write_spec_at(&f, 5, true, true, &ok, err, sizeof err);
	cr_assert(ok, "%s", err);
	cr_expect(strstr(t, "u = '11' AND t = '2'"), "%s", t);
	cr_expect(!strstr(t, "'7'"), "%s", t);
	cr_expect(strstr(t, "key of round 5"), "%s", t);
	done(&f, t);
}

/* The dump becomes setup SQL: psql's \restrict lines out, the sandbox's
 * name replaced, the search_path set at the end; a '}' refused by line. */
Test(spec, dump_setup)
{
	static const char dump[] = "\\restrict abc123\n"
				   "SELECT pg_catalog.set_config('search_path', '', false);\n"
				   "CREATE SCHEMA pgrace_77_0123abcd;\n"
				   "CREATE TABLE pgrace_77_0123abcd.t (k bigint);\n"
				   "\\unrestrict abc123\n";
	struct spec_capture cap = {.schema = "pgrace_spec_x"};
	char err[256] = "";
	cr_assert(spec_dump_setup(dump, "pgrace_77_0123abcd", &cap, err, sizeof err), "%s", err);
	cr_expect_str_eq(cap.dump, "SELECT pg_catalog.set_config('search_path', '', false);\n"
				   "CREATE SCHEMA pgrace_spec_x;\n"
				   "CREATE TABLE pgrace_spec_x.t (k bigint);\n"
				   "\nSET search_path TO pgrace_spec_x;\n");
	free(cap.dump);
	cap.dump = NULL;
	static const char braces[] = "CREATE SCHEMA s;\nCREATE TABLE s.t (a int[] DEFAULT '{}');\n";
	cr_expect_not(spec_dump_setup(braces, "s", &cap, err, sizeof err));
	cr_expect(strstr(err, "line 2 of its dump holds a '}'"), "%s", err);
	cr_expect(strstr(err, "DEFAULT '{}'"), "%s", err);
	cr_expect_null(cap.dump);
}

/* --schema: only pgrace_... names that are not a run's sandbox form; public
 * (whose drop would destroy the user's tables) is refused. */
Test(spec, schema_names)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{"pgrace_spec", true},       {"pgrace_spec_after", true}, {"public", false},
		{"pgrace_", false},          {"app", false},              {"Pgrace_x", false},
		{"pgrace_x;drop", false},    {"", false},                 {"pgrace_123_0123abcd", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256] = "";
		cr_expect_eq(spec_schema_name_ok(cases[i].name, err, sizeof err), cases[i].ok, "%s: %s",
			     cases[i].name, err);
	}
}

Test(spec, refusals)
{
	struct fixture f;
	char err[256] = "";
	bool ok;
	/* A brace in the SQL would end the spec block. */
	char *yaml = strdup(base_yaml);
	cr_assert_not_null(yaml);
	char *at = strstr(yaml, "SELECT count(*) FROM m WHERE u = $1 AND t = $2");
	cr_assert_not_null(at);
	memcpy(at, "SELECT count(*) FROM m WHERE '{1}' = $1 OR 1=1", strlen("SELECT count(*) FROM m WHERE u = $1 AND t = $2"));
	load(&f, yaml, "before");
	char *t = write_spec(&f, false, &ok, err, sizeof err);
	cr_expect_not(ok);
	cr_expect(strstr(err, "t.yaml:8: rows holds a '}', which ends a block of an isolation spec"), "%s", err);
	done(&f, t);
	free(yaml);

	/* A '}' that only a key value brings in is the params line's, not the
	 * flow's (before: "t.yaml:10: flow statement holds a '}'"). */
	yaml = strdup(base_yaml);
	cr_assert_not_null(yaml);
	at = strstr(yaml, "params: [round + 6, 2]\n");
	cr_assert_not_null(at);
	char braced[2048];
	snprintf(braced, sizeof braced, "%.*sparams: ['{{x}}{round}', 2]\n%s", (int)(at - yaml), yaml,
		 at + strlen("params: [round + 6, 2]\n"));
	load(&f, braced, "before");
	t = write_spec(&f, false, &ok, err, sizeof err);
	cr_expect_not(ok);
	cr_expect(strstr(err, "t.yaml:7: params: a key value holds a '}' (bound into the flow "
			      "statement at line 10)"),
		  "%s", err);
	done(&f, t);
	free(yaml);

	/* No executable order: without permutation lines the tester would run every order. */
	load(&f, base_yaml, "before");
	for (size_t i = 0; i < f.s.n_orders; i++)
		f.s.orders[i].executable = false;
	t = write_spec(&f, true, &ok, err, sizeof err);
	cr_expect_not(ok);
	cr_expect(strstr(err, "no executable order"), "%s", err);
	done(&f, t);
}
