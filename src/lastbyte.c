/* lastbyte.c: last-byte release of a fire round's first statement
 * (lastbyte.h): the send() libpq calls, the split of its bytes into what
 * goes now and the tail, and the tail's write at the go. */
#define _GNU_SOURCE
#include "lastbyte.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stats.h"

/* This thread's arming: the socket and where its tail goes. */
static _Thread_local struct lastbyte_tail *armed;
static _Thread_local int armed_fd = -1;

ssize_t send(int fd, const void *buf, size_t len, int flags);

bool lastbyte_available(void)
{
	return dlsym(RTLD_DEFAULT, "send") == (void *)send;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t lastbyte_split(const unsigned char *buf, size_t len)
{
	size_t at = 0, split = len;
	while (at < len) {
		if (len - at < 5)
			return len;
		uint32_t n = be32(buf + at + 1);
		if (n < 4 || n > len - at - 1)
			return len;
		size_t end = at + 1 + n;
		if (buf[at] != 'S' && buf[at] != 'H')
			split = end - 1;
		at = end;
	}
	return len - split <= LASTBYTE_MAX ? split : len;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct lastbyte_tail *t = armed;
	if (!t || fd != armed_fd || len == 0)
		return sendto(fd, buf, len, flags, NULL, 0);
	size_t split = lastbyte_split(buf, len);
	armed = NULL; /* only a first write that holds the whole stream may hold its tail */
	armed_fd = -1;
	if (split == len) /* not whole messages (a chunk of a long one): sent whole */
		return sendto(fd, buf, len, flags, NULL, 0);
	size_t sent = 0;
	while (sent < split) {
		ssize_t k = sendto(fd, (const char *)buf + sent, split - sent, flags, NULL, 0);
		if (k < 0)
			return sent ? (ssize_t)sent : k; /* libpq retries the rest (or fails) */
		sent += (size_t)k;
	}
	memcpy(t->b, (const char *)buf + split, len - split);
	t->n = (int)(len - split);
	t->fd = fd;
	return (ssize_t)len;
}

void lastbyte_hold(struct lastbyte_tail *t, int fd)
{
	t->n = 0;
	t->fd = fd;
	atomic_store(&t->ready, false);
	atomic_store(&t->written_us, 0);
	armed = t;
	armed_fd = fd;
}

bool lastbyte_held(struct lastbyte_tail *t)
{
	armed = NULL;
	armed_fd = -1;
	if (t->n == 0)
		return false;
	atomic_store_explicit(&t->ready, true, memory_order_release);
	return true;
}

bool lastbyte_release(struct lastbyte_tail *t)
{
	if (!atomic_exchange_explicit(&t->ready, false, memory_order_acq_rel))
		return false;
	int done = 0;
	uint64_t deadline = clock_us() + 1000000u;
	while (done < t->n) {
		ssize_t k = sendto(t->fd, t->b + done, (size_t)(t->n - done), MSG_NOSIGNAL, NULL, 0);
		if (k > 0) {
			done += (int)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		/* a full socket buffer (never at a start line): wait for room */
		struct pollfd p = {.fd = t->fd, .events = POLLOUT};
		if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || clock_us() >= deadline ||
		    poll(&p, 1, 10) < 0)
			break;
	}
	atomic_store(&t->written_us, clock_us());
	return done == t->n;
}
