/* worker.h: one racing worker as an explicit state machine.
 *
 * A worker is not a thread: it is a `struct worker` and one function,
 * worker_advance(), that an event moves from one `enum wstate` to the next
 * (the shape of pgbench's advanceConnectionState). Its whole life reads top
 * to bottom in that function's one switch. It never touches a socket: what
 * it sends goes through the `struct worker_io` its engine gives it (evloop.c
 * sends on libpq connections; tests/test_worker.c records the sends and
 * feeds answers back without a server), and what the server answers comes
 * back as events. It calls attempt (what an attempt's SQL and answers
 * mean), key (a free run's fresh keys) and outcome/stats (its own counters,
 * merged after the round); nothing else.
 *
 * A flow worker's attempt is a sequence: BEGIN (0), the flow's statements
 * (1..n), COMMIT (n + 1). A batch is one of them, or in pipeline mode a run
 * of them (worker_batch_next says where a batch must end).
 *
 * An application worker (kind WK_APP, app.c) is the other kind: its
 * statements come from an external process through pgrace's listener
 * (proxy.h), not from a flow, so nothing here sends them. Its states
 * (WS_APP_*) follow what its engine sees of the process and its
 * connections, fed as events: started, connected, held at the mode's hold
 * point, blocked on a peer, released, exited; a process that exits before
 * connecting (it bypassed the listener), a connection lost mid-way, a hold
 * its process gave up on and a process killed at its deadline break the
 * round (wfault says which, the engine words the message). Its view is the
 * coordinator's, as a flow worker's: the same release rule (coord_rule)
 * decides for both kinds.
 */
#ifndef PGRACE_WORKER_H
#define PGRACE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"
#include "key.h"
#include "lastbyte.h"
#include "order.h"
#include "outcome.h"
#include "scenario.h"
#include "stats.h"

/* Where a worker stands. */
enum wstate {
	WS_IDLE,         /* nothing in flight, nothing awaited: done for this generation */
	WS_PREPARING,    /* a flow statement's PREPARE in flight (first attempt of a connection) */
	WS_BEGINNING,    /* a round's BEGIN in flight, before the start line */
	WS_START_LINE,   /* BEGIN done: waiting for the go */
	WS_ARMED,        /* fire, last-byte release: the first statement sent but its tail; waiting for the go */
	WS_RUNNING,      /* a batch of the attempt in flight (BEGIN, statements, COMMIT) */
	WS_HELD,         /* hold mode: the statements are done, waiting for the commit */
	WS_ROLLING_BACK, /* a statement failed: its ROLLBACK in flight */
	WS_BACKOFF,      /* pausing before a retry (40001, 40P01) */
	/* application workers */
	WS_APP_STARTING,    /* its process runs, no connection through the listener yet */
	WS_APP_RUNNING,     /* connected: its statements pass (or it works between them) */
	WS_APP_HELD_FIRST,  /* fire: its first data statement held, waiting for the go */
	WS_APP_HELD_COMMIT, /* hold: a COMMIT (or END) of it held, waiting for the release */
	WS_APP_BLOCKED,     /* each statement of it at the server waits on a peer's lock */
	WS_APP_RELEASED,    /* its held statement released, no answer seen since */
	WS_APP_EXITED,      /* its process ended: done for this round */
};

/* What moves a worker on. */
enum wevent {
	WE_START,    /* a new generation (a round, or a free run when free_run is set) */
	WE_ANSWER,   /* every answer of the batch in flight is in (items[].res) */
	WE_LOST,     /* the connection failed: the batch's items say why */
	WE_BLOCKED,  /* the statement in flight waits on a lock (the server says so) */
	WE_GO,       /* the coordinator's go: released from the start line */
	WE_RELEASED, /* the coordinator released the commits */
	WE_TIMER,    /* the backoff pause is over */
	WE_DEADLINE, /* the deadline, a signal or the end of the race, while waiting at a line */
	/* application workers (WE_START: its process started; WE_ANSWER: a
	 * statement of it was answered since the last look; WE_LOST: one of its
	 * connections was lost, app_note says how; WE_DEADLINE: its process was
	 * killed at its deadline) */
	WE_CONNECTED, /* a connection of it started through the listener */
	WE_HELD,      /* the listener holds a statement of it at the mode's hold point */
	WE_EXITED,    /* its process ended */
};

/* Which kind of worker. */
enum wkind { WK_FLOW, WK_APP };

/* Why an application worker broke its round. */
enum wfault {
	WF_NONE,
	WF_NEVER_CONNECTED, /* its process ended without connecting through the listener */
	WF_LOST,            /* a connection of it was lost mid-way (app_note) */
	WF_DEADLINE,        /* still running at its deadline: killed */
	WF_UNRELEASED,      /* its process ended while a statement of it was held */
};

/* What the coordinator sees of a worker (atomic `view`). */
enum wview { WV_IDLE, WV_RUNNING, WV_HELD, WV_FINISHED };

/* One statement of a batch. */
enum item_kind { IT_PREPARE, IT_BEGIN, IT_STMT, IT_COMMIT, IT_ROLLBACK };

struct item {
	enum item_kind kind;
	int idx;                   /* IT_STMT and IT_PREPARE: the flow step */
	bool ended;                /* the I/O layer: its answer left no transaction open */
	uint64_t sent_us, done_us; /* when it was sent and its answer was in */
	struct db_result res;
};

struct worker;

/* How a worker reaches its connection: the engine's, never the worker's own
 * code. */
struct worker_io {
	/* Sends items[0..n_items) as one batch (a sync after them in pipeline
	 * mode); false when that failed (each item's res says why). */
	bool (*send)(struct worker *w);
	/* Wakes the worker with WE_TIMER or a deadline check at or after at_us. */
	void (*arm)(struct worker *w, uint64_t at_us);
	/* Turns pipeline mode on or off; false when the connection refused. */
	bool (*pipeline)(struct worker *w, bool on);
	/* Behind a pooler: the backend pid the round's transaction runs on. */
	void (*backend_pid)(struct worker *w, int pid);
	/* Last-byte release: writes the tail send held back (w->hold_tail),
	 * unless the coordinator has written it already. */
	void (*release)(struct worker *w);
};

/* What every worker of a race shares, read-only while a generation runs. */
struct worker_env {
	const struct scenario *sc;
	const struct race_cfg *cfg;
	const struct worker_io *io;
	const char *begin_sql[2]; /* [0] cfg isolation, [1] READ COMMITTED (attempt_begin_sql) */
	bool pooler;              /* keep no session state: nothing prepared */
	bool can_pipeline;        /* free runs may pipeline this flow */
	bool last_byte;           /* fire rounds arm their first statement (lastbyte.h) */
	/* free runs */
	bool free_hot;
	long long free_base; /* round of the first free key */
	uint64_t free_until; /* clock_us() end, 0 = until free_stop */
	atomic_bool *free_stop;
};

/* The I/O layer's handle on one of a worker's connections. */
struct worker_slot {
	struct worker *w;
	int t; /* 0: conn, else tconn[t] */
	bool watched, want_write;
};

struct worker {
	const struct worker_env *env;
	void *loop; /* the I/O layer's */
	enum wkind kind;
	int id;
	int key; /* index of the key it races on */
	enum isolation iso;
	enum wstate state;
	atomic_int view; /* enum wview, for the coordinator */
	/* connections: the I/O layer's */
	PGconn *conn;
	PGconn *tconn[TARGETS_MAX]; /* [t >= 1]: target t's, for steps on: it */
	struct worker_slot slot[TARGETS_MAX];
	int bt;    /* the target the batch in flight runs on (0: conn) */
	int pid;   /* backend pid */
	bool dead; /* the connection failed while idle; dead_res says how */
	struct db_result dead_res;
	bool pipeline;     /* in pipeline mode (a free run that allows it) */
	bool hold_tail;    /* the batch's send holds its tail back (WS_ARMED) */
	struct lastbyte_tail tail; /* the I/O layer's: what it held back */
	bool cancelled;    /* the batch was cancelled (its answering item says why) */
	bool cancel_sent;  /* a cancel went to its backend this phase: not kept (connpool.h) */
	uint64_t grace_us; /* after a cancel: when to give up on the answer */
	/* the batch in flight */
	struct item *items; /* [n_flow + 2] */
	int n_items, cur;   /* items sent; the one whose results come in */
	/* the generation */
	bool free_run;
	bool ready;           /* this round's start line was reached (or it finished) */
	bool done;            /* finished this generation */
	bool blocked;         /* WE_BLOCKED: the statement in flight was seen waiting on a lock */
	uint64_t deadline_us; /* for this worker's queries: the round's, or the free attempt's */
	uint64_t wake_us;     /* WS_BACKOFF: when to try again */
	const char *const *round_params; /* a round's key as this worker spells it (set at WE_START) */
	/* the attempt */
	const char *const *params;
	int tries;
	bool skipped;
	uint64_t t0;            /* the attempt's start, for its latency */
	struct db_result final; /* a failed statement's result, while ROLLBACK runs */
	uint64_t first_send_us;
	struct order_event begin; /* this try's BEGIN (step -1): send and answer; sent_us 0 when none */
	struct order_event steps[ORDER_MAX_LEN]; /* this try's steps: send and completion */
	int n_steps;
	struct step_end step_end; /* this try's failed step: what it ended in ("" while none) */
	_Atomic uint64_t settle_us; /* hold round: when it last sent or reached the commit line */
	bool prepare_tried;         /* the flow was prepared (or tried) on this connection */
	bool prepared;
	long long free_attempts;
	char where[48];         /* where the last try failed: "flow step 2", "COMMIT" */
	int where_line;         /* its scenario line, 0 for COMMIT */
	unsigned long long rng; /* retry jitter */
	bool broken;            /* this generation could not complete */
	bool bad;               /* ... through the scenario's fault (why names file:line) */
	char why[384];
	struct key_values free_key;
	/* an application worker's round */
	enum wfault fault;
	int app_connections; /* connections it started through the listener */
	int app_holds;       /* statements of it held */
	char app_note[200];  /* WE_LOST: what its engine saw */
	/* counters: the worker's own until merged */
	long long attempts, retries;
	struct outcome_table outcomes, constraints;
	struct hist latency;
} __attribute__((aligned(64)));

/* Sets w up as worker id of env, racing on key index key at isolation iso;
 * allocates its items (worker_free releases them). w is zeroed memory
 * (calloc'd or freshly mapped): only the fields with other values are
 * written, so the pages of counters it never uses stay untouched. */
void worker_init(struct worker *w, const struct worker_env *env, int id, int key, enum isolation iso);
/* worker_init for an application worker (kind WK_APP): its states are
 * WS_APP_*, its flow none. */
void worker_init_app(struct worker *w, const struct worker_env *env, int id, int key);
/* Releases what worker_init allocated (not the connections). */
void worker_free(struct worker *w);
/* Readies w for a new generation, before WE_START: a free run or a round,
 * the deadline of its queries and waits, and (a round) its key's params. */
void worker_reset(struct worker *w, bool free_run, uint64_t deadline_us, const char *const *round_params);
/* Moves w on by event ev; returns its new state. An event a state does not
 * wait for leaves it where it is. */
enum wstate worker_advance(struct worker *w, enum wevent ev);
/* A batch is in flight in state s (its queries have deadlines). */
bool worker_in_flight(enum wstate s);
/* The name of state s, for messages and tests. */
const char *worker_state_name(enum wstate s);
/* The name of event ev. */
const char *worker_event_name(enum wevent ev);

#endif
