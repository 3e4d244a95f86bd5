/* sandbox.h: a run's sandbox schema: the name, the search_path statement,
 * a scenario script run in it, the owner lock, the drop, and `pgrace
 * clean`.
 *
 * A sandbox is named pgrace_<pid>_<8 hex digits>. Its run holds, for its
 * whole life, the advisory lock (SANDBOX_LOCK_CLASS, hashtext(name)) of the
 * two-key form on a connection of its own that runs nothing else (a step's
 * DISCARD ALL or pg_advisory_unlock_all() on the admin connection would
 * release it): a session lock, or, behind a transaction pooler (where a
 * session lock would stay with whatever server connection took it), a
 * transaction lock kept in an open transaction, which the pooler pins to
 * one server connection.
 * The server releases the lock when that session ends, however the run
 * ended (SIGKILL, a crash, a lost host), so a sandbox whose lock
 * pg_try_advisory_lock() obtains has no live owner: `pgrace clean` drops
 * exactly those. Two names with the same hash only ever make clean keep a
 * dead run's schema, never drop a live one. */
#ifndef PGRACE_SANDBOX_H
#define PGRACE_SANDBOX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "db.h"

/* First key of the owner lock: "pgrc" in ASCII. */
#define SANDBOX_LOCK_CLASS 1885827683

/* "SET [LOCAL] search_path TO schema" into buf (returned): the one
 * statement that puts a session (local: a transaction) in the sandbox. */
const char *sandbox_path_sql(char *buf, size_t len, const char *schema, bool local);
/* Writes a fresh sandbox name for this process into buf. */
void sandbox_name(char *buf, size_t len);
/* s is a sandbox name (pgrace_<digits>_<8 hex digits>). */
bool sandbox_is_name(const char *s);
/* Takes schema's owner lock on c (in_transaction: BEGIN and a transaction
 * lock, c then stays in that transaction): 1 taken, 0 held by another
 * session (c is left as it was), -1 the query failed (err says why). */
int sandbox_lock(PGconn *c, const char *schema, bool in_transaction, char *err, size_t errlen);
/* Drops schema and checks that it is gone: ends an open transaction on *c
 * first (a step may leave one), and after a failure retries on fresh
 * connections (dsn) with backoff until deadline_us (a server restarting
 * refuses connections for a while). *c may be replaced or NULL after; the
 * stop flag does not end it. false with the last error in err. */
bool sandbox_drop(PGconn **c, const char *dsn, const char *schema, uint64_t deadline_us,
		  char *err, size_t errlen);
/* `pgrace clean`: lists the sandboxes of the database dsn names and drops
 * those whose owner is gone (dry_run: only says it would); reports on out,
 * errors on err_out. A drop waits at most lock_timeout_ms for a lock (then
 * that sandbox is kept and the session holding the lock named). Returns an
 * exit code (0, or 3 when the database could not be used or a drop failed). */
int sandbox_clean(const char *dsn, bool dry_run, int lock_timeout_ms, FILE *out, FILE *err_out);

/* Runs a scenario's script on c in schema. pooled (c goes through a
 * transaction pooler, which hands each transaction any server connection
 * but keeps one for the whole of a query message): the script is sent in
 * one message after a session SET of the search_path, which holds past a
 * COMMIT inside the script (SET LOCAL did not, and made the script one
 * transaction block), and RESET after it so the pool's connection does not
 * keep it; statements that must run outside a transaction block cannot go
 * that way (run_plan refuses them). Else c is in schema already. It waits
 * until deadline_us (clock_us() time), then cancels it. */
void sandbox_script(PGconn *c, bool pooled, const char *schema, const char *sql,
		    uint64_t deadline_us, struct db_result *r);

#endif
