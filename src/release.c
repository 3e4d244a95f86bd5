/* release.c: the go's burst of held tails, at realtime priority on two
 * cores when the process may (release.h says why). */
#define _GNU_SOURCE
#include "release.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "stats.h"

/* Whether this process may use SCHED_FIFO: unknown until the first burst
 * tries, then settled (a refusal is not asked again). */
enum { RT_UNKNOWN, RT_YES, RT_NO };
static atomic_int realtime = RT_UNKNOWN;

struct crew {
	int n;
	release_tail_fn tail_of;
	void *ctx;
	atomic_bool spinning, go;
};

/* The calling thread at SCHED_FIFO 1; *was keeps what it had. */
static bool raise_priority(int *policy, struct sched_param *was)
{
	if (atomic_load(&realtime) == RT_NO || pthread_getschedparam(pthread_self(), policy, was) != 0)
		return false;
	struct sched_param fifo = {.sched_priority = 1};
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0) {
		atomic_store(&realtime, RT_NO);
		return false;
	}
	atomic_store(&realtime, RT_YES);
	return true;
}

/* The helper: at realtime priority (set at its creation), spinning until
 * the go, then the tails from the last one down. */
static void *helper_main(void *arg)
{
	struct crew *w = arg;
	atomic_store_explicit(&w->spinning, true, memory_order_release);
	while (!atomic_load_explicit(&w->go, memory_order_acquire))
		;
	for (int i = w->n - 1; i >= 0; i--)
		lastbyte_release(w->tail_of(w->ctx, i));
	return NULL;
}

/* Starts the helper on a core other than the caller's, at SCHED_FIFO 1. */
static bool start_helper(struct crew *w, pthread_t *t)
{
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return false;
	struct sched_param fifo = {.sched_priority = 1};
	int me = sched_getcpu();
	cpu_set_t others;
	CPU_ZERO(&others);
	if (sched_getaffinity(0, sizeof others, &others) == 0 && me >= 0 && CPU_COUNT(&others) > 1) {
		CPU_CLR(me, &others);
		pthread_attr_setaffinity_np(&attr, sizeof others, &others);
	}
	bool ok = pthread_attr_setstacksize(&attr, 64 * 1024) == 0 &&
		  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED) == 0 &&
		  pthread_attr_setschedpolicy(&attr, SCHED_FIFO) == 0 &&
		  pthread_attr_setschedparam(&attr, &fifo) == 0 &&
		  pthread_create(t, &attr, helper_main, w) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

bool release_burst(int n, release_tail_fn tail_of, void *ctx)
{
	int policy = SCHED_OTHER;
	struct sched_param was;
	bool two = false;
	pthread_t helper;
	struct crew w = {.n = n, .tail_of = tail_of, .ctx = ctx};
	int held = 0;
	for (int i = 0; i < n && held < RELEASE_TWO_MIN; i++)
		held += atomic_load_explicit(&tail_of(ctx, i)->ready, memory_order_relaxed);
	if (held >= RELEASE_TWO_MIN && sysconf(_SC_NPROCESSORS_ONLN) > 1 && raise_priority(&policy, &was)) {
		two = start_helper(&w, &helper);
		/* Both spin from here to the burst's end: wait for the helper a
		 * millisecond at most (then it only writes what is left). */
		uint64_t until = clock_us() + 1000;
		while (two && !atomic_load_explicit(&w.spinning, memory_order_acquire) && clock_us() < until)
			;
		if (!two)
			pthread_setschedparam(pthread_self(), policy, &was);
	}
	atomic_store_explicit(&w.go, true, memory_order_release);
	for (int i = 0; i < n; i++)
		lastbyte_release(tail_of(ctx, i));
	if (two) {
		pthread_join(helper, NULL);
		pthread_setschedparam(pthread_self(), policy, &was);
	}
	return two;
}
