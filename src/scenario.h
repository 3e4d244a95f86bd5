/* scenario.h: a scenario file, loaded and validated.
 *
 * The format (YAML) is documented in docs/scenario-format.md. Everything
 * about the tables under test lives in the file: schema, seed, migration,
 * the racing flow and the expectations. The loader checks every key, type
 * and expression up front, so a run never starts on a malformed file; each
 * message names file:line and what was expected. */
#ifndef PGRACE_SCENARIO_H
#define PGRACE_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#include "command.h"
#include "expect.h"
#include "key.h"
#include "sqlscan.h" /* sql_bind, sql_max_param, sql_transaction_control */

enum race_mode { MODE_HOLD, MODE_FIRE, MODE_INTERLEAVE };
enum isolation { ISO_READ_COMMITTED, ISO_REPEATABLE_READ, ISO_SERIALIZABLE };
enum key_dist { DIST_UNIFORM, DIST_HOT };
enum release_kind { RELEASE_LAST_BYTE, RELEASE_SEND };

/* A piece of SQL and where it starts in the file; or, for schema, seed,
 * migration and steps, a command to run instead (then sql is NULL). */
struct sql_text {
	char *sql;
	int line;
	int nparams; /* highest $n it uses: the key parameters it is sent */
	struct command *command; /* NULL for SQL */
};

/* A command's deadline when the file gives no timeout_ms. */
#define COMMAND_DEFAULT_TIMEOUT_MS 120000

/* One statement of the racing flow, run with the round's key as $1..$n. */
struct flow_step {
	struct sql_text text;
	bool skip_if_found; /* a returned row ends the attempt as "skipped" */
	int target;         /* index in the scenario's targets (`on:`); 0: the first, whose
			     * transaction the flow is; another runs on its own connection,
			     * outside that transaction (autocommit) */
	char *on;           /* the `on:` name as written, NULL when absent */
	int on_line;
};

/* Connection targets a scenario names (`targets: [primary, replica]`). */
#define TARGETS_MAX 4

/* flow: {app: {command: ..., cwd: ..., shell: ..., timeout_ms: ...,
 * expect_output: ...}}: the application's own processes race, one per
 * worker per round, through pgrace's protocol listener (app.h). */
struct app_flow {
	struct command cmd;
	char *expect_output; /* a substring of its stdout or stderr counted in app.output_matched; NULL: none */
	bool warm;           /* one process per worker for the phase, a key per line on stdin
				(app_warm.h) */
	int line;
};

/* Race settings; the scenario's `race:` holds the defaults, a phase's
 * `race:` overrides them, and command-line flags override the defaults. */
struct race_cfg {
	int workers;
	int rounds;
	int keys;            /* distinct keys raced per round */
	int deadline_ms;     /* a round's whole budget */
	int retries;         /* extra tries after a retryable error (40001, 40P01) */
	enum race_mode mode;
	enum isolation isolation;
	enum key_dist dist;
	int rc_workers;      /* this many workers run READ COMMITTED whatever isolation says */
	int max_interleavings; /* interleave: above this many orders, a sample of this many */
	long long seed;        /* interleave: the sample's seed */
	bool autocommit;       /* fire: no BEGIN/COMMIT, each statement its own transaction */
	int timeout_ms;        /* each SQL statement of schema, seed and steps */
	bool reduction;        /* interleave: run one order per class of commuting steps */
	enum release_kind release; /* fire: how the first statements are released (lastbyte.h) */
	unsigned set;        /* RACE_SET_* bits: which fields the file set (scenario_race: any layer) */
};

#define RACE_SET_WORKERS 1u
#define RACE_SET_ROUNDS 2u
#define RACE_SET_KEYS 4u
#define RACE_SET_DEADLINE 8u
#define RACE_SET_RETRIES 16u
#define RACE_SET_MODE 32u
#define RACE_SET_ISOLATION 64u
#define RACE_SET_DIST 128u
#define RACE_SET_RC 256u
#define RACE_SET_MAX_ILV 512u
#define RACE_SET_SEED 1024u
#define RACE_SET_AUTOCOMMIT 2048u
#define RACE_SET_REDUCTION 4096u
#define RACE_SET_TIMEOUT 8192u
#define RACE_SET_RELEASE 16384u

/* One race setting, a key of `race:`: the loader reads, defaults and layers
 * struct race_cfg through this table only (scenario_race.c), and
 * docs/scenario-format.md's race table is tested against it. */
enum race_setting_type {
	RACE_INT,   /* an int field, from lo to hi */
	RACE_INT64, /* a long long field, from lo to hi */
	RACE_BOOL,  /* a bool field */
	RACE_ENUM,  /* an enum field: the index into choices[0..hi] */
};

#define RACE_IN_SCENARIO 1u /* in the scenario's race: (its defaults) */
#define RACE_IN_PHASE 2u    /* in a phase's race: */

struct race_setting {
	const char *name; /* its key in race: */
	enum race_setting_type type;
	long long lo, hi;
	const char *const *choices; /* RACE_ENUM: the names, NULL-ended */
	long long dflt;             /* the default (an enum's index, a bool's 0 or 1) */
	unsigned where;             /* RACE_IN_* */
	const char *flag;           /* the pgrace run flag that overrides it, or NULL */
	unsigned set;               /* its RACE_SET_* bit */
	size_t off;                 /* its field in struct race_cfg */
	const char *doc;            /* its line in docs/scenario-format.md */
};

/* The race settings table, *n rows. */
const struct race_setting *scenario_race_settings(size_t *n);
/* s's default as the docs show it ("16", "`hold`", "false") into buf. */
void scenario_race_default(const struct race_setting *s, char *buf, size_t len);

enum step_kind {
	STEP_SQL,
	STEP_MIGRATE_UP,
	STEP_MIGRATE_DOWN,
	STEP_CHECK_INVALID_INDEXES, /* rows = invalid indexes in the sandbox */
	STEP_CHECK_CONSTRAINT,      /* rows = 1 when check_arg exists and is validated */
	STEP_CHECK_UNIQUE,          /* rows = 1 when check_arg is a valid unique constraint,
				     * primary key or unique index on check_table (check_cols) */
	STEP_CHECK_AMCHECK,         /* rows = btree indexes verified with bt_index_check */
};

#define STEP_RETRY_ON_MAX 8

/* A setup step of a phase: SQL run once, on one connection, with its own
 * expectations (error SQLSTATE, message substring, metrics such as `rows`). */
struct step {
	enum step_kind kind;
	char *label;         /* "migrate up", "run precheck", "sql", "check amcheck", "command" */
	struct sql_text text;  /* NULL sql for the built-in checks; text.command for commands */
	char *check_arg;       /* constraint name for STEP_CHECK_CONSTRAINT / _UNIQUE */
	char *check_table;     /* _UNIQUE: the table it must be on, as the catalog names it */
	char *check_cols;      /* _UNIQUE: its key columns, each as the catalog names it (a
				* column's name, an expression without blanks), sorted
				* bytewise, joined by \x1f */
	int line;
	bool under_load;       /* the phase's workers run the flow back to back meanwhile */
	int retries;           /* retries on a retry_on SQLSTATE */
	char retry_on[STEP_RETRY_ON_MAX][6];
	int n_retry_on;
	char expect_error[6];  /* "" = must succeed */
	char *expect_message;  /* substring of the server's message, or NULL */
	struct expectation *expects;
	size_t n_expects;
};

/* A phase: optional steps, then optionally a race, then the checks. */
struct phase {
	char *name;
	int line;
	struct step *steps;
	size_t n_steps;
	bool has_race;
	struct race_cfg race; /* phase overrides only; merged by scenario_race() */
	char **orders;        /* interleave: `orders:`, the only orders to run ("a1 b1 ...") */
	int *order_lines;
	size_t n_orders;
	bool must_reproduce;  /* it relies on the race biting: its failures make the run
			       * inconclusive, not failed */
	struct expectation *expects;
	size_t n_expects;
	struct sql_text round_setup; /* its own (sql NULL: the scenario's round_setup, if any) */
};

/* A named SQL block from the `sql:` map. */
struct named_sql {
	char *name;
	struct sql_text text;
};

/* What a scenario needs of the server (`requires:`); on a server that
 * lacks it the scenario is skipped with the reason, not run. */
#define REQUIRES_MAX_EXTENSIONS 8
struct requirements {
	int server_version;  /* major version, e.g. 15; 0 = any */
	char *extensions[REQUIRES_MAX_EXTENSIONS]; /* created in the sandbox when missing */
	size_t n_extensions;
	int line;
};

struct scenario {
	char *path;
	char *name;
	char *description;
	struct requirements requires;
	char *targets[TARGETS_MAX]; /* the first is the --dsn server: sandbox, setup, steps */
	size_t n_targets;           /* 0: no targets named, one connection */
	int targets_line;
	struct sql_text schema, seed;
	struct sql_text migrate_up, migrate_down;
	struct named_sql *sql;
	size_t n_sql;
	struct race_cfg race;  /* defaults */
	struct key_param *params; /* key parameters $1..$n (key.h) */
	size_t n_params;
	int params_line;
	struct sql_text round_setup; /* before each round's race, once per key with its $1..$n */
	struct sql_text rows;  /* rows per key, run with the key as $1..$n */
	struct flow_step *flow;
	size_t n_flow;
	struct app_flow *app;  /* flow: {app: ...}: NULL for a flow of SQL steps (then n_flow 0) */
	struct phase *phases;
	size_t n_phases;
};

/* Loads and validates path into *sc. On failure returns false and writes
 * "path:line: what" into err; *sc is then empty and need not be freed. */
bool scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen);
/* The same, from len bytes of buf (need not be NUL-terminated) named path. */
bool scenario_parse(const char *path, const char *buf, size_t len, struct scenario *sc, char *err,
		    size_t errlen);
/* Frees everything scenario_load allocated. */
void scenario_free(struct scenario *sc);
/* The race settings phase p runs with: the phase's own, else overrides
 * (command-line flags, only fields flagged in overrides->set), else the
 * scenario's defaults. */
struct race_cfg scenario_race(const struct scenario *sc, const struct phase *p,
			      const struct race_cfg *overrides);
/* Whether phase p can race in interleave mode with cfg: 1 to 4 workers, at
 * most 32 steps in all, no under_load step, no flow step on another target,
 * orders that fit the flow. False with why (and the line to name in *line). */
bool scenario_interleave_check(const struct scenario *sc, const struct phase *p,
			       const struct race_cfg *cfg, int *line, char *why, size_t len);
/* Why a race with cfg cannot run in autocommit (through a pooler when
 * pooler), NULL when it can or cfg is not autocommit: the one rule the
 * loader, the runner (after command-line overrides) and race_open apply. */
const char *scenario_autocommit_refusal(const struct race_cfg *cfg, bool pooler);
/* The SQL of a part of sc by name: schema, seed, rows, migration.up,
 * migration.down, sql.NAME, flow.N (from 1); NULL when sc has no such part. */
const struct sql_text *scenario_part(const struct scenario *sc, const char *name);
/* Named SQL block, or NULL. */
const struct sql_text *scenario_sql(const struct scenario *sc, const char *name);

/* "hold", "fire" or "interleave", as in scenario files and JSON. */
const char *mode_name(enum race_mode m);
/* "read committed", ..., as in scenario files and JSON. */
const char *isolation_name(enum isolation i);
/* "READ COMMITTED", ..., for BEGIN ISOLATION LEVEL. */
const char *isolation_sql(enum isolation i);

#endif
