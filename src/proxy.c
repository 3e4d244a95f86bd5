/* proxy.c: the listener that relays application connections to the server
 * and holds their steps at the policy's points (proxy.h).
 *
 * One relay thread, one epoll set (level-triggered) over the listeners, an
 * eventfd the coordinator wakes it with, and both sockets of every
 * connection. Each connection is a small state machine (enum pc_state,
 * advanced by client_advance() on the client's bytes and server_advance()
 * on the server's), with four buffers: what each side sent that is not yet
 * framed (cin, sin) and what is to be written to each side (sout, cout),
 * pbuf.h's. The relay thread holds the mutex while it handles a batch of
 * events, never while it waits; the coordinator's calls take it briefly.
 * What a framed step is (class, log, trip, hold) is proxy_step.c's. */
#define _GNU_SOURCE /* accept4 */
#include "proxy.h"
#include "proxy_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "pbuf.h"
#include "proxy_net.h"
#include "stats.h"
#include "steplog.h"

struct proxy_view *pconn_view(struct pconn *c)
{
	return c->round == c->p->round ? &c->p->views[c->worker] : NULL;
}

static void changed(struct proxy *p)
{
	p->version++;
}

static void conn_bad(struct pconn *c, const char *why)
{
	struct proxy_view *v = pconn_view(c);
	c->refused = true;
	if (v)
		snprintf(v->bad, sizeof v->bad, "%s", why);
}

/* c is closed mid-way (why): its worker's view counts it lost. A client
 * that hangs up on its own between steps is not lost; one that hangs up
 * while a step of it is held is (the step never reached the server). */
static void conn_lost(struct pconn *c, const char *why)
{
	struct proxy_view *v = pconn_view(c);
	if (!v || c->bye || c->state == PC_STARTUP || c->state == PC_AUTH || c->state == PC_CANCEL)
		return; /* not connected yet: its process says why */
	if (v->lost++ == 0)
		snprintf(v->lost_why, sizeof v->lost_why, "%s", why);
}

static void conn_free(struct pconn *c)
{
	struct proxy *p = c->p;
	for (struct pconn **pp = &p->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->sfd >= 0)
		close(c->sfd);
	for (int i = 0; i < c->n_names; i++)
		free(c->names[i].sql);
	pbuf_free(&c->cin);
	pbuf_free(&c->sout);
	pbuf_free(&c->sin);
	pbuf_free(&c->cout);
	free(c);
	changed(p);
}

/* Watches c's sockets for writability only while bytes wait for them (and
 * the server's while its connect is in progress): a socket always writable
 * would wake the loop for nothing. */
static void interest_update(struct pconn *c)
{
	bool cw = pbuf_pending(&c->cout) > 0;
	bool sw = c->sfd >= 0 && (c->s_connecting || pbuf_pending(&c->sout) > 0);
	if (cw != c->c_writing) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (cw ? EPOLLOUT : 0u),
					 .data.ptr = &c->cep};
		(void)epoll_ctl(c->p->epfd, EPOLL_CTL_MOD, c->cfd, &ev);
		c->c_writing = cw;
	}
	if (c->sfd >= 0 && sw != c->s_writing) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (sw ? EPOLLOUT : 0u),
					 .data.ptr = &c->sep};
		(void)epoll_ctl(c->p->epfd, EPOLL_CTL_MOD, c->sfd, &ev);
		c->s_writing = sw;
	}
}

static bool server_connect(struct pconn *c)
{
	struct proxy *p = c->p;
	c->sfd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->sfd < 0)
		return false;
	if (p->addr.ss_family != AF_UNIX) {
		int one = 1;
		(void)setsockopt(c->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (connect(c->sfd, (struct sockaddr *)&p->addr, p->addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return false;
		c->s_connecting = true;
	}
	c->sep = (struct endpoint){EP_SERVER, c->worker, c};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = &c->sep};
	c->s_writing = true;
	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->sfd, &ev) == 0;
}

static void step_send(struct pconn *c, enum pc_state next)
{
	pbuf_move(&c->cin, &c->sout, c->step_end);
	c->step_end = 0;
	c->step_classed = false;
	c->state = next;
	struct proxy_view *v = pconn_view(c);
	if (v) {
		v->steps++;
		v->settle_us = clock_us();
	}
	struct proxy_step *s = pconn_logged_step(c);
	if (s) {
		steplog_sent(c->p->log, s);
		c->txn_points |= s->d.visible;
	}
	struct proxy_trip *t = pconn_trip_of(c);
	if (t && !t->sent_us)
		t->sent_us = clock_us();
	changed(c->p);
}

/* The step framed so far is complete (it ended with the message of type
 * last): hold it or send it. */
static void step_complete(struct pconn *c, uint8_t last)
{
	enum pc_state next = last == 'H' ? PC_OPEN : PC_BUSY;
	int logged = pconn_step_log(c);
	bool hold = pconn_should_hold(c, logged);
	pconn_trip_begin(c, hold);
	if (hold) {
		c->state = PC_HELD;
		c->after_hold = next;
		c->hold_gen = c->p->release_gen[c->worker];
		struct proxy_view *v = pconn_view(c);
		if (v) {
			v->held_class = c->step_class;
			v->holds++;
			v->settle_us = clock_us();
		}
		if (logged >= 0)
			steplog_at(c->p->log, c->worker, logged)->held = true;
		changed(c->p);
		return;
	}
	step_send(c, next);
}

/* Advances c on the client's bytes; false when c must close. */
static bool client_advance(struct pconn *c)
{
	char err[160];
	for (;;) {
		const uint8_t *at = pbuf_at(&c->cin);
		size_t have = pbuf_pending(&c->cin);
		struct pgwire_msg m;
		enum pgwire_frame fr;
		if (have > IN_CAP) {
			conn_bad(c, "the client sent more than 64 MiB without waiting for an answer");
			return false;
		}
		if (c->state == PC_STARTUP) {
			struct pgwire_startup s;
			fr = pgwire_frame_startup(at, have, &s, err, sizeof err);
			if (fr == PGWIRE_NEED_MORE)
				return true;
			if (fr == PGWIRE_BAD) {
				conn_bad(c, err);
				return false;
			}
			if (s.kind == PGWIRE_SSL || s.kind == PGWIRE_GSSENC) {
				c->ssl_asked = true;
				c->cin.off += s.msg.total;
				pbuf_put(&c->cout, "N", 1);
				continue;
			}
			if (!server_connect(c)) {
				conn_bad(c, "the server could not be reached");
				return false;
			}
			pbuf_move(&c->cin, &c->sout, s.msg.total);
			if (s.kind == PGWIRE_CANCEL) {
				c->state = PC_CANCEL;
				return true;
			}
			c->state = PC_AUTH;
			struct proxy_view *v = pconn_view(c);
			if (v)
				v->started++;
			changed(c->p);
			continue;
		}
		if (c->state == PC_HELD || c->state == PC_CANCEL)
			return true;
		fr = pgwire_frame(at + c->step_end, have - c->step_end, &m, err, sizeof err);
		if (fr == PGWIRE_NEED_MORE)
			return true;
		if (fr == PGWIRE_BAD) {
			conn_bad(c, err);
			return false;
		}
		if (c->state == PC_AUTH || c->state == PC_OPEN) {
			/* authentication, or the rest of a step already sent */
			pbuf_move(&c->cin, &c->sout, m.total);
			if (c->state == PC_OPEN && m.type == 'S')
				c->state = PC_BUSY;
			continue;
		}
		if (c->state == PC_BUSY) {
			/* COPY data passes while its step runs; the next step waits */
			if (m.type != 'd' && m.type != 'c' && m.type != 'f')
				return true;
			pbuf_move(&c->cin, &c->sout, m.total);
			continue;
		}
		/* PC_IDLE: frame the next step */
		const char *sql, *name;
		size_t len;
		c->step_end += m.total;
		switch (m.type) {
		case 'Q':
			pconn_step_add_class(c, pgwire_parse_sql(&m, &sql, &len) ? pgwire_sql_class(sql)
									   : PGWIRE_SQL_DATA);
			step_complete(c, 'Q');
			break;
		case 'P':
			if (pgwire_parse_sql(&m, &sql, &len)) {
				enum pgwire_sql_class cls = pgwire_sql_class(sql);
				pconn_name_remember(c, (const char *)m.body, cls, sql);
				pconn_step_add_class(c, cls);
			}
			break;
		case 'B':
			if (pgwire_parse_bind_statement(&m, &name))
				pconn_step_add_class(c, pconn_name_class(c, name));
			break;
		case 'D':
		case 'E':
		case 'C':
			break;
		case 'X':
			c->bye = true;
			c->trip = -1; /* Terminate: no step, no answer */
			step_send(c, PC_IDLE);
			break;
		default: /* Sync, Flush, a function call: the step ends here */
			step_complete(c, m.type);
			break;
		}
	}
}

static void record_error(struct pconn *c, const struct pgwire_msg *m)
{
	struct pgwire_error e;
	struct proxy_view *v = pconn_view(c);
	if (!v || !pgwire_parse_error(m, &e))
		return;
	struct proxy_step *s = pconn_logged_step(c);
	if (s && !s->sqlstate[0]) {
		snprintf(s->sqlstate, sizeof s->sqlstate, "%s", e.sqlstate);
		snprintf(s->constraint, sizeof s->constraint, "%s", e.constraint);
	}
	struct proxy_trip *t = pconn_trip_of(c);
	if (t && !t->failed) {
		t->failed = true;
		t->error = v->n_errors < PROXY_MAX_ERRORS ? v->n_errors : -1;
	}
	if (v->n_errors < PROXY_MAX_ERRORS) {
		struct proxy_error *pe = &v->errors[v->n_errors];
		snprintf(pe->sqlstate, sizeof pe->sqlstate, "%s", e.sqlstate);
		snprintf(pe->constraint, sizeof pe->constraint, "%s", e.constraint);
	}
	v->n_errors++;
}

/* Advances c on the server's bytes; false when c must close. */
static bool server_advance(struct pconn *c)
{
	char err[160];
	for (;;) {
		struct pgwire_msg m;
		enum pgwire_frame fr = pgwire_frame(pbuf_at(&c->sin), pbuf_pending(&c->sin), &m, err,
						    sizeof err);
		if (fr == PGWIRE_NEED_MORE)
			return true;
		if (fr == PGWIRE_BAD) {
			conn_bad(c, err);
			return false;
		}
		const uint8_t *key;
		size_t klen;
		char status;
		if (m.type == 'K')
			(void)pgwire_parse_key_data(&m, &c->pid, &key, &klen);
		else if (m.type == 'E')
			record_error(c, &m);
		else if (m.type == 'C' && pconn_logged_step(c))
			steplog_tag(pconn_logged_step(c), m.body, m.body_len);
		pbuf_move(&c->sin, &c->cout, m.total);
		if (m.type == 'Z' && pgwire_parse_ready(&m, &status) &&
		    (c->state == PC_AUTH || c->state == PC_BUSY)) {
			struct proxy_step *s = c->state == PC_BUSY ? pconn_logged_step(c) : NULL;
			if (s)
				s->done = true;
			if (status == 'I')
				c->txn_points = false;
			struct proxy_view *v = pconn_view(c);
			if (v && c->state == PC_BUSY)
				v->answers++;
			struct proxy_trip *t = c->state == PC_BUSY ? pconn_trip_of(c) : NULL;
			if (t)
				t->done_us = clock_us();
			c->trip = -1;
			c->state = PC_IDLE;
			changed(c->p);
			if (!client_advance(c))
				return false;
		}
	}
}

static void conn_accept(struct proxy *p, int worker)
{
	for (;;) {
		int fd = accept4(p->lfd[worker], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct pconn *c = mem_calloc(1, sizeof *c);
		c->p = p;
		c->worker = worker;
		c->round = p->round;
		c->cfd = fd;
		c->sfd = -1;
		c->accepted_us = clock_us();
		c->idx = p->views[worker].connections;
		c->trip = -1;
		c->log_at = -1;
		c->cep = (struct endpoint){EP_CLIENT, worker, c};
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->cep};
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = p->conns;
		p->conns = c;
		p->views[worker].connections++;
		changed(p);
	}
}

/* Handles an event on one of c's sockets. */
static void conn_event(struct pconn *c, bool server, uint32_t events)
{
	bool ok = true, eof = false;
	if (server && c->s_connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = 0;
		socklen_t l = sizeof e;
		(void)getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &e, &l);
		if (e != 0) {
			conn_bad(c, "the server could not be reached");
			ok = false;
		}
		c->s_connecting = false;
	}
	if (ok && !server && !pbuf_recv(c->cfd, &c->cin))
		eof = true;
	if (ok && server && !c->s_connecting && !pbuf_recv(c->sfd, &c->sin))
		eof = true;
	if (ok)
		ok = server ? server_advance(c) : client_advance(c);
	bool server_gone = false; /* a write to the server failed: its side went */
	if (ok && !c->s_connecting)
		server_gone = !(ok = pbuf_send(c->sfd, &c->sout));
	if (ok)
		ok = pbuf_send(c->cfd, &c->cout);
	if (eof && ok) {
		/* a side hung up: pass on what it said, then close both */
		(void)pbuf_send(c->sfd, &c->sout);
		(void)pbuf_send(c->cfd, &c->cout);
	}
	if (eof && !server && c->state == PC_STARTUP && c->ssl_asked) {
		struct proxy_view *v = pconn_view(c);
		if (v)
			v->tls_refused = true;
	}
	if (!ok || eof) {
		char why[200];
		if (!server && eof && c->state == PC_HELD)
			snprintf(why, sizeof why,
				 "its client hung up while pgrace held a step of it (backend pid %u): "
				 "the step never reached the server",
				 c->pid);
		else if ((server && eof) || server_gone)
			snprintf(why, sizeof why, "the server closed its connection (backend pid %u)",
				 c->pid);
		else if (c->refused && pconn_view(c))
			snprintf(why, sizeof why, "pgrace's listener closed its connection (backend pid %u): %s",
				 c->pid, pconn_view(c)->bad);
		else
			snprintf(why, sizeof why, "its connection failed (backend pid %u)", c->pid);
		if (c->refused || server || server_gone || c->state == PC_HELD)
			conn_lost(c, why);
		conn_free(c);
	} else {
		interest_update(c);
	}
}

/* Under mu: sends the steps the coordinator released, closes connections
 * of past rounds and clients silent past the start-up deadline. */
static void conn_sweep(struct proxy *p)
{
	uint64_t now = clock_us();
	struct pconn *c = p->conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->round != p->round) {
			conn_free(c);
			continue;
		}
		if (c->state == PC_STARTUP && now - c->accepted_us > STARTUP_DEADLINE_US) {
			conn_bad(c, "a client connected and sent no start-up packet within 10 s");
			conn_free(c);
			continue;
		}
		if (c->state == PC_HELD && p->release_gen[c->worker] != c->hold_gen) {
			step_send(c, c->after_hold);
			bool sent = client_advance(c) && pbuf_send(c->sfd, &c->sout);
			struct proxy_view *v = pconn_view(c);
			if (v) {
				v->releases++;
				if (!v->released_us)
					v->released_us = clock_us(); /* just written */
			}
			if (!sent) {
				conn_lost(c, "the released step could not be sent to the server");
				conn_free(c);
			}
			else
				interest_update(c);
		}
	}
}

static void *relay_main(void *arg)
{
	struct proxy *p = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(p->epfd, evs, 64, 200);
		pthread_mutex_lock(&p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		long long before = p->version;
		for (int i = 0; i < n; i++) {
			struct endpoint *ep = evs[i].data.ptr;
			if (ep == &p->wake_ep) {
				uint64_t v;
				(void)read(p->wakefd, &v, sizeof v);
			} else if (ep >= p->lep && ep < p->lep + p->workers) {
				conn_accept(p, ep->worker);
			}
		}
		/* connection events after accepts. An endpoint lives inside its
		 * connection, which an earlier event of this batch may have freed:
		 * it is only compared, never read, until found among the live ones
		 * (no address is reused within a batch: accepts came first). */
		for (int i = 0; i < n; i++) {
			const struct endpoint *ep = evs[i].data.ptr;
			struct pconn *c = p->conns;
			while (c && ep != &c->cep && ep != &c->sep)
				c = c->next;
			if (c)
				conn_event(c, ep == &c->sep, evs[i].events);
		}
		conn_sweep(p);
		if (p->version != before)
			pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static void wake(struct proxy *p)
{
	uint64_t one = 1;
	(void)write(p->wakefd, &one, sizeof one);
}

static bool listen_on(struct proxy *p, int w, char *err, size_t errlen)
{
	if ((p->lfd[w] = proxy_net_listen(&p->ports[w], err, errlen)) < 0)
		return false;
	p->lep[w] = (struct endpoint){EP_LISTENER, w, NULL};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &p->lep[w]};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd[w], &ev) != 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return false;
	}
	return true;
}

struct proxy *proxy_open(const char *host, const char *port, int workers, char *err, size_t errlen)
{
	struct proxy *p = mem_calloc(1, sizeof *p);
	pthread_condattr_t ca;
	p->workers = workers;
	p->lfd = mem_calloc((size_t)workers, sizeof *p->lfd);
	p->ports = mem_calloc((size_t)workers, sizeof *p->ports);
	p->lep = mem_calloc((size_t)workers, sizeof *p->lep);
	p->policy = mem_calloc((size_t)workers, sizeof *p->policy);
	p->fire_pending = mem_calloc((size_t)workers, sizeof *p->fire_pending);
	p->release_gen = mem_calloc((size_t)workers, sizeof *p->release_gen);
	p->views = mem_calloc((size_t)workers, sizeof *p->views);
	for (int w = 0; w < workers; w++)
		p->lfd[w] = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->epfd < 0 || p->wakefd < 0) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	p->wake_ep = (struct endpoint){EP_WAKE, -1, NULL};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->wake_ep};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) != 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto fail;
	}
	if (!proxy_net_resolve(host, port, &p->addr, &p->addrlen, err, errlen))
		goto fail;
	for (int w = 0; w < workers; w++)
		if (!listen_on(p, w, err, errlen))
			goto fail;
	if (pthread_create(&p->thread, NULL, relay_main, p) != 0) {
		snprintf(err, errlen, "cannot start the relay thread");
		goto fail;
	}
	p->started = true;
	return p;
fail:
	proxy_close(p);
	return NULL;
}

int proxy_port(const struct proxy *p, int worker)
{
	return p->ports[worker];
}

void proxy_arm(struct proxy *p, unsigned flags)
{
	pthread_mutex_lock(&p->mu);
	p->round++;
	if ((flags & PROXY_HOLD_STEPS) && !p->log)
		p->log = steplog_new(p->workers);
	if (p->log)
		steplog_reset(p->log);
	for (int w = 0; w < p->workers; w++) {
		memset(&p->views[w], 0, sizeof p->views[w]);
		p->views[w].armed_us = clock_us();
		p->policy[w] = flags;
		p->fire_pending[w] = (flags & PROXY_HOLD_FIRST) != 0;
	}
	changed(p);
	pthread_mutex_unlock(&p->mu);
	wake(p);
}

void proxy_set_policy(struct proxy *p, int worker, unsigned flags)
{
	pthread_mutex_lock(&p->mu);
	p->policy[worker] = flags;
	pthread_mutex_unlock(&p->mu);
}

void proxy_view(struct proxy *p, int worker, struct proxy_view *v)
{
	pthread_mutex_lock(&p->mu);
	*v = p->views[worker];
	v->open = v->held = v->n_busy = v->n_pids = v->pids_left_out = 0;
	v->logged = steplog_count(p->log, worker);
	v->log_full = steplog_full(p->log, worker);
	for (struct pconn *c = p->conns; c; c = c->next) {
		if (c->worker != worker || c->round != p->round)
			continue;
		v->open++;
		if (c->state == PC_HELD)
			v->held++;
		if (c->state == PC_BUSY || c->state == PC_OPEN)
			v->n_busy++;
		if (!c->pid || c->state == PC_CANCEL)
			continue;
		if (v->n_pids == PROXY_MAX_PIDS) {
			v->pids_left_out++;
			continue;
		}
		v->busy[v->n_pids] = c->state == PC_BUSY || c->state == PC_OPEN;
		v->pids[v->n_pids++] = c->pid;
	}
	pthread_mutex_unlock(&p->mu);
}

bool proxy_step(struct proxy *p, int worker, int i, struct proxy_step *out)
{
	bool ok;
	pthread_mutex_lock(&p->mu);
	const struct proxy_step *s = steplog_at(p->log, worker, i);
	ok = s != NULL;
	if (ok)
		*out = *s;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

void proxy_release(struct proxy *p, int worker)
{
	pthread_mutex_lock(&p->mu);
	p->release_gen[worker]++;
	pthread_mutex_unlock(&p->mu);
	wake(p);
}

void proxy_release_set(struct proxy *p, const bool *which)
{
	pthread_mutex_lock(&p->mu);
	for (int w = 0; w < p->workers; w++)
		if (which[w])
			p->release_gen[w]++;
	pthread_mutex_unlock(&p->mu);
	wake(p);
}

bool proxy_wait(struct proxy *p, uint64_t deadline_us)
{
	bool ok = true;
	pthread_mutex_lock(&p->mu);
	while (p->version == p->seen && !p->stop) {
		uint64_t now = clock_us();
		if (now >= deadline_us) {
			ok = false;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (deadline_us - now) * 1000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		(void)pthread_cond_timedwait(&p->cond, &p->mu, &ts);
	}
	p->seen = p->version;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

void proxy_close(struct proxy *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_mutex_unlock(&p->mu);
		wake(p);
		pthread_join(p->thread, NULL);
	}
	while (p->conns)
		conn_free(p->conns);
	for (int w = 0; w < p->workers; w++)
		if (p->lfd[w] >= 0)
			close(p->lfd[w]);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	free(p->lfd);
	free(p->ports);
	free(p->lep);
	free(p->policy);
	free(p->fire_pending);
	free(p->release_gen);
	free(p->views);
	steplog_free(p->log);
	free(p);
}
