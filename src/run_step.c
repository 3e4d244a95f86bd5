/* run_step.c: a phase's steps: each step's SQL, command or built-in check,
 * its tries, the load it runs under, and what it recorded.
 *
 * Called by run.c's sequencing (run_phase) through run_runner.h; calls
 * checks.h (the built-in checks), race.h (a step under load), db.h and
 * judge.h (the step's verdict). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checks.h"
#include "db.h"
#include "judge.h"
#include "race.h"
#include "run_runner.h"

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
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
			run_admin_sql(rn, st->text.sql, r);
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
		run_stop(rn, VERDICT_ERROR, "phase %s, %s, load: %s", p->name, st->label, err);
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
bool run_step(struct runner *rn, const struct phase *p, size_t i, struct phase_result *ph,
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
		run_stop(rn, VERDICT_FAIL, "%s:%d: phase %s, %s: %s", rn->sc->path, st->line,
			 p->name, st->label, t.r.message);
		return false;
	}
	if (v == VERDICT_PASS || v == VERDICT_FAIL)
		return true;
	if (v == VERDICT_ERROR)
		ph->broken = true;
	ph->verdict = verdict_worse(ph->verdict, v);
	run_stop(rn, v, "%s", why);
	return false;
}
