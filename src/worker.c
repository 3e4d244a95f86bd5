/* worker.c: one racing worker as an explicit state machine (worker.h).
 *
 * worker_advance() is the worker's whole life: one switch over its state,
 * each case naming the events that move it on. The helpers below it build
 * the next batch of the attempt (BEGIN, the flow's statements, COMMIT; in
 * pipeline mode a run of them up to a statement whose answer decides what
 * follows), read a batch's answers, and end a try: retry after 40001/40P01,
 * else classify and count the outcome. Sending goes through env->io (the
 * engine's), so nothing here blocks or touches a socket; it calls attempt,
 * key, outcome and stats only. An application worker's states (app_advance,
 * called by worker_advance) follow its process and connections instead. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"

static void mark_broken(struct worker *w, const char *what, const struct db_result *res)
{
	if (w->broken)
		return;
	char text[320], name[8];
	w->broken = true;
	snprintf(w->why, sizeof w->why, "worker %s (backend pid %d) %s: %s",
		 order_worker_name(w->id, name, sizeof name), w->pid, what,
		 res ? db_result_text(res, text, sizeof text) : "");
}

/* An answer that ends the generation for this worker: the connection or the
 * deadline, not the database's verdict on the flow. */
static bool fatal(const struct db_result *res)
{
	return res->status == DB_LOST || res->status == DB_TIMEOUT || res->status == DB_INTERRUPTED;
}

/* w is done with this generation: the coordinator hears of it. */
static void finish(struct worker *w)
{
	w->state = WS_IDLE;
	if (w->pipeline) {
		w->pipeline = false;
		if (!w->dead)
			w->env->io->pipeline(w, false);
	}
	w->ready = true; /* a round counts every worker at its start line */
	w->done = true;
	atomic_store(&w->view, WV_FINISHED);
}

static void broken(struct worker *w, const char *what, const struct db_result *res)
{
	mark_broken(w, what, res);
	finish(w);
}

/* Sends items[0, n_items) as one batch, in state st. */
static void send_batch(struct worker *w, enum wstate st)
{
	const struct scenario *sc = w->env->sc;
	w->state = st;
	w->bt = w->items[0].kind == IT_STMT ? sc->flow[w->items[0].idx].target : 0;
	if (!w->free_run)
		atomic_store(&w->settle_us, clock_us());
	w->cur = 0;
	w->cancelled = false;
	w->blocked = false;
	w->env->io->arm(w, w->deadline_us);
	bool sent;
	if (w->dead) {
		for (int i = 0; i < w->n_items; i++)
			w->items[i].res = w->dead_res;
		sent = false;
	} else {
		sent = w->env->io->send(w);
	}
	if (!sent)
		worker_advance(w, WE_LOST);
}

static void send_one(struct worker *w, enum wstate st, enum item_kind kind, int idx)
{
	w->items[0].kind = kind;
	w->items[0].idx = idx;
	w->n_items = 1;
	send_batch(w, st);
}

/* Goes on with the attempt from sequence index seq (0 BEGIN, 1..n the
 * flow's statements, n + 1 COMMIT). In hold mode COMMIT waits for the
 * coordinator. In pipeline mode the batch runs on to COMMIT, or to a
 * statement whose answer decides what follows (skip_if_found), or to a step
 * on another target (its own connection). */
static void send_from(struct worker *w, int seq)
{
	const struct scenario *sc = w->env->sc;
	const struct race_cfg *cfg = w->env->cfg;
	int n = (int)sc->n_flow;
	if (seq == 0 && cfg->autocommit)
		seq = 1; /* autocommit: no BEGIN (and no COMMIT: see answered()) */
	if (seq == n + 1 && cfg->mode == MODE_HOLD && !w->free_run) {
		w->state = WS_HELD;
		w->env->io->arm(w, w->deadline_us);
		atomic_store(&w->settle_us, clock_us());
		atomic_store(&w->view, WV_HELD);
		return;
	}
	w->n_items = 0;
	for (int k = seq; k <= n + 1; k++) {
		struct item *it = &w->items[w->n_items++];
		it->kind = k == 0 ? IT_BEGIN : k == n + 1 ? IT_COMMIT : IT_STMT;
		it->idx = k - 1;
		if (!w->pipeline || k == n + 1 || (k >= 1 && k < n && sc->flow[k - 1].skip_if_found))
			break;
		if (k < n && sc->flow[k].target > 0)
			break;
	}
	send_batch(w, WS_RUNNING);
}

static uint64_t backoff_us(struct worker *w, int tries)
{
	w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
	unsigned long long cap_us = 1000ull << (tries < 6 ? tries : 6);
	return (w->rng >> 33) % cap_us;
}

static void next_free(struct worker *w);

/* One try ended with res (COMMIT's answer, or a failed statement's after
 * its ROLLBACK): retry after 40001/40P01 up to cfg retries times, after a
 * random pause up to 2^tries ms (at most 64 ms), so a serialization loser
 * does not meet the same winner still committing; else count the attempt. */
static void try_end(struct worker *w, const struct db_result *res)
{
	if (attempt_retryable(res) && w->tries < w->env->cfg->retries) {
		w->tries++;
		w->retries++;
		w->skipped = false;
		w->wake_us = clock_us() + backoff_us(w, w->tries - 1);
		w->state = WS_BACKOFF;
		w->env->io->arm(w, w->wake_us);
		return;
	}
	struct attempt_outcome o;
	w->attempts++;
	attempt_classify(res, w->skipped, &o);
	attempt_count(&o, w->where, w->where_line, &w->outcomes, &w->constraints);
	hist_record(&w->latency, clock_us() - w->t0);
	if (!w->free_run) {
		finish(w);
		return;
	}
	w->free_attempts++;
	next_free(w);
}

/* Free mode: the flow back to back, no barrier, a fresh key per attempt
 * (attempt i of worker w takes round base + i * workers + w) or one hot key.
 * Each attempt has the round budget (deadline_ms) as its deadline. */
static void next_free(struct worker *w)
{
	const struct worker_env *e = w->env;
	if (atomic_load(e->free_stop) || db_stop_requested() ||
	    (e->free_until && clock_us() >= e->free_until)) {
		finish(w);
		return;
	}
	long long i = w->free_attempts;
	struct key_ctx ctx = {e->free_hot ? e->free_base : e->free_base + i * e->cfg->workers + w->id, 0,
			      i, w->id};
	if (!attempt_key(e->sc, &ctx, &w->free_key, w->why, sizeof w->why)) {
		w->broken = w->bad = true;
		finish(w);
		return;
	}
	w->params = w->free_key.ptr;
	w->t0 = clock_us();
	w->deadline_us = w->t0 + (uint64_t)e->cfg->deadline_ms * 1000u;
	w->tries = 0;
	w->skipped = false;
	send_from(w, 0);
}

/* Last-byte release applies: a fire round whose first statement runs on
 * the worker's own connection. */
static bool armable(const struct worker *w)
{
	const struct worker_env *e = w->env;
	return e->last_byte && e->cfg->mode == MODE_FIRE && !w->free_run && e->sc->n_flow > 0 &&
	       e->sc->flow[0].target == 0;
}

/* The attempt's first statement is about to go (at the go, or armed). */
static void attempt_begins(struct worker *w)
{
	w->params = w->round_params;
	w->tries = 0;
	w->skipped = false;
	w->t0 = clock_us();
	w->first_send_us = w->t0;
}

/* A round's BEGIN is done (or autocommit has none): to the start line.
 * Behind a pooler BEGIN also told which backend serves the transaction.
 * With last-byte release the first statement goes out now, all but its
 * tail, and the worker waits armed. */
static void to_start_line(struct worker *w, const struct db_result *res)
{
	if (w->env->pooler && res)
		w->env->io->backend_pid(w, (int)strtol(res->first_value, NULL, 10));
	w->ready = true;
	if (armable(w)) {
		attempt_begins(w);
		w->hold_tail = true;
		send_one(w, WS_ARMED, IT_STMT, 0);
		w->hold_tail = false;
		return;
	}
	w->state = WS_START_LINE;
	w->env->io->arm(w, w->deadline_us);
}

static void after_prepare(struct worker *w)
{
	if (w->free_run) {
		if (w->env->can_pipeline && w->prepared && !w->dead && w->env->io->pipeline(w, true))
			w->pipeline = true;
		w->first_send_us = clock_us();
		next_free(w);
	} else if (w->env->cfg->autocommit) {
		to_start_line(w, NULL); /* no transaction to open */
	} else {
		send_one(w, WS_BEGINNING, IT_BEGIN, 0);
	}
}

/* The first flow step from i on that runs on the worker's own connection
 * (steps on another target run unprepared there); n_flow when none. */
static int next_preparable(const struct scenario *sc, int i)
{
	while (i < (int)sc->n_flow && sc->flow[i].target > 0)
		i++;
	return i;
}

/* A new generation. The flow's statements are parsed and planned once per
 * connection, on its first attempt, after the phase's steps (a migration
 * may change the tables): not behind a pooler (a prepared statement is
 * session state), and not when the server refuses one (then every statement
 * goes unprepared and its error surfaces in the race). */
static void start(struct worker *w)
{
	const struct scenario *sc = w->env->sc;
	if (w->prepare_tried || w->env->pooler || sc->n_flow == 0) {
		after_prepare(w);
		return;
	}
	w->prepare_tried = true;
	w->prepared = true;
	if (next_preparable(sc, 0) < (int)sc->n_flow)
		send_one(w, WS_PREPARING, IT_PREPARE, next_preparable(sc, 0));
	else
		after_prepare(w);
}

/* WS_PREPARING: one statement prepared (or refused). */
static void prepared_one(struct worker *w)
{
	const struct scenario *sc = w->env->sc;
	const struct item *it = &w->items[0];
	w->prepared = it->res.status == DB_OK;
	if (fatal(&it->res))
		broken(w, "could not prepare the flow", &it->res);
	else if (w->prepared && next_preparable(sc, it->idx + 1) < (int)sc->n_flow)
		send_one(w, WS_PREPARING, IT_PREPARE, next_preparable(sc, it->idx + 1));
	else
		after_prepare(w);
}

/* A try's BEGIN (it) answered: its steps start afresh, and the BEGIN's send
 * and answer are kept for the round's timeline (two clock reads the I/O
 * layer took anyway). */
static void note_begin(struct worker *w, const struct item *it)
{
	w->n_steps = 0; /* a try begins: only the last one's steps count */
	w->step_end = (struct step_end){"", ""};
	w->begin = (struct order_event){w->id, -1, it->sent_us, it->done_us ? it->done_us : clock_us()};
}

/* WS_BEGINNING: the round's BEGIN answered. */
static void begun(struct worker *w)
{
	note_begin(w, &w->items[0]);
	if (w->items[0].res.status != DB_OK)
		broken(w, "could not BEGIN", &w->items[0].res);
	else
		to_start_line(w, &w->items[0].res);
}

/* WS_START_LINE, the go: the first statement goes out. */
static void go(struct worker *w)
{
	atomic_store(&w->view, WV_RUNNING);
	attempt_begins(w);
	send_from(w, 1);
}

/* WS_ARMED, the go (or an answer that came before the loop heard of it):
 * the tail is out (written now unless the coordinator did), the statement
 * runs; the attempt counts from the tail's write. */
static void armed_go(struct worker *w)
{
	w->env->io->release(w);
	atomic_store(&w->view, WV_RUNNING);
	w->state = WS_RUNNING;
	uint64_t at = atomic_load(&w->tail.written_us);
	if (at)
		w->t0 = w->first_send_us = w->items[0].sent_us = at;
}

/* Records a flow statement's or COMMIT's send and completion (step n_flow
 * is COMMIT) for the try under way: a fire round that duplicates reports
 * the order. */
static void note_step(struct worker *w, int step, const struct item *it)
{
	if (w->n_steps < ORDER_MAX_LEN)
		w->steps[w->n_steps++] = (struct order_event){w->id, step, it->sent_us,
							      it->done_us ? it->done_us : clock_us()};
	if (it->res.status != DB_OK) {
		snprintf(w->step_end.outcome, sizeof w->step_end.outcome, "%s",
			 it->res.sqlstate[0] ? it->res.sqlstate : "error");
		snprintf(w->step_end.constraint, sizeof w->step_end.constraint, "%s",
			 it->res.constraint);
	}
}

/* WS_RUNNING: the batch's answers, item by item, and what comes next. */
static void answered(struct worker *w)
{
	const struct scenario *sc = w->env->sc;
	bool autocommit = w->env->cfg->autocommit;
	int n = (int)sc->n_flow, next = -1;
	for (int i = 0; i < w->n_items; i++) {
		struct item *it = &w->items[i];
		struct db_result *res = &it->res;
		switch (it->kind) {
		case IT_BEGIN:
			note_begin(w, it);
			if (res->status != DB_OK) {
				broken(w, "could not BEGIN", res);
				return;
			}
			next = 1;
			break;
		case IT_STMT:
			note_step(w, it->idx, it);
			if (res->status != DB_OK) {
				if (sc->n_targets)
					snprintf(w->where, sizeof w->where, "flow step %d on %s",
						 it->idx + 1, sc->targets[sc->flow[it->idx].target]);
				else
					snprintf(w->where, sizeof w->where, "flow step %d", it->idx + 1);
				w->where_line = sc->flow[it->idx].text.line;
				if (fatal(res)) {
					char what[96];
					snprintf(what, sizeof what, "could not finish the flow (%s)",
						 w->where);
					broken(w, what, res);
				} else if (autocommit) {
					try_end(w, res); /* its own transaction is over already */
				} else {
					w->final = *res;
					send_one(w, WS_ROLLING_BACK, IT_ROLLBACK, 0);
				}
				return;
			}
			if (!autocommit && it->ended) {
				/* COMMIT, ROLLBACK, a procedure that commits: the barrier
				 * and the outcome would both be lies. */
				snprintf(
					w->why, sizeof w->why,
					"%s:%d: flow step %d ended the transaction it runs in (a flow's "
					"statements run inside one transaction that pgrace begins and "
					"commits: no COMMIT, ROLLBACK or transaction control in a flow)",
					sc->path, sc->flow[it->idx].text.line, it->idx + 1);
				w->broken = w->bad = true;
				finish(w);
				return;
			}
			if (sc->flow[it->idx].skip_if_found && res->rows > 0) {
				w->skipped = true;
				next = n + 1;
			} else {
				next = it->idx + 2;
			}
			if (next == n + 1 && autocommit) {
				try_end(w, res); /* autocommit: nothing to COMMIT */
				return;
			}
			break;
		case IT_COMMIT:
			note_step(w, n, it);
			/* Errors surface at COMMIT too: deferred constraints, serialization. */
			snprintf(w->where, sizeof w->where, "COMMIT");
			w->where_line = 0;
			if (fatal(res))
				broken(w, "could not COMMIT", res);
			else
				try_end(w, res);
			return;
		case IT_PREPARE:
		case IT_ROLLBACK: /* never in a running batch */
			broken(w, "had an answer it did not wait for", res);
			return;
		}
	}
	if (next < 0) /* an empty batch cannot be sent */
		broken(w, "had nothing to send", NULL);
	else
		send_from(w, next);
}

/* WS_ROLLING_BACK: the failed statement's transaction is gone. */
static void rolled_back(struct worker *w)
{
	if (fatal(&w->items[0].res))
		broken(w, "lost its connection at ROLLBACK", &w->items[0].res);
	else
		try_end(w, &w->final);
}

/* WS_START_LINE or WS_HELD past the deadline, or stopped. */
static void end_wait(struct worker *w)
{
	mark_broken(w,
		    w->state == WS_HELD ? "was not released to COMMIT before the deadline"
					: "was not released before the deadline",
		    NULL);
	finish(w);
}

/* ---- application workers: states that follow a process and its
 * connections (no batch of theirs: the listener relays the app's own) ---- */

static void app_to(struct worker *w, enum wstate st)
{
	w->state = st;
	int view = WV_RUNNING;
	if (st == WS_APP_HELD_FIRST || st == WS_APP_HELD_COMMIT)
		view = WV_HELD;
	if (st == WS_APP_EXITED) {
		view = WV_FINISHED;
		w->ready = w->done = true;
	}
	atomic_store(&w->view, view);
}

/* The first fault breaks the round; its engine words the message (with
 * the process's output), why says it short. */
static void app_fault(struct worker *w, enum wfault f, const char *what)
{
	if (w->broken)
		return;
	w->broken = true;
	w->fault = f;
	char name[8];
	snprintf(w->why, sizeof w->why, "worker %s %s", order_worker_name(w->id, name, sizeof name),
		 what);
}

/* Where an app worker stood, for a message. */
static const char *app_where(enum wstate s)
{
	switch (s) {
	case WS_APP_STARTING:
		return "it had not connected through pgrace's listener";
	case WS_APP_HELD_FIRST:
		return "held at its first data statement";
	case WS_APP_HELD_COMMIT:
		return "held at a COMMIT";
	case WS_APP_BLOCKED:
		return "waiting on a lock a peer holds";
	case WS_APP_RELEASED:
		return "released, its statement not answered yet";
	default:
		return "running";
	}
}

/* Killed at its deadline: the round breaks, saying where it stood. */
static void app_deadline(struct worker *w)
{
	char what[160];
	snprintf(what, sizeof what, "was still running at its deadline (%s)", app_where(w->state));
	app_fault(w, WF_DEADLINE, what);
	app_to(w, WS_APP_EXITED);
}

/* The events every connected app worker answers the same way, held or not. */
static void app_any(struct worker *w, enum wevent ev)
{
	bool held = w->state == WS_APP_HELD_FIRST || w->state == WS_APP_HELD_COMMIT;
	char what[260];
	switch (ev) {
	case WE_CONNECTED:
		w->app_connections++;
		break;
	case WE_LOST:
		snprintf(what, sizeof what, "lost a connection mid-way: %s", w->app_note);
		app_fault(w, WF_LOST, what);
		break;
	case WE_DEADLINE:
		app_deadline(w);
		break;
	case WE_EXITED:
		if (held)
			app_fault(w, WF_UNRELEASED,
				  "ended while pgrace held a statement of it (never sent to the server)");
		app_to(w, WS_APP_EXITED);
		break;
	default: /* the rest are each state's own */
		break;
	}
}

/* An app worker's whole life, as worker_advance's for a flow worker. */
static void app_advance(struct worker *w, enum wevent ev)
{
	switch (w->state) {
	case WS_IDLE: /* by: its process started */
		if (ev == WE_START)
			app_to(w, WS_APP_STARTING);
		break;
	case WS_APP_STARTING: /* by: its first connection; its end before one; its deadline */
		if (ev == WE_CONNECTED) {
			w->app_connections++;
			app_to(w, WS_APP_RUNNING);
		} else if (ev == WE_EXITED) {
			app_fault(w, WF_NEVER_CONNECTED, "never connected through pgrace's listener");
			app_to(w, WS_APP_EXITED);
		} else if (ev == WE_DEADLINE) {
			app_deadline(w);
		}
		break;
	case WS_APP_RUNNING:  /* by: a hold, a lock wait; the common events */
	case WS_APP_BLOCKED:  /* by: an answer (it moved), a hold; the common events */
	case WS_APP_RELEASED: /* by: an answer, a lock wait, the next hold; the common events */
		if (ev == WE_HELD) {
			w->app_holds++;
			app_to(w, w->env->cfg->mode == MODE_FIRE ? WS_APP_HELD_FIRST
							       : WS_APP_HELD_COMMIT);
		} else if (ev == WE_BLOCKED) {
			app_to(w, WS_APP_BLOCKED);
		} else if (ev == WE_ANSWER) {
			app_to(w, WS_APP_RUNNING);
		} else {
			app_any(w, ev);
		}
		break;
	case WS_APP_HELD_FIRST: /* by: the go; the common events */
		if (ev == WE_GO)
			app_to(w, WS_APP_RELEASED);
		else
			app_any(w, ev);
		break;
	case WS_APP_HELD_COMMIT: /* by: the release; the common events */
		if (ev == WE_RELEASED)
			app_to(w, WS_APP_RELEASED);
		else
			app_any(w, ev);
		break;
	default: /* WS_APP_EXITED: done for the round */
		break;
	}
}

enum wstate worker_advance(struct worker *w, enum wevent ev)
{
	if (w->kind == WK_APP) {
		app_advance(w, ev);
		return w->state;
	}
	switch (w->state) {
	case WS_IDLE: /* moved on by: a new generation */
		if (ev == WE_START)
			start(w);
		break;
	case WS_PREPARING: /* by: the PREPARE's answer, a lost connection */
		if (ev == WE_ANSWER || ev == WE_LOST)
			prepared_one(w);
		break;
	case WS_BEGINNING: /* by: BEGIN's answer, a lost connection */
		if (ev == WE_ANSWER || ev == WE_LOST)
			begun(w);
		break;
	case WS_START_LINE: /* by: the go; the deadline */
		if (ev == WE_GO)
			go(w);
		else if (ev == WE_DEADLINE)
			end_wait(w);
		break;
	case WS_ARMED: /* by: the go; the answer or a lost connection (the go was first) */
		if (ev == WE_GO) {
			armed_go(w);
		} else if (ev == WE_ANSWER || ev == WE_LOST) {
			armed_go(w);
			answered(w);
		}
		break;
	case WS_RUNNING: /* by: the batch's answers, a lost connection; a lock wait is noted */
		if (ev == WE_ANSWER || ev == WE_LOST)
			answered(w);
		else if (ev == WE_BLOCKED)
			w->blocked = true;
		break;
	case WS_HELD: /* by: the commits' release; the deadline */
		if (ev == WE_RELEASED) {
			atomic_store(&w->view, WV_RUNNING);
			send_one(w, WS_RUNNING, IT_COMMIT, 0);
		} else if (ev == WE_DEADLINE) {
			end_wait(w);
		}
		break;
	case WS_ROLLING_BACK: /* by: ROLLBACK's answer, a lost connection */
		if (ev == WE_ANSWER || ev == WE_LOST)
			rolled_back(w);
		break;
	case WS_BACKOFF: /* by: the pause's end */
		if (ev == WE_TIMER)
			send_from(w, 0);
		break;
	default: /* an application worker's states are app_advance's */
		break;
	}
	return w->state;
}

bool worker_in_flight(enum wstate s)
{
	return s == WS_PREPARING || s == WS_BEGINNING || s == WS_ARMED || s == WS_RUNNING ||
	       s == WS_ROLLING_BACK;
}

void worker_reset(struct worker *w, bool free_run, uint64_t deadline_us, const char *const *round_params)
{
	w->state = WS_IDLE;
	w->free_run = free_run;
	w->deadline_us = deadline_us;
	w->round_params = round_params;
	w->broken = w->bad = w->done = false;
	w->ready = free_run; /* a free run has no start line to report */
	w->first_send_us = 0;
	w->begin = (struct order_event){0};
	atomic_store(&w->tail.written_us, 0);
	if (w->kind == WK_APP) { /* a flow worker's pages of these stay untouched */
		w->fault = WF_NONE;
		w->app_connections = w->app_holds = 0;
		w->app_note[0] = '\0';
	}
}

void worker_init(struct worker *w, const struct worker_env *env, int id, int key, enum isolation iso)
{
	w->env = env;
	w->id = id;
	w->key = key;
	w->iso = iso;
	w->state = WS_IDLE;
	w->rng = 0x9E3779B97F4A7C15ull * (unsigned long long)(id + 1) ^ clock_us();
	w->items = calloc(env->sc->n_flow + 2, sizeof *w->items);
	if (!w->items)
		abort();
	for (int t = 0; t < TARGETS_MAX; t++)
		w->slot[t] = (struct worker_slot){.w = w, .t = t};
}

void worker_init_app(struct worker *w, const struct worker_env *env, int id, int key)
{
	worker_init(w, env, id, key, ISO_READ_COMMITTED);
	w->kind = WK_APP;
}

void worker_free(struct worker *w)
{
	free(w->items);
	w->items = NULL;
}

const char *worker_state_name(enum wstate s)
{
	static const char *const names[] = {
		[WS_IDLE] = "idle",
		[WS_PREPARING] = "preparing",
		[WS_BEGINNING] = "beginning",
		[WS_START_LINE] = "start_line",
		[WS_ARMED] = "armed",
		[WS_RUNNING] = "running",
		[WS_HELD] = "held",
		[WS_ROLLING_BACK] = "rolling_back",
		[WS_BACKOFF] = "backoff",
		[WS_APP_STARTING] = "app_starting",
		[WS_APP_RUNNING] = "app_running",
		[WS_APP_HELD_FIRST] = "app_held_first",
		[WS_APP_HELD_COMMIT] = "app_held_commit",
		[WS_APP_BLOCKED] = "app_blocked",
		[WS_APP_RELEASED] = "app_released",
		[WS_APP_EXITED] = "app_exited",
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *worker_event_name(enum wevent ev)
{
	static const char *const names[] = {
		[WE_START] = "start", [WE_ANSWER] = "answer",
		[WE_LOST] = "lost",   [WE_BLOCKED] = "blocked",
		[WE_GO] = "go",       [WE_RELEASED] = "released",
		[WE_TIMER] = "timer", [WE_DEADLINE] = "deadline",
		[WE_CONNECTED] = "connected", [WE_HELD] = "held",
		[WE_EXITED] = "exited",
	};
	return (unsigned)ev < sizeof names / sizeof names[0] ? names[ev] : "?";
}
