/* test_metric.c: the metric registry and the SQLSTATE table.
 *
 * Tables of names each scope accepts or refuses (with the hint a refusal
 * gives), and the docs checked against the registry: every name the table
 * holds is documented in docs/scenario-format.md. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metric.h"
#include "outcome.h"

TestSuite(metric, .timeout = 30);

Test(metric, names_by_scope)
{
	static const struct {
		enum metric_scope scope;
		const char *name;
		bool ok;
		const char *needle; /* in the error when refused */
	} cases[] = {
		{METRIC_PHASE, "workers", true, NULL},
		{METRIC_PHASE, "rows_per_key.min", true, NULL},
		{METRIC_PHASE, "rows_per_key.max", true, NULL},
		{METRIC_PHASE, "rounds_with_duplicates", true, NULL},
		{METRIC_PHASE, "outcomes.ok", true, NULL},
		{METRIC_PHASE, "outcomes.skipped", true, NULL},
		{METRIC_PHASE, "outcomes.lost", true, NULL},
		{METRIC_PHASE, "outcomes.23505", true, NULL},
		{METRIC_PHASE, "outcomes.40P01", true, NULL},
		{METRIC_PHASE, "outcomes.23P01", true, NULL},
		{METRIC_PHASE, "constraint.uq_a_b", true, NULL},
		{METRIC_PHASE, "outcomes.skiped", false, "did you mean outcomes.skipped?"},
		{METRIC_PHASE, "outcomes.235O5", false, "did you mean outcomes.23505?"},
		{METRIC_PHASE, "outcomes.unique_violation", false, "did you mean outcomes.23505?"},
		{METRIC_PHASE, "outcomes.99999", false, "unknown outcome \"99999\""},
		{METRIC_PHASE, "outcomes.", false, "unknown outcome \"\""},
		{METRIC_PHASE, "constraint.", false, "needs a name after the dot"},
		{METRIC_PHASE, "rows_per_key.mx", false, "did you mean rows_per_key.max?"},
		{METRIC_PHASE, "rows_per_key", false, "unknown metric \"rows_per_key\""},
		{METRIC_PHASE, "rows", false, "(known: workers, rounds,"},
		{METRIC_PHASE, "worker", false, "did you mean workers?"},
		{METRIC_STEP, "rows", true, NULL},
		{METRIC_STEP, "load_errors", true, NULL},
		{METRIC_STEP, "workers", false, "unknown metric \"workers\""},
		{METRIC_STEP, "afected", false, "did you mean affected?"},
		{METRIC_PARAM, "round", true, NULL},
		{METRIC_PARAM, "phase_round", true, NULL},
		{METRIC_PARAM, "rounds", false, "unknown name \"rounds\"; did you mean round?"},
		{METRIC_PARAM, "user", false, "(known: round, key, phase_round"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[512] = "";
		bool ok = metric_check(cases[i].scope, cases[i].name, err, sizeof err);
		cr_expect_eq(ok, cases[i].ok, "%s: got %d (%s)", cases[i].name, ok, err);
		if (cases[i].needle)
			cr_expect(strstr(err, cases[i].needle), "%s: \"%s\" lacks \"%s\"", cases[i].name,
				  err, cases[i].needle);
	}
}

Test(metric, find_gives_the_suffix)
{
	const char *suffix = NULL;
	const struct metric_def *d = metric_find(METRIC_PHASE, "constraint.uq_x", &suffix);
	cr_assert(d);
	cr_expect_eq(d->id, M_CONSTRAINT);
	cr_expect_str_eq(suffix, "uq_x");
	d = metric_find(METRIC_PHASE, "attempts", &suffix);
	cr_assert(d);
	cr_expect_eq(d->id, M_ATTEMPTS);
	cr_expect_str_eq(suffix, "");
	cr_expect_null(metric_find(METRIC_STEP, "attempts", NULL));
	cr_expect_null(metric_find(METRIC_PARAM, "key2", NULL));
}

Test(metric, every_row_is_documented)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/scenario-format.md", PGRACE_SOURCE_DIR);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	static char doc[256 * 1024];
	size_t len = fread(doc, 1, sizeof doc - 1, f);
	fclose(f);
	doc[len] = '\0';
	size_t n;
	const struct metric_def *t = metric_table(&n);
	cr_assert_gt(n, 10);
	for (size_t i = 0; i < n; i++) {
		char quoted[160];
		snprintf(quoted, sizeof quoted, "`%s`", t[i].shown ? t[i].shown : t[i].name);
		cr_expect(strstr(doc, quoted), "docs/scenario-format.md does not document %s", quoted);
		cr_expect(t[i].doc && t[i].doc[0], "%s has no doc line", t[i].name);
	}
}

Test(metric, sqlstate_table)
{
	size_t n;
	const struct sqlstate_def *st = outcome_sqlstates(&n);
	cr_assert_gt(n, 200);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(strcmp(st[i - 1].code, st[i].code), 0, "not sorted at %s", st[i].code);
	cr_expect_str_eq(outcome_sqlstate_name("23505"), "unique_violation");
	cr_expect_str_eq(outcome_sqlstate_name("23P01"), "exclusion_violation");
	cr_expect_str_eq(outcome_sqlstate_name("40001"), "serialization_failure");
	cr_expect_str_eq(outcome_sqlstate_name("25P04"), "transaction_timeout"); /* PostgreSQL 17 */
	cr_expect_null(outcome_sqlstate_name("235O5"));
	cr_expect_null(outcome_sqlstate_name("2350"));
	cr_expect_null(outcome_sqlstate_name(NULL));
}
