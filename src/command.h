/* command.h: running a scenario's external command (a migration tool such
 * as `alembic upgrade 005`) as a child process, with a deadline.
 *
 * A command line is split into arguments without a shell (command_split:
 * whitespace separates; single quotes keep everything literally; double
 * quotes keep everything but \" and \\; a backslash outside quotes escapes
 * the next character), or run as `/bin/sh -c LINE` when the scenario asks
 * for a shell. The child gets stdin from /dev/null, its own process group,
 * default signal dispositions, SIGKILL when pgrace dies (child.h), and the
 * environment given; its stdout and stderr are captured through pipes,
 * keeping the last COMMAND_TAIL bytes of each. Past the deadline, or when
 * the stop flag (db_stop_requested) rises, its process group is sent
 * SIGTERM, then SIGKILL two seconds later, and it is reaped; once the child
 * itself has exited, whatever it left running is killed too: in its group,
 * and out of it (setsid, a double fork: pgrace is their subreaper).
 * command_run never returns with a process of the command's left (but one
 * stuck in the kernel for two seconds more). */
#ifndef PGRACE_COMMAND_H
#define PGRACE_COMMAND_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMAND_TAIL 4096
#define COMMAND_WATCH_MAX 256 /* longest text command_run_watch looks for, NUL included */

/* How a command ended. */
enum command_status {
	CMD_OK,          /* exit status 0 */
	CMD_FAILED,      /* a non-zero exit status, or killed by a signal of its own */
	CMD_TIMEOUT,     /* the deadline passed: killed */
	CMD_INTERRUPTED, /* the stop flag rose: killed */
	CMD_SPAWN_ERROR, /* it could not be started (no such program, bad folder) */
};

/* A command as a scenario gives it. */
struct command {
	char *line;     /* as written */
	char **argv;    /* NULL-terminated: the split line, or /bin/sh -c line */
	bool shell;
	char *cwd;      /* folder it runs in: relative ones are taken from the scenario's folder */
	int timeout_ms; /* its deadline */
};

/* What a finished command left. */
struct command_result {
	enum command_status status;
	int exit_code;       /* its exit status, 128 + signal when a signal ended it */
	int signal;          /* the signal that ended it, 0 when it exited */
	char out[COMMAND_TAIL + 1]; /* the last bytes of stdout, NUL-terminated */
	char err[COMMAND_TAIL + 1]; /* the last bytes of stderr */
	bool out_cut, err_cut;      /* earlier bytes were dropped */
	char why[256];       /* CMD_SPAWN_ERROR: what failed; CMD_TIMEOUT: after how long */
	bool watched;        /* command_run_watch: its whole stdout or stderr held the text */
};

/* How r's command ended, for a message: "was killed by SIGSEGV", or
 * "exited with status 3" (a shell's 128 + N, a command under it killed by
 * signal N, adds "(a command killed by SIGSEGV)"). Returns buf. */
const char *command_end_text(const struct command_result *r, bool shell, char *buf, size_t len);
/* Splits line into a NULL-terminated argv (malloc'd, free with
 * command_argv_free); false with err on an unclosed quote or an empty line. */
bool command_split(const char *line, char ***argv, char *err, size_t errlen);
/* Frees an argv of command_split (NULL is fine). */
void command_argv_free(char **argv);
/* Frees what a struct command holds (not the struct). */
void command_free(struct command *c);
/* Deep copy of src into dst. */
void command_copy(struct command *dst, const struct command *src);

/* Runs argv[0] (searched in PATH when it has no slash) in cwd (NULL: here)
 * with environment envp until deadline_us (clock_us() time); fills *r.
 * From the main thread only (the child's death signal is tied to it). */
void command_run(char *const *argv, const char *cwd, char *const *envp, uint64_t deadline_us,
		 struct command_result *r);
/* command_run, also looking for watch (NULL or shorter than
 * COMMAND_WATCH_MAX) in everything the child writes to stdout or stderr,
 * not only the tails: r->watched. */
void command_run_watch(char *const *argv, const char *cwd, char *const *envp,
		       uint64_t deadline_us, const char *watch, struct command_result *r);

/* A NULL-terminated environment (malloc'd, free with command_argv_free):
 * base with every libpq variable (PG*) removed, then PGHOST, PGPORT, PGUSER,
 * PGDATABASE and PGSSLMODE set from conn, PGPASSFILE (when it has a
 * password: secret_passfile; never PGPASSWORD),
 * PGOPTIONS conn's own options (its DSN's, else the user's PGOPTIONS)
 * followed by `-c search_path=schema`,
 * and DATABASE_URL the same connection as a postgresql:// URI without a
 * password, PGOPTIONS's options in its options parameter. */
char **command_env(char *const *base, PGconn *conn, const char *schema);
/* The URI for a connection: postgresql://user[:password]@host:port/dbname,
 * every part percent-encoded; a socket folder host goes in the query
 * (postgresql://user@/dbname?host=%2Ftmp&port=5432), as libpq and SQLAlchemy
 * both read it. password and options may be NULL or "". */
void command_url(char *buf, size_t len, const char *host, const char *port, const char *user,
		 const char *password, const char *dbname, const char *options);
/* The SQLSTATE a failed command's output names, into out ("" when none):
 * the earliest word, on word boundaries, that is "SQLSTATE XXXXX" (also
 * "SQLSTATE: XXXXX", "SQLSTATE[XXXXX]"), psql's "ERROR:  XXXXX:", or the
 * condition name of any SQLSTATE PostgreSQL defines (outcome_sqlstates) as
 * PostgreSQL (unique_violation), psycopg (UniqueViolation) or asyncpg
 * (UniqueViolationError) spells it. Codes of classes 00, 01 and 02 (success,
 * warning, no data) are not failures and are passed over. */
void command_sqlstate(const char *output, char out[6]);
/* The last n lines of text (a pointer into it). */
const char *command_last_lines(const char *text, int n);

#endif
