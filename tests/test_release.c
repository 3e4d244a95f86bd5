/* test_release.c: release_burst (src/release.c) writes every held tail
 * exactly once, whichever of its one or two writers takes it, leaves the
 * ones not held alone, and runs two realtime writers exactly when the
 * process may (root or an RLIMIT_RTPRIO above 0, 2 cores or more, 8 held
 * tails or more). Socket pairs stand in for the backends' connections. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "release.h"

enum { N = 64 };

static struct lastbyte_tail tails[N];
static int peer[N];

static struct lastbyte_tail *tail_at(void *ctx, int i)
{
	(void)ctx;
	return &tails[i];
}

/* n tails, those with i % skip != 0 held ("skip" 1: all held). */
static void hold(int n, int skip)
{
	for (int i = 0; i < n; i++) {
		int sv[2];
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		memset(&tails[i], 0, sizeof tails[i]);
		tails[i].fd = sv[0];
		peer[i] = sv[1];
		tails[i].n = 6;
		memcpy(tails[i].b, "\x00" "S\0\0\0\x04", 6);
		tails[i].b[0] = (unsigned char)i;
		atomic_store(&tails[i].ready, skip == 1 || i % skip != 0);
	}
}

/* What reached peer i, without waiting: its byte count. */
static ssize_t arrived(int i, unsigned char *buf, size_t len)
{
	ssize_t k = recv(peer[i], buf, len, MSG_DONTWAIT);
	return k < 0 && errno == EAGAIN ? 0 : k;
}

static void close_all(int n)
{
	for (int i = 0; i < n; i++) {
		close(tails[i].fd);
		close(peer[i]);
	}
}

/* Whether this process may raise a thread to SCHED_FIFO (what release.c
 * asks), found out here the same way, then put back. */
static bool may_realtime(void)
{
	int policy;
	struct sched_param was, fifo = {.sched_priority = 1};
	if (pthread_getschedparam(pthread_self(), &policy, &was) != 0 ||
	    pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0)
		return false;
	pthread_setschedparam(pthread_self(), policy, &was);
	return true;
}

Test(release, every_held_tail_once)
{
	for (int round = 0; round < 50; round++) {
		hold(N, 1);
		bool two = release_burst(N, tail_at, NULL);
		cr_assert_eq(two, may_realtime() && sysconf(_SC_NPROCESSORS_ONLN) > 1,
			     "round %d: two realtime writers %d", round, two);
		for (int i = 0; i < N; i++) {
			unsigned char buf[32];
			cr_assert_eq(arrived(i, buf, sizeof buf), 6, "round %d: tail %d", round, i);
			cr_assert_eq(buf[0], (unsigned char)i);
			cr_assert(!atomic_load(&tails[i].ready), "tail %d still to be written", i);
			cr_assert_neq(atomic_load(&tails[i].written_us), 0u);
		}
		close_all(N);
	}
}

Test(release, tails_not_held_are_left_alone)
{
	hold(N, 3); /* every third one not held */
	release_burst(N, tail_at, NULL);
	for (int i = 0; i < N; i++) {
		unsigned char buf[32];
		cr_expect_eq(arrived(i, buf, sizeof buf), i % 3 != 0 ? 6 : 0, "tail %d", i);
		cr_expect_eq(atomic_load(&tails[i].written_us) != 0, i % 3 != 0, "tail %d", i);
	}
	close_all(N);
}

Test(release, few_tails_one_writer)
{
	hold(RELEASE_TWO_MIN - 1, 1);
	cr_expect(!release_burst(RELEASE_TWO_MIN - 1, tail_at, NULL), "two writers for 7 tails");
	for (int i = 0; i < RELEASE_TWO_MIN - 1; i++) {
		unsigned char buf[32];
		cr_expect_eq(arrived(i, buf, sizeof buf), 6, "tail %d", i);
	}
	close_all(RELEASE_TWO_MIN - 1);
}

/* Without the right to realtime priority (an RLIMIT_RTPRIO of 0 and no
 * CAP_SYS_NICE, as for most users), one writer at normal priority, and the
 * tails still go out. As root the test's own process (Criterion forks one
 * per test) becomes nobody first. */
Test(release, refused_realtime_falls_back)
{
	struct rlimit none = {0, 0};
	cr_assert_eq(setrlimit(RLIMIT_RTPRIO, &none), 0);
	if (geteuid() == 0)
		cr_assert(setgid(65534) == 0 && setuid(65534) == 0, "cannot become nobody");
	cr_assert(!may_realtime(), "realtime priority still allowed");
	hold(N, 1);
	cr_expect(!release_burst(N, tail_at, NULL));
	for (int i = 0; i < N; i++) {
		unsigned char buf[32];
		cr_expect_eq(arrived(i, buf, sizeof buf), 6, "tail %d", i);
	}
	int policy;
	struct sched_param p;
	cr_expect_eq(pthread_getschedparam(pthread_self(), &policy, &p), 0);
	cr_expect_eq(policy, SCHED_OTHER, "the caller's policy changed");
	close_all(N);
}
