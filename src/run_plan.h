/* run_plan.h: which phase runs how, decided before anything runs.
 *
 * A run's plan says, for every phase of the scenario, the race settings it
 * runs with (its own, over the command line's, over the scenario's) and the
 * engine that runs its race: rounds (hold or fire, race.c), orders
 * (interleave, interleave.c), a free run (--duration: measured, not judged)
 * or none. It refuses, up front and naming file:line, a phase that could
 * not be judged in the mode it would race in, an interleave phase that
 * cannot interleave, an autocommit race outside fire mode, a script a
 * pooler cannot give the sandbox's search_path. run.c then only
 * sequences what the plan says. Pure: calls scenario, sqlscan and judge. */
#ifndef PGRACE_RUN_PLAN_H
#define PGRACE_RUN_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"

/* What runs a phase's race. */
enum phase_engine {
	ENGINE_NONE,   /* the phase has no race: its steps only */
	ENGINE_ROUNDS, /* hold or fire rounds */
	ENGINE_ORDERS, /* interleave: every order (or a sample) of the workers' steps */
	ENGINE_FREE,   /* --duration: free-running, measured, not judged */
};

struct phase_plan {
	enum phase_engine engine;
	struct race_cfg cfg; /* the race settings it runs with (ENGINE_NONE: timeout_ms only) */
};

struct run_plan {
	struct phase_plan *phases; /* one per scenario phase, in order */
	size_t n_phases;
	int most_workers;    /* the most workers a phase races with (0: no race) */
	const char *busiest; /* that phase's name, NULL when none races */
};

/* Plans sc's phases under the command line's race settings (override),
 * --duration (duration_ms > 0) and a transaction pooler (admin_pooled: the
 * setup connection goes through it too, so no script may hold a statement
 * that cannot run inside a transaction block); false with err
 * ("file:line: ...", a bad scenario) when a phase cannot run as planned.
 * Free plan with run_plan_free, on either path. */
bool run_plan(const struct scenario *sc, const struct race_cfg *override, int duration_ms, bool pooler,
	      bool admin_pooled, struct run_plan *plan, char *err, size_t errlen);
/* Frees what run_plan allocated. */
void run_plan_free(struct run_plan *plan);
/* The name of engine e ("rounds", "orders", "free", "none"). */
const char *run_plan_engine_name(enum phase_engine e);

#endif
