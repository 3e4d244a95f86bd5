/* test_usage.c: the subcommands table in main.c against what documents it.
 *
 * The binary's --help prints one "  pgrace NAME SYNOPSIS" line per row of
 * the table (and its "unknown command" message names every row); the man
 * page's SYNOPSIS must have a `.SY pgrace` entry for each and for nothing
 * else, and README's usage block a line for each, starting with the same
 * operands (the synopsis up to its first optional part). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(usage, .timeout = 60);

#define MAX_CMDS 32

struct cmd {
	char name[32];
	char operands[160]; /* the synopsis before its first '[' (no trailing blank) */
};

static const char *bin(void)
{
	const char *b = getenv("PGRACE_TEST_BIN");
	return b && *b ? b : PGRACE_BIN;
}

/* Output of the binary with arg (stdout and stderr), malloc'd. */
static char *run_bin(const char *arg)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin(), arg);
	FILE *f = popen(cmd, "r");
	cr_assert(f, "cannot run %s", cmd);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	cr_assert(out);
	len = fread(out, 1, cap - 1, f);
	out[len] = '\0';
	pclose(f);
	return out;
}

static char *slurp(const char *rel)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", PGRACE_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	static const size_t cap = 512 * 1024;
	char *buf = malloc(cap);
	cr_assert(buf);
	size_t len = fread(buf, 1, cap - 1, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The subcommands as --help lists them. */
static size_t help_commands(struct cmd *cmds)
{
	char *help = run_bin("--help");
	size_t n = 0;
	for (char *line = help; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "  pgrace ", 9)) {
			cr_assert_lt(n, MAX_CMDS);
			const char *p = line + 9;
			size_t k = strcspn(p, " ");
			snprintf(cmds[n].name, sizeof cmds[n].name, "%.*s", (int)k, p);
			p += k;
			/* the synopsis ends where the description column starts */
			size_t m = 0;
			if (strncmp(p, "   ", 3) && *p) {
				p++;
				m = strcspn(p, "[");
				const char *gap = strstr(p, "   ");
				if (gap && (size_t)(gap - p) < m)
					m = (size_t)(gap - p);
			}
			while (m && p[m - 1] == ' ')
				m--;
			snprintf(cmds[n].operands, sizeof cmds[n].operands, "%.*s", (int)m, p);
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(help);
	cr_assert_geq(n, 8, "--help lists %zu subcommands", n);
	return n;
}

Test(usage, unknown_command_names_every_subcommand)
{
	struct cmd cmds[MAX_CMDS];
	size_t n = help_commands(cmds);
	char *err = run_bin("no-such-command");
	char want[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(want + used, sizeof want - used, "%s%s",
					 i == 0      ? ""
					 : i + 1 < n ? ", "
						     : " or ",
					 cmds[i].name);
	cr_expect(strstr(err, want), "\"%s\" does not list \"%s\"", err, want);
	free(err);
}

Test(usage, man_synopsis_has_every_subcommand)
{
	struct cmd cmds[MAX_CMDS];
	size_t n = help_commands(cmds);
	char *man = slurp("man/pgrace.1");
	char *syn = strstr(man, ".SH SYNOPSIS\n");
	cr_assert(syn, "man/pgrace.1: no SYNOPSIS");
	char *end = strstr(syn + 1, "\n.SH ");
	cr_assert(end);
	*end = '\0';
	bool seen[MAX_CMDS] = {false};
	int entries = 0;
	for (char *p = syn; (p = strstr(p, ".SY pgrace\n")); p += 11) {
		char *next = p + 11;
		if (!strncmp(next, ".BR ", 4))
			continue; /* -V | --version, -? | --help */
		cr_assert(!strncmp(next, ".B ", 3), "man/pgrace.1: a synopsis entry without .B NAME");
		size_t k = strcspn(next + 3, "\n");
		bool found = false;
		for (size_t i = 0; i < n; i++)
			if (strlen(cmds[i].name) == k && !strncmp(next + 3, cmds[i].name, k)) {
				cr_expect(!seen[i], "man/pgrace.1: %s twice in SYNOPSIS", cmds[i].name);
				seen[i] = found = true;
			}
		cr_expect(found, "man/pgrace.1: SYNOPSIS has \"%.*s\", which --help does not", (int)k,
			  next + 3);
		entries++;
	}
	for (size_t i = 0; i < n; i++)
		cr_expect(seen[i], "man/pgrace.1: SYNOPSIS lacks pgrace %s", cmds[i].name);
	cr_expect_geq(entries, (int)n);
	free(man);
}

Test(usage, readme_usage_has_every_subcommand)
{
	struct cmd cmds[MAX_CMDS];
	size_t n = help_commands(cmds);
	char *readme = slurp("README.md");
	char *block = strstr(readme, "## Usage\n\n```\n");
	cr_assert(block, "README.md: no usage block");
	block += strlen("## Usage\n\n```\n");
	char *end = strstr(block, "\n```");
	cr_assert(end);
	*end = '\0';
	bool seen[MAX_CMDS] = {false};
	for (char *line = block; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "pgrace ", 7) && strncmp(line, "pgrace --", 9)) {
			const char *p = line + 7;
			size_t k = strcspn(p, " ");
			bool found = false;
			for (size_t i = 0; i < n; i++) {
				if (strlen(cmds[i].name) != k || strncmp(p, cmds[i].name, k))
					continue;
				found = seen[i] = true;
				char want[256];
				snprintf(want, sizeof want, "pgrace %s%s%s", cmds[i].name,
					 *cmds[i].operands ? " " : "", cmds[i].operands);
				cr_expect(!strncmp(line, want, strlen(want)),
					  "README.md: \"%s\" does not start as --help's \"%s\"", line,
					  want);
			}
			cr_expect(found, "README.md: usage names \"%.*s\", which --help does not",
				  (int)k, p);
		}
		line = nl ? nl + 1 : NULL;
	}
	for (size_t i = 0; i < n; i++)
		cr_expect(seen[i], "README.md: usage lacks pgrace %s", cmds[i].name);
	free(readme);
}

/* README's layout section names every module of src/ (a line starting
 * "src/NAME.", "src/NAME.[ch]" or the file's own name), and nothing that is
 * not there. */
Test(usage, readme_layout_names_every_module)
{
	char *readme = slurp("README.md");
	char *head = strstr(readme, "## Layout\n");
	cr_assert(head, "README has no Layout section");
	char *end = strstr(head + 1, "\n## ");
	if (end)
		*end = '\0';
	DIR *d = opendir(PGRACE_SOURCE_DIR "/src");
	cr_assert(d, "cannot list src/");
	struct dirent *e;
	size_t seen = 0;
	while ((e = readdir(d)) != NULL) {
		const char *dot = strrchr(e->d_name, '.');
		if (e->d_name[0] == '.' || !dot)
			continue;
		char whole[300], mod[300];
		snprintf(whole, sizeof whole, "\nsrc/%s", e->d_name);
		snprintf(mod, sizeof mod, "\nsrc/%.*s.[ch]", (int)(dot - e->d_name), e->d_name);
		cr_expect(strstr(head, whole) || strstr(head, mod),
			  "README's layout does not name src/%s", e->d_name);
		seen++;
	}
	closedir(d);
	cr_expect_gt(seen, 40);
	/* and every src/ line names a file that exists */
	for (char *p = strstr(head, "\nsrc/"); p; p = strstr(p + 1, "\nsrc/")) {
		char name[128], path[512];
		if (sscanf(p + 1, "%127s", name) != 1)
			continue;
		char *br = strstr(name, ".[ch]");
		if (br)
			memcpy(br, ".c", 3);
		snprintf(path, sizeof path, "%s/%s", PGRACE_SOURCE_DIR, name);
		FILE *f = fopen(path, "r");
		if (!f && br) { /* a header-only module */
			memcpy(strstr(path, name) + (br - name), ".h", 3);
			f = fopen(path, "r");
		}
		cr_expect(f, "README's layout names %s, which does not exist", name);
		if (f)
			fclose(f);
	}
	free(readme);
}
