/* test_attempt.c: the pure rules of an attempt (src/attempt.c): the BEGIN
 * text, what a result counts as, how it is counted, and the rows query's
 * shape check. */
#include <criterion/criterion.h>

#include <string.h>

#include "attempt.h"

Test(attempt, begin_text_for_each_isolation_and_access_mode)
{
	static const struct {
		enum isolation iso;
		enum attempt_access access;
		const char *pooler_schema;
		const char *want;
	} cases[] = {
		{ISO_READ_COMMITTED, ATTEMPT_READ_WRITE, NULL, "BEGIN ISOLATION LEVEL READ COMMITTED"},
		{ISO_REPEATABLE_READ, ATTEMPT_READ_WRITE, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ"},
		{ISO_SERIALIZABLE, ATTEMPT_READ_ONLY, NULL,
		 "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"},
		{ISO_READ_COMMITTED, ATTEMPT_READ_WRITE, "pgrace_1_0000abcd",
		 "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL search_path TO pgrace_1_0000abcd; "
		 "SELECT pg_backend_pid()"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[192];
		cr_expect_str_eq(attempt_begin_sql(buf, sizeof buf, cases[i].iso, cases[i].access,
						   cases[i].pooler_schema),
				 cases[i].want, "case %zu", i);
	}
	cr_expect_str_eq(attempt_stop_sql(true), "COMMIT");
	cr_expect_str_eq(attempt_stop_sql(false), "ROLLBACK");
}

static struct db_result result(enum db_status st, const char *sqlstate, const char *constraint)
{
	struct db_result r;
	memset(&r, 0, sizeof r);
	r.status = st;
	snprintf(r.sqlstate, sizeof r.sqlstate, "%s", sqlstate);
	snprintf(r.constraint, sizeof r.constraint, "%s", constraint);
	snprintf(r.message, sizeof r.message, "%s", st == DB_OK ? "" : "it failed");
	return r;
}

Test(attempt, classify_and_count_every_kind)
{
	static const struct {
		enum db_status st;
		const char *sqlstate, *constraint;
		bool skipped;
		enum attempt_kind kind;
		const char *name, *label; /* label: the constraint table's, NULL for none */
	} cases[] = {
		{DB_OK, "", "", false, ATTEMPT_OK, "ok", NULL},
		{DB_OK, "", "", true, ATTEMPT_SKIPPED, "skipped", NULL},
		{DB_LOST, "", "", false, ATTEMPT_LOST, "lost", NULL},
		{DB_TIMEOUT, "", "", false, ATTEMPT_LOST, "lost", NULL},
		{DB_ERROR, "23505", "uq_a", false, ATTEMPT_ERROR, "23505", "uq_a"},
		{DB_ERROR, "23505", "", false, ATTEMPT_ERROR, "23505", "(none)"},
		{DB_ERROR, "23P01", "ex_room", false, ATTEMPT_ERROR, "23P01", "ex_room"},
		{DB_ERROR, "23503", "fk_user", false, ATTEMPT_ERROR, "23503", "fk_user"},
		{DB_ERROR, "23502", "", false, ATTEMPT_ERROR, "23502", NULL},
		{DB_ERROR, "40001", "", false, ATTEMPT_ERROR, "40001", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct db_result r = result(cases[i].st, cases[i].sqlstate, cases[i].constraint);
		struct attempt_outcome o;
		struct outcome_table outcomes, constraints;
		memset(&outcomes, 0, sizeof outcomes);
		memset(&constraints, 0, sizeof constraints);
		attempt_classify(&r, cases[i].skipped, &o);
		cr_expect_eq(o.kind, cases[i].kind, "case %zu", i);
		cr_expect_str_eq(o.name, cases[i].name, "case %zu", i);
		cr_expect_eq(attempt_retryable(&r), !strcmp(cases[i].sqlstate, "40001"), "case %zu", i);
		attempt_count(&o, "flow step 2", 7, &outcomes, &constraints);
		cr_expect_eq(outcomes.n, 1, "case %zu", i);
		cr_expect_str_eq(outcomes.label[0], cases[i].name, "case %zu", i);
		cr_expect_eq(outcomes.count[0], 1, "case %zu", i);
		if (cases[i].st == DB_OK) {
			cr_expect_str_eq(outcomes.sample[0], "", "case %zu", i);
		} else {
			cr_expect_str_eq(outcomes.sample[0], "at flow step 2: it failed", "case %zu", i);
			cr_expect_eq(outcomes.line[0], 7, "case %zu", i);
		}
		if (cases[i].label) {
			cr_expect_eq(constraints.n, 1, "case %zu", i);
			cr_expect_str_eq(constraints.label[0], cases[i].label, "case %zu", i);
		} else {
			cr_expect_eq(constraints.n, 0, "case %zu", i);
		}
	}
}

Test(attempt, rows_value_takes_one_row_of_one_integer_only)
{
	static const struct {
		long long rows;
		int columns;
		bool null;
		const char *value;
		bool ok;
		long long want;
	} cases[] = {
		{1, 1, false, "3", true, 3},   {0, 1, true, "", false, 0}, {2, 1, false, "3", false, 0},
		{1, 2, false, "3", false, 0},  {1, 1, true, "", false, 0}, {1, 1, false, "x", false, 0},
		{1, 1, false, "-1", false, 0}, {0, 0, true, "", false, 0}, {1, 1, false, "0", true, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct db_result r;
		memset(&r, 0, sizeof r);
		r.rows = cases[i].rows;
		r.columns = cases[i].columns;
		r.first_null = cases[i].null;
		snprintf(r.first_value, sizeof r.first_value, "%s", cases[i].value);
		long long rows = -7;
		const char *why;
		cr_expect_eq(attempt_rows_value(&r, &rows, &why), cases[i].ok, "case %zu", i);
		if (cases[i].ok)
			cr_expect_eq(rows, cases[i].want, "case %zu", i);
		else
			cr_expect_not_null(why, "case %zu", i);
	}
}
