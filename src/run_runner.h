/* run_runner.h: one run's state and the calls run.c, run_step.c and
 * run_race.c make of each other.
 *
 * Not a public face (run.h is): only the run module's own files include it.
 * run.c sequences the run and owns struct runner; run_step.c plays a phase's
 * steps; run_race.c drives a phase's race in the engine its plan names. */
#ifndef PGRACE_RUN_RUNNER_H
#define PGRACE_RUN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "command.h"
#include "connpool.h"
#include "db.h"
#include "race.h"
#include "run.h"
#include "run_plan.h"
#include "stepcmd.h"

struct runner {
	const struct scenario *sc;
	const struct run_opts *opts;
	struct run_result *res;
	PGconn *admin;      /* setup, steps and cleanup; search_path = the sandbox */
	PGconn *owner;      /* holds the sandbox's owner lock (sandbox.h), runs nothing else */
	const char *admin_dsn; /* opts->admin_dsn, else opts->dsn */
	bool admin_pooled;  /* the admin connection goes through the transaction pooler */
	bool migrated;
	long long round;    /* global round counter: keys never repeat across phases */
	struct command_result *cmd; /* the last command's output (allocated on first use) */
	bool touched_outside; /* the last command changed the catalog outside the sandbox */
	struct run_plan plan;       /* which phase runs how (run_plan.h) */
	int timeout_ms;             /* a scenario statement's deadline: race's timeout_ms */
	const char *target_dsn[TARGETS_MAX]; /* the scenario's targets' conninfo ([0]: --dsn) */
	struct connpool pool; /* the workers' connections, from one racing phase to the next */
};

/* Ends the run: records why and the verdict it deserves; the first reason stays (run.c). */
__attribute__((format(printf, 3, 4))) void run_stop(struct runner *rn, enum verdict v, const char *fmt,
						    ...);
/* The verdict of a query that failed outside a race and any step (run.c). */
enum verdict run_setup_verdict(const struct db_result *r);
/* Runs a script of the scenario on the admin connection, in the sandbox (run.c). */
void run_admin_sql(struct runner *rn, const char *sql, struct db_result *r);
/* Runs a scenario's command in the sandbox, its output kept in rn->cmd (run.c). */
bool run_command(struct runner *rn, const struct command *cmd, struct db_result *r);

/* Plays step i of phase p (its tries, its load), recorded in ph; false when the run must stop
 * (run_step.c). */
bool run_step(struct runner *rn, const struct phase *p, size_t i, struct phase_result *ph,
	      struct race *race);

/* A phase's rounds of hold or fire, totals in t; false when the run must stop (run_race.c). */
bool run_race_rounds(struct runner *rn, const struct phase *p, struct race *race,
		     const struct race_cfg *cfg, struct phase_result *ph, struct race_totals *t);
/* A phase's rounds of the application's processes, totals in t; false when the run must stop
 * (run_race.c). */
bool run_app_rounds(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
		    struct phase_result *ph, struct race_totals *t);
/* A phase's interleave orders, totals in t; false when the run must stop (run_race.c). */
bool run_race_interleave(struct runner *rn, const struct phase *p, const struct race_cfg *cfg,
			 struct phase_result *ph, struct race_totals *t);
/* A phase's free run (--duration); false when the run must stop (run_race.c). */
bool run_race_free(struct runner *rn, const struct phase *p, struct race *race,
		   struct phase_result *ph);

#endif
