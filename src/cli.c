/* cli.c: what pgrace's subcommands share: reading --dsn and numbers, --help
 * and bad options, the signal thread, loading scenarios, writing result
 * files safely.
 *
 * Part of the pgrace executable only (main.c and cli_*.c call it). Calls
 * secret.h (passwords hidden from argv), db.h (the stop request), datadir.h
 * and scenario.h (loading), outfile.h (result files written whole) and
 * text.h (every message escaped). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "datadir.h"
#include "db.h"
#include "exitcode.h"
#include "outfile.h"
#include "secret.h"
#include "stats.h"
#include "text.h"

/* Keeps a copy of a --dsn value in *copy (and *dsn), then hides its password from the
 * process title; false when it does not parse (secret_take_dsn). */
bool cli_take_dsn(char *arg, char **copy, const char **dsn)
{
	if (!secret_take_dsn(arg, copy))
		return false;
	*dsn = *copy;
	return true;
}

bool cli_parse_number(const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

/* Signals this close after the first are the same request. */
#define SIGNAL_COALESCE_US (2u * 1000000u)

static void say(const char *msg)
{
	if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
		/* nothing to do */
	}
}

/* The signal thread. The first SIGINT or SIGTERM raises the stop flag:
 * queries are cancelled, the schema dropped and the results written, each
 * bounded by its own deadline. Signals that arrive together are one request
 * (GNU timeout signals pgrace, then its whole process group: two SIGTERMs at
 * once). Only a repeated interactive request, a SIGINT (Ctrl-C) that comes
 * after cleanup had SIGNAL_COALESCE_US to work, quits at once; a later
 * SIGTERM is told that cleanup is under way. */
static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	uint64_t first_us = 0;
	for (;;) {
		int sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		uint64_t now = clock_us();
		if (!first_us) {
			first_us = now;
			db_request_stop(sig);
			say("\npgrace: stopping: cancelling queries, dropping the schema "
			    "(Ctrl-C again to quit at once)\n");
			continue;
		}
		if (now - first_us < SIGNAL_COALESCE_US)
			continue; /* the same request, delivered twice */
		if (sig == SIGINT) {
			secret_cleanup(); /* _exit runs no atexit: the passfile goes here */
			_exit(db_stop_requested() == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT);
		}
		say("pgrace: still cleaning up (every step has a deadline); SIGKILL skips the cleanup\n");
	}
	return NULL;
}

void cli_start_signal_thread(void)
{
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		abort();
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, signal_main, &set))
		abort();
	pthread_attr_destroy(&attr);
}

/* Loads every file; returns how many were bad (each reported). */
int cli_load_all(char **paths, int n, struct scenario *out)
{
	char err[1024];
	int bad = 0;
	for (int i = 0; i < n; i++) {
		char found[4096]; /* a bare NAME: ./scenarios, then the installed ones */
		const char *path = datadir_scenario_path(paths[i], found, sizeof found, PGRACE_SCENARIO_DIR);
		if (!scenario_load(path, &out[i], err, sizeof err)) {
			text_line(stderr, "pgrace: %s", err);
			bad++;
		}
	}
	return bad;
}
/* Writes the results with writer into path; false (message printed) on failure. */
bool cli_write_results(const char *path, int (*writer)(FILE *, const struct run_result *, size_t),
			  const struct run_result *runs, size_t n)
{
	struct outfile of;
	if (!outfile_open(&of, path)) {
		text_line(stderr, "pgrace: cannot write %s: %s", path, strerror(errno));
		return false;
	}
	int rc = writer(of.f, runs, n);
	int e = errno;
	if (!outfile_close(&of, rc == 0)) {
		text_line(stderr, "pgrace: cannot write %s: %s", path, strerror(rc ? e : errno));
		return false;
	}
	return true;
}

/* True when a and b are one file (by device and inode; false when b does not exist). */
bool cli_same_file(const struct stat *a, const char *b)
{
	struct stat st;
	return stat(b, &st) == 0 && st.st_dev == a->st_dev && st.st_ino == a->st_ino;
}

/* The result files may be written without destroying an input: none is
 * a scenario file being read (whatever path names it), and no two are one
 * file. outs[i] (NULL: not asked for) was given as flags[i]. False with the
 * message printed. */
bool cli_outputs_apart(const char *const outs[], const char *const flags[], int n_outs,
			  char **inputs, int n)
{
	for (int o = 0; o < n_outs; o++) {
		struct stat st;
		if (!outs[o])
			continue;
		for (int p = 0; p < o; p++)
			if (outs[p] && !strcmp(outs[p], outs[o])) {
				cli_usage_error("%s and %s both name %s", flags[p], flags[o], outs[o]);
				return false;
			}
		if (stat(outs[o], &st) != 0)
			continue; /* a new file overwrites nothing */
		for (int i = 0; i < n; i++)
			if (cli_same_file(&st, inputs[i])) {
				cli_usage_error("%s %s is the scenario file %s: refusing to overwrite it",
					    flags[o], outs[o], inputs[i]);
				return false;
			}
		for (int p = 0; p < o; p++)
			if (outs[p] && cli_same_file(&st, outs[p])) {
				cli_usage_error("%s %s and %s %s are one file", flags[p], outs[p], flags[o],
					    outs[o]);
				return false;
			}
	}
	return true;
}

int cli_option_help(char **argv, const char *cmd)
{
	if (optopt == 0 && !strcmp(argv[optind - 1], "--help")) {
		cli_usage_print(stdout);
		return EXIT_PASS;
	}
	return cli_usage_error("bad option for %s", cmd);
}
