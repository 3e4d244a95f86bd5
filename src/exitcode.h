/* exitcode.h: the exit codes as one table, the source every copy follows.
 *
 * --help prints its "Exit status" lines from it; tests/test_exitcode.c
 * checks that the enum in pgrace.h, README's table, the man page's EXIT
 * STATUS and docs/ci.md's table name exactly these codes. */
#ifndef PGRACE_EXITCODE_H
#define PGRACE_EXITCODE_H

#include <stddef.h>
#include <stdio.h>

struct exit_code_def {
	int code;            /* enum pgrace_exit */
	const char *name;    /* the enumerator: "EXIT_PASS" */
	const char *meaning; /* one line for --help */
};

extern const struct exit_code_def exit_codes[];
extern const size_t n_exit_codes;

/* Writes --help's "Exit status:" block from the table. */
void exitcode_print(FILE *out);

#endif
