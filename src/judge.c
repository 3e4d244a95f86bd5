/* judge.c: the verdict rules (see judge.h for the list). */
#include "judge.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_interleave.h"
#include "metric.h"
#include "outcome.h"

const char *verdict_name(enum verdict v)
{
	static const char *names[] = {"pass",	      "inconclusive", "fail",
				      "bad_scenario", "error",	      "skipped",
				      "measured"};
	return names[v];
}

/* Severity: skipped, then measured, below pass, then the enum's order. */
static int verdict_rank(enum verdict v)
{
	return v == VERDICT_SKIPPED ? -2 : v == VERDICT_MEASURED ? -1 : (int)v;
}

enum verdict verdict_worse(enum verdict a, enum verdict b)
{
	return verdict_rank(a) >= verdict_rank(b) ? a : b;
}

int judge_exit_code(enum verdict v, int signo)
{
	if (signo == SIGINT)
		return EXIT_SIGINT;
	if (signo == SIGTERM)
		return EXIT_SIGTERM;
	switch (v) {
	case VERDICT_PASS:
	case VERDICT_MEASURED:
		return EXIT_PASS;
	case VERDICT_INCONCLUSIVE:
		return EXIT_INCONCLUSIVE;
	case VERDICT_FAIL:
		return EXIT_FAIL;
	case VERDICT_BAD_SCENARIO:
		return EXIT_USAGE;
	case VERDICT_SKIPPED:
		return EXIT_SKIPPED;
	case VERDICT_ERROR:
		break;
	}
	return EXIT_DATABASE;
}

/* SQLSTATEs that say the scenario's SQL itself is wrong (syntax, a table or
 * column that no statement of the scenario created), whatever state the
 * database is in; 08P01 is a protocol violation such as a parameter count
 * that does not match. Others (42710 already exists, 42704 no such constraint)
 * can follow from what earlier phases did, so they are verdicts. */
bool judge_sql_is_wrong(const char *sqlstate)
{
	static const char *const wrong[] = {"42601", "42P01", "42703", "42883",
					    "42P02", "42804", "08P01"};
	for (size_t i = 0; sqlstate && i < sizeof wrong / sizeof wrong[0]; i++)
		if (!strcmp(sqlstate, wrong[i]))
			return true;
	return false;
}

enum verdict judge_setup_error(enum obs_status status, const char *sqlstate)
{
	if (status != OBS_ERROR || !sqlstate || strlen(sqlstate) != 5)
		return VERDICT_ERROR;
	if (judge_sql_is_wrong(sqlstate))
		return VERDICT_BAD_SCENARIO;
	/* Classes of the database's state, not of the statement: connection
	 * (08), resources (53), operator intervention (57: statement_timeout,
	 * shutdown), system (58), internal (XX), conflicts (40: serialization,
	 * deadlock), lock and transaction timeouts. */
	static const char *const classes[] = {"08", "53", "57", "58", "XX", "40"};
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		if (!strncmp(sqlstate, classes[i], 2))
			return VERDICT_ERROR;
	if (!strcmp(sqlstate, "55P03") || !strcmp(sqlstate, "25P03") || !strcmp(sqlstate, "25P04"))
		return VERDICT_ERROR;
	return VERDICT_BAD_SCENARIO;
}

enum obs_status judge_obs_status(enum db_status st)
{
	switch (st) {
	case DB_OK:
		return OBS_OK;
	case DB_ERROR:
		return OBS_ERROR;
	case DB_LOST:
		return OBS_LOST;
	case DB_TIMEOUT:
		return OBS_TIMEOUT;
	case DB_INTERRUPTED:
		break;
	}
	return OBS_INTERRUPTED;
}

enum verdict judge_setup_failure(enum db_status st, const char *sqlstate, int signo)
{
	if (signo)
		return VERDICT_ERROR;
	return judge_setup_error(judge_obs_status(st), sqlstate);
}

bool judge_step_retryable(const struct step *st, enum db_status status, const char *sqlstate)
{
	for (int i = 0; status == DB_ERROR && i < st->n_retry_on; i++)
		if (!strcmp(sqlstate, st->retry_on[i]))
			return true;
	return false;
}

static void add_result(struct phase_result *ph, int step, const char *expect, const char *actual,
		       bool passed)
{
	struct expect_result *x = realloc(ph->expects, sizeof *x * (ph->n_expects + 1));
	if (!x)
		abort();
	ph->expects = x;
	x = &x[ph->n_expects++];
	snprintf(x->expect, sizeof x->expect, "%s", expect);
	snprintf(x->actual, sizeof x->actual, "%s", actual);
	x->passed = passed;
	x->step = step;
}

/* A step's metric value by registry id. */
static bool step_value(void *ctx, const char *name, long long *v)
{
	const struct step_obs *o = ctx;
	const struct metric_def *d = metric_find(METRIC_STEP, name, NULL);
	if (!d)
		return false;
	switch (d->id) {
	case M_STEP_ROWS:
		*v = o->rows;
		return true;
	case M_STEP_AFFECTED:
		*v = o->affected;
		return true;
	case M_STEP_RETRIES:
		*v = o->retries;
		return true;
	case M_STEP_STALL_MS:
		*v = o->stall_ms;
		return true;
	case M_STEP_LOAD_ATTEMPTS:
		*v = o->load_attempts;
		return true;
	case M_STEP_LOAD_OK:
		*v = o->load_ok;
		return true;
	case M_STEP_LOAD_ERRORS:
		*v = o->load_errors;
		return true;
	default:
		return false;
	}
}

/* A racing phase's metric value by registry id. */
static bool phase_value(void *ctx, const char *name, long long *v)
{
	const struct phase_result *ph = ctx;
	const char *suffix = NULL;
	const struct metric_def *d = metric_find(METRIC_PHASE, name, &suffix);
	if (!d)
		return false;
	switch (d->id) {
	case M_WORKERS:
		*v = ph->workers;
		return true;
	case M_ROUNDS:
		*v = ph->rounds;
		return true;
	case M_KEYS:
		*v = ph->keys;
		return true;
	case M_ATTEMPTS:
		*v = ph->attempts;
		return true;
	case M_RETRIES:
		*v = ph->retries;
		return true;
	case M_ROUNDS_WITH_DUPLICATES:
		*v = ph->rounds_with_duplicates;
		return true;
	case M_EXTRA_ROWS:
		*v = ph->extra_rows;
		return true;
	case M_ROWS_MIN:
		*v = ph->rows_min;
		return true;
	case M_ROWS_MAX:
		*v = ph->rows_max;
		return true;
	case M_OUTCOMES:
		*v = outcome_get(&ph->outcomes, suffix);
		return true;
	case M_CONSTRAINT:
		*v = outcome_get(&ph->constraints, suffix);
		return true;
	case M_INTERLEAVINGS:
		*v = (long long)ph->ilv.n_orders;
		return true;
	case M_INTERLEAVINGS_WITH_DUPLICATES:
		*v = ph->ilv.with_duplicates;
		return true;
	case M_INTERLEAVINGS_NOT_EXECUTABLE:
		*v = ph->ilv.not_executable;
		return true;
	case M_APP_EXIT_OK:
		*v = ph->app.exit_ok;
		return true;
	case M_APP_EXIT_FAILED:
		*v = ph->app.exit_failed;
		return true;
	case M_APP_OUTPUT_MATCHED:
		*v = ph->app.output_matched;
		return true;
	default:
		return false;
	}
}

/* " after 2 retries; load: ..." for a step's actual text. */
static void step_extra(const struct step *st, const struct step_obs *o, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	if (o->retries)
		n += (size_t)snprintf(buf, len, " after %lld retries", o->retries);
	if (st->under_load && n < len)
		snprintf(buf + n, len - n, "; load: %lld attempts, %lld errors, stall %lld ms",
			 o->load_attempts, o->load_errors, o->stall_ms);
}

/* "SQLSTATE: message detail" of a failed step. */
static void step_error_text(const struct step_obs *o, const char *extra, char *buf, size_t len)
{
	if (o->sqlstate[0])
		snprintf(buf, len, "%s: %s%s%s%s", o->sqlstate, o->message, o->detail[0] ? " " : "",
			 o->detail, extra);
	else
		snprintf(buf, len, "%s%s", o->message[0] ? o->message : "failed", extra);
}

/* The server's message holds text; a command's is anywhere in its output. */
static bool message_has(const struct step_obs *o, const char *text)
{
	if (!o->command)
		return strstr(o->message, text) != NULL;
	return (o->output[0] && strstr(o->output[0], text)) ||
	       (o->output[1] && strstr(o->output[1], text));
}

enum verdict judge_step(const struct scenario *sc, const struct step *st, size_t i,
			const struct step_obs *o, struct phase_result *ph, char *why,
			size_t whylen)
{
	char expect[512], actual[512], extra[200];
	int step = (int)i + 1;
	int line = st->text.sql ? st->text.line : st->line;
	step_extra(st, o, extra, sizeof extra);
	if (o->status != OBS_OK && o->status != OBS_ERROR) {
		snprintf(why, whylen, "phase %s, %s (%s:%d): %s%s%s", ph->name, st->label, sc->path,
			 st->line, o->sqlstate[0] ? o->sqlstate : "", o->sqlstate[0] ? ": " : "",
			 o->message[0] ? o->message : "failed");
		snprintf(expect, sizeof expect, "%s completes", st->label);
		step_error_text(o, extra, actual, sizeof actual);
		add_result(ph, step, expect, actual, false);
		return VERDICT_ERROR;
	}
	if (o->not_started) {
		snprintf(why, whylen, "%s:%d: phase %s, %s: %s", sc->path, line, ph->name, st->label,
			 o->message);
		snprintf(expect, sizeof expect, "%s starts", st->label);
		add_result(ph, step, expect, o->message, false);
		return VERDICT_BAD_SCENARIO;
	}
	if (st->expect_error[0]) {
		snprintf(expect, sizeof expect, "%s fails with %s%s%s%s", st->label, st->expect_error,
			 st->expect_message ? " \"" : "", st->expect_message ? st->expect_message : "",
			 st->expect_message ? "\"" : "");
		bool passed = o->status == OBS_ERROR && !strcmp(o->sqlstate, st->expect_error) &&
			      (!st->expect_message || message_has(o, st->expect_message));
		if (o->status == OBS_OK)
			snprintf(actual, sizeof actual, "succeeded%s", extra);
		else
			step_error_text(o, extra, actual, sizeof actual);
		add_result(ph, step, expect, actual, passed);
		return passed ? VERDICT_PASS : VERDICT_FAIL;
	}
	snprintf(expect, sizeof expect, "%s succeeds", st->label);
	if (o->status == OBS_ERROR) {
		step_error_text(o, extra, actual, sizeof actual);
		add_result(ph, step, expect, actual, false);
		if (!o->command && judge_sql_is_wrong(o->sqlstate)) {
			snprintf(why, whylen, "%s:%d: phase %s, %s: the server rejected the SQL: %s: %s",
				 sc->path, line, ph->name, st->label, o->sqlstate, o->message);
			return VERDICT_BAD_SCENARIO;
		}
		return VERDICT_FAIL;
	}
	if (o->unchecked) {
		snprintf(actual, sizeof actual, "checked nothing: %s%s", o->note, extra);
		add_result(ph, step, expect, actual, false);
		return VERDICT_FAIL;
	}
	if (o->note[0])
		snprintf(actual, sizeof actual, "ok, %s%s", o->note, extra);
	else
		snprintf(actual, sizeof actual, "ok, %lld rows, %lld affected%s", o->rows, o->affected,
			 extra);
	add_result(ph, step, expect, actual, true);
	enum verdict v = VERDICT_PASS;
	for (size_t k = 0; k < st->n_expects; k++) {
		const struct expectation *x = &st->expects[k];
		char label[600], err[256];
		bool passed = false;
		snprintf(label, sizeof label, "%s: %s", st->label, x->text);
		if (!expect_eval(x, step_value, (void *)o, &passed, actual, sizeof actual, err,
				 sizeof err)) {
			snprintf(why, whylen, "%s:%d: phase %s, %s: expect \"%s\": cannot evaluate: %s",
				 sc->path, x->line, ph->name, st->label, x->text, err);
			snprintf(actual, sizeof actual, "cannot evaluate: %s", err);
			add_result(ph, step, label, actual, false);
			return VERDICT_BAD_SCENARIO;
		}
		/* A failed metric check says what the step found, so a person
		 * reading only the failures sees why ("0 == 1: uq is INVALID"). */
		if (!passed && o->note[0]) {
			size_t n = strlen(actual);
			snprintf(actual + n, sizeof actual - n, ": %s", o->note);
		}
		add_result(ph, step, label, actual, passed);
		if (!passed)
			v = VERDICT_FAIL;
	}
	return v;
}

static bool applies(const struct expectation *x, enum race_mode mode)
{
	return x->when == WHEN_ALWAYS || (x->when == WHEN_HOLD && mode == MODE_HOLD) ||
	       (x->when == WHEN_FIRE && mode == MODE_FIRE) ||
	       (x->when == WHEN_INTERLEAVE && mode == MODE_INTERLEAVE);
}

size_t judge_applicable(const struct phase *p, enum race_mode mode)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n_expects; i++)
		n += applies(&p->expects[i], mode);
	return n;
}

struct name_visit {
	void (*visit)(void *ctx, const char *name);
	void *ctx;
};

static bool visit_constraint(void *ctx, const char *name)
{
	struct name_visit *nv = ctx;
	const char *suffix = NULL;
	const struct metric_def *d = metric_find(METRIC_PHASE, name, &suffix);
	if (d && d->id == M_CONSTRAINT)
		nv->visit(nv->ctx, suffix);
	return true;
}

void judge_constraint_names(const struct phase *p, void (*visit)(void *ctx, const char *name),
			    void *ctx)
{
	struct name_visit nv = {visit, ctx};
	for (size_t i = 0; i < p->n_expects; i++) {
		expr_names(p->expects[i].lhs, visit_constraint, &nv);
		expr_names(p->expects[i].rhs, visit_constraint, &nv);
	}
}

struct missing_note {
	const struct name_list *missing;
	char *buf;
	size_t len;
};

/* Appends "; no constraint or index NAME in the sandbox" for each missing name. */
static bool note_missing(void *ctx, const char *name)
{
	struct missing_note *mn = ctx;
	const char *suffix = NULL;
	const struct metric_def *d = metric_find(METRIC_PHASE, name, &suffix);
	if (!d || d->id != M_CONSTRAINT || !mn->missing)
		return true;
	for (size_t i = 0; i < mn->missing->n; i++)
		if (!strcmp(mn->missing->names[i], suffix)) {
			size_t used = strlen(mn->buf);
			if (used < mn->len)
				snprintf(mn->buf + used, mn->len - used,
					 " (no constraint or index named %s in the sandbox)", suffix);
			return true;
		}
	return true;
}

enum verdict judge_flow(const struct scenario *sc, const struct phase *p,
			const struct phase_result *ph, char *why, size_t whylen)
{
	for (size_t i = 0; i < ph->outcomes.n; i++)
		if (judge_sql_is_wrong(ph->outcomes.label[i])) {
			int line = ph->outcomes.line[i] ? ph->outcomes.line[i]
				   : sc->n_flow		? sc->flow[0].text.line
							: p->line;
			snprintf(why, whylen, "%s:%d: phase %s: the server rejected the flow: %s %s",
				 sc->path, line, p->name, ph->outcomes.label[i], ph->outcomes.sample[i]);
			return VERDICT_BAD_SCENARIO;
		}
	return VERDICT_PASS;
}

enum verdict judge_race(const struct scenario *sc, const struct phase *p, enum race_mode mode,
			const struct name_list *missing, struct phase_result *ph, char *why,
			size_t whylen)
{
	enum verdict v = judge_flow(sc, p, ph, why, whylen);
	if (v != VERDICT_PASS)
		return v;
	if (ph->rounds == 0) { /* nothing ran to its end: no evidence, whatever the expectations */
		char actual[256];
		if (mode == MODE_INTERLEAVE && ph->appil)
			snprintf(actual, sizeof actual,
				 "none: of %zu orders %lld not executable, %lld diverged",
				 ph->appil->n_orders, ph->appil->not_executable, ph->appil->diverged);
		else if (mode == MODE_INTERLEAVE)
			snprintf(actual, sizeof actual, "none: %lld of %zu orders not executable",
				 ph->ilv.not_executable, ph->ilv.n_orders);
		else
			snprintf(actual, sizeof actual, "none: no round completed");
		add_result(ph, 0,
			   mode == MODE_INTERLEAVE ? "at least one executable order"
						   : "at least one round",
			   actual, false);
		return VERDICT_FAIL;
	}
	if (ph->appil && ph->appil->diverged > 0) {
		/* a diverged order raced another program than its siblings: the
		 * phase is not passed on it, whatever the rest says */
		char actual[512];
		size_t first = 0;
		while (first < ph->appil->n_orders && ph->appil->orders[first].state != APPIL_DIVERGED)
			first++;
		snprintf(actual, sizeof actual, "%lld of %zu orders diverged; order %zu: %s",
			 ph->appil->diverged, ph->appil->n_orders, first + 1,
			 first < ph->appil->n_orders ? ph->appil->orders[first].why : "");
		add_result(ph, 0,
			   "no diverged order (each re-run sends the same number and kind of steps)",
			   actual, false);
		v = VERDICT_FAIL;
	}
	size_t evaluated = 0;
	for (size_t i = 0; i < p->n_expects; i++) {
		const struct expectation *x = &p->expects[i];
		if (!applies(x, mode))
			continue;
		char actual[512], err[256];
		bool passed = false;
		if (!expect_eval(x, phase_value, ph, &passed, actual, sizeof actual, err, sizeof err)) {
			snprintf(why, whylen, "%s:%d: phase %s: expect \"%s\": cannot evaluate: %s",
				 sc->path, x->line, p->name, x->text, err);
			snprintf(actual, sizeof actual, "cannot evaluate: %s", err);
			add_result(ph, 0, x->text, actual, false);
			return VERDICT_BAD_SCENARIO;
		}
		struct missing_note mn = {missing, actual, sizeof actual};
		expr_names(x->lhs, note_missing, &mn);
		expr_names(x->rhs, note_missing, &mn);
		add_result(ph, 0, x->text, actual, passed);
		evaluated++;
		if (!passed)
			v = VERDICT_FAIL;
	}
	if (evaluated == 0) {
		char expect[160];
		snprintf(expect, sizeof expect, "at least one expectation applies to mode %s",
			 mode_name(mode));
		add_result(ph, 0, expect, "none does: every one is limited to another mode", false);
		v = VERDICT_FAIL;
	}
	return v;
}

enum verdict judge_phase(const struct phase *p, struct phase_result *ph)
{
	bool step_failed = false, race_failed = false;
	for (size_t i = 0; i < ph->n_expects; i++) {
		if (ph->expects[i].passed)
			continue;
		if (ph->expects[i].step)
			step_failed = true;
		else
			race_failed = true;
	}
	enum verdict v = VERDICT_PASS;
	if (ph->broken)
		v = VERDICT_ERROR;
	else if (step_failed)
		v = VERDICT_FAIL;
	else if (race_failed)
		v = p->must_reproduce && ph->rounds_with_duplicates == 0 ? VERDICT_INCONCLUSIVE
									  : VERDICT_FAIL;
	v = verdict_worse(v, ph->verdict); /* one the runner recorded already (a bad scenario) */
	if (v == VERDICT_PASS && ph->free_run)
		v = VERDICT_MEASURED; /* its race was measured, not judged; its steps passed */
	ph->verdict = v;
	ph->passed = v == VERDICT_PASS || v == VERDICT_MEASURED; /* measured: nothing failed */
	return v;
}

enum verdict judge_requirements(const struct requirements *rq, int version_num,
				const char *version, const bool *have, char *reason, size_t len)
{
	reason[0] = '\0';
	if (rq->server_version && version_num / 10000 < rq->server_version) {
		snprintf(reason, len, "needs PostgreSQL >= %d, server is %s", rq->server_version,
			 version);
		return VERDICT_SKIPPED;
	}
	for (size_t i = 0; i < rq->n_extensions; i++)
		if (!have[i]) {
			snprintf(reason, len,
				 "needs extension %s, which PostgreSQL %s here does not have",
				 rq->extensions[i], version);
			return VERDICT_SKIPPED;
		}
	return VERDICT_PASS;
}
