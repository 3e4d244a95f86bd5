/* run.c: plays a scenario's phases in a sandbox schema and judges them.
 *
 * It sequences: the sandbox, setup SQL, then for each phase, as run_plan()
 * planned it, the steps (run_step.c) and the race (run_race.c), then the
 * drop. Setup errors (unreachable server, rejected schema SQL) end the run
 * with a message; what happens inside a race is data, counted and judged by
 * the scenario's expectations (judge.h). The sandbox schema is dropped on
 * every path. Calls sandbox.h, db.h, server.h, race.h, run_plan.h, judge.h,
 * checks.h and stepcmd.h. */
#include "run.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_interleave.h"
#include "command.h"
#include "connpool.h"
#include "db.h"
#include "checks.h"
#include "judge.h"
#include "progress.h"
#include "race.h"
#include "run_runner.h"
#include "run_plan.h"
#include "sandbox.h"
#include "stepcmd.h"
#include "server.h"
#include "text.h"


int run_exit_code(enum verdict v)
{
	return judge_exit_code(v, db_stop_requested());
}

/* How long a replica target may take to replay the setup before the first round. */
#define REPLAY_TIMEOUT_MS 60000

/* Ends the run: records why and the verdict it deserves. */
void run_stop(struct runner *rn, enum verdict v, const char *fmt, ...)
{
	struct run_result *res = rn->res;
	if (res->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
	res->verdict = verdict_worse(res->verdict, v);
}

/* Verdict for a query that failed outside a race and outside any step:
 * connection problems are the database's, anything else means the
 * scenario's SQL is wrong. */
enum verdict run_setup_verdict(const struct db_result *r)
{
	return judge_setup_failure(r->status, r->sqlstate, db_stop_requested());
}

/* Runs a script of the scenario on the admin connection, in the sandbox
 * (sandbox_script: through a pooler too). */
void run_admin_sql(struct runner *rn, const char *sql, struct db_result *r)
{
	sandbox_script(rn->admin, rn->admin_pooled, rn->res->schema, sql,
		       clock_us() + (uint64_t)rn->timeout_ms * 1000u, r);
}

/* Runs a scenario's command in the sandbox (stepcmd.h); its output stays in
 * rn->cmd, and rn->touched_outside says whether it changed the catalog
 * outside the sandbox. */
bool run_command(struct runner *rn, const struct command *cmd, struct db_result *r)
{
	if (!rn->cmd && !(rn->cmd = malloc(sizeof *rn->cmd)))
		abort();
	return stepcmd_run(rn->admin, rn->res->schema, cmd, rn->cmd, r, &rn->touched_outside);
}

/* Runs a phase: its workers connect first (so steps can run under their
 * load), then the steps, then the race, then the checks. False when the run
 * must stop. */
static bool run_phase(struct runner *rn, const struct phase *p, struct phase_result *ph)
{
	const struct scenario *sc = rn->sc;
	const struct phase_plan *pp = &rn->plan.phases[p - sc->phases];
	struct race_cfg cfg = pp->cfg;
	struct race *race = NULL;
	char err[1024];
	rn->timeout_ms = cfg.timeout_ms; /* its steps' */
	bool go_on = true;
	bool interleave = pp->engine == ENGINE_ORDERS;
	struct race_totals t;
	memset(&t, 0, sizeof t);
	hist_init(&t.latency);
	hist_init(&t.skew);
	hist_init(&t.release);
	if (p->has_race) {
		ph->mode = cfg.mode;
		ph->isolation = cfg.isolation;
		ph->workers = cfg.workers;
		ph->keys = cfg.keys;
		ph->rows_min = -1;
		ph->free_run = pp->engine == ENGINE_FREE;
		if (cfg.keys > 1 && !ph->free_run) {
			ph->per_key = calloc((size_t)cfg.keys, sizeof *ph->per_key);
			if (!ph->per_key)
				abort();
			ph->n_per_key = (size_t)cfg.keys;
		}
		/* Connections kept from an earlier racing phase are idle but count
		 * against max_connections: before an interleave or app phase, which
		 * connects its own, they are closed when the server could not take
		 * both (the run's check made room for its largest phase alone). */
		if ((interleave || sc->app) && rn->pool.n > 0 &&
		    !server_check_connections(rn->admin, p->name, cfg.workers, err, sizeof err))
			connpool_clear(&rn->pool);
		if (!interleave && !sc->app)
			race = race_open(rn->opts->dsn, rn->target_dsn, rn->res->schema,
					 rn->opts->pooler, sc, &cfg, &rn->pool, err, sizeof err);
		if (!race && !interleave && !sc->app) {
			ph->broken = true;
			run_stop(rn, VERDICT_ERROR, "phase %s: %s", p->name, err);
			return false;
		}
		if (race && !rn->admin_pooled) /* through a pooler the pid names no backend */
			race_set_admin_pid(race, PQbackendPID(rn->admin));
	}
	for (size_t j = 0; go_on && j < p->n_steps; j++)
		go_on = run_step(rn, p, j, ph, race);
	ph->migrated = rn->migrated;
	if (go_on && interleave && sc->app)
		go_on = run_app_interleave(rn, p, &cfg, ph, &t);
	else if (go_on && interleave)
		go_on = run_race_interleave(rn, p, &cfg, ph, &t);
	else if (go_on && p->has_race && sc->app)
		go_on = run_app_rounds(rn, p, &cfg, ph, &t);
	else if (go_on && race)
		go_on = ph->free_run ? run_race_free(rn, p, race, ph)
				     : run_race_rounds(rn, p, race, &cfg, ph, &t);
	if (race) {
		race_join(race); /* a broken round may leave workers still finishing */
		race_totals(race, &t, ph->per_key);
		if (go_on)
			race_keep(race);
		race_close(race);
	}
	if (rn->opts->progress && race)
		progress_clear();
	if (!race && !interleave && !(p->has_race && sc->app))
		return go_on;
	/* The rounds that completed count even when a later one broke; with
	 * none, rows_min stays -1: no rows were counted (reported as null). */
	ph->attempts = t.attempts;
	ph->retries = t.retries;
	ph->outcomes = t.outcomes;
	ph->constraints = t.constraints;
	ph->latency = t.latency;
	ph->skew_us_p50 = hist_percentile(&t.skew, 50);
	ph->skew_us_max = t.skew.max;
	ph->release_us_p50 = hist_percentile(&t.release, 50);
	ph->release_us_max = t.release.max;
	ph->release_tails = t.tails;
	ph->release_realtime_rounds = t.realtime_rounds;
	ph->connect_s = (double)t.connect_us / 1e6;
	/* Of the duplicates a round could leave (every worker but one per key
	 * inserting), the share it did leave. */
	long long room = (long long)ph->rounds * (ph->workers - ph->keys);
	ph->duplicate_yield = room > 0 ? (double)ph->extra_rows / (double)room : 0;
	ph->detect_us_p50 = hist_percentile(&t.detect, 50);
	ph->detect_us_max = t.detect.max;
	ph->coord_polls = t.polls;
	ph->coord_cpu_share = t.round_us ? (double)t.coord_cpu_us / (double)t.round_us : 0;
	if (ph->free_run && ph->duration_s > 0)
		ph->tps = (double)ph->attempts / ph->duration_s;
	if (cfg.mode == MODE_FIRE && !ph->free_run)
		ph->upper95 = stats_upper95(ph->rounds_with_duplicates, ph->rounds);
	if (outcome_get(&ph->outcomes, "ok") == 0)
		outcome_add(&ph->outcomes, "ok", 0);
	if (!go_on)
		return false;
	enum verdict v;
	char why[1024];
	if (ph->free_run) {
		v = judge_flow(sc, p, ph, why, sizeof why);
	} else {
		struct name_list missing;
		checks_missing_names(rn->admin, rn->res->schema, p, &missing);
		v = judge_race(sc, p, cfg.mode, &missing, ph, why, sizeof why);
		checks_free_names(&missing);
	}
	if (v == VERDICT_PASS || v == VERDICT_FAIL)
		return true;
	ph->verdict = verdict_worse(ph->verdict, v);
	run_stop(rn, v, "%s", why);
	return false;
}

/* Runs the setup SQL (schema, seed) of the scenario. */
static bool run_setup_sql(struct runner *rn, const char *what, const struct sql_text *t)
{
	if (!t->sql && !t->command)
		return true;
	struct db_result r;
	char text[600];
	if (t->command) {
		/* A failing schema or seed command is the scenario's (or its
		 * project's) fault, as rejected SQL is; a hung one the run's. */
		bool started = run_command(rn, t->command, &r);
		if (r.status == DB_OK)
			return true;
		enum verdict v = started && r.status != DB_ERROR ? VERDICT_ERROR : VERDICT_BAD_SCENARIO;
		run_stop(rn, rn->touched_outside ? VERDICT_FAIL : v, "%s:%d: %s: %s", rn->sc->path,
			 t->line, what, r.message);
		return false;
	}
	run_admin_sql(rn, t->sql, &r);
	if (r.status == DB_OK)
		return true;
	run_stop(rn, run_setup_verdict(&r), "%s:%d: %s: %s", rn->sc->path, t->line, what,
		 db_result_text(&r, text, sizeof text));
	return false;
}

/* Names the sandbox and takes its owner lock (sandbox.h), before the
 * schema exists, so `pgrace clean` never sees it without an owner. The
 * lock lives on a connection of its own that runs nothing else: on the
 * admin connection a step's DISCARD ALL or pg_advisory_unlock_all() would
 * release it while the run lives. Behind a pooler it is held in an open
 * transaction there. A name whose lock is taken (another run's name hashes
 * alike) is replaced. */
static bool own_sandbox(struct runner *rn, char *err, size_t errlen)
{
	if (!rn->owner)
		rn->owner = db_connect(rn->admin_dsn, NULL, err, errlen);
	if (!rn->owner)
		return false;
	for (int tries = 0; tries < 3; tries++) {
		sandbox_name(rn->res->schema, sizeof rn->res->schema);
		int taken = sandbox_lock(rn->owner, rn->res->schema, rn->admin_pooled, err, errlen);
		if (taken != 0)
			return taken > 0;
	}
	snprintf(err, errlen, "cannot take a sandbox's owner lock: three names in a row were taken");
	return false;
}

/* Drops the sandbox, whatever state the run left (sandbox_drop); a
 * sandbox left behind makes the run an error, and says how to drop it. */
/* The server must have room for the busiest phase's workers and its
 * coordinator (server_check_connections). */
static bool connections_fit(struct runner *rn)
{
	char err[512];
	if (!rn->plan.busiest ||
	    server_check_connections(rn->admin, rn->plan.busiest, rn->plan.most_workers, err,
				     sizeof err))
		return true;
	run_stop(rn, VERDICT_ERROR, "%s", err);
	return false;
}

static void drop_schema(struct runner *rn)
{
	char err[600];
	/* 10 s covers a restart (pg_ctl restart: a few seconds of refused
	 * connections) without holding a dead server's run for long. */
	if (sandbox_drop(&rn->admin, rn->admin_dsn, rn->res->schema, clock_us() + 10u * 1000000u,
			 err, sizeof err))
		return;
	text_line(stderr, "pgrace: could not drop schema %s: %s (`pgrace clean` drops it once this run is gone)",
		  rn->res->schema, err);
	run_stop(rn, VERDICT_ERROR, "could not drop schema %s: %s", rn->res->schema, err);
	rn->res->verdict = verdict_worse(rn->res->verdict, VERDICT_ERROR);
}

void run_scenario(const struct scenario *sc, const struct run_opts *opts, struct run_result *res)
{
	struct runner rn = {.sc = sc, .opts = opts, .res = res};
	char err[1024], sql[160];
	uint64_t t0 = clock_us();
	memset(res, 0, sizeof *res);
	snprintf(res->scenario, sizeof res->scenario, "%s", sc->name);
	snprintf(res->file, sizeof res->file, "%s", sc->path);
	res->phases = calloc(sc->n_phases, sizeof *res->phases);
	if (!res->phases)
		abort();
	rn.admin_dsn = opts->admin_dsn ? opts->admin_dsn : opts->dsn;
	rn.admin_pooled = opts->pooler && !opts->admin_dsn;
	rn.timeout_ms = scenario_race(sc, NULL, &opts->override).timeout_ms; /* schema's, seed's */
	if (!run_plan(sc, &opts->override, opts->duration_ms, opts->pooler, rn.admin_pooled,
		      &rn.plan, err, sizeof err)) {
		run_stop(&rn, VERDICT_BAD_SCENARIO, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}

	rn.admin = db_connect(rn.admin_dsn, NULL, err, sizeof err);
	if (!rn.admin) {
		run_stop(&rn, VERDICT_ERROR, "cannot connect: %s", err);
		res->schema[0] = '\0';
		goto out;
	}
	struct db_result r;
	char text[600];
	struct server_info si;
	bool met = true;
	server_info_get(rn.admin, &si);
	snprintf(res->server_version, sizeof res->server_version, "%s", si.version);
	if (!server_check(rn.admin, &sc->requires, &si, &met, err, sizeof err)) {
		run_stop(&rn, VERDICT_ERROR, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}
	if (opts->admin_dsn) { /* two connections that must reach one database */
		enum verdict dv = server_same_database(rn.admin, opts->dsn, err, sizeof err);
		if (dv != VERDICT_PASS) {
			run_stop(&rn, dv, "%s", err);
			res->schema[0] = '\0';
			goto out;
		}
	}
	if (met) /* a target not given on the command line: skipped too */
		met = server_targets(sc, opts->dsn, opts->targets, opts->n_targets, rn.target_dsn, err,
				     sizeof err);
	if (met) { /* a "replica" that is the primary would pass what it cannot prove */
		enum verdict tv = server_check_replicas(rn.admin, sc, rn.target_dsn, err, sizeof err);
		if (tv != VERDICT_PASS) {
			run_stop(&rn, tv, "%s", err);
			res->schema[0] = '\0';
			goto out;
		}
	}
	if (!met) { /* not run, so not judged: skipped, with the reason */
		snprintf(res->skipped, sizeof res->skipped, "%s", err);
		res->verdict = VERDICT_SKIPPED;
		res->schema[0] = '\0';
		goto out;
	}
	if (!own_sandbox(&rn, err, sizeof err)) {
		run_stop(&rn, VERDICT_ERROR, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}
	char path[96];
	if (rn.admin_pooled) /* no session state: each script sets its own search_path */
		snprintf(sql, sizeof sql, "CREATE SCHEMA %s", res->schema);
	else
		snprintf(sql, sizeof sql, "CREATE SCHEMA %s; %s", res->schema,
			 sandbox_path_sql(path, sizeof path, res->schema, false));
	db_query(rn.admin, sql, 0, NULL, 0, &r);
	if (r.status != DB_OK) {
		run_stop(&rn, VERDICT_ERROR, "cannot create the sandbox schema: %s",
			 db_result_text(&r, text, sizeof text));
		if (r.status == DB_ERROR) {
			res->schema[0] = '\0'; /* the server refused it: nothing of ours to drop */
			goto out;
		}
		goto drop; /* cancelled or lost on the way: it may exist all the same */
	}
	if (!server_create_extensions(rn.admin, res->schema, &sc->requires, err, sizeof err)) {
		run_stop(&rn, VERDICT_ERROR, "%s:%d: requires: %s", sc->path, sc->requires.line, err);
		goto drop;
	}
	if (!connections_fit(&rn) || !run_setup_sql(&rn, "schema", &sc->schema) ||
	    !run_setup_sql(&rn, "seed", &sc->seed))
		goto drop;
	/* Replicas get the sandbox by replication: no round before they have it. */
	for (size_t t = 1; t < sc->n_targets; t++)
		if (!server_wait_replay(rn.admin, sc->targets[t], rn.target_dsn[t], res->schema,
					REPLAY_TIMEOUT_MS, err, sizeof err)) {
			run_stop(&rn, VERDICT_ERROR, "%s", err);
			goto drop;
		}

	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *p = &sc->phases[i];
		struct phase_result *ph = &res->phases[res->n_phases++];
		uint64_t p0 = clock_us();
		snprintf(ph->name, sizeof ph->name, "%s", p->name);
		ph->has_race = p->has_race;
		hist_init(&ph->latency);
		bool go_on = run_phase(&rn, p, ph);
		ph->elapsed_s = (double)(clock_us() - p0) / 1e6;
		res->verdict = verdict_worse(res->verdict, judge_phase(p, ph));
		if (!go_on || (opts->last_phase && !strcmp(p->name, opts->last_phase)))
			break;
		if (db_stop_requested()) {
			run_stop(&rn, VERDICT_ERROR, "%s", db_stop_text());
			break;
		}
	}
	res->complete = res->n_phases == sc->n_phases && !res->error[0];
	if (opts->duration_ms && res->verdict == VERDICT_PASS)
		res->verdict = VERDICT_MEASURED; /* nothing was judged: it did not "pass" */
drop:
	connpool_clear(&rn.pool); /* before the schema they point at goes */
	if (res->verdict == VERDICT_ERROR && !db_stop_requested())
		server_name_lost(sc, rn.target_dsn, res->error, sizeof res->error);
	drop_schema(&rn);
	if (res->verdict == VERDICT_ERROR) /* a replica promoted meanwhile keeps a copy */
		server_drop_on_promoted(sc, rn.target_dsn, res->schema);
out:
	connpool_clear(&rn.pool);
	run_plan_free(&rn.plan);
	free(rn.cmd);
	if (rn.admin)
		PQfinish(rn.admin);
	if (rn.owner) /* last: the lock outlives the schema */
		PQfinish(rn.owner);
	res->elapsed_s = (double)(clock_us() - t0) / 1e6;
}

void run_result_free(struct run_result *res)
{
	for (size_t i = 0; i < res->n_phases; i++) {
		free(res->phases[i].expects);
		free(res->phases[i].steps);
		free(res->phases[i].per_key);
		for (size_t k = 0; k < res->phases[i].n_app_rounds; k++)
			free(res->phases[i].app_rounds[k].workers);
		ilv_free(&res->phases[i].ilv);
		appil_free(res->phases[i].appil);
	}
	free(res->phases);
	res->phases = NULL;
	res->n_phases = 0;
}

