/* test_coord.c: the release rule (coord_rule, src/coord.c), the one place
 * hold mode decides that every worker is settled, for SQL workers (one
 * backend each) and app workers (a backend per connection) alike: a table
 * of workers as the barrier sees them and the lock view's count, and what
 * the rule answers. No server. */
#include <criterion/criterion.h>

#include <string.h>

#include "coord.h"

#define MAXM 4

/* One worker of a case: its view, its backends, and how many of them
 * (the first ones) run a statement now. */
struct m {
	int view;
	int n_pids;
	int n_busy;
};

struct rcase {
	const char *name;
	int n;
	struct m m[MAXM];
	long long blocked; /* the lock view's count, -1: not asked */
	int want;
};

static const struct rcase cases[] = {
	{"every worker finished", 2, {{WV_FINISHED, 1, 0}, {WV_FINISHED, 0, 0}}, -1, 1},
	{"one not started yet", 2, {{WV_HELD, 1, 0}, {WV_IDLE, 1, 0}}, -1, 0},
	{"held and finished: no need to ask", 3,
	 {{WV_HELD, 1, 0}, {WV_FINISHED, 0, 0}, {WV_HELD, 2, 0}}, -1, 1},
	{"a SQL worker running: ask", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 1, 1}}, -1, -1},
	{"a SQL worker running, blocked", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 1, 1}}, 1, 1},
	{"a SQL worker running, not blocked", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 1, 1}}, 0, 0},
	{"an app between statements (nothing at the server)", 2,
	 {{WV_HELD, 1, 0}, {WV_RUNNING, 1, 0}}, -1, 0},
	{"an app not connected yet", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 0, 0}}, 5, 0},
	{"an app with two busy connections, one blocked", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 2, 2}},
	 1, 0},
	{"an app with two busy connections, both blocked", 2, {{WV_HELD, 1, 0}, {WV_RUNNING, 2, 2}},
	 2, 1},
	{"two blocked connections of one app are one worker: a third still runs", 3,
	 {{WV_HELD, 1, 0}, {WV_RUNNING, 2, 2}, {WV_RUNNING, 0, 0}}, 2, 0},
	{"held, another connection of it still busy: ask", 2, {{WV_HELD, 2, 1}, {WV_FINISHED, 0, 0}},
	 -1, -1},
	{"held, another connection of it busy and not blocked", 2,
	 {{WV_HELD, 2, 1}, {WV_FINISHED, 0, 0}}, 0, 0},
	{"held, another connection of it blocked", 2, {{WV_HELD, 2, 1}, {WV_FINISHED, 0, 0}}, 1, 1},
	{"an app with one busy and one idle connection, blocked", 2,
	 {{WV_HELD, 1, 0}, {WV_RUNNING, 2, 1}}, 1, 1},
};

Test(coord, release_rule)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct rcase *c = &cases[i];
		struct coord_member m[MAXM];
		int pids[MAXM][4];
		for (int k = 0; k < c->n; k++) {
			for (int j = 0; j < 4; j++)
				pids[k][j] = 100 + 10 * k + j;
			m[k] = (struct coord_member){c->m[k].view, pids[k], c->m[k].n_pids, pids[k],
						    c->m[k].n_busy};
		}
		int got = coord_rule(m, c->n, c->blocked);
		cr_expect_eq(got, c->want, "%s: %d, want %d", c->name, got, c->want);
	}
}

/* coord_look's answers that need no server: settled at once when no
 * backend runs (held and finished stay so: no second look), waiting when
 * a worker is not settled, and waiting (no question asked) when a busy
 * backend would need the lock view and the look may not ask it. */
Test(coord, look_without_the_lock_view)
{
	struct coord c;
	memset(&c, 0, sizeof c);
	int pids[2] = {101, 102};
	char err[128] = "";
	struct coord_member held[2] = {{WV_HELD, &pids[0], 1, NULL, 0},
				       {WV_FINISHED, &pids[1], 1, NULL, 0}};
	c.streak = 1;
	cr_expect_eq(coord_look(&c, held, 2, true, 0, err, sizeof err), COORD_SETTLED);
	cr_expect_eq(c.streak, 0, "a look with nobody busy needs no confirmation");
	struct coord_member idle[2] = {{WV_HELD, &pids[0], 1, NULL, 0},
				       {WV_IDLE, &pids[1], 1, NULL, 0}};
	cr_expect_eq(coord_look(&c, idle, 2, true, 0, err, sizeof err), COORD_WAIT);
	struct coord_member busy[2] = {{WV_HELD, &pids[0], 1, NULL, 0},
				       {WV_RUNNING, &pids[1], 1, &pids[1], 1}};
	c.streak = 1;
	cr_expect_eq(coord_look(&c, busy, 2, false, 0, err, sizeof err), COORD_WAIT);
	cr_expect_eq(c.streak, 0, "an unasked look confirms nothing");
	cr_expect_eq(c.polls, 0, "no question was asked");
	cr_expect_not(c.all_blocked);
}
