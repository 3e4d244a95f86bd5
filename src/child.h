/* child.h: a command's process, started so that it does not outlive pgrace,
 * and what it leaves behind, found and killed.
 *
 * child_start forks (not posix_spawn: the child must ask the kernel for a
 * death signal before it execs) a child that leads a process group of its
 * own and gets SIGKILL when the thread that started it ends
 * (PR_SET_PDEATHSIG): the main thread, so when pgrace itself ends, even by
 * SIGKILL. pgrace is made a child subreaper (PR_SET_CHILD_SUBREAPER) first:
 * whatever a command orphans (a daemon that double-forked and called
 * setsid, out of the command's process group) becomes pgrace's child rather
 * than init's, and child_sweep finds it by its parent and kills it by its
 * pid (a child of ours that we have not reaped: its pid cannot have been
 * reused), then what it orphans in turn. Only pgrace's own children are
 * killed that way, and pgrace starts no processes but commands; the
 * processes of commands still running (an application flow runs one per
 * worker at once) are spared, their own leftovers are not.
 *
 * What is true, then: after command_run no process the command started is
 * left (but one stuck in the kernel past the sweep's deadline); when pgrace
 * is killed with SIGKILL the command's own process dies, but what it
 * started itself is not pgrace's to kill any more and may run on. */
#ifndef PGRACE_CHILD_H
#define PGRACE_CHILD_H

#include <stdint.h>
#include <sys/types.h>

/* Starts argv[0] (searched in PATH when it has no slash) in cwd (NULL:
 * here) with envp, stdin from /dev/null, stdout on out_fd and stderr on
 * err_fd, default signal dispositions and mask, in a new process group,
 * with SIGKILL as its parent-death signal; *pid is its pid. Returns 0, or
 * the errno of what failed (fork, chdir, exec: the child is reaped). Call
 * it from a thread that lives as long as the child (the main thread). */
int child_start(char *const *argv, const char *cwd, char *const *envp, int out_fd, int err_fd,
		pid_t *pid);
/* child_start with stdin from in_fd (-1: /dev/null). */
int child_start_in(char *const *argv, const char *cwd, char *const *envp, int in_fd, int out_fd,
		   int err_fd, pid_t *pid);
/* Says that pid, a child_start child, has been reaped: from now on a sweep
 * may take its pid for someone else's. Until then a sweep spares it (other
 * commands run at once: an application flow's processes). */
void child_done(pid_t pid);
/* Kills every process whose parent is pgrace, but child (started with
 * child_start, exited and not yet reaped), and reaps it, again and again as
 * killing one hands pgrace its children, until none is left or deadline_us
 * (clock_us() time) passes; returns how many it killed. */
int child_sweep(pid_t child, uint64_t deadline_us);

#endif
