/* proxy_net.h: the listener's sockets: where the server is, and a loopback
 * port for each worker (proxy.h). */
#ifndef PGRACE_PROXY_NET_H
#define PGRACE_PROXY_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The server at host (a name or address, or a unix-socket folder when it
 * starts with '/'; NULL or "": /var/run/postgresql) and port (NULL or "":
 * 5432) into *addr and *len; false with err. */
bool proxy_net_resolve(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len,
		       char *err, size_t errlen);
/* A non-blocking listening socket on 127.0.0.1, an ephemeral port (into
 * *port); -1 with err. */
int proxy_net_listen(int *port, char *err, size_t errlen);

#endif
