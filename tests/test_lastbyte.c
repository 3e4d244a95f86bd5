/* test_lastbyte.c: lastbyte_split (src/lastbyte.c), which decides what of
 * libpq's bytes goes out ahead and what is held for the go, table by
 * table; and that pgrace's send() is the one the dynamic linker hands out. */
#include <criterion/criterion.h>

#include <string.h>

#include "lastbyte.h"

/* A message: type, 32-bit length (itself included), body. */
static size_t msg(unsigned char *out, char type, const char *body, size_t blen)
{
	uint32_t n = (uint32_t)blen + 4;
	out[0] = (unsigned char)type;
	out[1] = (unsigned char)(n >> 24);
	out[2] = (unsigned char)(n >> 16);
	out[3] = (unsigned char)(n >> 8);
	out[4] = (unsigned char)n;
	memcpy(out + 5, body, blen);
	return 5 + blen;
}

Test(lastbyte, split_table)
{
	unsigned char buf[256];
	size_t len = 0, bind_end, exec_end;
	/* PQsendQueryPrepared: Bind, Describe, Execute, Sync: the tail is
	 * Execute's last byte and the Sync. */
	static const char bind[18] = {0, 's', '1', 0, 0, 0, 0, 1, 0, 0, 0, 1, '7', 0, 0, 0, 0, 0};
	len += msg(buf + len, 'B', bind, sizeof bind);
	bind_end = len;
	len += msg(buf + len, 'D', "P\0", 2);
	len += msg(buf + len, 'E', "\0\0\0\0\0", 5);
	exec_end = len;
	len += msg(buf + len, 'S', "", 0);
	cr_expect_eq(lastbyte_split(buf, len), exec_end - 1);
	cr_expect_eq(len - lastbyte_split(buf, len), 6u, "Execute's last byte and the Sync");
	/* without the Sync: Execute's last byte alone */
	cr_expect_eq(lastbyte_split(buf, exec_end), exec_end - 1);
	/* Bind alone: its last byte */
	cr_expect_eq(lastbyte_split(buf, bind_end), bind_end - 1);
	/* a simple Query: its terminating NUL */
	size_t q = msg(buf, 'Q', "SELECT 1\0", 9);
	cr_expect_eq(lastbyte_split(buf, q), q - 1);
	/* a Sync or Flush alone runs nothing: nothing to hold */
	size_t s = msg(buf, 'S', "", 0);
	cr_expect_eq(lastbyte_split(buf, s), s);
	s = msg(buf, 'H', "", 0);
	cr_expect_eq(lastbyte_split(buf, s), s);
}

Test(lastbyte, not_messages_hold_nothing)
{
	unsigned char buf[64];
	size_t q = msg(buf, 'Q', "SELECT 1\0", 9);
	cr_expect_eq(lastbyte_split(buf, q - 1), q - 1, "a message cut short");
	cr_expect_eq(lastbyte_split(buf, 3), 3u, "shorter than a header");
	cr_expect_eq(lastbyte_split(buf, 0), 0u);
	buf[1] = buf[2] = buf[3] = buf[4] = 0; /* length 0 < 4 */
	cr_expect_eq(lastbyte_split(buf, q), q, "a length below its own four bytes");
	/* a tail longer than LASTBYTE_MAX: the Execute and many Syncs */
	size_t len = msg(buf, 'E', "\0\0\0\0\0", 5);
	for (int i = 0; i < 4; i++)
		len += msg(buf + len, 'S', "", 0);
	cr_expect_eq(lastbyte_split(buf, len), len);
}

Test(lastbyte, interposition_in_effect)
{
	cr_expect(lastbyte_available(), "libpq would call libc's send(), not pgrace's");
}
