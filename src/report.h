/* report.h: what a run tells people and tools (report.c, report_json.c,
 * report_junit.c).
 *
 * The terminal summary for people; JSON (schema in README "Results") and
 * JUnit XML for CI. Writers take data and a FILE *: no database, no globals. */
#ifndef PGRACE_REPORT_H
#define PGRACE_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "run.h"

/* Human summary: per phase rounds, rows per key, outcomes, verdict; failed
 * expectations as expected vs actual. */
void report_summary(FILE *out, const struct run_result *r);
/* JSON: one run is the document itself; several are {"verdict", "runs": [...]}
 * (returns 0, -1 on write error). */
int report_write_json(FILE *out, const struct run_result *runs, size_t n);
/* JUnit XML: a testsuite per run, a testcase per phase (returns 0, -1 on write error). */
int report_write_junit(FILE *out, const struct run_result *runs, size_t n);
/* The self-contained HTML page of the same document (html.h; returns 0, -1 on write error). */
int report_write_html(FILE *out, const struct run_result *runs, size_t n);

#endif
