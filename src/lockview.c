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
	.user_functions_named = "SELECT count(*) FROM pg_proc WHERE proname = ANY ($1::text[]) "
				"AND pronamespace <> 'pg_catalog'::regnamespace",
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
