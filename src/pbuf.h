/* pbuf.h: a growable byte buffer with a pending window, and the
 * non-blocking socket reads and writes of the protocol listener (proxy.c).
 *
 * data[off..len) is pending: bytes received and not yet framed, or framed
 * and not yet written. Growth has no cap of its own: the caller refuses a
 * peer whose pending bytes pass its limit. Allocation failure aborts. */
#ifndef PGRACE_PBUF_H
#define PGRACE_PBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pbuf {
	uint8_t *data;
	size_t len, cap, off; /* data[off..len) is pending */
};

/* Room for more bytes after the pending ones (compacting first). */
void pbuf_reserve(struct pbuf *b, size_t more);
/* Appends n bytes. */
void pbuf_put(struct pbuf *b, const void *data, size_t n);
/* Bytes pending. */
size_t pbuf_pending(const struct pbuf *b);
/* The first pending byte. */
const uint8_t *pbuf_at(const struct pbuf *b);
/* Moves the first n pending bytes of from to the end of to. */
void pbuf_move(struct pbuf *from, struct pbuf *to, size_t n);
/* Frees b's memory and empties it. */
void pbuf_free(struct pbuf *b);
/* Writes what is pending to the non-blocking socket fd (none when fd < 0)
 * until it would block; false on a broken socket. */
bool pbuf_send(int fd, struct pbuf *b);
/* One read of what fd has into b (the listener's epoll set is
 * level-triggered: what is left wakes it again); false at end of stream or
 * on an error. */
bool pbuf_recv(int fd, struct pbuf *b);

#endif
