/* run_plan.c: which phase runs how, decided before anything runs
 * (run_plan.h). */
#include "run_plan.h"

#include <stdio.h>
#include <stdlib.h>

#include "judge.h"
#include "sqlscan.h"

/* A script's first statement that cannot run inside a transaction block,
 * as its line in the file; 0 when none. */
static int own_transaction_line(const struct sql_text *t)
{
	const char *pos = t->sql;
	struct sql_stmt st;
	while (t->sql && sql_next_stmt(t->sql, &pos, &st))
		if (sql_needs_own_transaction(&st))
			return t->line + st.line;
	return 0;
}

/* Through a transaction pooler without --admin-dsn: a script with a
 * statement that cannot run inside a transaction block (CREATE INDEX
 * CONCURRENTLY, VACUUM) cannot be given the sandbox's search_path
 * (sandbox_script()): refused, naming file:line. */
static bool pooled_scripts_fit(const struct scenario *sc, char *err, size_t errlen)
{
	const struct sql_text *setup[2] = {&sc->schema, &sc->seed};
	int line = 0;
	for (int i = 0; !line && i < 2; i++)
		line = own_transaction_line(setup[i]);
	for (size_t i = 0; !line && i < sc->n_phases; i++)
		for (size_t j = 0; !line && j < sc->phases[i].n_steps; j++)
			line = own_transaction_line(&sc->phases[i].steps[j].text);
	if (!line)
		return true;
	snprintf(err, errlen,
		 "%s:%d: this statement cannot run inside a transaction block, and through a "
		 "transaction pooler (--pooler) pgrace can give a script the sandbox's search_path "
		 "only in one; give --admin-dsn a connection that keeps its session (the server "
		 "itself, or a session-mode pool) for setup and steps",
		 sc->path, line);
	return false;
}

bool run_plan(const struct scenario *sc, const struct race_cfg *override, int duration_ms, bool pooler,
	      bool admin_pooled, struct run_plan *plan, char *err, size_t errlen)
{
	plan->n_phases = sc->n_phases;
	plan->most_workers = 0;
	plan->busiest = NULL;
	plan->phases = calloc(sc->n_phases ? sc->n_phases : 1, sizeof *plan->phases);
	if (!plan->phases)
		abort();
	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *p = &sc->phases[i];
		struct phase_plan *pp = &plan->phases[i];
		struct race_cfg cfg = scenario_race(sc, p, override);
		pp->cfg = cfg; /* its steps' timeout_ms too */
		if (!p->has_race)
			continue;
		/* Interleave orders are rounds: --duration does not apply to them. */
		pp->engine = cfg.mode == MODE_INTERLEAVE ? ENGINE_ORDERS
			     : duration_ms > 0           ? ENGINE_FREE
							 : ENGINE_ROUNDS;
		if (cfg.workers > plan->most_workers) {
			plan->most_workers = cfg.workers;
			plan->busiest = p->name;
		}
		char why[512];
		int line = p->line;
		/* The loader refuses orders outside interleave mode: --mode must
		 * not drop them in silence either. */
		if (p->n_orders && cfg.mode != MODE_INTERLEAVE) {
			snprintf(err, errlen,
				 "%s:%d: phase %s: orders go with mode interleave: --mode %s would race "
				 "the phase without them (run it without --mode, or with --mode "
				 "interleave)",
				 sc->path, p->order_lines[0], p->name, mode_name(cfg.mode));
			return false;
		}
		if (pp->engine == ENGINE_ORDERS &&
		    !scenario_interleave_check(sc, p, &cfg, &line, why, sizeof why)) {
			snprintf(err, errlen, "%s:%d: %s", sc->path, line, why);
			return false;
		}
		const char *refusal = scenario_autocommit_refusal(&cfg, pooler);
		if (refusal) {
			snprintf(err, errlen, "%s:%d: phase %s: %s", sc->path, p->line, p->name, refusal);
			return false;
		}
		/* A free run measures, it judges nothing; anything else must have
		 * an expectation that applies in the mode it races in. */
		if (pp->engine != ENGINE_FREE && judge_applicable(p, cfg.mode) == 0) {
			snprintf(err, errlen,
				 "%s:%d: phase %s races in mode %s, but every expectation of it is "
				 "limited to another mode: it would judge nothing (add one for %s, or "
				 "race it in the mode its expectations name)",
				 sc->path, p->line, p->name, mode_name(cfg.mode), mode_name(cfg.mode));
			return false;
		}
	}
	return !admin_pooled || pooled_scripts_fit(sc, err, errlen);
}

void run_plan_free(struct run_plan *plan)
{
	free(plan->phases);
	plan->phases = NULL;
	plan->n_phases = 0;
}

const char *run_plan_engine_name(enum phase_engine e)
{
	static const char *const names[] = {"none", "rounds", "orders", "free"};
	return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}
