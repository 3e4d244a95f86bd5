/* datadir.h: where an installed pgrace keeps its scenarios. The binary
 * finds them relative to its own path (/proc/self/exe), at
 * ../share/pgrace/scenarios, so a package installed under any prefix (or
 * a tree unpacked anywhere) works from any directory; the prefix given at
 * build time is the fallback. */
#ifndef PGRACE_DATADIR_H
#define PGRACE_DATADIR_H

#include <stddef.h>

/* The installed scenarios' folder into buf: ../share/pgrace/scenarios from
 * the running binary when that is a folder, else fallback. Returns buf. */
const char *datadir_scenarios(char *buf, size_t len, const char *fallback);
/* The file a scenario argument names: arg itself when it is a file or has a
 * slash; else NAME (or NAME.yaml) in ./scenarios, then in the installed
 * folder (datadir_scenarios); else arg. Returns arg or buf. */
const char *datadir_scenario_path(const char *arg, char *buf, size_t len, const char *fallback);

#endif
