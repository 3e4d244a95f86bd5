/* proxy_step.c: what the listener makes of a framed step (proxy_int.h):
 * its class (COMMIT, data, session housekeeping, through the prepared
 * statement names a connection remembers), its entry in the worker's step
 * log under PROXY_HOLD_STEPS, its trip record for the report's timeline, and
 * whether the worker's policy holds it. Pure bookkeeping on a connection's
 * state, under the listener's mutex; no I/O. May call steplog.c, pbuf.c,
 * mem.c and stats.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "proxy_int.h"
#include "stats.h"
#include "steplog.h"

/* The class a Bind's statement was prepared with. */
enum pgwire_sql_class pconn_name_class(const struct pconn *c, const char *name)
{
	for (int i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i].name, name) == 0)
			return c->names[i].cls;
	return PGWIRE_SQL_DATA;
}

void pconn_name_remember(struct pconn *c, const char *name, enum pgwire_sql_class cls,
			  const char *sql)
{
	int i = 0;
	while (i < c->n_names && strcmp(c->names[i].name, name) != 0)
		i++;
	if (i == c->n_names) {
		if (c->n_names == MAX_NAMES || strlen(name) >= sizeof c->names[0].name)
			return; /* unknown names count as data */
		c->n_names++;
	}
	snprintf(c->names[i].name, sizeof c->names[i].name, "%s", name);
	c->names[i].cls = cls;
	free(c->names[i].sql);
	c->names[i].sql = (c->p->policy[c->worker] & PROXY_HOLD_STEPS) ? mem_strdup(sql) : NULL;
}

/* appstep_lookup_fn over a connection's prepared statements. */
static const char *name_sql(void *ctx, const char *name)
{
	const struct pconn *c = ctx;
	for (int i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i].name, name) == 0)
			return c->names[i].sql;
	return NULL;
}

/* Under PROXY_HOLD_STEPS, describes the framed step into the worker's log
 * (c->log_at); -1 when it is not logged. */
int pconn_step_log(struct pconn *c)
{
	struct proxy *p = c->p;
	c->log_at = -1;
	if (!pconn_view(c) || !(p->policy[c->worker] & PROXY_HOLD_STEPS) || !p->log)
		return -1;
	c->log_at = steplog_add(p->log, c->worker, c->idx, pbuf_at(&c->cin), c->step_end,
				name_sql, c);
	struct proxy_step *s = steplog_at(p->log, c->worker, c->log_at);
	/* ending a transaction that did nothing another worker sees */
	if (s && s->d.control && !c->txn_points)
		s->d.visible = false;
	return c->log_at;
}

/* The log entry of c's step in flight, or NULL. */
struct proxy_step *pconn_logged_step(struct pconn *c)
{
	return pconn_view(c) ? steplog_at(c->p->log, c->worker, c->log_at) : NULL;
}

/* A step's class: COMMIT wins; else its first statement that is not
 * session housekeeping. */
void pconn_step_add_class(struct pconn *c, enum pgwire_sql_class cls)
{
	if (!c->step_classed || c->step_class == PGWIRE_SQL_SESSION || cls == PGWIRE_SQL_COMMIT) {
		if (!(c->step_classed && c->step_class == PGWIRE_SQL_COMMIT))
			c->step_class = cls;
		c->step_classed = true;
	}
}

bool pconn_should_hold(struct pconn *c, int logged)
{
	struct proxy *p = c->p;
	if (c->round != p->round)
		return false;
	unsigned f = p->policy[c->worker];
	enum pgwire_sql_class cls = c->step_classed ? c->step_class : PGWIRE_SQL_SESSION;
	if (f & PROXY_HOLD_EVERY)
		return true;
	if ((f & PROXY_HOLD_STEPS) && logged >= 0 &&
	    steplog_at(p->log, c->worker, logged)->d.visible)
		return true;
	if ((f & PROXY_HOLD_COMMIT) && cls == PGWIRE_SQL_COMMIT)
		return true;
	if ((f & PROXY_HOLD_FIRST) && p->fire_pending[c->worker] && cls == PGWIRE_SQL_DATA) {
		p->fire_pending[c->worker] = false;
		return true;
	}
	return false;
}

/* The step in flight's trip record, NULL when none is kept (trips is a
 * ring of the last PROXY_MAX_TRIPS; c->trip the step's number). */
struct proxy_trip *pconn_trip_of(struct pconn *c)
{
	struct proxy_view *v = pconn_view(c);
	return v && c->trip >= 0 && c->trip < v->n_trips && v->n_trips - c->trip <= PROXY_MAX_TRIPS
		       ? &v->trips[c->trip % PROXY_MAX_TRIPS]
		       : NULL;
}

/* A step came in whole: its trip begins. */
void pconn_trip_begin(struct pconn *c, bool held)
{
	struct proxy_view *v = pconn_view(c);
	c->trip = v ? v->n_trips++ : -1;
	if (v)
		v->trips[c->trip % PROXY_MAX_TRIPS] = (struct proxy_trip){
			.in_us = clock_us(), .cls = c->step_classed ? c->step_class : PGWIRE_SQL_SESSION,
			.conn = c->idx, .held = held, .error = -1};
}
