/* app_interleave_report.c: an app flow's interleave orders as JSON and as
 * the terminal summary's lines (app_interleave.h). The JSON has the shape
 * of an SQL interleave phase's "interleave" object where they share a
 * meaning (order, rows, duplicate, executable, workers' outcomes), so the
 * race map draws it as it is, plus what only an app has: each step's SQL
 * as sent, each process's end and output, diverged orders. Every text from
 * the app (SQL, output) is untrusted: passwords were scrubbed when it was
 * collected, and it is written here through jansson (invalid UTF-8 as '?')
 * or text_line (terminal-safe). */
#include "app_interleave.h"

#include <stdlib.h>
#include <string.h>

#include "report_common.h"
#include "text.h"

/* A JSON string of s (invalid UTF-8 as '?'); NULL only when out of memory. */
static json_t *jtext(const char *s)
{
	return report_json_text(s, strlen(s) + 1);
}

static json_t *jtext_or_null(const char *s)
{
	return s && s[0] ? jtext(s) : json_null();
}

static const char *state_name(enum appil_state s)
{
	return s == APPIL_RAN ? "ran" : s == APPIL_DIVERGED ? "diverged" : "not_executable";
}

static json_t *json_steps(const struct appil_order *o)
{
	json_t *a = json_array();
	int count[APPIL_MAX_WORKERS] = {0}, rc = a ? 0 : -1;
	for (int i = 0; a && i < o->n_steps; i++) {
		const struct appil_step *t = &o->steps[i];
		char letter[2] = {(char)('a' + t->worker), '\0'}, point[16] = "";
		if (t->point)
			snprintf(point, sizeof point, "%c%d", 'a' + t->worker, ++count[t->worker]);
		rc |= json_array_append_new(
			a, json_pack("{s:s, s:o, s:i, s:s, s:o, s:o, s:o, s:o, s:b, s:b}", "worker",
				     letter, "point", point[0] ? json_string(point) : json_null(),
				     "connection", t->conn, "kind", t->kind, "sql", jtext(t->shown),
				     "tag", jtext_or_null(t->tag), "sqlstate", jtext_or_null(t->sqlstate),
				     "constraint", jtext_or_null(t->constraint), "waited", t->waited,
				     "exact", !t->cut && !t->binary));
	}
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *json_workers(const struct appil_summary *s, const struct appil_order *o)
{
	json_t *a = json_array();
	int rc = a ? 0 : -1;
	for (int w = 0; a && w < s->workers; w++) {
		const struct app_worker_result *r = &o->w[w];
		char letter[2] = {(char)('a' + w), '\0'};
		rc |= json_array_append_new(
			a, json_pack("{s:s, s:s, s:o, s:i, s:o, s:b, s:b, s:o, s:o}", "worker", letter,
				     "outcome", r->sqlstate[0] ? r->sqlstate : "ok", "constraint",
				     jtext_or_null(r->constraint), "exit_code", r->exit_code, "end",
				     jtext(r->end), "output_matched", r->matched, "recovered",
				     o->recovered[w], "stdout_tail", jtext(r->out), "stderr_tail",
				     jtext(r->err)));
	}
	if (rc) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *json_one(const struct appil_summary *s, const struct appil_order *o)
{
	char note[APPIL_MAX_POINTS * 4];
	appil_notation(o, note, sizeof note);
	bool ran = o->state == APPIL_RAN;
	return json_pack("{s:s, s:s, s:b, s:o, s:o, s:b, s:o, s:I, s:f, s:o, s:o}", "order", note,
			 "state", state_name(o->state), "executable", ran, "why", jtext_or_null(o->why),
			 "rows", ran ? json_integer(o->rows) : json_null(), "duplicate",
			 ran && o->rows > 1, "branched_from",
			 o->parent >= 0 ? json_integer(o->parent + 1) : json_null(), "round",
			 (json_int_t)o->round, "ms", (double)o->us / 1000.0, "workers",
			 json_workers(s, o), "steps", json_steps(o));
}

json_t *appil_json(const struct appil_summary *s)
{
	json_t *orders = json_array(), *points = json_array();
	int rc = orders && points ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < s->n_orders; i++)
		rc |= json_array_append_new(orders, json_one(s, &s->orders[i]));
	for (int w = 0; rc == 0 && w < s->workers; w++)
		rc |= json_array_append_new(points, json_integer(s->points[w]));
	long first = appil_first_duplicate(s);
	char note[APPIL_MAX_POINTS * 4] = "";
	if (first >= 0)
		appil_notation(&s->orders[first], note, sizeof note);
	if (rc) {
		json_decref(orders);
		json_decref(points);
		return NULL;
	}
	double ms = s->n_orders ? (double)s->total_us / 1000.0 / (double)s->n_orders : 0;
	return json_pack("{s:b, s:I, s:I, s:b, s:b, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:b, s:o, s:o, s:o}",
			 "app", 1, "orders_possible",
			 (json_int_t)(s->possible > INT64_MAX ? INT64_MAX : s->possible),
			 "orders_estimated",
			 (json_int_t)(s->estimate > INT64_MAX ? INT64_MAX : s->estimate), "exhaustive",
			 s->exhaustive, "sampled", s->sampled, "seed", (json_int_t)s->seed,
			 "points_per_worker", points, "interleavings", (json_int_t)s->n_orders,
			 "interleavings_with_duplicates", (json_int_t)s->with_duplicates,
			 "interleavings_not_executable", (json_int_t)s->not_executable,
			 "interleavings_diverged", (json_int_t)s->diverged, "orders_recovered",
			 (json_int_t)s->recovered, "unexplored", (json_int_t)s->unexplored, "orders_run",
			 (json_int_t)s->n_orders, "reduction", 0, "first_duplicate",
			 first >= 0 ? json_string(note) : json_null(), "ms_per_order",
			 s->n_orders ? json_real(ms) : json_null(), "orders", orders);
}

/* One order on a few lines: its points and what each got, then its end. */
static void order_text(FILE *out, const struct appil_summary *s, const struct appil_order *o,
		       const char *label)
{
	char note[APPIL_MAX_POINTS * 4];
	int count[APPIL_MAX_WORKERS] = {0};
	appil_notation(o, note, sizeof note);
	text_line(out, "    %s: %s -> %lld rows", label, note, o->rows);
	for (int i = 0; i < o->n_steps; i++) {
		const struct appil_step *t = &o->steps[i];
		char at[16];
		if (!t->point)
			continue;
		snprintf(at, sizeof at, "%c%d", 'a' + t->worker, ++count[t->worker]);
		char one[200];
		size_t k = 0;
		const char *p = t->shown;
		for (; *p && k + 1 < sizeof one; p++) {
			bool blank = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
			if (blank && (k == 0 || one[k - 1] == ' '))
				continue;
			one[k++] = blank ? ' ' : *p;
		}
		one[k] = '\0';
		text_line(out, "      %-4s %s%s%s%s%s%s", at, one, *p ? "..." : "",
			  t->tag[0] ? "  => " : "", t->tag, t->sqlstate[0] ? "  => error " : "",
			  t->sqlstate);
	}
	for (int w = 0; w < s->workers; w++)
		text_line(out, "      worker %c: %s%s%s", 'a' + w, o->w[w].end,
			  o->recovered[w] ? " (recovered: a class-23 error, then read again)" : "",
			  o->w[w].matched ? " (output matched)" : "");
}

void appil_summary_text(FILE *out, const struct appil_summary *s, const char *phase)
{
	char how[160];
	if (s->exhaustive)
		snprintf(how, sizeof how, "every order");
	else if (s->sampled)
		snprintf(how, sizeof how, "a sample of %zu of %llu%s orders, seed %llu", s->n_orders,
			 (unsigned long long)s->estimate, s->estimate == UINT64_MAX ? "+" : "",
			 (unsigned long long)s->seed);
	else
		snprintf(how, sizeof how, "stopped at max_interleavings, %zu branches unexplored",
			 s->unexplored);
	text_line(out,
		  "  %s: %lld of %zu app orders left duplicates, %lld diverged, %lld not executable, "
		  "%lld processes recovered (%s)",
		  phase, s->with_duplicates, s->n_orders, s->diverged, s->not_executable, s->recovered,
		  how);
	size_t named = 0, off = (size_t)(s->diverged + s->not_executable);
	for (size_t i = 0; i < s->n_orders && named < 10; i++)
		if (s->orders[i].state != APPIL_RAN) {
			char note[APPIL_MAX_POINTS * 4];
			named++;
			appil_notation(&s->orders[i], note, sizeof note);
			text_line(out, "    order %zu (%s) %s: %s", i + 1, note,
				  s->orders[i].state == APPIL_DIVERGED ? "diverged" : "not executable",
				  s->orders[i].why);
		}
	if (off > named)
		text_line(out, "    ... and %zu more (the JSON lists every order)", off - named);
	size_t listed = 0;
	for (size_t i = 0; i < s->n_orders; i++) {
		const struct appil_order *o = &s->orders[i];
		char note[APPIL_MAX_POINTS * 4], who[APPIL_MAX_WORKERS * 2 + 1];
		size_t k = 0;
		for (int w = 0; w < s->workers && o->state == APPIL_RAN; w++)
			if (o->recovered[w])
				k += (size_t)snprintf(who + k, sizeof who - k, "%c", 'a' + w);
		if (!k)
			continue;
		if (listed++ == 10) {
			text_line(out, "    ... recovered in more orders (the JSON lists every one)");
			break;
		}
		appil_notation(o, note, sizeof note);
		text_line(out,
			  "    order %zu (%s): worker %s recovered (a class-23 error, then read "
			  "again, exit 0)",
			  i + 1, note, who);
	}
	long first = appil_first_duplicate(s);
	if (first >= 0)
		order_text(out, s, &s->orders[first], "first duplicate");
}
