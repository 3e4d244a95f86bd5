/* run_race.c: a phase's race in the engine its plan names: hold and fire
 * rounds, application rounds, interleave orders, a free run.
 *
 * Called by run.c's sequencing (run_phase) through run_runner.h. Each round's
 * round_setup runs here, on the admin connection, before the workers start;
 * a race that cannot complete stops the run with the reason. Calls race.h,
 * app.h, interleave.h, lockview.h (what a late round_setup waited for),
 * key.h and sandbox.h (round_setup's keys and path), progress.h and db.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_interleave.h"
#include "db.h"
#include "interleave.h"
#include "lockview.h"
#include "mem.h"
#include "progress.h"
#include "race.h"
#include "run_runner.h"
#include "sandbox.h"

/* Stops the run after a race that did not complete: the scenario's fault
 * (err names file:line) is a bad scenario, anything else breaks the phase. */
static void race_failed(struct runner *rn, const struct phase *p, struct phase_result *ph,
			enum race_status st, const char *where, const char *err,
			const struct race_totals *t)
{
	if (st == RACE_BAD) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		run_stop(rn, VERDICT_BAD_SCENARIO, "%s (phase %s, %s)", err, p->name, where);
		return;
	}
	ph->broken = true;
	long long deadlocks = t ? outcome_get(&t->outcomes, "40P01") : 0;
	if (deadlocks && strstr(err, "in deadlock with each other"))
		run_stop(rn, VERDICT_ERROR, "phase %s, %s: %s (40P01 so far in this phase: %lld)",
			 p->name, where, err, deadlocks);
	else
		run_stop(rn, VERDICT_ERROR, "phase %s, %s: %s", p->name, where, err);
}

/* What the round_setup query waits for when its deadline passes, asked
 * from a connection opened for that (the admin connection is busy, the
 * owner's runs nothing but its lock); "" behind a pooler, whose backend pid
 * means nothing. */
struct setup_watch {
	struct runner *rn;
	char what[256];
};

static void setup_at_deadline(PGconn *c, void *ctx)
{
	struct setup_watch *w = ctx;
	char err[512];
	if (w->rn->admin_pooled)
		return;
	PGconn *asker = db_connect(w->rn->admin_dsn, NULL, err, sizeof err);
	if (!asker)
		return;
	lockview_session_wait(asker, PQbackendPID(c), w->what, sizeof w->what);
	PQfinish(asker);
}

/* One more round (or interleave order) of the phase, whose keys ended with
 * rows_min to rows_max rows. */
static void phase_count_round(struct phase_result *ph, long long rows_min, long long rows_max)
{
	ph->rounds++;
	if (ph->rows_min < 0 || rows_min < ph->rows_min)
		ph->rows_min = rows_min;
	if (rows_max > ph->rows_max)
		ph->rows_max = rows_max;
}

/* How an interleave phase (of SQL or of an app) ended: true when it ran
 * through; else the failure is the phase's (err, or round_setup said why). */
static bool interleave_ended(struct runner *rn, const struct phase *p, struct phase_result *ph,
			     enum race_status st, const char *err, struct race_totals *t)
{
	if (st == RACE_OK)
		return true;
	if (err[0]) /* else round_setup said why */
		race_failed(rn, p, ph, st, "interleave", err, t);
	else
		ph->broken = true;
	return false;
}

/* The round's round_setup, once per key, committed before the workers
 * start, all of it within the round's deadline (deadline_ms) as a flow
 * step is: past it the query is cancelled and the run stops (exit 3),
 * saying what it waited for; false when the run must stop. */
static bool round_setup(struct runner *rn, const struct phase *p, const struct sql_text *t,
			long long round, int phase_round, int keys, int deadline_ms)
{
	const struct scenario *sc = rn->sc;
	struct db_result r;
	struct key_values kv;
	struct setup_watch watch = {rn, ""};
	const struct db_watch dw = {setup_at_deadline, &watch};
	char why[512], text[600], sql[160];
	uint64_t deadline = clock_us() + (uint64_t)deadline_ms * 1000u;
	if (rn->admin_pooled) { /* the search_path lives in a transaction of our own */
		char path[96];
		snprintf(sql, sizeof sql, "BEGIN; %s",
			 sandbox_path_sql(path, sizeof path, rn->res->schema, true));
		db_query(rn->admin, sql, 0, NULL, deadline, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	for (int k = 0; k < keys; k++) {
		struct key_ctx ctx = {round, k, phase_round, 0};
		if (!key_eval(sc->params, sc->n_params, &ctx, &kv, why, sizeof why)) {
			run_stop(rn, VERDICT_BAD_SCENARIO, "%s:%d: params: %s (round %lld, key %d)",
				 sc->path, sc->params_line, why, round, k);
			return false;
		}
		db_query_watched(rn->admin, t->sql, t->nparams, kv.ptr, deadline, &dw, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	if (rn->admin_pooled) {
		db_query(rn->admin, "COMMIT", 0, NULL, deadline, &r);
		if (r.status != DB_OK)
			goto failed;
	}
	return true;
failed:
	if (PQtransactionStatus(rn->admin) != PQTRANS_IDLE)
		db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &(struct db_result){0});
	if (r.status == DB_TIMEOUT) {
		char waited[300] = "";
		if (watch.what[0])
			snprintf(waited, sizeof waited, "; it was waiting on %s", watch.what);
		run_stop(rn, VERDICT_ERROR,
			 "%s:%d: phase %s, round_setup (round %lld) did not finish within the round's "
			 "deadline of %d ms and was cancelled%s (raise the phase's race: {deadline_ms: "
			 "N}, or --deadline-ms)",
			 sc->path, t->line, p->name, round, deadline_ms, waited);
		return false;
	}
	run_stop(rn, run_setup_verdict(&r), "%s:%d: phase %s, round_setup (round %lld): %s", sc->path,
		 t->line, p->name, round, db_result_text(&r, text, sizeof text));
	return false;
}

bool run_race_rounds(struct runner *rn, const struct phase *p, struct race *race,
			const struct race_cfg *cfg, struct phase_result *ph, struct race_totals *t)
{
	char err[1024];
	const struct sql_text *setup = p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup;
	ph->steps_per_worker = (int)rn->sc->n_flow + 1;
	for (int i = 0; i < cfg->rounds; i++) {
		struct round_result rr;
		if (setup->sql &&
		    !round_setup(rn, p, setup, rn->round + 1, i, cfg->keys, cfg->deadline_ms)) {
			ph->broken = true;
			return false;
		}
		enum race_status st = race_round(race, ++rn->round, i, &rr, err, sizeof err);
		if (st != RACE_OK) {
			char where[160];
			snprintf(where, sizeof where, "round %d", i + 1);
			race_failed(rn, p, ph, st, where, err, t);
			return false;
		}
		phase_count_round(ph, rr.rows_min, rr.rows_max);
		if (rr.order[0] && !ph->fire_order[0]) {
			ph->fire_round = i + 1;
			snprintf(ph->fire_order, sizeof ph->fire_order, "%s", rr.order);
			memcpy(ph->fire_events, rr.events, rr.n_events * sizeof *rr.events);
			memcpy(ph->fire_ends, rr.ends, rr.n_events * sizeof *rr.ends);
			ph->n_fire_events = rr.n_events;
		}
		if (ph->migrated && !ph->pass_round && rr.n_events && !rr.keys_with_duplicates) {
			ph->pass_round = i + 1;
			memcpy(ph->pass_events, rr.events, rr.n_events * sizeof *rr.events);
			memcpy(ph->pass_ends, rr.ends, rr.n_events * sizeof *rr.ends);
			ph->n_pass_events = rr.n_events;
		}
		if (rr.keys_with_duplicates)
			ph->rounds_with_duplicates++;
		ph->extra_rows += rr.extra_rows;
		hist_record(&t->skew, rr.skew_us);
		hist_record(&t->release, rr.release_us);
		t->tails += rr.tails;
		t->realtime_rounds += rr.realtime;
		race_totals(race, t, ph->per_key); /* the workers are parked between rounds */
		if (rn->opts->progress)
			progress_rounds(ph, cfg->rounds, &t->outcomes);
	}
	return true;
}

static bool round_setup(struct runner *rn, const struct phase *p, const struct sql_text *t,
			long long round, int phase_round, int keys, int deadline_ms);

/* Keeps wr (n workers) as round's entry in ph->app_rounds for the report,
 * why joined to an entry already holding that round. */
static void app_keep_round(struct phase_result *ph, long long round, const char *why,
			   const struct app_worker_result *wr, int n)
{
	struct app_round_result *k = NULL;
	for (size_t i = 0; i < ph->n_app_rounds; i++)
		if (ph->app_rounds[i].round == round)
			k = &ph->app_rounds[i];
	if (k) {
		size_t len = strlen(k->why);
		snprintf(k->why + len, sizeof k->why - len, ", %s", why);
		return;
	}
	if (ph->n_app_rounds >= APP_KEPT_ROUNDS)
		return;
	k = &ph->app_rounds[ph->n_app_rounds++];
	k->round = round;
	snprintf(k->why, sizeof k->why, "%s", why);
	k->workers = mem_calloc((size_t)n, sizeof *k->workers);
	memcpy(k->workers, wr, (size_t)n * sizeof *wr);
	k->n_workers = n;
}

/* An app flow's race for phase p, or NULL when it cannot run (the phase
 * failed with why: options an app flow does not take, or app_open's). */
static struct app_race *app_race_open(struct runner *rn, const struct phase *p,
				      const struct race_cfg *cfg, struct phase_result *ph)
{
	char err[1400];
	if (rn->opts->duration_ms > 0 || rn->opts->pooler || rn->sc->n_targets > 1) {
		race_failed(rn, p, ph, RACE_BAD, "its race",
			    "an app flow runs in rounds on the --dsn server: it does not take "
			    "--duration, --pooler or targets",
			    NULL);
		return NULL;
	}
	struct app_race *a = app_open(rn->admin, rn->res->schema, rn->sc, cfg, err, sizeof err);
	if (!a)
		race_failed(rn, p, ph, strstr(err, rn->sc->path) ? RACE_BAD : RACE_BROKEN, "its race",
			    err, NULL);
	return a;
}

/* The phase's race run by the application's own processes (app.h), round
 * by round; false when the run must stop. */
bool run_app_rounds(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
		       struct phase_result *ph, struct race_totals *t)
{
	char err[1400];
	const struct sql_text *setup = p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup;
	struct app_race *a = app_race_open(rn, p, cfg, ph);
	if (!a)
		return false;
	bool ok = true, dup_kept = false, pass_kept = false;
	struct app_worker_result *wr = mem_calloc((size_t)cfg->workers, sizeof *wr);
	for (int i = 0; ok && i < cfg->rounds; i++) {
		struct round_result rr;
		if (setup->sql && !round_setup(rn, p, setup, rn->round + 1, i, cfg->keys,
					       cfg->deadline_ms)) {
			ph->broken = true;
			ok = false;
			break;
		}
		enum race_status st =
			app_round(a, ++rn->round, i, &rr, t, &ph->app, wr, err, sizeof err);
		if (st != RACE_OK) {
			char where[160];
			snprintf(where, sizeof where, "round %d", i + 1);
			race_failed(rn, p, ph, st, where, err, t);
			ok = false;
			break;
		}
		phase_count_round(ph, rr.rows_min, rr.rows_max);
		if (rr.keys_with_duplicates)
			ph->rounds_with_duplicates++;
		ph->extra_rows += rr.extra_rows;
		if (i == 0)
			app_keep_round(ph, i + 1, "first", wr, cfg->workers);
		if (rr.keys_with_duplicates && !dup_kept) {
			app_keep_round(ph, i + 1, "first duplicate", wr, cfg->workers);
			dup_kept = true;
		}
		if (ph->migrated && !rr.keys_with_duplicates && !pass_kept) {
			app_keep_round(ph, i + 1, "first passing", wr, cfg->workers);
			pass_kept = true;
		}
		if (rn->opts->progress)
			progress_rounds(ph, cfg->rounds, &t->outcomes);
	}
	free(wr);
	app_close(a);
	return ok;
}

struct order_setup {
	struct runner *rn;
	const struct phase *p;
	const struct sql_text *sql;
	const struct phase_result *ph;
	uint64_t t0;
	int deadline_ms; /* the round's, for its round_setup */
};

/* Before an interleave order: the progress line, then the phase's
 * round_setup for its one key. */
static bool before_order(void *ctx, long long round, long long index)
{
	struct order_setup *os = ctx;
	if (os->rn->opts->progress)
		progress_orders(os->ph, index, os->t0);
	return !os->sql->sql ||
	       round_setup(os->rn, os->p, os->sql, round, (int)index, 1, os->deadline_ms);
}

/* The phase's race in interleave mode: its orders, one per round; false
 * when the run must stop. */
bool run_race_interleave(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
			    struct phase_result *ph, struct race_totals *t)
{
	char err[1024];
	if (!ilv_plan(rn->sc, p, cfg, &ph->ilv, err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		run_stop(rn, VERDICT_BAD_SCENARIO, "%s", err);
		return false;
	}
	const struct run_opts *ro = rn->opts;
	if (ro->before_last_race && ro->last_phase && !strcmp(p->name, ro->last_phase) &&
	    !ro->before_last_race(ro->before_last_race_ctx, rn->admin, rn->res->schema, rn->round + 1,
				 err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		run_stop(rn, VERDICT_BAD_SCENARIO, "phase %s: %s", p->name, err);
		return false;
	}
	struct order_setup os = {rn, p, p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup,
				 ph, clock_us(), cfg->deadline_ms};
	enum race_status st = ilv_run(rn->opts->dsn, rn->res->schema, rn->opts->pooler, rn->sc,
				      cfg, &ph->ilv, &rn->round,
				      os.sql->sql || rn->opts->progress ? before_order : NULL, &os, t,
				      err, sizeof err);
	if (rn->opts->progress) {
		progress_orders(ph, (long long)ph->ilv.n_orders, os.t0);
		progress_clear();
	}
	for (size_t i = 0; i < ph->ilv.n_orders; i++) {
		const struct ilv_order *o = &ph->ilv.orders[i];
		if (!o->executable)
			continue;
		phase_count_round(ph, o->rows, o->rows);
	}
	ph->rounds_with_duplicates = ph->ilv.with_duplicates;
	return interleave_ended(rn, p, ph, st, err, t);
}

/* Before an app flow's order: the phase's round_setup for its one key. */
static bool before_app_order(void *ctx, long long round, long long index)
{
	struct order_setup *os = ctx;
	return round_setup(os->rn, os->p, os->sql, round, (int)index, 1, os->deadline_ms);
}

/* The phase's race in interleave mode of an app flow: its orders, found
 * as its processes run (app_interleave.h); false when the run must stop. */
bool run_app_interleave(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
			struct phase_result *ph, struct race_totals *t)
{
	char err[1400];
	struct app_race *a = app_race_open(rn, p, cfg, ph);
	if (!a)
		return false;
	const struct run_opts *ro = rn->opts;
	if (ro->before_last_race && ro->last_phase && !strcmp(p->name, ro->last_phase) &&
	    !ro->before_last_race(ro->before_last_race_ctx, rn->admin, rn->res->schema, rn->round + 1,
				 err, sizeof err)) {
		app_close(a);
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		run_stop(rn, VERDICT_BAD_SCENARIO, "phase %s: %s", p->name, err);
		return false;
	}
	struct order_setup os = {rn, p, p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup,
				 ph, clock_us(), cfg->deadline_ms};
	ph->appil = mem_calloc(1, sizeof *ph->appil);
	enum race_status st = appil_run(a, rn->admin, cfg, ph->appil, &rn->round,
					os.sql->sql ? before_app_order : NULL, &os, t, &ph->app, err,
					sizeof err);
	app_close(a);
	for (size_t i = 0; i < ph->appil->n_orders; i++) {
		const struct appil_order *o = &ph->appil->orders[i];
		if (o->state != APPIL_RAN)
			continue;
		phase_count_round(ph, o->rows, o->rows);
		if (o->rows > 1) {
			ph->rounds_with_duplicates++;
			ph->extra_rows += o->rows - 1;
		}
	}
	return interleave_ended(rn, p, ph, st, err, t);
}

/* The phase's race free-running for --duration: measured, not judged. */
bool run_race_free(struct runner *rn, const struct phase *p, struct race *race,
		      struct phase_result *ph)
{
	char err[1024];
	long long base = rn->round + 1, used = 0;
	uint64_t t0 = clock_us();
	race_free_start(race, base, rn->opts->hot, rn->opts->duration_ms);
	enum race_status st = race_free_wait(race, false, &used, err, sizeof err);
	ph->duration_s = (double)(clock_us() - t0) / 1e6;
	rn->round += used;
	if (st == RACE_OK && rn->opts->hot) {
		struct round_result rr;
		st = race_rows(race, base, &rr, err, sizeof err);
		ph->rows_min = rr.rows_min;
		ph->rows_max = rr.rows_max;
		ph->rounds_with_duplicates = rr.keys_with_duplicates > 0;
	}
	if (st != RACE_OK) {
		race_failed(rn, p, ph, st, "free run", err, NULL);
		return false;
	}
	return true;
}
