/* lockview.c: the engines' lock views (see lockview.h). */
#include "lockview.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "stats.h"

/* PostgreSQL: pg_stat_activity says who waits on a heavyweight lock,
 * pg_blocking_pids() on whom (hard and soft blockers alike). */
static const struct lockview postgresql = {
	.engine = "PostgreSQL",
	.blocked_by_peers = "SELECT count(*) FROM pg_stat_activity a "
			    "WHERE a.pid = ANY($2::int[]) AND a.wait_event_type = 'Lock' "
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
	.step_footprint =
		"SELECT substr(q.t, $2::int, 60) FROM (WITH RECURSIVE "
		"held AS (SELECT l.locktype, l.mode, coalesce(i.indrelid, l.relation) AS rel "
		"FROM pg_locks l LEFT JOIN pg_index i ON i.indexrelid = l.relation "
		"WHERE l.pid = $1::int), "
		"direct AS (SELECT DISTINCT rel FROM held WHERE locktype = 'relation' "
		"AND rel >= 16384), "
		"fk(rel) AS (SELECT rel FROM held WHERE locktype = 'relation' AND rel >= 16384 "
		"AND mode <> 'AccessShareLock' UNION SELECT CASE WHEN k.conrelid = fk.rel "
		"THEN k.confrelid ELSE k.conrelid END FROM pg_constraint k JOIN fk "
		"ON k.contype = 'f' AND fk.rel IN (k.conrelid, k.confrelid)), "
		"kin(rel) AS (SELECT rel FROM direct UNION SELECT rel FROM fk UNION "
		"SELECT h.inhrelid FROM pg_inherits h JOIN kin ON h.inhparent = kin.rel), "
		"flags AS (SELECT coalesce(bool_or(locktype = 'transactionid' OR (locktype = "
		"'relation' AND mode <> 'AccessShareLock')), false) AS w, "
		"coalesce(bool_or(locktype = 'relation' AND mode = 'AccessExclusiveLock'), false) "
		"AS x, coalesce(bool_or(locktype NOT IN ('relation', 'virtualxid', "
		"'transactionid') OR (locktype = 'relation' AND rel < 16384 "
		"AND mode <> 'AccessShareLock')), false) AS u FROM held) "
		"SELECT concat(CASE WHEN w THEN 'w' END, CASE WHEN x THEN 'x' END, "
		"CASE WHEN u OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid IN "
		"(SELECT rel FROM kin) AND NOT t.tgisinternal) OR EXISTS (SELECT 1 FROM pg_depend d "
		"JOIN pg_proc p ON p.oid = d.refobjid WHERE d.refclassid = 'pg_proc'::regclass "
		"AND p.pronamespace <> 'pg_catalog'::regnamespace AND ("
		"(d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef "
		"WHERE adrelid IN (SELECT rel FROM kin))) OR "
		"(d.classid = 'pg_constraint'::regclass AND d.objid IN (SELECT oid FROM "
		"pg_constraint WHERE conrelid IN (SELECT rel FROM kin))) OR "
		"(d.classid = 'pg_policy'::regclass AND d.objid IN (SELECT oid FROM pg_policy "
		"WHERE polrelid IN (SELECT rel FROM kin))) OR "
		"(d.classid = 'pg_class'::regclass AND d.objid IN (SELECT indexrelid FROM "
		"pg_index WHERE indrelid IN (SELECT rel FROM kin))) OR "
		"(d.classid = 'pg_rewrite'::regclass AND d.objid IN (SELECT oid FROM pg_rewrite "
		"WHERE ev_class IN (SELECT rel FROM kin))))) THEN 'u' END, '-', "
		"(SELECT string_agg(' ' || rel::text, '' ORDER BY rel) FROM (SELECT DISTINCT rel "
		"FROM kin) k)) FROM flags) AS q(t)",
	/* Volatile built-ins may run only for some rows (a WHERE that finds
	 * none when probed) and take locks or change state: unknown too, but
	 * for four that touch nothing shared. */
	.user_functions_named =
		"SELECT count(*) FROM pg_proc WHERE proname = ANY ($1::text[]) "
		"AND (pronamespace <> 'pg_catalog'::regnamespace OR (provolatile = 'v' "
		"AND proname NOT IN ('random', 'gen_random_uuid', 'clock_timestamp', 'timeofday')))",
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
		.blocked_by_peers = "SELECT 0 WHERE $1::text IS NOT NULL AND $2::text IS NOT NULL",
		.blocked_from_outside = "SELECT $1::text WHERE false",
		.peers_and_deadlock_timeout = "SELECT '0 0' WHERE $1::text IS NOT NULL",
		.waits_among_peers = "SELECT '' WHERE $1::text IS NOT NULL",
		.exclusive_holder = "SELECT $1::text WHERE false",
		.step_footprint = "SELECT 'u-' FROM (SELECT $1::text, $2::text) AS x",
		.user_functions_named = "SELECT 0 FROM (SELECT $1::text) AS x",
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

/* The answers below fit db_result's first_value (64 bytes): one holder,
 * compact, relation names last (truncated rather than lost). */

void lockview_schema_holders(PGconn *c, const char *schema, char *buf, size_t len)
{
	struct db_result r;
	const char *params[1] = {schema};
	buf[0] = '\0';
	db_query(c,
		 "SELECT count(*) OVER () || ' ' || l.pid || ' ' || l.mode || ' ' || c.relname "
		 "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
		 "JOIN pg_namespace n ON n.oid = c.relnamespace "
		 "WHERE n.nspname = $1 AND l.granted AND l.pid <> pg_backend_pid() "
		 "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		 "ORDER BY l.pid, c.relname LIMIT 1",
		 1, params, clock_us() + 2000000u, &r);
	int count = 0, pid = 0, used = 0;
	char mode[32];
	if (r.status != DB_OK || r.rows == 0 ||
	    sscanf(r.first_value, "%d %d %31s %n", &count, &pid, mode, &used) != 3 || !used)
		return;
	snprintf(buf, len, "pid %d holds %s on table %s%s", pid, mode, r.first_value + used,
		 count > 1 ? " (and other locks there)" : "");
}

void lockview_session_wait(PGconn *c, int pid, char *buf, size_t len)
{
	struct db_result r;
	char pid_text[16];
	const char *params[1] = {pid_text};
	snprintf(pid_text, sizeof pid_text, "%d", pid);
	buf[0] = '\0';
	/* "L BLOCKER MODE OBJECT": the first blocker, and its granted lock on
	 * the object pid waits for; "W TYPE/EVENT": waits, but on no lock;
	 * "R": runs. */
	db_query(c,
		 "SELECT CASE WHEN cardinality(pg_blocking_pids(a.pid)) > 0 THEN "
		 "'L ' || (pg_blocking_pids(a.pid))[1] || ' ' || coalesce((SELECT h.mode || ' ' || "
		 "coalesce('table ' || h.relation::regclass::text, h.locktype) "
		 "FROM pg_locks w JOIN pg_locks h ON h.pid = (pg_blocking_pids(a.pid))[1] "
		 "AND h.granted AND h.locktype = w.locktype "
		 "AND h.database IS NOT DISTINCT FROM w.database "
		 "AND h.relation IS NOT DISTINCT FROM w.relation "
		 "AND h.transactionid IS NOT DISTINCT FROM w.transactionid "
		 "AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid "
		 "AND h.objsubid IS NOT DISTINCT FROM w.objsubid "
		 "WHERE w.pid = a.pid AND NOT w.granted LIMIT 1), '? ?') "
		 "WHEN a.wait_event IS NOT NULL THEN 'W ' || a.wait_event_type || '/' || a.wait_event "
		 "ELSE 'R' END FROM pg_stat_activity a WHERE a.pid = $1::int",
		 1, params, clock_us() + 2000000u, &r);
	int blocker = 0, used = 0;
	char mode[32];
	if (r.status != DB_OK || r.rows == 0)
		return;
	if (sscanf(r.first_value, "L %d %31s %n", &blocker, mode, &used) == 2 && used &&
	    strcmp(mode, "?"))
		snprintf(buf, len, "a lock held by pid %d (%s on %s)", blocker, mode,
			 r.first_value + used);
	else if (blocker)
		snprintf(buf, len, "a lock held by pid %d", blocker);
	else if (r.first_value[0] == 'W')
		snprintf(buf, len, "no lock (wait event %s)", r.first_value + 2);
	else
		snprintf(buf, len, "nothing: it was running");
}
