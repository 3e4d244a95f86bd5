/* test_exitcode.c: every copy of the exit-code table names exactly the
 * codes of the one in src/exitcode.c: the enum, --help, README's table, the
 * man page's EXIT STATUS and docs/ci.md's table. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "pgrace.h"

TestSuite(exitcode, .timeout = 30);

#define MAX_CODES 32

static char *slurp(const char *rel)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", PGRACE_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	static const size_t cap = 1 << 20;
	char *buf = malloc(cap);
	cr_assert(buf);
	size_t len = fread(buf, 1, cap - 1, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The table's codes as a bit set over 0..255. */
static void table_set(unsigned char set[256])
{
	memset(set, 0, 256);
	for (size_t i = 0; i < n_exit_codes; i++) {
		cr_assert(exit_codes[i].code >= 0 && exit_codes[i].code < 256);
		cr_assert_eq(set[exit_codes[i].code], 0, "code %d twice", exit_codes[i].code);
		set[exit_codes[i].code] = 1;
	}
}

static void expect_same(const unsigned char got[256], const char *where)
{
	unsigned char want[256];
	table_set(want);
	for (int c = 0; c < 256; c++) {
		cr_expect(!(want[c] && !got[c]), "%s does not list exit code %d", where, c);
		cr_expect(!(!want[c] && got[c]), "%s lists exit code %d, which the table lacks", where, c);
	}
}

/* Codes in the markdown table whose header row starts "| code |", within
 * the text after the first occurrence of heading. */
static void markdown_codes(const char *text, const char *heading, unsigned char got[256])
{
	memset(got, 0, 256);
	const char *p = strstr(text, heading);
	cr_assert(p, "no \"%s\"", heading);
	p = strstr(p, "| code |");
	cr_assert(p, "no exit-code table after \"%s\"", heading);
	p = strchr(p, '\n') + 1;
	p = strchr(p, '\n') + 1; /* the | --- | row */
	while (p[0] == '|' && p[1] == ' ' && p[2] >= '0' && p[2] <= '9') {
		const char *q = p + 2;
		while (*q >= '0' && *q <= '9') {
			int c = (int)strtol(q, (char **)&q, 10);
			cr_assert(c < 256);
			got[c] = 1;
			if (q[0] == ',' && q[1] == ' ')
				q += 2;
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

Test(exitcode, the_table_is_the_enum)
{
	static const int all[] = {EXIT_PASS,   EXIT_FAIL,	  EXIT_USAGE,	EXIT_DATABASE,
				  EXIT_INCONCLUSIVE, EXIT_RESULTS, EXIT_SKIPPED, EXIT_SIGINT,
				  EXIT_SIGTERM};
	unsigned char got[256] = {0};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		got[all[i]] = 1;
	expect_same(got, "enum pgrace_exit");
}

Test(exitcode, help_prints_the_table)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "'%s' --help", PGRACE_BIN);
	FILE *f = popen(cmd, "r");
	cr_assert(f);
	char line[512];
	bool in = false;
	unsigned char got[256] = {0};
	while (fgets(line, sizeof line, f)) {
		if (!strcmp(line, "Exit status:\n")) {
			in = true;
			continue;
		}
		if (in && line[0] == '\n')
			break;
		if (in && line[2] >= '0' && line[2] <= '9')
			got[strtol(line + 2, NULL, 10) & 255] = 1;
	}
	pclose(f);
	cr_assert(in, "--help has no Exit status block");
	expect_same(got, "--help");
}

Test(exitcode, readme_and_ci_doc_tables)
{
	unsigned char got[256];
	char *readme = slurp("README.md");
	markdown_codes(readme, "### Exit codes", got);
	expect_same(got, "README.md");
	free(readme);
	char *ci = slurp("docs/ci.md");
	markdown_codes(ci, "| code |", got);
	expect_same(got, "docs/ci.md");
	free(ci);
}

Test(exitcode, man_page_exit_status)
{
	char *man = slurp("man/pgrace.1");
	const char *p = strstr(man, ".SH EXIT STATUS");
	cr_assert(p);
	const char *end = strstr(p + 1, "\n.SH ");
	cr_assert(end);
	unsigned char got[256] = {0};
	for (const char *q = p; q && q < end; q = strchr(q + 1, '\n'))
		if (!strncmp(q, "\n.B ", 4) && q[4] >= '0' && q[4] <= '9')
			got[strtol(q + 4, NULL, 10) & 255] = 1;
	expect_same(got, "man/pgrace.1 EXIT STATUS");
	free(man);
}
