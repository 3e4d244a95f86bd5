/* command.c: an external command as a child process: argv split, the
 * connection in its environment, output captured, a deadline, no leftovers.
 *
 * child_start (child.h) starts the child in a process group of its own
 * (pgid = its pid), so a deadline kills the whole tool, including what it
 * started itself, and with a death signal, so it does not outlive pgrace.
 * The child's exit is first noticed without reaping it (waitid WNOWAIT):
 * while it is a zombie its pid, and so its group id, cannot be reused, so
 * killing the group then can only reach processes it left behind; what
 * left the group (setsid) child_sweep finds. */
#define _GNU_SOURCE /* pipe2 */
#include "command.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "db.h"
#include "mem.h"
#include "outcome.h"
#include "secret.h"
#include "stats.h"

#define TERM_GRACE_US (2u * 1000000u)   /* SIGTERM to SIGKILL */
#define DRAIN_US (1u * 1000000u)        /* reading what is left after the exit */

bool command_split(const char *line, char ***argv_out, char *err, size_t errlen)
{
	size_t len = strlen(line);
	/* At most one argument per two characters, plus the NULL. */
	char **argv = mem_malloc(sizeof *argv * (len / 2 + 2));
	char *word = mem_malloc(len + 1);
	size_t n = 0;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		size_t w = 0;
		while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');
				if (!end) {
					snprintf(err, errlen, "unclosed single quote in command \"%.80s\"", line);
					goto fail;
				}
				memcpy(word + w, p + 1, (size_t)(end - p - 1));
				w += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					word[w++] = *p;
				}
				if (!*p) {
					snprintf(err, errlen, "unclosed double quote in command \"%.80s\"", line);
					goto fail;
				}
				p++;
			} else if (*p == '\\' && p[1]) {
				word[w++] = p[1];
				p += 2;
			} else {
				word[w++] = *p++;
			}
		}
		word[w] = '\0';
		argv[n++] = mem_strdup(word);
	}
	argv[n] = NULL;
	free(word);
	if (n == 0) {
		snprintf(err, errlen, "the command is empty");
		command_argv_free(argv);
		return false;
	}
	*argv_out = argv;
	return true;
fail:
	argv[n] = NULL;
	free(word);
	command_argv_free(argv);
	return false;
}

void command_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

void command_free(struct command *c)
{
	free(c->line);
	command_argv_free(c->argv);
	free(c->cwd);
	memset(c, 0, sizeof *c);
}

void command_copy(struct command *dst, const struct command *src)
{
	size_t n = 0;
	while (src->argv && src->argv[n])
		n++;
	*dst = *src;
	dst->line = src->line ? mem_strdup(src->line) : NULL;
	dst->cwd = src->cwd ? mem_strdup(src->cwd) : NULL;
	dst->argv = NULL;
	if (src->argv) {
		dst->argv = mem_malloc(sizeof *dst->argv * (n + 1));
		for (size_t i = 0; i < n; i++)
			dst->argv[i] = mem_strdup(src->argv[i]);
		dst->argv[n] = NULL;
	}
}

/* A bounded buffer that keeps the last COMMAND_TAIL bytes written to it,
 * and looks for watch in everything written (across chunk boundaries: the
 * last bytes of the previous chunk are carried). */
struct tail {
	char *buf; /* COMMAND_TAIL + 1 bytes */
	size_t len;
	bool cut;
	const char *watch; /* NULL: none */
	bool *seen;
	char carry[COMMAND_WATCH_MAX];
	size_t carry_len;
};

static void tail_watch(struct tail *t, const char *data, size_t n)
{
	size_t wl = strlen(t->watch);
	char joined[COMMAND_WATCH_MAX + 4096];
	while (n > 0 && !*t->seen) {
		size_t take = n < 4096 ? n : 4096;
		memcpy(joined, t->carry, t->carry_len);
		memcpy(joined + t->carry_len, data, take);
		size_t jl = t->carry_len + take;
		if (memmem(joined, jl, t->watch, wl))
			*t->seen = true;
		t->carry_len = jl < wl - 1 ? jl : wl - 1;
		memcpy(t->carry, joined + jl - t->carry_len, t->carry_len);
		data += take;
		n -= take;
	}
}

static void tail_add(struct tail *t, const char *data, size_t n)
{
	if (t->watch && t->watch[0])
		tail_watch(t, data, n);
	if (n >= COMMAND_TAIL) {
		t->cut = t->cut || t->len > 0 || n > COMMAND_TAIL;
		memcpy(t->buf, data + n - COMMAND_TAIL, COMMAND_TAIL);
		t->len = COMMAND_TAIL;
	} else {
		if (t->len + n > COMMAND_TAIL) {
			size_t drop = t->len + n - COMMAND_TAIL;
			memmove(t->buf, t->buf + drop, t->len - drop);
			t->len -= drop;
			t->cut = true;
		}
		memcpy(t->buf + t->len, data, n);
		t->len += n;
	}
	t->buf[t->len] = '\0';
}

/* Reads what fd has; false at end of file (or an error). */
static bool drain(int fd, struct tail *t)
{
	char chunk[4096];
	ssize_t got = read(fd, chunk, sizeof chunk);
	if (got > 0) {
		tail_add(t, chunk, (size_t)got);
		return true;
	}
	return got < 0 && (errno == EINTR || errno == EAGAIN);
}

/* Polls the open pipes for up to ms; closes (sets to -1) those at EOF. */
static void pump(int fds[2], struct tail tails[2], int ms)
{
	struct pollfd pf[2];
	nfds_t n = 0;
	int which[2];
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			pf[n].fd = fds[i];
			pf[n].events = POLLIN;
			which[n++] = i;
		}
	if (n == 0) {
		struct timespec ts = {0, (long)ms * 1000000L};
		nanosleep(&ts, NULL);
		return;
	}
	if (poll(pf, n, ms) <= 0)
		return;
	for (nfds_t j = 0; j < n; j++)
		if (pf[j].revents & (POLLIN | POLLHUP | POLLERR)) {
			int i = which[j];
			if (!drain(fds[i], &tails[i])) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
}

/* The child has exited (it is not reaped yet). */
static bool exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

/* Sends sig to the child's process group; to the child alone if the group is
 * not there yet (child_start sets it before exec, so this is a fallback). */
static void signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0 && errno == ESRCH)
		kill(pid, sig);
}

/* Kills the group: SIGTERM, then SIGKILL when the child has not gone within
 * the grace period. Keeps reading the pipes meanwhile. */
static void kill_group(pid_t pid, int fds[2], struct tail tails[2])
{
	signal_group(pid, SIGTERM);
	uint64_t until = clock_us() + TERM_GRACE_US;
	while (!exited(pid) && clock_us() < until)
		pump(fds, tails, 20);
	signal_group(pid, SIGKILL);
}

void command_run(char *const *argv, const char *cwd, char *const *envp, uint64_t deadline_us,
		 struct command_result *r)
{
	command_run_watch(argv, cwd, envp, deadline_us, NULL, r);
}

void command_run_watch(char *const *argv, const char *cwd, char *const *envp,
		       uint64_t deadline_us, const char *watch, struct command_result *r)
{
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	pid_t pid = -1;
	struct tail tails[2];
	memset(tails, 0, sizeof tails);
	memset(r, 0, sizeof *r);
	tails[0].buf = r->out;
	tails[1].buf = r->err;
	for (int i = 0; i < 2; i++) {
		tails[i].watch = watch;
		tails[i].seen = &r->watched;
	}

	if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
		r->status = CMD_SPAWN_ERROR;
		snprintf(r->why, sizeof r->why, "cannot make a pipe: %s", strerror(errno));
		goto out;
	}
	int rc = child_start(argv, cwd, envp, out_pipe[1], err_pipe[1], &pid);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	if (rc != 0) {
		pid = -1;
		r->status = CMD_SPAWN_ERROR;
		snprintf(r->why, sizeof r->why, "cannot run \"%s\"%s%s: %s", argv[0],
			 cwd ? " in " : "", cwd ? cwd : "", strerror(rc));
		goto out;
	}
	int fds[2] = {out_pipe[0], err_pipe[0]};
	out_pipe[0] = err_pipe[0] = -1;
	uint64_t t0 = clock_us();
	for (;;) {
		if (exited(pid))
			break;
		if (db_stop_requested()) {
			r->status = CMD_INTERRUPTED;
			kill_group(pid, fds, tails);
			break;
		}
		if (clock_us() >= deadline_us) {
			r->status = CMD_TIMEOUT;
			snprintf(r->why, sizeof r->why, "still running after %.1f s: killed",
				 (double)(clock_us() - t0) / 1e6);
			kill_group(pid, fds, tails);
			break;
		}
		pump(fds, tails, 50);
	}
	/* The child is gone (or SIGKILLed): whatever else is in its group goes
	 * too, and whatever escaped the group (setsid) and has come to pgrace,
	 * its subreaper; then the pipes are read to their end, boundedly. */
	signal_group(pid, SIGKILL);
	child_sweep(pid, clock_us() + TERM_GRACE_US);
	uint64_t until = clock_us() + DRAIN_US;
	while ((fds[0] >= 0 || fds[1] >= 0) && clock_us() < until)
		pump(fds, tails, 20);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	int wstatus = 0;
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	child_done(pid);
	if (WIFEXITED(wstatus))
		r->exit_code = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		r->exit_code = 128 + (r->signal = WTERMSIG(wstatus));
	if (r->status == CMD_OK && r->exit_code != 0)
		r->status = CMD_FAILED;
out:
	r->out_cut = tails[0].cut;
	r->err_cut = tails[1].cut;
	secret_scrub(r->out, sizeof r->out, r->out_cut); /* its output may print a password */
	secret_scrub(r->err, sizeof r->err, r->err_cut);
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
}

/* Appends s to buf percent-encoded (RFC 3986 unreserved characters and
 * those of keep left as they are: every % is one more a ConfigParser reads). */
static void url_encode_keep(char *buf, size_t len, const char *s, const char *keep)
{
	size_t n = strlen(buf);
	for (const unsigned char *c = (const unsigned char *)s; *c && n + 4 < len; c++) {
		if (isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~' ||
		    strchr(keep, *c))
			buf[n++] = (char)*c;
		else
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", *c);
	}
	buf[n] = '\0';
}

static void url_encode(char *buf, size_t len, const char *s)
{
	url_encode_keep(buf, len, s, "");
}

static void url_add(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);
	snprintf(buf + n, len - n, "%s", s);
}

void command_url(char *buf, size_t len, const char *host, const char *port, const char *user,
		 const char *password, const char *dbname, const char *options)
{
	bool socket_dir = host && (host[0] == '/' || host[0] == '@');
	char sep = '?';
	buf[0] = '\0';
	url_add(buf, len, "postgresql://");
	if (user && *user) {
		url_encode(buf, len, user);
		if (password && *password) {
			url_add(buf, len, ":");
			url_encode(buf, len, password);
		}
		url_add(buf, len, "@");
	}
	if (host && *host && !socket_dir) {
		bool v6 = strchr(host, ':') != NULL;
		url_add(buf, len, v6 ? "[" : "");
		url_add(buf, len, host); /* a name or an address: nothing to encode */
		url_add(buf, len, v6 ? "]" : "");
		if (port && *port) {
			url_add(buf, len, ":");
			url_encode(buf, len, port);
		}
	}
	url_add(buf, len, "/");
	if (dbname && *dbname)
		url_encode(buf, len, dbname);
	if (socket_dir) {
		url_add(buf, len, "?host=");
		url_encode_keep(buf, len, host, "/"); /* a query may hold a / as it is */
		sep = '&';
		if (port && *port) {
			url_add(buf, len, "&port=");
			url_encode(buf, len, port);
		}
	}
	if (options && *options) {
		char key[16];
		snprintf(key, sizeof key, "%coptions=", sep);
		url_add(buf, len, key);
		url_encode(buf, len, options);
	}
}

static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = mem_malloc(n);
	snprintf(s, n, "%s=%s", name, value);
	return s;
}

char **command_env(char *const *base, PGconn *conn, const char *schema)
{
	size_t n = 0;
	while (base && base[n])
		n++;
	char **env = mem_malloc(sizeof *env * (n + 9));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* PG* variables other than ours could point the tool elsewhere
		 * (PGSERVICE, PGHOSTADDR): the connection is exactly pgrace's. */
		if (!strncmp(base[i], "PG", 2) || !strncmp(base[i], "DATABASE_URL=", 13))
			continue;
		env[k++] = mem_strdup(base[i]);
	}
	/* The connection's own options (from the DSN, else PGOPTIONS), then ours. */
	const char *user_options = NULL;
	PQconninfoOption *info = PQconninfo(conn);
	for (PQconninfoOption *o = info; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "options") && o->val)
			user_options = o->val;
		if (!strcmp(o->keyword, "sslmode") && o->val && *o->val)
			env[k++] = env_pair("PGSSLMODE", o->val);
	}
	char options[1024];
	snprintf(options, sizeof options, "%s%s-c search_path=%s", user_options ? user_options : "",
		 user_options && *user_options ? " " : "", schema);
	PQconninfoFree(info);
	const char *host = PQhost(conn), *port = PQport(conn), *user = PQuser(conn),
		   *db = PQdb(conn), *pass = PQpass(conn);
	if (host && *host)
		env[k++] = env_pair("PGHOST", host);
	if (port && *port)
		env[k++] = env_pair("PGPORT", port);
	if (user && *user)
		env[k++] = env_pair("PGUSER", user);
	if (db && *db)
		env[k++] = env_pair("PGDATABASE", db);
	/* The password only in a 0600 file of the run's own: never in an
	 * environment or a URL a child could print (libpq, psycopg2 and
	 * SQLAlchemy all read PGPASSFILE). */
	char why[256];
	const char *passfile = secret_passfile(host, port, db, user, pass, why, sizeof why);
	if (passfile)
		env[k++] = env_pair("PGPASSFILE", passfile);
	env[k++] = env_pair("PGOPTIONS", options);
	char url[2048];
	/* The options too: a tool that reads only the URL (node-postgres,
	 * pgx, asyncpg, JDBC) works in the sandbox as well. */
	command_url(url, sizeof url, host, port, user, NULL, db, options);
	env[k++] = env_pair("DATABASE_URL", url);
	env[k] = NULL;
	return env;
}

static bool is_code_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Classes 00 (success), 01 (warning) and 02 (no data) are not errors: a
 * failed command's SQLSTATE is never one of them. */
static bool is_error_code(const char *code)
{
	return !(code[0] == '0' && (code[1] == '0' || code[1] == '1' || code[1] == '2'));
}

/* A 5-character SQLSTATE of an error class at s, not part of a longer word. */
static bool code_at(const char *s, char out[6])
{
	for (int i = 0; i < 5; i++)
		if (!is_code_char(s[i]))
			return false;
	if (is_word_char(s[5]) || !is_error_code(s))
		return false;
	memcpy(out, s, 5);
	out[5] = '\0';
	return true;
}

/* unique_violation -> UniqueViolation */
static void camel(const char *name, char *buf, size_t len)
{
	size_t n = 0;
	bool up = true;
	for (const char *c = name; *c && n + 1 < len; c++) {
		if (*c == '_') {
			up = true;
			continue;
		}
		buf[n++] = up ? (char)toupper((unsigned char)*c) : *c;
		up = false;
	}
	buf[n] = '\0';
}

/* The error code whose condition name is the word [w, w + n), spelled as
 * PostgreSQL (unique_violation), psycopg (UniqueViolation) or asyncpg
 * (UniqueViolationError) spells it; false when none is. The generated table
 * (outcome_sqlstates) is sorted by code, so a name two codes share reads as
 * the lower error code. */
static bool condition_word(const char *w, size_t n, char out[6])
{
	size_t count;
	const struct sqlstate_def *defs = outcome_sqlstates(&count);
	for (size_t i = 0; i < count; i++) {
		if (!is_error_code(defs[i].code))
			continue;
		size_t len = strlen(defs[i].name);
		bool hit = n == len && !memcmp(w, defs[i].name, n);
		if (!hit && n >= 2 && isupper((unsigned char)w[0])) {
			char cc[128];
			camel(defs[i].name, cc, sizeof cc);
			size_t cl = strlen(cc);
			hit = (n == cl && !memcmp(w, cc, n)) ||
			      (n == cl + 5 && !memcmp(w, cc, cl) && !memcmp(w + cl, "Error", 5));
		}
		if (hit) {
			memcpy(out, defs[i].code, 6);
			return true;
		}
	}
	return false;
}

void command_sqlstate(const char *output, char out[6])
{
	out[0] = '\0';
	if (!output)
		return;
	/* Word by word from the start: the first word that names an error
	 * (SQLSTATE XXXXX, ERROR:  XXXXX:, a condition name) is the answer. */
	for (const char *p = output; *p;) {
		if (!is_word_char(*p)) {
			p++;
			continue;
		}
		const char *e = p;
		while (is_word_char(*e))
			e++;
		size_t n = (size_t)(e - p);
		if (n == 8 && !memcmp(p, "SQLSTATE", 8)) {
			const char *q = e;
			while (*q == ':' || *q == ' ' || *q == '=' || *q == '[' || *q == '(' ||
			       *q == '\'' || *q == '"')
				q++;
			if (code_at(q, out))
				return;
		} else if (n == 5 && !memcmp(p, "ERROR", 5) && *e == ':') {
			const char *q = e + 1;
			while (*q == ' ')
				q++;
			if (code_at(q, out) && q[5] == ':')
				return;
		} else if (condition_word(p, n, out)) {
			return;
		}
		p = e;
	}
	out[0] = '\0';
}

const char *command_last_lines(const char *text, int n)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *p = end;
	while (p > text) {
		if (p[-1] == '\n' && --n == 0)
			break;
		p--;
	}
	return p;
}

/* The name of signal sig ("SIGSEGV"), or "signal N". */
static const char *signal_name(int sig, char *buf, size_t len)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
		     {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
		     {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
		     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
		     {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
		     {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(buf, len, "signal %d", sig);
	return buf;
}

const char *command_end_text(const struct command_result *r, bool shell, char *buf, size_t len)
{
	char name[32];
	if (r->signal)
		snprintf(buf, len, "was killed by %s", signal_name(r->signal, name, sizeof name));
	else if (shell && r->exit_code > 128 && r->exit_code < 128 + 32)
		snprintf(buf, len, "exited with status %d (a command killed by %s)", r->exit_code,
			 signal_name(r->exit_code - 128, name, sizeof name));
	else
		snprintf(buf, len, "exited with status %d", r->exit_code);
	return buf;
}
