/* cli_run.c: pgrace run: the options, then each scenario run and judged,
 * the summary printed and the result files written.
 *
 * Reads its options into struct run_opts and hands each scenario to
 * run_scenario (run.h); what a run does is run.c's, what its verdict is
 * judge.c's, how it is written report.h's and html.h's. Calls cli.h for
 * what subcommands share. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "exitcode.h"
#include "html.h"
#include "pgrace.h"
#include "race.h"
#include "report.h"
#include "run.h"
#include "scenario.h"
#include "secret.h"
#include "text.h"
#include "vlog.h"

/* The --dsn and --admin-dsn values, kept before their passwords are masked
 * in argv (they live until exit). */
static char *dsn_copy, *admin_dsn_copy;

/* The --target values, kept before their passwords are masked in argv. */
static char *target_copies[RUN_TARGETS_MAX];

/* --target NAME=CONNINFO into opts; false (message printed) when malformed. */
static bool parse_target(char *arg, struct run_opts *opts)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : 0;
	if (!eq || len == 0 || len >= sizeof opts->targets[0].name) {
		cli_usage_error("%s", "--target: expected NAME=CONNINFO, e.g. --target replica='host=... port=5433'");
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (!((arg[i] >= 'a' && arg[i] <= 'z') || (arg[i] >= '0' && arg[i] <= '9') || arg[i] == '_')) {
			cli_usage_error("--target: a target name is lower case letters, digits and _, got \"%.*s\"",
				    (int)len, arg);
			return false;
		}
	for (size_t i = 0; i < opts->n_targets; i++)
		if (strlen(opts->targets[i].name) == len && !strncmp(opts->targets[i].name, arg, len)) {
			cli_usage_error("--target %.*s given twice", (int)len, arg);
			return false;
		}
	if (opts->n_targets == RUN_TARGETS_MAX) {
		cli_usage_error("--target: at most %d", RUN_TARGETS_MAX);
		return false;
	}
	struct target_arg *t = &opts->targets[opts->n_targets];
	if (!cli_take_dsn(arg + len + 1, &target_copies[opts->n_targets], &t->dsn)) {
		cli_usage_error("--target %.*s: not a valid conninfo string or postgresql:// URI", (int)len, arg);
		return false;
	}
	opts->n_targets++;
	snprintf(t->name, sizeof t->name, "%.*s", (int)len, arg);
	return true;
}

int cli_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dsn", required_argument, NULL, 'd'},   {"workers", required_argument, NULL, 'w'},
		{"rounds", required_argument, NULL, 'r'}, {"mode", required_argument, NULL, 'm'},
		{"json", required_argument, NULL, 'j'},  {"junit", required_argument, NULL, 'J'},
		{"deadline-ms", required_argument, NULL, 'D'},
		{"duration", required_argument, NULL, 'T'}, {"hot", no_argument, NULL, 'H'},
		{"pooler", no_argument, NULL, 'P'},      {"target", required_argument, NULL, 'G'},
		{"admin-dsn", required_argument, NULL, 'A'},
		{"max-interleavings", required_argument, NULL, 'I'},
		{"seed", required_argument, NULL, 'S'},  {"no-reduction", no_argument, NULL, 'N'},
		{"release", required_argument, NULL, 'R'},
		{"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, '?'},
		{"verbose", no_argument, NULL, 'v'},     {"log", required_argument, NULL, 'L'},
		{"html", required_argument, NULL, 'W'},
		{NULL, 0, NULL, 0}};
	struct run_opts opts = {0};
	const char *json = NULL, *junit = NULL, *html = NULL, *log = NULL;
	bool verbose = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:w:r:m:j:qT:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!cli_take_dsn(optarg, &dsn_copy, &opts.dsn))
				return cli_usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'w':
			if (!cli_parse_number(optarg, 1, 5000, &opts.override.workers))
				return cli_usage_error("--workers: expected 1 to 5000, got \"%s\"", optarg);
			opts.override.set |= RACE_SET_WORKERS;
			break;
		case 'r':
			if (!cli_parse_number(optarg, 1, 1000000, &opts.override.rounds))
				return cli_usage_error("--rounds: expected 1 to 1000000, got \"%s\"", optarg);
			opts.override.set |= RACE_SET_ROUNDS;
			break;
		case 'D':
			if (!cli_parse_number(optarg, 100, 3600000, &opts.override.deadline_ms))
				return cli_usage_error("--deadline-ms: expected 100 to 3600000, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_DEADLINE;
			break;
		case 'T':
			if (!cli_parse_number(optarg, 1, 86400, &opts.duration_ms))
				return cli_usage_error("--duration: expected 1 to 86400 seconds, got \"%s\"",
						   optarg);
			opts.duration_ms *= 1000;
			break;
		case 'H':
			opts.hot = true;
			break;
		case 'P':
			opts.pooler = true;
			break;
		case 'G':
			if (!parse_target(optarg, &opts))
				return EXIT_USAGE;
			break;
		case 'A':
			if (!cli_take_dsn(optarg, &admin_dsn_copy, &opts.admin_dsn))
				return cli_usage_error("%s", "--admin-dsn: not a valid conninfo string or postgresql:// URI");
			break;
		case 'm':
			if (!strcmp(optarg, "hold"))
				opts.override.mode = MODE_HOLD;
			else if (!strcmp(optarg, "fire"))
				opts.override.mode = MODE_FIRE;
			else if (!strcmp(optarg, "interleave"))
				opts.override.mode = MODE_INTERLEAVE;
			else
				return cli_usage_error("--mode: expected hold, fire or interleave, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_MODE;
			break;
		case 'I':
			if (!cli_parse_number(optarg, 1, 100000, &opts.override.max_interleavings))
				return cli_usage_error("--max-interleavings: expected 1 to 100000, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_MAX_ILV;
			break;
		case 'N':
			opts.override.reduction = false;
			opts.override.set |= RACE_SET_REDUCTION;
			break;
		case 'S': {
			int seed;
			if (!cli_parse_number(optarg, 0, 2147483647, &seed))
				return cli_usage_error("--seed: expected 0 to 2147483647, got \"%s\"", optarg);
			opts.override.seed = seed;
			opts.override.set |= RACE_SET_SEED;
			break;
		}
		case 'R':
			if (!strcmp(optarg, "last-byte"))
				opts.override.release = RELEASE_LAST_BYTE;
			else if (!strcmp(optarg, "send"))
				opts.override.release = RELEASE_SEND;
			else
				return cli_usage_error("--release: expected last-byte or send, got \"%s\"", optarg);
			opts.override.set |= RACE_SET_RELEASE;
			break;
		case 'j':
			json = optarg;
			break;
		case 'J':
			junit = optarg;
			break;
		case 'q':
			opts.quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'W':
			html = optarg;
			break;
		case 'L':
			log = optarg;
			verbose = true;
			break;
		case '?':
			return cli_option_help(argv, "run");
		default:
			return cli_usage_error("%s", "bad option for run");
		}
	}
	int n = argc - optind;
	if (n <= 0)
		return cli_usage_error("%s", "run: name at least one scenario file");
	if (opts.hot && !opts.duration_ms)
		return cli_usage_error("%s", "--hot goes with --duration");
	const char *const outs[] = {json, junit, html}, *const flags[] = {"--json", "--junit", "--html"};
	if (!cli_outputs_apart(outs, flags, 3, argv + optind, n))
		return EXIT_USAGE;
	char env_err[128];
	if (race_threads(1, env_err, sizeof env_err) == 0)
		return cli_usage_error("%s", env_err);
	struct scenario *sc = calloc((size_t)n, sizeof *sc);
	struct run_result *res = calloc((size_t)n, sizeof *res);
	if (!sc || !res)
		abort();
	int rc = EXIT_PASS;
	if (cli_load_all(argv + optind, n, sc)) {
		rc = EXIT_USAGE;
		goto out;
	}
	char why[512];
	if (!server_targets_named(opts.targets, opts.n_targets, sc, (size_t)n, why, sizeof why)) {
		rc = cli_usage_error("%s", why);
		goto out;
	}
	opts.progress = !opts.quiet && isatty(STDERR_FILENO);
	if (verbose) { /* every worker's statements, to stderr or --log */
		FILE *lf = log ? fopen(log, "w") : stderr;
		if (!lf) {
			text_line(stderr, "pgrace: --log: cannot write %s: %s", log, strerror(errno));
			rc = EXIT_USAGE;
			goto out;
		}
		vlog_open(lf);
		opts.progress = opts.progress && log; /* the log's lines and a progress line do not mix */
	}
	cli_start_signal_thread();
	enum verdict worst = VERDICT_SKIPPED; /* the mildest: all skipped exits 6 */
	int ran = 0;
	for (int i = 0; i < n; i++) {
		run_scenario(&sc[i], &opts, &res[i]);
		ran++;
		worst = verdict_worse(worst, res[i].verdict);
		if (!opts.quiet)
			report_summary(stdout, &res[i]);
		else if (res[i].error[0])
			text_line(stderr, "pgrace: %s: %s", sc[i].name, res[i].error);
		if (db_stop_requested())
			break;
	}
	rc = run_exit_code(worst);
	bool saved = true;
	if (json)
		saved &= cli_write_results(json, report_write_json, res, (size_t)ran);
	if (junit)
		saved &= cli_write_results(junit, report_write_junit, res, (size_t)ran);
	if (html)
		saved &= cli_write_results(html, report_write_html, res, (size_t)ran);
	if (!saved && rc != EXIT_DATABASE && rc != EXIT_SIGINT && rc != EXIT_SIGTERM)
		rc = EXIT_RESULTS;
	fflush(stdout);
out:
	vlog_close();
	for (int i = 0; i < n; i++) {
		run_result_free(&res[i]);
		scenario_free(&sc[i]);
	}
	free(sc);
	free(res);
	return rc;
}
