/* steplog.h: the listener's log of every step each worker sent in a round,
 * kept under PROXY_HOLD_STEPS for interleave mode of app flows (proxy.h's
 * struct proxy_step is an entry).
 *
 * Not thread-safe by itself: the proxy calls it under its mutex. Entries
 * live until the next steplog_reset; a worker's log holds PROXY_MAX_LOG
 * entries, and a step past that is not logged (steplog_full says so). */
#ifndef PGRACE_STEPLOG_H
#define PGRACE_STEPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appstep.h"
#include "proxy.h"

struct steplog; /* opaque */

/* An empty log for workers workers. */
struct steplog *steplog_new(int workers);
/* Empties every worker's log for a new round. */
void steplog_reset(struct steplog *l);
/* Logs worker w's step (len bytes of whole messages at buf, sent on its
 * connection conn; lookup finds a named statement's SQL) described by
 * appstep_describe; its index, or -1 when the worker's log is full. */
int steplog_add(struct steplog *l, int w, int conn, const uint8_t *buf, size_t len,
		appstep_lookup_fn lookup, void *ctx);
/* Worker w's entry i, or NULL. */
struct proxy_step *steplog_at(struct steplog *l, int w, int i);
/* Marks entry s as sent now (its place among the round's sends). */
void steplog_sent(struct steplog *l, struct proxy_step *s);
/* A CommandComplete's tag (body of len bytes) into s. */
void steplog_tag(struct proxy_step *s, const uint8_t *body, size_t len);
/* Entries in worker w's log, and whether a step did not fit. */
int steplog_count(const struct steplog *l, int w);
bool steplog_full(const struct steplog *l, int w);
/* Frees l (NULL is fine). */
void steplog_free(struct steplog *l);

#endif
