/* scenario.c: loads a scenario file with libfyaml and validates every key.
 *
 * The whole file is read first (size-capped, checked for NUL bytes and
 * invalid UTF-8 so those errors can name a line), parsed into a YAML
 * document, then walked. Unknown keys are errors: a typo must never turn a
 * check off silently. This file walks the document's root, flow, params,
 * sql and migration, and owns scenario_load/parse/free and the part
 * lookups. The phases, their steps and expectations are scenario_phase.c's,
 * the typed readers with their file:line errors loader.c's, the race
 * settings scenario_race.c's, check: steps, requires: and targets:
 * scenario_server.c's; it calls them through loader.h. */
#include "loader.h"

#include "mem.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* flow: {app: {command, cwd, shell, timeout_ms, expect_output}}. */
static bool parse_app(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	static const char *const outer[] = {"app", NULL};
	static const char *const keys[] = {"command", "cwd", "shell", "timeout_ms", "expect_output",
					   NULL};
	struct loader_map mo = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	struct fy_node *app = NULL;
	int app_line = line;
	while (loader_next_pair(L, &mo, outer, "flow", &k, &v, &kl)) {
		app = v;
		app_line = kl;
	}
	if (L->failed)
		return false;
	if (!app)
		return loader_error(L, line, "flow: a mapping here is {app: {command: ...}}");
	if (!loader_want_type(L, app, FYNT_MAPPING, "flow app", app_line))
		return false;
	sc->app = mem_calloc(1, sizeof *sc->app);
	sc->app->line = app_line;
	const char *text = NULL, *cwd = NULL;
	bool shell = false;
	int timeout_ms = 0, text_line = app_line;
	struct loader_map mi = {.map = app};
	while (loader_next_pair(L, &mi, keys, "flow app", &k, &v, &kl)) {
		if (!strcmp(k, "command")) {
			if (!(text = loader_scalar(L, v, k, kl)))
				return false;
			text_line = kl;
		} else if (!strcmp(k, "expect_output")) {
			if (!loader_string(L, v, "flow app expect_output", kl, &sc->app->expect_output))
				return false;
			if (strlen(sc->app->expect_output) >= COMMAND_WATCH_MAX)
				return loader_error(L, kl, "flow app expect_output: at most %d bytes",
						    COMMAND_WATCH_MAX - 1);
		} else if (!loader_command_option(L, k, v, kl, &cwd, &shell, &timeout_ms)) {
			return false;
		}
	}
	if (L->failed)
		return false;
	if (!text)
		return loader_error(L, app_line, "flow app: missing key \"command\"");
	return loader_command(L, text_line, text, cwd, shell, timeout_ms, &sc->app->cmd);
}

static bool parse_flow(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	static const char *const keys[] = {"sql", "skip_if_found", "on", NULL};
	if (n && fy_node_get_type(n) == FYNT_MAPPING && !fy_node_is_alias(n)) {
		if (!fy_node_mapping_lookup_by_string(n, "app", FY_NT))
			return loader_error(L, loader_line(n, line),
					    "flow: expected a list, got a mapping (an application "
					    "flow is {app: {command: ...}})");
		return parse_app(L, n, line, sc);
	}
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "flow", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0)
		return loader_error(L, line, "flow: needs at least one step");
	sc->flow = mem_calloc((size_t)len, sizeof *sc->flow);
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = loader_line(item, line);
		struct flow_step *fs = &sc->flow[sc->n_flow++];
		if (!loader_want_type(L, item, FYNT_MAPPING, "flow step", iline))
			return false;
		struct loader_map mi = {.map = item};
		const char *k;
		struct fy_node *v;
		int kl;
		while (loader_next_pair(L, &mi, keys, "flow step", &k, &v, &kl)) {
			if (!strcmp(k, "on")) {
				fs->on_line = kl;
				if (!loader_name(L, v, "flow step on", kl, &fs->on))
					return false;
				continue;
			}
			if (!strcmp(k, "sql") ? !loader_sql(L, v, "flow step sql", kl, &fs->text) ||
							!loader_one_statement(L, &fs->text, "flow step sql")
					      : !loader_bool(L, v, k, kl, &fs->skip_if_found))
				return false;
		}
		if (L->failed)
			return false;
		if (!fs->text.sql)
			return loader_error(L, iline, "flow step: missing key \"sql\"");
		const char *tc = sql_transaction_control(fs->text.sql);
		if (tc)
			return loader_error(L, fs->text.line,
				      "flow step: %s is transaction control: a flow's statements run "
				      "inside one transaction that pgrace begins and commits (the commit "
				      "barrier and the outcome depend on it), so a flow step never begins, "
				      "ends or splits it",
				      tc);
	}
	return true;
}

/* One params entry: an integer expression, a template (it has a brace),
 * {text: TEMPLATE} or {variants: [TEMPLATE, ...]}. */
static bool parse_param(struct loader *L, struct fy_node *item, int iline, struct key_param *kp)
{
	static const char *const keys[] = {"text", "variants", NULL};
	char perr[768];
	if (item && fy_node_get_type(item) == FYNT_MAPPING && !fy_node_is_alias(item)) {
		if (fy_node_mapping_item_count(item) != 1)
			return loader_error(L, iline, "params: a mapping entry is one key, text or variants");
		struct loader_map mi = {.map = item};
		const char *k;
		struct fy_node *v;
		int kl;
		if (!loader_next_pair(L, &mi, keys, "params", &k, &v, &kl))
			return false;
		if (!strcmp(k, "text")) {
			const char *s = loader_scalar(L, v, "params text", kl);
			if (!s)
				return false;
			if (!key_param_text(&s, 1, kp, perr, sizeof perr))
				return loader_error(L, kl, "params: %s", perr);
			return true;
		}
		if (!loader_want_type(L, v, FYNT_SEQUENCE, "params variants", kl))
			return false;
		int n = fy_node_sequence_item_count(v);
		if (n < 1 || n > 64)
			return loader_error(L, kl, "params variants: expected 1 to 64 templates, got %d", n);
		const char *texts[64];
		void *it = NULL;
		struct fy_node *t;
		int i = 0;
		while ((t = fy_node_sequence_iterate(v, &it)))
			if (!(texts[i++] = loader_scalar(L, t, "params variants", loader_line(t, kl))))
				return false;
		if (!key_param_text(texts, (size_t)n, kp, perr, sizeof perr))
			return loader_error(L, kl, "params: %s", perr);
		return true;
	}
	const char *s = loader_scalar(L, item, "params", iline);
	if (!s)
		return false;
	bool ok = key_is_template(s) ? key_param_text(&s, 1, kp, perr, sizeof perr)
				     : key_param_expr(s, kp, perr, sizeof perr);
	if (!ok)
		return loader_error(L, iline, "params: %s", perr);
	return true;
}

static bool parse_params(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!loader_want_type(L, n, FYNT_SEQUENCE, "params", line))
		return false;
	int len = fy_node_sequence_item_count(n);
	if (len == 0 || len > KEY_MAX_PARAMS)
		return loader_error(L, line, "params: expected 1 to %d key parameters, got %d", KEY_MAX_PARAMS,
			      len);
	sc->params = mem_calloc((size_t)len, sizeof *sc->params);
	sc->params_line = line;
	void *it = NULL;
	struct fy_node *item;
	while ((item = fy_node_sequence_iterate(n, &it))) {
		int iline = loader_line(item, line);
		if (!parse_param(L, item, iline, &sc->params[sc->n_params]))
			return false;
		sc->n_params++;
	}
	/* A parameter that cannot be evaluated in the first round (round 1,
	 * key 0, worker 0) would break it. */
	struct key_ctx first = {.round = 1};
	struct key_values kv;
	char perr[512];
	if (!key_eval(sc->params, sc->n_params, &first, &kv, perr, sizeof perr))
		return loader_error(L, line, "params: %s in the first round (round 1, key 0)", perr);
	return true;
}

static bool parse_sql_map(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	if (!loader_want_type(L, n, FYNT_MAPPING, "sql", line))
		return false;
	int len = fy_node_mapping_item_count(n);
	sc->sql = mem_calloc((size_t)len, sizeof *sc->sql);
	void *it = NULL;
	struct fy_node_pair *p;
	while ((p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(p);
		int kl = loader_line(k, line);
		const char *name = loader_scalar(L, k, "sql name", kl);
		if (!name)
			return false;
		struct named_sql *ns = &sc->sql[sc->n_sql++];
		ns->name = mem_strdup(name);
		if (!loader_sql(L, fy_node_pair_value(p), name, kl, &ns->text))
			return false;
	}
	return true;
}

static bool parse_migration(struct loader *L, struct fy_node *n, int line, struct scenario *sc)
{
	static const char *const keys[] = {"up", "down", NULL};
	if (!loader_want_type(L, n, FYNT_MAPPING, "migration", line))
		return false;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, keys, "migration", &k, &v, &kl))
		if (!loader_sql_or_command(L, v, !strcmp(k, "up") ? "migration.up" : "migration.down", kl,
					!strcmp(k, "up") ? &sc->migrate_up : &sc->migrate_down))
			return false;
	return !L->failed;
}

static bool parse_root(struct loader *L, struct fy_node *root, struct scenario *sc)
{
	static const char *const keys[] = {"name", "description", "requires", "targets", "schema", "seed",
					   "migration", "sql", "race", "params", "rows",
					   "round_setup", "flow", "phases", NULL};
	if (!root)
		return loader_error(L, 1, "the file is empty");
	if (!loader_want_type(L, root, FYNT_MAPPING, "scenario", 1))
		return false;
	/* The phases refer to migration and sql: take those first. */
	struct fy_node *phases = NULL;
	int phases_line = 1;
	struct loader_map mi = {.map = root};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, keys, "scenario", &k, &v, &kl)) {
		bool ok = true;
		if (!strcmp(k, "name"))
			ok = loader_name(L, v, k, kl, &sc->name);
		else if (!strcmp(k, "description"))
			ok = loader_name(L, v, k, kl, &sc->description);
		else if (!strcmp(k, "requires"))
			ok = scenario_parse_requires(L, v, kl, &sc->requires);
		else if (!strcmp(k, "targets"))
			ok = scenario_parse_targets(L, v, kl, sc);
		else if (!strcmp(k, "schema"))
			ok = loader_sql_or_command(L, v, k, kl, &sc->schema);
		else if (!strcmp(k, "seed"))
			ok = loader_sql_or_command(L, v, k, kl, &sc->seed);
		else if (!strcmp(k, "rows"))
			ok = loader_sql(L, v, k, kl, &sc->rows);
		else if (!strcmp(k, "round_setup"))
			ok = loader_sql(L, v, k, kl, &sc->round_setup);
		else if (!strcmp(k, "migration"))
			ok = parse_migration(L, v, kl, sc);
		else if (!strcmp(k, "sql"))
			ok = parse_sql_map(L, v, kl, sc);
		else if (!strcmp(k, "race"))
			ok = scenario_race_parse(L, v, kl, &sc->race, RACE_IN_SCENARIO);
		else if (!strcmp(k, "params"))
			ok = parse_params(L, v, kl, sc);
		else if (!strcmp(k, "flow"))
			ok = parse_flow(L, v, kl, sc);
		else
			phases = v, phases_line = kl;
		if (!ok)
			return false;
	}
	if (L->failed)
		return false;
	static const struct {
		const char *key;
		size_t off;
	} required[] = {{"name", offsetof(struct scenario, name)},
			{"rows", offsetof(struct scenario, rows.sql)}};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!*(char **)((char *)sc + required[i].off))
			return loader_error(L, 1, "missing required key \"%s\"", required[i].key);
	if (!sc->schema.sql && !sc->schema.command)
		return loader_error(L, 1, "missing required key \"schema\"");
	if (!sc->flow && !sc->app)
		return loader_error(L, 1, "missing required key \"flow\"");
	if (!sc->params)
		return loader_error(L, 1, "missing required key \"params\"");
	if (!phases)
		return loader_error(L, 1, "missing required key \"phases\"");
	if (!scenario_resolve_targets(L, sc))
		return false;
	for (size_t i = 0; i < sc->n_flow; i++)
		if (sc->flow[i].text.nparams > (int)sc->n_params)
			return loader_error(L, sc->flow[i].text.line,
				      "flow step uses $%d, but params gives only %zu key parameters",
				      sc->flow[i].text.nparams, sc->n_params);
	if (!scenario_params_fit(L, &sc->rows, "rows", sc) ||
	    !scenario_params_fit(L, &sc->round_setup, "round_setup", sc))
		return false;
	if (!scenario_parse_phases(L, phases, phases_line, sc))
		return false;
	for (size_t i = 0; sc->app && i < sc->n_phases; i++)
		for (size_t j = 0; j < sc->phases[i].n_steps; j++)
			if (sc->phases[i].steps[j].under_load)
				return loader_error(L, sc->phases[i].steps[j].line,
					      "phase \"%s\": under_load runs SQL workers beside a step; "
					      "an app flow has none (its workers are processes, in rounds)",
					      sc->phases[i].name);
	scenario_race_defaults(&sc->race); /* what the file did not set */
	for (size_t i = 0; i < sc->n_phases; i++)
		if (!scenario_race_check(L, sc, &sc->phases[i]))
			return false;
	return true;
}

bool scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen)
{
	struct loader L = {.path = path, .err = err, .errlen = errlen};
	size_t len = 0;
	memset(sc, 0, sizeof *sc);
	char *buf = loader_read_file(&L, &len);
	if (!buf)
		return false;
	bool ok = scenario_parse(path, buf, len, sc, err, errlen);
	free(buf);
	return ok;
}

bool scenario_parse(const char *path, const char *buf, size_t len, struct scenario *sc, char *err,
		    size_t errlen)
{
	struct loader L = {.path = path, .err = err, .errlen = errlen};
	struct fy_diag *diag = NULL;
	struct fy_document *doc = NULL;
	struct fy_parser *fyp = NULL;
	memset(sc, 0, sizeof *sc);
	if (len > LOADER_MAX_FILE_BYTES) {
		loader_error(&L, 0, "file is %zu bytes, more than the %d a scenario may have", len,
		       LOADER_MAX_FILE_BYTES);
		goto out;
	}
	if (!loader_check_text(&L, (const unsigned char *)buf, len))
		goto out;

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.level = FYET_ERROR;
	diag = fy_diag_create(&dcfg);
	if (!diag)
		abort();
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
	fyp = fy_parser_create(&cfg);
	if (!fyp || fy_parser_set_string(fyp, buf, len) != 0)
		abort();
	doc = fy_parse_load_document(fyp);
	if (doc) {
		/* A scenario is one document: a second one would be ignored. */
		struct fy_event *ev;
		while (!L.failed && (ev = fy_parser_parse(fyp))) {
			if (ev->type == FYET_DOCUMENT_START) {
				const struct fy_mark *m = fy_event_start_mark(ev);
				loader_error(&L, m ? m->line + 1 : 1, "a second YAML document: a scenario file holds one");
			}
			fy_parser_event_free(fyp, ev);
		}
		if (!L.failed && fy_parser_get_stream_error(fyp))
			fy_parse_document_destroy(fyp, doc), doc = NULL;
	}
	if (!doc && !L.failed) {
		void *it = NULL;
		struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
		/* libfyaml puts errors at end of input one line past the last */
		int line = e && e->line > 0 ? e->line : 1, last = 1;
		for (size_t i = 0; i + 1 < len; i++)
			last += buf[i] == '\n';
		loader_error(&L, line < last ? line : last, "YAML: %s",
		       e && e->msg ? e->msg : "no document, the file is empty");
	}
	if (L.failed)
		goto out;
	sc->path = mem_strdup(path);
	parse_root(&L, fy_document_root(doc), sc);
out:
	if (L.failed)
		scenario_free(sc);
	if (doc)
		fy_parse_document_destroy(fyp, doc);
	if (fyp)
		fy_parser_destroy(fyp);
	if (diag)
		fy_diag_destroy(diag);
	return !L.failed;
}

static void free_expects(struct expectation *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_free(&x[i]);
	free(x);
}

void scenario_free(struct scenario *sc)
{
	free(sc->path);
	free(sc->name);
	free(sc->description);
	for (size_t i = 0; i < sc->requires.n_extensions; i++)
		free(sc->requires.extensions[i]);
	loader_text_free(&sc->schema);
	loader_text_free(&sc->seed);
	loader_text_free(&sc->migrate_up);
	loader_text_free(&sc->migrate_down);
	free(sc->rows.sql);
	for (size_t i = 0; i < sc->n_sql; i++) {
		free(sc->sql[i].name);
		free(sc->sql[i].text.sql);
	}
	free(sc->sql);
	for (size_t i = 0; i < sc->n_params; i++)
		key_param_free(&sc->params[i]);
	free(sc->params);
	loader_text_free(&sc->round_setup);
	for (size_t i = 0; i < sc->n_flow; i++) {
		free(sc->flow[i].text.sql);
		free(sc->flow[i].on);
	}
	for (size_t i = 0; i < sc->n_targets; i++)
		free(sc->targets[i]);
	free(sc->flow);
	if (sc->app) {
		command_free(&sc->app->cmd);
		free(sc->app->expect_output);
		free(sc->app);
	}
	for (size_t i = 0; i < sc->n_phases; i++) {
		struct phase *ph = &sc->phases[i];
		free(ph->name);
		for (size_t j = 0; j < ph->n_steps; j++) {
			struct step *st = &ph->steps[j];
			free(st->label);
			free(st->check_arg);
			free(st->check_table);
			free(st->check_cols);
			loader_text_free(&st->text);
			free(st->expect_message);
			free_expects(st->expects, st->n_expects);
		}
		free(ph->steps);
		free_expects(ph->expects, ph->n_expects);
		loader_text_free(&ph->round_setup);
		for (size_t j = 0; j < ph->n_orders; j++)
			free(ph->orders[j]);
		free(ph->orders);
		free(ph->order_lines);
	}
	free(sc->phases);
	memset(sc, 0, sizeof *sc);
}

const struct sql_text *scenario_part(const struct scenario *sc, const char *name)
{
	const struct sql_text *t = NULL;
	if (!strcmp(name, "schema"))
		t = &sc->schema;
	else if (!strcmp(name, "seed"))
		t = &sc->seed;
	else if (!strcmp(name, "rows"))
		t = &sc->rows;
	else if (!strcmp(name, "migration.up"))
		t = &sc->migrate_up;
	else if (!strcmp(name, "migration.down"))
		t = &sc->migrate_down;
	else if (!strncmp(name, "sql.", 4))
		t = scenario_sql(sc, name + 4);
	else if (!strncmp(name, "flow.", 5)) {
		char *end;
		errno = 0;
		long n = strtol(name + 5, &end, 10);
		if (!errno && end != name + 5 && !*end && n >= 1 && (size_t)n <= sc->n_flow)
			t = &sc->flow[n - 1].text;
	}
	return t && (t->sql || t->command) ? t : NULL;
}

const struct sql_text *scenario_sql(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_sql; i++)
		if (strcmp(sc->sql[i].name, name) == 0)
			return &sc->sql[i].text;
	return NULL;
}

