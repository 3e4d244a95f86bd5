/* netaddr.h: the sockets of pgrace's protocol listener (proxy.c): where the
 * real server is, and a listening socket on 127.0.0.1. Plain socket calls,
 * no state of their own. */
#ifndef PGRACE_NETADDR_H
#define PGRACE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The server's address for host (a name or address, or a unix-socket
 * folder when it starts with '/'; NULL or "": /var/run/postgresql) and port
 * (NULL or "": 5432) into *addr and *len; false with err when it cannot be
 * resolved or the socket path is too long. */
bool netaddr_server(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len,
		    char *err, size_t errlen);
/* A non-blocking listening TCP socket on 127.0.0.1 on an ephemeral port:
 * its fd into *fd (-1 when none was made) and its port into *port; false
 * with err on failure (the caller closes *fd when it is not -1). */
bool netaddr_listen_loopback(int *fd, int *port, char *err, size_t errlen);

#endif
