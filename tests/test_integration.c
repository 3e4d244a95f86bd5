/* test_integration.c: the real pgrace binary against a real PostgreSQL.
 *
 * Every test spawns PGRACE_BIN (posix_spawn, no shell), captures its exit
 * code, stdout and stderr into files of a scratch folder of its own
 * (mkdtemp, removed afterwards), and reads the JSON / JUnit it wrote. The
 * server comes from the PG* environment only (scripts/test.sh exports it);
 * the tests also talk to it through libpq (PQconnectdb("")) to check that
 * the sandbox schema is gone after a run.
 *
 * Scenario variants (a CHECK instead of the UNIQUE migration, a truncated
 * file, a schema syntax error, ...) are derived at run time from the seed
 * scenario, so they follow it when it changes; a test fails loudly when the
 * text it rewrites is no longer in the seed.
 *
 * Tests run in parallel (--jobs 2) against one server: nothing here assumes
 * it is alone; schema checks name the run's own schema (or its pid). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

extern char **environ;

#define SEED PGRACE_SOURCE_DIR "/scenarios/membership-unique.yaml"
#define INCONCLUSIVE PGRACE_TEST_DATA "/integration/inconclusive.yaml"
#define SECRET "s3cr3tpw"
#define UQ_NAME "uq_user_tenant_membership_user_tenant"

/* An unreachable server: nothing listens on TCP port 1. */
#define DEAD_DSN "host=127.0.0.1 port=1 connect_timeout=2"

/* How long one pgrace process may take before the test kills it. */
#define RUN_LIMIT_S 100

/* ---- scratch folder ---- */

static char scratch[512];
static int spawn_count;

static void scratch_init(void)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(scratch, sizeof scratch, "%s/pgrace-it-XXXXXX", tmp);
	cr_assert_not_null(mkdtemp(scratch), "mkdtemp(%s): %s", scratch, strerror(errno));
	spawn_count = 0;
}

/* CPU hogs started by a test (see start_cpu_load); fini ends them. */
static pid_t spinners[16];
static int n_spinners;

static void stop_cpu_load(void)
{
	for (int i = 0; i < n_spinners; i++) {
		kill(spinners[i], SIGKILL);
		waitpid(spinners[i], NULL, 0);
	}
	n_spinners = 0;
}

/* The scratch folder only ever holds plain files: unlink them, then it. */
static void scratch_fini(void)
{
	stop_cpu_load();
	if (!scratch[0])
		return;
	DIR *d = opendir(scratch);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char p[1024];
			snprintf(p, sizeof p, "%s/%s", scratch, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(scratch);
	scratch[0] = '\0';
}

/* scratch/name, in a static ring of buffers (enough for one test's paths). */
static const char *spath(const char *name)
{
	static char ring[16][1024];
	static int next;
	char *p = ring[next++ % 16];
	snprintf(p, sizeof ring[0], "%s/%s", scratch, name);
	return p;
}

/* ---- files ---- */

/* Whole file, NUL-terminated; NULL when it cannot be read. */
static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

static void write_file(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(buf, 1, len, f), len, "short write to %s", path);
	cr_assert_eq(fclose(f), 0, "cannot close %s", path);
}

/* s with every occurrence of from replaced by to (malloc'd); asserts that
 * from occurs at least once, so a changed seed fails the test, never
 * silently tests the seed itself. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), count = 0;
	for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
		count++;
	cr_assert_gt(count, 0, "\"%s\" is not in the seed scenario any more", from);
	size_t len = strlen(s) + count * tl + 1;
	char *out = malloc(len), *o = out;
	cr_assert_not_null(out);
	const char *p = s, *hit;
	while ((hit = strstr(p, from))) {
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	memcpy(o, p, strlen(p) + 1);
	return out;
}

/* Writes the seed with from replaced by to into scratch/name; returns the path. */
static const char *seed_variant(const char *name, const char *from, const char *to)
{
	char *seed = read_file(SEED, NULL);
	cr_assert_not_null(seed, "cannot read %s", SEED);
	char *v = replace_all(seed, from, to);
	const char *path = spath(name);
	write_file(path, v, strlen(v));
	free(v);
	free(seed);
	return path;
}

/* 1-based line of the first occurrence of needle in s, 0 when absent. */
static int line_of(const char *s, const char *needle)
{
	const char *hit = strstr(s, needle);
	if (!hit)
		return 0;
	int line = 1;
	for (const char *p = s; p < hit; p++)
		line += *p == '\n';
	return line;
}

/* ---- running pgrace ---- */

struct proc {
	int code;  /* exit status; 1000 + signal when killed by one */
	char *out; /* stdout, NUL-terminated */
	char *err; /* stderr */
	char out_path[1024], err_path[1024];
};

static void proc_free(struct proc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
}

/* The binary under test: PGRACE_TEST_BIN (e.g. a ThreadSanitizer build of
 * pgrace, which Criterion itself cannot run under), else the one built here. */
static const char *pgrace_bin(void)
{
	const char *bin = getenv("PGRACE_TEST_BIN");
	return bin && *bin ? bin : PGRACE_BIN;
}

/* Starts pgrace_bin() with args (NULL-terminated, without argv[0]), stdout and
 * stderr into scratch files, the environment (PG*) inherited, signals at
 * their defaults. Returns the pid. */
static pid_t spawn_pgrace(const char *const *args, struct proc *p)
{
	const char *argv[64];
	size_t n = 0;
	argv[n++] = pgrace_bin();
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1, "too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;

	memset(p, 0, sizeof *p);
	int k = spawn_count++;
	char name[32];
	snprintf(name, sizeof name, "stdout.%d", k);
	snprintf(p->out_path, sizeof p->out_path, "%s", spath(name));
	snprintf(name, sizeof name, "stderr.%d", k);
	snprintf(p->err_path, sizeof p->err_path, "%s", spath(name));

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
	cr_assert_eq(posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0), 0);
	cr_assert_eq(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, p->out_path,
						      O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	cr_assert_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, p->err_path,
						      O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	cr_assert_eq(posix_spawnattr_init(&attr), 0);
	sigemptyset(&none);
	sigfillset(&all);
	cr_assert_eq(posix_spawnattr_setsigmask(&attr, &none), 0);
	cr_assert_eq(posix_spawnattr_setsigdefault(&attr, &all), 0);
	cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF), 0);

	pid_t pid;
	int rc = posix_spawn(&pid, pgrace_bin(), &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	cr_assert_eq(rc, 0, "posix_spawn(%s): %s", pgrace_bin(), strerror(rc));
	return pid;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for pid (killing it past limit_s, which fails the test), then reads
 * its output. Returns the exit code. */
static int wait_pgrace(pid_t pid, struct proc *p, double limit_s)
{
	double t0 = now_s();
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		cr_assert(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		if (now_s() - t0 > limit_s) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("pgrace (pid %d) still running after %.0f s: killed", (int)pid,
				       limit_s);
		}
		sleep_ms(5);
	}
	p->code = WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
	p->out = read_file(p->out_path, NULL);
	p->err = read_file(p->err_path, NULL);
	cr_assert_not_null(p->out, "cannot read %s", p->out_path);
	cr_assert_not_null(p->err, "cannot read %s", p->err_path);
	return p->code;
}

/* n processes that spin on the CPU (each ends itself after 2 minutes at
 * the latest), as on a busy CI machine. */
static void start_cpu_load(int n)
{
	cr_assert_leq(n, (int)(sizeof spinners / sizeof spinners[0]));
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			alarm(120);
			for (volatile unsigned long x = 0;; x++)
				;
		}
		spinners[n_spinners++] = pid;
	}
}

/* Runs pgrace with args to completion; returns its exit code. */
static int run_pgrace(const char *const *args, struct proc *p)
{
	return wait_pgrace(spawn_pgrace(args, p), p, RUN_LIMIT_S);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- JSON ---- */

static json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	cr_assert_not_null(doc, "%s: not JSON: %s (line %d)", path, e.text, e.line);
	cr_assert(json_is_object(doc), "%s: not a JSON object", path);
	return doc;
}

static json_t *jget(json_t *o, const char *key)
{
	cr_assert(json_is_object(o), "looking up \"%s\" in a non-object", key);
	json_t *v = json_object_get(o, key);
	cr_assert_not_null(v, "JSON has no \"%s\"", key);
	return v;
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return (long long)json_integer_value(v);
}

/* o[a][b] as an integer. */
static long long jint2(json_t *o, const char *a, const char *b)
{
	return jint(jget(o, a), b);
}

/* o[key] as an integer, 0 when absent (outcome tables omit zero counts). */
static long long jcount(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return (long long)json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

static bool jbool(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_boolean(v), "\"%s\" is not a boolean", key);
	return json_is_true(v);
}

static json_t *phase(json_t *doc, const char *name)
{
	json_t *phases = jget(doc, "phases"), *ph;
	size_t i;
	cr_assert(json_is_array(phases));
	json_array_foreach(phases, i, ph)
	{
		if (!strcmp(jstr(ph, "name"), name))
			return ph;
	}
	cr_assert_fail("no phase \"%s\" in the JSON", name);
	return NULL;
}

/* ---- libpq ---- */

/* NOTICEs (DROP ... IF EXISTS, CASCADE) are not test output. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *pg_open(void)
{
	PGconn *c = PQconnectdb(""); /* PG* environment */
	cr_assert_not_null(c);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "cannot connect to the test server: %s",
		     PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

/* Rows of pg_namespace whose name is LIKE pattern (like) or is it. */
static long schemas_where(const char *pattern, bool like)
{
	PGconn *c = pg_open();
	const char *params[] = {pattern};
	PGresult *r = PQexecParams(c,
				   like ? "SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1"
					: "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
				   1, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

static long schemas_like(const char *pattern)
{
	return schemas_where(pattern, true);
}

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		  "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* The run's sandbox schema (JSON "schema") was named and is gone. */
static void assert_schema_dropped(json_t *doc)
{
	const char *schema = jstr(doc, "schema");
	cr_assert(!strncmp(schema, "pgrace_", 7), "schema \"%s\" is not pgrace_...", schema);
	cr_expect_eq(schemas_where(schema, false), 0, "schema %s still exists after the run", schema);
}

/* ---- output checks ---- */

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle) != NULL;
}

/* text has "path:<digits>:". */
static bool names_file_line(const char *text, const char *path)
{
	size_t pl = strlen(path);
	for (const char *p = strstr(text, path); p; p = strstr(p + 1, path)) {
		const char *q = p + pl;
		if (*q++ != ':')
			continue;
		const char *digits = q;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q > digits && *q == ':')
			return true;
	}
	return false;
}

/* text has "path:line:" for that very line. */
static bool names_exact_line(const char *text, const char *path, int line)
{
	char want[1200];
	snprintf(want, sizeof want, "%s:%d:", path, line);
	return contains(text, want);
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

TestSuite(integration, .init = scratch_init, .fini = scratch_fini);

/* ---- 1. the seed scenario tells the whole story ---- */

Test(integration, seed_scenario_passes, .timeout = 120)
{
	const char *json = spath("seed.json"), *junit = spath("seed.xml");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--json", json, "--junit", junit), &p);
	cr_assert_eq(code, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	cr_expect(jbool(doc, "complete"));
	cr_expect(json_is_null(jget(doc, "error")));

	static const char *const order[] = {"baseline", "before", "precheck",
					    "migrate",  "after",  "downgrade"};
	static const bool migrated[] = {false, false, false, true, true, false};
	json_t *phases = jget(doc, "phases");
	cr_assert_eq(json_array_size(phases), 6, "expected 6 phases, got %zu",
		     json_array_size(phases));
	for (size_t i = 0; i < 6; i++) {
		json_t *ph = json_array_get(phases, i);
		cr_expect_str_eq(jstr(ph, "name"), order[i], "phase %zu", i);
		cr_expect_eq(jbool(ph, "migrated"), migrated[i], "phase %s: migrated", order[i]);
		cr_expect(jbool(ph, "passed"), "phase %s did not pass", order[i]);
		cr_expect(!jbool(ph, "broken"), "phase %s broken", order[i]);
	}

	json_t *before = phase(doc, "before");
	long long rounds = jint(before, "rounds");
	cr_expect_gt(rounds, 0);
	cr_expect_eq(jint(before, "rounds_with_duplicates"), rounds);
	cr_expect_gt(jint2(before, "rows_per_key", "min"), 1);

	json_t *after = phase(doc, "after");
	rounds = jint(after, "rounds");
	long long workers = jint(after, "workers");
	cr_expect_gt(rounds, 0);
	cr_expect_gt(workers, 1);
	cr_expect_eq(jint2(after, "rows_per_key", "min"), 1);
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	cr_expect_eq(jint(after, "rounds_with_duplicates"), 0);
	json_t *outcomes = jget(after, "outcomes");
	cr_expect_eq(json_object_size(outcomes), 2, "after: outcomes %s",
		     json_dumps(outcomes, JSON_COMPACT));
	cr_expect_eq(jint(outcomes, "ok"), rounds);
	cr_expect_eq(jint(outcomes, "23505"), (workers - 1) * rounds);
	json_t *constraints = jget(after, "constraints");
	cr_expect_eq(json_object_size(constraints), 1);
	cr_expect_eq(jint(constraints, UQ_NAME), (workers - 1) * rounds);

	json_t *expects = jget(phase(doc, "precheck"), "expectations"), *x;
	size_t i;
	bool mentions_23505 = false;
	cr_expect_gt(json_array_size(expects), 0);
	json_array_foreach(expects, i, x)
	{
		cr_expect(jbool(x, "passed"), "precheck: %s: %s", jstr(x, "expect"), jstr(x, "actual"));
		mentions_23505 |= contains(jstr(x, "expect"), "23505");
	}
	cr_expect(mentions_23505, "no precheck expectation mentions 23505");

	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml, "no JUnit file");
	cr_expect_eq(count_of(xml, "<testcase "), 6, "JUnit:\n%s", xml);
	cr_expect(contains(xml, "tests=\"6\" failures=\"0\" errors=\"0\""), "JUnit:\n%s", xml);

	assert_schema_dropped(doc);
	free(xml);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 2. a migration that adds the wrong constraint fails the gate ---- */

Test(integration, wrong_constraint_fails, .timeout = 120)
{
	const char *yaml = seed_variant("check.yaml", "UNIQUE (user_id, tenant_id)", "CHECK (user_id > 0)");
	const char *json = spath("check.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "-q", "--json", json), &p);
	cr_expect_eq(code, 1, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	json_t *after = phase(doc, "after");
	cr_expect(!jbool(after, "passed"), "phase after passed with a CHECK constraint");
	cr_expect(!jbool(after, "broken"));
	cr_expect_gt(jint2(after, "rows_per_key", "max"), 1);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 3. a truncated scenario file is bad usage, named by file:line ---- */

Test(integration, truncated_file_is_usage_error, .timeout = 120)
{
	size_t len = 0;
	char *seed = read_file(SEED, &len);
	cr_assert_not_null(seed);
	const char *yaml = spath("half.yaml");
	write_file(yaml, seed, len / 2);
	free(seed);

	const char *json = spath("half.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "--json", json), &p);
	cr_expect_eq(code, 2, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);
	cr_expect(names_file_line(p.err, yaml), "stderr does not name %s:<line>:\n%s", yaml, p.err);
	cr_expect(access(json, F_OK) != 0, "a JSON result was written for an unloadable file");
	proc_free(&p);
}

/* ---- 4. an unreachable server is exit 3 ---- */

Test(integration, unreachable_server_exits_3, .timeout = 120)
{
	const char *json = spath("dead.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--dsn", DEAD_DSN, "--json", json), &p);
	cr_expect_eq(code, 3, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);
	bool said = contains(p.out, "could not connect") || contains(p.err, "could not connect") ||
		    contains(p.out, "cannot connect") || contains(p.err, "cannot connect");
	cr_expect(said, "no \"could not connect\" message\nstdout:\n%s\nstderr:\n%s", p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "error");
	cr_expect(!jbool(doc, "complete"));
	cr_expect(json_is_string(jget(doc, "error")));
	json_decref(doc);
	proc_free(&p);
}

/* ---- 5. hold mode is deterministic ---- */

Test(integration, hold_mode_repeats_the_same_verdict, .timeout = 600)
{
	for (int run = 0; run < 20; run++) {
		char name[32];
		snprintf(name, sizeof name, "hold%d.json", run);
		const char *json = spath(name);
		struct proc p;
		int code = run_pgrace(
			ARGS("run", SEED, "--workers", "8", "--rounds", "5", "-q", "--json", json), &p);
		cr_assert_eq(code, 0, "run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, p.out,
			     p.err);
		json_t *doc = load_json(json);
		json_t *after = phase(doc, "after"), *before = phase(doc, "before");
		cr_assert_eq(jint(after, "workers"), 8, "run %d: --workers not applied", run);
		cr_assert_eq(jint(after, "rounds"), 5, "run %d: --rounds not applied", run);
		cr_assert_eq(jint2(after, "outcomes", "23505"), 7 * 5, "run %d: after 23505", run);
		cr_assert_eq(jint2(after, "outcomes", "ok"), 5, "run %d: after ok", run);
		cr_assert_eq(jint(before, "rounds_with_duplicates"), 5,
			     "run %d: before rounds_with_duplicates", run);
		/* A phase's own race settings outrank the flags (README "Usage"). */
		json_t *baseline = phase(doc, "baseline");
		cr_assert_eq(jint(baseline, "workers"), 1, "run %d: baseline workers", run);
		cr_assert_eq(jint(baseline, "rounds"), 3, "run %d: baseline rounds", run);
		assert_schema_dropped(doc);
		json_decref(doc);
		proc_free(&p);
		unlink(json);
	}
}

/* The same gate on a busy machine: other processes take the CPU, so the
 * workers wake up late after the coordinator's "go". Hold mode must still
 * hold every worker before COMMIT: no "skipped" attempt after the
 * migration, all 16 rows before it, every round. */
Test(integration, hold_mode_holds_under_cpu_load, .timeout = 300)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	start_cpu_load(cpus > 0 && cpus < 8 ? (int)cpus + 1 : 8);
	for (int run = 0; run < 5; run++) {
		char name[32];
		snprintf(name, sizeof name, "load%d.json", run);
		const char *json = spath(name);
		struct proc p;
		int code = run_pgrace(ARGS("run", SEED, "--json", json), &p);
		json_t *doc = load_json(json);
		json_t *after = phase(doc, "after"), *before = phase(doc, "before");
		long long workers = jint(after, "workers"), rounds = jint(after, "rounds");
		cr_expect_eq(code, 0, "run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, code, p.out,
			     p.err);
		cr_expect_eq(jcount(jget(after, "outcomes"), "skipped"), 0,
			     "run %d: after: %lld attempts skipped: they ran their SELECT after the "
			     "winner's COMMIT, so hold released COMMIT before every worker was held",
			     run, jcount(jget(after, "outcomes"), "skipped"));
		cr_expect_eq(jint2(after, "outcomes", "23505"), (workers - 1) * rounds,
			     "run %d: after 23505", run);
		cr_expect_eq(jint2(before, "rows_per_key", "min"), jint(before, "workers"),
			     "run %d: before: a round left fewer rows than workers", run);
		assert_schema_dropped(doc);
		json_decref(doc);
		proc_free(&p);
		if (code != 0)
			break;
	}
	stop_cpu_load();
}

/* ---- 6. fire mode runs and keeps its books ---- */

Test(integration, fire_mode_runs, .timeout = 120)
{
	const char *json = spath("fire.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--mode", "fire", "--rounds", "10", "-q", "--json", json), &p);
	cr_assert(code == 0 || code == 4, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), code == 0 ? "pass" : "inconclusive");
	json_t *after = phase(doc, "after");
	cr_expect_str_eq(jstr(after, "mode"), "fire");
	cr_expect_eq(jint(after, "rounds"), 10);
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	json_t *o = jget(after, "outcomes");
	long long attempts = jint(after, "attempts");
	cr_expect_gt(attempts, 0);
	cr_expect_eq(attempts, jcount(o, "ok") + jcount(o, "skipped") + jcount(o, "23505"),
		     "attempts %lld, outcomes %s", attempts, json_dumps(o, JSON_COMPACT));
	cr_expect(jbool(after, "passed"));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 7. the sandbox is dropped, other schemas are left alone ---- */

Test(integration, sandbox_schema_is_dropped, .timeout = 120)
{
	/* A schema of ours holding a table of the scenario's name: must survive
	 * untouched. */
	char sentinel[64], sql[256];
	snprintf(sentinel, sizeof sentinel, "it_sentinel_%d", (int)getpid());
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; "
		 "CREATE TABLE %s.user_tenant_membership (user_id bigint, tenant_id bigint)",
		 sentinel, sentinel, sentinel);
	exec_ok(c, sql);

	const char *json = spath("sandbox.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", SEED, "--workers", "4", "--rounds", "3", "-q", "--json", json), &p);
	int code = wait_pgrace(pid, &p, RUN_LIMIT_S);
	cr_expect_eq(code, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	const char *schema = jstr(doc, "schema");
	char prefix[64];
	snprintf(prefix, sizeof prefix, "pgrace_%d_", (int)pid);
	cr_expect(!strncmp(schema, prefix, strlen(prefix)), "schema \"%s\", expected %s...", schema,
		  prefix);
	assert_schema_dropped(doc);
	char like[80];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	cr_expect_eq(schemas_like(like), 0, "a schema %s... of this run remains", prefix);

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.user_tenant_membership", sentinel);
	PGresult *r = PQexec(c, sql);
	cr_expect_eq(PQresultStatus(r), PGRES_TUPLES_OK, "sentinel table gone: %s", PQerrorMessage(c));
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		cr_expect_str_eq(PQgetvalue(r, 0, 0), "0", "the run wrote into another schema");
	PQclear(r);
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", sentinel);
	exec_ok(c, sql);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
}

/* Ctrl-C in the middle of a race: exit 130, results written, schema dropped. */
Test(integration, sigint_drops_the_sandbox, .timeout = 120)
{
	const char *json = spath("sigint.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", SEED, "--rounds", "1000000", "-q", "--json", json), &p);

	/* Wait until the run's schema exists, so the signal lands mid-run. */
	char like[80];
	snprintf(like, sizeof like, "pgrace\\_%d\\_%%", (int)pid);
	double t0 = now_s();
	while (schemas_like(like) == 0) {
		if (now_s() - t0 > 30) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_assert_fail("the run's schema never appeared");
		}
		sleep_ms(20);
	}
	sleep_ms(300);
	cr_assert_eq(kill(pid, SIGINT), 0);
	int code = wait_pgrace(pid, &p, 60);
	cr_expect_eq(code, 130, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);
	cr_expect_eq(schemas_like(like), 0, "the schema survived SIGINT");

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "error");
	cr_expect(!jbool(doc, "complete"));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- 8. bad usage is exit 2 with a message ---- */

Test(integration, bad_usage_exits_2, .timeout = 120)
{
	const char *missing = spath("no-such-scenario.yaml");
	static const char *const dead = "host=127.0.0.1 port=1 connect_timeout=1";
	const struct {
		const char *what;
		const char *args[8];
	} cases[] = {
		{"unknown flag", {"run", SEED, "--frobnicate", NULL}},
		{"--workers 0", {"run", SEED, "--workers", "0", NULL}},
		{"--workers -3", {"run", SEED, "--workers", "-3", NULL}},
		{"--workers 99999999999", {"run", SEED, "--workers", "99999999999", NULL}},
		{"--workers 8x", {"run", SEED, "--workers", "8x", NULL}},
		{"--rounds 0", {"run", SEED, "--rounds", "0", NULL}},
		{"--mode sometimes", {"run", SEED, "--mode", "sometimes", NULL}},
		{"missing scenario", {"run", missing, "--dsn", dead, NULL}},
		{"run without files", {"run", NULL}},
		{"unknown command", {"frobnicate", SEED, NULL}},
		{"no command", {NULL}},
		{"check without files", {"check", NULL}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proc p;
		int code = run_pgrace(cases[i].args, &p);
		cr_expect_eq(code, 2, "%s: exit %d\nstderr:\n%s", cases[i].what, code, p.err);
		cr_expect(p.err[0] != '\0', "%s: nothing on stderr", cases[i].what);
		cr_expect(contains(p.err, "pgrace"), "%s: stderr does not say who speaks:\n%s",
			  cases[i].what, p.err);
		proc_free(&p);
	}

	/* The missing file is named. */
	struct proc p;
	run_pgrace(ARGS("run", missing, "--dsn", dead), &p);
	cr_expect(contains(p.err, missing), "stderr does not name %s:\n%s", missing, p.err);
	proc_free(&p);
}

/* ---- 9. check and list ---- */

Test(integration, check_and_list, .timeout = 120)
{
	struct proc p;
	int code = run_pgrace(ARGS("check", SEED), &p);
	cr_expect_eq(code, 0, "check seed: exit %d\n%s", code, p.err);
	cr_expect(contains(p.out, "ok"), "check seed stdout:\n%s", p.out);
	proc_free(&p);

	const char *bad = PGRACE_TEST_DATA "/bad/workers-zero.yaml";
	code = run_pgrace(ARGS("check", bad), &p);
	cr_expect_eq(code, 2, "check bad: exit %d", code);
	cr_expect(names_file_line(p.err, bad), "stderr does not name %s:<line>:\n%s", bad, p.err);
	proc_free(&p);

	/* One good, one bad: still 2, and the bad one is named. */
	code = run_pgrace(ARGS("check", SEED, bad), &p);
	cr_expect_eq(code, 2, "check good+bad: exit %d", code);
	cr_expect(names_file_line(p.err, bad), "stderr:\n%s", p.err);
	proc_free(&p);

	code = run_pgrace(ARGS("list", PGRACE_SOURCE_DIR "/scenarios"), &p);
	cr_expect_eq(code, 0, "list: exit %d\n%s", code, p.err);
	cr_expect(contains(p.out, "membership-unique"), "list stdout:\n%s", p.out);
	proc_free(&p);
}

/* ---- 10. the password never appears ---- */

/* Runs with dsn, expects exit code (or 0/3 when code is -1) and SECRET nowhere. */
static void assert_password_hidden(const char *dsn, bool quiet, int want)
{
	const char *json = spath(quiet ? "pw-q.json" : "pw.json");
	const char *junit = spath(quiet ? "pw-q.xml" : "pw.xml");
	struct proc p;
	unlink(json); /* no stale file from an earlier call */
	unlink(junit);
	int code = quiet ? run_pgrace(ARGS("run", SEED, "-q", "--dsn", dsn, "--json", json, "--junit", junit), &p)
			 : run_pgrace(ARGS("run", SEED, "--dsn", dsn, "--json", json, "--junit", junit), &p);
	if (want >= 0)
		cr_expect_eq(code, want, "dsn %s: exit %d\nstdout:\n%s\nstderr:\n%s", dsn, code,
			     p.out, p.err);
	else
		cr_expect(code == 0 || code == 3, "dsn %s: exit %d\nstdout:\n%s\nstderr:\n%s", dsn,
			  code, p.out, p.err);
	cr_expect(!contains(p.out, SECRET), "password on stdout:\n%s", p.out);
	cr_expect(!contains(p.err, SECRET), "password on stderr:\n%s", p.err);
	char *j = read_file(json, NULL), *x = read_file(junit, NULL);
	if (code == 2) { /* refused before any run: nothing written */
		cr_expect_null(j, "JSON written for a refused --dsn");
		cr_expect_null(x, "JUnit written for a refused --dsn");
	} else {
		cr_expect_not_null(j, "no JSON written");
		cr_expect_not_null(x, "no JUnit written");
	}
	cr_expect(!j || !contains(j, SECRET), "password in JSON:\n%s", j);
	cr_expect(!x || !contains(x, SECRET), "password in JUnit:\n%s", x);
	free(j);
	free(x);
	proc_free(&p);
}

Test(integration, password_never_appears, .timeout = 120)
{
	static const char *const dsns[] = {
		"postgresql://postgres:" SECRET "@127.0.0.1:1/postgres?connect_timeout=2",
		"host=127.0.0.1 port=1 password=" SECRET " connect_timeout=2",
	};
	for (size_t i = 0; i < sizeof dsns / sizeof dsns[0]; i++) {
		assert_password_hidden(dsns[i], false, 3);
		assert_password_hidden(dsns[i], true, 3);
	}
	/* A server that is reached (the PG* one; trust auth ignores the
	 * password, password auth refuses it: 0 or 3). */
	assert_password_hidden("password=" SECRET " connect_timeout=5", false, -1);
}

/* libpq's message for a malformed DSN may quote the part of the URI it
 * choked on, password included: pgrace refuses the DSN (exit 2) without it. */
Test(integration, password_never_appears_in_malformed_dsn, .timeout = 120)
{
	static const char *const dsns[] = {
		/* unterminated IPv6 bracket: libpq quotes the whole URI */
		"postgresql://postgres:" SECRET "@[::1/postgres?connect_timeout=2",
		/* bad percent-encoding in the password: libpq quotes the password */
		"postgresql://postgres:" SECRET "%zz@127.0.0.1:1/postgres?connect_timeout=2",
	};
	for (size_t i = 0; i < sizeof dsns / sizeof dsns[0]; i++)
		assert_password_hidden(dsns[i], true, 2);
}

/* ---- 11. the server rejects the schema SQL: file:line and its message ---- */

Test(integration, schema_syntax_error_names_file_line, .timeout = 120)
{
	const char *yaml = seed_variant("syntax.yaml", "CREATE TABLE users (", "CREATE TABLEX users (");
	char *text = read_file(yaml, NULL);
	cr_assert_not_null(text);
	int line = line_of(text, "CREATE TABLEX users (");
	free(text);
	cr_assert_gt(line, 0);

	const char *json = spath("syntax.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "-q", "--json", json), &p);
	cr_expect_eq(code, 2, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);
	cr_expect(names_exact_line(p.err, yaml, line), "stderr does not name %s:%d:\n%s", yaml, line,
		  p.err);
	cr_expect(contains(p.err, "42601"), "no SQLSTATE 42601 on stderr:\n%s", p.err);
	cr_expect(contains(p.err, "syntax error"), "no server message on stderr:\n%s", p.err);

	json_t *doc = load_json(json);
	cr_expect_str_neq(jstr(doc, "verdict"), "pass");
	cr_expect(!jbool(doc, "complete"));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);

	/* Without -q the message still reaches the user (summary on stdout). */
	code = run_pgrace(ARGS("run", yaml), &p);
	cr_expect_eq(code, 2, "exit %d", code);
	cr_expect(names_exact_line(p.out, yaml, line) || names_exact_line(p.err, yaml, line),
		  "no %s:%d: in the output\nstdout:\n%s\nstderr:\n%s", yaml, line, p.out, p.err);
	proc_free(&p);
}

/* ---- 12. a race that cannot be reproduced ---- */

Test(integration, unreproducible_race_is_inconclusive, .timeout = 120)
{
	const char *json = spath("inconclusive.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", INCONCLUSIVE, "-q", "--json", json), &p);
	cr_expect_eq(code, 4, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "inconclusive");
	cr_expect(jbool(doc, "complete"));
	json_t *ph = phase(doc, "unprotected");
	cr_expect(!jbool(ph, "passed"));
	cr_expect(!jbool(ph, "broken"));
	cr_expect_eq(jint(ph, "rounds_with_duplicates"), 0);
	cr_expect_eq(jint2(ph, "rows_per_key", "max"), 1);
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* The seed with the constraint already in CREATE TABLE: "before" cannot
 * reproduce (inconclusive on its own), but the precheck expectations fail
 * too, and a failure outranks inconclusive: exit 1. */
Test(integration, already_protected_schema_fails, .timeout = 120)
{
	const char *yaml = seed_variant("protected.yaml", "role       text NOT NULL DEFAULT 'member',",
					"role       text NOT NULL DEFAULT 'member',\n"
					"      UNIQUE (user_id, tenant_id),");
	const char *json = spath("protected.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", yaml, "-q", "--json", json), &p);
	cr_expect_eq(code, 1, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);

	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	json_t *before = phase(doc, "before");
	cr_expect(!jbool(before, "passed"));
	cr_expect_eq(jint(before, "rounds_with_duplicates"), 0);
	cr_expect(!jbool(phase(doc, "precheck"), "passed"));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* ---- result files that cannot be written: exit 5 ---- */

Test(integration, unwritable_results_exit_5, .timeout = 120)
{
	const char *json = spath("no-such-dir/out.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, "--workers", "2", "--rounds", "2", "-q", "--json", json), &p);
	cr_expect_eq(code, 5, "exit %d\nstdout:\n%s\nstderr:\n%s", code, p.out, p.err);
	cr_expect(contains(p.err, json), "stderr does not name %s:\n%s", json, p.err);
	proc_free(&p);
}
