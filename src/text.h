/* text.h: UTF-8 validation and terminal-safe text, for every module.
 *
 * Text from outside pgrace (file names, YAML scalars, SQL, server messages)
 * may hold anything. One validator (RFC 3629: shortest form only, no
 * surrogates, nothing above U+10FFFF) serves the loader, which refuses
 * invalid UTF-8, and the JSON and XML writers, which replace it. One escaper
 * serves every line a person reads (the terminal summary, stdout and stderr
 * messages): nothing a terminal would act on gets through raw.
 *
 * Escapes, so the text stays readable and one line: \n \r \t; \xHH for the
 * other C0 controls, DEL and every byte that is not well-formed UTF-8; \uHHHH
 * for the C1 controls (U+0080-U+009F) and Unicode's bidi controls (U+061C,
 * U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which can reorder what a
 * terminal shows. Everything else, other UTF-8 included, is copied as is.
 * Pure: no allocation except in text_line, no globals. */
#ifndef PGRACE_TEXT_H
#define PGRACE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1-4) of the well-formed UTF-8 sequence at s, which has n > 0 bytes
 * available; 0 when s does not start one. */
size_t text_utf8_len(const unsigned char *s, size_t n);
/* The code point of the well-formed sequence of len bytes at s (len from text_utf8_len). */
uint32_t text_utf8_decode(const unsigned char *s, size_t len);
/* True for a code point a terminal acts on or reorders by: C0, DEL, C1, bidi controls. */
bool text_is_control(uint32_t cp);
/* Writes the terminal-safe form of s (up to cap bytes or its NUL) into out
 * (outlen > 0), cut at a whole character or escape; always NUL-terminated.
 * Returns out. */
char *text_escape(const char *s, size_t cap, char *out, size_t outlen);
/* Writes the terminal-safe form of s (up to cap bytes or its NUL) to f. */
void text_put(FILE *f, const char *s, size_t cap);
/* printf-style text, written terminal-safe to f, then a newline: one line
 * for a person, whatever the arguments hold. */
__attribute__((format(printf, 2, 3))) void text_line(FILE *f, const char *fmt, ...);

#endif
