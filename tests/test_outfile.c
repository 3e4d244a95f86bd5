/* test_outfile.c: output files are written whole through a fresh temporary
 * (src/outfile.c), in a folder of the test's own. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

static char dir[256];

static void dir_init(void)
{
	snprintf(dir, sizeof dir, "%s/pgrace-outfile-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
}

static void dir_fini(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[600];
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

TestSuite(outfile, .init = dir_init, .fini = dir_fini, .timeout = 30);

static const char *in_dir(const char *name)
{
	static char bufs[4][600];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, 600, "%s/%s", dir, name);
	return b;
}

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Entries in the folder (a temporary left behind would show). */
static int entries(void)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static void write_text(const char *path, const char *text, bool ok, bool want)
{
	struct outfile o;
	cr_assert(outfile_open(&o, path));
	fputs(text, o.f);
	cr_expect_eq(outfile_close(&o, ok), want);
}

Test(outfile, writes_whole_and_replaces)
{
	const char *p = in_dir("r.json");
	write_text(p, "first\n", true, true);
	cr_expect_str_eq(slurp(p), "first\n");
	write_text(p, "second\n", true, true);
	cr_expect_str_eq(slurp(p), "second\n");
	cr_expect_eq(entries(), 1, "a temporary was left");
}

/* A failed write (ok false) leaves the target as it was and no temporary. */
Test(outfile, failed_write_leaves_the_target)
{
	const char *p = in_dir("r.json");
	write_text(p, "whole\n", true, true);
	write_text(p, "part", false, false);
	cr_expect_str_eq(slurp(p), "whole\n");
	cr_expect_eq(entries(), 1, "a temporary was left");
}

/* A symlink planted at the target is replaced, its target never written. */
Test(outfile, planted_symlink_is_not_followed)
{
	const char *victim = in_dir("victim"), *p = in_dir("r.json");
	write_text(victim, "precious\n", true, true);
	cr_assert_eq(symlink(victim, p), 0);
	write_text(p, "result\n", true, true);
	cr_expect_str_eq(slurp(victim), "precious\n");
	cr_expect_str_eq(slurp(p), "result\n");
	struct stat st;
	cr_expect(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
}

/* A device is written in place (nothing to rename over); a folder that does
 * not exist is an error with errno, nothing created. */
Test(outfile, device_and_missing_folder)
{
	write_text("/dev/null", "gone\n", true, true);
	struct outfile o;
	cr_expect(!outfile_open(&o, in_dir("no/such/r.json")));
	cr_expect_eq(entries(), 0);
}
