/* run.c: plays a scenario's phases in a sandbox schema and judges them.
 *
 * Setup errors (unreachable server, rejected schema SQL) end the run with a
 * message; what happens inside a race is data, counted and judged by the
 * scenario's expectations. The sandbox schema is dropped on every path. */
#include "run.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "command.h"
#include "connpool.h"
#include "db.h"
#include "checks.h"
#include "judge.h"
#include "lockview.h"
#include "mem.h"
#include "progress.h"
#include "race.h"
#include "run_plan.h"
#include "sandbox.h"
#include "stepcmd.h"
#include "server.h"
#include "text.h"

int run_exit_code(enum verdict v)
{
	return judge_exit_code(v, db_stop_requested());
}

struct runner {
	const struct scenario *sc;
	const struct run_opts *opts;
	struct run_result *res;
	PGconn *admin;      /* setup, steps and cleanup; search_path = the sandbox */
	PGconn *owner;      /* holds the sandbox's owner lock (sandbox.h), runs nothing else */
	const char *admin_dsn; /* opts->admin_dsn, else opts->dsn */
	bool admin_pooled;  /* the admin connection goes through the transaction pooler */
	bool migrated;
	long long round;    /* global round counter: keys never repeat across phases */
	struct command_result *cmd; /* the last command's output (allocated on first use) */
	bool touched_outside; /* the last command changed the catalog outside the sandbox */
	struct run_plan plan;       /* which phase runs how (run_plan.h) */
	int timeout_ms;             /* a scenario statement's deadline: race's timeout_ms */
	const char *target_dsn[TARGETS_MAX]; /* the scenario's targets' conninfo ([0]: --dsn) */
	struct connpool pool; /* the workers' connections, from one racing phase to the next */
};

/* How long a replica target may take to replay the setup before the first round. */
#define REPLAY_TIMEOUT_MS 60000

/* Ends the run: records why and the verdict it deserves. */
__attribute__((format(printf, 3, 4))) static void stop_run(struct runner *rn, enum verdict v,
							     const char *fmt, ...)
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
static enum verdict setup_verdict(const struct db_result *r)
{
	return judge_setup_failure(r->status, r->sqlstate, db_stop_requested());
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Runs a script of the scenario on the admin connection, in the sandbox
 * (sandbox_script: through a pooler too). */
static void admin_sql(struct runner *rn, const char *sql, struct db_result *r)
{
	sandbox_script(rn->admin, rn->admin_pooled, rn->res->schema, sql,
		       clock_us() + (uint64_t)rn->timeout_ms * 1000u, r);
}

/* Runs a scenario's command in the sandbox (stepcmd.h); its output stays in
 * rn->cmd, and rn->touched_outside says whether it changed the catalog
 * outside the sandbox. */
static bool run_command(struct runner *rn, const struct command *cmd, struct db_result *r)
{
	if (!rn->cmd && !(rn->cmd = malloc(sizeof *rn->cmd)))
		abort();
	return stepcmd_run(rn->admin, rn->res->schema, cmd, rn->cmd, r, &rn->touched_outside);
}

/* Runs the step's SQL or built-in check once. */
static void exec_step(struct runner *rn, const struct step *st, struct check_try *t)
{
	struct db_result *r = &t->r;
	t->note[0] = '\0';
	t->unchecked = false;
	switch (st->kind) {
	case STEP_SQL:
	case STEP_MIGRATE_UP:
	case STEP_MIGRATE_DOWN:
		if (st->text.command) {
			if (run_command(rn, st->text.command, r) && r->status == DB_OK)
				snprintf(t->note, sizeof t->note, "exit status 0");
		} else
			admin_sql(rn, st->text.sql, r);
		return;
	default:
		checks_run(rn->admin, rn->res->schema, st, t);
		return;
	}
}

/* Runs the step, again after a retry_on error up to its retries; a
 * transaction the step's own SQL opened and left failed is rolled back, so
 * it cannot poison the next step. */
static void step_tries(struct runner *rn, const struct step *st, struct check_try *t,
		       long long *retries)
{
	for (*retries = 0;; ++*retries) {
		exec_step(rn, st, t);
		/* BEGIN; ...; COMMIT; as `alembic --sql` writes */
		if (PQtransactionStatus(rn->admin) == PQTRANS_INERROR) {
			struct db_result rb;
			db_query(rn->admin, "ROLLBACK", 0, NULL, 0, &rb);
		}
		if (!judge_step_retryable(st, t->r.status, t->r.sqlstate) || *retries >= st->retries)
			return;
		pause_ms(100);
	}
}

/* An under_load step's writers: started before the step... */
static void load_start(struct runner *rn, struct race *race)
{
	race_free_start(race, rn->round + 1, false, 0);
	pause_ms(200); /* let the writers get going before the step */
}

/* ...and stopped after it, their figures in *o; false (the run stopped)
 * when they broke. */
static bool load_stop(struct runner *rn, const struct phase *p, const struct step *st,
		      struct race *race, struct step_obs *o)
{
	char err[1024];
	long long used = 0;
	struct race_totals t;
	memset(&t, 0, sizeof t);
	pause_ms(200); /* and keep them going after it */
	enum race_status rs = race_free_wait(race, true, &used, err, sizeof err);
	rn->round += used;
	if (rs != RACE_OK) {
		stop_run(rn, VERDICT_ERROR, "phase %s, %s, load: %s", p->name, st->label, err);
		return false;
	}
	race_totals(race, &t, NULL);
	o->stall_ms = (long long)(t.latency.max / 1000);
	o->load_attempts = t.attempts;
	o->load_ok = outcome_get(&t.outcomes, "ok") + outcome_get(&t.outcomes, "skipped");
	o->load_errors = t.attempts - o->load_ok;
	return true;
}

static void record_step(struct phase_result *ph, const struct step *st, const struct step_obs *o,
			double elapsed_s)
{
	struct step_result *sr = realloc(ph->steps, sizeof *sr * (ph->n_steps + 1));
	if (!sr)
		abort();
	ph->steps = sr;
	sr = &sr[ph->n_steps++];
	memset(sr, 0, sizeof *sr);
	snprintf(sr->label, sizeof sr->label, "%s", st->label);
	snprintf(sr->sqlstate, sizeof sr->sqlstate, "%s", o->status == OBS_OK ? "" : o->sqlstate);
	sr->rows = o->rows;
	sr->affected = o->affected;
	sr->retries = o->retries;
	sr->under_load = st->under_load;
	sr->stall_ms = o->stall_ms;
	sr->load_attempts = o->load_attempts;
	sr->load_errors = o->load_errors;
	sr->elapsed_s = elapsed_s;
}

/* Runs step i of phase p on the admin connection, under the phase's load
 * when it asks for it, and has it judged; false when the run must stop. */
static bool run_step(struct runner *rn, const struct phase *p, size_t i, struct phase_result *ph,
		     struct race *race)
{
	const struct step *st = &p->steps[i];
	struct check_try t;
	struct step_obs o = {0};
	char why[1024];
	if (st->under_load)
		load_start(rn, race);
	uint64_t t0 = clock_us();
	step_tries(rn, st, &t, &o.retries);
	double elapsed_s = (double)(clock_us() - t0) / 1e6;
	if (st->under_load && !load_stop(rn, p, st, race, &o))
		return false;
	o.status = judge_obs_status(t.r.status);
	o.sqlstate = t.r.sqlstate;
	o.message = t.r.message;
	o.detail = t.r.detail;
	o.note = t.note;
	o.unchecked = t.unchecked;
	if (st->text.command) {
		o.command = true;
		o.not_started = t.r.status == DB_ERROR && rn->cmd->status == CMD_SPAWN_ERROR;
		o.output[0] = rn->cmd->err;
		o.output[1] = rn->cmd->out;
	}
	o.rows = t.r.rows;
	o.affected = t.r.affected;
	record_step(ph, st, &o, elapsed_s);
	enum verdict v = judge_step(rn->sc, st, i, &o, ph, why, sizeof why);
	if (o.status == OBS_OK && (st->kind == STEP_MIGRATE_UP || st->kind == STEP_MIGRATE_DOWN))
		rn->migrated = st->kind == STEP_MIGRATE_UP;
	if (st->text.command && rn->touched_outside && (v == VERDICT_PASS || v == VERDICT_FAIL)) {
		/* Whatever it expected: the user's data is not the run's to
		 * change, and the next command would change more. */
		ph->verdict = verdict_worse(ph->verdict, VERDICT_FAIL);
		stop_run(rn, VERDICT_FAIL, "%s:%d: phase %s, %s: %s", rn->sc->path, st->line,
			 p->name, st->label, t.r.message);
		return false;
	}
	if (v == VERDICT_PASS || v == VERDICT_FAIL)
		return true;
	if (v == VERDICT_ERROR)
		ph->broken = true;
	ph->verdict = verdict_worse(ph->verdict, v);
	stop_run(rn, v, "%s", why);
	return false;
}

/* Stops the run after a race that did not complete: the scenario's fault
 * (err names file:line) is a bad scenario, anything else breaks the phase. */
static void race_failed(struct runner *rn, const struct phase *p, struct phase_result *ph,
			enum race_status st, const char *where, const char *err,
			const struct race_totals *t)
{
	if (st == RACE_BAD) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "%s (phase %s, %s)", err, p->name, where);
		return;
	}
	ph->broken = true;
	long long deadlocks = t ? outcome_get(&t->outcomes, "40P01") : 0;
	if (deadlocks && strstr(err, "in deadlock with each other"))
		stop_run(rn, VERDICT_ERROR, "phase %s, %s: %s (40P01 so far in this phase: %lld)",
			 p->name, where, err, deadlocks);
	else
		stop_run(rn, VERDICT_ERROR, "phase %s, %s: %s", p->name, where, err);
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
			stop_run(rn, VERDICT_BAD_SCENARIO, "%s:%d: params: %s (round %lld, key %d)",
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
		stop_run(rn, VERDICT_ERROR,
			 "%s:%d: phase %s, round_setup (round %lld) did not finish within the round's "
			 "deadline of %d ms and was cancelled%s (raise the phase's race: {deadline_ms: "
			 "N}, or --deadline-ms)",
			 sc->path, t->line, p->name, round, deadline_ms, waited);
		return false;
	}
	stop_run(rn, setup_verdict(&r), "%s:%d: phase %s, round_setup (round %lld): %s", sc->path,
		 t->line, p->name, round, db_result_text(&r, text, sizeof text));
	return false;
}

static bool race_rounds(struct runner *rn, const struct phase *p, struct race *race,
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
		ph->rounds++;
		if (ph->rows_min < 0 || rr.rows_min < ph->rows_min)
			ph->rows_min = rr.rows_min;
		if (rr.rows_max > ph->rows_max)
			ph->rows_max = rr.rows_max;
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

/* The phase's race run by the application's own processes (app.h), round
 * by round; false when the run must stop. */
static bool app_rounds(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
		       struct phase_result *ph, struct race_totals *t)
{
	char err[1400];
	const struct sql_text *setup = p->round_setup.sql ? &p->round_setup : &rn->sc->round_setup;
	if (rn->opts->duration_ms > 0 || rn->opts->pooler || rn->sc->n_targets > 1) {
		race_failed(rn, p, ph, RACE_BAD, "its race",
			    "an app flow runs in rounds on the --dsn server: it does not take "
			    "--duration, --pooler or targets",
			    NULL);
		return false;
	}
	struct app_race *a = app_open(rn->admin, rn->res->schema, rn->sc, cfg, err, sizeof err);
	if (!a) {
		race_failed(rn, p, ph, strstr(err, rn->sc->path) ? RACE_BAD : RACE_BROKEN, "its race",
			    err, NULL);
		return false;
	}
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
		ph->rounds++;
		if (ph->rows_min < 0 || rr.rows_min < ph->rows_min)
			ph->rows_min = rr.rows_min;
		if (rr.rows_max > ph->rows_max)
			ph->rows_max = rr.rows_max;
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
static bool race_interleave(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
			    struct phase_result *ph, struct race_totals *t)
{
	char err[1024];
	if (!ilv_plan(rn->sc, p, cfg, &ph->ilv, err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "%s", err);
		return false;
	}
	const struct run_opts *ro = rn->opts;
	if (ro->before_last_race && ro->last_phase && !strcmp(p->name, ro->last_phase) &&
	    !ro->before_last_race(ro->before_last_race_ctx, rn->admin, rn->res->schema, rn->round + 1,
				 err, sizeof err)) {
		ph->verdict = verdict_worse(ph->verdict, VERDICT_BAD_SCENARIO);
		stop_run(rn, VERDICT_BAD_SCENARIO, "phase %s: %s", p->name, err);
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
		ph->rounds++;
		if (ph->rows_min < 0 || o->rows < ph->rows_min)
			ph->rows_min = o->rows;
		if (o->rows > ph->rows_max)
			ph->rows_max = o->rows;
	}
	ph->rounds_with_duplicates = ph->ilv.with_duplicates;
	if (st != RACE_OK) {
		if (err[0]) /* else round_setup said why */
			race_failed(rn, p, ph, st, "interleave", err, t);
		else
			ph->broken = true;
		return false;
	}
	return true;
}

/* The phase's race free-running for --duration: measured, not judged. */
static bool race_free(struct runner *rn, const struct phase *p, struct race *race,
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
		if (!interleave && !sc->app)
			race = race_open(rn->opts->dsn, rn->target_dsn, rn->res->schema,
					 rn->opts->pooler, sc, &cfg, &rn->pool, err, sizeof err);
		if (!race && !interleave && !sc->app) {
			ph->broken = true;
			stop_run(rn, VERDICT_ERROR, "phase %s: %s", p->name, err);
			return false;
		}
		if (race && !rn->admin_pooled) /* through a pooler the pid names no backend */
			race_set_admin_pid(race, PQbackendPID(rn->admin));
	}
	for (size_t j = 0; go_on && j < p->n_steps; j++)
		go_on = run_step(rn, p, j, ph, race);
	ph->migrated = rn->migrated;
	if (go_on && interleave)
		go_on = race_interleave(rn, p, &cfg, ph, &t);
	else if (go_on && p->has_race && sc->app)
		go_on = app_rounds(rn, p, &cfg, ph, &t);
	else if (go_on && race)
		go_on = ph->free_run ? race_free(rn, p, race, ph)
				     : race_rounds(rn, p, race, &cfg, ph, &t);
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
	stop_run(rn, v, "%s", why);
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
		stop_run(rn, rn->touched_outside ? VERDICT_FAIL : v, "%s:%d: %s: %s", rn->sc->path,
			 t->line, what, r.message);
		return false;
	}
	admin_sql(rn, t->sql, &r);
	if (r.status == DB_OK)
		return true;
	stop_run(rn, setup_verdict(&r), "%s:%d: %s: %s", rn->sc->path, t->line, what,
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
	stop_run(rn, VERDICT_ERROR, "%s", err);
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
	stop_run(rn, VERDICT_ERROR, "could not drop schema %s: %s", rn->res->schema, err);
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
		stop_run(&rn, VERDICT_BAD_SCENARIO, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}

	rn.admin = db_connect(rn.admin_dsn, NULL, err, sizeof err);
	if (!rn.admin) {
		stop_run(&rn, VERDICT_ERROR, "cannot connect: %s", err);
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
		stop_run(&rn, VERDICT_ERROR, "%s", err);
		res->schema[0] = '\0';
		goto out;
	}
	if (opts->admin_dsn) { /* two connections that must reach one database */
		enum verdict dv = server_same_database(rn.admin, opts->dsn, err, sizeof err);
		if (dv != VERDICT_PASS) {
			stop_run(&rn, dv, "%s", err);
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
			stop_run(&rn, tv, "%s", err);
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
		stop_run(&rn, VERDICT_ERROR, "%s", err);
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
		stop_run(&rn, VERDICT_ERROR, "cannot create the sandbox schema: %s",
			 db_result_text(&r, text, sizeof text));
		if (r.status == DB_ERROR) {
			res->schema[0] = '\0'; /* the server refused it: nothing of ours to drop */
			goto out;
		}
		goto drop; /* cancelled or lost on the way: it may exist all the same */
	}
	if (!server_create_extensions(rn.admin, res->schema, &sc->requires, err, sizeof err)) {
		stop_run(&rn, VERDICT_ERROR, "%s:%d: requires: %s", sc->path, sc->requires.line, err);
		goto drop;
	}
	if (!connections_fit(&rn) || !run_setup_sql(&rn, "schema", &sc->schema) ||
	    !run_setup_sql(&rn, "seed", &sc->seed))
		goto drop;
	/* Replicas get the sandbox by replication: no round before they have it. */
	for (size_t t = 1; t < sc->n_targets; t++)
		if (!server_wait_replay(rn.admin, sc->targets[t], rn.target_dsn[t], res->schema,
					REPLAY_TIMEOUT_MS, err, sizeof err)) {
			stop_run(&rn, VERDICT_ERROR, "%s", err);
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
			stop_run(&rn, VERDICT_ERROR, "%s", db_stop_text());
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
	}
	free(res->phases);
	res->phases = NULL;
	res->n_phases = 0;
}
