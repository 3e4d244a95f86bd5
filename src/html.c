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
 * This file is the page itself: the verdict header, the failed expectations
 * first, a section per run and per phase (tables of outcomes, expectations,
 * steps, latency). Its figures come from html_map.c (race map, outcome
 * bars) and html_lane.c (swimlane timelines); every string of the document
 * is untrusted and goes through html_text.c.
 *
 * Pure: reads a json_t, writes a FILE *; no database, no globals. */
#include "html.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "html_parts.h"

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
	".st{fill:#6d8fc9}.st.begin{fill:#8c96a3}.st.err{fill:#d7301f}.st.commit{fill:#2b8c3e}"
	".st.blocked{fill:#e8a33d}.held{stroke:#999;stroke-dasharray:2 2}"
	".start{stroke:#bbb;stroke-dasharray:1 "
	"3}.exit{fill:#2b8c3e}.exit.bad{fill:#8a1010}.lane-bg{fill:#f4f4f4}.tl-step.err{color:#8a1010}"
	".bar-ok{fill:#7fc77f}.bar-skipped{fill:#9fd39b}.bar-23505{fill:#2b8c3e}"
	".bar-40001{fill:#2f6db5}.bar-other{fill:#d7301f}"
	"details{margin:.3em 0}summary{cursor:pointer}";

/* One row of the phase table: the same columns as the terminal summary. */
static void phase_row(FILE *out, const json_t *ph, size_t idx)
{
	const json_t *rpk = json_object_get(ph, "rows_per_key");
	const json_t *lat = json_object_get(ph, "latency_us");
	fprintf(out, "<tr class=\"%s\"><td><a href=\"#phase-%zu\">",
		html_jtrue(ph, "passed") ? "" : "bad", idx);
	html_text(out, html_jstr(ph, "name"));
	fputs("</a></td><td>", out);
	fputs(html_jtrue(ph, "migrated") ? "yes" : "no", out);
	fputs("</td><td>", out);
	html_text(out, html_jstr(ph, "mode"));
	bool race = json_is_object(rpk) || json_is_object(json_object_get(ph, "interleave"));
	fputs("</td><td class=\"n\">", out);
	html_num(out, race ? html_jnum(ph, "workers") : NAN, 0);
	fputs("</td><td class=\"n\">", out);
	html_num(out, race ? html_jnum(ph, "rounds") : NAN, 0);
	fputs("</td><td class=\"n\">", out);
	if (json_is_object(rpk))
		fprintf(out, "%.0f..%.0f", html_jnum(rpk, "min"), html_jnum(rpk, "max"));
	else
		fputs("-", out);
	fputs("</td><td class=\"n\">", out);
	html_num(out, race ? html_jnum(ph, "rounds_with_duplicates") : NAN, 0);
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
	html_num(out, json_is_object(lat) ? html_jnum(lat, "p50") / 1000.0 : NAN, 2);
	fputs("</td><td class=\"n\">", out);
	html_num(out, json_is_object(lat) ? html_jnum(lat, "p99") / 1000.0 : NAN, 2);
	fputs("</td><td>", out);
	put_verdict(out, html_jstr(ph, "verdict"));
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
			if (html_jtrue(x, "passed"))
				continue;
			fputs("<tr class=\"failed-expectation\"><td>", out);
			html_text(out, html_jstr(run, "scenario"));
			fprintf(out, "</td><td><a href=\"#phase-%zu\">", i);
			html_text(out, html_jstr(ph, "name"));
			fputs("</a></td><td><code>", out);
			html_text(out, html_jstr(x, "expect"));
			fputs("</code></td><td><code>", out);
			html_text(out, html_jstr(x, "actual"));
			fputs("</code></td><td>", out);
			double line = html_jnum(x, "line");
			if (!isnan(line) && line > 0)
				html_textf(out, "%s:%.0f",
					   html_jstr(run, "file") ? html_jstr(run, "file") : "?", line);
			else
				html_text(out, html_jstr(run, "file"));
			fputs("</td></tr>\n", out);
			n++;
		}
	}
	return n;
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

static void phase_section(FILE *out, const json_t *ph, size_t idx)
{
	fprintf(out, "<section class=\"phase\" id=\"phase-%zu\" data-phase=\"", idx);
	html_text(out, html_jstr(ph, "name"));
	fputs("\"><h3>", out);
	html_text(out, html_jstr(ph, "name"));
	fputs(" ", out);
	put_verdict(out, html_jstr(ph, "verdict"));
	fputs("</h3>\n<p>", out);
	html_textf(out, "mode %s, %s", html_jstr(ph, "mode") ? html_jstr(ph, "mode") : "?",
		   html_jtrue(ph, "migrated") ? "migration applied" : "not migrated");
	if (html_jstr(ph, "isolation"))
		html_textf(out, ", %s", html_jstr(ph, "isolation"));
	fputs("</p>\n", out);
	size_t i;
	const json_t *x;
	const json_t *exps = json_object_get(ph, "expectations");
	if (json_array_size(exps)) {
		fputs("<table "
		      "class=\"expectations\"><tr><th>expected</th><th>actual</th><th>held</th></tr>",
		      out);
		json_array_foreach(exps, i, x)
		{
			fprintf(out, "<tr class=\"%s\"><td><code>", html_jtrue(x, "passed") ? "" : "bad");
			html_text(out, html_jstr(x, "expect"));
			fputs("</code></td><td><code>", out);
			html_text(out, html_jstr(x, "actual"));
			fprintf(out, "</code></td><td>%s</td></tr>",
				html_jtrue(x, "passed") ? "yes" : "<b>no</b>");
		}
		fputs("</table>\n", out);
	}
	kv_table(out, json_object_get(ph, "outcomes"), "outcome", "attempts");
	kv_table(out, json_object_get(ph, "constraints"), "constraint", "violations");
	kv_table(out, json_object_get(ph, "messages"), "outcome", "first message");
	const json_t *lat = json_object_get(ph, "latency_us");
	if (json_is_object(lat))
		fprintf(out, "<p>latency per attempt: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms</p>\n",
			html_jnum(lat, "p50") / 1000, html_jnum(lat, "p90") / 1000,
			html_jnum(lat, "p99") / 1000, html_jnum(lat, "max") / 1000);
	const json_t *steps = json_object_get(ph, "steps");
	if (json_array_size(steps)) {
		fputs("<table "
		      "class=\"steps\"><tr><th>step</th><th>sqlstate</th><th>rows</th><th>s</th></tr>",
		      out);
		json_array_foreach(steps, i, x)
		{
			fputs("<tr><td>", out);
			html_text(out, html_jstr(x, "step"));
			fputs("</td><td>", out);
			html_text(out, html_jstr(x, "sqlstate") ? html_jstr(x, "sqlstate") : "");
			fputs("</td><td class=\"n\">", out);
			html_num(out, html_jnum(x, "rows"), 0);
			fputs("</td><td class=\"n\">", out);
			html_num(out, html_jnum(x, "elapsed_s"), 3);
			fputs("</td></tr>", out);
		}
		fputs("</table>\n", out);
	}
	bool hold = html_jstr(ph, "mode") && !strcmp(html_jstr(ph, "mode"), "hold");
	const json_t *fd = json_object_get(ph, "first_duplicate_round");
	if (json_is_object(fd)) {
		char title[160];
		snprintf(title, sizeof title, "round %.0f, the first that left duplicates",
			 html_jnum(fd, "round"));
		html_timeline(out, fd, title, hold);
	}
	const json_t *fp = json_object_get(ph, "first_passing_round");
	if (json_is_object(fp)) {
		char title[160];
		snprintf(title, sizeof title,
			 "round %.0f, the first with the migration applied that left "
			 "no duplicates",
			 html_jnum(fp, "round"));
		html_timeline(out, fp, title, hold);
	}
	const json_t *ilv = json_object_get(ph, "interleave");
	if (json_is_object(ilv))
		html_orders_list(out, ilv);
	if (json_is_object(json_object_get(ph, "app")))
		html_app_rounds(out, json_object_get(ph, "app"));
	fputs("</section>\n", out);
}

static void run_section(FILE *out, const json_t *run, size_t idx)
{
	fprintf(out, "<section class=\"run\" id=\"run-%zu\"><h2>", idx);
	html_text(out, html_jstr(run, "scenario"));
	fputs(" ", out);
	put_verdict(out, html_jstr(run, "verdict"));
	fputs("</h2>\n<p>", out);
	html_textf(out, "%s, schema %s, PostgreSQL %s, %.2f s%s",
		   html_jstr(run, "file") ? html_jstr(run, "file") : "?",
		   html_jstr(run, "schema") ? html_jstr(run, "schema") : "-",
		   html_jstr(run, "server_version") ? html_jstr(run, "server_version") : "-",
		   html_jnum(run, "elapsed_s"), html_jtrue(run, "complete") ? "" : ", incomplete");
	fputs("</p>\n", out);
	if (html_jstr(run, "error")) {
		fputs("<p class=\"bad error\">", out);
		html_text(out, html_jstr(run, "error"));
		fputs("</p>\n", out);
	}
	if (html_jstr(run, "skipped")) {
		fputs("<p class=\"skipped\">skipped: ", out);
		html_text(out, html_jstr(run, "skipped"));
		fputs("</p>\n", out);
	}
	const json_t *phases = json_object_get(run, "phases");
	size_t i;
	const json_t *ph;
	if (json_array_size(phases)) {
		fputs("<table class=\"phases\"><tr><th>phase</th><th>migrated</th><th>mode</th>"
		      "<th>workers</th><th>rounds</th><th>rows/key</th><th>dup "
		      "rounds</th><th>outcomes</th>"
		      "<th>p50 ms</th><th>p99 ms</th><th>result</th></tr>\n",
		      out);
		json_array_foreach(phases, i, ph) phase_row(out, ph, i);
		fputs("</table>\n", out);
		html_outcomes_chart(out, run);
		html_race_map(out, run);
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
	const char *verdict = html_jstr(doc, "verdict");
	double code = html_jnum(doc, "exit_code");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>pgrace: ",
	      out);
	size_t i;
	const json_t *run;
	json_array_foreach(runs, i, run)
	{
		html_textf(out, "%s%s", i ? ", " : "",
			   html_jstr(run, "scenario") ? html_jstr(run, "scenario") : "?");
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
