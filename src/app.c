/* app.c: application flows: one process per worker per round, relayed and
 * held by the protocol listener, judged from both sides (app.h).
 *
 * The coordinator (the caller's thread) starts one thread per worker, each
 * running the app command through command_run (its rules: process group,
 * deadline, SIGTERM then SIGKILL, output tails), and meanwhile watches the
 * listener's views: in hold mode it releases the held COMMITs once every
 * worker is held, finished or blocked on a peer (the lock view over the
 * backend pids the listener read, asked at most every LOCKVIEW_US, twice
 * in a row); in fire mode once every worker is held at its first data
 * statement or finished. */
#include "app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "command.h"
#include "db.h"
#include "key.h"
#include "lockview.h"
#include "mem.h"
#include "order.h"
#include "proxy.h"
#include "secret.h"
#include "stats.h"

extern char **environ;

#define LOCKVIEW_US 2000u   /* the lock view asked at most this often */
#define WAIT_SLICE_US 5000u /* a process's exit noticed within this */
#define ROWS_DEADLINE_US (30u * 1000000u)

struct app_race {
	PGconn *admin;
	const struct scenario *sc;
	struct race_cfg cfg;
	const char *schema;
	const struct lockview *view;
	struct proxy *px;
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
	if (cfg->mode == MODE_HOLD && !(a->view = lockview_detect(admin, why, sizeof why))) {
		snprintf(err, errlen, "hold mode: %s", why);
		goto fail;
	}
	a->px = proxy_open(PQhost(admin), PQport(admin), cfg->workers, err, errlen);
	if (!a->px)
		goto fail;
	return a;
fail:
	app_close(a);
	return NULL;
}

void app_close(struct app_race *a)
{
	if (!a)
		return;
	proxy_close(a->px);
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
	for (size_t i = 0; i < a->sc->n_params; i++) {
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
	for (size_t i = 0; i < a->sc->n_params; i++)
		argv[k++] = mem_strdup(kv->ptr[i]);
	argv[k] = NULL;
	return argv;
}

/* How many of the workers' backends wait on locks only other workers hold;
 * -1 with err when the server cannot say. */
static long long blocked_backends(struct app_race *a, const struct proxy_view *v, char *err,
				  size_t errlen)
{
	char pids[1024];
	size_t n = 0;
	pids[n++] = '{';
	for (int w = 0; w < a->cfg.workers; w++)
		for (int i = 0; i < v[w].n_pids && n + 16 < sizeof pids; i++)
			n += (size_t)snprintf(pids + n, sizeof pids - n, "%s%u", n > 1 ? "," : "",
					      v[w].pids[i]);
	snprintf(pids + n, sizeof pids - n, "}");
	const char *params[1] = {pids};
	struct db_result r;
	char text[320];
	db_query(a->admin, a->view->blocked_by_peers, 1, params, clock_us() + 10000000u, &r);
	if (r.status != DB_OK || r.rows != 1) {
		snprintf(err, errlen, "asking the server about lock waits: %s",
			 db_result_text(&r, text, sizeof text));
		return -1;
	}
	return strtoll(r.first_value, NULL, 10);
}

/* One look at the round: releases the holds when every worker is settled
 * (held or finished; in hold mode also blocked on a peer, as the lock view
 * says twice in a row, as the SQL workers' barrier asks it, so that a
 * passing lock wait is not taken for a settled worker). False with err
 * when the lock view fails. */
static bool coordinate(struct app_race *a, struct app_proc *procs, uint64_t *next_view_us, int *streak,
		       char *err, size_t errlen)
{
	int n = a->cfg.workers, held = 0, done = 0;
	struct proxy_view *v = mem_calloc((size_t)n, sizeof *v);
	bool ok = true;
	for (int w = 0; w < n; w++) {
		proxy_view(a->px, w, &v[w]);
		if (atomic_load(&procs[w].done))
			done++;
		else if (v[w].held > 0)
			held++;
	}
	if (held == 0) {
		*streak = 0;
		goto out;
	}
	bool release = held + done == n;
	if (!release && a->cfg.mode == MODE_HOLD && clock_us() >= *next_view_us) {
		/* the others: running, or blocked behind a held one? */
		*next_view_us = clock_us() + LOCKVIEW_US;
		long long blocked = blocked_backends(a, v, err, errlen);
		if (blocked < 0) {
			ok = false;
			goto out;
		}
		*streak = held + done + blocked >= n ? *streak + 1 : 0;
		release = *streak >= 2;
	}
	if (release)
		*streak = 0;
	if (release)
		for (int w = 0; w < n; w++)
			if (v[w].held > 0)
				proxy_release(a->px, w);
out:
	free(v);
	return ok;
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
	if (p->res.status == CMD_TIMEOUT) {
		snprintf(err, errlen,
			 "worker %s: the app was still running at its deadline (%s with its process "
			 "group); its output ends: %s",
			 name, p->res.why, tail);
		return RACE_BROKEN;
	}
	if (v.started == 0) {
		if (v.tls_refused)
			snprintf(err, errlen,
				 "worker %s: the app insists on TLS (sslmode=require?): pgrace's "
				 "listener "
				 "on 127.0.0.1 speaks plain text only; exit status %d; its output ends: "
				 "%s",
				 name, p->res.exit_code, tail);
		else
			snprintf(err, errlen,
				 "worker %s: the app never connected through pgrace's listener "
				 "(127.0.0.1:%d; it bypassed PGHOST/PGPORT/DATABASE_URL, or failed "
				 "before "
				 "connecting): exit status %d; its output ends: %s",
				 name, proxy_port(a->px, w), p->res.exit_code, tail);
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
	for (int w = 0; w < a->cfg.workers; w++) {
		struct proxy_view v;
		proxy_view(a->px, w, &v);
		if (v.holds > 0)
			return true;
	}
	return false;
}

/* A round in which no process reached the mode's hold point raced
 * nothing: it must not be judged as if it had. */
static enum race_status nothing_held(const struct app_race *a, char *err, size_t errlen)
{
	if (a->cfg.mode == MODE_HOLD)
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
	proxy_arm(a->px, a->cfg.mode == MODE_HOLD ? PROXY_HOLD_COMMIT : PROXY_HOLD_FIRST);
	uint64_t deadline = clock_us() + (uint64_t)a->sc->app->cmd.timeout_ms * 1000u;
	for (int w = 0; w < n; w++) {
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
		started++;
	}
	uint64_t next_view = 0;
	int streak = 0;
	for (;;) {
		int done = 0;
		for (int w = 0; w < started; w++)
			done += atomic_load(&procs[w].done);
		if (done == started)
			break;
		if (st == RACE_OK && !coordinate(a, procs, &next_view, &streak, err, errlen))
			st = RACE_BROKEN; /* the processes still end at their deadline */
		(void)proxy_wait(a->px, clock_us() + WAIT_SLICE_US);
	}
	for (int w = 0; w < started; w++)
		pthread_join(procs[w].thread, NULL);
	for (int w = 0; w < started && st == RACE_OK; w++)
		st = judge_proc(a, w, &procs[w], t, at, wr ? &wr[w] : NULL, err, errlen);
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
