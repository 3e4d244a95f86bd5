/* proxy_int.h: the listener's insides, shared by proxy.c (the relay
 * thread, the connections' state machines, the coordinator's calls) and
 * proxy_step.c (what a framed step is: its class, its log entry, its trip
 * record, whether it is held). Not for any other module: the rest of pgrace
 * sees proxy.h only. */
#ifndef PGRACE_PROXY_INT_H
#define PGRACE_PROXY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pbuf.h"
#include "proxy.h"

#define STARTUP_DEADLINE_US (10u * 1000000u)         /* a client that never speaks */
#define IN_CAP ((size_t)PGWIRE_MAX_MESSAGE + 65536u) /* unframed bytes a side may queue */
#define MAX_NAMES 32 /* prepared statement names remembered per connection */

enum pc_state {
	PC_STARTUP, /* reading the client's start-up packet (after any SSLRequest) */
	PC_AUTH,    /* relaying authentication until the first ReadyForQuery */
	PC_IDLE,    /* no step in flight: the next one is framed, then held or sent */
	PC_HELD,    /* a step framed and held at a hold point */
	PC_OPEN,    /* a step sent up to a Flush: the rest of it follows to its Sync */
	PC_BUSY,    /* a step sent: waiting for its ReadyForQuery */
	PC_CANCEL,  /* a forwarded CancelRequest: closes when the server does */
};

enum ep_kind { EP_LISTENER, EP_WAKE, EP_CLIENT, EP_SERVER };

struct endpoint {
	enum ep_kind kind;
	int worker;      /* EP_LISTENER */
	struct pconn *c; /* EP_CLIENT, EP_SERVER */
};

struct stmt_name {
	char name[64];
	enum pgwire_sql_class cls;
	char *sql; /* its text, for the step log (PROXY_HOLD_STEPS); malloc'd */
};

struct pconn {
	struct proxy *p;
	int worker;
	long long round;
	int cfd, sfd;
	bool s_connecting;
	bool c_writing, s_writing; /* EPOLLOUT asked for on the client's, the server's socket */
	struct endpoint cep, sep;
	enum pc_state state;
	bool ssl_asked;
	bool bye;     /* the client sent Terminate: a close that follows is its own */
	bool refused; /* conn_bad: the listener closes it over a protocol error */
	uint32_t pid;
	size_t step_end; /* bytes of cin framed into the step so far */
	enum pgwire_sql_class step_class;
	bool step_classed;
	long long hold_gen;       /* the worker's release count when it was held */
	enum pc_state after_hold; /* PC_BUSY, or PC_OPEN for a step held at a Flush */
	struct stmt_name names[MAX_NAMES];
	int n_names;
	int log_at;    /* its step in the worker's log, -1 when none */
	bool txn_points; /* its transaction sent an interleaving point */
	uint64_t accepted_us;
	int idx;  /* its place among its worker's connections of the round */
	int trip; /* the step in flight's index in the view's trips, -1 none */
	struct pbuf cin, sout, sin, cout;
	struct pconn *next;
};

struct proxy {
	int workers;
	int *lfd, *ports;
	struct endpoint *lep, wake_ep;
	int epfd, wakefd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* under mu */
	bool stop;
	long long round, version, seen;
	unsigned *policy;
	bool *fire_pending;
	long long *release_gen;
	struct proxy_view *views;
	struct pconn *conns;
	struct steplog *log; /* once PROXY_HOLD_STEPS was armed */
};

/* c's worker's view when c belongs to the round being watched, else NULL. */
struct proxy_view *pconn_view(struct pconn *c);
/* The class a Bind's statement name was prepared with (data when unknown). */
enum pgwire_sql_class pconn_name_class(const struct pconn *c, const char *name);
/* Remembers a Parse's statement name, its class and (logging) its SQL. */
void pconn_name_remember(struct pconn *c, const char *name, enum pgwire_sql_class cls, const char *sql);
/* Under PROXY_HOLD_STEPS, logs the framed step (c->log_at); -1 when not logged. */
int pconn_step_log(struct pconn *c);
/* The log entry of c's step in flight, or NULL. */
struct proxy_step *pconn_logged_step(struct pconn *c);
/* Adds a statement's class to the step's: COMMIT wins, then the first non-housekeeping. */
void pconn_step_add_class(struct pconn *c, enum pgwire_sql_class cls);
/* Whether the framed step (its log entry logged, -1 none) stops at the worker's policy. */
bool pconn_should_hold(struct pconn *c, int logged);
/* The step in flight's trip record, NULL when none is kept. */
struct proxy_trip *pconn_trip_of(struct pconn *c);
/* A step came in whole (held or not): its trip record begins. */
void pconn_trip_begin(struct pconn *c, bool held);

#endif
