/* child.c: starting a command's process, and sweeping what it leaves behind
 * (child.h). Between fork and exec the child calls only async-signal-safe
 * functions: pgrace has other threads, whose locks the fork copies. */
#define _GNU_SOURCE /* execvpe */
#include "child.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

/* Commands running now (an application flow runs one per worker at once):
 * their processes are pgrace's children too, and one command's sweep must
 * not take them for another's leftovers. A fork and its entry here happen
 * under the lock, and a sweep pass reads /proc under it, so a sweep never
 * sees a command's process before it is entered. */
#define LIVE_MAX 1024
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t live[LIVE_MAX];
static size_t n_live;

static bool live_has(pid_t pid)
{
	for (size_t i = 0; i < n_live; i++)
		if (live[i] == pid)
			return true;
	return false;
}

void child_done(pid_t pid)
{
	pthread_mutex_lock(&live_mu);
	for (size_t i = 0; i < n_live; i++)
		if (live[i] == pid) {
			live[i] = live[--n_live];
			break;
		}
	pthread_mutex_unlock(&live_mu);
}

/* fd on target, without close-on-exec (dup2 clears it; the same fd keeps it). */
static int put_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

/* The child's side: never returns. A failure writes its errno to report
 * (close-on-exec: a successful exec closes it with nothing written). */
__attribute__((noreturn)) static void child_exec(char *const *argv, const char *cwd, char *const *envp,
						 int in_fd, int out_fd, int err_fd, int report,
						 pid_t parent)
{
	static const int defaults[] = {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD};
	struct sigaction dfl;
	sigset_t none;
	int in;
	if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		goto fail;
	/* pgrace may have died before the prctl: the signal would never come. */
	if (getppid() != parent)
		_exit(127);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (sigaction(defaults[i], &dfl, NULL) != 0)
			goto fail;
	/* pgrace blocks SIGINT/SIGTERM for its signal thread: the child must
	 * not inherit that, or a deadline's SIGTERM would not reach it. */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		goto fail;
	in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0 || put_fd(in, 0) != 0 || put_fd(out_fd, 1) != 0 || put_fd(err_fd, 2) != 0)
		goto fail;
	if (cwd && chdir(cwd) != 0)
		goto fail;
	execvpe(argv[0], argv, envp);
fail:;
	int e = errno;
	ssize_t w = write(report, &e, sizeof e);
	(void)w;
	_exit(127);
}

int child_start(char *const *argv, const char *cwd, char *const *envp, int out_fd, int err_fd, pid_t *pid)
{
	return child_start_in(argv, cwd, envp, -1, out_fd, err_fd, pid);
}

int child_start_in(char *const *argv, const char *cwd, char *const *envp, int in_fd, int out_fd,
		   int err_fd, pid_t *pid)
{
	int report[2];
	/* Orphans of the command come to pgrace (and child_sweep), not init. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		return errno;
	if (pipe2(report, O_CLOEXEC) != 0)
		return errno;
	pid_t parent = getpid();
	pthread_mutex_lock(&live_mu);
	if (n_live == LIVE_MAX) {
		pthread_mutex_unlock(&live_mu);
		close(report[0]);
		close(report[1]);
		return EAGAIN;
	}
	pid_t p = fork();
	if (p < 0) {
		int e = errno;
		pthread_mutex_unlock(&live_mu);
		close(report[0]);
		close(report[1]);
		return e;
	}
	if (p == 0)
		child_exec(argv, cwd, envp, in_fd, out_fd, err_fd, report[1], parent);
	live[n_live++] = p;
	pthread_mutex_unlock(&live_mu);
	close(report[1]);
	/* Until the exec (the pipe closes: nothing read) or its failure. */
	int e = 0;
	ssize_t got;
	while ((got = read(report[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (got == (ssize_t)sizeof e) {
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		child_done(p);
		return e ? e : ECHILD;
	}
	*pid = p;
	return 0;
}

/* From /proc/PID/stat: its state letter and its parent's pid; false when
 * it cannot be read (the process is gone). The command name, in
 * parentheses, may hold anything: the fields are read after its last ')'. */
static bool stat_of(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	int parent;
	if (!p || sscanf(p + 1, " %c %d", state, &parent) != 2)
		return false;
	*ppid = (pid_t)parent;
	return true;
}

/* One pass over /proc: kills (unless it is a zombie already) and reaps
 * (when it can already) each child of ours but child; returns how many
 * children there were, and counts the kills in *killed. */
static int sweep_once(pid_t child, int *killed)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	pthread_mutex_lock(&live_mu);
	pid_t self = getpid();
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char *end, state;
		long v = strtol(e->d_name, &end, 10);
		pid_t pid = (pid_t)v, ppid;
		if (*end || pid == child || pid == self || live_has(pid) ||
		    !stat_of(pid, &state, &ppid) || ppid != self)
			continue;
		found++;
		if (state != 'Z' && kill(pid, SIGKILL) == 0)
			(*killed)++;
		while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&live_mu);
	closedir(d);
	return found;
}

int child_sweep(pid_t child, uint64_t deadline_us)
{
	int killed = 0;
	while (sweep_once(child, &killed) > 0 && clock_us() < deadline_us) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return killed;
}
