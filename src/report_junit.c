/* report_junit.c: the JUnit XML of runs, for CI.
 *
 * A testsuite per run, a testcase per phase. The writer only reads struct
 * run_result and writes to the FILE * it is given: no database, no globals.
 * Text from outside (server messages, file names, constraint names) may be
 * anything: the XML gets well-formed UTF-8 with every invalid byte, and every
 * character XML 1.0 cannot carry, replaced by '?'. Calls text.h (UTF-8
 * decoding) and the verdict names; nothing else. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "text.h"

/* Writes s[0..cap) as XML text, valid in attributes too. Tab, newline and
 * CR become character references (attribute values keep them); every other
 * character XML 1.0 cannot carry at all (its Char production: C0 controls,
 * U+FFFE, U+FFFF; surrogates) and each byte of invalid UTF-8 become '?'. */
static void xml_put(FILE *out, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = 1;

		switch (c) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&apos;", out);
			break;
		case '\t':
			fputs("&#9;", out);
			break;
		case '\n':
			fputs("&#10;", out);
			break;
		case '\r':
			fputs("&#13;", out);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fputc('?', out);
			} else if (c < 0x80) {
				fputc(c, out);
			} else {
				len = text_utf8_len((const unsigned char *)s + i, n - i);
				uint32_t cp = len ? text_utf8_decode((const unsigned char *)s + i, len) : 0;
				if (len == 0 || cp == 0xFFFE || cp == 0xFFFF) {
					fputc('?', out);
					len = len ? len : 1;
				} else {
					fwrite(s + i, 1, len, out);
				}
			}
		}
		i += len;
	}
}

enum case_state { CASE_PASSED, CASE_FAILED, CASE_ERROR };

/* A broken phase is an error (the harness or database, not the constraint);
 * failed expectations are a failure. */
static enum case_state phase_case(const struct phase_result *ph)
{
	if (ph->broken)
		return CASE_ERROR;
	return ph->passed ? CASE_PASSED : CASE_FAILED;
}

/* A run that stopped early, or has an error no broken phase carries, gets a
 * testcase of its own ("setup" when no phase ran), so it never looks green. */
static bool run_extra_case(const struct run_result *r)
{
	if ((r->complete || r->verdict == VERDICT_SKIPPED) && r->error[0] == '\0')
		return false;
	for (size_t i = 0; i < r->n_phases; i++)
		if (r->phases[i].broken)
			return false;
	return true;
}

static void junit_error(FILE *out, const struct run_result *r, const char *fallback)
{
	const char *msg = r->error[0] != '\0' ? r->error : fallback;

	fputs("      <error message=\"", out);
	xml_put(out, msg, sizeof r->error);
	fputs("\">", out);
	xml_put(out, msg, sizeof r->error);
	fputs("</error>\n", out);
}

/* "expected X, actual Y" per failed expectation, one per line. */
static void junit_failed_expects(FILE *out, const struct phase_result *ph)
{
	bool first = true;

	for (size_t i = 0; i < ph->n_expects; i++) {
		const struct expect_result *x = &ph->expects[i];

		if (x->passed)
			continue;
		fputs(first ? "expected " : "&#10;expected ", out);
		xml_put(out, x->expect, sizeof x->expect);
		fputs(", actual ", out);
		xml_put(out, x->actual, sizeof x->actual);
		first = false;
	}
	if (first)
		fputs("phase failed", out);
	long dup = ph->has_race && ph->mode == MODE_INTERLEAVE ? ilv_first_duplicate(&ph->ilv) : -1;
	if (dup >= 0) {
		char text[512];
		ilv_describe(&ph->ilv.orders[dup], text, sizeof text);
		fputs("&#10;first order that left duplicates: ", out);
		xml_put(out, text, sizeof text);
	}
}

static void junit_case_open(FILE *out, const struct run_result *r, const char *name,
			    size_t name_cap, double seconds)
{
	fputs("    <testcase classname=\"pgrace.", out);
	xml_put(out, r->scenario, sizeof r->scenario);
	fputs("\" name=\"", out);
	xml_put(out, name, name_cap);
	fprintf(out, "\" time=\"%.3f\">\n", isfinite(seconds) ? seconds : 0.0);
}

struct junit_counts {
	size_t tests, failures, errors, skipped;
	double seconds;
};

/* Adds r's testcases to c, counted as junit_suite writes them. */
static void junit_count(const struct run_result *r, struct junit_counts *c)
{
	bool extra = run_extra_case(r);

	for (size_t i = 0; i < r->n_phases; i++) {
		enum case_state s = phase_case(&r->phases[i]);

		c->failures += s == CASE_FAILED;
		c->errors += s == CASE_ERROR;
	}
	c->tests += r->n_phases + extra + (r->verdict == VERDICT_SKIPPED);
	c->skipped += r->verdict == VERDICT_SKIPPED;
	c->errors += extra;
	if (isfinite(r->elapsed_s))
		c->seconds += r->elapsed_s;
}

static void junit_suite(FILE *out, const struct run_result *r)
{
	struct junit_counts c = {0};

	junit_count(r, &c);
	fputs("  <testsuite name=\"", out);
	xml_put(out, r->scenario, sizeof r->scenario);
	fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
		c.tests, c.failures, c.errors, c.skipped, c.seconds);
	fputs("    <properties>\n      <property name=\"file\" value=\"", out);
	xml_put(out, r->file, sizeof r->file);
	fprintf(out, "\"/>\n      <property name=\"verdict\" value=\"%s\"/>\n    </properties>\n",
		verdict_name(r->verdict));

	if (r->verdict == VERDICT_SKIPPED) { /* one case, skipped with the reason */
		junit_case_open(out, r, "requires", sizeof "requires", 0.0);
		fputs("      <skipped message=\"", out);
		xml_put(out, r->skipped, sizeof r->skipped);
		fputs("\"/>\n    </testcase>\n", out);
	}
	for (size_t i = 0; i < r->n_phases; i++) {
		const struct phase_result *ph = &r->phases[i];

		junit_case_open(out, r, ph->name, sizeof ph->name, ph->elapsed_s);
		switch (phase_case(ph)) {
		case CASE_PASSED:
			break;
		case CASE_FAILED:
			fputs("      <failure message=\"", out);
			junit_failed_expects(out, ph);
			fputs("\">", out);
			junit_failed_expects(out, ph);
			fputs("</failure>\n", out);
			break;
		case CASE_ERROR:
			junit_error(out, r, "a round could not complete");
			break;
		}
		fputs("    </testcase>\n", out);
	}
	if (run_extra_case(r)) {
		const char *name = r->n_phases == 0 ? "setup" : "run";

		junit_case_open(out, r, name, strlen(name) + 1, 0.0);
		junit_error(out, r, "run incomplete: not every phase ran");
		fputs("    </testcase>\n", out);
	}
	fputs("  </testsuite>\n", out);
}

int report_write_junit(FILE *out, const struct run_result *runs, size_t n)
{
	struct junit_counts c = {0};

	for (size_t i = 0; i < n; i++)
		junit_count(&runs[i], &c);
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	fprintf(out,
		"<testsuites name=\"pgrace\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		"skipped=\"%zu\" time=\"%.3f\">\n",
		c.tests, c.failures, c.errors, c.skipped, c.seconds);
	for (size_t i = 0; i < n; i++)
		junit_suite(out, &runs[i]);
	fputs("</testsuites>\n", out);
	if (fflush(out) != 0 || ferror(out))
		return -1;
	return 0;
}
