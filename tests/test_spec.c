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

static char *write_spec(struct fixture *f, bool all, bool *ok, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	cr_assert_not_null(out);
	*ok = spec_write(out, &f->sc, f->p, &f->cfg, &f->s, "pgrace_spec_t", all, err, errlen);
	cr_assert_eq(fclose(out), 0);
	return buf;
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
	cr_expect(strstr(t, "DROP SCHEMA IF EXISTS pgrace_spec_t CASCADE;\n  CREATE SCHEMA pgrace_spec_t;"), "%s", t);
	cr_expect(strstr(t, "setup\n{ CREATE TABLE m (u bigint, t bigint) }"), "%s", t);
	cr_expect(strstr(t, "setup\n{ INSERT INTO m VALUES (0, 0) }"), "%s", t);
	cr_expect(!strstr(t, "CREATE UNIQUE INDEX"), "not migrated yet:\n%s", t);
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
	cr_expect(strstr(t, "setup\n{ CREATE UNIQUE INDEX m_u_t ON m (u, t) }"), "migrated:\n%s", t);
	cr_expect_eq(count(t, "BEGIN ISOLATION LEVEL READ COMMITTED"), 2, "%s", t);
	cr_expect_eq(count(t, "\npermutation "), 2, "none duplicated: every executable order\n%s", t);
	cr_expect(spec_migrated(&f.sc, f.p));
	cr_expect_not(spec_migrated(&f.sc, &f.sc.phases[0]));
	done(&f, t);
}

Test(spec, refusals)
{
	struct fixture f;
	char err[256] = "";
	bool ok;
	/* A brace in the SQL would end the spec block. */
	char *yaml = strdup(base_yaml);
	cr_assert_not_null(yaml);
	char *at = strstr(yaml, "seed: INSERT INTO m VALUES (0, 0)");
	cr_assert_not_null(at);
	memcpy(at, "seed: SELECT '{1}'::int[]        ", strlen("seed: INSERT INTO m VALUES (0, 0)"));
	load(&f, yaml, "before");
	char *t = write_spec(&f, false, &ok, err, sizeof err);
	cr_expect_not(ok);
	cr_expect(strstr(err, "t.yaml:3: seed holds a '}', which ends a block of an isolation spec"), "%s", err);
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
