/* report_common.h: the reading of a phase the report writers share.
 *
 * Not a public face: only report.c (terminal summary), report_json.c
 * (JSON, HTML) and app_interleave_report.c (app orders) include it, so the table and the document count and name a
 * phase the same way. Pure functions of struct phase_result; they call
 * nothing but mode_name (scenario.h). */
#ifndef PGRACE_REPORT_COMMON_H
#define PGRACE_REPORT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "run.h"

/* Entries of t that hold data: a table claiming more than its slots is
 * clamped, never read past. */
static inline size_t report_table_len(const struct outcome_table *t)
{
	return t->n < OUTCOME_SLOTS ? t->n : OUTCOME_SLOTS;
}

/* True when t has a row labelled label. */
static inline bool report_table_has(const struct outcome_table *t, const char *label)
{
	for (size_t i = 0; i < report_table_len(t); i++)
		if (strncmp(t->label[i], label, sizeof t->label[i]) == 0)
			return true;
	return false;
}

/* A race phase always reports "ok", 0 included: "nobody succeeded" is a
 * result, not a missing field. */
static inline bool report_show_zero_ok(const struct phase_result *ph)
{
	return ph->has_race && !report_table_has(&ph->outcomes, "ok");
}

/* "hold" / "fire" for a race, "free" for a --duration run, "steps" for a
 * phase that only runs steps. */
static inline const char *report_phase_mode(const struct phase_result *ph)
{
	if (!ph->has_race)
		return "steps";
	return ph->free_run ? "free" : mode_name(ph->mode);
}

/* A JSON string of the text in s[0..cap); invalid UTF-8 becomes '?'.
 * NULL only when jansson cannot allocate (report_json.c). */
json_t *report_json_text(const char *s, size_t cap);

#endif
