/* test_stats.c: latency histograms (stats.c) and outcome tables (outcome.c).
 *
 * Histograms: exact below HIST_SUB, within 1/HIST_SUB relative error above,
 * min and max exact, merging equal to recording everything in one.
 * Outcome tables: the SQLSTATE classification table, counting, merging, and
 * what happens when more distinct labels arrive than there are slots. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"
#include "stats.h"

TestSuite(hist, .timeout = 30);
TestSuite(outcome, .timeout = 30);

/* ---- histograms ------------------------------------------------------- */

static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof *h);
	cr_assert_not_null(h);
	memset(h, 0x5a, sizeof *h); /* garbage: hist_init must clear it all */
	hist_init(h);
	return h;
}

/* Deterministic pseudo-random values (xorshift), spread over many decades. */
static uint64_t next_value(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x >> (x % 50 + 14); /* 0 .. 2^50 */
}

Test(hist, empty)
{
	struct hist *h = hist_new();
	cr_expect_eq(h->count, 0);
	cr_expect_eq(h->sum, 0);
	cr_expect_eq(h->min, 0);
	cr_expect_eq(h->max, 0);
	for (int i = 0; i < HIST_BUCKETS; i++)
		cr_assert_eq(h->bucket[i], 0, "bucket %d", i);
	static const double ps[] = {0, 1, 50, 99.9, 100};
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
		cr_expect_eq(hist_percentile(h, ps[i]), 0, "p%g of nothing", ps[i]);
	free(h);
}

Test(hist, one_value)
{
	static const uint64_t values[] = {0, 1, 31, 32, 1000, 123457, 86400000000ULL};
	static const double ps[] = {0, 0.001, 50, 99.999, 100};
	for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
		struct hist *h = hist_new();
		hist_record(h, values[v]);
		cr_expect_eq(h->count, 1);
		cr_expect_eq(h->sum, values[v]);
		cr_expect_eq(h->min, values[v]);
		cr_expect_eq(h->max, values[v]);
		for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
			cr_expect_eq(hist_percentile(h, ps[i]), values[v], "p%g of {%llu} = %llu",
				     ps[i], (unsigned long long)values[v],
				     (unsigned long long)hist_percentile(h, ps[i]));
		free(h);
	}
}

/* Below HIST_SUB * 2 every value has a bucket of its own: percentiles are
 * exact. 0..63 recorded once each. */
Test(hist, exact_small_values)
{
	struct hist *h = hist_new();
	for (uint64_t v = 0; v < 64; v++)
		hist_record(h, v);
	static const struct {
		double p;
		uint64_t want;
	} cases[] = {
		{0, 0},     {1, 0},      {1.6, 1},  {10, 6},   {25, 15},  {50, 31},
		{50.1, 32}, {75, 47},    {90, 57},  {99, 63},  {100, 63},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(hist_percentile(h, cases[i].p), cases[i].want, "p%g = %llu, want %llu",
			     cases[i].p, (unsigned long long)hist_percentile(h, cases[i].p),
			     (unsigned long long)cases[i].want);
	cr_expect_eq(h->sum, 63 * 64 / 2);
	free(h);
}

/* 1..100000 once each: the exact p-th percentile is ceil(p * N / 100); the
 * histogram may report up to 1/32 above it, never below. */
Test(hist, percentiles_of_uniform)
{
	const uint64_t n = 100000;
	struct hist *h = hist_new();
	for (uint64_t v = 1; v <= n; v++)
		hist_record(h, v);
	cr_expect_eq(h->min, 1);
	cr_expect_eq(h->max, n);
	cr_expect_eq(h->count, n);
	cr_expect_eq(h->sum, n * (n + 1) / 2);
	static const double ps[] = {0.001, 0.1, 1, 5, 10, 25, 33.3, 50, 66.6, 75,
				    90, 95, 99, 99.5, 99.9, 99.99, 99.999};
	uint64_t last = 0;
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		uint64_t exact = (uint64_t)(ps[i] * (double)n / 100.0 + 0.999999);
		uint64_t got = hist_percentile(h, ps[i]);
		cr_expect_geq(got, exact, "p%g = %llu, below the exact %llu", ps[i],
			      (unsigned long long)got, (unsigned long long)exact);
		cr_expect_leq((double)(got - exact), (double)exact / HIST_SUB,
			      "p%g = %llu, more than 1/32 above the exact %llu", ps[i],
			      (unsigned long long)got, (unsigned long long)exact);
		cr_expect_geq(got, last, "percentiles must not decrease");
		last = got;
	}
	cr_expect_eq(hist_percentile(h, 0), 1);
	cr_expect_eq(hist_percentile(h, 100), n);
	free(h);
}

/* Relative error stays under 1/32 for a single value anywhere in range,
 * checked through the 50th percentile of {v, v}. */
Test(hist, relative_error_everywhere)
{
	for (uint64_t v = 1; v < (1ULL << 36); v = v * 3 / 2 + 1) {
		struct hist *h = hist_new();
		hist_record(h, v);
		hist_record(h, v);
		hist_record(h, 2 * v + 1); /* max above v, so p50 is not clamped to max */
		uint64_t got = hist_percentile(h, 50);
		cr_expect(got >= v && (double)(got - v) <= (double)v / HIST_SUB,
			  "p50 of {%llu, %llu, %llu} = %llu", (unsigned long long)v,
			  (unsigned long long)v, (unsigned long long)(2 * v + 1),
			  (unsigned long long)got);
		free(h);
	}
}

Test(hist, merge_equals_recording_all)
{
	struct hist *all = hist_new(), *a = hist_new(), *b = hist_new(), *c = hist_new();
	uint64_t state = 88172645463325252ULL;
	for (int i = 0; i < 50000; i++) {
		uint64_t v = next_value(&state);
		hist_record(all, v);
		hist_record(i % 3 == 0 ? a : i % 3 == 1 ? b : c, v);
	}
	struct hist *m = hist_new();
	hist_merge(m, a);
	hist_merge(m, b);
	hist_merge(m, c);
	cr_expect_eq(m->count, all->count);
	cr_expect_eq(m->min, all->min);
	cr_expect_eq(m->max, all->max);
	cr_expect_eq(m->sum, all->sum);
	cr_expect(memcmp(m->bucket, all->bucket, sizeof m->bucket) == 0, "buckets differ");
	static const double ps[] = {0, 10, 50, 90, 99, 99.9, 100};
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
		cr_expect_eq(hist_percentile(m, ps[i]), hist_percentile(all, ps[i]), "p%g", ps[i]);
	free(all), free(a), free(b), free(c), free(m);
}

Test(hist, merge_edges)
{
	struct hist *dst = hist_new(), *empty = hist_new(), *src = hist_new();
	/* empty into non-empty: nothing changes, min is not reset to 0 */
	hist_record(dst, 500);
	hist_record(dst, 700);
	hist_merge(dst, empty);
	cr_expect_eq(dst->count, 2);
	cr_expect_eq(dst->min, 500);
	cr_expect_eq(dst->max, 700);
	/* non-empty into empty: takes src's min, even above 0 */
	hist_record(src, 9000);
	hist_merge(empty, src);
	cr_expect_eq(empty->count, 1);
	cr_expect_eq(empty->min, 9000);
	cr_expect_eq(empty->max, 9000);
	/* lower min and higher max both travel */
	hist_record(src, 3);
	hist_merge(dst, src);
	cr_expect_eq(dst->count, 4);
	cr_expect_eq(dst->min, 3);
	cr_expect_eq(dst->max, 9000);
	cr_expect_eq(dst->sum, 500 + 700 + 9000 + 3);
	free(dst), free(empty), free(src);
}

/* min and max are exact even where buckets are wide. */
Test(hist, min_max_exact)
{
	static const uint64_t values[] = {1000003, 7777777, 1000001, 5555555, 2000000};
	struct hist *h = hist_new();
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		hist_record(h, values[i]);
	cr_expect_eq(h->min, 1000001);
	cr_expect_eq(h->max, 7777777);
	cr_expect_eq(hist_percentile(h, 0), 1000001);
	cr_expect_eq(hist_percentile(h, 100), 7777777);
	cr_expect_eq(hist_percentile(h, 99.9), 7777777, "clamped to max");
	uint64_t p1 = hist_percentile(h, 1); /* the top of min's bucket, clamped */
	cr_expect(p1 >= 1000001 && (double)(p1 - 1000001) <= 1000001.0 / HIST_SUB, "p1 = %llu",
		  (unsigned long long)p1);
	cr_expect_eq(hist_percentile(h, -5), 1000001);
	cr_expect_eq(hist_percentile(h, 250), 7777777);
	free(h);
}

/* Values past the last bucket (about 19 hours) and up to UINT64_MAX are
 * counted, kept exact in min/max, and never index past the buckets. */
Test(hist, huge_values)
{
	static const uint64_t values[] = {
		UINT64_MAX, UINT64_MAX - 1, 1ULL << 63, 1ULL << 40, 1ULL << 36, (1ULL << 36) - 1,
		1ULL << 35,
	};
	const size_t n = sizeof values / sizeof values[0];
	struct hist *h = hist_new();
	for (size_t i = 0; i < n; i++)
		hist_record(h, values[i]);
	cr_expect_eq(h->count, n);
	cr_expect_eq(h->min, 1ULL << 35);
	cr_expect_eq(h->max, UINT64_MAX);
	cr_expect_eq(hist_percentile(h, 100), UINT64_MAX);
	cr_expect_eq(hist_percentile(h, 0), 1ULL << 35);
	uint64_t total = 0, last = 0;
	for (int i = 0; i < HIST_BUCKETS; i++)
		total += h->bucket[i];
	cr_expect_eq(total, n, "every value in some bucket");
	for (double p = 1; p < 100; p += 7) {
		uint64_t v = hist_percentile(h, p);
		cr_expect(v >= h->min && v <= h->max, "p%g = %llu outside [min, max]", p,
			  (unsigned long long)v);
		cr_expect_geq(v, last, "percentiles must not decrease");
		last = v;
	}
	free(h);
}

Test(hist, clock_is_monotonic)
{
	uint64_t last = clock_us();
	cr_expect_gt(last, 0);
	for (int i = 0; i < 1000; i++) {
		uint64_t now = clock_us();
		cr_assert_geq(now, last);
		last = now;
	}
}

/* ---- outcome classes -------------------------------------------------- */

Test(outcome, classify)
{
	static const struct {
		const char *sqlstate;
		enum outcome_class want;
		bool retryable;
	} cases[] = {
		{"23505", OC_UNIQUE_VIOLATION, false},
		{"40001", OC_SERIALIZATION, true},
		{"40P01", OC_DEADLOCK, true},
		{"42P10", OC_OTHER_ERROR, false},
		{"23503", OC_OTHER_ERROR, false}, /* foreign key: not unique */
		{"23514", OC_OTHER_ERROR, false},
		{"40002", OC_OTHER_ERROR, false},
		{"40p01", OC_OTHER_ERROR, false}, /* SQLSTATEs are upper case */
		{"2350", OC_OTHER_ERROR, false},
		{"235050", OC_OTHER_ERROR, false},
		{"57014", OC_OTHER_ERROR, false}, /* query_canceled */
		{"", OC_LOST, false},
		{NULL, OC_LOST, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *s = cases[i].sqlstate ? cases[i].sqlstate : "(NULL)";
		cr_expect_eq(outcome_classify(cases[i].sqlstate), cases[i].want, "%s", s);
		cr_expect_eq(outcome_retryable(cases[i].sqlstate), cases[i].retryable, "%s", s);
	}
}

/* Unique and exclusion violations are counted by constraint name. */
Test(outcome, names_constraint)
{
	static const struct {
		const char *sqlstate;
		bool names;
	} cases[] = {
		{"23505", true}, {"23P01", true},  {"23p01", false}, {"23503", false},
		{"23514", false}, {"40001", false}, {"", false},      {NULL, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(outcome_names_constraint(cases[i].sqlstate), cases[i].names, "%s",
			     cases[i].sqlstate ? cases[i].sqlstate : "(NULL)");
}

/* ---- outcome tables --------------------------------------------------- */

static struct outcome_table *table_new(void)
{
	struct outcome_table *t = calloc(1, sizeof *t);
	cr_assert_not_null(t);
	return t;
}

Test(outcome, add_get_total)
{
	struct outcome_table *t = table_new();
	cr_expect_eq(outcome_total(t), 0);
	cr_expect_eq(outcome_get(t, "ok"), 0);
	outcome_add(t, "ok", 3);
	outcome_add(t, "23505", 5);
	outcome_add(t, "ok", 2);
	outcome_add(t, "skipped", 0);
	outcome_add(t, "lost", 1);
	static const struct {
		const char *label;
		long long want;
	} cases[] = {
		{"ok", 5}, {"23505", 5}, {"skipped", 0}, {"lost", 1},
		{"40001", 0}, {"OK", 0}, {"", 0}, {"2350", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(outcome_get(t, cases[i].label), cases[i].want, "\"%s\"",
			     cases[i].label);
	cr_expect_eq(t->n, 4, "one slot per distinct label");
	cr_expect_eq(outcome_total(t), 11);
	outcome_add(t, "ok", -5);
	cr_expect_eq(outcome_get(t, "ok"), 0);
	cr_expect_eq(outcome_total(t), 6);
	free(t);
}

Test(outcome, merge)
{
	struct outcome_table *dst = table_new(), *src = table_new(), *empty = table_new();
	outcome_add(dst, "ok", 1);
	outcome_add(dst, "23505", 2);
	outcome_add(src, "ok", 10);
	outcome_add(src, "40001", 3);
	outcome_add(src, "uq_user_tenant_membership_user_tenant", 4);
	outcome_merge(dst, src);
	outcome_merge(dst, empty);
	cr_expect_eq(outcome_get(dst, "ok"), 11);
	cr_expect_eq(outcome_get(dst, "23505"), 2);
	cr_expect_eq(outcome_get(dst, "40001"), 3);
	cr_expect_eq(outcome_get(dst, "uq_user_tenant_membership_user_tenant"), 4);
	cr_expect_eq(dst->n, 4);
	cr_expect_eq(outcome_total(dst), 20);
	cr_expect_eq(outcome_total(src), 17, "src unchanged");
	outcome_merge(empty, dst);
	cr_expect_eq(outcome_total(empty), 20);
	free(dst), free(src), free(empty);
}

/* A PostgreSQL identifier is at most 63 bytes: such a constraint name is a
 * label of its own. */
Test(outcome, longest_identifier)
{
	struct outcome_table *t = table_new();
	char name[64];
	memset(name, 'c', 63);
	name[63] = '\0';
	outcome_add(t, name, 1);
	outcome_add(t, name, 1);
	cr_expect_eq(outcome_get(t, name), 2);
	name[62] = 'd';
	cr_expect_eq(outcome_get(t, name), 0, "differs in the last byte");
	cr_expect_eq(t->n, 1);
	free(t);
}

/* A label longer than a slot is stored cut to 63 bytes; it must still
 * count as itself, not take a new slot on every add. */
Test(outcome, overlong_label)
{
	struct outcome_table *t = table_new();
	char name[100];
	memset(name, 'x', 99);
	name[99] = '\0';
	for (int i = 0; i < 3; i++)
		outcome_add(t, name, 1);
	cr_expect_eq(outcome_get(t, name), 3);
	cr_expect_eq(t->n, 1, "%zu slots for one label", t->n);
	free(t);
}

/* More distinct labels than slots: the overflow is counted under "other",
 * the total is kept, and no write goes past the table. */
Test(outcome, overflow_goes_to_other)
{
	struct {
		struct outcome_table t;
		unsigned char guard[4096];
	} *box = calloc(1, sizeof *box);
	cr_assert_not_null(box);
	memset(box->guard, 0xA5, sizeof box->guard);
	struct outcome_table *t = &box->t;
	const int labels = OUTCOME_SLOTS + 20;
	char label[16];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < labels; i++) {
			snprintf(label, sizeof label, "L%02d", i);
			outcome_add(t, label, 1);
		}
	cr_expect_leq(t->n, OUTCOME_SLOTS, "n = %zu", t->n);
	for (size_t i = 0; i < sizeof box->guard; i++)
		cr_assert_eq(box->guard[i], 0xA5, "wrote past the table (byte %zu)", i);
	cr_expect_eq(outcome_total(t), 2 * labels);
	/* The first OUTCOME_SLOTS - 1 labels keep their own slots; one slot stays
	 * for "other", which takes every label after them. */
	for (int i = 0; i < OUTCOME_SLOTS - 1; i++) {
		snprintf(label, sizeof label, "L%02d", i);
		cr_expect_eq(outcome_get(t, label), 2, "%s", label);
	}
	for (int i = OUTCOME_SLOTS - 1; i < labels; i++) {
		snprintf(label, sizeof label, "L%02d", i);
		cr_expect_eq(outcome_get(t, label), 0, "%s should be under other", label);
	}
	cr_expect_eq(outcome_get(t, "other"), 2 * (labels - (OUTCOME_SLOTS - 1)));
	free(box);
}

/* Merging two full tables keeps the total and stays within the slots. */
Test(outcome, overflow_merge)
{
	struct outcome_table *a = table_new(), *b = table_new();
	char label[16];
	for (int i = 0; i < OUTCOME_SLOTS; i++) {
		snprintf(label, sizeof label, "A%02d", i);
		outcome_add(a, label, 1);
		snprintf(label, sizeof label, "B%02d", i);
		outcome_add(b, label, 2);
	}
	outcome_merge(a, b);
	cr_expect_leq(a->n, OUTCOME_SLOTS);
	cr_expect_eq(outcome_total(a), 3 * OUTCOME_SLOTS);
	free(a), free(b);
}

/* ---- the 95 % upper bound on a race probability ------------------------ */

TestSuite(upper95, .timeout = 30);

/* Reference values: bisection on the binomial CDF summed with exact
 * binomial coefficients (Python), independent of stats.c's log-space sum. */
Test(upper95, clopper_pearson_table)
{
	static const struct {
		long long events, trials;
		double upper;
	} cases[] = {
		{0, 20, 0.139108},  {0, 1, 0.950000},   {1, 10, 0.394163},  {5, 50, 0.198833},
		{3, 1000, 0.007735}, {0, 1000, 0.002991}, {10, 20, 0.698046}, {19, 20, 0.997439},
		{2, 3, 0.983048},   {20, 20, 1.0},      {0, 0, 1.0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double u = stats_upper95(cases[i].events, cases[i].trials);
		cr_expect(u > cases[i].upper - 2e-6 && u < cases[i].upper + 2e-6, "%lld/%lld: %f, want %f",
			  cases[i].events, cases[i].trials, u, cases[i].upper);
	}
}

/* Zero events in n: about the rule of three, 3/n, for large n. */
Test(upper95, rule_of_three)
{
	for (long long n = 100; n <= 1000000; n *= 10) {
		double u = stats_upper95(0, n);
		cr_expect(u > 2.9 / (double)n && u < 3.0 / (double)n, "0/%lld: %g", n, u);
	}
}

/* hist_clear empties a histogram exactly as hist_init does, though it
 * writes only the buckets between min's and max's. */
Test(hist, clear_is_init)
{
	static const uint64_t values[][3] = {{0, 0, 0}, {1, 5, 9}, {3, 70000, 12}, {999999999, 2, 40}};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		struct hist h, fresh;
		hist_init(&h);
		hist_init(&fresh);
		for (int k = 0; k < 3; k++)
			hist_record(&h, values[i][k]);
		hist_clear(&h);
		cr_expect(memcmp(&h, &fresh, sizeof h) == 0, "row %zu: cleared differs from empty", i);
		hist_record(&h, 17);
		cr_expect_eq(h.count, 1);
		cr_expect_eq(hist_percentile(&h, 50), hist_percentile(&h, 100));
	}
	struct hist e;
	hist_init(&e);
	hist_clear(&e); /* empty: nothing to clear */
	cr_expect_eq(e.count, 0);
}

/* outcome_clear empties a table: its labels are gone, and a label added
 * afterwards starts from zero with no sample. */
Test(outcome, clear_empties)
{
	struct outcome_table t;
	memset(&t, 0, sizeof t);
	outcome_add(&t, "ok", 3);
	outcome_note(&t, "23505", "duplicate key", 7);
	outcome_add(&t, "23505", 2);
	outcome_clear(&t);
	cr_expect_eq(t.n, 0);
	cr_expect_eq(outcome_get(&t, "ok"), 0);
	cr_expect_eq(outcome_get(&t, "23505"), 0);
	outcome_add(&t, "23505", 1);
	cr_expect_eq(outcome_get(&t, "23505"), 1);
	cr_expect_str_eq(outcome_sample(&t, "23505"), "");
}
