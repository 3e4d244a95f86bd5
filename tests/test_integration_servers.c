/* test_integration_servers.c: what depends on the server a run meets:
 * a scenario's requires (skipped, with the reason, on a server that lacks
 * what it needs), the constraints only some versions have.
 *
 * Against the PG* server, like the other integration tests; scenario
 * variants are derived from the seed at run time (harness.h). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"

#define REPLICA_READ PGRACE_SOURCE_DIR "/scenarios/replica-read-check.yaml"

static void servers_fini(void);

TestSuite(servers, .init = scratch_init, .fini = servers_fini);

/* The PG* server's server_version, e.g. "15.18" (static buffer). */
static const char *server_version(void)
{
	static char v[32];
	PGconn *c = pg_open();
	const char *s = PQparameterStatus(c, "server_version");
	snprintf(v, sizeof v, "%s", s ? s : "?");
	v[strcspn(v, " ")] = '\0';
	PQfinish(c);
	return v;
}

/* A seed variant that requires `requires` (a YAML flow mapping). */
static const char *requiring(const char *name, const char *requires)
{
	char to[256];
	snprintf(to, sizeof to, "requires: %s\nschema: |", requires);
	return seed_variant(name, "schema: |", to);
}

/* A scenario needing a newer server is skipped: exit 6, verdict skipped,
 * the reason names both versions, nothing ran, no schema was made, and the
 * JUnit case is skipped (not failed, not an error). */
Test(servers, newer_server_required_skips, .timeout = 120)
{
	const char *file = requiring("needs99.yaml", "{server_version: 99}");
	const char *json = spath("skip.json"), *junit = spath("skip.xml");
	struct proc p;
	long before = schemas_like("pgrace\\_%");
	int code = run_pgrace(ARGS("run", file, "--json", json, "--junit", junit), &p);
	cr_expect_eq(code, 6, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "skipped");
	char want[128];
	snprintf(want, sizeof want, "needs PostgreSQL >= 99, server is %s", server_version());
	cr_expect_str_eq(jstr(doc, "skipped"), want);
	cr_expect_str_eq(jstr(doc, "server_version"), server_version());
	cr_expect_eq(json_array_size(jget(doc, "phases")), 0);
	cr_expect(contains(p.out, "SKIPPED"), "%s", proc_said(&p));
	cr_expect(contains(p.out, want), "%s", proc_said(&p));
	char *xml = read_file(junit, NULL);
	cr_assert_not_null(xml);
	cr_expect(contains(xml, "<skipped message=\"needs PostgreSQL &gt;= 99") ||
			  contains(xml, "<skipped message=\"needs PostgreSQL >= 99"),
		  "%s", xml);
	cr_expect(contains(xml, "failures=\"0\" errors=\"0\" skipped=\"1\""), "%s", xml);
	/* The other integration tests run beside this one: only ours must not grow. */
	cr_expect_leq(schemas_like("pgrace\\_%"), before + 2);
	free(xml);
	json_decref(doc);
	proc_free(&p);
}

/* An extension the server cannot create skips the scenario too. */
Test(servers, missing_extension_skips, .timeout = 120)
{
	const char *file = requiring("needsext.yaml", "{extensions: [pgrace_no_such_extension]}");
	const char *json = spath("ext.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--json", json), &p), 6, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "skipped");
	cr_expect(contains(jstr(doc, "skipped"), "needs extension pgrace_no_such_extension"), "%s",
		  jstr(doc, "skipped"));
	json_decref(doc);
	proc_free(&p);
}

/* Skipped beside a pass: exit 0, overall verdict pass, each run its own. */
Test(servers, skipped_beside_pass_exits_0, .timeout = 120)
{
	const char *file = requiring("needs99.yaml", "{server_version: 99}");
	const char *json = spath("both.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", SEED, file, "-q", "--rounds", "3", "--json", json), &p);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	json_t *runs = jget(doc, "runs");
	cr_assert_eq(json_array_size(runs), 2);
	cr_expect_str_eq(jstr(json_array_get(runs, 0), "verdict"), "pass");
	cr_expect_str_eq(jstr(json_array_get(runs, 1), "verdict"), "skipped");
	json_decref(doc);
	proc_free(&p);
}

/* A requirement the server meets changes nothing: the seed still passes. */
Test(servers, met_requirement_runs, .timeout = 120)
{
	const char *file = requiring("needs13.yaml", "{server_version: 13, extensions: [amcheck]}");
	const char *json = spath("met.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--rounds", "3", "--json", json), &p), 0,
		     "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	cr_expect(json_is_null(jget(doc, "skipped")));
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&p);
}

/* --target must be NAME=CONNINFO: anything else is bad usage (exit 2). */
Test(servers, bad_target_is_usage_error, .timeout = 60)
{
	static const char *const bad[] = {"replica", "=host=x", "Replica=host=x", "replica=host=x port"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct proc p;
		cr_expect_eq(run_pgrace(ARGS("run", REPLICA_READ, "--target", bad[i]), &p), 2, "%s: %s",
			     bad[i], proc_said(&p));
		cr_expect(contains(p.err, "--target"), "%s", proc_said(&p));
		proc_free(&p);
	}
}

/* A scenario whose target is not given is skipped with the reason. */
Test(servers, missing_target_skips, .timeout = 60)
{
	const char *json = spath("nt.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", REPLICA_READ, "-q", "--json", json), &p), 6, "%s",
		     proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "skipped"), "needs target replica: give --target replica=CONNINFO");
	json_decref(doc);
	proc_free(&p);
}

/* ---- constraints beyond UNIQUE ---- */

#define EXCLUSION PGRACE_SOURCE_DIR "/scenarios/room-booking-exclusion.yaml"
#define TEMPORAL PGRACE_SOURCE_DIR "/scenarios/room-booking-temporal.yaml"

/* The room-booking race, closed by an exclusion constraint: the race
 * double-books, the migration refuses overlaps (23P01), after it one
 * booking per room and every other request refused, the 23P01s naming the
 * constraint; btree_gist went with the sandbox. */
Test(servers, room_booking_exclusion_passes, .timeout = 300)
{
	const char *json = spath("rb.json");
	struct proc p;
	int code = run_pgrace(ARGS("run", EXCLUSION, "-q", "--json", json), &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	json_t *before = phase(doc, "before");
	cr_expect_eq(jint(before, "rounds_with_duplicates"), jint(before, "rounds"));
	cr_expect_eq(jint2(before, "rows_per_key", "min"), jint(before, "workers"));
	json_t *after = phase(doc, "after");
	long long rounds = jint(after, "rounds"), workers = jint(after, "workers");
	cr_expect_eq(jint2(after, "rows_per_key", "max"), 1);
	json_t *out = jget(after, "outcomes");
	cr_expect_eq(jcount(out, "ok"), rounds);
	cr_expect_gt(jcount(out, "23P01"), 0);
	cr_expect_eq(jcount(out, "23P01") + jcount(out, "40P01"), (workers - 1) * rounds);
	cr_expect_eq(jcount(jget(after, "constraints"), "no_double_booking"), jcount(out, "23P01"),
		     "the 23P01s name the constraint: %s",
		     json_dumps(jget(after, "constraints"), JSON_COMPACT));
	assert_schema_dropped(doc);
	/* The extension was the sandbox's: no schema of this run still holds it. */
	char pattern[96];
	snprintf(pattern, sizeof pattern, "%s", jstr(doc, "schema"));
	PGconn *c = pg_open();
	const char *params[1] = {pattern};
	char *n = pg_value(c,
			   "SELECT count(*) FROM pg_extension e JOIN pg_namespace s "
			   "ON s.oid = e.extnamespace WHERE s.nspname = $1",
			   1, params);
	cr_expect_str_eq(n, "0");
	free(n);
	PQfinish(c);
	json_decref(doc);
	proc_free(&p);
}

/* A UNIQUE (room_id, during) instead: equal slots only, overlaps pass, the
 * gate fails (exit 1) in the phase after the migration. */
Test(servers, room_booking_with_plain_unique_fails, .timeout = 300)
{
	const char *file = variant_of(EXCLUSION, "rb-unique.yaml",
				      "EXCLUDE USING gist (room_id WITH =, during WITH &&)",
				      "UNIQUE (room_id, during)");
	const char *json = spath("rbu.json");
	struct proc p;
	cr_expect_eq(run_pgrace(ARGS("run", file, "-q", "--json", json), &p), 1, "%s", proc_said(&p));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "fail");
	json_t *after = phase(doc, "after");
	cr_expect(!jbool(after, "passed"));
	cr_expect_gt(jint2(after, "rows_per_key", "max"), 1);
	json_decref(doc);
	proc_free(&p);
}

/* PostgreSQL 18's WITHOUT OVERLAPS: passes on 18 and later, skipped with
 * the reason before. */
Test(servers, room_booking_temporal_by_version, .timeout = 300)
{
	const char *json = spath("tmp.json");
	struct proc p;
	PGconn *c = pg_open();
	int v = PQserverVersion(c);
	PQfinish(c);
	int code = run_pgrace(ARGS("run", TEMPORAL, "-q", "--json", json), &p);
	json_t *doc = load_json(json);
	if (v >= 180000) {
		cr_expect_eq(code, 0, "%s", proc_said(&p));
		cr_expect_str_eq(jstr(doc, "verdict"), "pass");
		json_t *after = phase(doc, "after");
		cr_expect_eq(jcount(jget(after, "constraints"), "no_double_booking"),
			     jcount(jget(after, "outcomes"), "23P01"));
	} else {
		cr_expect_eq(code, 6, "%s", proc_said(&p));
		char want[96];
		snprintf(want, sizeof want, "needs PostgreSQL >= 18, server is %s", server_version());
		cr_expect_str_eq(jstr(doc, "skipped"), want);
	}
	json_decref(doc);
	proc_free(&p);
}

/* ---- read replicas and failover (a primary and a standby of the test's own) ---- */

#define THROWAWAY PGRACE_SOURCE_DIR "/scripts/pg-throwaway.sh"

/* A throwaway primary (port 5432) with a streaming standby (port 5433) in a
 * folder of its own under /tmp, where the postgres user can reach it. */
struct cluster {
	char dir[64];
	char primary[160], replica[160];
};

/* The cluster this test started and has not stopped ("" when none): the
 * suite's fini stops it when an assertion ended the test early. */
static char started_dir[64];

static void servers_fini(void)
{
	if (started_dir[0]) {
		struct proc p;
		pid_t pid = spawn_cmd(ARGS("/bin/bash", PGRACE_SOURCE_DIR "/scripts/pg-throwaway.sh", "stop",
					   started_dir),
				      &p);
		wait_pgrace(pid, &p, RUN_LIMIT_S);
		proc_free(&p);
		started_dir[0] = '\0';
	}
	scratch_fini();
}

static void cluster_start(struct cluster *cl, const char *delay_ms)
{
	/* Under scripts/test.sh, in a folder its exit stops whatever is left in
	 * (a test killed outright cannot clean up after itself). */
	const char *parent = getenv("PGRACE_TEST_CLUSTERS");
	if (!parent || !*parent || strlen(parent) > 40)
		parent = "/tmp";
	snprintf(cl->dir, sizeof cl->dir, "%s/pgrace-standby.XXXXXX", parent);
	cr_assert_not_null(mkdtemp(cl->dir));
	rmdir(cl->dir); /* pg-throwaway makes it, owned by the server's user */
	snprintf(started_dir, sizeof started_dir, "%s", cl->dir);
	snprintf(cl->primary, sizeof cl->primary, "host=%s port=5432 user=postgres dbname=postgres",
		 cl->dir);
	snprintf(cl->replica, sizeof cl->replica, "host=%s port=5433 user=postgres dbname=postgres",
		 cl->dir);
	struct proc p;
	pid_t pid = spawn_cmd(ARGS("/bin/bash", THROWAWAY, "start", "--standby", "--apply-delay-ms",
				   delay_ms, cl->dir),
			      &p);
	int code = wait_pgrace(pid, &p, RUN_LIMIT_S);
	cr_assert_eq(code, 0, "pg-throwaway start --standby: %s", proc_said(&p));
	cr_assert(contains(p.out, "PGRACE_REPLICA_DSN="), "%s", proc_said(&p));
	proc_free(&p);
}

/* Processes whose command line names dir (a postmaster or backend of it). */
static int processes_of(const char *dir)
{
	int n = 0;
	DIR *d = opendir("/proc");
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[64], buf[4096];
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		for (size_t j = 0; j < len; j++)
			if (buf[j] == '\0')
				buf[j] = ' ';
		buf[len] = '\0';
		n += strstr(buf, dir) != NULL;
	}
	closedir(d);
	return n;
}

/* Stops both servers and removes the folder; true when that worked and no
 * process of the folder is left. */
static bool cluster_stop(struct cluster *cl)
{
	struct proc p;
	pid_t pid = spawn_cmd(ARGS("/bin/bash", THROWAWAY, "stop", cl->dir), &p);
	int code = wait_pgrace(pid, &p, RUN_LIMIT_S);
	proc_free(&p);
	started_dir[0] = '\0';
	return code == 0 && access(cl->dir, F_OK) != 0 && processes_of(cl->dir) == 0;
}

/* Runs sql on the cluster's server at dsn (no rows wanted). */
static void cluster_exec(const char *dsn, const char *sql)
{
	PGconn *c = pg_open_dsn(dsn);
	exec_ok(c, sql);
	PQfinish(c);
}

/* Runs replica-read-check against cl (its replica as --target replica),
 * stops cl, and returns the JSON results; *code gets pgrace's exit code,
 * *stopped whether the cluster left no process behind. */
static json_t *replica_read_run(struct cluster *cl, const char *json, int *code, bool *stopped,
				struct proc *p)
{
	char target[200];
	snprintf(target, sizeof target, "replica=%s", cl->replica);
	*code = run_pgrace(ARGS("run", REPLICA_READ, "--dsn", cl->primary, "--target", target, "-q",
				"--json", json),
			   p);
	*stopped = cluster_stop(cl);
	return load_json(json);
}

/* With a replica that replays 500 ms late, one worker's back-to-back
 * registrations duplicate (every repeat), and the primary's UNIQUE refuses
 * each repeat (23505); the replica had replayed the setup before round 1. */
Test(servers, replica_read_check_lagging_replica, .timeout = 300)
{
	struct cluster cl;
	cluster_start(&cl, "500");
	struct proc p;
	int code;
	bool stopped;
	json_t *doc = replica_read_run(&cl, spath("rr.json"), &code, &stopped, &p);
	cr_assert_eq(code, 0, "%s", proc_said(&p));
	cr_expect(stopped, "the cluster in %s outlived its stop", cl.dir);
	json_t *before = phase(doc, "before");
	cr_expect_eq(jint(before, "rounds_with_duplicates"), jint(before, "rounds") / 2);
	json_t *after = phase(doc, "after");
	cr_expect_eq(jint(after, "rounds_with_duplicates"), 0);
	cr_expect_eq(jcount(jget(after, "outcomes"), "23505"), jint(after, "rounds") / 2,
		     "every repeat reached the primary and was refused: %s",
		     json_dumps(jget(after, "outcomes"), JSON_COMPACT));
	json_decref(doc);
	proc_free(&p);
}

/* Without the lag (commits wait until the replica has applied them:
 * synchronous_commit = remote_apply), every check sees the previous
 * registration: the repeats are skipped, nothing duplicates, the phases
 * that must reproduce the race are inconclusive, and the story's precheck
 * finds nothing to refuse, so the run fails (exit 1): the scenario's proof
 * needs the lag. */
Test(servers, replica_read_check_without_lag_does_not_duplicate, .timeout = 300)
{
	struct cluster cl;
	cluster_start(&cl, "0");
	cluster_exec(cl.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'");
	/* Per database: the throwaway server's command line says synchronous_commit=off. */
	cluster_exec(cl.primary, "ALTER DATABASE postgres SET synchronous_commit = 'remote_apply'");
	cluster_exec(cl.primary, "SELECT pg_reload_conf()");
	struct proc p;
	int code;
	bool stopped;
	json_t *doc = replica_read_run(&cl, spath("rr0.json"), &code, &stopped, &p);
	cr_assert_eq(code, 1, "%s", proc_said(&p));
	cr_expect(stopped, "the cluster in %s outlived its stop", cl.dir);
	json_t *before = phase(doc, "before");
	cr_expect_str_eq(jstr(before, "verdict"), "inconclusive");
	cr_expect_eq(jint(before, "rounds_with_duplicates"), 0);
	cr_expect_eq(jcount(jget(before, "outcomes"), "skipped"), jint(before, "rounds") / 2);
	cr_expect_eq(jcount(jget(phase(doc, "after"), "outcomes"), "23505"), 0);
	json_decref(doc);
	proc_free(&p);
}

/* Failover in the middle of a run: the standby is promoted and the primary
 * stops (immediate shutdown). pgrace exits 3 naming the lost target, writes
 * the results of what ran, never reports a pass, and leaves no process of
 * the cluster behind once it is stopped. */
Test(servers, failover_mid_run_exits_3, .timeout = 300)
{
	struct cluster cl;
	cluster_start(&cl, "0");
	char target[200];
	snprintf(target, sizeof target, "replica=%s", cl.replica);
	const char *json = spath("fo.json");
	struct proc p;
	pid_t pid = spawn_pgrace(ARGS("run", REPLICA_READ, "--dsn", cl.primary, "--target", target,
				      "--rounds", "100000", "--json", json),
				 &p);
	/* Mid-run: the sandbox exists on the primary and the race is on. */
	PGconn *c = pg_open_dsn(cl.primary);
	double until = now_s() + 60;
	char *rounds = NULL;
	while (now_s() < until) {
		free(rounds);
		rounds = pg_value(c,
				  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
				  "AND query LIKE 'INSERT INTO user_tenant_membership%'",
				  0, NULL);
		if (strcmp(rounds, "0") != 0)
			break;
		sleep_ms(20);
	}
	free(rounds);
	PQfinish(c);
	cluster_exec(cl.replica, "SELECT pg_promote()");
	char path[128];
	snprintf(path, sizeof path, "%s/data/postmaster.pid", cl.dir);
	char *pidfile = read_file(path, NULL);
	cr_assert_not_null(pidfile);
	kill((pid_t)strtol(pidfile, NULL, 10), SIGQUIT); /* immediate shutdown */
	free(pidfile);
	int code = wait_pgrace(pid, &p, 60);
	/* The promoted replica got the sandbox by replication: pgrace dropped it there too. */
	PGconn *promoted = pg_open_dsn(cl.replica);
	char *left = pg_value(promoted, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgrace\\_%'",
			      0, NULL);
	PQfinish(promoted);
	bool stopped = cluster_stop(&cl);
	cr_expect_str_eq(left, "0", "a sandbox schema was left on the promoted replica");
	free(left);
	cr_expect_eq(code, 3, "%s", proc_said(&p));
	cr_expect(contains(p.err, "target primary") || contains(p.out, "target primary"), "%s",
		  proc_said(&p));
	cr_expect(stopped, "a process of %s outlived the test", cl.dir);
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "error");
	cr_expect(!jbool(doc, "complete"));
	cr_expect(contains(jstr(doc, "error"), "lost target primary"), "%s", jstr(doc, "error"));
	json_t *before = phase(doc, "before");
	cr_expect(jbool(before, "broken"));
	cr_expect(!jbool(before, "passed"));
	cr_expect_gt(jint(before, "rounds"), 0, "the rounds that ran are in the results");
	json_decref(doc);
	proc_free(&p);
}

/* A target's own connection options reach the workers' connections to it,
 * as --dsn's reach theirs: each worker reads its setting on the replica
 * (a row there when it differs skips the insert), then inserts on the
 * primary, recording the primary's. Before: the workers' connections
 * replaced both conninfos' options with PGOPTIONS and the search_path, every
 * check found the row, and no worker inserted (rows_per_key 0). */
static const char target_options_yaml[] =
	"name: target-options\n"
	"targets: [primary, replica]\n"
	"schema: CREATE TABLE seen (k bigint, lock_timeout text)\n"
	"params: [round]\n"
	"rows: SELECT count(*) FROM seen WHERE k = $1 AND lock_timeout = '1234ms'\n"
	"flow:\n"
	"  - sql: >-\n"
	"      SELECT 1 WHERE current_setting('lock_timeout') <> '4321ms'\n"
	"      AND $1::bigint > 0\n"
	"    on: replica\n"
	"    skip_if_found: true\n"
	"  - sql: INSERT INTO seen SELECT $1, current_setting('lock_timeout')\n"
	"phases:\n"
	"  - name: race\n"
	"    race: {workers: 2, rounds: 2, mode: fire}\n"
	"    expect: [rows_per_key.min == workers]\n";

Test(servers, target_options_reach_the_workers, .timeout = 300)
{
	struct cluster cl;
	cluster_start(&cl, "0");
	const char *file = spath("target-options.yaml");
	write_file(file, target_options_yaml, strlen(target_options_yaml));
	char dsn[256], target[256];
	snprintf(dsn, sizeof dsn, "%s options='-c lock_timeout=1234'", cl.primary);
	snprintf(target, sizeof target, "replica=%s options='-c lock_timeout=4321'", cl.replica);
	struct proc p;
	int code = run_pgrace(ARGS("run", file, "-q", "--dsn", dsn, "--target", target), &p);
	bool stopped = cluster_stop(&cl);
	cr_expect_eq(code, 0, "%s", proc_said(&p));
	cr_expect(stopped, "the cluster in %s outlived its stop", cl.dir);
	proc_free(&p);
}
