/* test_outside.c: outside_diff, the comparison of two catalog snapshots
 * (outside.h), on snapshots built by hand. */
#include <string.h>

#include <criterion/criterion.h>

#include "outside.h"

#define OBJ(cat, oid, kind, stamp, name)                            \
	{                                                           \
		cat, oid, (char *)kind, (char *)stamp, (char *)name \
	}

static struct outside_obj before_objs[] = {
	OBJ(1, 2200, "schema", "1", "public"),
	OBJ(2, 16400, "table", "700 16400 aa", "public.users"),
	OBJ(2, 16410, "index", "701 16410", "public.users_pkey"),
	OBJ(3, 16500, "function", "702", "public.f(integer)"),
	OBJ(5, 16410, "constraint", "703", "public.users_pkey"),
};

Test(outside, same_snapshot_changes_nothing)
{
	struct outside_snap s = {before_objs, 5};
	char buf[256] = "junk";
	cr_expect_eq(outside_diff(&s, &s, buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "");
	struct outside_snap none = {NULL, 0};
	cr_expect_eq(outside_diff(&none, &none, buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "");
}

Test(outside, created_dropped_and_altered_are_named)
{
	/* users altered (a column: its stamp's hash), the index dropped, a
	 * table and a constraint created; the same oid in two catalogs is two
	 * objects. */
	struct outside_obj after_objs[] = {
		OBJ(1, 2200, "schema", "1", "public"),
		OBJ(2, 16400, "table", "700 16400 bb", "public.users"),
		OBJ(2, 16600, "table", "800 16600", "public.x"),
		OBJ(3, 16500, "function", "702", "public.f(integer)"),
		OBJ(5, 16410, "constraint", "703", "public.users_pkey"),
		OBJ(5, 16601, "constraint", "801", "public.x_check"),
	};
	struct outside_snap b = {before_objs, 5}, a = {after_objs, 6};
	char buf[512];
	cr_expect_eq(outside_diff(&b, &a, buf, sizeof buf), 4);
	cr_expect_str_eq(buf, "table public.users altered, index public.users_pkey dropped, "
			      "table public.x created, constraint public.x_check created");
	/* The other way round: what was created is dropped. */
	cr_expect_eq(outside_diff(&a, &b, buf, sizeof buf), 4);
	cr_expect_str_eq(buf, "table public.users altered, index public.users_pkey created, "
			      "table public.x dropped, constraint public.x_check dropped");
}

Test(outside, a_full_buffer_says_how_many_more)
{
	struct outside_snap none = {NULL, 0}, b = {before_objs, 5};
	char buf[80];
	cr_expect_eq(outside_diff(&none, &b, buf, sizeof buf), 5);
	cr_expect(strlen(buf) < sizeof buf);
	cr_expect(strstr(buf, "schema public created") == buf, "%s", buf);
	const char *more = strstr(buf, "and ");
	cr_assert_not_null(more, "%s", buf);
	cr_expect(more[4] >= '1' && more[4] <= '4' && !strcmp(more + 5, " more"), "%s", buf);
}
