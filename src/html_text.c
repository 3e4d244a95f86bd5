/* html_text.c: what every part of the HTML page writes text with.
 *
 * Every string of the result document is untrusted (scenario names, SQL,
 * server messages, command output): html_text() first makes it
 * terminal-safe (text.h: control and bidi characters become visible
 * escapes, invalid UTF-8 \xHH; noncharacters such as U+FFFE, an HTML parse
 * error, \ufffe too) and then escapes & < > " ' for HTML, so it can be
 * neither markup nor a reordering of the page's text. The jansson readers
 * beside it return NULL or NAN for a missing field, so a document from an
 * older or a hand-edited result still renders. */
#include "html_parts.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Writes s as HTML text (also safe inside a quoted attribute). */
void html_text(FILE *out, const char *s)
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
			fputs("&#39;", out);
			break;
		default:
			fputc(*p, out);
		}
	}
	free(safe);
}

/* printf into a bounded buffer, then html_text: for formatted untrusted text. */
void html_textf(FILE *out, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	html_text(out, buf);
}

const char *html_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A number field, NAN when missing or null. */
double html_jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

bool html_jtrue(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* v with decimals places, or "-" when missing. */
void html_num(FILE *out, double v, int decimals)
{
	if (isnan(v))
		fputs("-", out);
	else
		fprintf(out, "%.*f", decimals, v);
}

/* html_text of s line by line, its newlines kept (for <pre>). */
void html_lines(FILE *out, const char *s)
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
