/* sandbox.c: sandbox names, the owner lock, the drop, `pgrace clean` (see sandbox.h). */
#include "sandbox.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "lockview.h"
#include "pgrace.h"
#include "stats.h"
#include "text.h"

/* The owner lock's key for a name held in $1. */
#define LOCK_KEY "(%d, hashtext($1))"

void sandbox_name(char *buf, size_t len)
{
	unsigned rnd = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(&rnd, sizeof rnd, 1, f) != 1)
		rnd = (unsigned)clock_us() ^ (unsigned)getpid() * 2654435761u;
	if (f)
		fclose(f);
	snprintf(buf, len, "pgrace_%d_%08x", (int)getpid(), rnd);
}

const char *sandbox_path_sql(char *buf, size_t len, const char *schema, bool local)
{
	snprintf(buf, len, "SET %ssearch_path TO %s", local ? "LOCAL " : "", schema);
	return buf;
}

bool sandbox_is_name(const char *s)
{
	if (strncmp(s, "pgrace_", 7))
		return false;
	const char *p = s + 7, *digits = p;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == digits || *p++ != '_')
		return false;
	for (int i = 0; i < 8; i++, p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	return *p == '\0';
}

int sandbox_lock(PGconn *c, const char *schema, bool in_transaction, char *err, size_t errlen)
{
	char sql[160], text[600];
	struct db_result r, rb;
	const char *params[1] = {schema};
	if (in_transaction) {
		/* A server-side idle_in_transaction_session_timeout would end the
		 * transaction, and the lock with it, while the run still lives. */
		db_query(c, "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0", 0, NULL, 0, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	snprintf(sql, sizeof sql, "SELECT pg_try_advisory%s_lock" LOCK_KEY,
		 in_transaction ? "_xact" : "", SANDBOX_LOCK_CLASS);
	db_query(c, sql, 1, params, 0, &r);
	if (r.status != DB_OK)
		goto failed;
	if (!strcmp(r.first_value, "t"))
		return 1;
	if (in_transaction)
		db_query(c, "ROLLBACK", 0, NULL, 0, &rb);
	return 0;
failed:
	snprintf(err, errlen, "cannot take the owner lock of %s: %s", schema,
		 db_result_text(&r, text, sizeof text));
	return -1;
}

/* Sleeps ms milliseconds, but not past deadline_us. */
static void pause_until(long ms, uint64_t deadline_us)
{
	uint64_t now = clock_us();
	if (now >= deadline_us)
		return;
	if ((uint64_t)ms * 1000u > deadline_us - now)
		ms = (long)((deadline_us - now) / 1000u);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* One try on c: end its transaction, drop, check. */
static bool drop_once(PGconn *c, const char *schema, uint64_t deadline_us, char *err,
		      size_t errlen)
{
	char sql[256], text[600];
	struct db_result r;
	PGTransactionStatusType ts = PQtransactionStatus(c);
	if (ts == PQTRANS_ACTIVE || ts == PQTRANS_UNKNOWN) {
		snprintf(err, errlen, "the connection is busy or broken");
		return false;
	}
	/* A step may leave a transaction open (BEGIN without COMMIT): a DROP
	 * inside it would be rolled back with it when the connection closes. */
	if (ts != PQTRANS_IDLE) {
		db_query_cleanup(c, "ROLLBACK", deadline_us, &r);
		if (r.status != DB_OK) {
			snprintf(err, errlen, "ROLLBACK: %s", db_result_text(&r, text, sizeof text));
			return false;
		}
	}
	/* The name is checked (sandbox_is_name): no quoting to get wrong. */
	snprintf(sql, sizeof sql,
		 "DROP SCHEMA IF EXISTS %s CASCADE; "
		 "SELECT count(*) FROM pg_namespace WHERE nspname = '%s'",
		 schema, schema);
	db_query_cleanup(c, sql, deadline_us, &r);
	if (r.status != DB_OK) {
		snprintf(err, errlen, "%s", db_result_text(&r, text, sizeof text));
		return false;
	}
	if (PQtransactionStatus(c) != PQTRANS_IDLE || strcmp(r.first_value, "0")) {
		snprintf(err, errlen, "the schema is still there after DROP SCHEMA");
		return false;
	}
	return true;
}

bool sandbox_drop(PGconn **c, const char *dsn, const char *schema, uint64_t deadline_us,
		  char *err, size_t errlen)
{
	if (!sandbox_is_name(schema)) {
		snprintf(err, errlen, "not a sandbox name: %s", schema);
		return false;
	}
	long backoff_ms = 100;
	for (;;) {
		if (*c && PQstatus(*c) == CONNECTION_OK && drop_once(*c, schema, deadline_us, err, errlen))
			return true;
		if (clock_us() >= deadline_us)
			return false;
		/* A fresh connection: the old one is lost, busy, or in a state we
		 * cannot trust; a restarting server refuses for a while. */
		if (*c)
			PQfinish(*c);
		*c = NULL;
		pause_until(backoff_ms, deadline_us);
		if (backoff_ms < 2000)
			backoff_ms *= 2;
		*c = db_connect_cleanup(dsn, deadline_us, err, errlen);
	}
}

/* The first sandbox name after `after` ("" for the first), into name; false when none. */
static bool next_sandbox(PGconn *c, const char *after, char *name, size_t len,
			 struct db_result *r)
{
	const char *params[1] = {after};
	db_query(c,
		 "SELECT min(nspname)::text FROM pg_namespace "
		 "WHERE nspname ~ '^pgrace_[0-9]+_[0-9a-f]{8}$' AND nspname > $1",
		 1, params, 0, r);
	if (r->status != DB_OK || !r->first_value[0])
		return false;
	snprintf(name, len, "%s", r->first_value);
	return true;
}

/* Drops name if its owner is gone, in one transaction that holds its owner
 * lock meanwhile (a transaction lock: right behind a pooler too), waiting
 * at most lock_timeout_ms for the DROP's locks (a leftover session may hold
 * one on a table of the sandbox: then err names it).
 * Returns 1 dropped (or would be), 0 kept, -1 error (err). */
static int clean_one(PGconn *c, const char *name, bool dry_run, int lock_timeout_ms, char *err,
		     size_t errlen)
{
	char sql[256], text[600];
	struct db_result r, rb;
	const char *params[1] = {name};
	/* The query's own deadline is a backstop past the server's lock_timeout. */
	uint64_t deadline = clock_us() + (uint64_t)lock_timeout_ms * 1000u + 10u * 1000000u;
	snprintf(sql, sizeof sql, "BEGIN; SET LOCAL lock_timeout = %d", lock_timeout_ms);
	db_query(c, sql, 0, NULL, 0, &r);
	if (r.status != DB_OK)
		goto failed;
	snprintf(sql, sizeof sql, "SELECT pg_try_advisory_xact_lock" LOCK_KEY, SANDBOX_LOCK_CLASS);
	db_query(c, sql, 1, params, 0, &r);
	if (r.status != DB_OK)
		goto failed;
	if (strcmp(r.first_value, "t") || dry_run) {
		db_query(c, "ROLLBACK", 0, NULL, 0, &rb);
		return strcmp(r.first_value, "t") ? 0 : 1;
	}
	if (!sandbox_is_name(name)) /* as the query selected: a name that needs no quoting */
		abort();
	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", name);
	db_query(c, sql, 0, NULL, deadline, &r);
	if (r.status == DB_TIMEOUT || (r.status == DB_ERROR && !strcmp(r.sqlstate, "55P03"))) {
		char holders[300];
		db_query(c, "ROLLBACK", 0, NULL, 0, &rb);
		lockview_schema_holders(c, name, holders, sizeof holders);
		snprintf(err, errlen,
			 "kept: DROP SCHEMA waited %d ms for a lock (--lock-timeout-ms): %s", lock_timeout_ms,
			 holders[0] ? holders : "the session holding it is gone now; try again");
		return -1;
	}
	if (r.status != DB_OK)
		goto failed;
	db_query(c, "COMMIT", 0, NULL, 0, &r);
	if (r.status != DB_OK)
		goto failed;
	return 1;
failed:
	snprintf(err, errlen, "%s", db_result_text(&r, text, sizeof text));
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		db_query(c, "ROLLBACK", 0, NULL, 0, &rb);
	return -1;
}

int sandbox_clean(const char *dsn, bool dry_run, int lock_timeout_ms, FILE *out, FILE *err_out)
{
	char err[1024], name[64] = "", text[600];
	struct db_result r;
	PGconn *c = db_connect(dsn, NULL, err, sizeof err);
	if (!c) {
		text_line(err_out, "pgrace: clean: cannot connect: %s", err);
		return EXIT_DATABASE;
	}
	int rc = EXIT_PASS, dropped = 0, kept = 0, failed = 0;
	while (next_sandbox(c, name, name, sizeof name, &r)) {
		int done = clean_one(c, name, dry_run, lock_timeout_ms, err, sizeof err);
		if (done > 0) {
			dropped++;
			text_line(out, "%s: %s (its run is gone)", name, dry_run ? "would drop" : "dropped");
		} else if (done == 0) {
			kept++;
			text_line(out, "%s: kept (its run is alive: it holds the owner lock)", name);
		} else {
			failed++;
			text_line(err_out, "pgrace: clean: %s: %s", name, err);
		}
	}
	if (r.status != DB_OK) {
		text_line(err_out, "pgrace: clean: cannot list the sandboxes: %s",
			  db_result_text(&r, text, sizeof text));
		rc = EXIT_DATABASE;
	}
	if (failed)
		rc = EXIT_DATABASE;
	fprintf(out, "%d sandbox%s %s, %d kept%s\n", dropped, dropped == 1 ? "" : "es",
		dry_run ? "to drop" : "dropped", kept, failed ? ", some could not be dropped" : "");
	PQfinish(c);
	return rc;
}

void sandbox_script(PGconn *c, bool pooled, const char *schema, const char *sql,
		    uint64_t deadline_us, struct db_result *r)
{
	if (!pooled) {
		db_query(c, sql, 0, NULL, deadline_us, r);
		return;
	}
	char path[96];
	size_t len = strlen(sql) + 256;
	char *full = malloc(len);
	if (!full)
		abort();
	snprintf(full, len, "%s;\n%s\n;RESET search_path",
		 sandbox_path_sql(path, sizeof path, schema, false), sql);
	db_query_trailed(c, full, deadline_us, r);
	free(full);
}
