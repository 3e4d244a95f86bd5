/* lockview.c: the engines' lock views (see lockview.h). */
#include "lockview.h"

#include <stdio.h>
#include <string.h>

#include "db.h"

/* PostgreSQL: pg_stat_activity says who waits on a heavyweight lock,
 * pg_blocking_pids() on whom (hard and soft blockers alike). */
static const struct lockview postgresql = {
	.engine = "PostgreSQL",
	.blocked_by_peers = "SELECT count(*) FROM pg_stat_activity a "
			    "WHERE a.pid = ANY($1::int[]) AND a.wait_event_type = 'Lock' "
			    "AND cardinality(pg_blocking_pids(a.pid)) > 0 "
			    "AND pg_blocking_pids(a.pid) <@ $1::int[]",
	.blocked_from_outside = "SELECT b || ' ' || w FROM unnest($1::int[]) AS w, "
				"unnest(pg_blocking_pids(w)) AS b WHERE b <> ALL($1::int[]) LIMIT 1",
	.peers_and_deadlock_timeout =
		"SELECT count(*) || ' ' || current_setting('deadlock_timeout') "
		"FROM pg_stat_activity a WHERE a.pid = ANY($1::int[]) "
		"AND a.wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(a.pid)) > 0 "
		"AND pg_blocking_pids(a.pid) <@ $1::int[]",
	/* pg_isolation_test_session_is_blocked: the isolation tester's own test
	 * (lock waits and safe-snapshot waits on the given sessions). */
	.waits_among_peers =
		"SELECT coalesce(string_agg(w.i || ':' || coalesce((SELECT string_agg(b.j::text, '' "
		"ORDER BY b.j) FROM unnest($1::int[]) WITH ORDINALITY AS b(pid, j) "
		"WHERE b.pid = ANY (pg_blocking_pids(w.pid))), ''), ' '), '') "
		"FROM unnest($1::int[]) WITH ORDINALITY AS w(pid, i) "
		"WHERE pg_isolation_test_session_is_blocked(w.pid, $1::int[])",
	.exclusive_holder = "SELECT l.pid || ' ' || c.relname FROM pg_locks l "
			    "JOIN pg_class c ON c.oid = l.relation "
			    "JOIN pg_namespace n ON n.oid = c.relnamespace "
			    "WHERE n.nspname = $1 AND l.granted AND l.mode = 'AccessExclusiveLock' "
			    "AND l.pid <> pg_backend_pid() ORDER BY l.pid LIMIT 1",
};

/* Engines that speak PostgreSQL's protocol but whose locks are elsewhere
 * (distributed): recognised by their version() text, refused for hold mode
 * until they have a view of their own. */
static const struct {
	const char *marker, *engine, *view;
} unsupported[] = {
	{"CockroachDB", "CockroachDB", "crdb_internal.cluster_locks"},
	{"-YB-", "YugabyteDB", "pg_locks (YugabyteDB's own semantics)"},
};

const struct lockview *lockview_for(const char *version, char *why, size_t len)
{
	for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
		if (version && strstr(version, unsupported[i].marker)) {
			snprintf(why, len,
				 "the server is %s, whose lock waits pgrace cannot see yet (its view is "
				 "%s; docs/distributed.md): hold mode needs them, use --mode fire",
				 unsupported[i].engine, unsupported[i].view);
			return NULL;
		}
	return &postgresql;
}

const struct lockview *lockview_none(void)
{
	static const struct lockview none = {
		.engine = "none",
		.blocked_by_peers = "SELECT 0 WHERE $1::text IS NOT NULL",
		.blocked_from_outside = "SELECT $1::text WHERE false",
		.peers_and_deadlock_timeout = "SELECT '0 0' WHERE $1::text IS NOT NULL",
		.waits_among_peers = "SELECT '' WHERE $1::text IS NOT NULL",
		.exclusive_holder = "SELECT $1::text WHERE false",
	};
	return &none;
}

const struct lockview *lockview_detect(PGconn *c, char *why, size_t len)
{
	struct db_result r;
	char text[600];
	db_query(c, "SELECT version()", 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		snprintf(why, len, "cannot ask the server's version: %s",
			 db_result_text(&r, text, sizeof text));
		return NULL;
	}
	const struct lockview *v = lockview_for(r.first_value, why, len);
	if (!v)
		return NULL;
	/* Citus keeps PostgreSQL's version(): its mark is the extension. */
	db_query(c, "SELECT 1 FROM pg_extension WHERE extname = 'citus'", 0, NULL, 0, &r);
	if (r.status == DB_OK && r.rows > 0) {
		snprintf(why, len,
			 "the server runs Citus, whose distributed lock waits pgrace cannot see yet "
			 "(its view is citus_lock_waits; docs/distributed.md): hold mode needs them, "
			 "use --mode fire");
		return NULL;
	}
	return v;
}
