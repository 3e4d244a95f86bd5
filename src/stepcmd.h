/* stepcmd.h: a scenario's command (schema, seed, migration or step) run as
 * a step: with the sandbox as its default schema (command_env), its end
 * read as a query's result, and the catalog outside the sandbox compared
 * before and after (outside.h). Calls command, outside and db. */
#ifndef PGRACE_STEPCMD_H
#define PGRACE_STEPCMD_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "command.h"
#include "db.h"

/* Runs cmd against the sandbox schema (admin: the setup connection, for
 * the catalog snapshots and the environment). *r says how it went as a
 * query would (DB_ERROR: it failed, sqlstate what its output names;
 * DB_TIMEOUT / DB_INTERRUPTED: killed; DB_LOST: the catalog could not be
 * read). False when it could not even start (r->message says why). Its
 * output is in *cr. A command that changed the catalog outside the sandbox
 * has failed whatever its exit status: r says what changed, and
 * *touched_outside is set. */
bool stepcmd_run(PGconn *admin, const char *schema, const struct command *cmd, struct command_result *cr,
		 struct db_result *r, bool *touched_outside);

#endif
