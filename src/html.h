/* html.h: one self-contained HTML page of a run's result document.
 *
 * Rendered from the JSON of report.h (one run, or {"verdict", "runs"}), so
 * `pgrace run --html` and `pgrace report` share it. No script, no fetch:
 * inline CSS and SVG only; every string escaped. */
#ifndef PGRACE_HTML_H
#define PGRACE_HTML_H

#include <stdio.h>

#include <jansson.h>

/* Writes the page of doc to out (returns 0, -1 on write error). */
int html_write(FILE *out, const json_t *doc);

#endif
