/* text.c: UTF-8 validation and terminal-safe text (contract in text.h). */
#include "text.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

size_t text_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (s[0] == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

uint32_t text_utf8_decode(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = s[0] & lead_mask[len];
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3fu);
	return cp;
}

bool text_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Where escaped text goes: a buffer (cut at a whole piece) or a FILE. */
struct sink {
	FILE *f;
	char *out;
	size_t outlen, len;
	bool full;
};

static void sink_put(struct sink *k, const char *piece, size_t n)
{
	if (k->f) {
		fwrite(piece, 1, n, k->f);
		return;
	}
	if (k->full || k->len + n >= k->outlen) {
		k->full = true;
		return;
	}
	memcpy(k->out + k->len, piece, n);
	k->len += n;
}

static void escape_to(struct sink *k, const char *s, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strnlen(s, cap);

	for (size_t i = 0; i < n && !k->full;) {
		size_t len = text_utf8_len(u + i, n - i);
		char esc[8];
		if (len == 0) {
			esc[0] = '\\', esc[1] = 'x', esc[2] = hex[u[i] >> 4], esc[3] = hex[u[i] & 15];
			sink_put(k, esc, 4);
			i++;
			continue;
		}
		uint32_t cp = text_utf8_decode(u + i, len);
		if (!text_is_control(cp)) {
			sink_put(k, s + i, len);
		} else if (cp == '\n' || cp == '\r' || cp == '\t') {
			esc[0] = '\\', esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
			sink_put(k, esc, 2);
		} else if (cp < 0x80) {
			esc[0] = '\\', esc[1] = 'x', esc[2] = hex[cp >> 4], esc[3] = hex[cp & 15];
			sink_put(k, esc, 4);
		} else {
			esc[0] = '\\', esc[1] = 'u';
			for (int d = 0; d < 4; d++)
				esc[2 + d] = hex[(cp >> (12 - 4 * d)) & 15];
			sink_put(k, esc, 6);
		}
		i += len;
	}
}

char *text_escape(const char *s, size_t cap, char *out, size_t outlen)
{
	struct sink k = {.out = out, .outlen = outlen};
	escape_to(&k, s, cap);
	out[k.len] = '\0';
	return out;
}

void text_put(FILE *f, const char *s, size_t cap)
{
	struct sink k = {.f = f};
	escape_to(&k, s, cap);
}

void text_line(FILE *f, const char *fmt, ...)
{
	char small[2048], *buf = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			abort();
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	text_put(f, buf, (size_t)n);
	fputc('\n', f);
	if (buf != small)
		free(buf);
}
