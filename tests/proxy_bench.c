/* proxy_bench.c: what the protocol listener (proxy.h) adds to a round trip.
 *
 * proxy_bench [ROUND_TRIPS]: opens the listener in this process towards the
 * PG* server, connects once directly and once through it, prepares the same
 * statement on both (as pgbench -M prepared does) and alternates one
 * round trip on each, ROUND_TRIPS times (default 20000), so both see the
 * same machine at the same moment. Prints the p50, p90 and p99 of each in
 * microseconds and the differences. Not a test: timings are never
 * asserted (docs/performance.md quotes its output).
 * proxy_bench --serve SECONDS: prints the listener's port, then relays for
 * SECONDS, so another client (pgbench, psql) can be measured through it. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"
#include "stats.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, long n, double q)
{
	long i = (long)(q * (double)(n - 1));
	return v[i];
}

static bool prepare(PGconn *c)
{
	PGresult *r = PQprepare(c, "b", "SELECT $1::int + 1", 1, NULL);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

static bool round_trip(PGconn *c, uint64_t *us)
{
	const char *v[1] = {"41"};
	uint64_t t0 = clock_us();
	PGresult *r = PQexecPrepared(c, "b", 1, v, NULL, NULL, 0);
	*us = clock_us() - t0;
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok;
}

int main(int argc, char **argv)
{
	char err[256], dsn[128];
	int rc = 1;
	if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
		long s = strtol(argv[2], NULL, 10);
		struct proxy *p = proxy_open(getenv("PGHOST"), getenv("PGPORT"), 1, err, sizeof err);
		if (!p || s < 1 || s > 3600) {
			fprintf(stderr, "proxy_bench: %s\n", p ? "SECONDS: 1 to 3600" : err);
			proxy_close(p);
			return 2;
		}
		proxy_arm(p, PROXY_HOLD_NONE);
		printf("%d\n", proxy_port(p, 0));
		fflush(stdout);
		sleep((unsigned)s);
		proxy_close(p);
		return 0;
	}
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	if (n < 100 || n > 10000000) {
		fprintf(stderr, "usage: proxy_bench [ROUND_TRIPS: 100 to 10000000]\n");
		return 2;
	}
	struct proxy *p = proxy_open(getenv("PGHOST"), getenv("PGPORT"), 1, err, sizeof err);
	if (!p) {
		fprintf(stderr, "proxy_bench: %s\n", err);
		return 1;
	}
	proxy_arm(p, PROXY_HOLD_NONE);
	snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d", proxy_port(p, 0));
	PGconn *direct = PQconnectdb(""), *through = PQconnectdb(dsn);
	uint64_t *d = calloc((size_t)n, sizeof *d), *t = calloc((size_t)n, sizeof *t);
	if (!d || !t || PQstatus(direct) != CONNECTION_OK || PQstatus(through) != CONNECTION_OK ||
	    !prepare(direct) || !prepare(through)) {
		fprintf(stderr, "proxy_bench: cannot connect: %s%s\n", PQerrorMessage(direct),
			PQerrorMessage(through));
		goto out;
	}
	for (long i = 0; i < n; i++)
		if (!round_trip(direct, &d[i]) || !round_trip(through, &t[i])) {
			fprintf(stderr, "proxy_bench: a round trip failed\n");
			goto out;
		}
	qsort(d, (size_t)n, sizeof *d, cmp_u64);
	qsort(t, (size_t)n, sizeof *t, cmp_u64);
	printf("round trips: %ld each, alternating; direct over %s\n", n,
	       PQhost(direct)[0] == '/' ? "a unix socket" : "TCP");
	printf("%-8s %8s %8s %8s\n", "us", "p50", "p90", "p99");
	printf("%-8s %8llu %8llu %8llu\n", "direct", (unsigned long long)pct(d, n, .5),
	       (unsigned long long)pct(d, n, .9), (unsigned long long)pct(d, n, .99));
	printf("%-8s %8llu %8llu %8llu\n", "through", (unsigned long long)pct(t, n, .5),
	       (unsigned long long)pct(t, n, .9), (unsigned long long)pct(t, n, .99));
	printf("%-8s %8lld %8lld %8lld\n", "added", (long long)pct(t, n, .5) - (long long)pct(d, n, .5),
	       (long long)pct(t, n, .9) - (long long)pct(d, n, .9),
	       (long long)pct(t, n, .99) - (long long)pct(d, n, .99));
	rc = 0;
out:
	free(d);
	free(t);
	PQfinish(direct);
	PQfinish(through);
	proxy_close(p);
	return rc;
}
