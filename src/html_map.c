/* html_map.c: the HTML page's figures of a whole run: the race map (one
 * cell per interleave order, coloured by what the order ended in, a column
 * per interleave phase so before and after the migration stand side by
 * side, each cell's order of steps in its SVG <title>), the list of every
 * order below it, and the outcome bars per phase. Inline SVG only. */
#include "html_parts.h"

#include <math.h>
#include <string.h>

#define CELL 16

/* ---- what an interleave order ended in, and its colour ---- */

enum order_end { END_DUP, END_UNIQUE, END_SERIAL, END_SKIP, END_ONE, END_NX, END_N };

static const char *const end_class[END_N] = {"dup", "uv", "ser", "skip", "one", "nx"};
static const char *const end_label[END_N] = {"duplicate",      "one row + 23505", "one row + 40001",
					     "one row + skip", "one row",         "not executable"};

static enum order_end order_end(const json_t *o)
{
	if (!html_jtrue(o, "executable"))
		return END_NX;
	if (html_jtrue(o, "duplicate"))
		return END_DUP;
	bool uv = false, ser = false, skip = false;
	size_t i;
	const json_t *w;
	json_array_foreach(json_object_get(o, "workers"), i, w)
	{
		const char *out = html_jstr(w, "outcome");
		if (!out)
			continue;
		uv |= !strcmp(out, "23505") || !strcmp(out, "23P01");
		ser |= !strcmp(out, "40001");
		skip |= !strcmp(out, "skipped");
	}
	return uv ? END_UNIQUE : ser ? END_SERIAL : skip ? END_SKIP : END_ONE;
}

/* Outcomes per phase as stacked horizontal bars (one figure per run). */
void html_outcomes_chart(FILE *out, const json_t *run)
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
		html_text(out, html_jstr(ph, "name"));
		fputs("</text>", out);
		const char *k;
		json_t *v;
		double sum = 0;
		json_object_foreach((json_t *)json_object_get(ph, "outcomes"), k, v)
		{
			double c = json_number_value(v), w = c / most * bar_w;
			const char *cls = !strcmp(k, "ok")        ? "bar-ok"
					  : !strcmp(k, "skipped") ? "bar-skipped"
					  : !strcmp(k, "23505")   ? "bar-23505"
					  : !strcmp(k, "23P01")   ? "bar-23505"
					  : !strcmp(k, "40001")   ? "bar-40001"
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
void html_race_map(FILE *out, const json_t *run)
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
		html_text(out, html_jstr(ph, "name"));
		fprintf(out, "\"><text x=\"%zu\" y=\"12\">", x0);
		html_textf(out, "%s (%s)", html_jstr(ph, "name") ? html_jstr(ph, "name") : "?",
			   html_jtrue(ph, "migrated") ? "migrated" : "not migrated");
		fputs("</text>\n", out);
		const json_t *o;
		json_array_foreach(orders, j, o)
		{
			enum order_end e = order_end(o);
			fprintf(out,
				"<rect class=\"cell %s\" x=\"%zu\" y=\"%zu\" width=\"%d\" height=\"%d\">"
				"<title>",
				end_class[e], x0 + (j % per_row) * CELL, 18 + (j / per_row) * CELL,
				CELL - 2, CELL - 2);
			double rows_left = html_jnum(o, "rows");
			html_textf(out, "%s: %s", html_jstr(o, "order") ? html_jstr(o, "order") : "?",
				   end_label[e]);
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
void html_orders_list(FILE *out, const json_t *ilv)
{
	const json_t *orders = json_object_get(ilv, "orders");
	if (!json_is_array(orders))
		return;
	fprintf(out, "<details class=\"orders\"><summary>%zu orders", json_array_size(orders));
	double dup = html_jnum(ilv, "interleavings_with_duplicates");
	double nx = html_jnum(ilv, "interleavings_not_executable");
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
		html_text(out, html_jstr(o, "order"));
		fprintf(out, "</code></td><td><span class=\"lg-%s legend-dot\"></span> %s</td><td class=\"n\">",
			end_class[e], end_label[e]);
		html_num(out, html_jnum(o, "rows"), 0);
		fputs("</td><td>", out);
		json_array_foreach(json_object_get(o, "workers"), k, w)
		{
			html_textf(out, "%s%s %s", k ? "; " : "",
				   html_jstr(w, "worker") ? html_jstr(w, "worker") : "?",
				   html_jstr(w, "outcome") ? html_jstr(w, "outcome") : "?");
			if (html_jstr(w, "constraint"))
				html_textf(out, " (%s)", html_jstr(w, "constraint"));
		}
		fputs("</td></tr>\n", out);
	}
	fputs("</table></details>\n", out);
}
