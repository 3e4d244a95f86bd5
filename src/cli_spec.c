/* cli_spec.c: pgrace spec: runs a scenario up to one interleave phase and
 * writes that phase as a spec for PostgreSQL's isolation tester.
 *
 * The options are read here; running is run.c's, the spec's text spec.c's.
 * Calls cli.h for what subcommands share. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "exitcode.h"
#include "pgrace.h"
#include "report.h"
#include "run.h"
#include "scenario.h"
#include "secret.h"
#include "spec.h"
#include "text.h"

/* The --dsn value, kept before its password is masked in argv (it lives
 * until exit). */
static char *dsn_copy;

/* pgrace spec SCENARIO --phase NAME [-o FILE] [--all]: runs the scenario
 * up to that interleave phase, then writes the phase as an isolation spec. */
int cli_spec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"phase", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},
		{"all", no_argument, NULL, 'a'},          {"dsn", required_argument, NULL, 'd'},
		{"json", required_argument, NULL, 'j'},   {"seed", required_argument, NULL, 'S'},
		{"schema", required_argument, NULL, 's'}, {"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}};
	struct run_opts opts = {.quiet = true};
	const char *phase_name = NULL, *output = NULL, *json = NULL, *schema = "pgrace_spec";
	bool all = false;
	int c, seed;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:d:j:", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			phase_name = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 's': {
			char why[256];
			schema = optarg;
			if (!spec_schema_name_ok(schema, why, sizeof why))
				return cli_usage_error("%s", why);
			break;
		}
		case 'd':
			if (!cli_take_dsn(optarg, &dsn_copy, &opts.dsn))
				return cli_usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'j':
			json = optarg;
			break;
		case 'S':
			if (!cli_parse_number(optarg, 0, 2147483647, &seed))
				return cli_usage_error("--seed: expected 0 to 2147483647, got \"%s\"", optarg);
			opts.override.seed = seed;
			opts.override.set |= RACE_SET_SEED;
			break;
		case '?':
			return cli_option_help(argv, "spec");
		default:
			return cli_usage_error("%s", "bad option for spec");
		}
	}
	if (argc - optind != 1 || !phase_name)
		return cli_usage_error("%s", "spec: name one scenario file and --phase NAME");
	/* As run: no output may be the scenario file, nor -o and --json one file. */
	const char *const outs[] = {json}, *const flags[] = {"--json"};
	if (!cli_outputs_apart(outs, flags, 1, argv + optind, 1))
		return EXIT_USAGE;
	struct stat ost;
	if (output && stat(output, &ost) == 0) {
		if (cli_same_file(&ost, argv[optind]))
			return cli_usage_error("-o %s is the scenario file %s: refusing to overwrite it",
					   output, argv[optind]);
		if (json && cli_same_file(&ost, json))
			return cli_usage_error("-o %s and --json %s are one file", output, json);
	}
	if (output && json && !strcmp(output, json))
		return cli_usage_error("-o and --json both name %s", output);
	struct scenario sc;
	struct run_result res = {0};
	char err[1024];
	if (!scenario_load(argv[optind], &sc, err, sizeof err)) {
		text_line(stderr, "pgrace: %s", err);
		return EXIT_USAGE;
	}
	int rc = EXIT_PASS;
	const struct phase *p = NULL;
	for (size_t i = 0; i < sc.n_phases; i++)
		if (!strcmp(sc.phases[i].name, phase_name))
			p = &sc.phases[i];
	struct race_cfg cfg = scenario_race(&sc, p, &opts.override);
	if (!p || !p->has_race || cfg.mode != MODE_INTERLEAVE) {
		text_line(stderr, "pgrace: %s: %s \"%s\"", sc.path,
			  p ? "spec needs an interleave phase, not" : "no phase named", phase_name);
		rc = EXIT_USAGE;
		goto out;
	}
	int schema_rc = spec_check_schema(opts.dsn, schema, err, sizeof err);
	if (schema_rc != EXIT_PASS) {
		text_line(stderr, "pgrace: %s", err);
		rc = schema_rc;
		goto out;
	}
	struct spec_capture cap = {.schema = schema};
	opts.last_phase = phase_name;
	opts.before_last_race = spec_capture_sandbox;
	opts.before_last_race_ctx = &cap;
	cli_start_signal_thread();
	run_scenario(&sc, &opts, &res);
	if (json && !cli_write_results(json, report_write_json, &res, 1))
		rc = EXIT_RESULTS;
	const struct phase_result *ph = res.n_phases ? &res.phases[res.n_phases - 1] : NULL;
	if (res.error[0] || !ph || strcmp(ph->name, phase_name)) {
		text_line(stderr, "pgrace: %s: %s", sc.name,
			  res.error[0] ? res.error : "the run stopped before the phase");
		rc = run_exit_code(verdict_worse(res.verdict, VERDICT_ERROR));
		free(cap.dump); /* captured before the race broke */
		goto out;
	}
	if (!cap.dump) {
		text_line(stderr, "pgrace: %s: the run did not reach the race of phase %s", sc.name,
			  phase_name);
		rc = EXIT_DATABASE;
		goto out;
	}
	err[0] = '\0';
	int wrc = EXIT_PASS;
	if (output) {
		wrc = spec_save(output, &sc, p, &cfg, &ph->ilv, &cap, ph->migrated, all, err, sizeof err);
	} else if (!spec_write(stdout, &sc, p, &cfg, &ph->ilv, &cap, ph->migrated, all, err,
			       sizeof err) || fflush(stdout) != 0) {
		wrc = err[0] ? EXIT_USAGE : EXIT_RESULTS;
	}
	if (wrc != EXIT_PASS) {
		text_line(stderr, "pgrace: %s", err[0] ? err : "cannot write the spec");
		rc = wrc;
	} else if (res.verdict != VERDICT_PASS) { /* written, but the run failed: as run says */
		text_line(stderr, "pgrace: %s: the run up to phase %s ended %s", sc.name, phase_name,
			  verdict_name(res.verdict));
		rc = rc != EXIT_PASS ? rc : run_exit_code(res.verdict);
	}
	free(cap.dump);
out:
	run_result_free(&res);
	scenario_free(&sc);
	return rc;
}
