/* test_order.c: the interleaving enumerator (order.c).
 *
 * Counts against (k*s)!/(s!)^k, every enumerated order distinct and valid,
 * samples reproducible from their seed and distinct, the notation and the
 * isolation tester's permutation line, parsing notation back with its
 * errors, and step names from SQL. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "order.h"

TestSuite(order, .timeout = 60);

/* Every worker's steps appear s times each: a valid order of k x s. */
static bool valid(const struct order *o)
{
	int seen[ORDER_MAX_WORKERS] = {0};
	for (int i = 0; i < o->workers * o->steps; i++) {
		if (o->w[i] >= o->workers)
			return false;
		seen[o->w[i]]++;
	}
	for (int w = 0; w < o->workers; w++)
		if (seen[w] != o->steps)
			return false;
	return true;
}

static int cmp_order(const struct order *a, const struct order *b)
{
	return memcmp(a->w, b->w, (size_t)(a->workers * a->steps));
}

Test(order, count_table)
{
	static const struct {
		int k, s;
		uint64_t count;
	} cases[] = {
		{1, 1, 1},           {1, 8, 1},          {2, 1, 2},
		{2, 2, 6},           {2, 3, 20},         {2, 4, 70},
		{2, 8, 12870},       {2, 16, 601080390}, {3, 1, 6},
		{3, 2, 90},          {3, 3, 1680},       {3, 4, 34650},
		{4, 1, 24},          {4, 2, 2520},       {4, 3, 369600},
		{4, 4, 63063000},    {4, 8, 99561092450391000ull},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(order_count(cases[i].k, cases[i].s), cases[i].count, "k=%d s=%d",
			     cases[i].k, cases[i].s);
}

/* Enumeration yields exactly order_count() distinct, valid orders, in
 * strictly increasing lexicographic order (so none repeats). */
Test(order, enumeration_matches_count)
{
	static const int cases[][2] = {{1, 3}, {2, 1}, {2, 3}, {2, 5}, {3, 2}, {3, 3}, {4, 2}};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int k = cases[c][0], s = cases[c][1];
		struct order o, prev;
		order_first(&o, k, s);
		uint64_t n = 1;
		cr_assert(valid(&o));
		for (;;) {
			prev = o;
			if (!order_next(&o))
				break;
			n++;
			cr_assert(valid(&o), "k=%d s=%d order %llu", k, s, (unsigned long long)n);
			cr_assert_lt(cmp_order(&prev, &o), 0, "k=%d s=%d: not increasing", k, s);
		}
		cr_expect_eq(n, order_count(k, s), "k=%d s=%d", k, s);
		cr_expect_eq(cmp_order(&prev, &o), 0, "order_next leaves the last order alone");
	}
}

Test(order, notation_of_the_seed_flow)
{
	struct order o;
	order_first(&o, 2, 3);
	char buf[128];
	order_notation(&o, buf, sizeof buf);
	cr_expect_str_eq(buf, "a1 a2 a3 b1 b2 b3");
	cr_assert(order_next(&o));
	order_notation(&o, buf, sizeof buf);
	cr_expect_str_eq(buf, "a1 a2 b1 a3 b2 b3");
	static const char *const sql[] = {"SELECT 1 FROM t WHERE id = $1", "INSERT INTO t VALUES ($1)"};
	char names[3][ORDER_NAME_LEN];
	order_step_names(sql, 3, names);
	cr_expect_str_eq(names[0], "select");
	cr_expect_str_eq(names[1], "insert");
	cr_expect_str_eq(names[2], "commit");
	struct order x;
	char err[128];
	cr_assert(order_parse("a1 b1 a2 b2 a3 b3", 2, 3, &x, err, sizeof err), "%s", err);
	order_permutation(&x, (const char(*)[ORDER_NAME_LEN])names, buf, sizeof buf);
	cr_expect_str_eq(buf, "permutation \"a_select\" \"b_select\" \"a_insert\" \"b_insert\" "
			      "\"a_commit\" \"b_commit\"");
	order_notation(&x, buf, sizeof buf);
	cr_expect_str_eq(buf, "a1 b1 a2 b2 a3 b3");
	cr_expect_eq(order_step_at(&x, 0), 0);
	cr_expect_eq(order_step_at(&x, 3), 1);
	cr_expect_eq(order_step_at(&x, 5), 2);
}

Test(order, notation_round_trips)
{
	struct order o, back;
	char buf[160], err[128];
	order_first(&o, 3, 3);
	do {
		order_notation(&o, buf, sizeof buf);
		cr_assert(order_parse(buf, 3, 3, &back, err, sizeof err), "%s: %s", buf, err);
		cr_assert_eq(cmp_order(&o, &back), 0, "%s", buf);
	} while (order_next(&o));
}

Test(order, parse_errors)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{"a1 b1 a2 b2 a3", "worker b has 2 of its 3 steps"},
		{"a1 b1 a3 b2 a2 b3", "a3: worker a's next step is a2"},
		{"a1 c1 a2 b2 a3 b3", "a step is a worker letter (a..b)"},
		{"a1 b1 a2 b2 a3 b4", "b4: worker b has steps 1..3"},
		{"a1 b1 a2 b2 a3 bx", "a step is a worker letter and a step number"},
		{"a1b1 a2 b2 a3 b3", "a step is a worker letter and a step number"},
		{"", "worker a has 0 of its 3 steps"},
		{"a1 a1 a2 b1 b2 b3", "a1: worker a's next step is a2"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct order o;
		char err[128] = "";
		cr_expect_not(order_parse(cases[i].text, 2, 3, &o, err, sizeof err), "%s", cases[i].text);
		cr_expect(strstr(err, cases[i].err) != NULL, "\"%s\": got \"%s\"", cases[i].text, err);
	}
}

Test(order, step_names)
{
	static const struct {
		const char *sql[3];
		int n;
		const char *names[4];
	} cases[] = {
		{{"  select 1", "INSERT INTO t VALUES (1)"}, 3, {"select", "insert", "commit"}},
		{{"-- check\nSELECT 1", "/* c */ (SELECT 2)", "UPDATE t SET x = 1"},
		 4,
		 {"select1", "select2", "update", "commit"}},
		{{"$1", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"}, 3, {"step", "with", "commit"}},
		{{NULL}, 1, {"commit"}},
		/* nested comments end where PostgreSQL ends them (before, the first
		 * star-slash did, and these steps were named "step") */
		{{"/* a /* b */ c */ SELECT 1", "/* x /* y */ */ INSERT INTO t VALUES (1)"},
		 3,
		 {"select", "insert", "commit"}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char names[4][ORDER_NAME_LEN];
		order_step_names(cases[i].sql, cases[i].n, names);
		for (int j = 0; j < cases[i].n; j++)
			cr_expect_str_eq(names[j], cases[i].names[j], "case %zu step %d", i, j);
	}
}

/* Up to the limit every order runs; above it, a sample of exactly the limit:
 * distinct, valid, sorted, and the same for the same seed. */
Test(order, list_exhaustive_or_sampled)
{
	size_t n;
	bool exhaustive;
	struct order *all = order_list(2, 3, 1000, 1, &n, &exhaustive);
	cr_expect(exhaustive);
	cr_expect_eq(n, 20);
	free(all);
	all = order_list(2, 3, 20, 1, &n, &exhaustive);
	cr_expect(exhaustive, "a limit equal to the count still runs them all");
	cr_expect_eq(n, 20);
	free(all);

	struct order *a = order_list(3, 3, 100, 42, &n, &exhaustive);
	cr_expect_not(exhaustive);
	cr_assert_eq(n, 100);
	size_t n2;
	bool ex2;
	struct order *b = order_list(3, 3, 100, 42, &n2, &ex2);
	struct order *c = order_list(3, 3, 100, 43, &n2, &ex2);
	bool differs = false;
	for (size_t i = 0; i < n; i++) {
		cr_assert(valid(&a[i]));
		cr_assert_eq(cmp_order(&a[i], &b[i]), 0, "same seed, same order %zu", i);
		if (i)
			cr_assert_lt(cmp_order(&a[i - 1], &a[i]), 0, "sorted and distinct at %zu", i);
		differs |= cmp_order(&a[i], &c[i]) != 0;
	}
	cr_expect(differs, "another seed draws other orders");
	free(a);
	free(b);
	free(c);
}

/* A sample of all but one order must still be distinct: the drawing does
 * not give up early, and misses exactly one order. */
Test(order, sample_nearly_everything)
{
	size_t n;
	bool exhaustive;
	struct order *s = order_list(3, 2, 89, 7, &n, &exhaustive);
	cr_expect_not(exhaustive);
	cr_assert_eq(n, 89);
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(cmp_order(&s[i - 1], &s[i]), 0);
	free(s);
}

/* The sample is uniform: over many seeds each of the 20 orders of the seed
 * flow is drawn about equally often into samples of 10. */
Test(order, sample_is_uniform)
{
	int hits[20] = {0};
	struct order o;
	struct order all[20];
	order_first(&o, 2, 3);
	for (int i = 0; i < 20; i++) {
		all[i] = o;
		order_next(&o);
	}
	for (uint64_t seed = 1; seed <= 2000; seed++) {
		size_t n;
		bool exhaustive;
		struct order *s = order_list(2, 3, 10, seed, &n, &exhaustive);
		for (size_t i = 0; i < n; i++)
			for (int j = 0; j < 20; j++)
				hits[j] += cmp_order(&s[i], &all[j]) == 0;
		free(s);
	}
	/* Expected 1000 each (2000 samples x 10 / 20); binomial sd about 22. */
	for (int j = 0; j < 20; j++)
		cr_expect(hits[j] > 880 && hits[j] < 1120, "order %d drawn %d times", j, hits[j]);
}

/* A free race's steps as they were sent, back into notation an interleave
 * phase can replay; steps that did not run are filled in before their
 * worker's next step, or at the end. */
Test(order, observed_from_events)
{
	static const struct {
		struct order_event ev[8];
		size_t n;
		int workers, steps;
		const char *want;
	} cases[] = {
		/* both SELECTs first, then the INSERTs, then COMMITs: out of order in the array */
		{{{1, 0, 20, 25}, {0, 0, 10, 15}, {0, 1, 30, 35}, {1, 1, 40, 45}, {0, 2, 50, 55}, {1, 2, 60, 65}},
		 6, 2, 3, "a1 b1 a2 b2 a3 b3"},
		/* b found the row: its INSERT did not run, it goes before b's COMMIT */
		{{{0, 0, 10, 11}, {0, 1, 12, 13}, {0, 2, 14, 15}, {1, 0, 16, 17}, {1, 2, 18, 19}},
		 5, 2, 3, "a1 a2 a3 b1 b2 b3"},
		/* the same send time: worker a first */
		{{{1, 0, 5, 6}, {0, 0, 5, 6}, {1, 1, 7, 8}, {0, 1, 9, 10}}, 4, 2, 2, "a1 b1 b2 a2"},
		/* a worker that never ran anything: its steps at the end */
		{{{0, 0, 1, 2}, {0, 1, 3, 4}}, 2, 2, 2, "a1 a2 b1 b2"},
		/* three workers */
		{{{2, 0, 1, 2}, {0, 0, 2, 3}, {1, 0, 3, 4}, {2, 1, 4, 5}, {1, 1, 5, 6}, {0, 1, 6, 7}},
		 6, 3, 2, "c1 a1 b1 c2 b2 a2"},
		/* each worker's BEGIN (step -1) sorted with the steps, not part of the order */
		{{{0, -1, 1, 2}, {1, -1, 2, 3}, {1, 0, 5, 6}, {0, 0, 6, 7}, {0, 1, 8, 9}, {1, 1, 9, 10}},
		 6, 2, 2, "b1 a1 a2 b2"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct order_event ev[8];
		memcpy(ev, cases[i].ev, sizeof ev);
		char buf[128], err[128];
		cr_assert(order_observed(ev, cases[i].n, cases[i].workers, cases[i].steps, buf, sizeof buf),
			  "case %zu", i);
		cr_expect_str_eq(buf, cases[i].want, "case %zu", i);
		if (cases[i].workers <= ORDER_MAX_WORKERS) {
			struct order o;
			cr_expect(order_parse(buf, cases[i].workers, cases[i].steps, &o, err, sizeof err),
				  "case %zu: %s does not replay: %s", i, buf, err);
		}
	}
	struct order_event one = {0, 0, 1, 2};
	char small[4];
	cr_expect_not(order_observed(&one, 1, 2, 3, small, sizeof small), "does not fit");
	cr_expect_not(order_observed(&one, 1, 27, 3, small, sizeof small), "27 workers have no letters");
	/* sorted by send time, BEGINs included */
	struct order_event ev[3] = {{0, 0, 9, 10}, {1, -1, 1, 2}, {0, -1, 3, 4}};
	char buf[32];
	cr_assert(order_observed(ev, 3, 2, 1, buf, sizeof buf));
	cr_expect(ev[0].worker == 1 && ev[0].step == -1 && ev[1].worker == 0 && ev[1].step == -1);
}

/* Every surface names a worker as order notation does: a..z, then aa, ab. */
Test(order, worker_names)
{
	static const struct {
		int worker;
		const char *want;
	} cases[] = {{0, "a"}, {1, "b"}, {25, "z"}, {26, "aa"}, {27, "ab"}, {51, "az"},
		     {52, "ba"}, {701, "zz"}, {702, "aaa"}, {-1, "a"}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[8];
		cr_expect_str_eq(order_worker_name(cases[i].worker, buf, sizeof buf), cases[i].want,
				 "worker %d", cases[i].worker);
	}
	char tiny[2];
	cr_expect_str_eq(order_worker_name(26, tiny, sizeof tiny), "a", "cut to fit, NUL-terminated");
}
