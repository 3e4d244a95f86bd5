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

/* A connection target given on the command line (--target NAME=CONNINFO). */
struct target_arg {
	char name[32];
	const char *dsn;
};

#define RUN_TARGETS_MAX 8

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

/* Every --target of args names a target other than the first of at least
 * one of the n scenarios sc (the first is --dsn's server): a name none of
 * them uses would be ignored in silence, a misspelt replica with it. False
 * with why naming it. */
bool server_targets_named(const struct target_arg *args, size_t n_args,
			  const struct scenario *sc, size_t n, char *why, size_t len);
/* The conninfo of each of sc's targets into dsns[]: the first is dsn (the
 * --dsn server, NULL for the PG* environment), the others come from
 * args[0..n). False, with the reason ("needs target replica: give --target
 * replica=CONNINFO"), when one is not given; a scenario without targets
 * gets dsns[0] = dsn. */
bool server_targets(const struct scenario *sc, const char *dsn, const struct target_arg *args,
		    size_t n, const char *dsns[TARGETS_MAX], char *reason, size_t len);
/* Checks that each target a flow statement of sc reads `on:` (dsns[t],
 * t >= 1) is what its place says, a streaming replica of the first target
 * (primary, c): in recovery (pg_is_in_recovery()), and with the primary's
 * system identifier (pg_control_system(); compared only where both servers
 * let the user read it). VERDICT_PASS when every one is; VERDICT_BAD_SCENARIO
 * with why when one is a primary (the --dsn server itself, or a promoted
 * copy) or a standby of another cluster: a --target that names the wrong
 * server; VERDICT_ERROR when one cannot be reached or asked. */
/* Checks that dsn (the workers' --dsn) reaches the database admin (the
 * --admin-dsn connection) is in: the same current_database() and, where
 * both servers let the user read it, the same system identifier.
 * VERDICT_PASS when it does; VERDICT_BAD_SCENARIO with why naming both when
 * it does not (the sandbox would be made in one and raced in the other);
 * VERDICT_ERROR when dsn cannot be reached or asked. */
enum verdict server_same_database(PGconn *admin, const char *dsn, char *why, size_t len);
enum verdict server_check_replicas(PGconn *c, const struct scenario *sc,
				   const char *const dsns[TARGETS_MAX], char *why, size_t len);
/* Waits until target name (a replica, at dsn) has replayed everything the
 * primary c has written so far (pg_current_wal_insert_lsn(),
 * which counts an asynchronous commit not yet written out, against
 * pg_last_wal_replay_lsn()), then checks that it sees schema; at most
 * timeout_ms, and not past the stop flag. False with err when it does not. */
bool server_wait_replay(PGconn *c, const char *name, const char *dsn, const char *schema,
			int timeout_ms, char *err, size_t len);
/* Appends to msg (a run's error) which of sc's targets cannot be reached
 * any more ("; lost target primary: ..."), when there are targets. */
void server_name_lost(const struct scenario *sc, const char *const dsns[TARGETS_MAX], char *msg,
		      size_t len);

/* After a failover: drops schema on each of sc's other targets that is no
 * longer in recovery (a promoted replica, which got the sandbox by
 * replication and now keeps it); messages on stderr for those it cannot. */
void server_drop_on_promoted(const struct scenario *sc, const char *const dsns[TARGETS_MAX],
			     const char *schema);

/* Whether the server behind admin has room for workers connections and a
 * coordinator (phase names the phase that needs them): false with err
 * saying how many it needs and has, or why it could not tell. */
bool server_check_connections(PGconn *admin, const char *phase, int workers, char *err,
			      size_t errlen);

#endif
