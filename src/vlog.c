/* vlog.c: the --verbose statement log (see vlog.h). A small table maps each
 * tagged connection (its address and backend pid, so that a later
 * connection at a freed one's address is not taken for it) to its label;
 * one mutex guards the table and the output, so a line is written
 * whole. */
#include "vlog.h"

#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "order.h"
#include "secret.h"

#define VLOG_CONNS 8192
#define VLOG_LINE 2048

struct tag {
	PGconn *c;
	int pid; /* its backend: a later connection at the same address is not it */
	char label[32];
};

static atomic_bool on;
static atomic_llong current_round = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;
static struct tag tags[VLOG_CONNS];
static int ntags;

void vlog_open(FILE *f)
{
	pthread_mutex_lock(&lock);
	out = f;
	pthread_mutex_unlock(&lock);
	atomic_store(&on, f != NULL);
}

void vlog_close(void)
{
	atomic_store(&on, false);
	pthread_mutex_lock(&lock);
	if (out && out != stderr)
		fclose(out);
	else if (out)
		fflush(out);
	out = NULL;
	ntags = 0;
	pthread_mutex_unlock(&lock);
}

bool vlog_on(void)
{
	return atomic_load_explicit(&on, memory_order_relaxed);
}

/* The tag of c (under lock), NULL when c has none; any_pid: also one left
 * by a closed connection at the same address. */
static struct tag *find_tag(PGconn *c, bool any_pid)
{
	int pid = PQbackendPID(c);
	for (int i = 0; i < ntags; i++)
		if (tags[i].c == c && (any_pid || tags[i].pid == pid))
			return &tags[i];
	return NULL;
}

static struct tag *find(PGconn *c)
{
	return find_tag(c, false);
}

void vlog_conn(PGconn *c, const char *label)
{
	if (!vlog_on() || !c)
		return;
	pthread_mutex_lock(&lock);
	struct tag *t = find_tag(c, true);
	if (!label) {
		if (t)
			*t = tags[--ntags];
	} else {
		if (!t && ntags < VLOG_CONNS)
			t = &tags[ntags++];
		if (t) {
			t->c = c;
			t->pid = PQbackendPID(c);
			snprintf(t->label, sizeof t->label, "%s", label);
		}
	}
	pthread_mutex_unlock(&lock);
}

void vlog_worker(PGconn *c, int id)
{
	char label[32], name[8];
	snprintf(label, sizeof label, "worker %s", order_worker_name(id, name, sizeof name));
	vlog_conn(c, label);
}

void vlog_round(long long round)
{
	atomic_store(&current_round, round);
}

/* Appends s to line (of len) at *n, control characters as spaces. */
static void add(char *line, size_t len, size_t *n, const char *s)
{
	for (; s && *s && *n + 1 < len; s++)
		line[(*n)++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
	line[*n] = '\0';
}

/* Writes "<time> <label> round <r>: <what>" for t (under lock). */
static void emit(const struct tag *t, char *what, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[64], head[128];
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	long long round = atomic_load(&current_round);
	char rb[24] = "-";
	if (round >= 0)
		snprintf(rb, sizeof rb, "%lld", round);
	snprintf(head, sizeof head, "%s.%06ldZ %s round %s: ", stamp, ts.tv_nsec / 1000, t->label, rb);
	secret_scrub(what, cap, false);
	fprintf(out, "%s%s\n", head, what);
	fflush(out);
}

void vlog_sent(PGconn *c, const char *stmt, const char *sql, int nparams,
	       const char *const *params)
{
	if (!vlog_on())
		return;
	char line[VLOG_LINE];
	size_t n = 0;
	line[0] = '\0';
	add(line, sizeof line, &n, "sent: ");
	if (sql && stmt) {
		add(line, sizeof line, &n, "PREPARE ");
		add(line, sizeof line, &n, stmt);
		add(line, sizeof line, &n, " AS ");
		add(line, sizeof line, &n, sql);
	} else if (sql) {
		add(line, sizeof line, &n, sql);
	} else {
		add(line, sizeof line, &n, "EXECUTE ");
		add(line, sizeof line, &n, stmt);
	}
	for (int i = 0; params && i < nparams; i++) {
		char p[32];
		snprintf(p, sizeof p, "%s$%d=", i ? ", " : " [", i + 1);
		add(line, sizeof line, &n, p);
		add(line, sizeof line, &n, params[i] ? "'" : "NULL");
		add(line, sizeof line, &n, params[i]);
		add(line, sizeof line, &n, params[i] ? "'" : "");
		if (i + 1 == nparams)
			add(line, sizeof line, &n, "]");
	}
	pthread_mutex_lock(&lock);
	struct tag *t = out ? find(c) : NULL;
	if (t)
		emit(t, line, sizeof line);
	pthread_mutex_unlock(&lock);
}

void vlog_result(PGconn *c, const struct db_result *r)
{
	if (!vlog_on())
		return;
	char line[VLOG_LINE], text[640];
	pthread_mutex_lock(&lock);
	struct tag *t = out ? find(c) : NULL;
	if (t) {
		switch (r->status) {
		case DB_OK:
			snprintf(line, sizeof line, "result: ok, %lld rows, %lld affected", r->rows,
				 r->affected);
			break;
		case DB_ERROR:
			snprintf(line, sizeof line, "result: %s%s%s%s: %s", r->sqlstate,
				 r->constraint[0] ? " (" : "", r->constraint,
				 r->constraint[0] ? ")" : "", r->message);
			break;
		default:
			snprintf(line, sizeof line, "result: %s", db_result_text(r, text, sizeof text));
			break;
		}
		char clean[VLOG_LINE];
		size_t n = 0;
		clean[0] = '\0';
		add(clean, sizeof clean, &n, line);
		emit(t, clean, sizeof clean);
	}
	pthread_mutex_unlock(&lock);
}
