/* scenario_race.c: the race settings, one table, and what follows from them.
 *
 * Every key of `race:` (in the scenario, its defaults, or in a phase) is one
 * row of settings[]: its name, type, bounds, default, where it may appear
 * (and the `pgrace run` flag that overrides it), its RACE_SET_* bit, its
 * field in struct race_cfg and the line docs/scenario-format.md shows for
 * it. Reading a `race:` map, filling the defaults and layering phase over
 * command line over scenario (scenario_race()) all walk that table; adding
 * a setting is adding a row (tests/test_scenario.c checks the docs against
 * it). Also here: the checks a race's settings imply (interleave's limits,
 * autocommit's refusals) and the names of modes and isolation levels. */
#include "loader.h"

#include "order.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = {"hold", "fire", "interleave", NULL};
static const char *const iso_names[] = {"read committed", "repeatable read", "serializable", NULL};
static const char *const dist_names[] = {"uniform", "hot", NULL};
static const char *const release_names[] = {"last-byte", "send", NULL};

/* enum fields are stored through an int */
static_assert(sizeof(enum race_mode) == sizeof(int), "enum race_mode is an int");
static_assert(sizeof(enum isolation) == sizeof(int), "enum isolation is an int");
static_assert(sizeof(enum key_dist) == sizeof(int), "enum key_dist is an int");
static_assert(sizeof(enum release_kind) == sizeof(int), "enum release_kind is an int");

#define BOTH (RACE_IN_SCENARIO | RACE_IN_PHASE)
#define AT(field) offsetof(struct race_cfg, field)

static const struct race_setting settings[] = {
	{"workers", RACE_INT, 1, 5000, NULL, 16, BOTH, "--workers", RACE_SET_WORKERS, AT(workers),
	 "concurrent workers, each on its own connection (1-5000)"},
	{"rounds", RACE_INT, 1, 1000000, NULL, 20, BOTH, "--rounds", RACE_SET_ROUNDS, AT(rounds),
	 "rounds per racing phase (1-1000000)"},
	{"keys", RACE_INT, 1, 5000, NULL, 1, BOTH, NULL, RACE_SET_KEYS, AT(keys),
	 "distinct keys per round; worker `w` races on key `w % keys` (uniform)"},
	{"distribution", RACE_ENUM, 0, 1, dist_names, DIST_UNIFORM, BOTH, NULL, RACE_SET_DIST, AT(dist),
	 "`uniform`, or `hot`: half the workers on key 0, the rest spread"},
	{"mode", RACE_ENUM, 0, 2, mode_names, MODE_HOLD, BOTH, "--mode", RACE_SET_MODE, AT(mode),
	 "`hold`: commit barrier, deterministic; `fire`: free race, stochastic; `interleave`: "
	 "every order of the workers' steps, one step at a time"},
	{"isolation", RACE_ENUM, 0, 2, iso_names, ISO_READ_COMMITTED, BOTH, NULL, RACE_SET_ISOLATION,
	 AT(isolation), "`read committed`, `repeatable read`, `serializable`"},
	{"read_committed_workers", RACE_INT, 0, 5000, NULL, 0, BOTH, NULL, RACE_SET_RC, AT(rc_workers),
	 "this many workers run READ COMMITTED whatever `isolation` says"},
	{"retries", RACE_INT, 0, 1000, NULL, 0, BOTH, NULL, RACE_SET_RETRIES, AT(retries),
	 "extra tries after 40001 / 40P01 (like pgbench's `--max-tries`; 0-1000); hold and fire "
	 "only: an interleave order runs each worker's steps once"},
	{"deadline_ms", RACE_INT, 100, 3600000, NULL, 10000, BOTH, "--deadline-ms", RACE_SET_DEADLINE,
	 AT(deadline_ms), "a round's whole time budget; past it the round is broken (exit 3)"},
	{"timeout_ms", RACE_INT, 100, 3600000, NULL, 60000, BOTH, NULL, RACE_SET_TIMEOUT,
	 AT(timeout_ms),
	 "the deadline of each SQL statement of `schema`, `seed` and a phase's steps (the "
	 "scenario's value for schema and seed, the phase's for its steps); "
	 "past it the statement is cancelled and the run stops (exit 3); a command has its own "
	 "`timeout_ms`"},
	{"max_interleavings", RACE_INT, 1, ORDER_MAX_SAMPLE, NULL, 1000, BOTH, "--max-interleavings",
	 RACE_SET_MAX_ILV, AT(max_interleavings),
	 "`interleave`: above this many orders, run a seeded sample of this many (1-100000)"},
	{"seed", RACE_INT64, 0, 2147483647, NULL, 1, BOTH, "--seed", RACE_SET_SEED, AT(seed),
	 "`interleave`: the sample's seed (0-2147483647)"},
	{"reduction", RACE_BOOL, 0, 1, NULL, 1, BOTH, "--no-reduction", RACE_SET_REDUCTION,
	 AT(reduction),
	 "`interleave`: run one order of each class of orders that differ only by swapping "
	 "adjacent steps that commute (partial-order reduction), and count it for the whole "
	 "class; `false` runs every order"},
	{"autocommit", RACE_BOOL, 0, 1, NULL, 0, BOTH, NULL, RACE_SET_AUTOCOMMIT, AT(autocommit),
	 "`fire` only: no BEGIN and no COMMIT, each flow statement its own transaction (the app "
	 "without a transaction; the narrowest race for a single `INSERT ... WHERE NOT EXISTS`); "
	 "isolation stays `read committed`, no `on:` steps, not through `--pooler`"},
	{"release", RACE_ENUM, 0, 1, release_names, RELEASE_LAST_BYTE, BOTH, "--release", RACE_SET_RELEASE,
	 AT(release),
	 "`fire`: `last-byte`: each worker sends its first statement but the last bytes ahead of the "
	 "go, and one thread writes them all back to back at the go; `send`: each worker sends its "
	 "first statement at the go"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

const struct race_setting *scenario_race_settings(size_t *n)
{
	*n = N_SETTINGS;
	return settings;
}

static size_t field_size(const struct race_setting *s)
{
	switch (s->type) {
	case RACE_INT64:
		return sizeof(long long);
	case RACE_BOOL:
		return sizeof(bool);
	default:
		return sizeof(int);
	}
}

static void copy_field(struct race_cfg *dst, const struct race_cfg *src, const struct race_setting *s)
{
	memcpy((char *)dst + s->off, (const char *)src + s->off, field_size(s));
}

static void put_field(struct race_cfg *r, const struct race_setting *s, long long v)
{
	char *at = (char *)r + s->off;
	int i = (int)v;
	bool b = v != 0;
	switch (s->type) {
	case RACE_INT64:
		memcpy(at, &v, sizeof v);
		break;
	case RACE_BOOL:
		memcpy(at, &b, sizeof b);
		break;
	default:
		memcpy(at, &i, sizeof i);
		break;
	}
}

void scenario_race_default(const struct race_setting *s, char *buf, size_t len)
{
	switch (s->type) {
	case RACE_BOOL:
		snprintf(buf, len, "%s", s->dflt ? "true" : "false");
		break;
	case RACE_ENUM:
		snprintf(buf, len, "`%s`", s->choices[s->dflt]);
		break;
	default:
		snprintf(buf, len, "%lld", s->dflt);
		break;
	}
}

bool scenario_race_parse(struct loader *L, struct fy_node *n, int line, struct race_cfg *r,
			 unsigned where)
{
	const char *keys[N_SETTINGS + 1];
	size_t nk = 0;
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (settings[i].where & where)
			keys[nk++] = settings[i].name;
	keys[nk] = NULL;
	memset(r, 0, sizeof *r);
	if (n && fy_node_get_type(n) == FYNT_SCALAR && loader_blank(fy_node_get_scalar0(n)))
		return true; /* `race:` with nothing: defaults */
	if (!loader_want_type(L, n, FYNT_MAPPING, "race", line))
		return false;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, keys, "race", &k, &v, &kl)) {
		const struct race_setting *s = settings;
		while (strcmp(s->name, k))
			s++; /* k is one of keys[] */
		long long val = 0;
		bool ok = true;
		if (s->type == RACE_BOOL) {
			bool b;
			ok = loader_bool(L, v, k, kl, &b);
			val = b;
		} else if (s->type == RACE_ENUM) {
			int idx = loader_enum(L, v, k, kl, s->choices, (size_t)(s->hi + 1));
			ok = idx >= 0;
			val = idx;
		} else {
			int x;
			ok = loader_int(L, v, k, kl, (long)s->lo, (long)s->hi, &x);
			val = x;
		}
		if (!ok)
			return false;
		put_field(r, s, val);
		r->set |= s->set;
	}
	return !L->failed;
}

void scenario_race_defaults(struct race_cfg *r)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (!(r->set & settings[i].set))
			put_field(r, &settings[i], settings[i].dflt);
}

/* A phase racing in autocommit (race: {autocommit: true}): fire mode only
 * (hold holds each worker's transaction open before its COMMIT), at READ
 * COMMITTED (each statement runs at the session's default), on one server. */
static bool check_autocommit(struct loader *L, const struct scenario *sc, const struct phase *ph)
{
	struct race_cfg cfg = scenario_race(sc, ph, NULL);
	if (!ph->has_race || !cfg.autocommit)
		return true;
	const char *refusal = scenario_autocommit_refusal(&cfg, false);
	if (refusal)
		return loader_error(L, ph->line, "phase \"%s\": %s", ph->name, refusal);
	if (cfg.isolation != ISO_READ_COMMITTED || cfg.rc_workers)
		return loader_error(L, ph->line,
				    "phase \"%s\": race: {autocommit: true} runs each statement at the "
				    "server's default isolation: leave isolation at read committed",
				    ph->name);
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].on)
			return loader_error(
				L, sc->flow[i].on_line,
				"phase \"%s\": race: {autocommit: true} runs every flow step on the "
				"--dsn server",
				ph->name);
	return true;
}

bool scenario_interleave_check(const struct scenario *sc, const struct phase *ph,
			       const struct race_cfg *cfg, int *line, char *why, size_t len)
{
	int steps = (int)sc->n_flow + 1;
	if (sc->app && ph->n_orders) {
		*line = ph->order_lines[0];
		snprintf(why, len,
			 "phase \"%s\": an app flow's orders are found as its processes run: "
			 "orders: lists go with SQL flows",
			 ph->name);
		return false;
	}
	if (sc->app && cfg->workers > 8) {
		*line = ph->line;
		snprintf(why, len, "phase \"%s\": interleave mode of an app flow runs 1 to 8 workers, not %d",
			 ph->name, cfg->workers);
		return false;
	}
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].on) {
			*line = sc->flow[i].on_line;
			snprintf(why, len,
				 "phase \"%s\": interleave mode runs every step on the --dsn server; "
				 "flow "
				 "step on: \"%s\" goes with hold or fire",
				 ph->name, sc->flow[i].on);
			return false;
		}
	if (!sc->app && (cfg->workers > ORDER_MAX_WORKERS || cfg->workers * steps > ORDER_MAX_LEN)) {
		*line = ph->line;
		snprintf(why, len,
			 "phase \"%s\": interleave mode runs 1 to %d workers with at most %d steps "
			 "in all (workers x (flow statements + COMMIT)), not %d x %d",
			 ph->name, ORDER_MAX_WORKERS, ORDER_MAX_LEN, cfg->workers, steps);
		return false;
	}
	if (cfg->retries > 0) {
		*line = ph->line;
		snprintf(why, len,
			 "phase \"%s\": race: {retries: %d} tries a 40001/40P01 loser again, which "
			 "interleave mode does not (each order runs each worker's steps once): race it "
			 "in hold or fire",
			 ph->name, cfg->retries);
		return false;
	}
	for (size_t i = 0; i < ph->n_steps; i++)
		if (ph->steps[i].under_load) {
			*line = ph->steps[i].line;
			snprintf(why, len,
				 "phase \"%s\": under_load needs mode hold or fire (interleave runs one "
				 "step at a time)",
				 ph->name);
			return false;
		}
	for (size_t i = 0; i < ph->n_orders; i++) {
		struct order o;
		char perr[160];
		if (!order_parse(ph->orders[i], cfg->workers, steps, &o, perr, sizeof perr)) {
			*line = ph->order_lines[i];
			snprintf(why, len, "phase \"%s\", orders: %s", ph->name, perr);
			return false;
		}
	}
	return true;
}

/* An interleave phase: what scenario_interleave_check() asks, and orders
 * only in interleave phases. */
static bool check_interleave(struct loader *L, const struct scenario *sc, const struct phase *ph)
{
	struct race_cfg cfg = scenario_race(sc, ph, NULL);
	if (!ph->has_race || cfg.mode != MODE_INTERLEAVE) {
		if (ph->n_orders)
			return loader_error(L, ph->order_lines[0],
					    "phase \"%s\": orders go with mode interleave", ph->name);
		return true;
	}
	char why[512];
	int line = ph->line;
	if (!scenario_interleave_check(sc, ph, &cfg, &line, why, sizeof why))
		return loader_error(L, line, "%s", why);
	return true;
}

struct race_cfg scenario_race(const struct scenario *sc, const struct phase *p, const struct race_cfg *ov)
{
	struct race_cfg r = sc->race;
	const struct race_cfg *layers[] = {ov, p ? &p->race : NULL};
	for (size_t i = 0; i < 2; i++)
		if (layers[i]) {
			for (size_t j = 0; j < N_SETTINGS; j++)
				if (layers[i]->set & settings[j].set)
					copy_field(&r, layers[i], &settings[j]);
			r.set |= layers[i]->set; /* what any layer set, not its default */
		}
	/* Interleave mode races two workers unless the phase says how many, or
	 * the command line or the scenario's defaults do together with mode
	 * interleave: a worker count meant for hold and fire (16, --workers 8)
	 * would make thousands of orders. One key per order. */
	if (r.mode == MODE_INTERLEAVE) {
		const struct race_cfg *named[] = {p ? &p->race : NULL, ov, &sc->race};
		r.workers = 2;
		for (size_t i = 0; i < 3; i++) {
			const struct race_cfg *l = named[i];
			if (l && (l->set & RACE_SET_WORKERS) &&
			    (i == 0 || ((l->set & RACE_SET_MODE) && l->mode == MODE_INTERLEAVE))) {
				r.workers = l->workers;
				break;
			}
		}
		r.keys = 1;
	}
	if (r.keys > r.workers)
		r.keys = r.workers;
	if (r.rc_workers > r.workers)
		r.rc_workers = r.workers;
	return r;
}

const char *scenario_autocommit_refusal(const struct race_cfg *cfg, bool pooler)
{
	if (!cfg->autocommit)
		return NULL;
	if (cfg->mode != MODE_FIRE)
		return "race: {autocommit: true} races in fire mode only "
		       "(hold and interleave hold each worker's transaction open)";
	if (pooler)
		return "race: {autocommit: true} races in fire mode only, and not through --pooler "
		       "(it sets the search_path per transaction)";
	return NULL;
}

const char *mode_name(enum race_mode m)
{
	return mode_names[m];
}

const char *isolation_name(enum isolation i)
{
	return iso_names[i];
}

const char *isolation_sql(enum isolation i)
{
	static const char *s[] = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"};
	return s[i];
}

bool scenario_race_check(struct loader *L, const struct scenario *sc, const struct phase *ph)
{
	return check_interleave(L, sc, ph) && check_autocommit(L, sc, ph);
}
