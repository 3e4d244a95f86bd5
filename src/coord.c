/* coord.c: the coordinator of a race's rounds (coord.h): the start line,
 * hold mode's commit barrier with lock-view polling, the release rule and
 * the look that applies it for SQL and app workers alike, and the diagnosis
 * of a round that ran out of time. Every SQL it sends is the lock view's. */
#include "coord.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "order.h"
#include "lastbyte.h"
#include "release.h"

/* Waits on cv for at most us microseconds (realtime clock, as pthread
 * wants); the caller holds m. */
static void wait_us(pthread_cond_t *cv, pthread_mutex_t *m, uint64_t us)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(us * 1000u);
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int rc = pthread_cond_timedwait(cv, m, &ts);
	if (rc && rc != ETIMEDOUT)
		abort();
}

bool coord_wait(struct coord *c, const int *counter, int n, uint64_t deadline_us)
{
	bool ok = true;
	evloop_lock(&c->ctl->mu);
	while (*counter < n) {
		if (db_stop_requested() || clock_us() >= deadline_us) {
			ok = false;
			break;
		}
		wait_us(&c->ctl->cv, &c->ctl->mu, 50000);
	}
	evloop_unlock(&c->ctl->mu);
	return ok;
}

bool coord_open(struct coord *c, const char *dsn, const char *schema, bool pooler, bool hold, char *err,
		size_t errlen)
{
	hist_init(&c->detect);
	c->pooler = pooler;
	c->pid_array = malloc((size_t)c->n * 12 + 3);
	c->pid_of = calloc((size_t)c->n, sizeof *c->pid_of);
	c->members = calloc((size_t)c->n, sizeof *c->members);
	if (!c->pid_array || !c->pid_of || !c->members)
		abort();
	c->pid_array[0] = '\0';
	c->monitor = db_connect(dsn, pooler ? NULL : schema, err, errlen);
	if (!c->monitor)
		return false;
	char why[512];
	c->view = lockview_detect(c->monitor, why, sizeof why);
	if (!c->view && hold) {
		snprintf(err, errlen, "%s", why);
		return false;
	}
	if (!c->view)
		c->view = lockview_none();
	/* The barrier's query, parsed and planned once (not through a pooler,
	 * where a prepared statement may land on another server connection). */
	if (hold && !pooler) {
		struct db_result pres;
		db_prepare(c->monitor, "pgrace_blocked_by_peers", c->view->blocked_by_peers, 2,
			   clock_us() + 10u * 1000000u, &pres);
		c->monitor_prepared = pres.status == DB_OK;
	}
	c->monitor_pid = PQbackendPID(c->monitor);
	return true;
}

void coord_attach(struct coord *c, int n, PGconn *monitor, const struct lockview *view)
{
	c->n = n;
	c->monitor = monitor;
	c->monitor_borrowed = true;
	c->view = view ? view : lockview_none();
	c->monitor_pid = c->admin_pid = PQbackendPID(monitor); /* the app engine's setup connection */
	hist_init(&c->detect);
}

void coord_close(struct coord *c)
{
	if (c->monitor && !c->monitor_borrowed)
		PQfinish(c->monitor);
	c->monitor = NULL;
	free(c->pid_array);
	free(c->pid_of);
	free(c->members);
	free(c->all_buf);
	free(c->busy_buf);
	c->pid_array = c->all_buf = c->busy_buf = NULL;
	c->pid_of = NULL;
	c->members = NULL;
	c->all_cap = c->busy_cap = 0;
}

void coord_pids(struct coord *c)
{
	size_t cap = (size_t)c->n * 12 + 3, len = 0;
	evloop_lock(&c->ctl->mu); /* behind a pooler, workers write their pid under mu */
	c->pid_array[len++] = '{';
	for (int i = 0; i < c->n; i++) {
		c->pid_of[i] = c->w[i].pid;
		len += (size_t)snprintf(c->pid_array + len, cap - len, "%s%d", i ? "," : "", c->w[i].pid);
	}
	snprintf(c->pid_array + len, cap - len, "}");
	evloop_unlock(&c->ctl->mu);
}

/* Who backend pid is, for a message: one of pgrace's own connections (a
 * step that left a transaction open holds locks on the setup connection),
 * or a session outside pgrace. */
static void blocker_name(const struct coord *c, int pid, char *buf, size_t len)
{
	if (pid && pid == c->admin_pid)
		snprintf(buf, len,
			 "pgrace's own setup connection (pid %d): a step left a transaction open that "
			 "holds the lock",
			 pid);
	else if (pid && pid == c->monitor_pid)
		snprintf(buf, len, "pgrace's own coordinator connection (pid %d)", pid);
	else
		snprintf(buf, len, "pid %d outside pgrace", pid);
}

/* Why the workers still running are stuck, from the server's view. */
static void describe_stuck(struct coord *c, const char *what, char *err, size_t errlen)
{
	/* First choice: a worker blocked by a session that is not ours. */
	struct db_result res;
	const char *p1[1] = {c->pid_array};
	db_query(c->monitor, c->view->blocked_from_outside, 1, p1, clock_us() + 2000000u, &res);
	int outside = 0, victim = 0;
	if (res.status == DB_OK && res.rows > 0 &&
	    sscanf(res.first_value, "%d %d", &outside, &victim) == 2) {
		int found = -1;
		evloop_lock(&c->ctl->mu);
		for (int i = 0; found < 0 && i < c->n; i++)
			if (c->w[i].pid == victim)
				found = i;
		evloop_unlock(&c->ctl->mu);
		if (found >= 0) {
			char who[160], name[8];
			blocker_name(c, outside, who, sizeof who);
			snprintf(err, errlen, "%s: worker %s (backend pid %d) is blocked by %s", what,
				 order_worker_name(found, name, sizeof name), victim, who);
			return;
		}
	}
	for (int i = 0; i < c->n; i++) {
		int st = atomic_load(&c->w[i].view);
		if (st == WV_RUNNING || st == WV_IDLE) {
			char name[8];
			snprintf(err, errlen, "%s: worker %s %s", what, order_worker_name(i, name, sizeof name),
				 st == WV_IDLE ? "never reached the start line"
					       : "never finished its statements");
			return;
		}
	}
	snprintf(err, errlen, "%s", what);
}

static struct lastbyte_tail *worker_tail(void *ctx, int i)
{
	return &((struct coord *)ctx)->w[i].tail;
}

bool coord_start_line(struct coord *c, long long gen, bool fire, uint64_t deadline_us, char *err,
		      size_t errlen)
{
	bool ok = coord_wait(c, &c->ctl->ready, c->n, deadline_us);
	if (ok && c->pooler)
		coord_pids(c); /* each worker wrote its pid before it was ready */
	if (!ok && !db_stop_requested()) {
		char what[96];
		snprintf(what, sizeof what, "round deadline of %d ms passed before the start line",
			 c->deadline_ms);
		describe_stuck(c, what, err, errlen);
	}
	/* Last-byte release: every held tail, back to back, before the loops
	 * hear of the go (a loop writes a tail nobody took). */
	c->realtime_release = release_burst(c->n, worker_tail, c);
	if (fire || !ok)
		atomic_store(&c->ctl->commit_gen, gen);
	atomic_store(&c->ctl->go_gen, gen);
	evloop_wake(c->ev);
	return ok;
}

int coord_rule(const struct coord_member *m, int n, long long blocked)
{
	long long busy = 0;
	for (int i = 0; i < n; i++) {
		if (m[i].view == WV_FINISHED)
			continue;
		if (m[i].view == WV_IDLE)
			return 0; /* not even past its start yet */
		if (m[i].view != WV_HELD && m[i].n_busy == 0)
			return 0; /* running, but nothing of it at the server to be blocked */
		busy += m[i].n_busy;
	}
	if (busy == 0)
		return 1;
	if (blocked < 0)
		return -1;
	return blocked >= busy ? 1 : 0;
}

/* The members' pids, all of them ("{...}" into c->all_buf) and the busy
 * ones (c->busy_buf). */
static void member_arrays(struct coord *c, const struct coord_member *m, int n)
{
	size_t all = 0, busy = 0;
	for (int i = 0; i < n; i++) {
		all += (size_t)m[i].n_pids;
		busy += (size_t)m[i].n_busy;
	}
	size_t need_all = all * 12 + 3, need_busy = busy * 12 + 3;
	if (c->all_cap < need_all) {
		free(c->all_buf);
		c->all_buf = malloc(need_all);
		c->all_cap = need_all;
	}
	if (c->busy_cap < need_busy) {
		free(c->busy_buf);
		c->busy_buf = malloc(need_busy);
		c->busy_cap = need_busy;
	}
	if (!c->all_buf || !c->busy_buf)
		abort();
	size_t a = 0, b = 0;
	c->all_buf[a++] = '{';
	c->busy_buf[b++] = '{';
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < m[i].n_pids; k++)
			a += (size_t)snprintf(c->all_buf + a, c->all_cap - a, "%s%d",
					      a > 1 ? "," : "", m[i].pids[k]);
		for (int k = 0; k < m[i].n_busy; k++)
			b += (size_t)snprintf(c->busy_buf + b, c->busy_cap - b, "%s%d",
					      b > 1 ? "," : "", m[i].busy[k]);
	}
	snprintf(c->all_buf + a, c->all_cap - a, "}");
	snprintf(c->busy_buf + b, c->busy_cap - b, "}");
}

enum coord_seen coord_look(struct coord *c, const struct coord_member *m, int n, bool ask_view,
			   uint64_t deadline_us, char *err, size_t errlen)
{
	c->all_blocked = false;
	int rule = coord_rule(m, n, -1);
	if (rule == 1) {
		c->streak = 0;
		return COORD_SETTLED; /* held and finished stay so until released: no second look */
	}
	if (rule == 0 || !ask_view) {
		c->streak = 0;
		return COORD_WAIT;
	}
	member_arrays(c, m, n);
	const char *params[2] = {c->all_buf, c->busy_buf};
	struct db_result res;
	c->polls++;
	if (c->monitor_prepared)
		db_query_prepared(c->monitor, "pgrace_blocked_by_peers", 2, params, deadline_us, &res);
	else
		db_query(c->monitor, c->view->blocked_by_peers, 2, params, deadline_us, &res);
	if (res.status == DB_TIMEOUT || res.status == DB_INTERRUPTED) {
		c->streak = 0;
		return COORD_WAIT; /* the round's deadline or a signal: the caller says which */
	}
	if (res.status != DB_OK) {
		char text[320];
		snprintf(err, errlen, "the coordinator's connection failed: %s",
			 db_result_text(&res, text, sizeof text));
		return COORD_FAILED;
	}
	/* One row, one integer column: never assumed. */
	char *end = NULL;
	errno = 0;
	long blocked = res.rows == 1 && res.columns == 1 && !res.first_null
			       ? strtol(res.first_value, &end, 10)
			       : -1;
	if (blocked < 0 || errno || !end || *end) {
		snprintf(err, errlen,
			 "the %s lock view's blocked-workers query returned %lld rows of %d columns "
			 "(\"%.40s\"), not one count",
			 c->view->engine, res.rows, res.columns, res.first_value);
		return COORD_FAILED;
	}
	if (coord_rule(m, n, blocked) != 1) {
		c->streak = 0;
		return COORD_WAIT;
	}
	c->all_blocked = true;
	return ++c->streak >= 2 ? COORD_SETTLED : COORD_WAIT;
}

void coord_outside_blocker(struct coord *c, const struct coord_member *m, int n, char *buf,
			   size_t len)
{
	buf[0] = '\0';
	member_arrays(c, m, n);
	const char *params[1] = {c->all_buf};
	struct db_result res;
	int outside = 0, victim = 0;
	db_query(c->monitor, c->view->blocked_from_outside, 1, params, clock_us() + 2000000u, &res);
	if (res.status != DB_OK || res.rows == 0 ||
	    sscanf(res.first_value, "%d %d", &outside, &victim) != 2)
		return;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < m[i].n_pids; k++)
			if (m[i].pids[k] == victim) {
				char who[160], name[8];
				blocker_name(c, outside, who, sizeof who);
				snprintf(buf, len, "worker %s (backend pid %d) is blocked by %s",
					 order_worker_name(i, name, sizeof name), victim, who);
				return;
			}
}

/* The SQL workers as the rule sees them: each one backend, busy while a
 * batch of it runs. */
static const struct coord_member *sql_members(struct coord *c)
{
	for (int i = 0; i < c->n; i++) {
		int st = atomic_load(&c->w[i].view);
		c->members[i] = (struct coord_member){st, &c->pid_of[i], 1, &c->pid_of[i],
						      st == WV_RUNNING ? 1 : 0};
	}
	return c->members;
}

/* Sleeps for at most us microseconds: a worker reaching the commit line (a
 * loop's report) wakes it early. */
static void nap(struct coord *c, uint64_t us)
{
	evloop_lock(&c->ctl->mu);
	wait_us(&c->ctl->cv, &c->ctl->mu, us);
	evloop_unlock(&c->ctl->mu);
}

bool coord_commit_barrier(struct coord *c, long long gen, uint64_t deadline_us, bool *failed, char *err,
			  size_t errlen)
{
	/* Settled twice in a row: a worker seen blocked stays blocked until
	 * someone commits, and nobody commits before we say so. Between polls
	 * the coordinator backs off (25 us doubling to 400 us: each poll costs
	 * the server a lock-table scan), and a worker reaching the commit line
	 * wakes it at once. */
	bool ok = true;
	uint64_t pause = 25;
	c->streak = 0;
	for (;;) {
		enum coord_seen seen = coord_look(c, sql_members(c), c->n, true, deadline_us, err, errlen);
		if (seen == COORD_SETTLED)
			break;
		if (seen == COORD_FAILED)
			*failed = true;
		if (*failed || db_stop_requested() || clock_us() >= deadline_us) {
			ok = false;
			break;
		}
		if (c->streak == 0) {
			nap(c, pause);
			pause = pause * 2 > 400 ? 400 : pause * 2;
		} else {
			pause = 25;
		}
	}
	uint64_t released = clock_us(), last = 0;
	for (int i = 0; ok && i < c->n; i++) {
		uint64_t t = atomic_load(&c->w[i].settle_us);
		if (t > last)
			last = t;
	}
	if (ok)
		hist_record(&c->detect, released > last ? released - last : 0);
	if (!ok && !*failed && !db_stop_requested()) {
		char what[64];
		snprintf(what, sizeof what, "round deadline of %d ms passed", c->deadline_ms);
		describe_stuck(c, what, err, errlen);
	}
	atomic_store(&c->ctl->commit_gen, gen);
	evloop_wake(c->ev);
	return ok;
}

void coord_mutual_wait_hint(struct coord *c, char *hint, size_t len)
{
	const char *params[1] = {c->pid_array};
	struct db_result res;
	int waiting = 0;
	char timeout[32] = "";
	hint[0] = '\0';
	db_query(c->monitor, c->view->peers_and_deadlock_timeout, 1, params, clock_us() + 2000000u, &res);
	if (res.status != DB_OK || sscanf(res.first_value, "%d %31s", &waiting, timeout) != 2 ||
	    waiting == 0)
		return;
	snprintf(hint, len,
		 "; when the deadline passed, %d workers were waiting on locks held by other workers "
		 "of the round: the workers were in deadlock with each other, which the server "
		 "breaks one 40P01 at a time, each after deadlock_timeout (%s); raise the phase's "
		 "race: {deadline_ms: N} (now %d, or --deadline-ms) well above that",
		 waiting, timeout, c->deadline_ms);
}

bool coord_rows_blocker(struct coord *c, PGconn *asker, const char *schema, char *buf, size_t len)
{
	struct db_result res;
	const char *params[1] = {schema};
	buf[0] = '\0';
	db_query(asker ? asker : c->monitor, c->view->exclusive_holder, 1, params, clock_us() + 2000000u,
		 &res);
	int pid = 0;
	char table[64] = "";
	if (res.status != DB_OK) {
		char text[320];
		snprintf(buf, len, "; who holds a lock there could not be asked: %s",
			 db_result_text(&res, text, sizeof text));
		return false;
	}
	if (res.rows == 0 || sscanf(res.first_value, "%d %63s", &pid, table) != 2)
		return true;
	char who[160];
	blocker_name(c, pid, who, sizeof who);
	snprintf(buf, len, "; %s holds an ACCESS EXCLUSIVE lock on table %s", who, table);
	return true;
}
