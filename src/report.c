/* report.c: the terminal summary of a run.
 *
 * report_summary only reads struct run_result and writes to the FILE * it is
 * given: no database, no globals, so tests feed it runs built in memory. The
 * JSON and HTML document is report_json.c's job, the JUnit XML report_junit.c's.
 *
 * Text from outside (server messages, file names, constraint names) may be
 * anything: it is escaped (text.h), so no control character, C1 or bidi
 * control reaches a terminal raw. Calls text.h, report_common.h and the
 * verdict and mode names; nothing else. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "report.h"
#include "report_common.h"
#include "text.h"

/* ---- terminal summary ---- */

/* ---- terminal summary ---- */

static const char *verdict_upper(enum verdict v)
{
	switch (v) {
	case VERDICT_PASS:
		return "PASS";
	case VERDICT_INCONCLUSIVE:
		return "INCONCLUSIVE";
	case VERDICT_FAIL:
		return "FAIL";
	case VERDICT_BAD_SCENARIO:
		return "BAD SCENARIO";
	case VERDICT_ERROR:
		return "ERROR";
	case VERDICT_SKIPPED:
		return "SKIPPED";
	case VERDICT_MEASURED:
		return "MEASURED";
	}
	return "ERROR";
}

enum summary_col {
	COL_PHASE,
	COL_MIGRATED,
	COL_MODE,
	COL_WORKERS,
	COL_ROUNDS,
	COL_ROWS,
	COL_DUPS,
	COL_OUTCOMES,
	COL_P50,
	COL_P99,
	COL_RESULT,
	N_COLS
};

static const struct {
	const char *title;
	bool right; /* numbers align right */
} summary_cols[N_COLS] = {
	[COL_PHASE] = {"phase", false},       [COL_MIGRATED] = {"migrated", false},
	[COL_MODE] = {"mode", false},         [COL_WORKERS] = {"workers", true},
	[COL_ROUNDS] = {"rounds", true},      [COL_ROWS] = {"rows/key", false},
	[COL_DUPS] = {"dup rounds", true},    [COL_OUTCOMES] = {"outcomes", false},
	[COL_P50] = {"p50 ms", true},         [COL_P99] = {"p99 ms", true},
	[COL_RESULT] = {"result", false},
};

/* Room for a full outcome table: OUTCOME_SLOTS labels of 63 bytes, counts. */
#define CELL_MAX 2304

struct summary_row {
	char cell[N_COLS][CELL_MAX];
};

/* Appends to buf (holding len bytes); returns the new length, which stops at
 * cap - 1 when the text does not fit. */
__attribute__((format(printf, 4, 5))) static size_t
cell_append(char *buf, size_t cap, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (len + 1 >= cap)
		return len;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, cap - len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return len;
	return (size_t)n < cap - len ? len + (size_t)n : cap - 1;
}

/* "ok=20 23505=300": labels in the order the run first saw them. */
static void format_outcomes(char *buf, size_t cap, const struct phase_result *ph)
{
	const struct outcome_table *t = &ph->outcomes;
	size_t len = 0;

	buf[0] = '\0';
	if (report_show_zero_ok(ph))
		len = cell_append(buf, cap, len, "ok=0");
	for (size_t i = 0; i < report_table_len(t); i++)
		len = cell_append(buf, cap, len, "%s%.*s=%lld", len > 0 ? " " : "",
				  (int)sizeof t->label[i], t->label[i], t->count[i]);
	if (len == 0)
		snprintf(buf, cap, "-");
}

/* One table line; "-" where a column means nothing for the phase. */
static void summary_fill(struct summary_row *row, const struct phase_result *ph)
{
	const char *result = ph->broken			    ? "BROKEN"
			     : ph->verdict == VERDICT_MEASURED ? "MEASURED"
			     : ph->passed		    ? "PASS"
							    : "FAIL";

	for (int c = 0; c < N_COLS; c++)
		snprintf(row->cell[c], CELL_MAX, "-");
	snprintf(row->cell[COL_PHASE], CELL_MAX, "%.*s", (int)sizeof ph->name, ph->name);
	snprintf(row->cell[COL_MIGRATED], CELL_MAX, "%s", ph->migrated ? "yes" : "no");
	snprintf(row->cell[COL_MODE], CELL_MAX, "%s", report_phase_mode(ph));
	snprintf(row->cell[COL_RESULT], CELL_MAX, "%s", result);
	format_outcomes(row->cell[COL_OUTCOMES], CELL_MAX, ph);
	if (!ph->has_race)
		return;
	snprintf(row->cell[COL_WORKERS], CELL_MAX, "%d", ph->workers);
	snprintf(row->cell[COL_ROUNDS], CELL_MAX, "%d", ph->rounds);
	if (ph->rows_min >= 0) /* else no round counted rows: "-" */
		snprintf(row->cell[COL_ROWS], CELL_MAX, "%lld..%lld", ph->rows_min, ph->rows_max);
	snprintf(row->cell[COL_DUPS], CELL_MAX, "%lld", ph->rounds_with_duplicates);
	if (ph->latency.count > 0) {
		snprintf(row->cell[COL_P50], CELL_MAX, "%.2f",
			 (double)hist_percentile(&ph->latency, 50.0) / 1000.0);
		snprintf(row->cell[COL_P99], CELL_MAX, "%.2f",
			 (double)hist_percentile(&ph->latency, 99.0) / 1000.0);
	}
}

/* The row's text cells made terminal-safe, so widths count what is shown. */
static void summary_escape(struct summary_row *row)
{
	static const enum summary_col text_cols[] = {COL_PHASE, COL_OUTCOMES};
	char tmp[CELL_MAX];

	for (size_t i = 0; i < sizeof text_cols / sizeof text_cols[0]; i++) {
		char *cell = row->cell[text_cols[i]];
		text_escape(cell, CELL_MAX, tmp, sizeof tmp);
		memcpy(cell, tmp, strlen(tmp) + 1);
	}
}

/* Prints cells padded to width, two spaces apart, no trailing blanks. */
static void summary_print_row(FILE *out, const char *const cells[N_COLS],
			      const size_t width[N_COLS])
{
	fputs("  ", out);
	for (int c = 0; c < N_COLS; c++) {
		const char *sep = c > 0 ? "  " : "";
		int w = (int)width[c];

		if (summary_cols[c].right)
			fprintf(out, "%s%*s", sep, w, cells[c]);
		else if (c == N_COLS - 1)
			fprintf(out, "%s%s", sep, cells[c]);
		else
			fprintf(out, "%s%-*s", sep, w, cells[c]);
	}
	fputc('\n', out);
}

static void summary_table(FILE *out, const struct run_result *r)
{
	struct summary_row row;
	const char *cells[N_COLS];
	size_t width[N_COLS];

	/* Two passes over the phases, widths then lines: no allocation. */
	for (int c = 0; c < N_COLS; c++) {
		cells[c] = summary_cols[c].title;
		width[c] = strlen(cells[c]);
	}
	for (size_t i = 0; i < r->n_phases; i++) {
		summary_fill(&row, &r->phases[i]);
		summary_escape(&row);
		for (int c = 0; c < N_COLS; c++) {
			size_t len = strlen(row.cell[c]);
			if (len > width[c])
				width[c] = len;
		}
	}
	summary_print_row(out, cells, width);
	for (int c = 0; c < N_COLS; c++)
		cells[c] = row.cell[c];
	for (size_t i = 0; i < r->n_phases; i++) {
		summary_fill(&row, &r->phases[i]);
		summary_escape(&row);
		summary_print_row(out, cells, width);
	}
}

/* An interleave phase can run the fire phase's order: 2 to ORDER_MAX_WORKERS
 * workers, every step of each once, within ORDER_MAX_LEN (order_parse). */
static bool interleave_can_replay(const struct phase_result *ph)
{
	if (ph->workers < 2 || ph->workers > ORDER_MAX_WORKERS)
		return false;
	int tokens = 0;
	for (const char *c = ph->fire_order; *c; c++)
		tokens += *c != ' ' && (c == ph->fire_order || c[-1] == ' ');
	if (tokens == 0 || tokens % ph->workers)
		return false;
	struct order o;
	char err[256];
	return order_parse(ph->fire_order, ph->workers, tokens / ph->workers, &o, err, sizeof err);
}

/* Interleave phases: the counts, then the first order that left duplicates,
 * in full. Fire phases: the 95 % bound on the race probability, where it
 * means something (two workers or more, and not every round duplicated),
 * and the first duplicating round's order, to replay where interleave can. */
static void summary_interleave(FILE *out, const struct phase_result *ph)
{
	const struct ilv_summary *s = &ph->ilv;
	if (ph->has_race && ph->mode == MODE_FIRE && !ph->free_run && ph->rounds > 0 &&
	    ph->workers > 1 && ph->rounds_with_duplicates < ph->rounds)
		fprintf(out, "  %s: %lld of %d rounds duplicated: race probability per round <= %.3g "
			     "(95 %% upper bound)\n",
			ph->name, ph->rounds_with_duplicates, ph->rounds, ph->upper95);
	/* a hold round's order is the barrier's: it is in the JSON and the page */
	if (ph->mode == MODE_FIRE && ph->fire_order[0] && interleave_can_replay(ph))
		fprintf(out, "    round %lld sent its steps in the order %s (replay it: orders: [\"%s\"] "
			     "in an interleave phase)\n",
			ph->fire_round, ph->fire_order, ph->fire_order);
	else if (ph->mode == MODE_FIRE && ph->fire_order[0])
		fprintf(out, "    round %lld sent its steps in the order %s\n", ph->fire_round,
			ph->fire_order);
	if (!ph->has_race || ph->mode != MODE_INTERLEAVE)
		return;
	char how[96];
	if (s->listed)
		snprintf(how, sizeof how, "the phase's listed orders");
	else if (s->exhaustive)
		snprintf(how, sizeof how, "every order");
	else
		snprintf(how, sizeof how, "a sample of %zu of %llu%s orders, seed %llu", s->n_orders,
			 (unsigned long long)s->total, s->total == UINT64_MAX ? "+" : "",
			 (unsigned long long)s->seed);
	fprintf(out, "  %s: %lld of %zu orders left duplicates, %lld not executable (%s)\n", ph->name,
		s->with_duplicates, s->n_orders, s->not_executable, how);
	if (s->reduced)
		fprintf(out, "    partial-order reduction: %zu orders run, %zu pruned (each the same as "
			     "a run order of its class)\n",
			s->ran, s->n_orders - s->ran);
	long first = ilv_first_duplicate(s);
	if (first < 0)
		return;
	char text[512], perm[ORDER_MAX_LEN * (ORDER_NAME_LEN + 4) + 16];
	ilv_describe(&s->orders[first], text, sizeof text);
	order_permutation(&s->orders[first].order, (const char(*)[ORDER_NAME_LEN])s->step_names,
			  perm, sizeof perm);
	fprintf(out, "    first: %s\n    as isolation tester steps: %s\n", text, perm);
}

/* The colour of a verdict's line on a terminal ("" when none: not a
 * terminal, or NO_COLOR set, https://no-color.org). */
static const char *summary_colour(FILE *out, enum verdict v)
{
	const char *no = getenv("NO_COLOR");
	if ((no && *no) || !isatty(fileno(out)))
		return "";
	switch (v) {
	case VERDICT_PASS:
		return "\033[32m"; /* green */
	case VERDICT_FAIL:
	case VERDICT_BAD_SCENARIO:
	case VERDICT_ERROR:
		return "\033[31m"; /* red */
	default:
		return "\033[33m"; /* yellow: inconclusive, skipped, measured */
	}
}

/* Ends a coloured line (after its newline: text_line escapes what it writes). */
static void summary_colour_end(FILE *out, const char *colour)
{
	if (*colour)
		fputs("\033[0m", out);
}

void report_summary(FILE *out, const struct run_result *r)
{
	const char *colour = summary_colour(out, r->verdict);
	fputs(colour, out);
	text_line(out, "%.*s (%.*s): %s in %.1f s", (int)sizeof r->scenario, r->scenario,
		  (int)sizeof r->file, r->file, verdict_upper(r->verdict), r->elapsed_s);
	summary_colour_end(out, colour);
	if (r->verdict == VERDICT_SKIPPED) {
		text_line(out, "  skipped: %.*s", (int)sizeof r->skipped, r->skipped);
		return;
	}
	if (r->n_phases > 0)
		summary_table(out, r);
	else
		fputs("  no phase ran\n", out);
	for (size_t i = 0; i < r->n_phases; i++)
		summary_interleave(out, &r->phases[i]);
	for (size_t i = 0; i < r->n_phases; i++) {
		const struct phase_result *ph = &r->phases[i];

		for (size_t j = 0; j < ph->n_expects; j++) {
			const struct expect_result *x = &ph->expects[j];

			if (x->passed)
				continue;
			const char *red = summary_colour(out, VERDICT_FAIL);
			fputs(red, out);
			text_line(out, "  FAIL phase %.*s: expected %.*s, actual %.*s",
				  (int)sizeof ph->name, ph->name, (int)sizeof x->expect, x->expect,
				  (int)sizeof x->actual, x->actual);
			summary_colour_end(out, red);
		}
	}
	if (r->error[0] != '\0')
		text_line(out, "error: %.*s", (int)sizeof r->error, r->error);
	if (!r->complete)
		fputs("run incomplete: not every phase ran\n", out);
}
