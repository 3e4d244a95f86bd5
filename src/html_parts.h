/* html_parts.h: what the files of the HTML page share (html.h is its public
 * face): html.c writes the page, html_text.c escapes text and reads the
 * document's fields, html_map.c draws the race map and the outcome bars,
 * html_lane.c the swimlane timelines. Internal to html*.c. */
#ifndef PGRACE_HTML_PARTS_H
#define PGRACE_HTML_PARTS_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Writes s (untrusted, NULL writes nothing) as HTML text, also safe inside a
 * quoted attribute: controls, bidi and noncharacters escaped visibly. */
void html_text(FILE *out, const char *s);
/* printf into a bounded buffer (2 KiB, longer is cut), then html_text. */
__attribute__((format(printf, 2, 3))) void html_textf(FILE *out, const char *fmt, ...);
/* html_text of s line by line, its newlines kept (for <pre>). */
void html_lines(FILE *out, const char *s);
/* The string field key of o, NULL when missing or not a string. */
const char *html_jstr(const json_t *o, const char *key);
/* The number field key of o, NAN when missing or not a number. */
double html_jnum(const json_t *o, const char *key);
/* The field key of o is true. */
bool html_jtrue(const json_t *o, const char *key);
/* v with decimals places, or "-" when v is NAN. */
void html_num(FILE *out, double v, int decimals);

/* Attempts by outcome per phase of run, as stacked bars (nothing when none). */
void html_outcomes_chart(FILE *out, const json_t *run);
/* The race map of run: a column per interleave phase, a cell per order. */
void html_race_map(FILE *out, const json_t *run);
/* Every order of an interleave phase (its "interleave" object), in a
 * <details> list. */
void html_orders_list(FILE *out, const json_t *ilv);
/* The swimlane timeline of a SQL round (first_duplicate_round or
 * first_passing_round) under title; hold: the phase ran in hold mode. */
void html_timeline(FILE *out, const json_t *round, const char *title, bool hold);
/* An app phase's kept rounds (its "app" object). */
void html_app_rounds(FILE *out, const json_t *app);

#endif
