/* server.h: what the server a run talks to is and has, and whether that
 * meets a scenario's `requires:` (a major version, extensions).
 *
 * The judgement itself is the judge's (judge_requirements); server_check
 * asks the server for what it needs. An extension the database lacks is created in
 * the run's sandbox schema, so it goes with the schema; runs that need the
 * same one take turns on a session advisory lock held until their admin
 * connection closes (after the schema is dropped). */
#ifndef PGRACE_SERVER_H
#define PGRACE_SERVER_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"

struct server_info {
	int version_num;  /* PQserverVersion: 130023 for 13.23, 180004 for 18.4 */
	char version[32]; /* server_version as the server reports it: "13.23" */
};

/* Fills *si from c's connection parameters (no query). */
void server_info_get(PGconn *c, struct server_info *si);
/* Asks c which of rq's extensions it can create and judges rq: *met, and
 * the reason when not. False (why in reason) when the server cannot be asked. */
bool server_check(PGconn *c, const struct requirements *rq, const struct server_info *si,
		  bool *met, char *reason, size_t len);
/* Creates each of rq's extensions that the database does not have outside
 * a pgrace sandbox, in schema (c's sandbox), after waiting its turn; false
 * with err when one cannot be. */
bool server_create_extensions(PGconn *c, const char *schema, const struct requirements *rq,
			      char *err, size_t len);

#endif
