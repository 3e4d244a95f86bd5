/* test_server.c: server_unmet, the judgement of a scenario's requires
 * against a server's version and extensions (table-driven). */
#include <criterion/criterion.h>
#include <string.h>

#include "server.h"

TestSuite(server, .timeout = 30);

static const struct unmet_case {
	int need_version;
	const char *ext[2];
	bool have[2];
	int version_num;
	const char *version;
	const char *reason; /* "" = met */
} cases[] = {
	{0, {NULL, NULL}, {false, false}, 130023, "13.23", ""},
	{15, {NULL, NULL}, {false, false}, 130023, "13.23", "needs PostgreSQL >= 15, server is 13.23"},
	{15, {NULL, NULL}, {false, false}, 140023, "14.23", "needs PostgreSQL >= 15, server is 14.23"},
	{15, {NULL, NULL}, {false, false}, 150018, "15.18", ""},
	{15, {NULL, NULL}, {false, false}, 180004, "18.4", ""},
	{18, {"btree_gist", NULL}, {true, false}, 170010, "17.10",
	 "needs PostgreSQL >= 18, server is 17.10"},
	{18, {"btree_gist", NULL}, {true, false}, 180004, "18.4", ""},
	{18, {"btree_gist", NULL}, {false, false}, 180004, "18.4",
	 "needs extension btree_gist, which PostgreSQL 18.4 here does not have"},
	{0, {"btree_gist", "amcheck"}, {true, false}, 150018, "15.18",
	 "needs extension amcheck, which PostgreSQL 15.18 here does not have"},
	{0, {"btree_gist", "amcheck"}, {true, true}, 150018, "15.18", ""},
	/* A development or beta server counts by its major: 18devel is 180000. */
	{18, {NULL, NULL}, {false, false}, 180000, "18devel", ""},
};

Test(server, unmet_table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct unmet_case *c = &cases[i];
		struct requirements rq = {.server_version = c->need_version};
		for (size_t j = 0; j < 2 && c->ext[j]; j++)
			rq.extensions[rq.n_extensions++] = (char *)c->ext[j];
		struct server_info si = {.version_num = c->version_num};
		snprintf(si.version, sizeof si.version, "%s", c->version);
		char reason[256];
		bool unmet = server_unmet(&rq, &si, c->have, reason, sizeof reason);
		cr_expect_eq(unmet, c->reason[0] != '\0', "case %zu: unmet %d (%s)", i, unmet, reason);
		cr_expect_str_eq(reason, c->reason, "case %zu", i);
	}
}
