/* test_worker.c: worker_advance (src/worker.c) driven by events alone, no
 * server: a fake struct worker_io records what the worker sends, and each
 * case brings a worker to a state, fills the answers of the batch in flight,
 * feeds one event and checks the state it lands in, what it sent, whether
 * the round broke and what it counted. Every state meets every event it
 * waits for, and some it ignores. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "worker.h"

/* ---- the fake I/O layer ---- */

static struct {
	int sends;           /* batches sent */
	enum item_kind kind; /* the last batch's first and last items */
	int idx, n_items;
	enum item_kind last_kind;
	bool fail_send; /* the next send fails (lost) */
	bool refuse_pipeline;
	int pid;
	int releases;   /* tails written (last-byte release) */
	bool held_tail; /* the last batch was sent holding its tail */
} io;

static bool fake_send(struct worker *w)
{
	io.sends++;
	io.kind = w->items[0].kind;
	io.idx = w->items[0].idx;
	io.n_items = w->n_items;
	io.last_kind = w->items[w->n_items - 1].kind;
	io.held_tail = w->hold_tail;
	for (int i = 0; i < w->n_items; i++)
		memset(&w->items[i].res, 0, sizeof w->items[i].res);
	if (!io.fail_send)
		return true;
	io.fail_send = false;
	for (int i = 0; i < w->n_items; i++) {
		w->items[i].res.status = DB_LOST;
		snprintf(w->items[i].res.message, sizeof w->items[i].res.message, "server closed");
	}
	return false;
}

static void fake_arm(struct worker *w, uint64_t at_us)
{
	(void)w;
	(void)at_us;
}

static bool fake_pipeline(struct worker *w, bool on)
{
	(void)w;
	return !on || !io.refuse_pipeline;
}

static void fake_pid(struct worker *w, int pid)
{
	io.pid = w->pid = pid;
}

static void fake_release(struct worker *w)
{
	(void)w;
	io.releases++;
}

static const struct worker_io fake_io = {fake_send, fake_arm, fake_pipeline, fake_pid, fake_release};

/* ---- a two-step check-then-insert flow ---- */

static struct flow_step flow[2] = {
	{.text = {.sql = "SELECT 1 FROM t WHERE k = $1", .line = 10, .nparams = 1},
	 .skip_if_found = true},
	{.text = {.sql = "INSERT INTO t VALUES ($1)", .line = 11, .nparams = 1}},
};
static struct scenario sc = {.path = "s.yaml", .flow = flow, .n_flow = 2};
static const char *const key[] = {"7"};

/* One answer for every item of the batch in flight. */
struct answer {
	enum db_status status;
	const char *sqlstate; /* DB_ERROR */
	long long rows;
	bool ended; /* the statement left no transaction open */
};

static const struct answer OK = {DB_OK, "", 0, false};

static void answer(struct worker *w, struct answer a)
{
	for (int i = 0; i < w->n_items; i++) {
		struct db_result *r = &w->items[i].res;
		memset(r, 0, sizeof *r);
		r->status = a.status;
		r->rows = a.rows;
		snprintf(r->sqlstate, sizeof r->sqlstate, "%s", a.sqlstate ? a.sqlstate : "");
		if (a.status != DB_OK)
			snprintf(r->message, sizeof r->message, "failed");
		if (a.status == DB_ERROR && !strcmp(r->sqlstate, "23505"))
			snprintf(r->constraint, sizeof r->constraint, "uq_t");
		snprintf(r->first_value, sizeof r->first_value, "4242");
		w->items[i].ended = a.ended;
	}
}

struct rig {
	struct race_cfg cfg;
	struct worker_env env;
	atomic_bool stop;
	struct worker w;
};

static void rig_init(struct rig *g, enum race_mode mode, int retries)
{
	memset(&io, 0, sizeof io);
	memset(&g->cfg, 0, sizeof g->cfg);
	g->cfg.workers = 2;
	g->cfg.keys = 1;
	g->cfg.deadline_ms = 1000;
	g->cfg.mode = mode;
	g->cfg.retries = retries;
	atomic_init(&g->stop, false);
	g->env = (struct worker_env){.sc = &sc,
				     .cfg = &g->cfg,
				     .io = &fake_io,
				     .begin_sql = {"BEGIN", "BEGIN"},
				     .free_stop = &g->stop};
	memset(&g->w, 0, sizeof g->w);
	worker_init(&g->w, &g->env, 0, 0, ISO_READ_COMMITTED);
	worker_reset(&g->w, false, clock_us() + 1000000u, key);
}

/* Where a case starts: the events (with the answer OK, or the one given)
 * that bring a fresh round's worker there. */
enum start {
	AT_IDLE,
	AT_PREPARING,
	AT_BEGINNING,
	AT_START_LINE,
	AT_FIRST_STMT, /* WS_RUNNING, flow step 1 in flight */
	AT_LAST_STMT,  /* WS_RUNNING, flow step 2 in flight */
	AT_HELD,       /* hold mode */
	AT_COMMIT,     /* WS_RUNNING, COMMIT in flight */
	AT_ROLLING_BACK,
	AT_BACKOFF, /* retries > 0 */
};

static void reach(struct rig *g, enum start at)
{
	struct worker *w = &g->w;
	if (at == AT_IDLE)
		return;
	worker_advance(w, WE_START);
	cr_assert_eq(w->state, WS_PREPARING);
	if (at == AT_PREPARING)
		return;
	answer(w, OK);
	worker_advance(w, WE_ANSWER); /* step 2's PREPARE */
	answer(w, OK);
	worker_advance(w, WE_ANSWER);
	cr_assert_eq(w->state, WS_BEGINNING);
	if (at == AT_BEGINNING)
		return;
	answer(w, OK);
	worker_advance(w, WE_ANSWER);
	cr_assert_eq(w->state, WS_START_LINE);
	if (at == AT_START_LINE)
		return;
	worker_advance(w, WE_GO);
	cr_assert_eq(w->state, WS_RUNNING);
	if (at == AT_FIRST_STMT)
		return;
	if (at == AT_ROLLING_BACK || at == AT_LAST_STMT || at == AT_HELD || at == AT_COMMIT ||
	    at == AT_BACKOFF) {
		answer(w, OK); /* step 1 found nothing */
		worker_advance(w, WE_ANSWER);
		cr_assert_eq(w->state, WS_RUNNING);
	}
	if (at == AT_LAST_STMT)
		return;
	if (at == AT_ROLLING_BACK) {
		answer(w, (struct answer){DB_ERROR, "23505", 0, false});
		worker_advance(w, WE_ANSWER);
		cr_assert_eq(w->state, WS_ROLLING_BACK);
		return;
	}
	answer(w, OK); /* step 2 inserted */
	worker_advance(w, WE_ANSWER);
	if (g->cfg.mode == MODE_HOLD) {
		cr_assert_eq(w->state, WS_HELD);
		if (at == AT_HELD)
			return;
		worker_advance(w, WE_RELEASED);
	}
	cr_assert_eq(w->state, WS_RUNNING);
	cr_assert_eq(io.kind, IT_COMMIT);
	if (at == AT_COMMIT)
		return;
	answer(w, (struct answer){DB_ERROR, "40001", 0, false});
	worker_advance(w, WE_ANSWER);
	cr_assert_eq(w->state, WS_BACKOFF);
}

struct tcase {
	const char *name;
	enum race_mode mode;
	int retries;
	enum start at;
	bool fail_send;    /* the send the event causes fails */
	struct answer ans; /* the answers filled in before the event */
	enum wevent ev;
	enum wstate want;
	int want_sends;           /* batches the event sent */
	enum item_kind want_kind; /* the first item of the last one sent */
	bool want_broken, want_bad;
	const char *want_why;     /* a piece of the broken worker's message */
	const char *want_outcome; /* the outcome it counted, NULL when none */
	const char *want_constraint;
	int want_retries;
};

/* Each row gives its fields up to the last it checks; the rest are zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct tcase cases[] = {
	{"idle: start prepares the flow",
	 MODE_HOLD,
	 0,
	 AT_IDLE,
	 false,
	 {0},
	 WE_START,
	 WS_PREPARING,
	 1,
	 IT_PREPARE},
	{"idle: the go is not for it", MODE_HOLD, 0, AT_IDLE, false, {0}, WE_GO, WS_IDLE, 0},
	{"idle: an answer is not for it", MODE_HOLD, 0, AT_IDLE, false, {0}, WE_ANSWER, WS_IDLE, 0},
	{"preparing: the next statement",
	 MODE_HOLD,
	 0,
	 AT_PREPARING,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_PREPARING,
	 1,
	 IT_PREPARE},
	{"preparing: a refusal goes unprepared to BEGIN",
	 MODE_HOLD,
	 0,
	 AT_PREPARING,
	 false,
	 {DB_ERROR, "42P01"},
	 WE_ANSWER,
	 WS_BEGINNING,
	 1,
	 IT_BEGIN},
	{"preparing: lost",
	 MODE_HOLD,
	 0,
	 AT_PREPARING,
	 false,
	 {DB_LOST},
	 WE_LOST,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not prepare the flow"},
	{"preparing: a deadline is the loop's (it cancels)",
	 MODE_HOLD,
	 0,
	 AT_PREPARING,
	 false,
	 {0},
	 WE_DEADLINE,
	 WS_PREPARING,
	 0,
	 0},
	{"beginning: BEGIN done, to the start line",
	 MODE_HOLD,
	 0,
	 AT_BEGINNING,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_START_LINE,
	 0},
	{"beginning: BEGIN refused",
	 MODE_HOLD,
	 0,
	 AT_BEGINNING,
	 false,
	 {DB_ERROR, "25P02"},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not BEGIN: 25P02"},
	{"beginning: lost",
	 MODE_HOLD,
	 0,
	 AT_BEGINNING,
	 false,
	 {DB_LOST},
	 WE_LOST,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not BEGIN"},
	{"start line: the go sends step 1",
	 MODE_FIRE,
	 0,
	 AT_START_LINE,
	 false,
	 {0},
	 WE_GO,
	 WS_RUNNING,
	 1,
	 IT_STMT},
	{"start line: the go, and the send fails",
	 MODE_FIRE,
	 0,
	 AT_START_LINE,
	 true,
	 {0},
	 WE_GO,
	 WS_IDLE,
	 1,
	 IT_STMT,
	 true,
	 false,
	 "could not finish the flow (flow step 1)"},
	{"start line: the deadline",
	 MODE_HOLD,
	 0,
	 AT_START_LINE,
	 false,
	 {0},
	 WE_DEADLINE,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "was not released before the deadline"},
	{"start line: the commits' release is not for it",
	 MODE_HOLD,
	 0,
	 AT_START_LINE,
	 false,
	 {0},
	 WE_RELEASED,
	 WS_START_LINE,
	 0},
	{"running: nothing found, step 2",
	 MODE_HOLD,
	 0,
	 AT_FIRST_STMT,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_RUNNING,
	 1,
	 IT_STMT},
	{"running: found, skipped to COMMIT (fire)",
	 MODE_FIRE,
	 0,
	 AT_FIRST_STMT,
	 false,
	 {DB_OK, "", 1},
	 WE_ANSWER,
	 WS_RUNNING,
	 1,
	 IT_COMMIT},
	{"running: found, skipped to the commit line (hold)",
	 MODE_HOLD,
	 0,
	 AT_FIRST_STMT,
	 false,
	 {DB_OK, "", 1},
	 WE_ANSWER,
	 WS_HELD,
	 0},
	{"running: a blocked step waits, noted",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {0},
	 WE_BLOCKED,
	 WS_RUNNING,
	 0},
	{"running: the last step done, to the commit line (hold)",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_HELD,
	 0},
	{"running: the last step done, COMMIT (fire)",
	 MODE_FIRE,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_RUNNING,
	 1,
	 IT_COMMIT},
	{"running: a violation rolls back",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_ERROR, "23505"},
	 WE_ANSWER,
	 WS_ROLLING_BACK,
	 1,
	 IT_ROLLBACK},
	{"running: a step that closes its transaction",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_OK, "", 0, true},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 true,
	 "s.yaml:11: flow step 2 ended the transaction it runs in"},
	{"running: lost connection",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_LOST},
	 WE_LOST,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not finish the flow (flow step 2)"},
	{"running: a cancelled step (deadline)",
	 MODE_HOLD,
	 0,
	 AT_LAST_STMT,
	 false,
	 {DB_TIMEOUT},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not finish the flow"},
	{"running: COMMIT done, ok",
	 MODE_FIRE,
	 0,
	 AT_COMMIT,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 false,
	 false,
	 NULL,
	 "ok"},
	{"running: COMMIT lost",
	 MODE_FIRE,
	 0,
	 AT_COMMIT,
	 false,
	 {DB_LOST},
	 WE_LOST,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "could not COMMIT"},
	{"running: 40001 at COMMIT, retried after a pause",
	 MODE_HOLD,
	 2,
	 AT_COMMIT,
	 false,
	 {DB_ERROR, "40001"},
	 WE_ANSWER,
	 WS_BACKOFF,
	 0,
	 0,
	 false,
	 false,
	 NULL,
	 NULL,
	 NULL,
	 1},
	{"running: 40001 at COMMIT, no retries left",
	 MODE_HOLD,
	 0,
	 AT_COMMIT,
	 false,
	 {DB_ERROR, "40001"},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 false,
	 false,
	 NULL,
	 "40001"},
	{"held: the release sends COMMIT",
	 MODE_HOLD,
	 0,
	 AT_HELD,
	 false,
	 {0},
	 WE_RELEASED,
	 WS_RUNNING,
	 1,
	 IT_COMMIT},
	{"held: the deadline",
	 MODE_HOLD,
	 0,
	 AT_HELD,
	 false,
	 {0},
	 WE_DEADLINE,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "was not released to COMMIT before the deadline"},
	{"held: the go is not for it", MODE_HOLD, 0, AT_HELD, false, {0}, WE_GO, WS_HELD, 0},
	{"rolling back: done, the violation counted",
	 MODE_HOLD,
	 0,
	 AT_ROLLING_BACK,
	 false,
	 {DB_OK},
	 WE_ANSWER,
	 WS_IDLE,
	 0,
	 0,
	 false,
	 false,
	 NULL,
	 "23505",
	 "uq_t"},
	{"rolling back: lost",
	 MODE_HOLD,
	 0,
	 AT_ROLLING_BACK,
	 false,
	 {DB_LOST},
	 WE_LOST,
	 WS_IDLE,
	 0,
	 0,
	 true,
	 false,
	 "lost its connection at ROLLBACK"},
	{"backoff: the pause ends, BEGIN again",
	 MODE_HOLD,
	 2,
	 AT_BACKOFF,
	 false,
	 {0},
	 WE_TIMER,
	 WS_RUNNING,
	 1,
	 IT_BEGIN,
	 false,
	 false,
	 NULL,
	 NULL,
	 NULL,
	 1},
	{"backoff: an answer is not for it",
	 MODE_HOLD,
	 2,
	 AT_BACKOFF,
	 false,
	 {0},
	 WE_ANSWER,
	 WS_BACKOFF,
	 0,
	 0,
	 false,
	 false,
	 NULL,
	 NULL,
	 NULL,
	 1},
};
#pragma GCC diagnostic pop

Test(worker, every_state_and_event)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *c = &cases[i];
		struct rig g;
		rig_init(&g, c->mode, c->retries);
		reach(&g, c->at);
		int sends = io.sends;
		if (c->ev == WE_ANSWER || c->ev == WE_LOST)
			answer(&g.w, c->ans);
		io.fail_send = c->fail_send;
		enum wstate got = worker_advance(&g.w, c->ev);
		cr_expect_eq(got, c->want, "%s: state %s, want %s", c->name, worker_state_name(got),
			     worker_state_name(c->want));
		cr_expect_eq(io.sends - sends, c->want_sends, "%s: %d sends", c->name, io.sends - sends);
		if (c->want_sends)
			cr_expect_eq(io.kind, c->want_kind, "%s: sent kind %d", c->name, io.kind);
		cr_expect_eq(g.w.broken, c->want_broken, "%s: broken %d (%s)", c->name, g.w.broken,
			     g.w.why);
		cr_expect_eq(g.w.bad, c->want_bad, "%s: bad", c->name);
		if (c->want_why)
			cr_expect(strstr(g.w.why, c->want_why), "%s: why \"%s\"", c->name, g.w.why);
		if (c->want_outcome) {
			cr_expect_eq(g.w.attempts, 1, "%s: attempts", c->name);
			cr_expect_eq(outcome_get(&g.w.outcomes, c->want_outcome), 1, "%s: %s counted",
				     c->name, c->want_outcome);
		} else {
			cr_expect_eq(g.w.attempts, 0, "%s: attempts %lld", c->name, g.w.attempts);
		}
		cr_expect_eq(outcome_get(&g.w.constraints,
					 c->want_constraint ? c->want_constraint : "uq_t"),
			     c->want_constraint ? 1 : 0, "%s: constraint", c->name);
		cr_expect_eq(g.w.retries, c->want_retries, "%s: retries", c->name);
		if (c->ev == WE_BLOCKED)
			cr_expect(g.w.blocked, "%s: not noted blocked", c->name);
		cr_expect_eq(g.w.done, got == WS_IDLE && c->at != AT_IDLE, "%s: done", c->name);
		worker_free(&g.w);
	}
}

/* A retried attempt ends as one attempt, counted once, at the second COMMIT. */
/* Last-byte release: a fire round's worker sends its first statement at
 * the start line, holding its tail, and waits armed; the go (or its answer,
 * when that comes first) has the tail written and the attempt runs on. */
Test(worker, fire_last_byte_arms_then_runs)
{
	for (int answer_first = 0; answer_first < 2; answer_first++) {
		struct rig g;
		rig_init(&g, MODE_FIRE, 0);
		g.env.last_byte = true;
		struct worker *w = &g.w;
		worker_advance(w, WE_START);
		answer(w, OK);
		worker_advance(w, WE_ANSWER);
		answer(w, OK);
		worker_advance(w, WE_ANSWER);
		cr_assert_eq(w->state, WS_BEGINNING);
		int sends = io.sends;
		answer(w, OK);
		worker_advance(w, WE_ANSWER);
		cr_assert_eq(w->state, WS_ARMED);
		cr_expect(w->ready, "armed counts at the start line");
		cr_expect(worker_in_flight(WS_ARMED));
		cr_expect_eq(io.sends, sends + 1);
		cr_expect_eq(io.kind, IT_STMT);
		cr_expect_eq(io.idx, 0);
		cr_expect(io.held_tail, "the first statement was sent holding its tail");
		cr_expect_eq(io.releases, 0);
		cr_expect_eq(atomic_load(&w->view), WV_IDLE);
		if (!answer_first) {
			worker_advance(w, WE_GO);
			cr_expect_eq(w->state, WS_RUNNING);
			cr_expect_eq(io.releases, 1);
			cr_expect_eq(io.sends, sends + 1, "the go sends nothing more");
		}
		answer(w, OK); /* step 1 found nothing */
		worker_advance(w, WE_ANSWER);
		cr_expect_eq(w->state, WS_RUNNING);
		cr_expect_eq(io.releases, 1, "the tail was written once");
		cr_expect_eq(io.idx, 1, "step 2 went out");
		cr_expect(!io.held_tail, "only the first statement holds its tail");
		worker_free(w);
	}
	/* a hold round and a flow whose first step runs elsewhere do not arm */
	struct rig g;
	rig_init(&g, MODE_HOLD, 0);
	g.env.last_byte = true;
	reach(&g, AT_START_LINE);
	cr_expect_eq(g.w.state, WS_START_LINE);
	worker_free(&g.w);
}

Test(worker, retry_then_success_counts_one_attempt)
{
	struct rig g;
	rig_init(&g, MODE_FIRE, 2);
	reach(&g, AT_BACKOFF);
	worker_advance(&g.w, WE_TIMER);
	cr_assert_eq(io.kind, IT_BEGIN);
	for (int i = 0; i < 3; i++) { /* BEGIN, step 1, step 2 */
		answer(&g.w, OK);
		worker_advance(&g.w, WE_ANSWER);
	}
	cr_assert_eq(io.kind, IT_COMMIT);
	answer(&g.w, OK);
	cr_expect_eq(worker_advance(&g.w, WE_ANSWER), WS_IDLE);
	cr_expect_eq(g.w.attempts, 1);
	cr_expect_eq(g.w.retries, 1);
	cr_expect_eq(outcome_get(&g.w.outcomes, "ok"), 1);
	cr_expect_eq(outcome_get(&g.w.outcomes, "40001"), 0);
	worker_free(&g.w);
}

/* The try's BEGIN is kept (step -1, its send and answer) for the round's
 * timeline: the round's BEGIN, then a retry's own, and none after a reset. */
Test(worker, begin_is_recorded_per_try)
{
	struct rig g;
	rig_init(&g, MODE_FIRE, 2);
	g.w.id = 1;
	reach(&g, AT_BEGINNING);
	g.w.items[0].sent_us = 100;
	g.w.items[0].done_us = 150;
	answer(&g.w, OK);
	worker_advance(&g.w, WE_ANSWER);
	cr_expect(g.w.begin.worker == 1 && g.w.begin.step == -1);
	cr_expect(g.w.begin.sent_us == 100 && g.w.begin.done_us == 150);
	worker_reset(&g.w, false, 0, key);
	cr_expect_eq(g.w.begin.sent_us, 0, "a new generation has no BEGIN yet");
	worker_free(&g.w);
	rig_init(&g, MODE_FIRE, 2);
	reach(&g, AT_BACKOFF);
	worker_advance(&g.w, WE_TIMER);
	cr_assert_eq(io.kind, IT_BEGIN);
	g.w.items[0].sent_us = 900;
	g.w.items[0].done_us = 950;
	answer(&g.w, OK);
	worker_advance(&g.w, WE_ANSWER);
	cr_expect(g.w.begin.sent_us == 900 && g.w.begin.done_us == 950, "the retry's BEGIN");
	cr_expect_eq(g.w.n_steps, 0, "the retry's steps start afresh");
	worker_free(&g.w);
}

/* Behind a pooler nothing is prepared and BEGIN's answer names the backend. */
Test(worker, pooler_begins_unprepared_and_learns_the_pid)
{
	struct rig g;
	rig_init(&g, MODE_HOLD, 0);
	g.env.pooler = true;
	cr_expect_eq(worker_advance(&g.w, WE_START), WS_BEGINNING);
	answer(&g.w, OK);
	cr_expect_eq(worker_advance(&g.w, WE_ANSWER), WS_START_LINE);
	cr_expect_eq(io.pid, 4242);
	cr_expect(g.w.ready);
	worker_free(&g.w);
}

/* A free run pipelines BEGIN with the first statement (which decides what
 * follows), then the rest with COMMIT, and goes on to its next attempt. */
Test(worker, free_run_pipelines_and_goes_on)
{
	struct rig g;
	rig_init(&g, MODE_FIRE, 0);
	g.env.can_pipeline = true;
	g.w.prepare_tried = g.w.prepared = true;
	worker_reset(&g.w, true, clock_us() + 1000000u, NULL);
	cr_expect_eq(worker_advance(&g.w, WE_START), WS_RUNNING);
	cr_expect(g.w.pipeline);
	cr_expect_eq(io.kind, IT_BEGIN);
	cr_expect_eq(io.n_items, 2, "BEGIN and the skip_if_found step: %d", io.n_items);
	answer(&g.w, OK);
	worker_advance(&g.w, WE_ANSWER);
	cr_expect_eq(io.kind, IT_STMT);
	cr_expect_eq(io.last_kind, IT_COMMIT);
	answer(&g.w, OK);
	cr_expect_eq(worker_advance(&g.w, WE_ANSWER), WS_RUNNING, "the next attempt");
	cr_expect_eq(g.w.attempts, 1);
	cr_expect_eq(g.w.free_attempts, 1);
	atomic_store(&g.stop, true);
	answer(&g.w, OK);
	worker_advance(&g.w, WE_ANSWER);
	answer(&g.w, OK);
	cr_expect_eq(worker_advance(&g.w, WE_ANSWER), WS_IDLE, "stopped after its attempt");
	cr_expect(!g.w.pipeline);
	cr_expect_eq(g.w.attempts, 2);
	worker_free(&g.w);
}

/* ---- application workers (WK_APP): their states follow the process and
 * its connections, fed as events by their engine (app.c); nothing is sent
 * through the I/O layer ---- */

/* Where an app case starts. */
enum app_start {
	AA_IDLE,
	AA_STARTING,
	AA_RUNNING,
	AA_HELD, /* HELD_FIRST in fire mode, HELD_COMMIT in hold mode */
	AA_BLOCKED,
	AA_RELEASED,
	AA_EXITED,
};

static void app_rig(struct rig *g, enum race_mode mode)
{
	rig_init(g, mode, 0);
	worker_free(&g->w);
	memset(&g->w, 0, sizeof g->w);
	worker_init_app(&g->w, &g->env, 1, 0);
	worker_reset(&g->w, false, clock_us() + 1000000u, NULL);
}

static void app_reach(struct rig *g, enum app_start at)
{
	struct worker *w = &g->w;
	static const enum wevent path[] = {WE_START, WE_CONNECTED, WE_HELD};
	int steps = at == AA_IDLE ? 0 : at == AA_STARTING ? 1 : at == AA_RUNNING ? 2 : 3;
	if (at == AA_BLOCKED || at == AA_EXITED)
		steps = 2;
	for (int i = 0; i < steps; i++)
		worker_advance(w, path[i]);
	if (at == AA_BLOCKED)
		worker_advance(w, WE_BLOCKED);
	if (at == AA_EXITED)
		worker_advance(w, WE_EXITED);
	if (at == AA_RELEASED)
		worker_advance(w, g->cfg.mode == MODE_FIRE ? WE_GO : WE_RELEASED);
}

struct app_case {
	const char *name;
	enum race_mode mode;
	enum app_start at;
	enum wevent ev;
	enum wstate want;
	enum wview want_view;
	enum wfault want_fault; /* WF_NONE: not broken */
	const char *want_why;
	int want_connections, want_holds;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct app_case app_cases[] = {
	{"idle: its process started", MODE_HOLD, AA_IDLE, WE_START, WS_APP_STARTING, WV_RUNNING},
	{"idle: a connection is not for it", MODE_HOLD, AA_IDLE, WE_CONNECTED, WS_IDLE, WV_IDLE},
	{"starting: connected through the listener", MODE_HOLD, AA_STARTING, WE_CONNECTED,
	 WS_APP_RUNNING, WV_RUNNING, WF_NONE, NULL, 1},
	{"starting: exits before connecting (it bypassed the listener)", MODE_HOLD, AA_STARTING,
	 WE_EXITED, WS_APP_EXITED, WV_FINISHED, WF_NEVER_CONNECTED,
	 "worker b never connected through pgrace's listener"},
	{"starting: killed at its deadline", MODE_HOLD, AA_STARTING, WE_DEADLINE, WS_APP_EXITED,
	 WV_FINISHED, WF_DEADLINE,
	 "still running at its deadline (it had not connected through pgrace's listener)"},
	{"starting: no hold before a connection", MODE_HOLD, AA_STARTING, WE_HELD, WS_APP_STARTING,
	 WV_RUNNING},
	{"starting: nothing to lose before a connection", MODE_HOLD, AA_STARTING, WE_LOST,
	 WS_APP_STARTING, WV_RUNNING},
	{"running: a second connection", MODE_HOLD, AA_RUNNING, WE_CONNECTED, WS_APP_RUNNING,
	 WV_RUNNING, WF_NONE, NULL, 2},
	{"running: COMMIT held (hold)", MODE_HOLD, AA_RUNNING, WE_HELD, WS_APP_HELD_COMMIT, WV_HELD,
	 WF_NONE, NULL, 1, 1},
	{"running: first statement held (fire)", MODE_FIRE, AA_RUNNING, WE_HELD, WS_APP_HELD_FIRST,
	 WV_HELD, WF_NONE, NULL, 1, 1},
	{"running: blocked on a peer", MODE_HOLD, AA_RUNNING, WE_BLOCKED, WS_APP_BLOCKED,
	 WV_RUNNING, WF_NONE, NULL, 1},
	{"running: an answer", MODE_HOLD, AA_RUNNING, WE_ANSWER, WS_APP_RUNNING, WV_RUNNING, WF_NONE,
	 NULL, 1},
	{"running: a lost connection", MODE_HOLD, AA_RUNNING, WE_LOST, WS_APP_RUNNING, WV_RUNNING,
	 WF_LOST, "worker b lost a connection mid-way: the server closed its connection", 1},
	{"running: exits", MODE_HOLD, AA_RUNNING, WE_EXITED, WS_APP_EXITED, WV_FINISHED, WF_NONE,
	 NULL, 1},
	{"running: killed at its deadline", MODE_HOLD, AA_RUNNING, WE_DEADLINE, WS_APP_EXITED,
	 WV_FINISHED, WF_DEADLINE, "still running at its deadline (running)", 1},
	{"running: the go is not for it", MODE_FIRE, AA_RUNNING, WE_GO, WS_APP_RUNNING, WV_RUNNING,
	 WF_NONE, NULL, 1},
	{"held at COMMIT: released", MODE_HOLD, AA_HELD, WE_RELEASED, WS_APP_RELEASED, WV_RUNNING,
	 WF_NONE, NULL, 1, 1},
	{"held at COMMIT: the go is fire's", MODE_HOLD, AA_HELD, WE_GO, WS_APP_HELD_COMMIT, WV_HELD,
	 WF_NONE, NULL, 1, 1},
	{"held at COMMIT: another connection blocked, still held", MODE_HOLD, AA_HELD, WE_BLOCKED,
	 WS_APP_HELD_COMMIT, WV_HELD, WF_NONE, NULL, 1, 1},
	{"held at COMMIT: its process ends (gave up waiting)", MODE_HOLD, AA_HELD, WE_EXITED,
	 WS_APP_EXITED, WV_FINISHED, WF_UNRELEASED, "ended while pgrace held a statement of it", 1,
	 1},
	{"held at COMMIT: its connection lost", MODE_HOLD, AA_HELD, WE_LOST, WS_APP_HELD_COMMIT,
	 WV_HELD, WF_LOST, "lost a connection mid-way", 1, 1},
	{"held at COMMIT: killed at its deadline", MODE_HOLD, AA_HELD, WE_DEADLINE, WS_APP_EXITED,
	 WV_FINISHED, WF_DEADLINE, "still running at its deadline (held at a COMMIT)", 1, 1},
	{"held at its first statement: the go", MODE_FIRE, AA_HELD, WE_GO, WS_APP_RELEASED,
	 WV_RUNNING, WF_NONE, NULL, 1, 1},
	{"held at its first statement: the commits' release is hold's", MODE_FIRE, AA_HELD,
	 WE_RELEASED, WS_APP_HELD_FIRST, WV_HELD, WF_NONE, NULL, 1, 1},
	{"held at its first statement: its process ends", MODE_FIRE, AA_HELD, WE_EXITED,
	 WS_APP_EXITED, WV_FINISHED, WF_UNRELEASED, "never sent to the server", 1, 1},
	{"blocked: it moved on", MODE_HOLD, AA_BLOCKED, WE_ANSWER, WS_APP_RUNNING, WV_RUNNING,
	 WF_NONE, NULL, 1},
	{"blocked: its COMMIT held", MODE_HOLD, AA_BLOCKED, WE_HELD, WS_APP_HELD_COMMIT, WV_HELD,
	 WF_NONE, NULL, 1, 1},
	{"blocked: exits", MODE_HOLD, AA_BLOCKED, WE_EXITED, WS_APP_EXITED, WV_FINISHED, WF_NONE,
	 NULL, 1},
	{"blocked: a lost connection", MODE_HOLD, AA_BLOCKED, WE_LOST, WS_APP_BLOCKED, WV_RUNNING,
	 WF_LOST, "lost a connection", 1},
	{"blocked: killed at its deadline", MODE_HOLD, AA_BLOCKED, WE_DEADLINE, WS_APP_EXITED,
	 WV_FINISHED, WF_DEADLINE, "(waiting on a lock a peer holds)", 1},
	{"released: its COMMIT answered", MODE_HOLD, AA_RELEASED, WE_ANSWER, WS_APP_RUNNING,
	 WV_RUNNING, WF_NONE, NULL, 1, 1},
	{"released: its COMMIT blocked on a peer (a deferred constraint)", MODE_HOLD, AA_RELEASED,
	 WE_BLOCKED, WS_APP_BLOCKED, WV_RUNNING, WF_NONE, NULL, 1, 1},
	{"released: its next COMMIT held", MODE_HOLD, AA_RELEASED, WE_HELD, WS_APP_HELD_COMMIT,
	 WV_HELD, WF_NONE, NULL, 1, 2},
	{"released: exits", MODE_FIRE, AA_RELEASED, WE_EXITED, WS_APP_EXITED, WV_FINISHED, WF_NONE,
	 NULL, 1, 1},
	{"released: a lost connection", MODE_FIRE, AA_RELEASED, WE_LOST, WS_APP_RELEASED,
	 WV_RUNNING, WF_LOST, NULL, 1, 1},
	{"exited: nothing moves it", MODE_HOLD, AA_EXITED, WE_CONNECTED, WS_APP_EXITED, WV_FINISHED,
	 WF_NONE, NULL, 1},
	{"exited: no second end", MODE_HOLD, AA_EXITED, WE_DEADLINE, WS_APP_EXITED, WV_FINISHED,
	 WF_NONE, NULL, 1},
};
#pragma GCC diagnostic pop

Test(worker, every_app_state_and_event)
{
	for (size_t i = 0; i < sizeof app_cases / sizeof app_cases[0]; i++) {
		const struct app_case *c = &app_cases[i];
		struct rig g;
		app_rig(&g, c->mode);
		app_reach(&g, c->at);
		cr_assert_not(g.w.broken, "%s: broken on the way: %s", c->name, g.w.why);
		if (c->ev == WE_LOST)
			snprintf(g.w.app_note, sizeof g.w.app_note,
				 "the server closed its connection (backend pid 77)");
		enum wstate got = worker_advance(&g.w, c->ev);
		cr_expect_eq(got, c->want, "%s: state %s, want %s", c->name, worker_state_name(got),
			     worker_state_name(c->want));
		cr_expect_eq(atomic_load(&g.w.view), (int)c->want_view, "%s: view %d", c->name,
			     atomic_load(&g.w.view));
		cr_expect_eq(g.w.broken, c->want_fault != WF_NONE, "%s: broken %d (%s)", c->name,
			     g.w.broken, g.w.why);
		cr_expect_eq(g.w.fault, c->want_fault, "%s: fault %d", c->name, g.w.fault);
		if (c->want_why)
			cr_expect(strstr(g.w.why, c->want_why), "%s: why \"%s\"", c->name, g.w.why);
		cr_expect_eq(g.w.done, got == WS_APP_EXITED, "%s: done", c->name);
		cr_expect_eq(g.w.app_connections, c->want_connections, "%s: connections %d", c->name,
			     g.w.app_connections);
		cr_expect_eq(g.w.app_holds, c->want_holds, "%s: holds %d", c->name, g.w.app_holds);
		cr_expect_eq(io.sends, 0, "%s: an app worker sends nothing itself", c->name);
		worker_free(&g.w);
	}
}
