/* server.c: server version and extensions against a scenario's requires. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
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
