/* proxy.h: pgrace's own PostgreSQL-protocol listener, between an
 * application's processes and the real server.
 *
 * One listener per worker on 127.0.0.1 (ephemeral ports): a connection's
 * worker is the port it came in on, so every connection an app opens is
 * known to be its worker's. One thread relays both directions of every
 * connection on an epoll loop, non-blocking, framing each message
 * (pgwire.h): SSLRequest and GSSENCRequest are answered 'N' (an app that
 * insists on TLS then hangs up, and the worker's view says so), start-up
 * and authentication (SCRAM included) pass untouched, a CancelRequest is
 * forwarded to the server on a connection of its own. From the server it
 * reads BackendKeyData (the backend pid, for the lock view),
 * ReadyForQuery's transaction status, and each ErrorResponse's SQLSTATE and
 * constraint. Each step's arrival, relay and answer times go into the
 * worker's view too (trips), for the report's timeline.
 *
 * A step is one round trip: a Query, or an extended-protocol batch up to
 * Sync (Parse/Bind/Describe/Execute...; a Flush sends what came so far and
 * the step goes on to its Sync). A connection sends one step at a time: the
 * next waits for the previous one's ReadyForQuery (COPY data passes while
 * the step runs). Before sending a step the proxy asks the worker's hold
 * policy; a held step waits, with its bytes, until proxy_release(). The
 * policy flags are the hold points of hold and fire mode, and of an
 * interleaving that pauses every step.
 *
 * Thread-safe: the coordinator (any other thread) reads a worker's view,
 * sets policies and releases holds under the proxy's mutex, and waits on
 * its condition for a change; the relay thread never waits on it. */
#ifndef PGRACE_PROXY_H
#define PGRACE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appstep.h"
#include "pgwire.h"

#define PROXY_MAX_PIDS 64   /* open connections' backend pids a view lists per worker */
#define PROXY_MAX_ERRORS 16 /* errors remembered per worker per round */
#define PROXY_MAX_LOG 256   /* steps logged per worker per round (PROXY_HOLD_STEPS) */
#define PROXY_MAX_TRIPS 32  /* last steps remembered per worker per round, for the report */

/* Where a worker's steps stop (flags). */
enum proxy_hold {
	PROXY_HOLD_NONE = 0,
	PROXY_HOLD_FIRST = 1,  /* the first data step (pgwire_sql_class DATA) after proxy_arm(): once */
	PROXY_HOLD_COMMIT = 2, /* every step whose SQL commits (COMMIT, END) */
	PROXY_HOLD_EVERY = 4,  /* every step */
	PROXY_HOLD_STEPS = 8,  /* every interleaving point (appstep.h); and every step is
				  described in the worker's log (proxy_step) */
};

/* One step a worker sent, as the log of PROXY_HOLD_STEPS keeps it. */
struct proxy_step {
	long long seq;          /* order among every worker's logged steps of the round */
	long long sent_seq;     /* ... in which they went to the server (-1: never) */
	int conn;               /* the worker's connection (0 for its first) */
	bool held;              /* it was held (an interleaving point) */
	bool sent;              /* it went to the server */
	bool done;              /* its ReadyForQuery came back */
	struct appstep_desc d;  /* its SQL, parameters, kind */
	char tag[64];           /* its last CommandComplete tag ("INSERT 0 1"), "" when none */
	char sqlstate[6];       /* the error it got, "" when none */
	char constraint[64];    /* ... and the constraint that names */
};

/* One error a worker's connection got from the server. */
struct proxy_error {
	char sqlstate[6];
	char constraint[64];
};

/* One step of a worker's connections as the listener saw it, for the
 * report's timeline (clock_us() times, 0: not yet). */
struct proxy_trip {
	uint64_t in_us;            /* the step came in whole from the app */
	uint64_t sent_us;          /* relayed to the server (after in_us when held) */
	uint64_t done_us;          /* its ReadyForQuery came back */
	enum pgwire_sql_class cls; /* what it does (COMMIT wins, as for holds) */
	int conn;                  /* the worker's connection it came on, from 0 in accept order */
	bool held;                 /* held at a hold point */
	bool failed;               /* the server answered it with an error */
	int error;                 /* that error's index in errors[], -1 when not kept */
};

/* What the coordinator sees of a worker (proxy_view). */
struct proxy_view {
	int connections;                  /* accepted since proxy_arm(), start-up packets or not */
	int started;                      /* of which sent a StartupMessage */
	int open;                         /* still open now */
	int held;                         /* connections holding a step now */
	int holds;                        /* steps held since proxy_arm() */
	enum pgwire_sql_class held_class; /* the class of a held step */
	bool tls_refused;                 /* a connection asked for TLS, got 'N' and hung up */
	int steps;                        /* steps sent to the server since proxy_arm() */
	int n_busy;                       /* connections with a step at the server now */
	int logged;                       /* steps in its log (PROXY_HOLD_STEPS) */
	bool log_full;                    /* more than PROXY_MAX_LOG steps: the rest not logged */
	int answers;                      /* of which answered (their ReadyForQuery came) */
	uint64_t released_us;             /* clock_us() the first released step was written */
	int releases;                     /* held steps released and written since proxy_arm() */
	uint64_t settle_us;               /* clock_us() a step of it was last sent or held */
	int n_pids;
	uint32_t pids[PROXY_MAX_PIDS]; /* backend pids of its open connections */
	bool busy[PROXY_MAX_PIDS];  /* that connection's step is at the server now */
	int pids_left_out;          /* open connections with a pid beyond PROXY_MAX_PIDS */
	int lost;                   /* connections lost mid-way since proxy_arm() (lost_why) */
	char lost_why[200];         /* the first: the server closed it, the listener did, or
				     * its client hung up while a step of it was held */
	int n_errors;                  /* errors since proxy_arm() (the first PROXY_MAX_ERRORS kept) */
	struct proxy_error errors[PROXY_MAX_ERRORS];
	char bad[160]; /* the last protocol error that closed a connection, or "" */
	uint64_t armed_us; /* when proxy_arm() started the round (clock_us()) */
	int n_trips; /* steps since proxy_arm(); the last PROXY_MAX_TRIPS kept, step i in
			trips[i % PROXY_MAX_TRIPS] */
	struct proxy_trip trips[PROXY_MAX_TRIPS];
};

struct proxy; /* opaque */

/* Opens workers listeners on 127.0.0.1 relaying to the server at host
 * (a name or address, or a unix-socket folder when it starts with '/') and
 * port, and starts the relay thread; NULL with err on failure. */
struct proxy *proxy_open(const char *host, const char *port, int workers, char *err, size_t errlen);
/* The TCP port worker's listener took. */
int proxy_port(const struct proxy *p, int worker);
/* Starts a round: closes every connection left from the last one, clears
 * every worker's view, and sets each worker's hold policy (flags). */
void proxy_arm(struct proxy *p, unsigned flags);
/* Sets worker's hold policy (flags) from now on; a held step stays held. */
void proxy_set_policy(struct proxy *p, int worker, unsigned flags);
/* Copies worker's view into *v. */
void proxy_view(struct proxy *p, int worker, struct proxy_view *v);
/* Copies step i (0-based, below the view's logged) of worker's log into
 * *out; false when there is no such step. */
bool proxy_step(struct proxy *p, int worker, int i, struct proxy_step *out);
/* Sends every step worker holds. */
void proxy_release(struct proxy *p, int worker);
/* Sends every step the workers w with which[w] hold, in one sweep of the
 * relay thread (their writes back to back). */
void proxy_release_set(struct proxy *p, const bool *which);
/* Waits until something changes in any view, or until deadline_us
 * (clock_us() time); false at the deadline. */
bool proxy_wait(struct proxy *p, uint64_t deadline_us);
/* Closes every connection, stops the thread, frees p (NULL is fine). */
void proxy_close(struct proxy *p);

#endif
