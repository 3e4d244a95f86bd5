/* test_secret.c: the scrubber (secret_scrub_with) on every spelling a child's
 * output could give a password, and the passfile's escaping. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "secret.h"

#define PW "p%@:/#?& 'q\"\\z"

static const struct {
	const char *text, *want;
	bool cut;
} cases[] = {
	/* raw */
	{"password=" PW " end", "password=*** end", false},
	/* percent-encoded, upper and lower case, and with ConfigParser's %% */
	{"postgresql://u:p%25%40%3A%2F%23%3F%26%20%27q%22%5Cz@h/db", "postgresql://u:***@h/db", false},
	{"u:p%25%40%3a%2f%23%3f%26%20%27q%22%5cz@h", "u:***@h", false},
	{"u:p%%25%%40%%3A%%2F%%23%%3F%%26%%20%%27q%%22%%5Cz@h", "u:***@h", false},
	{"u:p%2525%2540%253A%252F%2523%253F%2526%2520%2527q%2522%255Cz@h", "u:***@h", false},
	/* quote_plus: a space as + */
	{"u:p%25%40%3A%2F%23%3F%26+%27q%22%5Cz@h", "u:***@h", false},
	/* quoted and escaped: SQL doubling, backslashes (conninfo, JSON, repr) */
	{"password='p%@:/#?& ''q\"\\z'", "password='***'", false},
	{"\"password\": \"p%@:/#?& 'q\\\"\\\\z\"", "\"password\": \"***\"", false},
	{"'p%@:/#?& \\'q\"\\\\z'", "'***'", false},
	{"p\\x25@:/#?& \\u0027q\"\\\\z", "***", false},
	/* HTML */
	{"<td>p%@:/#?&amp; &#39;q&quot;\\z</td>", "<td>***</td>", false},
	/* twice, and the text around it kept */
	{"a " PW " b " PW " c", "a *** b *** c", false},
	/* the tail of a longer output: the password's end at its start */
	{"?& 'q\"\\z said the tool", "*** said the tool", true},
	{"?& 'q\"\\z said the tool", "?& 'q\"\\z said the tool", false},
	/* nothing to scrub: a prefix alone is not the password */
	{"p%@:/#?& 'q", "p%@:/#?& 'q", false},
	{"", "", false},
};

Test(secret, scrub_spellings)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s", cases[i].text);
		secret_scrub_with(buf, sizeof buf, cases[i].cut, PW);
		cr_expect_str_eq(buf, cases[i].want, "scrubbing [%s]: [%s]", cases[i].text, buf);
	}
}

Test(secret, scrub_stays_in_its_buffer)
{
	/* a one-byte password whose mask is longer than it: cut, never overrun */
	char buf[8] = "aaaaaaa";
	secret_scrub_with(buf, sizeof buf, false, "a");
	cr_expect_str_eq(buf, "*******");
}

Test(secret, registry_scrubs_every_password)
{
	secret_add("first-secret");
	secret_add_dsn("postgresql://u:second%20secret@localhost/db");
	char buf[128] = "first-secret and second+secret and second%20secret";
	secret_scrub(buf, sizeof buf, false);
	cr_expect_str_eq(buf, "*** and *** and ***");
}

Test(secret, passfile_is_private_and_escaped)
{
	char err[256] = "";
	const char *path = secret_passfile("/tmp/sock", "5432", "db", "ann:x", "a:b\\c", err,
					   sizeof err);
	cr_assert(path, "%s", err);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	char line[256] = "";
	FILE *f = fopen(path, "r");
	cr_assert(f);
	cr_assert(fgets(line, sizeof line, f));
	fclose(f);
	cr_expect_str_eq(line, "*:5432:*:ann\\:x:a\\:b\\\\c\n");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	secret_cleanup();
	cr_expect_neq(stat(path, &st), 0, "left behind");
	cr_expect_neq(stat(dir, &st), 0, "left behind");
	cr_expect_null(secret_passfile("h", "1", "d", "u", "", err, sizeof err));
}
