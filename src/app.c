/* app.c: application flows: one process per worker per round, relayed and
 * held by the protocol listener, judged from both sides (app.h).
 *
 * Each worker is an application worker of the attempt core (worker.h, kind
 * WK_APP): the coordinator (the caller's thread) starts one thread per
 * worker, each running the app command through command_run (its rules:
 * process group, deadline, SIGTERM then SIGKILL, output tails), and
 * meanwhile turns what the listener and the processes show into the
 * workers' events (connected, held, answered, lost, exited), then takes one
 * look of the shared barrier (coord_look, coord.c: the release rule, the
 * lock view over every backend pid of every worker) and releases the held
 * statements when it says so: in hold mode every COMMIT once every worker
 * is held, finished or blocked on a peer; in fire mode every first data
 * statement once every worker is held there, finished, or blocked on a
 * peer before it (the same rule). */
#include "app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_warm.h"
#include "attempt.h"
#include "command.h"
#include "coord.h"
#include "db.h"
#include "key.h"
#include "lockview.h"
#include "mem.h"
#include "order.h"
#include "proxy.h"
#include "secret.h"
#include "stats.h"
#include "worker.h"

extern char **environ;

#define LOCKVIEW_US 500u    /* the lock view asked at most this often */
#define WAIT_SLICE_US 5000u /* a process's exit noticed within this */
#define ROWS_DEADLINE_US (30u * 1000000u)

struct app_race {
	PGconn *admin;
	const struct scenario *sc;
	struct race_cfg cfg;
	const char *schema;
	const struct lockview *view;
	struct proxy *px;
	struct app_warm *warm; /* flow app warm: true, else NULL */
	app_drive_fn drive; /* interleave mode's, else NULL */
	void *drive_ctx;
	/* the workers, their coordinator and what it last saw */
	struct worker_env env;
	struct worker *w;
	struct coord coord;
	struct coord_member *members;
	int *pids, *busy;       /* [workers][PROXY_MAX_PIDS]: each member's */
	struct proxy_view *v;   /* [workers]: the listener's views, this look */
	int *lost_seen, *holds_seen, *answers_seen, *releases_seen; /* [workers]: fed as events so far */
	bool *which;                                /* [workers]: released at this look */
	bool asking; /* the last look waits on the lock view: look again soon */
	char outside[256]; /* near the deadline: who outside the round blocks a worker ("" none) */
};

/* One worker's process in a round. */
struct app_proc {
	pthread_t thread;
	char **argv, **envp;
	const char *cwd, *watch;
	uint64_t deadline_us;
	struct command_result res;
	uint64_t ended_us; /* clock_us() when the command ended */
	atomic_bool done;
};

struct app_race *app_open(PGconn *admin, const char *schema, const struct scenario *sc,
			  const struct race_cfg *cfg, char *err, size_t errlen)
{
	char why[256];
	struct app_race *a = mem_calloc(1, sizeof *a);
	a->admin = admin;
	a->sc = sc;
	a->cfg = *cfg;
	a->schema = schema;
	if (cfg->autocommit) {
		snprintf(err, errlen,
			 "%s:%d: an app flow runs the application's own transactions: "
			 "race: autocommit does not apply",
			 sc->path, sc->app->line);
		goto fail;
	}
	/* Every mode asks the lock view: a worker blocked on a held peer can
	 * reach neither its COMMIT nor its first data statement before the
	 * release, nor its next step in an order. Hold and interleave need one;
	 * fire goes without (then only the deadline ends such a round). */
	a->view = lockview_detect(admin, why, sizeof why);
	if ((cfg->mode == MODE_HOLD || cfg->mode == MODE_INTERLEAVE) && !a->view) {
		snprintf(err, errlen, "%s mode: %s", mode_name(cfg->mode), why);
		goto fail;
	}
	a->px = proxy_open(PQhost(admin), PQport(admin), cfg->workers, err, errlen);
	if (!a->px)
		goto fail;
	if (sc->app->warm)
		a->warm = app_warm_new(cfg->workers);
	size_t n = (size_t)cfg->workers;
	a->env = (struct worker_env){.sc = sc, .cfg = &a->cfg};
	a->w = mem_calloc(n, sizeof *a->w);
	for (int i = 0; i < cfg->workers; i++)
		worker_init_app(&a->w[i], &a->env, i, race_key_of(&a->cfg, i));
	coord_attach(&a->coord, cfg->workers, admin, a->view);
	a->members = mem_calloc(n, sizeof *a->members);
	a->pids = mem_calloc(n * PROXY_MAX_PIDS, sizeof *a->pids);
	a->busy = mem_calloc(n * PROXY_MAX_PIDS, sizeof *a->busy);
	a->v = mem_calloc(n, sizeof *a->v);
	a->lost_seen = mem_calloc(n, sizeof *a->lost_seen);
	a->holds_seen = mem_calloc(n, sizeof *a->holds_seen);
	a->answers_seen = mem_calloc(n, sizeof *a->answers_seen);
	a->which = mem_calloc(n, sizeof *a->which);
	a->releases_seen = mem_calloc(n, sizeof *a->releases_seen);
	return a;
fail:
	app_close(a);
	return NULL;
}

void app_set_driver(struct app_race *a, app_drive_fn fn, void *ctx)
{
	a->drive = fn;
	a->drive_ctx = ctx;
}

struct proxy *app_proxy(struct app_race *a)
{
	return a->px;
}

/* The driver's look at the round (app_set_driver). */
static bool drive(struct app_race *a, struct app_proc *procs, int started, char *err, size_t errlen)
{
	bool done[64] = {false};
	for (int w = 0; w < started && w < 64; w++)
		done[w] = atomic_load(&procs[w].done);
	return a->drive(a->drive_ctx, done, err, errlen);
}

void app_close(struct app_race *a)
{
	if (!a)
		return;
	app_warm_free(a->warm);
	proxy_close(a->px);
	if (a->w) {
		for (int i = 0; i < a->cfg.workers; i++)
			worker_free(&a->w[i]);
		coord_close(&a->coord);
	}
	free(a->w);
	free(a->members);
	free(a->pids);
	free(a->busy);
	free(a->v);
	free(a->lost_seen);
	free(a->holds_seen);
	free(a->answers_seen);
	free(a->releases_seen);
	free(a->which);
	free(a);
}

static void *proc_main(void *arg)
{
	struct app_proc *p = arg;
	command_run_watch(p->argv, p->cwd, p->envp, p->deadline_us, p->watch, &p->res);
	p->ended_us = clock_us();
	atomic_store(&p->done, true);
	return NULL;
}

static char *pair(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = mem_malloc(n);
	snprintf(s, n, "%s=%s", name, value);
	return s;
}

/* The environment of worker w: command_env()'s, pointed at w's listener,
 * plus the key. */
static char **proc_env(struct app_race *a, int w, long long round, int key, const struct key_values *kv)
{
	char **base = command_env(environ, a->admin, a->schema);
	size_t n = 0;
	while (base[n])
		n++;
	char **env = mem_calloc(n + a->sc->n_params + 8, sizeof *env);
	size_t k = 0;
	char port[16], url[2048], num[32], name[32];
	snprintf(port, sizeof port, "%d", proxy_port(a->px, w));
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(base[i], "PGHOST=", 7) || !strncmp(base[i], "PGPORT=", 7) ||
		    !strncmp(base[i], "PGPASSFILE=", 11) || !strncmp(base[i], "DATABASE_URL=", 13) ||
		    !strncmp(base[i], "PGSSLMODE=", 10)) {
			free(base[i]);
			continue;
		}
		env[k++] = base[i];
	}
	free(base);
	const char *user = PQuser(a->admin), *db = PQdb(a->admin), *pass = PQpass(a->admin);
	env[k++] = pair("PGHOST", "127.0.0.1");
	env[k++] = pair("PGPORT", port);
	char why[256];
	const char *passfile = secret_passfile("127.0.0.1", "*", db, user, pass, why, sizeof why);
	if (passfile)
		env[k++] = pair("PGPASSFILE", passfile);
	command_url(url, sizeof url, "127.0.0.1", port, user, NULL, db, NULL);
	env[k++] = pair("DATABASE_URL", url);
	snprintf(num, sizeof num, "%d", w);
	env[k++] = pair("PGRACE_WORKER", num);
	snprintf(num, sizeof num, "%lld", round);
	env[k++] = pair("PGRACE_ROUND", num);
	snprintf(num, sizeof num, "%d", key);
	env[k++] = pair("PGRACE_KEY_INDEX", num);
	for (size_t i = 0; kv && i < a->sc->n_params; i++) {
		snprintf(name, sizeof name, "PGRACE_KEY%zu", i + 1);
		env[k++] = pair(name, kv->ptr[i]);
	}
	env[k] = NULL;
	return env;
}

/* The command's argv with the key's values after it (for a shell, "sh" as
 * $0, then the values as $1..$n). */
static char **proc_argv(const struct app_race *a, const struct key_values *kv)
{
	const struct command *c = &a->sc->app->cmd;
	size_t n = 0;
	while (c->argv[n])
		n++;
	char **argv = mem_calloc(n + a->sc->n_params + 2, sizeof *argv);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		argv[k++] = mem_strdup(c->argv[i]);
	if (c->shell)
		argv[k++] = mem_strdup("sh");
	for (size_t i = 0; kv && i < a->sc->n_params; i++)
		argv[k++] = mem_strdup(kv->ptr[i]);
	argv[k] = NULL;
	return argv;
}

/* Warm workers (app_warm.h): starts those not running, then sends each its
 * key; returns how many got theirs (err says why one did not). A process
 * that cannot start ends its worker's round as a spawn error. */
static int warm_send(struct app_race *a, struct app_proc *procs, const struct key_values *wkeys,
		     char *err, size_t errlen)
{
	int n = a->cfg.workers;
	for (int w = 0; w < n; w++) {
		char why[256];
		if (!app_warm_running(a->warm, w)) {
			char **argv = proc_argv(a, NULL), **envp = proc_env(a, w, 0, 0, NULL);
			bool ok = app_warm_start(a->warm, w, argv, a->sc->app->cmd.cwd, envp, why,
						 sizeof why);
			command_argv_free(argv);
			command_argv_free(envp);
			if (!ok) {
				procs[w].res.status = CMD_SPAWN_ERROR;
				snprintf(procs[w].res.why, sizeof procs[w].res.why, "%s", why);
				atomic_store(&procs[w].done, true);
				continue;
			}
		}
		if (!app_warm_send(a->warm, w, (const char *const *)wkeys[w].ptr,
				   (int)a->sc->n_params, err, errlen))
			return w;
	}
	return n;
}

/* Reads the warm workers' answers; one past the deadline (or every one on
 * SIGINT/SIGTERM) is killed. False with err when one answered with more
 * than one line. */
static bool warm_poll(struct app_race *a, struct app_proc *procs, int started, uint64_t deadline,
		      char *err, size_t errlen)
{
	bool ok = true;
	for (int w = 0; w < started; w++) {
		struct app_proc *p = &procs[w];
		if (atomic_load(&p->done))
			continue;
		bool stop = db_stop_requested(), late = clock_us() >= deadline;
		if (!app_warm_poll(a->warm, w)) {
			if (!stop && !late)
				continue;
			app_warm_kill(a->warm, w, stop);
		}
		if (!app_warm_take(a->warm, w, a->sc->app->expect_output, &p->res, err, errlen))
			ok = false;
		atomic_store(&p->done, true);
	}
	return ok;
}

/* Worker i's events since the last look, from the listener's view of it
 * (a->v[i], just read) and its process; false (err set) when the view
 * cannot follow its connections. */
static bool feed(struct app_race *a, int i, const struct app_proc *p, char *err, size_t errlen)
{
	struct worker *wk = &a->w[i];
	const struct proxy_view *v = &a->v[i];
	while (wk->app_connections < v->started && wk->state != WS_APP_EXITED)
		worker_advance(wk, WE_CONNECTED);
	if (v->holds > a->holds_seen[i]) {
		a->holds_seen[i] = v->holds;
		worker_advance(wk, WE_HELD);
	} else if (v->answers > a->answers_seen[i]) {
		worker_advance(wk, WE_ANSWER);
	}
	if (v->releases > a->releases_seen[i]) {
		/* released since (by the coordinator or interleave's driver), and
		 * not held again now */
		a->releases_seen[i] = v->releases;
		if (v->held == 0)
			worker_advance(wk, a->cfg.mode == MODE_FIRE ? WE_GO : WE_RELEASED);
	}
	a->answers_seen[i] = v->answers;
	if (v->lost > a->lost_seen[i]) {
		a->lost_seen[i] = v->lost;
		snprintf(wk->app_note, sizeof wk->app_note, "%s", v->lost_why);
		worker_advance(wk, WE_LOST);
	}
	if (atomic_load(&p->done))
		worker_advance(wk, p->res.status == CMD_TIMEOUT ? WE_DEADLINE : WE_EXITED);
	if (v->pids_left_out > 0) {
		char name[8];
		snprintf(err, errlen,
			 "worker %s had more than %d connections open at once: pgrace's listener "
			 "follows at most %d per worker in the lock view",
			 order_worker_name(i, name, sizeof name), PROXY_MAX_PIDS, PROXY_MAX_PIDS);
		return false;
	}
	return true;
}

/* Worker i as the release rule sees it: its state's view, every backend
 * of its open connections, and those running a step now. */
static void member_of(struct app_race *a, int i)
{
	const struct proxy_view *v = &a->v[i];
	int *pids = a->pids + (size_t)i * PROXY_MAX_PIDS, *busy = a->busy + (size_t)i * PROXY_MAX_PIDS;
	int n_busy = 0;
	for (int k = 0; k < v->n_pids; k++) {
		pids[k] = (int)v->pids[k];
		if (v->busy[k])
			busy[n_busy++] = pids[k];
	}
	a->members[i] = (struct coord_member){atomic_load(&a->w[i].view), pids, v->n_pids, busy,
					      n_busy};
}

/* One look at the round: the workers' events, then the shared barrier's
 * look (the lock view asked at most every LOCKVIEW_US); releases every
 * held worker when it says so. False with err when the round breaks
 * (the lock view failed, a worker the view cannot follow). */
static bool coordinate(struct app_race *a, struct app_proc *procs, uint64_t *next_view_us, char *err,
		       size_t errlen)
{
	int n = a->cfg.workers;
	bool any_held = false;
	a->asking = false;
	for (int i = 0; i < n; i++) {
		proxy_view(a->px, i, &a->v[i]);
		if (!feed(a, i, &procs[i], err, errlen))
			return false;
		member_of(a, i);
		any_held |= a->members[i].view == WV_HELD;
	}
	if (!any_held)
		return true; /* nothing to release */
	bool hold = a->cfg.mode == MODE_HOLD, ask = a->view != NULL;
	uint64_t now = clock_us();
	a->asking = ask && coord_rule(a->members, n, -1) < 0;
	/* the lock view's turn: at most every LOCKVIEW_US, but a look that
	 * confirms the last one comes at once (as the SQL barrier's) */
	if (coord_rule(a->members, n, -1) < 0 &&
	    (!ask || (now < *next_view_us && a->coord.streak == 0)))
		return true;
	if (ask)
		*next_view_us = now + LOCKVIEW_US;
	enum coord_seen seen = coord_look(&a->coord, a->members, n, ask, now + 10000000u, err, errlen);
	if (seen == COORD_FAILED)
		return false;
	for (int i = 0; i < n && a->coord.all_blocked; i++)
		if (a->members[i].n_busy > 0)
			worker_advance(&a->w[i], WE_BLOCKED);
	if (seen != COORD_SETTLED)
		return true;
	uint64_t last = 0;
	for (int i = 0; i < n; i++) {
		a->which[i] = a->members[i].view == WV_HELD;
		if (a->members[i].view != WV_FINISHED && a->v[i].settle_us > last)
			last = a->v[i].settle_us;
	}
	proxy_release_set(a->px, a->which); /* one sweep of the relay writes them all */
	uint64_t released = clock_us();
	/* detection: the last worker's last step (held, or sent and then
	 * blocked) to the release, as for SQL workers */
	hist_record(&a->coord.detect, released > last ? released - last : 0);
	for (int i = 0; i < n; i++)
		if (a->which[i])
			worker_advance(&a->w[i], hold ? WE_RELEASED : WE_GO);
	return true;
}

/* A broken round: nothing more is held and what is held goes, so the
 * processes run to their end now rather than at their deadline. */
static void let_go(struct app_race *a)
{
	for (int w = 0; w < a->cfg.workers; w++) {
		proxy_set_policy(a->px, w, PROXY_HOLD_NONE);
		a->which[w] = true;
	}
	proxy_release_set(a->px, a->which);
}

/* The tail of a process's output for a message: its last lines of stderr,
 * else stdout, passwords scrubbed, on one line. */
static void output_tail(const struct command_result *r, char *buf, size_t len)
{
	const char *src = r->err[0] ? r->err : r->out;
	snprintf(buf, len, "%s", command_last_lines(src, 4));
	secret_scrub(buf, len, true);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/* The last APP_TAIL_MAX bytes of src into dst (of APP_TAIL_MAX + 1),
 * passwords scrubbed. */
static void keep_tail(char *dst, const char *src)
{
	size_t n = strlen(src);
	snprintf(dst, APP_TAIL_MAX + 1, "%s", src + (n > APP_TAIL_MAX ? n - APP_TAIL_MAX : 0));
	secret_scrub(dst, APP_TAIL_MAX + 1, n > APP_TAIL_MAX);
}

/* What the report keeps of a judged worker's process (wr NULL: nothing). */
static void keep_proc(const struct app_race *a, const struct app_proc *p,
		      const struct proxy_view *v, struct app_worker_result *wr)
{
	if (!wr)
		return;
	memset(wr, 0, sizeof *wr);
	wr->exit_code = p->res.exit_code;
	wr->signal = p->res.signal;
	command_end_text(&p->res, a->sc->app->cmd.shell, wr->end, sizeof wr->end);
	wr->matched = p->res.watched;
	if (v->n_errors > 0)
		snprintf(wr->sqlstate, sizeof wr->sqlstate, "%s", v->errors[0].sqlstate);
	for (int i = 0; i < v->n_errors && i < PROXY_MAX_ERRORS && !wr->constraint[0]; i++)
		if (!strncmp(v->errors[i].sqlstate, "23", 2))
			snprintf(wr->constraint, sizeof wr->constraint, "%s", v->errors[i].constraint);
	keep_tail(wr->out, p->res.out);
	keep_tail(wr->err, p->res.err);
	wr->exited_us = (long long)(p->ended_us - v->armed_us);
	wr->trips_seen = v->n_trips;
	int keep = PROXY_MAX_TRIPS < APP_TRIPS_MAX ? PROXY_MAX_TRIPS : APP_TRIPS_MAX;
	for (int i = v->n_trips > keep ? v->n_trips - keep : 0; i < v->n_trips; i++) {
		const struct proxy_trip *t = &v->trips[i % PROXY_MAX_TRIPS];
		struct app_trip *o = &wr->trips[wr->n_trips++];
		o->in_us = (long long)(t->in_us - v->armed_us);
		o->sent_us = t->sent_us ? (long long)(t->sent_us - v->armed_us) : -1;
		o->done_us = t->done_us ? (long long)(t->done_us - v->armed_us) : -1;
		o->conn = t->conn;
		o->held = t->held;
		snprintf(o->what, sizeof o->what, "%s", pgwire_sql_class_name(t->cls));
		if (t->failed && t->error >= 0) {
			snprintf(o->sqlstate, sizeof o->sqlstate, "%s", v->errors[t->error].sqlstate);
			snprintf(o->constraint, sizeof o->constraint, "%s", v->errors[t->error].constraint);
		} else if (t->failed) {
			snprintf(o->sqlstate, sizeof o->sqlstate, "error");
		}
	}
}

/* What a finished worker says; false (err set) when it breaks the round;
 * wr (NULL: not kept) receives what the report shows of it. */
static enum race_status judge_proc(struct app_race *a, int w, const struct app_proc *p,
				   struct race_totals *t, struct app_totals *at,
				   struct app_worker_result *wr, char *err, size_t errlen)
{
	struct proxy_view v;
	char tail[600], name[8];
	proxy_view(a->px, w, &v);
	output_tail(&p->res, tail, sizeof tail);
	order_worker_name(w, name, sizeof name);
	if (p->res.status == CMD_SPAWN_ERROR) {
		snprintf(err, errlen, "%s:%d: worker %s: the app command could not be started: %s",
			 a->sc->path, a->sc->app->line, name, p->res.why);
		return RACE_BAD;
	}
	if (p->res.status == CMD_INTERRUPTED) {
		snprintf(err, errlen, "worker %s: %s: its process group was killed", name, db_stop_text());
		return RACE_INTERRUPTED;
	}
	const struct worker *wk = &a->w[w];
	switch (wk->fault) {
	case WF_NONE:
		break;
	case WF_DEADLINE:
		snprintf(err, errlen, "%s: %s with its process group%s%s; its output ends: %s",
			 wk->why, p->res.why, a->outside[0] ? "; shortly before, " : "", a->outside,
			 tail);
		return RACE_BROKEN;
	case WF_NEVER_CONNECTED:
		if (v.tls_refused)
			snprintf(err, errlen,
				 "worker %s: the app insists on TLS (sslmode=require?): pgrace's "
				 "listener on 127.0.0.1 speaks plain text only; exit status %d; its "
				 "output ends: %s",
				 name, p->res.exit_code, tail);
		else
			snprintf(err, errlen,
				 "worker %s: the app never connected through pgrace's listener "
				 "(127.0.0.1:%d; it bypassed PGHOST/PGPORT/DATABASE_URL, or failed "
				 "before connecting): exit status %d; its output ends: %s",
				 name, proxy_port(a->px, w), p->res.exit_code, tail);
		return RACE_BROKEN;
	case WF_LOST:
		snprintf(err, errlen, "%s; exit status %d; its output ends: %s", wk->why,
			 p->res.exit_code, tail);
		return RACE_BROKEN;
	case WF_UNRELEASED:
		snprintf(err, errlen,
			 "%s: its process gave up waiting, so it raced nothing; exit status %d; its "
			 "output ends: %s",
			 wk->why, p->res.exit_code, tail);
		return RACE_BROKEN;
	}
	t->attempts++;
	at->connections += v.started;
	outcome_add(&t->outcomes, v.n_errors > 0 ? v.errors[0].sqlstate : "ok", 1);
	for (int i = 0; i < v.n_errors && i < PROXY_MAX_ERRORS; i++)
		if (!strncmp(v.errors[i].sqlstate, "23", 2) && v.errors[i].constraint[0])
			outcome_add(&t->constraints, v.errors[i].constraint, 1);
	if (p->res.exit_code == 0)
		at->exit_ok++;
	else
		at->exit_failed++;
	if (p->res.watched)
		at->output_matched++;
	keep_proc(a, p, &v, wr);
	return RACE_OK;
}

/* Some worker's step was held in the round. */
static bool any_hold(struct app_race *a)
{
	for (int w = 0; w < a->cfg.workers; w++)
		if (a->w[w].app_holds > 0)
			return true;
	return false;
}

/* A round in which no process reached the mode's hold point raced
 * nothing: it must not be judged as if it had. */
static enum race_status nothing_held(const struct app_race *a, char *err, size_t errlen)
{
	if (a->cfg.mode == MODE_INTERLEAVE)
		snprintf(err, errlen,
			 "no process sent a step that interleaves with others (a data statement, "
			 "COMMIT or ROLLBACK) through the listener: there was nothing to interleave");
	else if (a->cfg.mode == MODE_HOLD)
		snprintf(err, errlen,
			 "no process sent a COMMIT (or END) through the listener: hold mode held "
			 "nothing, the processes did not race (an app in autocommit races in fire "
			 "mode)");
	else
		snprintf(err, errlen,
			 "no process sent a data statement through the listener: fire mode held "
			 "nothing, the processes did not race");
	return RACE_BROKEN;
}

/* What the round's coordination cost and achieved, into t: the lock-view
 * questions asked since polls0, the detection latency of its releases
 * and, in fire mode, the release spread: the
 * first to the last write of a released step by the listener (a->v holds
 * every worker's last view). */
static void count_release(struct app_race *a, struct race_totals *t, long long polls0)
{
	t->polls += a->coord.polls - polls0;
	hist_merge(&t->detect, &a->coord.detect);
	hist_init(&a->coord.detect);
	if (a->cfg.mode != MODE_FIRE)
		return;
	uint64_t lo = 0, hi = 0;
	for (int w = 0; w < a->cfg.workers; w++) {
		uint64_t at = a->v[w].released_us;
		if (!at)
			continue;
		if (!lo || at < lo)
			lo = at;
		if (at > hi)
			hi = at;
	}
	if (lo)
		hist_record(&t->release, hi - lo);
}

/* Rows per key after the round, asked with admin. */
static enum race_status count_rows(struct app_race *a, const struct key_values *keys,
				   struct round_result *out, char *err, size_t errlen)
{
	out->rows_min = -1;
	for (int k = 0; k < a->cfg.keys; k++) {
		struct db_result res;
		char text[320];
		long long rows;
		const char *why;
		db_query(a->admin, a->sc->rows.sql, a->sc->rows.nparams, keys[k].ptr,
			 clock_us() + ROWS_DEADLINE_US, &res);
		if (res.status != DB_OK) {
			snprintf(err, errlen, "%s:%d: rows query: %s", a->sc->path, a->sc->rows.line,
				 db_result_text(&res, text, sizeof text));
			return RACE_BAD;
		}
		if (!attempt_rows_value(&res, &rows, &why)) {
			snprintf(err, errlen, "%s:%d: rows query: %s", a->sc->path, a->sc->rows.line,
				 why);
			return RACE_BAD;
		}
		round_result_add_key(out, rows);
	}
	return RACE_OK;
}

enum race_status app_round(struct app_race *a, long long round, long long phase_round,
			   struct round_result *out, struct race_totals *t, struct app_totals *at,
			   struct app_worker_result *wr, char *err, size_t errlen)
{
	int n = a->cfg.workers, started = 0;
	enum race_status st = RACE_OK;
	char why[512];
	struct key_values *keys = mem_calloc((size_t)a->cfg.keys, sizeof *keys);
	struct key_values *wkeys = mem_calloc((size_t)n, sizeof *wkeys);
	struct app_proc *procs = mem_calloc((size_t)n, sizeof *procs);
	memset(out, 0, sizeof *out);
	for (int k = 0; k < a->cfg.keys; k++) {
		struct key_ctx ctx = {round, k, phase_round, 0};
		if (!key_eval(a->sc->params, a->sc->n_params, &ctx, &keys[k], why, sizeof why)) {
			snprintf(err, errlen, "%s:%d: params: %s", a->sc->path, a->sc->params_line, why);
			st = RACE_BAD;
			goto out;
		}
	}
	for (int w = 0; w < n; w++) {
		struct key_ctx ctx = {round, race_key_of(&a->cfg, w), phase_round, w};
		if (!key_eval(a->sc->params, a->sc->n_params, &ctx, &wkeys[w], why, sizeof why)) {
			snprintf(err, errlen, "%s:%d: params: %s", a->sc->path, a->sc->params_line, why);
			st = RACE_BAD;
			goto out;
		}
	}
	proxy_arm(a->px, a->cfg.mode == MODE_HOLD	     ? PROXY_HOLD_COMMIT
			 : a->cfg.mode == MODE_INTERLEAVE ? PROXY_HOLD_STEPS
							  : PROXY_HOLD_FIRST);
	/* The processes' deadline: the command's timeout_ms, or the race's
	 * deadline_ms (--deadline-ms) when one was set and is sooner. */
	long long budget_ms = a->sc->app->cmd.timeout_ms;
	if ((a->cfg.set & RACE_SET_DEADLINE) && a->cfg.deadline_ms < budget_ms)
		budget_ms = a->cfg.deadline_ms;
	uint64_t deadline = clock_us() + (uint64_t)budget_ms * 1000u;
	/* shortly before the deadline, who outside the round blocks a worker
	 * (a process still waiting then is killed, its backends gone after) */
	uint64_t margin_us = (uint64_t)budget_ms * 250u < 1000000u ? (uint64_t)budget_ms * 250u
								    : 1000000u;
	uint64_t ask_outside_at = deadline - margin_us;
	a->outside[0] = '\0';
	for (int w = 0; w < n; w++) {
		worker_reset(&a->w[w], false, deadline, NULL);
		a->lost_seen[w] = a->holds_seen[w] = a->answers_seen[w] = a->releases_seen[w] = 0;
	}
	a->coord.streak = 0;
	for (int w = 0; w < n && !a->warm; w++) {
		struct app_proc *p = &procs[w];
		p->argv = proc_argv(a, &wkeys[w]);
		p->envp = proc_env(a, w, round, race_key_of(&a->cfg, w), &wkeys[w]);
		p->cwd = a->sc->app->cmd.cwd;
		p->watch = a->sc->app->expect_output;
		p->deadline_us = deadline;
		if (pthread_create(&p->thread, NULL, proc_main, p) != 0) {
			char name[8];
			snprintf(err, errlen, "worker %s: cannot start a thread for its process",
				 order_worker_name(w, name, sizeof name));
			st = RACE_BROKEN;
			break;
		}
		worker_advance(&a->w[w], WE_START);
		started++;
	}
	if (a->warm && st == RACE_OK) {
		started = warm_send(a, procs, wkeys, err, errlen);
		if (started < n)
			st = RACE_BROKEN;
		for (int w = 0; w < started; w++)
			worker_advance(&a->w[w], WE_START);
	}
	uint64_t next_view = 0;
	long long polls0 = a->coord.polls;
	bool let_go_done = false;
	for (;;) {
		int done = 0;
		char why_warm[300];
		if (a->warm && !warm_poll(a, procs, started, deadline, why_warm, sizeof why_warm) &&
		    st == RACE_OK) {
			snprintf(err, errlen, "%s", why_warm);
			st = RACE_BROKEN;
		}
		for (int w = 0; w < started; w++)
			done += atomic_load(&procs[w].done);
		if (done == started)
			break;
		if (st == RACE_OK && (a->drive ? !drive(a, procs, started, err, errlen)
					       : started == n && !coordinate(a, procs, &next_view, err, errlen)))
			st = RACE_BROKEN;
		if (st == RACE_OK && a->drive) /* the driver releases: the workers follow */
			for (int w = 0; w < started; w++) {
				proxy_view(a->px, w, &a->v[w]);
				if (!feed(a, w, &procs[w], err, errlen))
					st = RACE_BROKEN;
			}
		if (st == RACE_OK && !a->drive && started == n && ask_outside_at &&
		    clock_us() >= ask_outside_at) {
			coord_outside_blocker(&a->coord, a->members, n, a->outside, sizeof a->outside);
			ask_outside_at = 0;
		}
		if (st != RACE_OK && !let_go_done) {
			let_go(a);
			let_go_done = true;
		}
		/* a change wakes it; a pending lock-view look comes sooner */
		(void)proxy_wait(a->px, clock_us() + (a->asking ? LOCKVIEW_US : WAIT_SLICE_US));
	}
	for (int w = 0; w < started && !a->warm; w++)
		pthread_join(procs[w].thread, NULL);
	for (int w = 0; w < started && st == RACE_OK; w++) {
		/* the last events: every process has ended */
		proxy_view(a->px, w, &a->v[w]);
		if (!feed(a, w, &procs[w], err, errlen))
			st = RACE_BROKEN;
	}
	for (int w = 0; w < started && st == RACE_OK; w++)
		st = judge_proc(a, w, &procs[w], t, at, wr ? &wr[w] : NULL, err, errlen);
	if (st == RACE_OK)
		count_release(a, t, polls0);
	if (st == RACE_OK && started == n && !any_hold(a))
		st = nothing_held(a, err, errlen);
	if (st == RACE_OK)
		st = count_rows(a, keys, out, err, errlen);
out:
	for (int w = 0; w < n; w++) {
		command_argv_free(procs[w].argv);
		command_argv_free(procs[w].envp);
	}
	free(procs);
	free(keys);
	free(wkeys);
	return st;
}
