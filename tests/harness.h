/* harness.h: what the integration tests (tests/test_integration*.c) share.
 *
 * They run the real pgrace binary (posix_spawn, no shell) against a real
 * PostgreSQL named by the PG* environment, with stdout and stderr in files of
 * a scratch folder of the test's own (mkdtemp in TMPDIR, removed by
 * scratch_fini), then read back the JSON it wrote and ask the server through
 * libpq what the run left behind. Every wait is bounded; a helper that cannot
 * do its job fails the test with a Criterion assertion, so callers need no
 * error checks.
 *
 * Compiled into every test_integration* executable (tests/CMakeLists.txt),
 * which define PGRACE_BIN, PGRACE_SOURCE_DIR and PGRACE_TEST_DATA. The
 * scratch folder and the CPU hogs are per process: Criterion runs each test
 * in a process of its own, so tests never share them. */
#ifndef PGRACE_TEST_HARNESS_H
#define PGRACE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

/* The seed scenario (ticket 025). */
#define SEED PGRACE_SOURCE_DIR "/scenarios/membership-unique.yaml"

/* How long one pgrace process may take in run_pgrace() before the test kills it. */
#define RUN_LIMIT_S 100

/* A NULL-terminated argument list literal: ARGS("run", SEED, "-q"). */
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- scratch folder ---- */

/* The current test's scratch folder ("" outside a test). */
extern char scratch[512];

/* Makes the scratch folder (a TestSuite .init). */
void scratch_init(void);
/* Stops the CPU hogs, removes the scratch folder and its plain files (a TestSuite .fini). */
void scratch_fini(void);
/* scratch/name, in a static ring of 16 buffers (enough for one test's paths). */
const char *spath(const char *name);

/* ---- files ---- */

/* Whole file, NUL-terminated, malloc'd, length in *len_out when not NULL; NULL when unreadable. */
char *read_file(const char *path, size_t *len_out);
/* Writes len bytes of buf to path, or fails the test. */
void write_file(const char *path, const char *buf, size_t len);
/* s with every from replaced by to (malloc'd); fails the test when from does not occur. */
char *replace_all(const char *s, const char *from, const char *to);
/* Writes file base with from replaced by to into scratch/name; returns the path. */
const char *variant_of(const char *base, const char *name, const char *from, const char *to);
/* variant_of(SEED, name, from, to). */
const char *seed_variant(const char *name, const char *from, const char *to);
/* 1-based line of the first needle in s, 0 when absent. */
int line_of(const char *s, const char *needle);

/* ---- running pgrace (or any program) ---- */

/* A child's exit code and captured output. */
struct proc {
	int code;  /* exit status; 1000 + signal when killed by one */
	char *out; /* stdout, NUL-terminated (after wait_pgrace) */
	char *err; /* stderr */
	char out_path[1024], err_path[1024];
};

/* Frees the captured output. */
void proc_free(struct proc *p);
/* The binary under test: PGRACE_TEST_BIN when set (e.g. a TSan build), else PGRACE_BIN. */
const char *pgrace_bin(void);
/* Starts argv[0] (a path, no PATH search) with argv, stdin /dev/null, stdout and stderr into scratch files, the environment inherited, signals at their defaults; returns the pid. */
pid_t spawn_cmd(const char *const *argv, struct proc *p);
/* spawn_cmd of pgrace_bin() with args (NULL-terminated, without argv[0]). */
pid_t spawn_pgrace(const char *const *args, struct proc *p);
/* Waits for pid (SIGKILL past limit_s, which fails the test), reads its output into p; returns the exit code. */
int wait_pgrace(pid_t pid, struct proc *p, double limit_s);
/* wait_pgrace, but past limit_s SIGTERM first (pgrace cancels its queries, drops its schema), SIGKILL up to grace_s later. */
int wait_pgrace_term(pid_t pid, struct proc *p, double limit_s, double grace_s);
/* spawn_pgrace + wait_pgrace with RUN_LIMIT_S; returns the exit code. */
int run_pgrace(const char *const *args, struct proc *p);
/* Sleeps ms milliseconds (restarted after EINTR). */
void sleep_ms(long ms);
/* Monotonic clock, in seconds. */
double now_s(void);
/* Starts n CPU-spinning processes (each ends itself after 2 min); scratch_fini stops them. */
void start_cpu_load(int n);
/* Kills and reaps the CPU hogs of start_cpu_load. */
void stop_cpu_load(void);
/* pid is a running process (a zombie, not ours to reap, counts as gone). */
bool pid_running(pid_t pid);
/* "exit N", stdout and stderr of a waited-for p, for assertion messages (a static buffer). */
const char *proc_said(const struct proc *p);

/* ---- JSON ---- */

/* The JSON object in path, or fails the test. */
json_t *load_json(const char *path);
/* o[key], or fails the test. */
json_t *jget(json_t *o, const char *key);
/* o[key] as an integer, or fails the test. */
long long jint(json_t *o, const char *key);
/* o[a][b] as an integer. */
long long jint2(json_t *o, const char *a, const char *b);
/* o[key] as an integer, 0 when absent (outcome tables omit zero counts). */
long long jcount(json_t *o, const char *key);
/* o[key] as a string, or fails the test. */
const char *jstr(json_t *o, const char *key);
/* o[key] as a boolean, or fails the test. */
bool jbool(json_t *o, const char *key);
/* The phase named name in doc["phases"], or fails the test. */
json_t *phase(json_t *doc, const char *name);
/* phase(), but NULL when no phase has that name (still fails the test on a missing list or a nameless phase). */
json_t *find_phase(json_t *doc, const char *name);

/* ---- libpq ---- */

/* A connection to the PG* server (NOTICEs silenced), or fails the test. */
PGconn *pg_open(void);
/* A connection with conninfo (NOTICEs silenced), or fails the test. */
PGconn *pg_open_dsn(const char *conninfo);
/* Runs sql (no result rows wanted), or fails the test. */
void exec_ok(PGconn *c, const char *sql);
/* A database of the test's own, PREFIX_WHAT_PID, made afresh (an earlier one
 * of that name dropped WITH (FORCE)), so counting schemas or sandboxes in it
 * counts only this test's runs; its conninfo into dsn. The name returned is
 * static: one such database at a time per test. */
const char *test_own_database(const char *prefix, const char *what, char *dsn, size_t len);
/* Drops the database name WITH (FORCE), or fails the test. */
void test_drop_database(const char *name);
/* First column of the first row of sql with params, malloc'd ("" for NULL, NULL without rows); fails the test on an error. */
char *pg_value(PGconn *c, const char *sql, int nparams, const char *const *params);
/* pg_value of sql every 10 ms until it is neither NULL, "" nor "0", at most
 * limit_s (then fails the test saying what did not happen); malloc'd. */
char *pg_poll_value(PGconn *c, double limit_s, const char *what, const char *sql, int nparams,
		    const char *const *params);
/* Number of schemas named pattern (like: LIKE pattern) on the PG* server. */
long schemas_where(const char *pattern, bool like);
/* schemas_where(pattern, true). */
long schemas_like(const char *pattern);
/* The run's schema (JSON "schema") is pgrace_... and no longer exists on the PG* server. */
void assert_schema_dropped(json_t *doc);

/* ---- output checks ---- */

/* haystack (may be NULL) contains needle. */
bool contains(const char *haystack, const char *needle);
/* text has "path:<digits>:". */
bool names_file_line(const char *text, const char *path);
/* text has "path:line:" for that very line. */
bool names_exact_line(const char *text, const char *path, int line);
/* Occurrences of needle in text. */
int count_of(const char *text, const char *needle);

#endif
