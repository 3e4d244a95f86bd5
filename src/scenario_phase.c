/* scenario_phase.c: a scenario's phases: each phase's name, race settings,
 * steps (SQL, command or check, with their expected SQLSTATEs and tries),
 * orders and expectations, the expectations' names checked against the
 * metric table.
 *
 * Part of the scenario loader: scenario.c's root walk calls
 * scenario_parse_phases (loader.h). Calls loader.h's typed readers,
 * scenario_race.c (a phase's race: settings), scenario_server.c (check:
 * steps), expect.h and metric.h (expectations). Unknown keys are errors,
 * each naming file:line. */
#include "loader.h"

#include "mem.h"
#include "metric.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks every name of an expression against the metric table. */
struct name_check {
	enum metric_scope scope;
	char err[640];
};

static bool check_name(void *ctx, const char *name)
{
	struct name_check *nc = ctx;
	return metric_check(nc->scope, name, nc->err, sizeof nc->err);
}

static bool parse_one_expect(struct loader *L, const char *text, int line, enum expect_when when,
			     enum metric_scope scope, struct expectation *x)
{
	char perr[256];
	if (!expect_parse(text, x, perr, sizeof perr))
		return loader_error(L, line, "expect: %s", perr);
	x->line = line;
	x->when = when;
	struct name_check nc = {.scope = scope};
	if (!expr_names(x->lhs, check_name, &nc) || !expr_names(x->rhs, check_name, &nc)) {
		loader_error(L, line, "expect: %s", nc.err);
		expect_free(x);
		return false;
	}
	if (!expr_const_ok(x->lhs, perr, sizeof perr) || !expr_const_ok(x->rhs, perr, sizeof perr)) {
		loader_error(L, line, "expect: %s", perr);
		expect_free(x);
		return false;
	}
	return true;
}

/* expect: a list of "EXPR OP EXPR", or {hold: ...} / {fire: ...} items. */
static bool parse_expects(struct loader *L, struct fy_node *n, int line, enum metric_scope scope,
			  struct expectation **out, size_t *count)
{
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "expect", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	*out = mem_calloc((size_t)len, sizeof **out);
	*count = 0;
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = loader_line(item, line);
		enum expect_when when = WHEN_ALWAYS;
		struct fy_node *val = item;
		if (item && fy_node_get_type(item) == FYNT_MAPPING && !fy_node_is_alias(item)) {
			if (fy_node_mapping_item_count(item) != 1)
				return loader_error(L, iline, "expect: a mode-specific item is one key, hold, fire or interleave");
			struct fy_node_pair *p = fy_node_mapping_get_by_index(item, 0);
			struct fy_node *key = fy_node_pair_key(p);
			if (key && fy_node_is_alias(key))
				return loader_error(L, iline, "expect: a YAML alias as a key is not supported");
			const char *k = fy_node_get_scalar0(key);
			if (!k || (strcmp(k, "hold") && strcmp(k, "fire") && strcmp(k, "interleave")))
				return loader_error(L, iline, "expect: a mode-specific item is keyed hold, fire or interleave, got \"%.40s\"",
					      k ? k : "?");
			when = strcmp(k, "hold") == 0   ? WHEN_HOLD
			       : strcmp(k, "fire") == 0 ? WHEN_FIRE
							: WHEN_INTERLEAVE;
			val = fy_node_pair_value(p);
		}
		const char *text = loader_scalar(L, val, "expect", iline);
		if (!text)
			return false;
		if (!parse_one_expect(L, text, iline, when, scope, &(*out)[*count]))
			return false;
		(*count)++;
	}
	if (*count == 0)
		return loader_error(L, line, "expect: the list is empty");
	return true;
}

static bool parse_sqlstate(struct loader *L, struct fy_node *n, const char *key, int line,
			   char out[6])
{
	const char *s = loader_scalar(L, n, key, line);
	if (!s)
		return false;
	bool ok = strlen(s) == 5;
	for (size_t i = 0; ok && i < 5; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z');
	if (!ok)
		return loader_error(L, loader_line(n, line),
			      "%s: expected a 5-character SQLSTATE such as 23505, got \"%.40s\"", key, s);
	memcpy(out, s, 6);
	return true;
}

/* dst = a copy of src (SQL or command). */
static void copy_text(struct sql_text *dst, const struct sql_text *src)
{
	*dst = *src;
	dst->sql = src->sql ? mem_strdup(src->sql) : NULL;
	if (src->command) {
		dst->command = mem_calloc(1, sizeof *dst->command);
		command_copy(dst->command, src->command);
	}
}

static bool parse_step(struct loader *L, struct fy_node *n, int line, const struct scenario *sc,
		       struct step *st)
{
	static const char *const keys[] = {"migrate",    "run",     "sql",      "check",
					   "command",    "cwd",     "shell",    "timeout_ms",
					   "under_load", "retries", "retry_on", "expect_error",
					   "expect_message", "expect", NULL};
	static const char *const dirs[] = {"up", "down"};
	if (!loader_want_type(L, n, FYNT_MAPPING, "step", line))
		return false;
	st->line = line;
	int actions = 0;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	char label[160];
	const char *command = NULL, *cwd = NULL;
	bool shell = false;
	int timeout_ms = 0, command_line = line, option_line = 0;
	while (loader_next_pair(L, &mi, keys, "step", &k, &v, &kl)) {
		if (actions && (!strcmp(k, "migrate") || !strcmp(k, "run") || !strcmp(k, "sql") ||
				!strcmp(k, "check") || !strcmp(k, "command")))
			return loader_error(L, kl, "step: give exactly one of migrate, run, sql, check, command");
		if (!strcmp(k, "command")) {
			if (!(command = loader_scalar(L, v, k, kl)))
				return false;
			command_line = kl;
			st->kind = STEP_SQL;
			snprintf(label, sizeof label, "command \"%.60s\"", command);
			actions++;
		} else if (!strcmp(k, "cwd") || !strcmp(k, "shell") || !strcmp(k, "timeout_ms")) {
			if (!loader_command_option(L, k, v, kl, &cwd, &shell, &timeout_ms))
				return false;
			option_line = kl;
		} else if (!strcmp(k, "migrate")) {
			int d = loader_enum(L, v, k, kl, dirs, 2);
			if (d < 0)
				return false;
			const struct sql_text *t = d == 0 ? &sc->migrate_up : &sc->migrate_down;
			if (!t->sql && !t->command)
				return loader_error(L, kl, "step: migrate %s, but the scenario has no migration.%s",
					      dirs[d], dirs[d]);
			st->kind = d == 0 ? STEP_MIGRATE_UP : STEP_MIGRATE_DOWN;
			copy_text(&st->text, t);
			snprintf(label, sizeof label, "migrate %s", dirs[d]);
			actions++;
		} else if (!strcmp(k, "run")) {
			const char *name = loader_scalar(L, v, k, kl);
			if (!name)
				return false;
			const struct sql_text *t = scenario_sql(sc, name);
			if (!t)
				return loader_error(L, kl, "step: run \"%.60s\", but the sql map has no such entry",
					      name);
			st->kind = STEP_SQL;
			st->text.sql = mem_strdup(t->sql);
			st->text.line = t->line;
			snprintf(label, sizeof label, "run %.60s", name);
			actions++;
		} else if (!strcmp(k, "sql")) {
			if (!loader_sql(L, v, "step sql", kl, &st->text))
				return false;
			st->kind = STEP_SQL;
			snprintf(label, sizeof label, "sql at line %d", st->text.line);
			actions++;
		} else if (!strcmp(k, "check")) {
			if (!scenario_parse_check(L, v, kl, st))
				return false;
			snprintf(label, sizeof label, "check %.100s", fy_node_get_scalar0(v));
			actions++;
		} else if (!strcmp(k, "under_load")) {
			if (!loader_bool(L, v, k, kl, &st->under_load))
				return false;
		} else if (!strcmp(k, "retries")) {
			if (!loader_int(L, v, k, kl, 0, 100, &st->retries))
				return false;
		} else if (!strcmp(k, "retry_on")) {
			if (!loader_want_type(L, v, FYNT_SEQUENCE, k, kl))
				return false;
			void *it = NULL;
			struct fy_node *item;
			while ((item = fy_node_sequence_iterate(v, &it))) {
				if (st->n_retry_on == STEP_RETRY_ON_MAX)
					return loader_error(L, kl, "retry_on: at most %d SQLSTATEs", STEP_RETRY_ON_MAX);
				if (!parse_sqlstate(L, item, k, loader_line(item, kl),
						    st->retry_on[st->n_retry_on++]))
					return false;
			}
		} else if (!strcmp(k, "expect_error")) {
			if (!parse_sqlstate(L, v, k, kl, st->expect_error))
				return false;
		} else if (!strcmp(k, "expect_message")) {
			if (!loader_string(L, v, k, kl, &st->expect_message))
				return false;
		} else if (!parse_expects(L, v, kl, METRIC_STEP, &st->expects,
					  &st->n_expects)) {
			return false;
		}
		if (actions > 1)
			return loader_error(L, kl, "step: give exactly one of migrate, run, sql, check");
	}
	if (L->failed)
		return false;
	if (actions == 0)
		return loader_error(L, line, "step: missing the action (one of migrate, run, sql, check, command)");
	if (option_line && !command)
		return loader_error(L, option_line, "step: cwd, shell and timeout_ms go with command");
	if (command) {
		st->text.line = command_line;
		st->text.command = mem_calloc(1, sizeof *st->text.command);
		if (!loader_command(L, command_line, command, cwd, shell, timeout_ms, st->text.command))
			return false;
	}
	if (st->retries && !st->n_retry_on) {
		static const char *defaults[] = {"55P03", "40001", "40P01"};
		for (size_t i = 0; i < 3; i++)
			memcpy(st->retry_on[st->n_retry_on++], defaults[i], 6);
	}
	if (st->expect_message && !st->expect_error[0])
		return loader_error(L, line, "step: expect_message needs expect_error");
	if (st->expect_error[0] && st->n_expects)
		return loader_error(L, line, "step: expect (rows, affected) cannot go with expect_error");
	st->label = mem_strdup(label);
	return true;
}

/* SQL sent the key as $1..$n uses no more parameters than params gives. */
bool scenario_params_fit(struct loader *L, const struct sql_text *t, const char *what,
			 const struct scenario *sc)
{
	if (t->nparams <= (int)sc->n_params)
		return true;
	return loader_error(L, t->line, "%s uses $%d, but params gives only %zu key parameters", what,
		      t->nparams, sc->n_params);
}

/* orders: a list of "a1 b1 a2 ..." strings, checked against the flow once
 * the phase's workers are known (scenario_race_check). */
static bool parse_orders(struct loader *L, struct fy_node *n, int line, struct phase *ph)
{
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "orders", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return loader_error(L, line, "orders: the list is empty");
	ph->orders = mem_calloc((size_t)len, sizeof *ph->orders);
	ph->order_lines = mem_calloc((size_t)len, sizeof *ph->order_lines);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = loader_line(item, line);
		const char *text = loader_scalar(L, item, "orders", iline);
		if (!text)
			return false;
		ph->order_lines[ph->n_orders] = iline;
		ph->orders[ph->n_orders++] = mem_strdup(text);
	}
	return true;
}

static bool parse_phase(struct loader *L, struct fy_node *n, int line, struct scenario *sc,
			struct phase *ph)
{
	static const char *const keys[] = {"name", "steps", "race", "must_reproduce", "expect",
					   "round_setup", "orders", NULL};
	if (!loader_want_type(L, n, FYNT_MAPPING, "phase", line))
		return false;
	ph->line = line;
	struct fy_node *expect = NULL;
	int expect_line = line;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, keys, "phase", &k, &v, &kl)) {
		bool ok = true;
		if (!strcmp(k, "name")) {
			ok = loader_name(L, v, k, kl, &ph->name);
			if (ok && strlen(ph->name) > 100)
				ok = loader_error(L, kl, "phase name: at most 100 characters");
		} else if (!strcmp(k, "race")) {
			ok = scenario_race_parse(L, v, kl, &ph->race, RACE_IN_PHASE);
			ph->has_race = true;
		} else if (!strcmp(k, "must_reproduce")) {
			ok = loader_bool(L, v, k, kl, &ph->must_reproduce);
		} else if (!strcmp(k, "round_setup")) {
			ok = loader_sql(L, v, k, kl, &ph->round_setup) &&
			     scenario_params_fit(L, &ph->round_setup, "round_setup", sc);
		} else if (!strcmp(k, "expect")) {
			expect = v;
			expect_line = kl;
		} else if (!strcmp(k, "orders")) {
			ok = parse_orders(L, v, kl, ph);
		} else {
			if (!loader_want_type(L, v, FYNT_SEQUENCE, "steps", kl))
				return false;
			int len = fy_node_sequence_item_count(v);
			if (len == 0)
				return loader_error(L, kl, "steps: the list is empty");
			ph->steps = mem_calloc((size_t)len, sizeof *ph->steps);
			void *it = NULL;
			struct fy_node *item;
			while (ok && (item = fy_node_sequence_iterate(v, &it)))
				ok = parse_step(L, item, loader_line(item, kl), sc, &ph->steps[ph->n_steps++]);
		}
		if (!ok)
			return false;
	}
	if (L->failed)
		return false;
	if (!ph->name)
		return loader_error(L, line, "phase: missing key \"name\"");
	if (!ph->has_race && !ph->n_steps)
		return loader_error(L, line, "phase \"%s\": needs steps, a race, or both", ph->name);
	if (ph->round_setup.sql && !ph->has_race)
		return loader_error(L, ph->round_setup.line,
			      "phase \"%s\": round_setup needs the phase to have a race (it runs before each round)",
			      ph->name);
	for (size_t i = 0; i < ph->n_steps; i++)
		if (ph->steps[i].under_load && !ph->has_race)
			return loader_error(L, ph->steps[i].line,
				      "phase \"%s\": under_load needs the phase to have a race (its workers make the load)",
				      ph->name);
	if (expect) {
		if (!ph->has_race)
			return loader_error(L, expect_line,
				      "phase \"%s\": expect needs a race (steps carry their own expect)",
				      ph->name);
		if (!parse_expects(L, expect, expect_line, METRIC_PHASE, &ph->expects, &ph->n_expects))
			return false;
	} else if (ph->has_race) {
		return loader_error(L, line, "phase \"%s\": a race needs an expect list", ph->name);
	}
	return true;
}

bool scenario_parse_phases(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "phases", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return loader_error(L, line, "phases: needs at least one phase");
	sc->phases = mem_calloc((size_t)len, sizeof *sc->phases);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		struct phase *ph = &sc->phases[sc->n_phases++];
		if (!parse_phase(L, item, loader_line(item, line), sc, ph))
			return false;
		for (size_t i = 0; i + 1 < sc->n_phases; i++)
			if (strcmp(sc->phases[i].name, ph->name) == 0)
				return loader_error(L, ph->line, "phase \"%s\": name already used at line %d",
					      ph->name, sc->phases[i].line);
	}
	return true;
}
