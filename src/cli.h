/* cli.h: pgrace's subcommands and what they share (main.c, cli*.c).
 *
 * Only the pgrace executable includes it: main.c dispatches to the handlers
 * from its subcommands table; the handlers call the helpers below. Every
 * handler takes the subcommand's argv (argv[0] is its name) and returns the
 * process's exit code (exitcode.h). */
#ifndef PGRACE_CLI_H
#define PGRACE_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "run.h"
#include "scenario.h"

/* pgrace run: races the scenarios' flows, judges them, writes the results (cli_run.c). */
int cli_run(int argc, char **argv);
/* pgrace spec: an interleave phase as an isolation-tester spec (cli_spec.c). */
int cli_spec(int argc, char **argv);
/* pgrace check: validates scenario files, no database (cli_tools.c). */
int cli_check(int argc, char **argv);
/* pgrace list: names and describes the scenarios of a folder (cli_tools.c). */
int cli_list(int argc, char **argv);
/* pgrace show: prints one part's SQL of a scenario (cli_tools.c). */
int cli_show(int argc, char **argv);
/* pgrace percentiles: p50 p90 p99 max count of microseconds on stdin (cli_tools.c). */
int cli_percentiles(int argc, char **argv);
/* pgrace report: one HTML page of a result document (cli_tools.c). */
int cli_report(int argc, char **argv);
/* pgrace clean: drops the sandbox schemas whose run is gone (cli_tools.c). */
int cli_clean(int argc, char **argv);

/* Prints "pgrace: MESSAGE" (escaped) and the --help hint on stderr; returns EXIT_USAGE (main.c). */
__attribute__((format(printf, 1, 2))) int cli_usage_error(const char *fmt, ...);
/* Prints --help: the subcommands table, the options, the exit codes (main.c). */
void cli_usage_print(FILE *out);

/* What getopt_long's '?' means for subcommand cmd: --help prints the usage (returns
 * EXIT_PASS), anything else is a usage error naming cmd (returns EXIT_USAGE). */
int cli_option_help(char **argv, const char *cmd);
/* Keeps a copy of a --dsn value in *copy (and *dsn), then hides its password from the
 * process title; false when it does not parse (secret_take_dsn). */
bool cli_take_dsn(char *arg, char **copy, const char **dsn);
/* s as a decimal integer in [lo, hi] into *out; false (out untouched) when it is not one. */
bool cli_parse_number(const char *s, long lo, long hi, int *out);
/* Blocks SIGINT and SIGTERM and starts the thread that turns them into a stop request. */
void cli_start_signal_thread(void);
/* Loads every file (a bare NAME from the scenario folders); returns how many were bad (each
 * reported). */
int cli_load_all(char **paths, int n, struct scenario *out);
/* Writes the results with writer into path, whole or not at all; false (message printed) on
 * failure. */
bool cli_write_results(const char *path, int (*writer)(FILE *, const struct run_result *, size_t),
		       const struct run_result *runs, size_t n);
/* True when a and b are one file (by device and inode; false when b does not exist). */
bool cli_same_file(const struct stat *a, const char *b);
/* True when no result file in outs (given as flags) is an input or another output;
 * false with the message printed. */
bool cli_outputs_apart(const char *const outs[], const char *const flags[], int n_outs, char **inputs,
		       int n);

#endif
