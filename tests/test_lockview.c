/* test_lockview.c: which engine gets which lock view, from version() text. */
#include <criterion/criterion.h>
#include <string.h>

#include "lockview.h"

TestSuite(lockview, .timeout = 30);

Test(lockview, by_version_text)
{
	static const struct {
		const char *version;
		const char *engine; /* NULL: refused */
		const char *why;    /* in the refusal */
	} cases[] = {
		{"PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu", "PostgreSQL", NULL},
		{"PostgreSQL 18.4 on x86_64-pc-linux-gnu, compiled by gcc", "PostgreSQL", NULL},
		{"CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27)", NULL,
		 "crdb_internal.cluster_locks"},
		{"PostgreSQL 11.2-YB-2.20.0.0-b0 on x86_64-pc-linux-gnu", NULL, "YugabyteDB"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char why[512] = "";
		const struct lockview *v = lockview_for(cases[i].version, why, sizeof why);
		if (cases[i].engine) {
			cr_assert_not_null(v, "%s: %s", cases[i].version, why);
			cr_expect_str_eq(v->engine, cases[i].engine);
			cr_expect_not_null(v->blocked_by_peers);
			cr_expect_not_null(v->blocked_from_outside);
			cr_expect_not_null(v->peers_and_deadlock_timeout);
		} else {
			cr_expect_null(v, "%s", cases[i].version);
			cr_expect(strstr(why, cases[i].why) && strstr(why, "--mode fire"), "%s", why);
		}
	}
}
