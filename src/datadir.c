/* datadir.c: the installed scenarios, found from the binary's own path (see
 * datadir.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "datadir.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *datadir_scenarios(char *buf, size_t len, const char *fallback)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0'; /* the bin folder */
			snprintf(buf, len, "%s/../share/pgrace/scenarios", exe);
			char real[PATH_MAX];
			if (is_dir(buf) && realpath(buf, real)) {
				snprintf(buf, len, "%s", real);
				return buf;
			}
		}
	}
	snprintf(buf, len, "%s", fallback);
	return buf;
}

const char *datadir_scenario_path(const char *arg, char *buf, size_t len, const char *fallback)
{
	if (is_file(arg) || strchr(arg, '/') || !*arg)
		return arg;
	char dir[PATH_MAX];
	const char *dirs[2] = {"scenarios", datadir_scenarios(dir, sizeof dir, fallback)};
	for (int d = 0; d < 2; d++)
		for (int ext = 0; ext < 2; ext++) {
			snprintf(buf, len, "%s/%s%s", dirs[d], arg, ext ? ".yaml" : "");
			if (is_file(buf))
				return buf;
		}
	return arg;
}
