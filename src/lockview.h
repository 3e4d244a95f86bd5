/* lockview.h: how pgrace asks a database engine who waits for whose lock.
 *
 * Hold mode's commit barrier and interleave mode's coordinator need one
 * thing beyond libpq: to see that a worker is blocked on a lock another
 * worker holds (and on whom a worker outside the round waits). That is engine-specific SQL, so it lives in one
 * small table of operations per engine; the coordinators (coord.c for hold
 * and fire, interleave.c) run them
 * and never writes its own. PostgreSQL's view (pg_stat_activity and
 * pg_blocking_pids) is the one implemented. Another engine reached through
 * libpq adds a row (docs/distributed.md says what Citus, CockroachDB and
 * YugabyteDB offer: citus_lock_waits, crdb_internal.cluster_locks, pg_locks
 * with their own semantics); until it has one, lockview_detect() names the
 * engine and refuses hold mode rather than guess.
 *
 * Every operation takes $1, the workers' backend pids as an int[] literal
 * ("{101,102}") unless it says otherwise, and returns exactly one row (or,
 * where said, none). No lock-view SQL is written anywhere else. */
#ifndef PGRACE_LOCKVIEW_H
#define PGRACE_LOCKVIEW_H

#include <libpq-fe.h>
#include <stddef.h>

struct lockview {
	const char *engine; /* "PostgreSQL" */
	/* One integer: how many of the backends $2 (an int[] of some of $1:
	 * those running a statement) wait on a lock that only backends of $1
	 * hold (each such backend stays blocked until one commits). */
	const char *blocked_by_peers;
	/* No row, or one text "BLOCKER WAITER": a worker waiting on a session
	 * that is not one of the workers. */
	const char *blocked_from_outside;
	/* One text "COUNT TIMEOUT": blocked_by_peers' count and the engine's
	 * deadlock timeout, for a round that ran out of time. */
	const char *peers_and_deadlock_timeout;
	/* One text, "" or "I:JK I:J ...": interleave mode's question, as the
	 * isolation tester asks it, about each worker I (1-based in $1) that
	 * waits on a lock held by other workers, with the workers J, K it waits
	 * on ("2:1": worker 2 waits on worker 1). */
	const char *waits_among_peers;
	/* No row, or one text "PID TABLE": a session (not the asking one) that
	 * holds the one lock a read waits for, ACCESS EXCLUSIVE, on a table of
	 * schema $1 (a text, not the pids): why a rows query timed out. */
	const char *exclusive_holder;
	/* Partial-order reduction's question about one backend ($1, a pid, not
	 * an array) in a transaction that just ran one flow statement, paged
	 * ($2, the 1-based offset: 60 characters of the answer): "FLAGS OID
	 * OID ...". FLAGS ends in '-' and holds 'w' (a lock above ACCESS SHARE
	 * or a row written), 'x' (ACCESS EXCLUSIVE), 'u' (what it touches cannot
	 * be told: a lock that is not on a relation, a trigger of its own, a
	 * default, check, policy, index or rule calling a function outside
	 * pg_catalog, a catalog locked above ACCESS SHARE). The OIDs are the
	 * user relations it locked (an index counts as its table), those linked
	 * to a written one by foreign keys either way (transitively), and the
	 * inheritance children of all of them. */
	const char *step_footprint;
	/* One integer: how many functions outside pg_catalog, or volatile ones
	 * (pg_advisory_xact_lock, nextval, ...; not random, gen_random_uuid,
	 * clock_timestamp, timeofday), have one of the names in $1 (a text[]
	 * literal): a flow statement calling one is a step whose footprint
	 * cannot be told (it may call it only for some rows). */
	const char *user_functions_named;
};

/* The lock view for the engine whose version() text is version, or NULL
 * with why ("CockroachDB has no lock view in pgrace yet ...") when pgrace
 * has none for it. */
const struct lockview *lockview_for(const char *version, char *why, size_t len);
/* The view of an engine pgrace has none for: it sees nothing and says so
 * (fire mode describes a stuck round with it; hold mode refuses). */
const struct lockview *lockview_none(void);
/* lockview_for() of the server c is connected to (asks SELECT version()). */
const struct lockview *lockview_detect(PGconn *c, char *why, size_t len);
/* Who else holds a lock on a table of schema (PostgreSQL's pg_locks), as
 * "pid N holds MODE on table T; ..." into buf ("" when no one, or when the
 * question failed): what a DROP SCHEMA that ran out of time waited for.
 * Asks on c, which is idle. */
void lockview_schema_holders(PGconn *c, const char *schema, char *buf, size_t len);
/* What backend pid waits on, asked from c (another connection) while it
 * waits: "a lock held by pid N (MODE on table T)", or "no lock (wait event
 * Timeout/PgSleep)", or "nothing: it was running"; "" when the question
 * failed. */
void lockview_session_wait(PGconn *c, int pid, char *buf, size_t len);

#endif
