/* netaddr.c: the listener's sockets (netaddr.h): the server's address
 * resolved once, and a listening socket on 127.0.0.1. */
#include "netaddr.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

bool netaddr_server(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *len,
		    char *err, size_t errlen)
{
	if (!host || !*host)
		host = "/var/run/postgresql";
	if (!port || !*port)
		port = "5432";
	if (host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)addr;
		un->sun_family = AF_UNIX;
		int n = snprintf(un->sun_path, sizeof un->sun_path, "%s/.s.PGSQL.%s", host, port);
		if (n < 0 || (size_t)n >= sizeof un->sun_path) {
			snprintf(err, errlen, "socket path %s/.s.PGSQL.%s is too long", host, port);
			return false;
		}
		*len = sizeof *un;
		return true;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "cannot resolve the server %s:%s: %s", host, port,
			 gai_strerror(rc));
		return false;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

bool netaddr_listen_loopback(int *fd, int *port, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(*fd, 64) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &l) != 0) {
		snprintf(err, errlen, "cannot listen on 127.0.0.1: %s", strerror(errno));
		return false;
	}
	*port = ntohs(a.sin_port);
	return true;
}
