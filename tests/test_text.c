/* test_text.c: the UTF-8 validator and the terminal escaper.
 *
 * Tables of byte strings with the sequence length the validator must find,
 * and of texts with the terminal-safe form they must become. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

TestSuite(text, .timeout = 10);

#define B(s) s, sizeof s - 1

Test(text, utf8_len)
{
	static const struct {
		const char *bytes;
		size_t n;
		size_t want;
	} cases[] = {
		{B("a"), 1},
		{B("\x7f"), 1},
		{B("\x00"), 1},
		{B("\xc3\xa9"), 2},           /* é */
		{B("\xc2\x80"), 2},           /* U+0080, the first C1 control */
		{B("\xe2\x82\xac"), 3},       /* € */
		{B("\xed\x9f\xbf"), 3},       /* U+D7FF, just below the surrogates */
		{B("\xef\xbf\xbf"), 3},       /* U+FFFF */
		{B("\xf0\x9f\x90\x98"), 4},   /* an elephant */
		{B("\xf4\x8f\xbf\xbf"), 4},   /* U+10FFFF, the last */
		{B("\x80"), 0},               /* a lone continuation byte */
		{B("\xbf"), 0},
		{B("\xc0\xaf"), 0},           /* overlong '/' */
		{B("\xc1\xbf"), 0},
		{B("\xe0\x80\xaf"), 0},       /* overlong, 3 bytes */
		{B("\xe0\x9f\xbf"), 0},
		{B("\xf0\x80\x80\xaf"), 0},   /* overlong, 4 bytes */
		{B("\xf0\x8f\xbf\xbf"), 0},
		{B("\xed\xa0\x80"), 0},       /* a surrogate */
		{B("\xed\xbf\xbf"), 0},
		{B("\xf4\x90\x80\x80"), 0},   /* above U+10FFFF */
		{B("\xf5\x80\x80\x80"), 0},
		{B("\xff"), 0},
		{B("\xe2\x82"), 0},           /* cut short */
		{B("\xf0\x9f\x90"), 0},
		{B("\xe2\x28\xa1"), 0},       /* a bad continuation */
		{B("\xf0\x9f\x28\x98"), 0},
		{B("\xc3"), 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t got = text_utf8_len((const unsigned char *)cases[i].bytes, cases[i].n);
		cr_expect_eq(got, cases[i].want, "case %zu: %zu, want %zu", i, got, cases[i].want);
	}
}

Test(text, utf8_decode)
{
	static const struct {
		const char *bytes;
		size_t n;
		uint32_t cp;
	} cases[] = {
		{B("A"), 0x41},         {B("\xc3\xa9"), 0xe9},         {B("\xc2\x9b"), 0x9b},
		{B("\xe2\x80\xae"), 0x202e}, {B("\xe2\x81\xa9"), 0x2069}, {B("\xf4\x8f\xbf\xbf"), 0x10ffff},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(text_utf8_decode((const unsigned char *)cases[i].bytes, cases[i].n),
			     cases[i].cp, "case %zu", i);
}

Test(text, controls)
{
	static const struct {
		uint32_t cp;
		bool control;
	} cases[] = {
		{0x00, true},    {0x07, true},    {0x1b, true},    {0x1f, true},    {0x20, false},
		{0x7e, false},   {0x7f, true},    {0x80, true},    {0x9b, true},    {0x9f, true},
		{0xa0, false},   {0xe9, false},   {0x061b, false}, {0x061c, true},  {0x200d, false},
		{0x200e, true},  {0x200f, true},  {0x2029, false}, {0x202a, true},  {0x202e, true},
		{0x202f, false}, {0x2065, false}, {0x2066, true},  {0x2069, true},  {0x206a, false},
		{0x1f418, false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(text_is_control(cases[i].cp), cases[i].control, "U+%04X",
			     (unsigned)cases[i].cp);
}

static const struct escape_case {
	const char *in;
	const char *want;
} escape_cases[] = {
	{"", ""},
	{"plain text, 42 % \\ \"quoted\"", "plain text, 42 % \\ \"quoted\""},
	{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98"},
	{"\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07"}, /* clear screen, set title */
	{"a\nb\rc\td", "a\\nb\\rc\\td"},
	{"del\x7f", "del\\x7f"},
	{"\x01\x1f", "\\x01\\x1f"},
	{"c1 \xc2\x9b" "31m \xc2\x85", "c1 \\u009b31m \\u0085"}, /* CSI, NEL */
	{"user\xe2\x80\xae" "gpj.exe", "user\\u202egpj.exe"},   /* right-to-left override */
	{"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d"},
	{"\xe2\x81\xa6x\xe2\x81\xa7y\xe2\x81\xa8z\xe2\x81\xa9", "\\u2066x\\u2067y\\u2068z\\u2069"},
	{"\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c"},
	{"\xe2\x80\x8d\xe2\x80\xaf", "\xe2\x80\x8d\xe2\x80\xaf"}, /* ZWJ, narrow nbsp: kept */
	{"bad \xff byte", "bad \\xff byte"},
	{"cut \xe2\x82", "cut \\xe2\\x82"},
	{"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
	{"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
};

#define N_ESCAPE (sizeof escape_cases / sizeof escape_cases[0])

Test(text, escape_into_a_buffer)
{
	for (size_t i = 0; i < N_ESCAPE; i++) {
		char out[256];
		memset(out, 'z', sizeof out);
		char *r = text_escape(escape_cases[i].in, 1000, out, sizeof out);
		cr_expect_eq(r, out);
		cr_expect_str_eq(out, escape_cases[i].want, "case %zu", i);
	}
}

Test(text, escape_to_a_file)
{
	for (size_t i = 0; i < N_ESCAPE; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		cr_assert_not_null(f);
		text_put(f, escape_cases[i].in, 1000);
		cr_assert_eq(fclose(f), 0);
		cr_expect_str_eq(buf, escape_cases[i].want, "case %zu", i);
		free(buf);
	}
}

/* A short buffer cuts before the first piece that does not fit: never half
 * an escape, never half a character, never past outlen. */
Test(text, escape_cuts_at_a_whole_piece)
{
	static const struct {
		const char *in;
		size_t outlen;
		const char *want;
	} cases[] = {
		{"abc", 1, ""},
		{"abc", 3, "ab"},
		{"abc", 4, "abc"},
		{"ab\x1b", 5, "ab"},         /* "\x1b" needs 4 more */
		{"ab\x1b", 7, "ab\\x1b"},
		{"a\xc3\xa9", 3, "a"},       /* é needs 2 */
		{"a\xe2\x80\xae", 6, "a"},   /* \u202e needs 6 */
		{"a\xe2\x80\xae" "b", 8, "a\\u202e"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[16];
		memset(out, 'z', sizeof out);
		text_escape(cases[i].in, 100, out, cases[i].outlen);
		cr_expect_str_eq(out, cases[i].want, "case %zu", i);
		cr_expect_eq(out[cases[i].outlen], 'z', "case %zu: wrote past outlen", i);
	}
}

/* cap bounds the input: a fixed-size field need not be NUL-terminated. */
Test(text, escape_reads_at_most_cap)
{
	const char field[4] = {'a', '\x1b', 'c', 'd'};
	char out[32];
	text_escape(field, 2, out, sizeof out);
	cr_expect_str_eq(out, "a\\x1b");
	text_escape(field, sizeof field, out, sizeof out);
	cr_expect_str_eq(out, "a\\x1bcd");
	text_escape("\xe2\x80\xae", 2, out, sizeof out); /* a character cut by cap is bytes */
	cr_expect_str_eq(out, "\\xe2\\x80");
}

Test(text, line_is_one_safe_line)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	text_line(f, "pgrace: %s:%d: %s", "a\x1b[31m.yaml", 3, "two\nlines");
	char *big = malloc(5001);
	cr_assert_not_null(big);
	memset(big, 'x', 5000);
	big[4999] = '\x07';
	big[5000] = '\0';
	text_line(f, "%s", big); /* longer than text_line's own buffer */
	cr_assert_eq(fclose(f), 0);
	const char *want = "pgrace: a\\x1b[31m.yaml:3: two\\nlines\n";
	cr_expect_eq(strncmp(buf, want, strlen(want)), 0, "%s", buf);
	cr_expect_eq(len, strlen(want) + 4999 + 4 + 1, "%zu", len);
	cr_expect_eq(strncmp(buf + len - 5, "\\x07\n", 5), 0);
	cr_expect_null(memchr(buf, '\x1b', len));
	cr_expect_null(memchr(buf, '\x07', len));
	free(big);
	free(buf);
}
