/* secret.c: the password registry, the scrubber and the passfile (see
 * secret.h). The scrubber reads a text as a password's spellings could
 * write it: at each position it follows every way the password's next
 * character may be written (itself; %XX in either case, %%XX and %25XX as
 * ConfigParser or a second encoding leave it; + for a space; a backslash
 * before it; a quote doubled; \xXX, \u00XX; &amp; &lt; &gt; &quot; &#39;
 * &#x27; &apos;), keeping the set of text positions each prefix of the
 * password can end at, and masks the longest match. */
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "mem.h"

#define SECRET_MAX 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRET_MAX];
static int nsecrets;
static char dir[4096], file[4200];
static bool cleanup_registered;

void secret_add(const char *password)
{
	if (!password || !*password)
		return;
	pthread_mutex_lock(&lock);
	bool known = false;
	for (int i = 0; i < nsecrets; i++)
		known = known || !strcmp(secrets[i], password);
	if (!known && nsecrets < SECRET_MAX)
		secrets[nsecrets++] = mem_strdup(password);
	pthread_mutex_unlock(&lock);
}

void secret_add_dsn(const char *dsn)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = dsn ? PQconninfoParse(dsn, &errmsg) : NULL;
	PQfreemem(errmsg);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password"))
			secret_add(o->val);
	PQconninfoFree(opts);
}

bool secret_take_dsn(char *arg, char **copy)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(arg, &errmsg);
	PQfreemem(errmsg);
	if (!opts)
		return false;
	PQconninfoFree(opts);
	secret_add_dsn(arg);
	free(*copy);
	*copy = mem_strdup(arg);
	db_mask_password(arg);
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte two hex digits at s give, -1 when they are not two hex digits. */
static int hex_byte(const char *s)
{
	int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);
	return lo < 0 ? -1 : hi * 16 + lo;
}

/* Adds to ends[] (of *n, capacity cap) each length, from s, of a spelling of c. */
static void spellings(const char *s, unsigned char c, size_t *ends, int *n, int cap)
{
#define ADD(len)                          \
	do {                              \
		if (*n < cap)             \
			ends[(*n)++] = (len); \
	} while (0)
	if ((unsigned char)s[0] == c && c)
		ADD(1);
	if (s[0] == '%') {
		if (hex_byte(s + 1) == c)
			ADD(3);
		if (s[1] == '%' && hex_byte(s + 2) == c)
			ADD(4); /* ConfigParser's %% before an escape */
		if (c == '%' && s[1] == '%')
			ADD(2);
		if (s[1] == '2' && s[2] == '5' && hex_byte(s + 3) == c)
			ADD(5); /* encoded twice */
	}
	if (c == ' ' && s[0] == '+')
		ADD(1);
	if (s[0] == '\\') {
		if ((unsigned char)s[1] == c && c)
			ADD(2);
		if (s[1] == 'x' && hex_byte(s + 2) == c)
			ADD(4);
		if (s[1] == 'u' && s[2] == '0' && s[3] == '0' && hex_byte(s + 4) == c)
			ADD(6);
	}
	if ((c == '\'' || c == '"') && s[0] == (char)c && s[1] == (char)c)
		ADD(2);
	static const struct {
		char c;
		const char *entity;
	} entities[] = {{'&', "&amp;"},   {'<', "&lt;"},    {'>', "&gt;"},   {'"', "&quot;"},
			{'\'', "&#39;"},  {'\'', "&#x27;"}, {'\'', "&apos;"}};
	for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
		size_t len = strlen(entities[i].entity);
		if (c == (unsigned char)entities[i].c && !strncmp(s, entities[i].entity, len))
			ADD(len);
	}
#undef ADD
}

#define SECRET_STATES 64

/* The length of the longest spelling of pw[from..] at s, 0 when none. */
static size_t match_at(const char *s, const char *pw, size_t from)
{
	size_t cur[SECRET_STATES], next[SECRET_STATES];
	int ncur = 1;
	cur[0] = 0;
	for (size_t j = from; pw[j] && ncur > 0; j++) {
		int nnext = 0;
		for (int i = 0; i < ncur; i++) {
			size_t ends[8];
			int n = 0;
			spellings(s + cur[i], (unsigned char)pw[j], ends, &n, 8);
			for (int e = 0; e < n; e++) {
				size_t at = cur[i] + ends[e];
				bool seen = false;
				for (int k = 0; k < nnext && !seen; k++)
					seen = next[k] == at;
				if (!seen && nnext < SECRET_STATES)
					next[nnext++] = at;
			}
		}
		memcpy(cur, next, sizeof cur[0] * (size_t)nnext);
		ncur = nnext;
	}
	size_t best = 0;
	for (int i = 0; i < ncur; i++)
		if (cur[i] > best)
			best = cur[i];
	return best;
}

void secret_scrub_with(char *s, size_t cap, bool cut, const char *pw)
{
	if (!s || !pw || !*pw || cap == 0)
		return;
	size_t len = strlen(s), pwlen = strlen(pw);
	char *out = mem_malloc(cap);
	size_t n = 0, i = 0;
	if (cut) /* the password's last part, its start cut off with the text's */
		for (size_t from = 1; from < pwlen; from++) {
			size_t m = match_at(s, pw, from);
			if (m) {
				n = (size_t)snprintf(out, cap, "%s", SECRET_MASK);
				i = m;
				break;
			}
		}
	while (i < len) {
		size_t m = match_at(s + i, pw, 0);
		if (m) {
			for (const char *k = SECRET_MASK; *k && n + 1 < cap; k++)
				out[n++] = *k;
			i += m;
		} else {
			if (n + 1 < cap)
				out[n++] = s[i];
			i++;
		}
	}
	out[n < cap ? n : cap - 1] = '\0';
	memcpy(s, out, strlen(out) + 1);
	free(out);
}

void secret_scrub(char *s, size_t cap, bool cut)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nsecrets; i++)
		secret_scrub_with(s, cap, cut, secrets[i]);
	pthread_mutex_unlock(&lock);
}

/* Appends field to f as a passfile field: ":" and "\" escaped, "*" when empty. */
static void passfile_field(FILE *f, const char *field, bool last)
{
	if (!field || !*field)
		fputc('*', f);
	for (const char *c = field; c && *c; c++) {
		if (*c == ':' || *c == '\\')
			fputc('\\', f);
		fputc(*c, f);
	}
	fputc(last ? '\n' : ':', f);
}

static void cleanup_at_exit(void)
{
	secret_cleanup();
}

const char *secret_passfile(const char *host, const char *port, const char *db, const char *user,
			    const char *password, char *err, size_t errlen)
{
	if (!password || !*password)
		return NULL;
	(void)host; /* a socket folder's name is not what libpq matches: any host */
	(void)db;   /* the tool may connect to another database of the server */
	pthread_mutex_lock(&lock);
	const char *path = NULL;
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/pgrace-%d-XXXXXX", tmp && *tmp ? tmp : "/tmp",
			 (int)getpid());
		if (!mkdtemp(dir)) {
			snprintf(err, errlen, "cannot make a private folder in %s: %s",
				 tmp && *tmp ? tmp : "/tmp", strerror(errno));
			dir[0] = '\0';
			goto out;
		}
		snprintf(file, sizeof file, "%s/pgpass", dir);
		if (!cleanup_registered)
			atexit(cleanup_at_exit);
		cleanup_registered = true;
	}
	mode_t old = umask(077);
	FILE *f = fopen(file, "w");
	umask(old);
	if (!f || fchmod(fileno(f), 0600) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", file, strerror(errno));
		if (f)
			fclose(f);
		goto out;
	}
	passfile_field(f, "*", false);
	passfile_field(f, port && *port ? port : "", false);
	passfile_field(f, "*", false);
	passfile_field(f, user, false);
	passfile_field(f, password, true);
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", file, strerror(errno));
		goto out;
	}
	path = file;
out:
	pthread_mutex_unlock(&lock);
	return path;
}

void secret_cleanup(void)
{
	pthread_mutex_lock(&lock);
	if (dir[0]) {
		unlink(file);
		rmdir(dir);
		dir[0] = '\0';
	}
	pthread_mutex_unlock(&lock);
}
