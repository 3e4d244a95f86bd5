/* pbuf.c: the listener's byte buffers and their socket I/O (pbuf.h). */
#include "pbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "mem.h"

#define READ_CHUNK 65536

void pbuf_reserve(struct pbuf *b, size_t more)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + more <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 8192;
	while (cap < b->len + more)
		cap *= 2;
	b->data = mem_realloc(b->data, cap);
	b->cap = cap;
}

void pbuf_put(struct pbuf *b, const void *data, size_t n)
{
	pbuf_reserve(b, n);
	memcpy(b->data + b->len, data, n);
	b->len += n;
}

size_t pbuf_pending(const struct pbuf *b)
{
	return b->len - b->off;
}

const uint8_t *pbuf_at(const struct pbuf *b)
{
	return b->data + b->off;
}

/* Moves n pending bytes of from into to. */
void pbuf_move(struct pbuf *from, struct pbuf *to, size_t n)
{
	pbuf_put(to, pbuf_at(from), n);
	from->off += n;
}

void pbuf_free(struct pbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* Writes what is pending for fd; false on a broken socket. */
bool pbuf_send(int fd, struct pbuf *b)
{
	while (fd >= 0 && pbuf_pending(b) > 0) {
		ssize_t n = send(fd, pbuf_at(b), pbuf_pending(b), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN;
		}
		b->off += (size_t)n;
	}
	return true;
}

/* Reads what fd has into b, one read per readiness (the epoll set is
 * level-triggered: what is left wakes it again); false at end of stream or
 * on an error. */
bool pbuf_recv(int fd, struct pbuf *b)
{
	for (;;) {
		pbuf_reserve(b, READ_CHUNK);
		ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, 0);
		if (n > 0) {
			b->len += (size_t)n;
			return true;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
}
