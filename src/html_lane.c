/* html_lane.c: the HTML page's swimlane timelines: one lane per worker of
 * a round, each step a bar from its send to its answer, from the timestamps
 * the engine took (report.c's first_duplicate_round and
 * first_passing_round), and the app workers' rounds. Inline SVG, hover
 * details in <title>s, and the same steps again as text below each figure. */
#include "html_parts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"

#define LANE_H 18
#define LANE_GAP 4
#define TIMELINE_W 900
#define LABEL_W 60

/* The worker a step notation names ("c12" -> "c"), into buf. */
static void step_worker(const char *step, char *buf, size_t len)
{
	size_t i = 0;
	while (step[i] && !(step[i] >= '0' && step[i] <= '9') && i + 1 < len) {
		buf[i] = step[i];
		i++;
	}
	buf[i] = '\0';
}

/* What a step of a round's timeline was: its class on the page and its words. */
struct tl_step {
	const char *name, *what, *constraint;
	double t0, t1;
	bool open, begin, commit, err, blocked;
};

static struct tl_step tl_step(const json_t *s, double end, int per_worker, double release)
{
	struct tl_step t = {.name = html_jstr(s, "step") ? html_jstr(s, "step") : "?",
			    .what = html_jstr(s, "outcome"),
			    .constraint = html_jstr(s, "constraint"),
			    .t0 = html_jnum(s, "sent_us"),
			    .t1 = html_jnum(s, "done_us")};
	t.open = isnan(t.t1);
	if (t.open)
		t.t1 = end;
	const char *num = t.name + strcspn(t.name, "0123456789");
	long seq = *num ? strtol(num, NULL, 10) : -1;
	t.begin = seq ==
		  0; /* a0: worker a's BEGIN (the engine's sequence: BEGIN 0, statements, COMMIT) */
	t.commit = per_worker > 0 && seq == per_worker;
	t.err = t.what && strcmp(t.what, "ok") && strcmp(t.what, "skipped");
	/* hold: the COMMITs go once every worker has finished its statements or
	 * is blocked, so a statement still unanswered then was blocked */
	t.blocked = !t.commit && !t.begin && !isnan(release) && t.t0 < release && t.t1 > release;
	return t;
}

/* "a2: sent at 10 us, answered at 90 us (blocked), 23505 (uq)", as text. */
static void tl_words(FILE *out, const struct tl_step *t)
{
	html_textf(out, "%s%s: sent at %.0f us, %s %.0f us%s", t->name,
		   t->commit  ? " COMMIT"
		   : t->begin ? " BEGIN"
			      : "",
		   t->t0, t->open ? "no answer by" : "answered at", t->t1,
		   t->blocked ? ", blocked until the COMMITs were released" : "");
	if (t->what)
		html_textf(out, ", %s", t->what);
	if (t->constraint)
		html_textf(out, " (%s)", t->constraint);
}

/* Ends a timeline figure of height h: the time axis, 0 to end us. */
static void lanes_close(FILE *out, size_t h, double end)
{
	fprintf(out,
		"<text x=\"%d\" y=\"%zu\">0</text><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">%.0f us"
		"</text></svg></figure>\n",
		LABEL_W, h - 6, TIMELINE_W, h - 6, end);
}

/* Opens the lane at y of the worker named name (untrusted: escaped). */
static void lane_open(FILE *out, size_t y, const char *name)
{
	fputs("<g class=\"lane\" data-worker=\"", out);
	html_text(out, name);
	fprintf(out,
		"\"><rect class=\"lane-bg\" x=\"%d\" y=\"%zu\" width=\"%d\" height=\"%d\"/>"
		"<text x=\"0\" y=\"%zu\">worker ",
		LABEL_W, y, TIMELINE_W - LABEL_W, LANE_H, y + 13);
	html_text(out, name);
	fputs("</text>", out);
}

/* A wait drawn as a dashed line from t0 to t1 (us) across the lane at y. */
static void wait_line(FILE *out, size_t y, const char *cls, double t0, double t1, double scale,
		      const char *what)
{
	fprintf(out,
		"<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%zu\" y2=\"%zu\"><title>%s"
		"</title></line>",
		cls, LABEL_W + t0 * scale, LABEL_W + t1 * scale, y + LANE_H / 2, y + LANE_H / 2, what);
}

/* A round's swimlane timeline: one lane per worker, each step a bar from its
 * send to its answer (microseconds from the round's first send: its first
 * BEGIN), BEGIN grey and the wait at the start line after it dashed, COMMIT
 * green, an error red with its SQLSTATE and constraint; in hold mode a
 * statement blocked at the commit barrier is hatched and the wait before
 * each COMMIT is drawn as a line. The same steps follow as a table. */
void html_timeline(FILE *out, const json_t *round, const char *title, bool hold)
{
	const json_t *steps = json_object_get(round, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0)
		return;
	int per_worker = (int)(isnan(html_jnum(round, "steps_per_worker"))
				       ? 0
				       : html_jnum(round, "steps_per_worker"));
	char lanes[64][8];
	size_t n_lanes = 0, i;
	double end = 1, release = NAN;
	const json_t *s;
	json_array_foreach(steps, i, s)
	{
		char w[8];
		step_worker(html_jstr(s, "step") ? html_jstr(s, "step") : "?", w, sizeof w);
		size_t l = 0;
		while (l < n_lanes && strcmp(lanes[l], w))
			l++;
		if (l == n_lanes && n_lanes < 64)
			snprintf(lanes[n_lanes++], sizeof lanes[0], "%s", w);
		double d = html_jnum(s, "done_us");
		if (!isnan(d) && d > end)
			end = d;
		struct tl_step t = tl_step(s, end, per_worker, NAN);
		if (hold && t.commit && (isnan(release) || t.t0 < release))
			release = t.t0;
	}
	/* keep lanes in worker order (a, b, ..., z, aa, ...) */
	for (size_t a = 1; a < n_lanes; a++)
		for (size_t b = a; b > 0; b--) {
			size_t la = strlen(lanes[b - 1]), lb = strlen(lanes[b]);
			if (la < lb || (la == lb && strcmp(lanes[b - 1], lanes[b]) <= 0))
				break;
			char t[8];
			memcpy(t, lanes[b], sizeof t);
			memcpy(lanes[b], lanes[b - 1], sizeof t);
			memcpy(lanes[b - 1], t, sizeof t);
		}
	double scale = (TIMELINE_W - LABEL_W - 10) / end;
	size_t h = n_lanes * (LANE_H + LANE_GAP) + 24;
	fputs("<figure class=\"timeline\"><figcaption>", out);
	html_text(out, title);
	fprintf(out,
		"</figcaption><svg role=\"img\" width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\">"
		"<title>one lane per worker: each step from its send to its answer</title>\n",
		TIMELINE_W, h, TIMELINE_W, h);
	for (size_t l = 0; l < n_lanes; l++) {
		size_t y = l * (LANE_H + LANE_GAP);
		lane_open(out, y, lanes[l]);
		double last_done = NAN;
		bool after_begin = false;
		json_array_foreach(steps, i, s)
		{
			char w[8];
			struct tl_step t = tl_step(s, end, per_worker, release);
			step_worker(t.name, w, sizeof w);
			if (strcmp(w, lanes[l]) || isnan(t.t0))
				continue;
			if (hold && t.commit && !isnan(last_done) && t.t0 > last_done)
				wait_line(out, y, "held", last_done, t.t0, scale,
					  "waiting for the COMMITs' release");
			else if (after_begin && t.t0 > last_done)
				wait_line(out, y, "start", last_done, t.t0, scale, "at the start line");
			last_done = t.t1;
			after_begin = t.begin;
			fprintf(out,
				"<rect class=\"st%s%s%s%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
				"height=\"%d\">"
				"<title>",
				t.begin ? " begin" : "", t.err ? " err" : "", t.commit ? " commit" : "",
				t.blocked ? " blocked" : "", LABEL_W + t.t0 * scale, y + 2,
				fmax(1.0, (t.t1 - t.t0) * scale), LANE_H - 4);
			tl_words(out, &t);
			fputs("</title></rect>", out);
		}
		fputs("</g>\n", out);
	}
	lanes_close(out, h, end);
	fputs("<details class=\"timeline-steps\"><summary>the round's steps</summary><ul>", out);
	json_array_foreach(steps, i, s)
	{
		struct tl_step t = tl_step(s, end, per_worker, release);
		fprintf(out, "<li class=\"tl-step%s%s\">", t.err ? " err" : "",
			t.blocked ? " blocked" : "");
		tl_words(out, &t);
		fputs("</li>", out);
	}
	fputs("</ul></details>\n", out);
}

/* An app worker's name: the document's ("a"; a number from an older
 * pgrace, named as now), else its place in the round. */
static const char *app_worker_name(const json_t *w, size_t idx, char *buf, size_t len)
{
	double n = html_jnum(w, "worker");
	if (html_jstr(w, "worker"))
		return html_jstr(w, "worker");
	return order_worker_name(isnan(n) || n < 0 || n > 1e6 ? (int)idx : (int)n, buf, len);
}

/* What an app worker's step was: its times (sent and done may be NAN: never
 * relayed, never answered) and its words. */
struct tl_trip {
	double in, sent, done;
	const char *what, *outcome, *constraint;
	bool held, err, blocked;
};

/* release: when the listener let the first held COMMIT go (NAN: none was
 * held): a step sent before it and answered after it was blocked. */
static struct tl_trip tl_trip(const json_t *t, double release)
{
	struct tl_trip a = {.in = html_jnum(t, "in_us"),
			    .sent = html_jnum(t, "sent_us"),
			    .done = html_jnum(t, "done_us"),
			    .what = html_jstr(t, "what") ? html_jstr(t, "what") : "?",
			    .outcome = html_jstr(t, "outcome"),
			    .constraint = html_jstr(t, "constraint"),
			    .held = html_jtrue(t, "held")};
	a.err = a.outcome && strcmp(a.outcome, "ok");
	a.blocked = !isnan(release) && strcmp(a.what, "COMMIT") && a.sent < release &&
		    (isnan(a.done) || a.done > release);
	return a;
}

/* "a, connection 0, COMMIT: in at 5 us, held, sent at 90 us, answered at
 * 95 us, 23505 (uq)", as text. */
static void app_trip_words(FILE *out, const char *worker, const json_t *t, double release)
{
	struct tl_trip a = tl_trip(t, release);
	html_textf(out, "%s, connection %.0f, %s: in at %.0f us%s", worker, html_jnum(t, "conn"), a.what,
		   a.in, a.held ? ", held by the listener" : "");
	if (isnan(a.sent))
		html_textf(out, ", never sent");
	else
		html_textf(out, ", sent at %.0f us", a.sent);
	if (isnan(a.done))
		html_textf(out, ", no answer");
	else
		html_textf(out, ", answered at %.0f us", a.done);
	if (a.blocked)
		html_textf(out, ", blocked until the COMMITs were released");
	if (a.outcome)
		html_textf(out, ", %s", a.outcome);
	if (a.constraint)
		html_textf(out, " (%s)", a.constraint);
}

/* An app round's swimlane timeline: one lane per worker's process, each
 * step its connections sent through the listener a bar from its relay to
 * its answer (BEGIN grey, COMMIT green, an error red with its SQLSTATE and
 * constraint; in hold mode a step still unanswered when the listener let the
 * first COMMIT go was blocked), a hold at the listener dashed before it, and the process's
 * exit a tick (red when it failed); microseconds from the round's start.
 * The same steps follow as text. */
static void app_timeline(FILE *out, const json_t *round)
{
	const json_t *workers = json_object_get(round, "workers"), *w, *t;
	size_t n = json_array_size(workers), j, k, trips = 0;
	double end = 1, release = NAN, first = NAN;
	json_array_foreach(workers, j, w)
	{
		double x = html_jnum(w, "exited_us");
		if (!isnan(x) && x > end)
			end = x;
		json_array_foreach(json_object_get(w, "trips"), k, t)
		{
			struct tl_trip a = tl_trip(t, NAN);
			if (a.held && !strcmp(a.what, "COMMIT") && !isnan(a.sent) &&
			    (isnan(release) || a.sent < release))
				release = a.sent;
			if (!isnan(a.in) && (isnan(first) || a.in < first))
				first = a.in;
			end = fmax(end, fmax(isnan(a.in) ? 0 : a.in, fmax(isnan(a.sent) ? 0 : a.sent,
									  isnan(a.done) ? 0 : a.done)));
			trips++;
		}
	}
	if (n == 0 || (trips == 0 && end <= 1))
		return; /* nothing timed: a document from a pgrace that kept no steps */
	/* the axis starts at the first step in (a process takes a while to start
	 * and connect); the words keep the times from the round's start */
	double t0 = isnan(first) ? 0 : first;
	end = fmax(end - t0, 1);
	double scale = (TIMELINE_W - LABEL_W - 10) / end;
	size_t h = n * (LANE_H + LANE_GAP) + 24;
	fputs("<figure class=\"timeline app-timeline\"><figcaption>", out);
	html_textf(out,
		   "app workers, round %.0f (%s): each process's steps as pgrace's listener relayed "
		   "them, and its exit; from the first step in, %.0f us after the round's start",
		   html_jnum(round, "round"), html_jstr(round, "why") ? html_jstr(round, "why") : "?",
		   t0);
	fprintf(out,
		"</figcaption><svg role=\"img\" width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\">"
		"<title>one lane per app worker: each step from its relay to its answer</title>\n",
		TIMELINE_W, h, TIMELINE_W, h);
	json_array_foreach(workers, j, w)
	{
		char buf[8];
		const char *name = app_worker_name(w, j, buf, sizeof buf);
		size_t y = j * (LANE_H + LANE_GAP);
		lane_open(out, y, name);
		json_array_foreach(json_object_get(w, "trips"), k, t)
		{
			struct tl_trip a = tl_trip(t, release);
			if (isnan(a.in))
				continue;
			double from = isnan(a.sent) ? end : a.sent - t0,
			       to = isnan(a.done) ? end : a.done - t0;
			if (a.held && from > a.in - t0)
				wait_line(out, y, "held", a.in - t0, from, scale,
					  "held by pgrace's listener");
			if (isnan(a.sent))
				continue;
			bool begin = !strcmp(a.what, "BEGIN"), commit = !strcmp(a.what, "COMMIT");
			fprintf(out,
				"<rect class=\"st%s%s%s%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
				"height=\"%d\"><title>",
				begin ? " begin" : "", a.err ? " err" : "", commit ? " commit" : "",
				a.blocked ? " blocked" : "", LABEL_W + from * scale, y + 2,
				fmax(1.0, (to - from) * scale), LANE_H - 4);
			app_trip_words(out, name, t, release);
			fputs("</title></rect>", out);
		}
		double x = html_jnum(w, "exited_us");
		if (!isnan(x)) {
			fprintf(out,
				"<rect class=\"exit%s\" x=\"%.1f\" y=\"%zu\" width=\"3\" height=\"%d\">"
				"<title>",
				html_jnum(w, "exit_code") == 0 ? "" : " bad",
				LABEL_W + fmax(0, x - t0) * scale, y, LANE_H);
			html_textf(out, "%s %s at %.0f us", name,
				   html_jstr(w, "end") ? html_jstr(w, "end") : "ended", x);
			fputs("</title></rect>", out);
		}
		fputs("</g>\n", out);
	}
	lanes_close(out, h, end);
	if (trips == 0)
		return;
	fputs("<details class=\"timeline-steps\"><summary>the round's steps</summary><ul>", out);
	json_array_foreach(workers, j, w)
	{
		char buf[8];
		const char *name = app_worker_name(w, j, buf, sizeof buf);
		json_array_foreach(json_object_get(w, "trips"), k, t)
		{
			struct tl_trip a = tl_trip(t, release);
			fprintf(out, "<li class=\"tl-step%s%s\">", a.err ? " err" : "",
				a.blocked ? " blocked" : "");
			app_trip_words(out, name, t, release);
			fputs("</li>", out);
		}
		double seen = html_jnum(w, "trips_seen");
		if (!isnan(seen) && seen > (double)json_array_size(json_object_get(w, "trips"))) {
			fputs("<li>", out);
			html_textf(out, "%s: %.0f steps in all, the last %zu shown", name, seen,
				   json_array_size(json_object_get(w, "trips")));
			fputs("</li>", out);
		}
	}
	fputs("</ul></details>\n", out);
}

/* An app flow's kept rounds: per round its timeline, then a table with a
 * row per worker's process (its end, output and what it saw). */
void html_app_rounds(FILE *out, const json_t *app)
{
	size_t i, j;
	const json_t *r, *w;
	json_array_foreach(json_object_get(app, "rounds"), i, r)
	{
		app_timeline(out, r);
		fputs("<table class=\"app\"><caption>", out);
		html_textf(out, "app workers, round %.0f (%s)", html_jnum(r, "round"),
			   html_jstr(r, "why") ? html_jstr(r, "why") : "?");
		fputs("</caption><tr><th>worker</th><th>end</th><th>output matched</th>"
		      "<th>sqlstate</th><th>constraint</th><th>output tail</th></tr>",
		      out);
		json_array_foreach(json_object_get(r, "workers"), j, w)
		{
			char name[8];
			fprintf(out, "<tr class=\"%s\"><td>",
				html_jnum(w, "exit_code") == 0 ? "" : "bad");
			html_text(out, app_worker_name(w, j, name, sizeof name));
			fputs("</td><td>", out);
			html_text(out, html_jstr(w, "end"));
			fprintf(out, "</td><td>%s</td><td>",
				html_jtrue(w, "output_matched") ? "yes" : "no");
			html_text(out, html_jstr(w, "sqlstate"));
			fputs("</td><td>", out);
			html_text(out, html_jstr(w, "constraint"));
			fputs("</td><td><pre>", out);
			html_lines(out, html_jstr(w, "stdout_tail"));
			if (html_jstr(w, "stderr_tail") && *html_jstr(w, "stderr_tail")) {
				fputs("</pre>stderr:<pre>", out);
				html_lines(out, html_jstr(w, "stderr_tail"));
			}
			fputs("</pre></td></tr>", out);
		}
		fputs("</table>\n", out);
	}
}
