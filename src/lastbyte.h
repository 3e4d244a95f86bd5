/* lastbyte.h: last-byte release of a fire round's first statement.
 *
 * At the start line each worker sends its first statement through libpq as
 * usual, but the tail of what libpq writes (the final byte of the last
 * message that runs something, Execute or Query, and the Sync after it) is
 * held back here, so the backend waits in recv for a message it cannot
 * parse yet. At the go one thread writes every worker's tail back to back:
 * the statements start within a few microseconds of each other, instead of
 * a send per worker spread over the loop threads' wake-ups (the web's
 * "single-packet attack", Kettle 2023).
 *
 * How the tail is held: libpq writes through send(2) and keeps no copy of
 * what send accepted, so this module defines send() in pgrace itself (the
 * executable's definition comes first in the dynamic linker's search, ahead
 * of libc's). A thread arms it for one socket (lastbyte_hold); the next
 * send() on that socket writes all but the tail and reports the whole
 * length written; libpq's state (a query in flight, nothing left to send)
 * is exactly as after a full write, and it reads the answer as usual once
 * the tail is out. Every other send() goes straight to the kernel. When
 * the interposition is not in effect (lastbyte_available() false) or the
 * connection is encrypted, fire rounds fall back to the send release. Only
 * a first write that carries the statement's whole messages can hold a
 * tail: a statement libpq writes in chunks (over 64 KiB of parameters) or
 * that the socket takes only in part goes whole, that worker is released
 * by send, and the phase's release.tails does not count it. */
#ifndef PGRACE_LASTBYTE_H
#define PGRACE_LASTBYTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LASTBYTE_MAX 16

/* One connection's held tail. The holder fills it, then sets ready
 * (release); whoever takes ready (exchange) writes it, exactly once. */
struct lastbyte_tail {
	int fd;
	int n;
	unsigned char b[LASTBYTE_MAX];
	atomic_bool ready;
	_Atomic uint64_t written_us; /* when its write was done (clock_us), 0 = not yet */
};

/* True when pgrace's send() is the one libpq calls. */
bool lastbyte_available(void);
/* Where the tail of protocol bytes buf[0..len) begins: the offset of the
 * last byte of the last message that is neither Sync nor Flush; len when
 * buf is not a run of whole messages or the tail would exceed
 * LASTBYTE_MAX (then nothing can be held). Pure. */
size_t lastbyte_split(const unsigned char *buf, size_t len);
/* Arms this thread: its next send() on fd holds the tail into t. */
void lastbyte_hold(struct lastbyte_tail *t, int fd);
/* Disarms this thread; true when t holds a tail (t->ready is then set). */
bool lastbyte_held(struct lastbyte_tail *t);
/* Writes t's tail if it is still to be written (takes ready); false when
 * there was none or the write failed (the connection then fails its
 * answer, and libpq says why). Sets t->written_us. */
bool lastbyte_release(struct lastbyte_tail *t);

#endif
