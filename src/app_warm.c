/* app_warm.c: warm app workers, one long-lived process per worker fed a
 * key per line (app_warm.h). */
#define _GNU_SOURCE /* pipe2 */
#include "app_warm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "mem.h"
#include "order.h"
#include "stats.h"

#define END_GRACE_US 2000000u

struct warm_proc {
	pid_t pid;         /* 0: not running */
	int in, out, err;  /* our ends of its stdin, stdout, stderr */
	char *obuf, *ebuf; /* this order's stdout (up to its answer) and stderr */
	size_t olen, elen;
	int lines; /* newlines on its stdout since the key */
	bool answered, exited, timed_out, interrupted;
	int status; /* waitpid's, once exited */
};

struct app_warm {
	int n;
	struct warm_proc *p;
};

struct app_warm *app_warm_new(int n)
{
	struct app_warm *h = mem_calloc(1, sizeof *h);
	h->n = n;
	h->p = mem_calloc((size_t)n, sizeof *h->p);
	for (int w = 0; w < n; w++) {
		h->p[w].in = h->p[w].out = h->p[w].err = -1;
		h->p[w].obuf = mem_malloc(COMMAND_TAIL + 1);
		h->p[w].ebuf = mem_malloc(COMMAND_TAIL + 1);
	}
	return h;
}

bool app_warm_running(const struct app_warm *h, int w)
{
	return h->p[w].pid > 0 && !h->p[w].exited;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reaps worker w's process (waiting up to until), killing its group when
 * it is still there then. */
static void reap(struct warm_proc *p, uint64_t until)
{
	if (p->pid <= 0)
		return;
	close_fd(&p->in);
	while (!p->exited) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->exited = true;
			p->status = st;
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (clock_us() >= until) {
			kill(-p->pid, SIGKILL);
			until = clock_us() + END_GRACE_US;
		}
		usleep(2000);
	}
	child_done(p->pid);
	child_sweep(p->pid, clock_us() + END_GRACE_US);
	close_fd(&p->out);
	close_fd(&p->err);
	p->pid = 0;
}

bool app_warm_start(struct app_warm *h, int w, char *const *argv, const char *cwd, char *const *envp,
		    char *err, size_t errlen)
{
	struct warm_proc *p = &h->p[w];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
	reap(p, clock_us());
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(er, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	int rc = child_start_in(argv, cwd, envp, in[0], out[1], er[1], &p->pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&er[1]);
	if (rc != 0) {
		p->pid = 0;
		snprintf(err, errlen, "%s", strerror(rc));
		goto fail;
	}
	p->in = in[1];
	p->out = out[0];
	p->err = er[0];
	(void)fcntl(p->out, F_SETFL, O_NONBLOCK);
	(void)fcntl(p->err, F_SETFL, O_NONBLOCK);
	(void)fcntl(p->in, F_SETFL, O_NONBLOCK);
	p->exited = p->answered = p->timed_out = p->interrupted = false;
	p->olen = p->elen = 0;
	return true;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&er[i]);
	}
	return false;
}

/* Appends what fd has to buf (len used, keeping the last COMMAND_TAIL
 * bytes), counting its newlines into *lines (NULL: not counted); false at
 * EOF. */
static bool drain(int fd, char *buf, size_t *len, int *lines)
{
	char tmp[4096];
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof tmp);
		if (r == 0)
			return false;
		if (r < 0)
			return true; /* EAGAIN: nothing more now */
		for (ssize_t i = 0; i < r; i++) {
			if (*len == COMMAND_TAIL) {
				memmove(buf, buf + 1, COMMAND_TAIL - 1);
				(*len)--;
			}
			buf[(*len)++] = tmp[i];
			if (lines && tmp[i] == '\n')
				(*lines)++;
		}
	}
}

bool app_warm_send(struct app_warm *h, int w, const char *const *values, int n, char *err, size_t errlen)
{
	struct warm_proc *p = &h->p[w];
	char line[4096], name[8];
	size_t k = 0;
	order_worker_name(w, name, sizeof name);
	for (int i = 0; i < n; i++) {
		if (strpbrk(values[i], "\t\n\r")) {
			snprintf(err, errlen,
				 "worker %s: key value %d holds a tab or a newline: a warm worker reads "
				 "one key per line, its values separated by tabs",
				 name, i + 1);
			return false;
		}
		int m = snprintf(line + k, sizeof line - k, "%s%s", i ? "\t" : "", values[i]);
		if (m < 0 || (size_t)m >= sizeof line - k) {
			snprintf(err, errlen, "worker %s: the key is longer than %zu bytes", name,
				 sizeof line - 2);
			return false;
		}
		k += (size_t)m;
	}
	line[k++] = '\n';
	/* what it wrote to stdout with no key outstanding (a banner, a second
	 * answer) would be taken for this key's answer */
	int stray = 0;
	(void)drain(p->out, p->obuf, &p->olen, &stray);
	if (p->olen > 0) {
		snprintf(err, errlen,
			 "worker %s wrote %zu bytes to stdout with no key outstanding (%d lines): a "
			 "warm worker writes exactly one line per key, its answer, and the rest to "
			 "stderr",
			 name, p->olen, stray);
		return false;
	}
	p->answered = p->timed_out = false;
	p->olen = p->elen = 0;
	p->lines = 0;
	ssize_t wr = write(p->in, line, k);
	if (wr != (ssize_t)k) {
		snprintf(err, errlen, "worker %s: cannot write the key to the warm process: %s", name,
			 wr < 0 ? strerror(errno) : "short write");
		return false;
	}
	return true;
}

bool app_warm_poll(struct app_warm *h, int w)
{
	struct warm_proc *p = &h->p[w];
	if (p->pid <= 0 || p->exited)
		return true;
	bool open_out = drain(p->out, p->obuf, &p->olen, &p->lines);
	(void)drain(p->err, p->ebuf, &p->elen, NULL);
	if (p->lines > 0)
		p->answered = true;
	if (!open_out) {
		/* no answer can come any more: it exits, or it is made to */
		int st = 0;
		pid_t r = 0;
		uint64_t until = clock_us() + 200000u;
		while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 && clock_us() < until)
			usleep(2000);
		if (r == 0) {
			kill(-p->pid, SIGKILL);
			while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR)
				;
		}
		p->exited = true;
		p->status = r == p->pid ? st : 0;
		(void)drain(p->err, p->ebuf, &p->elen, NULL);
	}
	return p->answered || p->exited;
}

void app_warm_kill(struct app_warm *h, int w, bool interrupted)
{
	struct warm_proc *p = &h->p[w];
	if (p->pid <= 0)
		return;
	kill(-p->pid, SIGKILL);
	p->timed_out = !interrupted;
	p->interrupted = interrupted;
	reap(p, clock_us() + END_GRACE_US);
	p->exited = true;
}

bool app_warm_take(struct app_warm *h, int w, const char *watch, struct command_result *r, char *err,
		   size_t errlen)
{
	struct warm_proc *p = &h->p[w];
	int lines = p->lines;
	memset(r, 0, sizeof *r);
	memcpy(r->out, p->obuf, p->olen);
	r->out[p->olen] = '\0';
	memcpy(r->err, p->ebuf, p->elen);
	r->err[p->elen] = '\0';
	if (p->interrupted) {
		r->status = CMD_INTERRUPTED;
		r->exit_code = 128 + SIGKILL;
		r->signal = SIGKILL;
	} else if (p->timed_out) {
		r->status = CMD_TIMEOUT;
		r->exit_code = 128 + SIGKILL;
		r->signal = SIGKILL;
		snprintf(r->why, sizeof r->why, "no answer by the order's deadline: killed");
	} else if (p->answered) {
		bool ok = !strncmp(r->out, "ok", 2) &&
			  (r->out[2] == ' ' || r->out[2] == '\n' || r->out[2] == '\0');
		r->status = ok ? CMD_OK : CMD_FAILED;
		r->exit_code = ok ? 0 : 1;
	} else if (p->exited) {
		r->status = CMD_FAILED;
		if (WIFSIGNALED(p->status)) {
			r->signal = WTERMSIG(p->status);
			r->exit_code = 128 + r->signal;
		} else {
			r->exit_code = WEXITSTATUS(p->status);
			r->status = r->exit_code == 0 ? CMD_OK : CMD_FAILED;
		}
	}
	r->watched = watch && watch[0] && (strstr(r->out, watch) || strstr(r->err, watch));
	p->olen = p->elen = 0;
	p->lines = 0;
	p->answered = false;
	if (p->exited) /* started again for the next order */
		reap(p, clock_us());
	if (lines > 1) {
		char name[8];
		snprintf(err, errlen,
			 "worker %s answered one key with %d lines on stdout: a warm worker writes "
			 "exactly one line per key, its answer, and the rest to stderr",
			 order_worker_name(w, name, sizeof name), lines);
		return false;
	}
	return true;
}

void app_warm_free(struct app_warm *h)
{
	if (!h)
		return;
	uint64_t until = clock_us() + END_GRACE_US;
	for (int w = 0; w < h->n; w++)
		close_fd(&h->p[w].in);
	for (int w = 0; w < h->n; w++) {
		reap(&h->p[w], until);
		free(h->p[w].obuf);
		free(h->p[w].ebuf);
	}
	free(h->p);
	free(h);
}
