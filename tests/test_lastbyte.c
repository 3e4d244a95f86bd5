/* test_lastbyte.c: lastbyte_split (src/lastbyte.c), which decides what of
 * libpq's bytes goes out ahead and what is held for the go, table by
 * table; and that pgrace's send() is the one the dynamic linker hands out. */
#include <criterion/criterion.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* The send() libpq calls, on a socket pair: armed, a whole Query goes out
 * but its last byte, which lastbyte_release writes once; a write that is
 * not whole messages goes whole and disarms (a later one holds nothing). */
Test(lastbyte, send_holds_then_releases)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	unsigned char q[64], got[64];
	size_t n = msg(q, 'Q', "SELECT 1\0", 9);
	struct lastbyte_tail t;
	memset(&t, 0, sizeof t);
	lastbyte_hold(&t, sv[0]);
	cr_expect_eq(send(sv[0], q, n, 0), (ssize_t)n, "send reports the whole length");
	cr_expect(lastbyte_held(&t));
	cr_expect_eq(t.n, 1);
	cr_expect_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), (ssize_t)(n - 1));
	cr_expect(lastbyte_release(&t));
	cr_expect(atomic_load(&t.written_us) > 0);
	cr_expect_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), 1);
	cr_expect_eq(got[0], q[n - 1]);
	cr_expect(!lastbyte_release(&t), "a tail is written once");

	/* a chunk that is not whole messages: whole, and the arming is gone */
	lastbyte_hold(&t, sv[0]);
	cr_expect_eq(send(sv[0], q, n - 3, 0), (ssize_t)(n - 3));
	cr_expect_eq(send(sv[0], q, n, 0), (ssize_t)n);
	cr_expect(!lastbyte_held(&t));
	cr_expect_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), (ssize_t)(2 * n - 3));
	/* another socket than the armed one is not touched */
	lastbyte_hold(&t, sv[1]);
	cr_expect_eq(send(sv[0], q, n, 0), (ssize_t)n);
	cr_expect(!lastbyte_held(&t));
	cr_expect_eq(recv(sv[1], got, sizeof got, MSG_DONTWAIT), (ssize_t)n);
	close(sv[0]);
	close(sv[1]);
}
