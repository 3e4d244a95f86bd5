/* harness.c: the integration tests' shared helpers (see harness.h). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

extern char **environ;

/* ---- scratch folder ---- */

char scratch[512];
static int spawn_count;

void scratch_init(void)
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

void stop_cpu_load(void)
{
	for (int i = 0; i < n_spinners; i++) {
		kill(spinners[i], SIGKILL);
		waitpid(spinners[i], NULL, 0);
	}
	n_spinners = 0;
}

void scratch_fini(void)
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

const char *spath(const char *name)
{
	static char ring[16][1024];
	static int next;
	char *p = ring[next++ % 16];
	snprintf(p, sizeof ring[0], "%s/%s", scratch, name);
	return p;
}

/* ---- files ---- */

char *read_file(const char *path, size_t *len_out)
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

void write_file(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(buf, 1, len, f), len, "short write to %s", path);
	cr_assert_eq(fclose(f), 0, "cannot close %s", path);
}

char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), count = 0;
	for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
		count++;
	cr_assert_gt(count, 0, "\"%s\" is not in the scenario any more", from);
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

const char *variant_of(const char *base, const char *name, const char *from, const char *to)
{
	char *text = read_file(base, NULL);
	cr_assert_not_null(text, "cannot read %s", base);
	char *v = replace_all(text, from, to);
	const char *path = spath(name);
	write_file(path, v, strlen(v));
	free(v);
	free(text);
	return path;
}

const char *seed_variant(const char *name, const char *from, const char *to)
{
	return variant_of(SEED, name, from, to);
}

int line_of(const char *s, const char *needle)
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

void proc_free(struct proc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
}

const char *pgrace_bin(void)
{
	const char *bin = getenv("PGRACE_TEST_BIN");
	return bin && *bin ? bin : PGRACE_BIN;
}

pid_t spawn_cmd(const char *const *argv, struct proc *p)
{
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
	int rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	cr_assert_eq(rc, 0, "posix_spawn(%s): %s", argv[0], strerror(rc));
	return pid;
}

pid_t spawn_pgrace(const char *const *args, struct proc *p)
{
	const char *argv[64];
	size_t n = 0;
	argv[n++] = pgrace_bin();
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1, "too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return spawn_cmd(argv, p);
}

void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int wait_pgrace_term(pid_t pid, struct proc *p, double limit_s, double grace_s)
{
	double t0 = now_s();
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		cr_assert(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		if (now_s() - t0 > limit_s) {
			bool gone = false;
			if (grace_s > 0) {
				kill(pid, SIGTERM);
				for (double t1 = now_s(); !gone && now_s() - t1 <= grace_s; sleep_ms(5))
					gone = waitpid(pid, &status, WNOHANG) == pid;
			}
			if (!gone) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
			}
			cr_assert_fail("pgrace (pid %d) still running after %.0f s: %s", (int)pid, limit_s,
				       gone ? "terminated" : "killed");
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

int wait_pgrace(pid_t pid, struct proc *p, double limit_s)
{
	return wait_pgrace_term(pid, p, limit_s, 0);
}

const char *proc_said(const struct proc *p)
{
	static char buf[8192];
	snprintf(buf, sizeof buf, "exit %d\nstdout:\n%s\nstderr:\n%s", p->code, p->out ? p->out : "",
		 p->err ? p->err : "");
	return buf;
}

void start_cpu_load(int n)
{
	cr_assert_leq(n_spinners + n, (int)(sizeof spinners / sizeof spinners[0]));
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

int run_pgrace(const char *const *args, struct proc *p)
{
	return wait_pgrace(spawn_pgrace(args, p), p, RUN_LIMIT_S);
}

/* ---- JSON ---- */

json_t *load_json(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	cr_assert_not_null(doc, "%s: not JSON: %s (line %d)", path, e.text, e.line);
	cr_assert(json_is_object(doc), "%s: not a JSON object", path);
	return doc;
}

json_t *jget(json_t *o, const char *key)
{
	cr_assert(json_is_object(o), "looking up \"%s\" in a non-object", key);
	json_t *v = json_object_get(o, key);
	cr_assert_not_null(v, "JSON has no \"%s\"", key);
	return v;
}

long long jint(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return (long long)json_integer_value(v);
}

long long jint2(json_t *o, const char *a, const char *b)
{
	return jint(jget(o, a), b);
}

long long jcount(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return (long long)json_integer_value(v);
}

const char *jstr(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_string(v), "\"%s\" is not a string", key);
	return json_string_value(v);
}

bool jbool(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	cr_assert(json_is_boolean(v), "\"%s\" is not a boolean", key);
	return json_is_true(v);
}

json_t *find_phase(json_t *doc, const char *name)
{
	json_t *phases = jget(doc, "phases"), *ph;
	size_t i;
	cr_assert(json_is_array(phases));
	json_array_foreach(phases, i, ph)
	{
		if (!strcmp(jstr(ph, "name"), name))
			return ph;
	}
	return NULL;
}

json_t *phase(json_t *doc, const char *name)
{
	json_t *ph = find_phase(doc, name);
	cr_assert_not_null(ph, "no phase \"%s\" in the JSON", name);
	return ph;
}

/* ---- libpq ---- */

/* NOTICEs (DROP ... IF EXISTS, CASCADE) are not test output. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

PGconn *pg_open_dsn(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	cr_assert_not_null(c);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "cannot connect to the test server: %s",
		     PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

PGconn *pg_open(void)
{
	return pg_open_dsn(""); /* PG* environment */
}

void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		  "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

const char *test_own_database(const char *prefix, const char *what, char *dsn, size_t len)
{
	static char name[64];
	char sql[160];
	snprintf(name, sizeof name, "%s_%s_%d", prefix, what, (int)getpid());
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	exec_ok(c, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	exec_ok(c, sql);
	PQfinish(c);
	snprintf(dsn, len, "dbname=%s", name);
	return name;
}

void test_drop_database(const char *name)
{
	char sql[160];
	PGconn *c = pg_open();
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	exec_ok(c, sql);
	PQfinish(c);
}

char *pg_value(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
	char *v = NULL;
	if (PQntuples(r) > 0 && PQnfields(r) > 0) {
		v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
		cr_assert_not_null(v);
	}
	PQclear(r);
	return v;
}

char *pg_poll_value(PGconn *c, double limit_s, const char *what, const char *sql, int nparams,
		    const char *const *params)
{
	double t0 = now_s();
	for (;;) {
		char *v = pg_value(c, sql, nparams, params);
		if (v && v[0] && strcmp(v, "0"))
			return v;
		free(v);
		cr_assert_lt(now_s() - t0, limit_s, "%s: not within %.0f s", what, limit_s);
		sleep_ms(10);
	}
}

long schemas_where(const char *pattern, bool like)
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

long schemas_like(const char *pattern)
{
	return schemas_where(pattern, true);
}

void assert_schema_dropped(json_t *doc)
{
	const char *schema = jstr(doc, "schema");
	cr_assert(!strncmp(schema, "pgrace_", 7), "schema \"%s\" is not pgrace_...", schema);
	cr_expect_eq(schemas_where(schema, false), 0, "schema %s still exists after the run", schema);
}

/* ---- output checks ---- */

bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle) != NULL;
}

bool names_file_line(const char *text, const char *path)
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

bool names_exact_line(const char *text, const char *path, int line)
{
	char want[1200];
	snprintf(want, sizeof want, "%s:%d:", path, line);
	return contains(text, want);
}

int count_of(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

bool pid_running(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return kill(pid, 0) == 0 || errno != ESRCH;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}
