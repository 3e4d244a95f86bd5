/* interleave.c: the single-threaded coordinator of interleave mode (which
 * orders it runs, and how their results read: interleave_plan.c).
 *
 * One connection per worker plus a monitor, all driven from this thread;
 * nothing is shared, so nothing is locked. Per order: BEGIN everywhere, then
 * the order's steps one at a time (send, then drive() until the step has
 * finished or is blocked), then whatever is still pending, then the rows
 * query. */
#include "interleave.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "db.h"
#include "order.h"
#include "footprint.h"
#include "key.h"
#include "lockview.h"
#include "vlog.h"

/* How long a step may run before the lock view is asked whether it waits:
 * 1 ms after it was sent, then twice as long each time the answer is no, up
 * to the isolation tester's 10 ms. A step that waits on a lock is seen within
 * a millisecond or two; a step that runs long costs a question every 10 ms. */
#define POLL_FIRST_MS 1
#define POLL_MAX_MS 10

enum flow_state { FLOW_ACTIVE, FLOW_SKIPPED, FLOW_FAILED };

struct ilv_conn {
	PGconn *c;
	int pid;
	bool prepared;          /* the flow is prepared (attempt_prepare) */
	/* this order */
	enum flow_state flow;
	bool pending;           /* a step was sent and has not finished */
	int pending_pos, pending_step;
	bool waited;            /* the pending step was seen blocked */
	unsigned blockers;      /* who blocked the pending step, when last asked */
	struct db_result res;
};

struct ilv {
	const struct scenario *sc;
	const struct race_cfg *cfg;
	int k;
	struct ilv_conn w[ORDER_MAX_WORKERS];
	PGconn *monitor;
	const struct lockview *view; /* how the engine says who waits on whom */
	char pids[ORDER_MAX_WORKERS * 12 + 3]; /* "{pid,pid}" */
	char begin[2][192];      /* [0] the phase's isolation, [1] READ COMMITTED */
	bool pooler;             /* no session state: see ilv_run() */
	const char *schema;
	bool prepare_tried;
	struct key_values key[ORDER_MAX_WORKERS]; /* this order's key as each worker spells it */
	struct ilv_order *out;   /* the order being run */
	uint64_t deadline;
	struct ilv_time *time;   /* where the phase's time goes */
	char *err;
	size_t errlen;
};

enum drive_status { DRIVE_OK, DRIVE_STUCK, DRIVE_BROKEN, DRIVE_INTERRUPTED, DRIVE_BAD };

__attribute__((format(printf, 2, 3))) static enum drive_status fail(struct ilv *il,
								    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(il->err, il->errlen, fmt, ap);
	va_end(ap);
	return db_stop_requested() ? DRIVE_INTERRUPTED : DRIVE_BROKEN;
}

/* A step's result is in: record it for the order. */
static enum drive_status finish_step(struct ilv *il, int i)
{
	struct ilv_conn *w = &il->w[i];
	struct ilv_order *o = il->out;
	const struct db_result *r = &w->res;
	int pos = w->pending_pos, step = w->pending_step;
	bool commit = step == (int)il->sc->n_flow;
	char text[320];
	w->pending = false;
	if (r->status != DB_OK && r->status != DB_ERROR)
		return fail(il, "worker %c (backend pid %d), step %c%d: %s", 'a' + i, w->pid, 'a' + i,
			    step + 1, db_result_text(r, text, sizeof text));
	struct ilv_worker *ow = &o->w[i];
	if (r->status == DB_ERROR) {
		struct attempt_outcome ao;
		attempt_classify(r, false, &ao);
		o->status[pos] = ILV_FAILED;
		snprintf(ow->outcome, sizeof ow->outcome, "%s", ao.name);
		snprintf(ow->constraint, sizeof ow->constraint, "%s", ao.constraint);
		snprintf(ow->message, sizeof ow->message, "%s", ao.message);
		ow->error_step = step + 1;
		w->flow = FLOW_FAILED;
		return DRIVE_OK;
	}
	o->status[pos] = w->waited ? ILV_WAITED : ILV_RAN;
	if (commit) {
		if (w->flow != FLOW_FAILED) {
			struct attempt_outcome ao;
			attempt_classify(r, w->flow == FLOW_SKIPPED, &ao);
			snprintf(ow->outcome, sizeof ow->outcome, "%s", ao.name);
		}
	} else if (il->sc->flow[step].skip_if_found && r->rows > 0) {
		w->flow = FLOW_SKIPPED;
	}
	return DRIVE_OK;
}

/* Reads every pending step's results; counts those still running. */
static enum drive_status collect(struct ilv *il, int *running)
{
	*running = 0;
	for (int i = 0; i < il->k; i++) {
		struct ilv_conn *w = &il->w[i];
		if (!w->pending)
			continue;
		if (!db_poll(w->c, &w->res)) {
			(*running)++;
			continue;
		}
		enum drive_status st = finish_step(il, i);
		if (st != DRIVE_OK)
			return st;
	}
	return DRIVE_OK;
}

/* Asks the server which workers wait on a lock held by another worker of
 * the round, and on whom: blocked[i] is the bit set of i's blockers (0 when
 * i is not blocked). */
static enum drive_status ask_blocked(struct ilv *il, unsigned blocked[ORDER_MAX_WORKERS])
{
	const char *params[1] = {il->pids};
	struct db_result r;
	char text[320];
	memset(blocked, 0, sizeof(unsigned) * ORDER_MAX_WORKERS);
	uint64_t t0 = clock_us();
	db_query(il->monitor, il->view->waits_among_peers, 1, params, il->deadline, &r);
	il->time->detect_us += clock_us() - t0;
	il->time->lock_queries++;
	if (r.status != DB_OK)
		return fail(il, "asking the server about lock waits: %s",
			    db_result_text(&r, text, sizeof text));
	if (r.rows != 1)
		return fail(il, "asking the server about lock waits: %lld rows, expected 1", r.rows);
	/* "2:1 3:12": worker 2 waits on worker 1, worker 3 on 1 and 2 (1-based). */
	for (const char *p = r.first_value; *p;) {
		while (*p == ' ')
			p++;
		char *end;
		long i = strtol(p, &end, 10);
		if (end == p || *end != ':' || i < 1 || i > il->k)
			return fail(il, "asking the server about lock waits: unexpected answer \"%s\"",
				    r.first_value);
		unsigned set = 0;
		for (p = end + 1; *p >= '1' && *p <= '0' + il->k; p++)
			set |= 1u << (*p - '1');
		/* Blocked, by a worker the blockers' list no longer names: still blocked. */
		blocked[i - 1] = set ? set : 1u << ORDER_MAX_WORKERS;
		if (*p && *p != ' ')
			return fail(il, "asking the server about lock waits: unexpected answer \"%s\"",
				    r.first_value);
	}
	return DRIVE_OK;
}

/* Does a cycle of lock waits lie on the path from worker from? The server's
 * deadlock detector ends such a cycle by itself; a chain that ends in an
 * idle worker lasts until that worker's next step. */
static bool cycle_ahead(const unsigned blocked[ORDER_MAX_WORKERS], int k, int from)
{
	unsigned reach[ORDER_MAX_WORKERS];
	for (int i = 0; i < k; i++)
		reach[i] = blocked[i];
	for (int m = 0; m < k; m++) /* transitive closure: four nodes at most */
		for (int i = 0; i < k; i++)
			if (reach[i] & (1u << m))
				reach[i] |= reach[m];
	unsigned ahead = reach[from] | (1u << from);
	for (int j = 0; j < k; j++)
		if ((ahead & (1u << j)) && (reach[j] & (1u << j)))
			return true;
	return false;
}

/* Waits for pending steps. need -1: until every pending step has finished or
 * is blocked by another worker; need >= 0: until worker need's step has
 * finished (DRIVE_STUCK when it cannot without a later step of the order);
 * need -2: until nothing is pending. */
static enum drive_status drive(struct ilv *il, int need)
{
	int wait_ms = POLL_FIRST_MS;
	for (;;) {
		int running;
		enum drive_status st = collect(il, &running);
		if (st != DRIVE_OK)
			return st;
		if (need >= 0 ? !il->w[need].pending : running == 0)
			return DRIVE_OK;
		if (db_stop_requested())
			return fail(il, "%s", db_stop_text());
		if (clock_us() >= il->deadline)
			return fail(il, "round deadline of %d ms passed with a step still running",
				    il->cfg->deadline_ms);
		struct pollfd pfd[ORDER_MAX_WORKERS];
		int n = 0;
		for (int i = 0; i < il->k; i++)
			if (il->w[i].pending)
				pfd[n++] = (struct pollfd){.fd = PQsocket(il->w[i].c), .events = POLLIN};
		if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
			return fail(il, "poll: %s", strerror(errno));
		wait_ms = wait_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : wait_ms * 2;
		st = collect(il, &running);
		if (st != DRIVE_OK)
			return st;
		if (need >= 0 ? !il->w[need].pending : running == 0)
			return DRIVE_OK;
		unsigned blocked[ORDER_MAX_WORKERS];
		st = ask_blocked(il, blocked);
		if (st != DRIVE_OK)
			return st;
		bool all_blocked = true;
		for (int i = 0; i < il->k; i++) {
			struct ilv_conn *w = &il->w[i];
			if (!w->pending)
				continue;
			if (!blocked[i]) {
				all_blocked = false;
				continue;
			}
			w->waited = true;
			w->blockers = blocked[i];
			il->out->w[i].blocked_by |= blocked[i];
		}
		if (!all_blocked)
			continue;
		if (need == -1)
			return DRIVE_OK;
		if (need >= 0 && !cycle_ahead(blocked, il->k, need))
			return DRIVE_STUCK;
		/* need -2 with everything blocked and no cycle cannot last: a
		 * blocker is pending, so it is blocked too; keep asking until the
		 * deadlock detector or the deadline ends it. */
	}
}

/* Waits until every pending step has its result or until is passed. */
static void drain(struct ilv *il, uint64_t until)
{
	for (int i = 0; i < il->k; i++) {
		struct ilv_conn *w = &il->w[i];
		while (w->pending && clock_us() < until) {
			if (db_poll(w->c, &w->res)) {
				w->pending = false;
				break;
			}
			struct pollfd pfd = {.fd = PQsocket(w->c), .events = POLLIN};
			if (pfd.fd < 0 || (poll(&pfd, 1, POLL_MAX_MS) < 0 && errno != EINTR))
				break;
		}
	}
}

/* Rolls back worker i's transaction when it has one and nothing is pending
 * on it (ROLLBACK never waits on a lock). */
static void roll_back(struct ilv *il, int i)
{
	struct ilv_conn *w = &il->w[i];
	struct db_result r;
	if (!w->pending && PQstatus(w->c) == CONNECTION_OK &&
	    PQtransactionStatus(w->c) != PQTRANS_IDLE)
		db_query_cleanup(w->c, "ROLLBACK", clock_us() + 3000000u, &r);
}

/* Ends every open transaction of the round, soft: without a cancel. Each
 * worker with nothing pending rolls back, which releases the locks pending
 * steps wait on; a step that then finishes (or fails) leaves its worker
 * idle in a transaction, which rolls back in turn and releases what the
 * next waits on, until nothing is pending. A chain of waits thus ends in as
 * many round trips as it has links; a cycle ends by the server's deadlock
 * detector. No cancel request is sent, so none can land on a later order's
 * statement (libpq's cancel is delivered asynchronously). Only a step still
 * pending after 3 s (a wait on a session outside the round) is cancelled.
 * The stop flag does not cut the ROLLBACKs short. */
static void abandon_soft(struct ilv *il)
{
	uint64_t until = clock_us() + 3000000u;
	for (;;) {
		int pending = 0;
		for (int i = 0; i < il->k; i++) {
			struct ilv_conn *w = &il->w[i];
			if (w->pending && db_poll(w->c, &w->res))
				w->pending = false;
			roll_back(il, i);
			pending += w->pending;
		}
		if (!pending || clock_us() >= until)
			break;
		struct pollfd pfd[ORDER_MAX_WORKERS];
		int n = 0;
		for (int i = 0; i < il->k; i++)
			if (il->w[i].pending && PQsocket(il->w[i].c) >= 0)
				pfd[n++] = (struct pollfd){.fd = PQsocket(il->w[i].c), .events = POLLIN};
		if (poll(pfd, (nfds_t)n, POLL_MAX_MS) < 0 && errno != EINTR)
			break;
	}
}

/* Ends every open transaction of the round: soft (abandon_soft) first unless
 * hard (deadline, signal, lost connection: every pending step is cancelled at
 * once); whatever is still pending then is cancelled, drained and rolled
 * back. */
static void abandon(struct ilv *il, bool hard)
{
	if (!hard)
		abandon_soft(il);
	bool cancelled = false;
	for (int i = 0; i < il->k; i++)
		if (il->w[i].pending) {
			db_cancel(il->w[i].c);
			il->time->cancels++;
			cancelled = true;
		}
	if (cancelled)
		drain(il, clock_us() + 3000000u);
	for (int i = 0; i < il->k; i++) {
		il->w[i].pending = false;
		roll_back(il, i);
	}
}

/* Sends step (0-based) of worker i: a flow statement or COMMIT. */
static enum drive_status send_step(struct ilv *il, int i, int step, int pos)
{
	struct ilv_conn *w = &il->w[i];
	const struct scenario *sc = il->sc;
	bool ok;
	char text[320];
	if (step == (int)sc->n_flow)
		ok = attempt_send_sql(w->c, attempt_stop_sql(true), &w->res);
	else
		ok = attempt_send_step(w->c, sc, step, w->prepared, il->key[i].ptr, &w->res);
	if (!ok)
		return fail(il, "worker %c (backend pid %d): could not send step %c%d: %s", 'a' + i,
			    w->pid, 'a' + i, step + 1, db_result_text(&w->res, text, sizeof text));
	w->pending = true;
	w->pending_pos = pos;
	w->pending_step = step;
	w->waited = false;
	w->blockers = 0;
	return DRIVE_OK;
}

/* Prepares the flow once per connection, on the first order (after the
 * phase's steps: a migration may have changed the tables). A statement the
 * server refuses goes unprepared, so its error shows in the orders. */
static enum drive_status prepare(struct ilv *il)
{
	if (il->prepare_tried || il->pooler)
		return DRIVE_OK;
	il->prepare_tried = true;
	for (int i = 0; i < il->k; i++) {
		struct ilv_conn *w = &il->w[i];
		w->prepared = true;
		for (size_t j = 0; w->prepared && j < il->sc->n_flow; j++) {
			char text[320];
			struct db_result r;
			attempt_prepare(w->c, il->sc, (int)j, il->deadline, &r);
			if (r.status != DB_OK && r.status != DB_ERROR)
				return fail(il, "worker %c: could not prepare the flow: %s", 'a' + i,
					    db_result_text(&r, text, sizeof text));
			w->prepared = r.status == DB_OK;
		}
	}
	return DRIVE_OK;
}

/* Rows for the order's key, through the scenario's rows query: one row, one
 * integer, or the round is broken. */
static enum drive_status count_rows(struct ilv *il, long long *rows)
{
	struct db_result r;
	const char *pooled = il->pooler ? il->schema : NULL;
	if (!attempt_rows_open(il->monitor, pooled, il->deadline, il->err, il->errlen))
		return db_stop_requested() ? DRIVE_INTERRUPTED : DRIVE_BROKEN;
	enum attempt_rows_status st = attempt_rows(il->monitor, il->sc, il->key[0].ptr, il->deadline, NULL,
						   rows, &r, il->err, il->errlen);
	char keep[1024];
	snprintf(keep, sizeof keep, "%s", il->err);
	if (!attempt_rows_close(il->monitor, pooled, st == ATTEMPT_ROWS_OK, il->deadline, il->err,
				il->errlen))
		return db_stop_requested() ? DRIVE_INTERRUPTED : DRIVE_BROKEN;
	if (st == ATTEMPT_ROWS_OK)
		return DRIVE_OK;
	snprintf(il->err, il->errlen, "%s", keep);
	return st == ATTEMPT_ROWS_BAD ? DRIVE_BAD : st == ATTEMPT_ROWS_INTERRUPTED ? DRIVE_INTERRUPTED
										 : DRIVE_BROKEN;
}

/* Waits for worker i's BEGIN (sent, pending) until the order's deadline. */
static enum drive_status await_begin(struct ilv *il, int i)
{
	struct ilv_conn *w = &il->w[i];
	while (!db_poll(w->c, &w->res)) {
		if (db_stop_requested())
			return fail(il, "%s", db_stop_text());
		if (clock_us() >= il->deadline)
			return fail(il, "round deadline of %d ms passed during worker %c's BEGIN",
				    il->cfg->deadline_ms, 'a' + i);
		struct pollfd pfd = {.fd = PQsocket(w->c), .events = POLLIN};
		if (pfd.fd < 0 || (poll(&pfd, 1, POLL_MAX_MS) < 0 && errno != EINTR))
			return fail(il, "worker %c: lost during BEGIN", 'a' + i);
	}
	w->pending = false;
	return DRIVE_OK;
}

/* Runs order o (planned in out) on the key of round; out gets what it did. */
static enum drive_status run_order(struct ilv *il, struct ilv_order *out, long long round,
				   long long phase_round)
{
	const struct order *o = &out->order;
	struct ilv_time *tm = il->time;
	uint64_t t0 = clock_us();
	vlog_round(round);
	for (int w = 0; w < il->k; w++) {
		struct key_ctx ctx = {.round = round, .key = 0, .phase_round = phase_round, .worker = w};
		char why[512];
		if (!key_eval(il->sc->params, il->sc->n_params, &ctx, &il->key[w], why, sizeof why)) {
			char name[8];
			fail(il, "%s:%d: params: %s (round %lld, worker %s)", il->sc->path,
			     il->sc->params_line, why, round, order_worker_name(w, name, sizeof name));
			return DRIVE_BAD;
		}
	}
	il->out = out;
	il->deadline = clock_us() + (uint64_t)il->cfg->deadline_ms * 1000u;
	out->executable = true;
	out->stuck_pos = out->stuck_on = -1;
	out->rows = -1;
	memset(out->status, ILV_NOT_REACHED, sizeof out->status);
	memset(out->w, 0, sizeof out->w);
	enum drive_status st = prepare(il);
	size_t plen = 0;
	il->pids[plen++] = '{';
	/* BEGIN goes to every worker at once, then the answers are read. */
	for (int i = 0; st == DRIVE_OK && i < il->k; i++) {
		struct ilv_conn *w = &il->w[i];
		struct db_result r;
		char text[320];
		w->flow = FLOW_ACTIVE;
		w->pending = false;
		/* Every order starts from an idle connection: one a cut-short order
		 * left in a transaction (aborted by a cancel, say) is rolled back
		 * first, never reused as it is. */
		if (PQtransactionStatus(w->c) != PQTRANS_IDLE)
			db_query_cleanup(w->c, "ROLLBACK", il->deadline, &r);
		if (PQtransactionStatus(w->c) != PQTRANS_IDLE) {
			st = fail(il, "worker %c: its connection is not idle before order %lld and "
				      "cannot be rolled back (%s)",
				  'a' + i, round, PQerrorMessage(w->c));
			break;
		}
		if (!attempt_send_sql(w->c, il->begin[i < il->cfg->rc_workers], &w->res))
			st = fail(il, "worker %c: could not BEGIN: %s", 'a' + i,
				  db_result_text(&w->res, text, sizeof text));
		else
			w->pending = true;
	}
	for (int i = 0; st == DRIVE_OK && i < il->k; i++) {
		struct ilv_conn *w = &il->w[i];
		char text[320];
		st = await_begin(il, i);
		if (st != DRIVE_OK)
			break;
		if (w->res.status != DB_OK)
			st = fail(il, "worker %c: could not BEGIN: %s", 'a' + i,
				  db_result_text(&w->res, text, sizeof text));
		else if (il->pooler) /* the backend this transaction keeps */
			w->pid = (int)strtol(w->res.first_value, NULL, 10);
		plen += (size_t)snprintf(il->pids + plen, sizeof il->pids - plen, "%s%d", i ? "," : "",
					 w->pid);
	}
	snprintf(il->pids + plen, sizeof il->pids - plen, "}");
	int len = o->workers * o->steps;
	uint64_t t_steps = clock_us(), detect0 = tm->detect_us;
	tm->begin_us += t_steps - t0;
	for (int pos = 0; st == DRIVE_OK && pos < len; pos++) {
		int i = o->w[pos], step = order_step_at(o, pos);
		struct ilv_conn *w = &il->w[i];
		if (w->pending) {
			st = drive(il, i);
			if (st == DRIVE_STUCK) {
				out->executable = false;
				out->stuck_pos = pos;
				for (int b = 0; b < il->k; b++)
					if (w->blockers & (1u << b)) {
						out->stuck_on = b;
						break;
					}
				for (int j = 0; j < il->k; j++)
					if (il->w[j].pending)
						out->status[il->w[j].pending_pos] = ILV_STUCK;
				uint64_t t_end = clock_us();
				tm->steps_us += t_end - t_steps - (tm->detect_us - detect0);
				abandon(il, false);
				tm->teardown_us += clock_us() - t_end;
				return DRIVE_OK;
			}
			if (st != DRIVE_OK)
				break;
		}
		if (step < (int)il->sc->n_flow && w->flow != FLOW_ACTIVE) {
			out->status[pos] = ILV_SKIPPED;
			continue;
		}
		st = send_step(il, i, step, pos);
		if (st == DRIVE_OK)
			st = drive(il, -1);
	}
	if (st == DRIVE_OK)
		st = drive(il, -2);
	uint64_t t_end = clock_us();
	tm->steps_us += t_end - t_steps - (tm->detect_us - detect0);
	if (st != DRIVE_OK) {
		abandon(il, true);
		tm->teardown_us += clock_us() - t_end;
		return st;
	}
	st = count_rows(il, &out->rows);
	tm->rows_us += clock_us() - t_end;
	return st;
}

static void count_outcomes(const struct ilv *il, const struct ilv_order *o, struct race_totals *t)
{
	for (int i = 0; i < il->k; i++) {
		const struct ilv_worker *w = &o->w[i];
		int step = w->error_step - 1;
		char where[16];
		struct attempt_outcome ao = {.kind = w->message[0] ? ATTEMPT_ERROR : ATTEMPT_OK,
					     .message = w->message};
		snprintf(ao.name, sizeof ao.name, "%s", w->outcome);
		snprintf(ao.constraint, sizeof ao.constraint, "%s", w->constraint);
		snprintf(where, sizeof where, "%c%d", 'a' + i, w->error_step);
		t->attempts++;
		attempt_count(&ao, where, step >= 0 && step < (int)il->sc->n_flow ? il->sc->flow[step].text.line : 0,
			      &t->outcomes, &t->constraints);
	}
}

/* Counts a finished order (run, or pruned and carrying its class's result)
 * into s and t: not executable, or its duplicates and every worker's
 * outcome. True when it was executable. */
static bool tally_order(const struct ilv *il, struct ilv_summary *s, const struct ilv_order *o,
			struct race_totals *t)
{
	if (!o->executable) {
		s->not_executable++;
		return false;
	}
	if (o->rows > 1)
		s->with_duplicates++;
	count_outcomes(il, o, t);
	return true;
}

/* Partial-order reduction: asks the server what each flow statement
 * touches (on the monitor's connection, on the key of the next round), then
 * lets ilv_reduce() choose the orders to run. */
static enum drive_status plan_reduction(struct ilv *il, struct ilv_summary *s, long long round)
{
	struct key_ctx ctx = {.round = round, .key = 0, .phase_round = 0, .worker = 0};
	char why[512];
	if (!key_eval(il->sc->params, il->sc->n_params, &ctx, &il->key[0], why, sizeof why)) {
		fail(il, "%s:%d: params: %s (round %lld, worker 0)", il->sc->path, il->sc->params_line,
		     why, round);
		return DRIVE_BAD;
	}
	struct reduce_flow *f = malloc(sizeof *f);
	if (!f)
		abort();
	enum drive_status st = DRIVE_OK;
	il->deadline = clock_us() + (uint64_t)il->cfg->deadline_ms * 1000u;
	/* On the monitor: the workers' connections (and the -v log of their
	 * transactions) see nothing but the orders. */
	if (!footprint_probe(il->monitor, il->monitor, il->view, il->sc, il->k,
			     il->begin[0 < il->cfg->rc_workers], il->key[0].ptr, il->deadline, f,
			     &s->rels, il->err, il->errlen)) {
		st = db_stop_requested() ? DRIVE_INTERRUPTED : DRIVE_BROKEN;
		goto out;
	}
	ilv_reduce(s, f);
out:
	free(f);
	return st;
}

static void close_all(struct ilv *il)
{
	for (int i = 0; i < il->k; i++)
		if (il->w[i].c)
			PQfinish(il->w[i].c);
	if (il->monitor)
		PQfinish(il->monitor);
}

enum race_status ilv_run(const char *dsn, const char *schema, bool pooler,
			 const struct scenario *sc, const struct race_cfg *cfg, struct ilv_summary *s,
			 long long *round, ilv_before_fn before, void *before_ctx,
			 struct race_totals *t, char *err, size_t errlen)
{
	struct ilv il = {.sc = sc, .cfg = cfg, .k = cfg->workers, .err = err, .errlen = errlen,
			 .pooler = pooler, .schema = schema, .time = &s->time};
	enum race_status rs = RACE_OK;
	err[0] = '\0';
	attempt_begin_sql(il.begin[0], sizeof il.begin[0], cfg->isolation, ATTEMPT_READ_WRITE,
			  pooler ? schema : NULL);
	attempt_begin_sql(il.begin[1], sizeof il.begin[1], ISO_READ_COMMITTED, ATTEMPT_READ_WRITE,
			  pooler ? schema : NULL);
	il.monitor = db_connect(dsn, pooler ? NULL : schema, err, errlen);
	if (!il.monitor)
		return RACE_BROKEN;
	char why[512];
	il.view = lockview_detect(il.monitor, why, sizeof why);
	if (!il.view) { /* its message names hold mode: the same holds here */
		snprintf(err, errlen, "interleave mode: %s", why);
		close_all(&il);
		return RACE_BROKEN;
	}
	for (int i = 0; i < il.k; i++) {
		il.w[i].c = db_connect(dsn, pooler ? NULL : schema, why, sizeof why);
		if (!il.w[i].c) {
			snprintf(err, errlen, "worker %c could not connect: %s", 'a' + i, why);
			close_all(&il);
			return RACE_BROKEN;
		}
		il.w[i].pid = PQbackendPID(il.w[i].c);
		vlog_worker(il.w[i].c, i);
	}
	uint64_t t_first = clock_us();
	if (cfg->reduction && !s->listed && !pooler && il.k > 1 && s->n_orders > 1) {
		enum drive_status st = plan_reduction(&il, s, *round + 1);
		s->time.probe_us = clock_us() - t_first;
		if (st != DRIVE_OK) {
			s->n_orders = 0;
			close_all(&il);
			return st == DRIVE_INTERRUPTED ? RACE_INTERRUPTED
			       : st == DRIVE_BAD      ? RACE_BAD
						      : RACE_BROKEN;
		}
	}
	for (size_t n = 0; n < s->n_orders; n++) {
		struct ilv_order *o = &s->orders[n];
		if (o->same_as != n) { /* pruned: its class's first order ran */
			ilv_carry(&s->orders[o->same_as], o);
			tally_order(&il, s, o, t);
			continue;
		}
		s->ran++;
		uint64_t b0 = clock_us();
		bool go_on = !before || before(before_ctx, *round + 1, (long long)n);
		s->time.before_us += clock_us() - b0;
		if (!go_on) {
			s->n_orders = n;
			rs = RACE_BROKEN;
			break;
		}
		uint64_t o0 = clock_us();
		enum drive_status st = run_order(&il, o, ++*round, (long long)n);
		if (st != DRIVE_OK) {
			char note[200], text[1024];
			order_notation(&o->order, note, sizeof note);
			snprintf(text, sizeof text, "order %zu (%s): %s", n + 1, note, err);
			snprintf(err, errlen, "%s", text);
			s->n_orders = n; /* the ones that completed */
			rs = st == DRIVE_INTERRUPTED ? RACE_INTERRUPTED
			     : st == DRIVE_BAD	     ? RACE_BAD
						     : RACE_BROKEN;
			break;
		}
		if (!tally_order(&il, s, o, t))
			continue;
		uint64_t us = clock_us() - o0;
		for (int i = 0; i < il.k; i++)
			hist_record(&t->latency, us);
	}
	s->time.total_us = clock_us() - t_first;
	close_all(&il);
	return rs;
}
