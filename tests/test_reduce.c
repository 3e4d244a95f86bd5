/* test_reduce.c: partial-order reduction of interleave orders (reduce.c).
 *
 * The commute rule on footprints shaped like the seed flow (two reads
 * commute, an INSERT that can wait on another worker's commutes with
 * nothing, COMMITs of linked flows never), flows that share nothing (one
 * class), a third worker that links two disjoint flows, unknown footprints
 * (no reduction); and for every order of small flows: its normal form is in
 * its class, is normal, and is the order itself exactly when the order is
 * normal; the class count equals the number of normal orders. */
#include <criterion/criterion.h>

#include <string.h>

#include "order.h"
#include "reduce.h"

TestSuite(reduce, .timeout = 60);

enum { R_MEMBERSHIP = 1, R_USERS = 2, R_TENANTS = 4, R_SEQ = 8, R_OTHER = 16 };

/* k workers of the seed flow: SELECT (reads membership), INSERT (writes
 * membership and its sequence, key-share locks users and tenants). */
static void seed_flow(struct reduce_flow *f, int k)
{
	memset(f, 0, sizeof *f);
	f->workers = k;
	f->steps = 3;
	for (int w = 0; w < k; w++) {
		f->step[w][0] = (struct reduce_step){.rels = R_MEMBERSHIP};
		f->step[w][1] = (struct reduce_step){.rels = R_MEMBERSHIP | R_USERS | R_TENANTS | R_SEQ,
						     .writes = true};
	}
	reduce_prepare(f);
}

/* Every order of f: how many classes, and how many are normal. */
static size_t classes_of(const struct reduce_flow *f, size_t *normal, size_t *total)
{
	static struct order all[2000];
	size_t n = 0;
	struct order o;
	order_first(&o, f->workers, f->steps);
	do {
		cr_assert_lt(n, sizeof all / sizeof all[0]);
		all[n++] = o;
	} while (order_next(&o));
	static size_t rep[2000];
	size_t c = reduce_classes(f, all, n, rep);
	*normal = 0;
	for (size_t i = 0; i < n; i++) {
		struct order nf;
		memset(&nf, 0, sizeof nf);
		reduce_normal(f, &all[i], &nf);
		bool is = reduce_is_normal(f, &all[i]);
		*normal += is;
		cr_expect(reduce_is_normal(f, &nf), "normal form not normal");
		cr_expect_eq(is, memcmp(nf.w, all[i].w, sizeof nf.w) == 0,
			     "an order is its normal form exactly when it is normal");
		struct order rnf;
		memset(&rnf, 0, sizeof rnf);
		reduce_normal(f, &all[rep[i]], &rnf);
		cr_expect(memcmp(rnf.w, nf.w, sizeof nf.w) == 0, "a class with two normal forms");
		cr_expect_leq(rep[i], i, "the first of a class stands for it");
	}
	*total = n;
	return c;
}

Test(reduce, seed_flow_two_reads_commute_and_nothing_else)
{
	struct reduce_flow f;
	seed_flow(&f, 2);
	cr_expect(reduce_commute(&f, 0, 0, 1, 0), "a1 and b1 both only read");
	cr_expect(!reduce_commute(&f, 0, 0, 1, 1), "a1 reads what b2 writes");
	cr_expect(!reduce_commute(&f, 0, 1, 1, 1), "both INSERTs can wait on each other");
	cr_expect(!reduce_commute(&f, 0, 2, 1, 0), "a's COMMIT and b's flow share a table");
	cr_expect(!reduce_commute(&f, 0, 0, 0, 1), "one worker's steps never commute");
	size_t normal, total;
	size_t c = classes_of(&f, &normal, &total);
	cr_expect_eq(total, 20);
	/* Only "a1 b1 ..." and "b1 a1 ..." are swapped: 6 pairs. */
	cr_expect_eq(c, 14);
	cr_expect_eq(normal, c);
}

Test(reduce, seed_flow_three_workers)
{
	struct reduce_flow f;
	seed_flow(&f, 3);
	size_t normal, total;
	size_t c = classes_of(&f, &normal, &total);
	cr_expect_eq(total, 1680);
	cr_expect_lt(c, total);
	cr_expect_eq(normal, c);
}

Test(reduce, disjoint_flows_are_one_class)
{
	struct reduce_flow f;
	memset(&f, 0, sizeof f);
	f.workers = 2;
	f.steps = 3;
	for (int w = 0; w < 2; w++)
		for (int j = 0; j < 2; j++)
			f.step[w][j] = (struct reduce_step){.rels = w ? R_OTHER : R_MEMBERSHIP,
							    .writes = true};
	reduce_prepare(&f);
	cr_expect(reduce_commute(&f, 0, 2, 1, 1), "a's COMMIT touches nothing of b's");
	size_t normal, total;
	cr_expect_eq(classes_of(&f, &normal, &total), 1);
	cr_expect_eq(normal, 1);
}

Test(reduce, a_third_worker_links_two_flows)
{
	struct reduce_flow f;
	memset(&f, 0, sizeof f);
	f.workers = 3;
	f.steps = 2;
	f.step[0][0] = (struct reduce_step){.rels = R_MEMBERSHIP, .writes = true};
	f.step[1][0] = (struct reduce_step){.rels = R_OTHER, .writes = true};
	f.step[2][0] = (struct reduce_step){.rels = R_MEMBERSHIP | R_OTHER, .writes = true};
	reduce_prepare(&f);
	cr_expect(!reduce_commute(&f, 0, 1, 1, 0), "c links a's COMMIT to b");
	cr_expect(!reduce_commute(&f, 0, 0, 1, 0), "both can wait on c");
	f.step[2][0].rels = R_TENANTS;
	reduce_prepare(&f);
	cr_expect(reduce_commute(&f, 0, 1, 1, 0), "nothing links a and b");
}

Test(reduce, exclusive_lock_makes_a_read_wait)
{
	struct reduce_flow f;
	seed_flow(&f, 2);
	f.step[1][1] = (struct reduce_step){.rels = R_MEMBERSHIP, .writes = true, .exclusive = true};
	reduce_prepare(&f);
	cr_expect(!reduce_commute(&f, 0, 0, 1, 0), "a1 can wait on b's ACCESS EXCLUSIVE");
}

Test(reduce, unknown_footprints_reduce_nothing)
{
	struct reduce_flow f;
	seed_flow(&f, 2);
	f.step[0][0].unknown = true;
	f.step[1][0].unknown = true;
	reduce_prepare(&f);
	size_t normal, total;
	cr_expect_eq(classes_of(&f, &normal, &total), total);
}
