/* html.c: one self-contained HTML page of a run, for a person to look at.
 *
 * The page is rendered from the result document (the JSON of report.h, as a
 * jansson tree), so `pgrace run --html` and `pgrace report RESULT.json` are
 * the same code and a page can always be made again from the JSON a CI job
 * kept. Everything is inline: CSS in a <style>, figures as inline SVG, no
 * script, no font, no image fetched from anywhere; a Content-Security-Policy
 * forbids the browser to fetch anything. Hover details are SVG <title>s and
 * <details> lists, so the page reads the same with JavaScript off.
 *
 * Every string of the document is untrusted (scenario names, SQL, server
 * messages, command output): it goes through html_text(), which first makes
 * it terminal-safe (text.h: control and bidi characters become visible
 * escapes, invalid UTF-8 \xHH; noncharacters such as U+FFFE, an HTML parse
 * error, \ufffe too) and then escapes & < > " ' for HTML, so it can be
 * neither markup nor a reordering of the page's text.
 *
 * Pure: reads a json_t, writes a FILE *; no database, no globals. */
#include "html.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define LANE_H 18
#define LANE_GAP 4
#define TIMELINE_W 900
#define LABEL_W 60
#define CELL 16

/* Writes s as HTML text (also safe inside a quoted attribute). */
static void html_text(FILE *out, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	size_t cap = 4 * n + 1; /* text_escape writes at most 4 bytes per byte (\xHH) */
	char *safe = malloc(cap);
	if (!safe)
		abort();
	text_escape(s, n, safe, cap);
	const char *stop = safe + strlen(safe);
	for (const char *p = safe; *p; p++) {
		/* noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are a parse error
		 * in HTML: shown escaped, as text_escape shows a control */
		size_t len = text_utf8_len((const unsigned char *)p, (size_t)(stop - p));
		uint32_t cp = len > 1 ? text_utf8_decode((const unsigned char *)p, len) : 0;
		if (len > 1 && ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)) {
			fprintf(out, "\\u%04x", (unsigned)cp);
			p += len - 1;
			continue;
		}
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*p, out);
		}
	}
	free(safe);
}

/* printf into a bounded buffer, then html_text: for formatted untrusted text. */
__attribute__((format(printf, 2, 3))) static void html_textf(FILE *out, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	html_text(out, buf);
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : NULL;
}

/* A number field, NAN when missing or null. */
static double jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static bool jtrue(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* v with decimals places, or "-" when missing. */
static void put_num(FILE *out, double v, int decimals)
{
	if (isnan(v))
		fputs("-", out);
	else
		fprintf(out, "%.*f", decimals, v);
}

/* The CSS class a verdict is drawn with. */
static const char *verdict_class(const char *v)
{
	if (!v)
		return "error";
	if (!strcmp(v, "pass") || !strcmp(v, "measured"))
		return "pass";
	if (!strcmp(v, "skipped") || !strcmp(v, "inconclusive"))
		return "warn";
	return "fail";
}

static void put_verdict(FILE *out, const char *v)
{
	fprintf(out, "<span class=\"v %s\">", verdict_class(v));
	html_text(out, v ? v : "unknown");
	fputs("</span>", out);
}

/* ---- what an interleave order ended in, and its colour ---- */

enum order_end { END_DUP, END_UNIQUE, END_SERIAL, END_SKIP, END_ONE, END_NX, END_N };

static const char *const end_class[END_N] = {"dup", "uv", "ser", "skip", "one", "nx"};
static const char *const end_label[END_N] = {
	"duplicate", "one row + 23505", "one row + 40001", "one row + skip", "one row",
	"not executable"};

static enum order_end order_end(const json_t *o)
{
	if (!jtrue(o, "executable"))
		return END_NX;
	if (jtrue(o, "duplicate"))
		return END_DUP;
	bool uv = false, ser = false, skip = false;
	size_t i;
	const json_t *w;
	json_array_foreach(json_object_get(o, "workers"), i, w)
	{
		const char *out = jstr(w, "outcome");
		if (!out)
			continue;
		uv |= !strcmp(out, "23505") || !strcmp(out, "23P01");
		ser |= !strcmp(out, "40001");
		skip |= !strcmp(out, "skipped");
	}
	return uv ? END_UNIQUE : ser ? END_SERIAL : skip ? END_SKIP : END_ONE;
}

/* ---- the page ---- */

static const char style[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#1b1b1b;"
	"padding:0 1em}"
	"h1{font-size:1.6em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}"
	"h3{margin:1.2em 0 .4em}"
	"table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 6px;"
	"text-align:left;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right;"
	"font-variant-numeric:tabular-nums}"
	"code,pre{font:12px/1.35 ui-monospace,monospace}pre{white-space:pre-wrap;"
	"background:#f6f6f6;padding:.5em}"
	".v{font-weight:700;padding:0 .35em;border-radius:3px}.v.pass{background:#d7f5dc;"
	"color:#135f24}.v.fail,.v.error{background:#fddcdc;color:#8a1010}.v.warn{background:#fff0c2;"
	"color:#6b4e00}"
	"header.verdict{padding:.6em 1em;border-radius:6px}header.pass{background:#e9f9ec}"
	"header.fail,header.error{background:#fdeaea}header.warn{background:#fff7dd}"
	".bad{background:#fff3f3}"
	"svg text{font:11px system-ui,sans-serif}"
	".dup{fill:#d7301f}.uv{fill:#2b8c3e}.ser{fill:#2f6db5}.skip{fill:#9fd39b}.one{fill:#7fc77f}"
	".nx{fill:#c8c8c8}.cell:hover{stroke:#000;stroke-width:2}"
	".legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;"
	"margin:0 .3em 0 1em}"
	".lg-dup{background:#d7301f}.lg-uv{background:#2b8c3e}.lg-ser{background:#2f6db5}"
	".lg-skip{background:#9fd39b}.lg-one{background:#7fc77f}.lg-nx{background:#c8c8c8}"
	".st{fill:#6d8fc9}.st.err{fill:#d7301f}.st.commit{fill:#2b8c3e}.st.blocked{fill:#e8a33d}"
	".held{stroke:#999;stroke-dasharray:2 2}.lane-bg{fill:#f4f4f4}.tl-step.err{color:#8a1010}"
	".bar-ok{fill:#7fc77f}.bar-skipped{fill:#9fd39b}.bar-23505{fill:#2b8c3e}"
	".bar-40001{fill:#2f6db5}.bar-other{fill:#d7301f}"
	"details{margin:.3em 0}summary{cursor:pointer}";

/* One row of the phase table: the same columns as the terminal summary. */
static void phase_row(FILE *out, const json_t *ph, size_t idx)
{
	const json_t *rpk = json_object_get(ph, "rows_per_key");
	const json_t *lat = json_object_get(ph, "latency_us");
	fprintf(out, "<tr class=\"%s\"><td><a href=\"#phase-%zu\">", jtrue(ph, "passed") ? "" : "bad",
		idx);
	html_text(out, jstr(ph, "name"));
	fputs("</a></td><td>", out);
	fputs(jtrue(ph, "migrated") ? "yes" : "no", out);
	fputs("</td><td>", out);
	html_text(out, jstr(ph, "mode"));
	bool race = json_is_object(rpk) || json_is_object(json_object_get(ph, "interleave"));
	fputs("</td><td class=\"n\">", out);
	put_num(out, race ? jnum(ph, "workers") : NAN, 0);
	fputs("</td><td class=\"n\">", out);
	put_num(out, race ? jnum(ph, "rounds") : NAN, 0);
	fputs("</td><td class=\"n\">", out);
	if (json_is_object(rpk))
		fprintf(out, "%.0f..%.0f", jnum(rpk, "min"), jnum(rpk, "max"));
	else
		fputs("-", out);
	fputs("</td><td class=\"n\">", out);
	put_num(out, race ? jnum(ph, "rounds_with_duplicates") : NAN, 0);
	fputs("</td><td>", out);
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach((json_t *)json_object_get(ph, "outcomes"), k, v)
	{
		html_textf(out, "%s%s=%lld", first ? "" : " ", k, (long long)json_number_value(v));
		first = false;
	}
	if (first)
		fputs("-", out);
	fputs("</td><td class=\"n\">", out);
	put_num(out, json_is_object(lat) ? jnum(lat, "p50") / 1000.0 : NAN, 2);
	fputs("</td><td class=\"n\">", out);
	put_num(out, json_is_object(lat) ? jnum(lat, "p99") / 1000.0 : NAN, 2);
	fputs("</td><td>", out);
	put_verdict(out, jstr(ph, "verdict"));
	fputs("</td></tr>\n", out);
}

/* Failed expectations of a run, each a row: phase, expected, actual, where. */
static size_t failures_rows(FILE *out, const json_t *run)
{
	size_t n = 0, i, j;
	const json_t *ph, *x;
	json_array_foreach(json_object_get(run, "phases"), i, ph)
	{
		json_array_foreach(json_object_get(ph, "expectations"), j, x)
		{
			if (jtrue(x, "passed"))
				continue;
			fputs("<tr class=\"failed-expectation\"><td>", out);
			html_text(out, jstr(run, "scenario"));
			fprintf(out, "</td><td><a href=\"#phase-%zu\">", i);
			html_text(out, jstr(ph, "name"));
			fputs("</a></td><td><code>", out);
			html_text(out, jstr(x, "expect"));
			fputs("</code></td><td><code>", out);
			html_text(out, jstr(x, "actual"));
			fputs("</code></td><td>", out);
			double line = jnum(x, "line");
			if (!isnan(line) && line > 0)
				html_textf(out, "%s:%.0f", jstr(run, "file") ? jstr(run, "file") : "?", line);
			else
				html_text(out, jstr(run, "file"));
			fputs("</td></tr>\n", out);
			n++;
		}
	}
	return n;
}

/* Outcomes per phase as stacked horizontal bars (one figure per run). */
static void outcomes_chart(FILE *out, const json_t *run)
{
	const json_t *phases = json_object_get(run, "phases");
	size_t n = json_array_size(phases), i;
	double most = 0;
	const json_t *ph;
	json_array_foreach(phases, i, ph)
	{
		double sum = 0;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)json_object_get(ph, "outcomes"), k, v)
			sum += json_number_value(v);
		if (sum > most)
			most = sum;
	}
	if (most <= 0)
		return;
	const int label_w = 150, bar_w = 600, row = 20;
	fprintf(out,
		"<figure><svg class=\"outcomes\" role=\"img\" width=\"%d\" height=\"%zu\" "
		"viewBox=\"0 0 %d %zu\"><title>attempts by outcome per phase</title>\n",
		label_w + bar_w + 60, n * row + 4, label_w + bar_w + 60, n * row + 4);
	json_array_foreach(phases, i, ph)
	{
		double x = label_w, y = (double)i * row + 2;
		fprintf(out, "<text x=\"0\" y=\"%.0f\">", y + 13);
		html_text(out, jstr(ph, "name"));
		fputs("</text>", out);
		const char *k;
		json_t *v;
		double sum = 0;
		json_object_foreach((json_t *)json_object_get(ph, "outcomes"), k, v)
		{
			double c = json_number_value(v), w = c / most * bar_w;
			const char *cls = !strcmp(k, "ok")         ? "bar-ok"
					  : !strcmp(k, "skipped")  ? "bar-skipped"
					  : !strcmp(k, "23505")    ? "bar-23505"
					  : !strcmp(k, "23P01")    ? "bar-23505"
					  : !strcmp(k, "40001")    ? "bar-40001"
								   : "bar-other";
			fprintf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\"><title>",
				cls, x, y, w, row - 4);
			html_textf(out, "%s: %lld", k, (long long)c);
			fputs("</title></rect>", out);
			x += w;
			sum += c;
		}
		fprintf(out, "<text x=\"%.1f\" y=\"%.0f\">%.0f</text>\n", x + 4, y + 13, sum);
	}
	fputs("</svg><figcaption>attempts by outcome (ok, skipped, 23505/23P01, 40001, other)"
	      "</figcaption></figure>\n",
	      out);
}

/* The race map: one column per interleave phase, one cell per order. */
static void race_map(FILE *out, const json_t *run)
{
	const json_t *phases = json_object_get(run, "phases");
	size_t i, cols = 0, most = 0;
	const json_t *ph;
	json_array_foreach(phases, i, ph)
	{
		const json_t *orders = json_object_get(json_object_get(ph, "interleave"), "orders");
		if (!json_is_array(orders))
			continue;
		cols++;
		if (json_array_size(orders) > most)
			most = json_array_size(orders);
	}
	if (cols == 0)
		return;
	const size_t per_row = 20, col_w = per_row * CELL + 30;
	size_t rows = (most + per_row - 1) / per_row;
	fputs("<section id=\"race-map\"><h3>Race map</h3><p class=\"legend\">", out);
	for (int e = 0; e < END_N; e++)
		fprintf(out, "<span class=\"lg-%s\"></span>%s", end_class[e], end_label[e]);
	fprintf(out,
		"</p><svg class=\"racemap\" role=\"img\" width=\"%zu\" height=\"%zu\" viewBox=\"0 0 %zu "
		"%zu\"><title>every order run, coloured by what it ended in</title>\n",
		cols * col_w, rows * CELL + 24, cols * col_w, rows * CELL + 24);
	size_t c = 0;
	json_array_foreach(phases, i, ph)
	{
		const json_t *orders = json_object_get(json_object_get(ph, "interleave"), "orders");
		if (!json_is_array(orders))
			continue;
		size_t x0 = c * col_w, j;
		fprintf(out, "<g class=\"racemap-phase\" data-phase=\"");
		html_text(out, jstr(ph, "name"));
		fprintf(out, "\"><text x=\"%zu\" y=\"12\">", x0);
		html_textf(out, "%s (%s)", jstr(ph, "name") ? jstr(ph, "name") : "?",
			   jtrue(ph, "migrated") ? "migrated" : "not migrated");
		fputs("</text>\n", out);
		const json_t *o;
		json_array_foreach(orders, j, o)
		{
			enum order_end e = order_end(o);
			fprintf(out,
				"<rect class=\"cell %s\" x=\"%zu\" y=\"%zu\" width=\"%d\" height=\"%d\">"
				"<title>",
				end_class[e], x0 + (j % per_row) * CELL, 18 + (j / per_row) * CELL, CELL - 2,
				CELL - 2);
			double rows_left = jnum(o, "rows");
			html_textf(out, "%s: %s", jstr(o, "order") ? jstr(o, "order") : "?", end_label[e]);
			if (!isnan(rows_left))
				fprintf(out, ", %.0f rows", rows_left);
			fputs("</title></rect>\n", out);
		}
		fputs("</g>\n", out);
		c++;
	}
	fputs("</svg></section>\n", out);
}

/* Every order of an interleave phase, in a details list. */
static void orders_list(FILE *out, const json_t *ilv)
{
	const json_t *orders = json_object_get(ilv, "orders");
	if (!json_is_array(orders))
		return;
	fprintf(out, "<details class=\"orders\"><summary>%zu orders", json_array_size(orders));
	double dup = jnum(ilv, "interleavings_with_duplicates");
	double nx = jnum(ilv, "interleavings_not_executable");
	if (!isnan(dup))
		fprintf(out, ", %.0f left duplicates", dup);
	if (!isnan(nx))
		fprintf(out, ", %.0f not executable", nx);
	fputs("</summary><table><tr><th>order</th><th>ended in</th><th>rows</th>"
	      "<th>workers</th></tr>\n",
	      out);
	size_t j, k;
	const json_t *o, *w;
	json_array_foreach(orders, j, o)
	{
		enum order_end e = order_end(o);
		fputs("<tr><td><code>", out);
		html_text(out, jstr(o, "order"));
		fprintf(out, "</code></td><td><span class=\"lg-%s legend-dot\"></span> %s</td><td class=\"n\">",
			end_class[e], end_label[e]);
		put_num(out, jnum(o, "rows"), 0);
		fputs("</td><td>", out);
		json_array_foreach(json_object_get(o, "workers"), k, w)
		{
			html_textf(out, "%s%s %s", k ? "; " : "", jstr(w, "worker") ? jstr(w, "worker") : "?",
				   jstr(w, "outcome") ? jstr(w, "outcome") : "?");
			if (jstr(w, "constraint"))
				html_textf(out, " (%s)", jstr(w, "constraint"));
		}
		fputs("</td></tr>\n", out);
	}
	fputs("</table></details>\n", out);
}

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
	bool open, commit, err, blocked;
};

static struct tl_step tl_step(const json_t *s, double end, int per_worker, double release)
{
	struct tl_step t = {.name = jstr(s, "step") ? jstr(s, "step") : "?",
			    .what = jstr(s, "outcome"),
			    .constraint = jstr(s, "constraint"),
			    .t0 = jnum(s, "sent_us"),
			    .t1 = jnum(s, "done_us")};
	t.open = isnan(t.t1);
	if (t.open)
		t.t1 = end;
	const char *num = t.name + strcspn(t.name, "0123456789");
	t.commit = per_worker > 0 && strtol(num, NULL, 10) == per_worker;
	t.err = t.what && strcmp(t.what, "ok") && strcmp(t.what, "skipped");
	/* hold: the COMMITs go once every worker has finished its statements or
	 * is blocked, so a statement still unanswered then was blocked */
	t.blocked = !t.commit && !isnan(release) && t.t0 < release && t.t1 > release;
	return t;
}

/* "a2: sent at 10 us, answered at 90 us (blocked), 23505 (uq)", as text. */
static void tl_words(FILE *out, const struct tl_step *t)
{
	html_textf(out, "%s%s: sent at %.0f us, %s %.0f us%s", t->name, t->commit ? " COMMIT" : "",
		   t->t0, t->open ? "no answer by" : "answered at", t->t1,
		   t->blocked ? ", blocked until the COMMITs were released" : "");
	if (t->what)
		html_textf(out, ", %s", t->what);
	if (t->constraint)
		html_textf(out, " (%s)", t->constraint);
}

/* A round's swimlane timeline: one lane per worker, each step a bar from its
 * send to its answer (microseconds from the round's first send), COMMIT
 * green, an error red with its SQLSTATE and constraint; in hold mode a
 * statement blocked at the commit barrier is hatched and the wait before
 * each COMMIT is drawn as a line. The same steps follow as a table. */
static void timeline(FILE *out, const json_t *round, const char *title, bool hold)
{
	const json_t *steps = json_object_get(round, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0)
		return;
	int per_worker = (int)(isnan(jnum(round, "steps_per_worker")) ? 0
								      : jnum(round, "steps_per_worker"));
	char lanes[64][8];
	size_t n_lanes = 0, i;
	double end = 1, release = NAN;
	const json_t *s;
	json_array_foreach(steps, i, s)
	{
		char w[8];
		step_worker(jstr(s, "step") ? jstr(s, "step") : "?", w, sizeof w);
		size_t l = 0;
		while (l < n_lanes && strcmp(lanes[l], w))
			l++;
		if (l == n_lanes && n_lanes < 64)
			snprintf(lanes[n_lanes++], sizeof lanes[0], "%s", w);
		double d = jnum(s, "done_us");
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
		fprintf(out, "<g class=\"lane\" data-worker=\"%s\"><rect class=\"lane-bg\" x=\"%d\" y=\"%zu\" "
			     "width=\"%d\" height=\"%d\"/><text x=\"0\" y=\"%zu\">worker %s</text>",
			lanes[l], LABEL_W, y, TIMELINE_W - LABEL_W, LANE_H, y + 13, lanes[l]);
		double last_done = NAN;
		json_array_foreach(steps, i, s)
		{
			char w[8];
			struct tl_step t = tl_step(s, end, per_worker, release);
			step_worker(t.name, w, sizeof w);
			if (strcmp(w, lanes[l]) || isnan(t.t0))
				continue;
			if (hold && t.commit && !isnan(last_done) && t.t0 > last_done)
				fprintf(out, "<line class=\"held\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%zu\" y2=\"%zu\"/>",
					LABEL_W + last_done * scale, LABEL_W + t.t0 * scale,
					y + LANE_H / 2, y + LANE_H / 2);
			last_done = t.t1;
			fprintf(out,
				"<rect class=\"st%s%s%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
				"height=\"%d\">"
				"<title>",
				t.err ? " err" : "", t.commit ? " commit" : "",
				t.blocked ? " blocked" : "", LABEL_W + t.t0 * scale, y + 2,
				fmax(1.0, (t.t1 - t.t0) * scale), LANE_H - 4);
			tl_words(out, &t);
			fputs("</title></rect>", out);
		}
		fputs("</g>\n", out);
	}
	fprintf(out, "<text x=\"%d\" y=\"%zu\">0</text><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">%.0f us"
		     "</text></svg></figure>\n",
		LABEL_W, h - 6, TIMELINE_W, h - 6, end);
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

static void kv_table(FILE *out, const json_t *obj, const char *k_head, const char *v_head)
{
	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return;
	fprintf(out, "<table><tr><th>%s</th><th>%s</th></tr>", k_head, v_head);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		fputs("<tr><td><code>", out);
		html_text(out, k);
		fputs("</code></td><td>", out);
		if (json_is_string(v))
			html_text(out, json_string_value(v));
		else if (json_is_number(v))
			fprintf(out, "%lld", (long long)json_number_value(v));
		fputs("</td></tr>", out);
	}
	fputs("</table>\n", out);
}

/* html_text of s line by line, its newlines kept (for <pre>). */
static void html_lines(FILE *out, const char *s)
{
	if (!s)
		return;
	char *copy = strdup(s);
	if (!copy)
		abort();
	for (char *line = copy, *nl; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		html_text(out, line);
		if (nl)
			fputc('\n', out);
	}
	free(copy);
}

/* An app flow's kept rounds: a table per round, a row per worker's process. */
static void app_rounds(FILE *out, const json_t *app)
{
	size_t i, j;
	const json_t *r, *w;
	json_array_foreach(json_object_get(app, "rounds"), i, r)
	{
		fputs("<table class=\"app\"><caption>", out);
		html_textf(out, "app workers, round %.0f (%s)", jnum(r, "round"),
			   jstr(r, "why") ? jstr(r, "why") : "?");
		fputs("</caption><tr><th>worker</th><th>end</th><th>output matched</th>"
		      "<th>sqlstate</th><th>constraint</th><th>output tail</th></tr>",
		      out);
		json_array_foreach(json_object_get(r, "workers"), j, w)
		{
			fprintf(out, "<tr class=\"%s\"><td class=\"n\">%.0f</td><td>",
				jnum(w, "exit_code") == 0 ? "" : "bad", jnum(w, "worker"));
			html_text(out, jstr(w, "end"));
			fprintf(out, "</td><td>%s</td><td>", jtrue(w, "output_matched") ? "yes" : "no");
			html_text(out, jstr(w, "sqlstate"));
			fputs("</td><td>", out);
			html_text(out, jstr(w, "constraint"));
			fputs("</td><td><pre>", out);
			html_lines(out, jstr(w, "stdout_tail"));
			if (jstr(w, "stderr_tail") && *jstr(w, "stderr_tail")) {
				fputs("</pre>stderr:<pre>", out);
				html_lines(out, jstr(w, "stderr_tail"));
			}
			fputs("</pre></td></tr>", out);
		}
		fputs("</table>\n", out);
	}
}

static void phase_section(FILE *out, const json_t *ph, size_t idx)
{
	fprintf(out, "<section class=\"phase\" id=\"phase-%zu\" data-phase=\"", idx);
	html_text(out, jstr(ph, "name"));
	fputs("\"><h3>", out);
	html_text(out, jstr(ph, "name"));
	fputs(" ", out);
	put_verdict(out, jstr(ph, "verdict"));
	fputs("</h3>\n<p>", out);
	html_textf(out, "mode %s, %s", jstr(ph, "mode") ? jstr(ph, "mode") : "?",
		   jtrue(ph, "migrated") ? "migration applied" : "not migrated");
	if (jstr(ph, "isolation"))
		html_textf(out, ", %s", jstr(ph, "isolation"));
	fputs("</p>\n", out);
	size_t i;
	const json_t *x;
	const json_t *exps = json_object_get(ph, "expectations");
	if (json_array_size(exps)) {
		fputs("<table class=\"expectations\"><tr><th>expected</th><th>actual</th><th>held</th></tr>", out);
		json_array_foreach(exps, i, x)
		{
			fprintf(out, "<tr class=\"%s\"><td><code>", jtrue(x, "passed") ? "" : "bad");
			html_text(out, jstr(x, "expect"));
			fputs("</code></td><td><code>", out);
			html_text(out, jstr(x, "actual"));
			fprintf(out, "</code></td><td>%s</td></tr>", jtrue(x, "passed") ? "yes" : "<b>no</b>");
		}
		fputs("</table>\n", out);
	}
	kv_table(out, json_object_get(ph, "outcomes"), "outcome", "attempts");
	kv_table(out, json_object_get(ph, "constraints"), "constraint", "violations");
	kv_table(out, json_object_get(ph, "messages"), "outcome", "first message");
	const json_t *lat = json_object_get(ph, "latency_us");
	if (json_is_object(lat))
		fprintf(out, "<p>latency per attempt: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms</p>\n",
			jnum(lat, "p50") / 1000, jnum(lat, "p90") / 1000, jnum(lat, "p99") / 1000,
			jnum(lat, "max") / 1000);
	const json_t *steps = json_object_get(ph, "steps");
	if (json_array_size(steps)) {
		fputs("<table class=\"steps\"><tr><th>step</th><th>sqlstate</th><th>rows</th><th>s</th></tr>", out);
		json_array_foreach(steps, i, x)
		{
			fputs("<tr><td>", out);
			html_text(out, jstr(x, "step"));
			fputs("</td><td>", out);
			html_text(out, jstr(x, "sqlstate") ? jstr(x, "sqlstate") : "");
			fputs("</td><td class=\"n\">", out);
			put_num(out, jnum(x, "rows"), 0);
			fputs("</td><td class=\"n\">", out);
			put_num(out, jnum(x, "elapsed_s"), 3);
			fputs("</td></tr>", out);
		}
		fputs("</table>\n", out);
	}
	bool hold = jstr(ph, "mode") && !strcmp(jstr(ph, "mode"), "hold");
	const json_t *fd = json_object_get(ph, "first_duplicate_round");
	if (json_is_object(fd)) {
		char title[160];
		snprintf(title, sizeof title, "round %.0f, the first that left duplicates",
			 jnum(fd, "round"));
		timeline(out, fd, title, hold);
	}
	const json_t *fp = json_object_get(ph, "first_passing_round");
	if (json_is_object(fp)) {
		char title[160];
		snprintf(title, sizeof title,
			 "round %.0f, the first with the migration applied that left "
			 "no duplicates",
			 jnum(fp, "round"));
		timeline(out, fp, title, hold);
	}
	const json_t *ilv = json_object_get(ph, "interleave");
	if (json_is_object(ilv))
		orders_list(out, ilv);
	if (json_is_object(json_object_get(ph, "app")))
		app_rounds(out, json_object_get(ph, "app"));
	fputs("</section>\n", out);
}

static void run_section(FILE *out, const json_t *run, size_t idx)
{
	fprintf(out, "<section class=\"run\" id=\"run-%zu\"><h2>", idx);
	html_text(out, jstr(run, "scenario"));
	fputs(" ", out);
	put_verdict(out, jstr(run, "verdict"));
	fputs("</h2>\n<p>", out);
	html_textf(out, "%s, schema %s, PostgreSQL %s, %.2f s%s", jstr(run, "file") ? jstr(run, "file") : "?",
		   jstr(run, "schema") ? jstr(run, "schema") : "-",
		   jstr(run, "server_version") ? jstr(run, "server_version") : "-", jnum(run, "elapsed_s"),
		   jtrue(run, "complete") ? "" : ", incomplete");
	fputs("</p>\n", out);
	if (jstr(run, "error")) {
		fputs("<p class=\"bad error\">", out);
		html_text(out, jstr(run, "error"));
		fputs("</p>\n", out);
	}
	if (jstr(run, "skipped")) {
		fputs("<p class=\"skipped\">skipped: ", out);
		html_text(out, jstr(run, "skipped"));
		fputs("</p>\n", out);
	}
	const json_t *phases = json_object_get(run, "phases");
	size_t i;
	const json_t *ph;
	if (json_array_size(phases)) {
		fputs("<table class=\"phases\"><tr><th>phase</th><th>migrated</th><th>mode</th>"
		      "<th>workers</th><th>rounds</th><th>rows/key</th><th>dup rounds</th><th>outcomes</th>"
		      "<th>p50 ms</th><th>p99 ms</th><th>result</th></tr>\n",
		      out);
		json_array_foreach(phases, i, ph) phase_row(out, ph, i);
		fputs("</table>\n", out);
		outcomes_chart(out, run);
		race_map(out, run);
		json_array_foreach(phases, i, ph) phase_section(out, ph, i);
	}
	fputs("</section>\n", out);
}

int html_write(FILE *out, const json_t *doc)
{
	const json_t *runs = json_object_get(doc, "runs");
	json_t *one = NULL;
	if (!json_is_array(runs)) {
		one = json_array();
		if (!one || json_array_append(one, (json_t *)doc))
			abort();
		runs = one;
	}
	const char *verdict = jstr(doc, "verdict");
	double code = jnum(doc, "exit_code");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>pgrace: ",
	      out);
	size_t i;
	const json_t *run;
	json_array_foreach(runs, i, run)
	{
		html_textf(out, "%s%s", i ? ", " : "", jstr(run, "scenario") ? jstr(run, "scenario") : "?");
	}
	fputs(" — ", out);
	html_text(out, verdict ? verdict : "unknown");
	fprintf(out, "</title>\n<style>%s</style></head><body>\n", style);
	fprintf(out, "<header class=\"verdict %s\" id=\"verdict\"><h1>", verdict_class(verdict));
	put_verdict(out, verdict);
	fputs("</h1><p>", out);
	if (!isnan(code))
		fprintf(out, "exit code <b id=\"exit-code\">%.0f</b>; ", code);
	fprintf(out, "%zu scenario%s</p></header>\n", json_array_size(runs),
		json_array_size(runs) == 1 ? "" : "s");

	/* failing expectations first: what a reviewer of a red CI job wants */
	fputs("<section id=\"failures\"><h2>Failed expectations</h2><table><tr><th>scenario</th>"
	      "<th>phase</th><th>expected</th><th>actual</th><th>where</th></tr>\n",
	      out);
	size_t failed = 0;
	json_array_foreach(runs, i, run) failed += failures_rows(out, run);
	if (failed == 0)
		fputs("<tr><td colspan=\"5\">none: every expectation held</td></tr>\n", out);
	fputs("</table></section>\n", out);

	json_array_foreach(runs, i, run) run_section(out, run, i);
	fputs("<footer><p>written by pgrace from its result document; self-contained, no network"
	      "</p></footer>\n</body></html>\n",
	      out);
	json_decref(one);
	if (fflush(out) != 0 || ferror(out))
		return -1;
	return 0;
}
