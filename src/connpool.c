/* connpool.c: the workers' connections kept between a run's racing phases
 * (connpool.h): reset with DISCARD ALL, all at once, when a phase hands
 * them back; taken by the next phase on the same conninfo and schema. */
#include "connpool.h"

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "mem.h"
#include "stats.h"

void connpool_init(struct connpool *p)
{
	memset(p, 0, sizeof *p);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

void connpool_clear(struct connpool *p)
{
	for (int i = 0; i < p->n; i++)
		PQfinish(p->c[i]);
	free(p->c);
	free(p->dsn);
	free(p->schema);
	long long kept = p->kept, dropped = p->dropped;
	connpool_init(p);
	p->kept = kept;
	p->dropped = dropped;
}

PGconn *connpool_take(struct connpool *p, const char *dsn, const char *schema)
{
	if (!same(p->dsn, dsn) || !same(p->schema, schema)) {
		connpool_clear(p);
		return NULL;
	}
	return p->n > 0 ? p->c[--p->n] : NULL;
}

/* A connection that may be reset: connected, no query in flight, outside
 * any transaction and out of pipeline mode. */
static bool resettable(PGconn *c)
{
	return PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE &&
	       PQpipelineStatus(c) == PQ_PIPELINE_OFF && !PQisBusy(c);
}

/* Waits for c's DISCARD ALL (sent) to be answered: true when it succeeded
 * and c is idle again by deadline_us. */
static bool reset_answered(PGconn *c, uint64_t deadline_us)
{
	bool ok = true;
	for (;;) {
		int unsent = PQflush(c);
		if (unsent < 0 || !PQconsumeInput(c))
			return false;
		while (!PQisBusy(c)) {
			PGresult *r = PQgetResult(c);
			if (!r)
				return ok && PQtransactionStatus(c) == PQTRANS_IDLE;
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				ok = false;
			PQclear(r);
		}
		uint64_t now = clock_us();
		if (now >= deadline_us || db_stop_requested())
			return false;
		uint64_t left_ms = (deadline_us - now) / 1000u + 1u;
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN | (unsent ? POLLOUT : 0)};
		if (pfd.fd < 0 || poll(&pfd, 1, left_ms > 50 ? 50 : (int)left_ms) < 0)
			return false;
	}
}

void connpool_keep(struct connpool *p, const char *dsn, const char *schema, PGconn **c, int n,
		   uint64_t deadline_us)
{
	if (!same(p->dsn, dsn) || !same(p->schema, schema)) {
		connpool_clear(p);
		p->dsn = dup_or_null(dsn);
		p->schema = dup_or_null(schema);
	}
	/* every reset goes out first, so the server runs them side by side */
	int sent = 0;
	for (int i = 0; i < n; i++) {
		if (!c[i])
			continue;
		if (!db_stop_requested() && resettable(c[i]) &&
		    (db_cancel_settle(c[i]), PQsendQuery(c[i], "DISCARD ALL"))) {
			c[sent++] = c[i];
		} else {
			PQfinish(c[i]);
			p->dropped++;
		}
	}
	if (p->cap - p->n < sent) {
		int cap = p->n + sent;
		p->c = mem_realloc(p->c, (size_t)cap * sizeof *p->c);
		p->cap = cap;
	}
	for (int i = 0; i < sent; i++) {
		if (reset_answered(c[i], deadline_us)) {
			p->c[p->n++] = c[i];
			p->kept++;
		} else {
			PQfinish(c[i]);
			p->dropped++;
		}
	}
}
