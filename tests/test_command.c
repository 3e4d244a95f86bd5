/* test_command.c: the command runner: argv split, URI, SQLSTATE from a
 * tool's output, and real child processes (exit status, output tails, the
 * deadline killing a whole process group, no process left behind). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "command.h"
#include "harness.h"
#include "stats.h"

/* ---- split ---- */

static const struct {
	const char *line;
	const char *want[6]; /* NULL-terminated */
} splits[] = {
	{"alembic upgrade 005", {"alembic", "upgrade", "005", NULL}},
	{"  alembic\t upgrade\n head  ", {"alembic", "upgrade", "head", NULL}},
	{"psql -c 'SELECT 1, 2'", {"psql", "-c", "SELECT 1, 2", NULL}},
	{"echo \"a \\\"quoted\\\" word\"", {"echo", "a \"quoted\" word", NULL}},
	{"echo \"back\\\\slash\" 'no \\escape'", {"echo", "back\\slash", "no \\escape", NULL}},
	{"echo a\\ b", {"echo", "a b", NULL}},
	{"echo ab'cd'\"ef\"", {"echo", "abcdef", NULL}},
	{"echo '' x", {"echo", "", "x", NULL}},
};

Test(command, split_table)
{
	for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
		char **argv = NULL, err[256];
		cr_assert(command_split(splits[i].line, &argv, err, sizeof err), "%s: %s",
			  splits[i].line, err);
		size_t n = 0;
		for (; splits[i].want[n]; n++) {
			cr_assert_not_null(argv[n], "%s: argument %zu missing", splits[i].line, n);
			cr_expect_str_eq(argv[n], splits[i].want[n], "%s: argument %zu", splits[i].line, n);
		}
		cr_expect_null(argv[n], "%s: more arguments than expected", splits[i].line);
		command_argv_free(argv);
	}
}

Test(command, split_errors)
{
	static const char *const bad[] = {"", "   ", "echo 'open", "echo \"open", "echo \"a\\\""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char **argv = NULL, err[256] = "";
		cr_expect_not(command_split(bad[i], &argv, err, sizeof err), "%s", bad[i]);
		cr_expect(err[0], "no message for \"%s\"", bad[i]);
	}
}

/* ---- URI ---- */

Test(command, url_tcp_and_socket)
{
	char buf[512];
	command_url(buf, sizeof buf, "db.internal", "6432", "app", "p@ss:w/rd", "my db", NULL);
	cr_expect_str_eq(buf, "postgresql://app:p%40ss%3Aw%2Frd@db.internal:6432/my%20db");
	command_url(buf, sizeof buf, "/tmp/pg dir", "5432", "postgres", NULL, "postgres", NULL);
	cr_expect_str_eq(buf, "postgresql://postgres@/postgres?host=/tmp/pg%20dir&port=5432");
	command_url(buf, sizeof buf, "::1", "5432", "u", "", "d", "-c search_path=s");
	cr_expect_str_eq(buf, "postgresql://u@[::1]:5432/d?options=-c%20search_path%3Ds");
}

/* ---- SQLSTATE in output ---- */

Test(command, sqlstate_from_output)
{
	static const struct {
		const char *output, *want;
	} cases[] = {
		{"sqlalchemy.exc.IntegrityError: (psycopg2.errors.UniqueViolation) could not create "
		 "unique index \"uq\"\nDETAIL:  Key (user_id, tenant_id)=(1, 1) is duplicated.",
		 "23505"},
		{"psql:x.sql:1: ERROR:  23505: duplicate key value violates unique constraint", "23505"},
		{"error: SQLSTATE 40001 could not serialize", "40001"},
		{"ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)", "55P03"},
		{"ERROR:  deadlock_detected", "40P01"},
		{"psycopg2.errors.ForeignKeyViolation: insert or update", "23503"},
		{"Traceback: KeyError: 'x'", ""},
		{"ERROR:  relation \"t\" does not exist", ""},
		{"SQLSTATE 2350", ""},
		/* The earliest name wins, not the one a fixed table lists first. */
		{"psycopg2.errors.UndefinedTable: relation \"t\" does not exist\n"
		 "(an earlier run logged UniqueViolation)", "42P01"},
		{"psql:x.sql:1: ERROR:  42P01: relation \"t\" does not exist\nhint: unique_violation",
		 "42P01"},
		{"deadlock_detected, then SQLSTATE 23505", "40P01"},
		/* On word boundaries: a name inside a longer word is no name. */
		{"ERROR:  relation \"unique_violation_log\" does not exist", ""},
		{"ERROR:  relation \"unique_violation_log\" does not exist\nundefined_table", "42P01"},
		{"NotUniqueViolation raised", ""},
		{"SQLSTATE 23505X", ""},
		/* Every condition of the generated table, PostgreSQL's, psycopg's
		 * and asyncpg's spelling. */
		{"ERROR: invalid_regular_expression", "2201B"},
		{"psycopg.errors.ExclusionViolation: conflicting key", "23P01"},
		{"asyncpg.exceptions.UniqueViolationError: duplicate key", "23505"},
		{"PHP: SQLSTATE[23503]: Foreign key violation", "23503"},
		/* Warnings and successes are not the failure: skipped. */
		{"warning: something\nstring_data_right_truncation", "22001"},
		{"WARNING: SQLSTATE 01000 then SQLSTATE 40001", "40001"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char got[6];
		command_sqlstate(cases[i].output, got);
		cr_expect_str_eq(got, cases[i].want, "%s", cases[i].output);
	}
}

Test(command, last_lines)
{
	cr_expect_str_eq(command_last_lines("a\nb\nc\nd\n", 2), "c\nd\n");
	cr_expect_str_eq(command_last_lines("only", 3), "only");
	cr_expect_str_eq(command_last_lines("", 3), "");
	cr_expect_str_eq(command_last_lines("a\nb\n\n\n", 1), "b\n\n\n");
}

/* ---- real children ---- */

static uint64_t in_ms(int ms)
{
	return clock_us() + (uint64_t)ms * 1000u;
}

static void sh(const char *script, const char *cwd, char *const *envp, int deadline_ms,
	       struct command_result *r)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	command_run(argv, cwd, envp, in_ms(deadline_ms), r);
}

static char *const plain_env[] = {"PATH=/usr/bin:/bin", "ONLY_THIS=yes", NULL};

Test(command, exit_status_and_output)
{
	struct command_result r;
	sh("echo out; echo err1 >&2; echo err2 >&2; exit 3", NULL, plain_env, 10000, &r);
	cr_expect_eq(r.status, CMD_FAILED);
	cr_expect_eq(r.exit_code, 3);
	cr_expect_str_eq(r.out, "out\n");
	cr_expect_str_eq(r.err, "err1\nerr2\n");

	sh("test \"$ONLY_THIS\" = yes && test -z \"$HOME\"", NULL, plain_env, 10000, &r);
	cr_expect_eq(r.status, CMD_OK, "the child sees exactly the environment given");
	cr_expect_eq(r.exit_code, 0);
}

Test(command, runs_in_cwd)
{
	struct command_result r;
	sh("pwd", "/tmp", plain_env, 10000, &r);
	cr_expect_eq(r.status, CMD_OK);
	cr_expect_str_eq(r.out, "/tmp\n");
	char *argv[] = {"true", NULL};
	command_run(argv, "/nonexistent-folder", plain_env, in_ms(10000), &r);
	cr_expect_eq(r.status, CMD_SPAWN_ERROR);
	cr_expect(strstr(r.why, "/nonexistent-folder"), "%s", r.why);
}

Test(command, missing_program)
{
	struct command_result r;
	char *argv[] = {"pgrace-no-such-program", "x", NULL};
	command_run(argv, NULL, plain_env, in_ms(10000), &r);
	cr_expect_eq(r.status, CMD_SPAWN_ERROR);
	cr_expect(strstr(r.why, "pgrace-no-such-program") && strstr(r.why, "No such file"), "%s",
		  r.why);
}

Test(command, output_keeps_the_tail)
{
	struct command_result r;
	/* About 110 KB on stderr, then a last line. */
	sh("i=0; while [ $i -lt 10000 ]; do echo line-$i-padding >&2; i=$((i+1)); done; "
	   "echo THE-END >&2; exit 1",
	   NULL, plain_env, 60000, &r);
	cr_expect_eq(r.status, CMD_FAILED);
	cr_expect(r.err_cut);
	cr_expect_leq(strlen(r.err), COMMAND_TAIL);
	cr_expect(strstr(r.err, "line-9999-padding\nTHE-END\n"), "tail: %s",
		  r.err + strlen(r.err) - 40);
	cr_expect_not(r.out_cut);
}

/* The watched text is found in the whole output, not only the tail: at
 * the very start of 110 KB (the tail has long dropped it), split across a
 * write boundary, and not found when absent. Before: an app's exception
 * name on the first line of a long traceback was missed. */
Test(command, watch_sees_the_whole_output)
{
	struct command_result r;
	char *argv[] = {"/bin/sh", "-c",
			"echo 'raise ActiveRecord::RecordNotUnique' >&2; i=0; "
			"while [ $i -lt 10000 ]; do echo line-$i-padding >&2; i=$((i+1)); done; exit 1",
			NULL};
	command_run_watch(argv, NULL, plain_env, in_ms(60000), "ActiveRecord::RecordNotUnique", &r);
	cr_expect(r.err_cut);
	cr_expect_null(strstr(r.err, "RecordNotUnique"), "the tail still holds it: not a test");
	cr_expect(r.watched, "the first line's text was missed");
	char *split[] = {"/bin/sh", "-c", "printf Integrity; sleep 0.2; printf Error; exit 0", NULL};
	command_run_watch(split, NULL, plain_env, in_ms(10000), "IntegrityError", &r);
	cr_expect(r.watched, "a text split across two writes was missed");
	command_run_watch(split, NULL, plain_env, in_ms(10000), "IntegrityErrors", &r);
	cr_expect_not(r.watched);
	command_run(split, NULL, plain_env, in_ms(10000), &r);
	cr_expect_not(r.watched, "nothing watched, nothing seen");
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

/* A hung command and the child it started are killed at the deadline: the
 * shell ignores SIGTERM, so the SIGKILL that follows is needed too. */
Test(command, deadline_kills_the_group, .timeout = 60)
{
	char dir[] = "/tmp/pgrace-command-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char script[1024], pidfile[600], kidfile[600];
	snprintf(pidfile, sizeof pidfile, "%s/sh.pid", dir);
	snprintf(kidfile, sizeof kidfile, "%s/kid.pid", dir);
	snprintf(script, sizeof script,
		 "trap '' TERM; echo $$ > %s; sleep 300 & echo $! > %s; echo started; "
		 "while :; do sleep 1; done",
		 pidfile, kidfile);
	struct command_result r;
	uint64_t t0 = clock_us();
	sh(script, NULL, plain_env, 700, &r);
	double took = (double)(clock_us() - t0) / 1e6;
	cr_expect_eq(r.status, CMD_TIMEOUT);
	cr_expect(strstr(r.why, "killed"), "%s", r.why);
	cr_expect_str_eq(r.out, "started\n");
	cr_expect_lt(took, 30.0);
	pid_t shell = read_pid(pidfile), kid = read_pid(kidfile);
	cr_assert(shell > 0 && kid > 0);
	cr_expect_not(pid_running(shell), "the command (pid %d) outlived its deadline", (int)shell);
	/* The grandchild is reparented and reaped by init: allow it a moment. */
	for (int i = 0; i < 100 && pid_running(kid); i++)
		nap_ms(20);
	cr_expect_not(pid_running(kid), "the command's child (pid %d) was left behind", (int)kid);
	unlink(pidfile);
	unlink(kidfile);
	rmdir(dir);
}

/* A command that exits but leaves a child running in the background: the
 * child goes too, and the run does not wait for it to close the pipes. */
Test(command, leftover_child_is_killed, .timeout = 60)
{
	char dir[] = "/tmp/pgrace-command-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char script[1024], kidfile[600];
	snprintf(kidfile, sizeof kidfile, "%s/kid.pid", dir);
	snprintf(script, sizeof script, "sleep 300 & echo $! > %s; exit 0", kidfile);
	struct command_result r;
	uint64_t t0 = clock_us();
	sh(script, NULL, plain_env, 60000, &r);
	cr_expect_eq(r.status, CMD_OK);
	cr_expect_lt((double)(clock_us() - t0) / 1e6, 30.0);
	pid_t kid = read_pid(kidfile);
	cr_assert(kid > 0);
	for (int i = 0; i < 100 && pid_running(kid); i++)
		nap_ms(20);
	cr_expect_not(pid_running(kid), "the command's child (pid %d) was left behind", (int)kid);
	unlink(kidfile);
	rmdir(dir);
}
