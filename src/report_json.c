/* report_json.c: the JSON result document of runs, and the HTML page made of it.
 *
 * The writers only read struct run_result and write to the FILE * they are
 * given: no database, no globals. The JSON layout is a contract CI and plots
 * read (README "Results"): add fields, never rename or retype one. Text from
 * outside (server messages, file names, constraint names) may be anything: the
 * document gets well-formed UTF-8 with every invalid byte replaced by '?', so
 * one odd byte never costs the whole result file. Calls jansson, text.h,
 * report_common.h, html.h (to render the same document as a page) and the
 * verdict and exit-code rules (pgrace.h, run.h). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report.h"
#include "report_common.h"

#include "app_interleave.h"
#include "html.h"
#include "text.h"

json_t *report_json_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), j = 0;
	json_t *v = json_stringn(s, n);
	char *clean;

	if (v != NULL)
		return v;
	clean = malloc(n + 1);
	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = text_utf8_len((const unsigned char *)s + i, n - i);

		if (len == 0) {
			clean[j++] = '?';
			i++;
			continue;
		}
		memcpy(clean + j, s + i, len);
		j += len;
		i += len;
	}
	v = json_stringn(clean, j);
	free(clean);
	return v;
}

/* Seconds as a JSON real; a clock gone wrong (NaN, inf) reads 0. */
static json_t *json_seconds(double s)
{
	return json_real(isfinite(s) ? s : 0.0);
}

/* obj[label] = count, the label made valid UTF-8 first. 0, or -1. */
static int json_set_count(json_t *obj, const char *label, size_t cap, long long count)
{
	json_t *key = report_json_text(label, cap);
	int rc;

	if (key == NULL)
		return -1;
	rc = json_object_set_new(obj, json_string_value(key), json_integer(count));
	json_decref(key);
	return rc;
}

/* {label: count} in table order; "ok" first (0) when with_ok and absent. */
static json_t *json_table(const struct outcome_table *t, bool with_ok)
{
	json_t *obj = json_object();
	int rc = 0;

	if (obj == NULL)
		return NULL;
	if (with_ok)
		rc |= json_object_set_new(obj, "ok", json_integer(0));
	for (size_t i = 0; i < report_table_len(t); i++)
		rc |= json_set_count(obj, t->label[i], sizeof t->label[i], t->count[i]);
	if (rc != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* The first server message of each error outcome: {"23505": "duplicate key ..."}. */
static json_t *json_samples(const struct outcome_table *t)
{
	json_t *obj = json_object();
	for (size_t i = 0; obj && i < report_table_len(t); i++)
		if (t->sample[i][0] &&
		    json_object_set_new(obj, t->label[i],
					report_json_text(t->sample[i], sizeof t->sample[i])) != 0) {
			json_decref(obj);
			return NULL;
		}
	return obj;
}

/* [{step, sqlstate, rows, affected, retries, elapsed_s[, stall_ms,
 * load_attempts, load_errors]}] for the steps that ran. */
static json_t *json_steps(const struct phase_result *ph)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < ph->n_steps; i++) {
		const struct step_result *st = &ph->steps[i];
		json_t *o = json_pack("{s:o, s:o, s:I, s:I, s:I, s:o}", "step",
				      report_json_text(st->label, sizeof st->label), "sqlstate",
				      st->sqlstate[0] ? json_string(st->sqlstate) : json_null(), "rows",
				      (json_int_t)st->rows, "affected", (json_int_t)st->affected,
				      "retries", (json_int_t)st->retries, "elapsed_s",
				      json_seconds(st->elapsed_s));
		if (o && st->under_load &&
		    json_object_update_new(o, json_pack("{s:I, s:I, s:I}", "stall_ms",
							(json_int_t)st->stall_ms, "load_attempts",
							(json_int_t)st->load_attempts, "load_errors",
							(json_int_t)st->load_errors)) != 0) {
			json_decref(o);
			o = NULL;
		}
		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* [{key, outcomes}] when the phase raced several keys, else null. */
static json_t *json_per_key(const struct phase_result *ph)
{
	if (!ph->per_key)
		return json_null();
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < ph->n_per_key; i++) {
		json_t *item = json_pack("{s:I, s:o}", "key", (json_int_t)i, "outcomes",
					 json_table(&ph->per_key[i], false));
		if (!item || json_array_append_new(arr, item) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *json_expectations(const struct phase_result *ph)
{
	json_t *arr = json_array();
	int rc = 0;

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < ph->n_expects; i++) {
		const struct expect_result *x = &ph->expects[i];
		json_t *o = json_object();

		if (o != NULL) {
			rc |= json_object_set_new(o, "expect",
						  report_json_text(x->expect, sizeof x->expect));
			rc |= json_object_set_new(o, "actual",
						  report_json_text(x->actual, sizeof x->actual));
			rc |= json_object_set_new(o, "passed", json_boolean(x->passed));
		}
		rc |= json_array_append_new(arr, o);
	}
	if (rc != 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* Latency percentiles in microseconds; null for no race or no sample. */
static json_t *json_latency(const struct phase_result *ph)
{
	const struct hist *h = &ph->latency;

	if (!ph->has_race || h->count == 0)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:I}", "p50", (json_int_t)hist_percentile(h, 50.0),
			 "p90", (json_int_t)hist_percentile(h, 90.0), "p99",
			 (json_int_t)hist_percentile(h, 99.0), "max", (json_int_t)h->max);
}

/* One order of an interleave phase (README "Results"). */
static json_t *json_order(const struct ilv_summary *s, const struct ilv_order *o)
{
	char note[ORDER_MAX_LEN * 4], perm[ORDER_MAX_LEN * (ORDER_NAME_LEN + 4) + 16];
	json_t *steps = json_array(), *workers = json_array();
	int rc = 0;
	if (!steps || !workers) {
		json_decref(steps);
		json_decref(workers);
		return NULL;
	}
	order_notation(&o->order, note, sizeof note);
	order_permutation(&o->order, (const char(*)[ORDER_NAME_LEN])s->step_names, perm, sizeof perm);
	for (int i = 0; i < o->order.workers * o->order.steps; i++) {
		char step[8], label[ORDER_NAME_LEN + 4];
		int w = o->order.w[i], k = order_step_at(&o->order, i);
		snprintf(step, sizeof step, "%c%d", 'a' + w, k + 1);
		order_step_label(w, s->step_names[k], label, sizeof label);
		rc |= json_array_append_new(
			steps, json_pack("{s:s, s:s, s:s}", "step", step, "name", label, "status",
					 ilv_status_name((enum ilv_step_status)o->status[i])));
	}
	for (int i = 0; o->executable && i < o->order.workers; i++) {
		const struct ilv_worker *w = &o->w[i];
		char letter[2] = {(char)('a' + i), '\0'}, by[ORDER_MAX_WORKERS + 1];
		json_t *blockers = json_array();
		ilv_blockers(o, i, by, sizeof by);
		for (int j = 0; blockers && by[j]; j++) {
			char b[2] = {by[j], '\0'};
			rc |= json_array_append_new(blockers, json_string(b));
		}
		rc |= json_array_append_new(
			workers,
			json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "worker", letter, "outcome",
				  report_json_text(w->outcome, sizeof w->outcome), "error_step",
				  w->error_step ? json_integer(w->error_step) : json_null(), "constraint",
				  w->constraint[0] ? report_json_text(w->constraint, sizeof w->constraint)
						   : json_null(),
				  "message", w->message[0] ? report_json_text(w->message, sizeof w->message)
							   : json_null(),
				  "blocked_by", blockers ? blockers : json_null()));
	}
	char stuck[8] = "";
	if (!o->executable)
		snprintf(stuck, sizeof stuck, "%c%d", 'a' + o->order.w[o->stuck_pos],
			 order_step_at(&o->order, o->stuck_pos) + 1);
	size_t self = (size_t)(o - s->orders);
	char as[ORDER_MAX_LEN * 4] = "";
	if (o->same_as != self)
		order_notation(&s->orders[o->same_as].order, as, sizeof as);
	json_t *j = json_pack("{s:s, s:s, s:b, s:o, s:b, s:o, s:b, s:o, s:o, s:o}", "order", note,
			      "permutation", perm, "executable", o->executable, "rows",
			      o->executable ? json_integer(o->rows) : json_null(), "duplicate",
			      o->executable && o->rows > 1, "not_executable_at",
			      o->executable ? json_null() : json_string(stuck), "ran",
			      o->same_as == self, "same_as", as[0] ? json_string(as) : json_null(),
			      "steps", steps, "workers", workers);
	if (rc) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A round's steps (each worker's BEGIN as step 0): each one's send and
 * completion in microseconds from the round's first send, what it ended in
 * and the constraint that names. */
static json_t *json_round_steps(const struct order_event *ev, const struct step_end *end, size_t n)
{
	json_t *steps = json_array();
	int rc = steps ? 0 : -1;
	uint64_t t0 = n ? ev[0].sent_us : 0;
	for (size_t i = 0; steps && i < n; i++) {
		const struct order_event *e = &ev[i];
		char step[24], name[8];
		/* a0 is the worker's BEGIN, a1.. its statements, the last its COMMIT */
		snprintf(step, sizeof step, "%s%d", order_worker_name(e->worker, name, sizeof name),
			 e->step + 1);
		rc |= json_array_append_new(
			steps, json_pack("{s:s, s:I, s:I, s:s, s:o}", "step", step, "sent_us",
					 (json_int_t)(e->sent_us - t0), "done_us",
					 (json_int_t)(e->done_us - t0), "outcome",
					 end[i].outcome[0] ? end[i].outcome : "ok", "constraint",
					 end[i].constraint[0]
						 ? report_json_text(end[i].constraint, sizeof end[i].constraint)
						 : json_null()));
	}
	if (rc) {
		json_decref(steps);
		return NULL;
	}
	return steps;
}

/* The first round that left duplicates, its order and steps; null when none. */
static json_t *json_fire_order(const struct phase_result *ph)
{
	if (!ph->fire_order[0])
		return json_null();
	json_t *steps = json_round_steps(ph->fire_events, ph->fire_ends, ph->n_fire_events);
	return steps ? json_pack("{s:I, s:s, s:i, s:o}", "round", (json_int_t)ph->fire_round, "order",
				 ph->fire_order, "steps_per_worker", ph->steps_per_worker, "steps", steps)
		     : NULL;
}

/* The first round of a migrated phase that left no duplicates; null when none. */
static json_t *json_pass_round(const struct phase_result *ph)
{
	if (!ph->pass_round)
		return json_null();
	json_t *steps = json_round_steps(ph->pass_events, ph->pass_ends, ph->n_pass_events);
	return steps ? json_pack("{s:I, s:i, s:o}", "round", (json_int_t)ph->pass_round,
				 "steps_per_worker", ph->steps_per_worker, "steps", steps)
		     : NULL;
}

/* What each flow statement touched, as partial-order reduction saw it;
 * null when the phase was not reduced. */
static json_t *json_footprints(const struct ilv_summary *s)
{
	if (!s->reduced)
		return json_null();
	json_t *a = json_array();
	int rc = a ? 0 : -1;
	for (int j = 0; a && j < s->steps - 1; j++) {
		const struct reduce_step *st = &s->footprint[j];
		json_t *rels = json_array();
		for (int i = 0; rels && i < s->rels.n; i++)
			if (st->rels & (UINT64_C(1) << i))
				rc |= json_array_append_new(
					rels, report_json_text(s->rels.name[i], sizeof s->rels.name[i]));
		rc |= json_array_append_new(
			a, json_pack("{s:s, s:o, s:b, s:b, s:b}", "step", s->step_names[j], "relations",
				     rels ? rels : json_null(), "writes", st->writes, "exclusive",
				     st->exclusive, "unknown", st->unknown));
	}
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* An interleave phase's orders and their totals; null for other phases. */
static json_t *json_interleave(const struct phase_result *ph)
{
	const struct ilv_summary *s = &ph->ilv;
	if (!ph->has_race || ph->mode != MODE_INTERLEAVE)
		return json_null();
	if (ph->appil)
		return appil_json(ph->appil);
	json_t *orders = json_array();
	int rc = orders ? 0 : -1;
	for (size_t i = 0; orders && i < s->n_orders; i++)
		rc |= json_array_append_new(orders, json_order(s, &s->orders[i]));
	long first = ilv_first_duplicate(s);
	char note[ORDER_MAX_LEN * 4] = "";
	if (first >= 0)
		order_notation(&s->orders[first].order, note, sizeof note);
	const struct ilv_time *tm = &s->time;
	json_t *time = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total_us",
				 (json_int_t)tm->total_us, "probe_us", (json_int_t)tm->probe_us,
				 "before_us", (json_int_t)tm->before_us,
				 "begin_us", (json_int_t)tm->begin_us, "steps_us",
				 (json_int_t)tm->steps_us, "detect_us", (json_int_t)tm->detect_us,
				 "teardown_us", (json_int_t)tm->teardown_us, "rows_us",
				 (json_int_t)tm->rows_us, "lock_queries", (json_int_t)tm->lock_queries,
				 "cancels", (json_int_t)tm->cancels);
	double ms = s->ran ? (double)tm->total_us / 1000.0 / (double)s->ran : 0;
	json_t *o = json_pack("{s:I, s:b, s:b, s:I, s:i, s:I, s:I, s:I, s:b, s:I, s:I, s:o, s:o, s:o, "
			      "s:o, s:o}",
			      "orders_possible",
			      (json_int_t)(s->total > INT64_MAX ? INT64_MAX : s->total), "exhaustive",
			      s->exhaustive, "listed", s->listed, "seed", (json_int_t)s->seed,
			      "steps_per_worker", s->steps, "interleavings", (json_int_t)s->n_orders,
			      "interleavings_with_duplicates", (json_int_t)s->with_duplicates,
			      "interleavings_not_executable", (json_int_t)s->not_executable,
			      "reduction", s->reduced, "orders_run", (json_int_t)s->ran,
			      "orders_pruned", (json_int_t)(s->n_orders - s->ran), "footprints",
			      json_footprints(s),
			      "first_duplicate", first >= 0 ? json_string(note) : json_null(),
			      "ms_per_order", s->ran ? json_real(ms) : json_null(), "time",
			      time ? time : json_null(), "orders", orders ? orders : json_null());
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A kept app worker's steps as the listener relayed them. */
static json_t *json_app_trips(const struct app_worker_result *w)
{
	json_t *a = json_array();
	int rc = a ? 0 : -1;
	for (int i = 0; a && i < w->n_trips; i++) {
		const struct app_trip *t = &w->trips[i];
		rc |= json_array_append_new(
			a, json_pack("{s:i,s:s,s:I,s:o,s:o,s:b,s:s,s:o}", "conn", t->conn, "what", t->what,
				     "in_us", (json_int_t)t->in_us, "sent_us",
				     t->sent_us >= 0 ? json_integer(t->sent_us) : json_null(), "done_us",
				     t->done_us >= 0 ? json_integer(t->done_us) : json_null(), "held",
				     t->held, "outcome", t->sqlstate[0] ? t->sqlstate : "ok", "constraint",
				     t->constraint[0] ? report_json_text(t->constraint, sizeof t->constraint)
						      : json_null()));
	}
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* One kept app worker's process: how it ended, what it saw, its output,
 * its steps and when it exited. */
static json_t *json_app_worker(const struct app_worker_result *w, int idx)
{
	char name[8];
	return json_pack("{s:s,s:I,s:i,s:o,s:i,s:o,s:o,s:b,s:o,s:o,s:o,s:o}", "worker",
			 order_worker_name(idx, name, sizeof name), "exited_us",
			 (json_int_t)w->exited_us, "trips_seen", w->trips_seen, "trips",
			 json_app_trips(w), "exit_code",
			 w->exit_code, "signal", w->signal ? json_integer(w->signal) : json_null(),
			 "end", report_json_text(w->end, sizeof w->end), "output_matched", w->matched,
			 "sqlstate", w->sqlstate[0] ? report_json_text(w->sqlstate, sizeof w->sqlstate) : json_null(),
			 "constraint",
			 w->constraint[0] ? report_json_text(w->constraint, sizeof w->constraint) : json_null(),
			 "stdout_tail", report_json_text(w->out, sizeof w->out), "stderr_tail",
			 report_json_text(w->err, sizeof w->err));
}

/* An app flow's counts and kept rounds; null for other phases. */
static json_t *json_app(const struct phase_result *ph)
{
	if (ph->app.exit_ok + ph->app.exit_failed == 0)
		return json_null();
	json_t *rounds = json_array();
	int rc = rounds ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < ph->n_app_rounds; i++) {
		const struct app_round_result *k = &ph->app_rounds[i];
		json_t *ws = json_array();
		rc |= ws ? 0 : -1;
		for (int w = 0; ws && w < k->n_workers; w++)
			rc |= json_array_append_new(ws, json_app_worker(&k->workers[w], w));
		rc |= json_array_append_new(rounds, json_pack("{s:I,s:o,s:o}", "round",
								  (json_int_t)k->round, "why",
								  report_json_text(k->why, sizeof k->why),
								  "workers", ws));
	}
	if (rc != 0) {
		json_decref(rounds);
		return NULL;
	}
	return json_pack("{s:I,s:I,s:I,s:I,s:o}", "exit_ok", (json_int_t)ph->app.exit_ok,
			 "exit_failed", (json_int_t)ph->app.exit_failed, "output_matched",
			 (json_int_t)ph->app.output_matched, "connections",
			 (json_int_t)ph->app.connections, "rounds", rounds);
}

static json_t *json_phase(const struct phase_result *ph)
{
	json_t *o = json_object();
	bool race = ph->has_race;
	int rc = 0;

	if (o == NULL)
		return NULL;
	rc |= json_object_set_new(o, "name", report_json_text(ph->name, sizeof ph->name));
	rc |= json_object_set_new(o, "migrated", json_boolean(ph->migrated));
	rc |= json_object_set_new(o, "mode", json_string(report_phase_mode(ph)));
	rc |= json_object_set_new(o, "isolation",
				  race ? json_string(isolation_name(ph->isolation)) : json_null());
	rc |= json_object_set_new(o, "workers", json_integer(ph->workers));
	rc |= json_object_set_new(o, "rounds", json_integer(ph->rounds));
	rc |= json_object_set_new(o, "keys", json_integer(ph->keys));
	rc |= json_object_set_new(o, "attempts", json_integer(ph->attempts));
	rc |= json_object_set_new(o, "retries", json_integer(ph->retries));
	rc |= json_object_set_new(o, "rounds_with_duplicates",
				  json_integer(ph->rounds_with_duplicates));
	rc |= json_object_set_new(o, "rows_per_key",
				  race && ph->rows_min >= 0
					  ? json_pack("{s:I, s:I}", "min", (json_int_t)ph->rows_min,
						   "max", (json_int_t)ph->rows_max)
				       : json_null());
	rc |= json_object_set_new(o, "outcomes", json_table(&ph->outcomes, report_show_zero_ok(ph)));
	rc |= json_object_set_new(o, "constraints", json_table(&ph->constraints, false));
	rc |= json_object_set_new(o, "messages", json_samples(&ph->outcomes));
	rc |= json_object_set_new(o, "steps", json_steps(ph));
	rc |= json_object_set_new(o, "per_key", json_per_key(ph));
	rc |= json_object_set_new(o, "latency_us", json_latency(ph));
	rc |= json_object_set_new(o, "skew_us",
				  race ? json_pack("{s:I, s:I}", "p50", (json_int_t)ph->skew_us_p50,
						   "max", (json_int_t)ph->skew_us_max)
				       : json_null());
	bool rounds = race && !ph->free_run && ph->rounds > 0 &&
		      (ph->mode == MODE_HOLD || ph->mode == MODE_FIRE);
	rc |= json_object_set_new(o, "connect_s",
				  race && ph->mode != MODE_INTERLEAVE ? json_real(ph->connect_s) : json_null());
	rc |= json_object_set_new(o, "release",
				  rounds && ph->mode == MODE_FIRE
					  ? json_pack("{s:s, s:I, s:I, s:{s:I, s:I}}", "mode",
						      ph->release_tails ? "last-byte" : "send", "tails",
						      (json_int_t)ph->release_tails, "realtime_rounds",
						      (json_int_t)ph->release_realtime_rounds, "spread_us", "p50",
						      (json_int_t)ph->release_us_p50, "max",
						      (json_int_t)ph->release_us_max)
					  : json_null());
	rc |= json_object_set_new(o, "extra_rows", race ? json_integer(ph->extra_rows) : json_null());
	rc |= json_object_set_new(o, "duplicate_yield",
				  rounds ? json_real(ph->duplicate_yield) : json_null());
	rc |= json_object_set_new(
		o, "coordinator",
		rounds ? json_pack("{s:o, s:I, s:f}", "detect_us",
				   ph->mode == MODE_HOLD
					   ? json_pack("{s:I, s:I}", "p50", (json_int_t)ph->detect_us_p50,
						       "max", (json_int_t)ph->detect_us_max)
					   : json_null(),
				   "polls", (json_int_t)ph->coord_polls, "cpu_share",
				   ph->coord_cpu_share)
		       : json_null());
	rc |= json_object_set_new(o, "expectations", json_expectations(ph));
	rc |= json_object_set_new(o, "passed", json_boolean(ph->passed));
	rc |= json_object_set_new(o, "verdict", json_string(verdict_name(ph->verdict)));
	rc |= json_object_set_new(o, "broken", json_boolean(ph->broken));
	rc |= json_object_set_new(o, "free_run", json_boolean(ph->free_run));
	rc |= json_object_set_new(o, "duration_s",
				  ph->free_run ? json_seconds(ph->duration_s) : json_null());
	rc |= json_object_set_new(o, "throughput_tps",
				  ph->free_run ? json_real(ph->tps) : json_null());
	rc |= json_object_set_new(o, "elapsed_s", json_seconds(ph->elapsed_s));
	rc |= json_object_set_new(o, "race_probability_upper_95",
				  race && ph->mode == MODE_FIRE && !ph->free_run && ph->rounds > 0
					  ? json_real(ph->upper95)
					  : json_null());
	rc |= json_object_set_new(o, "interleave", json_interleave(ph));
	rc |= json_object_set_new(o, "first_duplicate_round", json_fire_order(ph));
	rc |= json_object_set_new(o, "first_passing_round", json_pass_round(ph));
	rc |= json_object_set_new(o, "app", json_app(ph));
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *json_run(const struct run_result *r)
{
	json_t *o = json_object();
	json_t *phases = json_array();
	int rc = 0;

	if (o == NULL || phases == NULL) {
		json_decref(phases);
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < r->n_phases; i++)
		rc |= json_array_append_new(phases, json_phase(&r->phases[i]));
	rc |= json_object_set_new(o, "scenario", report_json_text(r->scenario, sizeof r->scenario));
	rc |= json_object_set_new(o, "file", report_json_text(r->file, sizeof r->file));
	rc |= json_object_set_new(o, "schema", report_json_text(r->schema, sizeof r->schema));
	rc |= json_object_set_new(o, "verdict", json_string(verdict_name(r->verdict)));
	rc |= json_object_set_new(o, "complete", json_boolean(r->complete));
	rc |= json_object_set_new(o, "error", r->error[0] != '\0'
						      ? report_json_text(r->error, sizeof r->error)
						      : json_null());
	rc |= json_object_set_new(o, "skipped", r->skipped[0] != '\0'
							? report_json_text(r->skipped, sizeof r->skipped)
							: json_null());
	rc |= json_object_set_new(o, "server_version",
				  r->server_version[0] != '\0'
					  ? report_json_text(r->server_version, sizeof r->server_version)
					  : json_null());
	rc |= json_object_set_new(o, "elapsed_s", json_seconds(r->elapsed_s));
	rc |= json_object_set_new(o, "phases", phases); /* steals phases, also on failure */
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {"verdict": worst of all, "runs": [...]}; n == 0 gives "pass" and []. */
static json_t *json_runs(const struct run_result *runs, size_t n)
{
	json_t *o = json_object();
	json_t *arr = json_array();
	enum verdict worst = n ? VERDICT_SKIPPED : VERDICT_PASS;
	int rc = 0;

	if (o == NULL || arr == NULL) {
		json_decref(arr);
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		worst = verdict_worse(worst, runs[i].verdict);
		rc |= json_array_append_new(arr, json_run(&runs[i]));
	}
	rc |= json_object_set_new(o, "verdict", json_string(verdict_name(worst)));
	rc |= json_object_set_new(o, "runs", arr);
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The result document: one run, or {"verdict", "runs"}; with the exit code
 * the verdict gives (as the process exits with it). NULL when out of memory. */
static json_t *report_doc(const struct run_result *runs, size_t n)
{
	json_t *doc = n == 1 ? json_run(&runs[0]) : json_runs(runs, n);
	enum verdict worst = n ? VERDICT_SKIPPED : VERDICT_PASS;
	for (size_t i = 0; i < n; i++)
		worst = verdict_worse(worst, runs[i].verdict);
	if (doc && json_object_set_new(doc, "exit_code", json_integer(run_exit_code(worst))) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int report_write_html(FILE *out, const struct run_result *runs, size_t n)
{
	json_t *doc = report_doc(runs, n);
	int rc = doc ? html_write(out, doc) : -1;
	json_decref(doc);
	return rc;
}

int report_write_json(FILE *out, const struct run_result *runs, size_t n)
{
	/* Ten significant digits: 12.3 s prints as 12.3, not 12.300000000000001. */
	const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10);
	json_t *doc = report_doc(runs, n);
	int rc = -1;

	if (doc == NULL)
		goto out;
	if (json_dumpf(doc, out, flags) != 0 || fputc('\n', out) == EOF)
		goto out;
	if (fflush(out) != 0 || ferror(out))
		goto out;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}
