/* server.c: server version and extensions against a scenario's requires. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "stats.h"
#include "judge.h"

void server_info_get(PGconn *c, struct server_info *si)
{
	const char *v = PQparameterStatus(c, "server_version");
	si->version_num = PQserverVersion(c);
	snprintf(si->version, sizeof si->version, "%s", v ? v : "?");
	/* "16.4 (Debian 16.4-1.pgdg120+1)": the number is enough. */
	si->version[strcspn(si->version, " ")] = '\0';
}

bool server_check(PGconn *c, const struct requirements *rq, const struct server_info *si,
		  bool *met, char *reason, size_t len)
{
	bool have[REQUIRES_MAX_EXTENSIONS] = {false};
	char text[600];
	for (size_t i = 0; i < rq->n_extensions; i++) {
		struct db_result r;
		const char *name[1] = {rq->extensions[i]};
		db_query(c, "SELECT 1 FROM pg_available_extensions WHERE name = $1", 1, name, 0, &r);
		if (r.status != DB_OK) {
			snprintf(reason, len, "cannot list the server's extensions: %s",
				 db_result_text(&r, text, sizeof text));
			return false;
		}
		have[i] = r.rows > 0;
	}
	*met = judge_requirements(rq, si->version_num, si->version, have, reason, len) ==
	       VERDICT_PASS;
	return true;
}

bool server_create_extensions(PGconn *c, const char *schema, const struct requirements *rq,
			      char *err, size_t len)
{
	char sql[256], text[600];
	struct db_result r;
	for (size_t i = 0; i < rq->n_extensions; i++) {
		const char *name[1] = {rq->extensions[i]};
		/* Installed for good (not by a sandbox): used as it is. */
		static const char installed[] =
			"SELECT n.nspname::text FROM pg_extension e "
			"JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1";
		db_query(c, installed, 1, name, 0, &r);
		if (r.status == DB_OK && r.rows && strncmp(r.first_value, "pgrace_", 7) != 0)
			continue;
		/* One sandbox at a time has it: wait for the run that has it now
		 * to drop its schema and disconnect (db_query's 60 s deadline). */
		if (r.status == DB_OK)
			db_query(c, "SELECT pg_advisory_lock(1885823587, hashtext($1))", 1, name, 0, &r);
		if (r.status == DB_OK)
			db_query(c, installed, 1, name, 0, &r);
		if (r.status == DB_OK && r.rows) {
			if (strncmp(r.first_value, "pgrace_", 7) == 0) {
				snprintf(err, len,
					 "extension %s is in schema %s, a sandbox another run left "
					 "behind: drop that schema",
					 rq->extensions[i], r.first_value);
				return false;
			}
			continue; /* installed for good meanwhile */
		}
		if (r.status == DB_OK) {
			snprintf(sql, sizeof sql, "CREATE EXTENSION %s SCHEMA %s", rq->extensions[i],
				 schema);
			db_query(c, sql, 0, NULL, 0, &r);
		}
		if (r.status != DB_OK) {
			snprintf(err, len, "cannot create extension %s: %s", rq->extensions[i],
				 db_result_text(&r, text, sizeof text));
			return false;
		}
	}
	return true;
}

bool server_targets_named(const struct target_arg *args, size_t n_args,
			  const struct scenario *sc, size_t n, char *why, size_t len)
{
	for (size_t i = 0; i < n_args; i++) {
		const char *name = args[i].name;
		bool used = false;
		for (size_t s = 0; s < n && !used; s++)
			for (size_t t = 0; t < sc[s].n_targets && !used; t++) {
				if (strcmp(sc[s].targets[t], name))
					continue;
				if (t == 0) {
					snprintf(why, len,
						 "--target %s: %s is the first target of %s, the server "
						 "--dsn names: give its connection with --dsn",
						 name, name, sc[s].path);
					return false;
				}
				used = true;
			}
		if (used)
			continue;
		char names[256] = "";
		size_t at = 0;
		for (size_t s = 0; s < n; s++)
			for (size_t t = 1; t < sc[s].n_targets && at < sizeof names; t++)
				at += (size_t)snprintf(names + at, sizeof names - at, "%s%s",
						       at ? ", " : "", sc[s].targets[t]);
		snprintf(why, len, "--target %s: no scenario given has a target %s (%s)", name, name,
			 at ? names : "they name no targets besides --dsn's server");
		return false;
	}
	return true;
}

bool server_targets(const struct scenario *sc, const char *dsn, const struct target_arg *args,
		    size_t n, const char *dsns[TARGETS_MAX], char *reason, size_t len)
{
	dsns[0] = dsn;
	for (size_t t = 1; t < sc->n_targets; t++) {
		dsns[t] = NULL;
		for (size_t i = 0; i < n && !dsns[t]; i++)
			if (!strcmp(args[i].name, sc->targets[t]))
				dsns[t] = args[i].dsn;
		if (!dsns[t]) {
			snprintf(reason, len, "needs target %s: give --target %s=CONNINFO", sc->targets[t],
				 sc->targets[t]);
			return false;
		}
	}
	return true;
}

/* c's system identifier into out ("" when the server does not let this user
 * read it, or has no pg_control_system()). */
static void system_identifier(PGconn *c, char *out, size_t len)
{
	struct db_result r;
	db_query(c, "SELECT system_identifier::text FROM pg_control_system()", 0, NULL, 0, &r);
	snprintf(out, len, "%s", r.status == DB_OK && r.rows == 1 ? r.first_value : "");
}

/* c's current_database() and system identifier, as "NAME" and "ID" ("" when unreadable). */
static bool database_of(PGconn *c, char *name, size_t len, char *id, size_t idlen, char *why,
			size_t whylen)
{
	struct db_result r;
	char text[600];
	db_query(c, "SELECT current_database()::text", 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		snprintf(why, whylen, "cannot ask current_database(): %s",
			 db_result_text(&r, text, sizeof text));
		return false;
	}
	snprintf(name, len, "%s", r.first_value);
	system_identifier(c, id, idlen);
	return true;
}

enum verdict server_same_database(PGconn *admin, const char *dsn, char *why, size_t len)
{
	char cerr[512], a_db[64], a_id[32], w_db[64], w_id[32];
	if (!database_of(admin, a_db, sizeof a_db, a_id, sizeof a_id, why, len))
		return VERDICT_ERROR;
	PGconn *w = db_connect(dsn, NULL, cerr, sizeof cerr);
	if (!w) {
		snprintf(why, len, "--dsn: cannot connect: %s", cerr);
		return VERDICT_ERROR;
	}
	bool asked = database_of(w, w_db, sizeof w_db, w_id, sizeof w_id, cerr, sizeof cerr);
	PQfinish(w);
	if (!asked) {
		snprintf(why, len, "--dsn: %s", cerr);
		return VERDICT_ERROR;
	}
	bool other_server = a_id[0] && w_id[0] && strcmp(a_id, w_id);
	if (!strcmp(a_db, w_db) && !other_server)
		return VERDICT_PASS;
	snprintf(why, len,
		 "--admin-dsn reaches database %s%s, --dsn reaches database %s%s: they must name the "
		 "same database (the sandbox, setup and steps go through --admin-dsn, the workers "
		 "through --dsn)",
		 a_db, other_server ? " on one server" : "", w_db, other_server ? " on another" : "");
	return VERDICT_BAD_SCENARIO;
}

enum verdict server_check_replicas(PGconn *c, const struct scenario *sc,
				   const char *const dsns[TARGETS_MAX], char *why, size_t len)
{
	char primary_id[32] = "", text[600];
	bool asked = false;
	for (size_t t = 1; t < sc->n_targets; t++) {
		bool read = false;
		for (size_t i = 0; i < sc->n_flow; i++)
			read |= sc->flow[i].target == (int)t;
		if (!read)
			continue;
		if (!asked) {
			system_identifier(c, primary_id, sizeof primary_id);
			asked = true;
		}
		char cerr[512], id[32];
		PGconn *rc = db_connect(dsns[t], NULL, cerr, sizeof cerr);
		if (!rc) {
			snprintf(why, len, "target %s: cannot connect: %s", sc->targets[t], cerr);
			return VERDICT_ERROR;
		}
		struct db_result r;
		db_query(rc, "SELECT pg_is_in_recovery()::text", 0, NULL, 0, &r);
		if (r.status != DB_OK) {
			snprintf(why, len, "target %s: cannot ask whether it is a replica: %s",
				 sc->targets[t], db_result_text(&r, text, sizeof text));
			PQfinish(rc);
			return VERDICT_ERROR;
		}
		bool recovering = !strcmp(r.first_value, "true");
		system_identifier(rc, id, sizeof id);
		PQfinish(rc);
		bool same = id[0] && primary_id[0] && !strcmp(id, primary_id);
		if (!recovering) {
			snprintf(why, len,
				 "%s:%d: target %s is not a replica: pg_is_in_recovery() is false there, "
				 "it is a primary%s; its reads would not be a replica's: give --target "
				 "%s=CONNINFO of a standby of the first target",
				 sc->path, sc->targets_line, sc->targets[t],
				 same ? " with the first target's system identifier (the same server, "
					"or a promoted copy)"
				      : "",
				 sc->targets[t]);
			return VERDICT_BAD_SCENARIO;
		}
		if (id[0] && primary_id[0] && !same) {
			snprintf(why, len,
				 "%s:%d: target %s is a standby of another cluster: its system "
				 "identifier is %s, the first target's is %s",
				 sc->path, sc->targets_line, sc->targets[t], id, primary_id);
			return VERDICT_BAD_SCENARIO;
		}
	}
	return VERDICT_PASS;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

bool server_wait_replay(PGconn *c, const char *name, const char *dsn, const char *schema,
			int timeout_ms, char *err, size_t len)
{
	char text[600], cerr[512];
	struct db_result r, lsn;
	bool ok = false;
	PGconn *rc = db_connect(dsn, NULL, cerr, sizeof cerr);
	if (!rc) {
		snprintf(err, len, "target %s: cannot connect: %s", name, cerr);
		return false;
	}
	db_query(c, "SELECT pg_current_wal_insert_lsn()::text", 0, NULL, 0, &lsn);
	if (lsn.status != DB_OK) {
		snprintf(err, len, "cannot read the primary's WAL position: %s",
			 db_result_text(&lsn, text, sizeof text));
		goto out;
	}
	const char *want[1] = {lsn.first_value};
	uint64_t deadline = clock_us() + (uint64_t)timeout_ms * 1000u;
	/* NULL outside recovery (not a standby): nothing to wait for. */
	static const char replayed[] = "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true)::text, "
				       "coalesce(pg_last_wal_replay_lsn()::text, 'none')";
	for (;;) {
		db_query(rc, replayed, 1, want, 0, &r);
		if (r.status != DB_OK) {
			snprintf(err, len, "target %s: cannot read its replay position: %s", name,
				 db_result_text(&r, text, sizeof text));
			goto out;
		}
		if (!strcmp(r.first_value, "true"))
			break;
		if (db_stop_requested()) {
			snprintf(err, len, "interrupted while waiting for target %s to replay", name);
			goto out;
		}
		if (clock_us() >= deadline) {
			snprintf(err, len,
				 "target %s has not replayed the setup within %d ms (the primary is at "
				 "%s): is it a replica of the primary, and streaming?",
				 name, timeout_ms, lsn.first_value);
			goto out;
		}
		pause_ms(20);
	}
	const char *sch[1] = {schema};
	db_query(rc, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, sch, 0, &r);
	if (r.status != DB_OK || r.rows != 1) {
		snprintf(err, len, "target %s does not see the sandbox schema %s: is it a replica of the primary?",
			 name, schema);
		goto out;
	}
	ok = true;
out:
	PQfinish(rc);
	return ok;
}

void server_name_lost(const struct scenario *sc, const char *const dsns[TARGETS_MAX], char *msg,
		      size_t len)
{
	for (size_t t = 0; t < sc->n_targets; t++) {
		char cerr[512];
		PGconn *c = db_connect(dsns[t], NULL, cerr, sizeof cerr);
		if (c) {
			PQfinish(c);
			continue;
		}
		size_t used = strlen(msg);
		if (used + 1 < len)
			snprintf(msg + used, len - used, "; lost target %s: %s", sc->targets[t], cerr);
	}
}

void server_drop_on_promoted(const struct scenario *sc, const char *const dsns[TARGETS_MAX],
			     const char *schema)
{
	for (size_t t = 1; t < sc->n_targets && schema[0]; t++) {
		char cerr[512], sql[160], text[600];
		struct db_result r;
		PGconn *c = db_connect(dsns[t], NULL, cerr, sizeof cerr);
		if (!c)
			continue;
		db_query_cleanup(c, "SELECT pg_is_in_recovery()::text", clock_us() + 10000000u, &r);
		if (r.status == DB_OK && !strcmp(r.first_value, "false")) {
			snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
			db_query_cleanup(c, sql, clock_us() + 30000000u, &r);
			if (r.status != DB_OK)
				fprintf(stderr, "pgrace: could not drop schema %s on target %s: %s\n", schema,
					sc->targets[t], db_result_text(&r, text, sizeof text));
		}
		PQfinish(c);
	}
}

bool server_check_connections(PGconn *admin, const char *phase, int workers, char *err,
			      size_t errlen)
{
	struct db_result r;
	char text[600];
	db_query(admin,
		 "SELECT current_setting('max_connections')::int"
		 " - current_setting('superuser_reserved_connections')::int"
		 " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
		 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		snprintf(err, errlen, "cannot read max_connections: %s",
			 db_result_text(&r, text, sizeof text));
		return false;
	}
	long long free_slots = strtoll(r.first_value, NULL, 10);
	if (workers + 1 > free_slots) {
		snprintf(err, errlen,
			 "phase %s needs %d connections (%d workers and a coordinator), but the server "
			 "has %lld free (raise max_connections or lower --workers)",
			 phase, workers + 1, workers, free_slots);
		return false;
	}
	return true;
}
