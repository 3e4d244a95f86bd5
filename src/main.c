/* main.c: pgrace's command line: the subcommands table (dispatch, --help)
 * and the handlers of run, check, list, show, percentiles, report, clean and
 * spec (init's is init.c's); the exit code of a run (the codes themselves
 * are exitcode.c's table); signals.
 *
 * Every line it prints for a person goes through text_line (text.h): file
 * names, arguments and messages may hold control characters. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "exitcode.h"
#include "db.h"
#include "init.h"
#include "outfile.h"
#include "pgrace.h"
#include "report.h"
#include "html.h"
#include "race.h"
#include "run.h"
#include "sandbox.h"
#include "scenario.h"
#include "secret.h"
#include "server.h"
#include "text.h"
#include "vlog.h"
#include "stats.h"
#include "spec.h"
#include "appspec.h"

/* --help: the lines of the subcommands table (before main()) between these. */
static const char usage_head[] = "pgrace proves that a database constraint closes a race.\n"
				 "\n"
				 "Usage:\n";
static void usage_print(FILE *out);

static const char usage_text[] =
	"\n"
	"Options for run:\n"
	"  -d, --dsn=CONNINFO       conninfo string or postgresql:// URI\n"
	"                           (default: the PG* environment variables)\n"
	"  -w, --workers=N          workers per racing phase (1-5000; default from the scenario)\n"
	"  -r, --rounds=N           rounds per racing phase (1-1000000)\n"
	"  -m, --mode=MODE          hold: commit barrier, deterministic (gates);\n"
	"                           fire: free race, stochastic (hit rates);\n"
	"                           interleave: every order of the workers' steps\n"
	"      --max-interleavings=N  interleave: above N orders run a sample of N\n"
	"                           (1-100000; default 1000)\n"
	"      --seed=N             interleave: the sample's seed (default 1)\n"
	"      --no-reduction       interleave: run every order, not one per class of\n"
	"                           orders that differ only by commuting steps\n"
	"      --deadline-ms=N      a round's time budget (100-3600000)\n"
	"      --release=HOW        fire: last-byte (default): the first statements go\n"
	"                           out ahead but their last bytes, written back to back\n"
	"                           at the go; send: each worker sends at the go\n"
	"  -T, --duration=SECONDS   free-running instead of rounds: no barrier, each\n"
	"                           worker runs the flow back to back on fresh keys;\n"
	"                           measures throughput, does not judge\n"
	"      --hot                with --duration: every attempt on one key\n"
	"      --target=NAME=CONNINFO  the connection of a scenario's target NAME\n"
	"                           (targets: [primary, replica]; the first is --dsn)\n"
	"      --pooler             the server is behind a transaction-pooling pooler\n"
	"                           (pgbouncer): keep no session state\n"
	"      --admin-dsn=CONNINFO the connection for setup, steps and cleanup\n"
	"                           (default: --dsn); with --pooler, one that keeps its\n"
	"                           session (the server itself, or a session-mode pool):\n"
	"                           needed for CREATE INDEX CONCURRENTLY and the like\n"
	"  -j, --json=FILE          write the results as JSON\n"
	"      --junit=FILE         write the results as JUnit XML\n"
	"      --html=FILE          write one self-contained HTML page of the results\n"
	"  -q, --quiet              print nothing but errors\n"
	"  -v, --verbose            log every statement each worker sends, with its\n"
	"                           worker, round, timestamp and result, to stderr\n"
	"      --log=FILE           that log to FILE instead (implies --verbose)\n"
	"\n"
	"Other options:\n"
	"  -V, --version            print the version and exit\n"
	"  -?, --help               print this help and exit\n"
	"\n"
	"";

static const char usage_tail[] =
	"\nScenario format: man pgrace (SCENARIO FORMAT), or docs/scenario-format.md.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	text_line(stderr, "pgrace: %s", msg); /* arguments may hold anything */
	fprintf(stderr, "Try \"pgrace --help\" for more information.\n");
	return EXIT_USAGE;
}

/* The --dsn and --admin-dsn values, kept before their passwords are masked
 * in argv (they live until exit). */
static char *dsn_copy, *admin_dsn_copy;

/* Keeps a copy of a --dsn value in *copy (and *dsn), then hides its password from the
 * process title; false when it does not parse (secret_take_dsn). */
static bool take_dsn(char *arg, char **copy, const char **dsn)
{
	if (!secret_take_dsn(arg, copy))
		return false;
	*dsn = *copy;
	return true;
}

static bool parse_number(const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

/* Signals this close after the first are the same request. */
#define SIGNAL_COALESCE_US (2u * 1000000u)

static void say(const char *msg)
{
	if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
		/* nothing to do */
	}
}

/* The signal thread. The first SIGINT or SIGTERM raises the stop flag:
 * queries are cancelled, the schema dropped and the results written, each
 * bounded by its own deadline. Signals that arrive together are one request
 * (GNU timeout signals pgrace, then its whole process group: two SIGTERMs at
 * once). Only a repeated interactive request, a SIGINT (Ctrl-C) that comes
 * after cleanup had SIGNAL_COALESCE_US to work, quits at once; a later
 * SIGTERM is told that cleanup is under way. */
static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	uint64_t first_us = 0;
	for (;;) {
		int sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		uint64_t now = clock_us();
		if (!first_us) {
			first_us = now;
			db_request_stop(sig);
			say("\npgrace: stopping: cancelling queries, dropping the schema "
			    "(Ctrl-C again to quit at once)\n");
			continue;
		}
		if (now - first_us < SIGNAL_COALESCE_US)
			continue; /* the same request, delivered twice */
		if (sig == SIGINT) {
			secret_cleanup(); /* _exit runs no atexit: the passfile goes here */
			_exit(db_stop_requested() == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT);
		}
		say("pgrace: still cleaning up (every step has a deadline); SIGKILL skips the cleanup\n");
	}
	return NULL;
}

static void start_signal_thread(void)
{
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		abort();
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, signal_main, &set))
		abort();
	pthread_attr_destroy(&attr);
}

/* Loads every file; returns how many were bad (each reported). */
static int load_all(char **paths, int n, struct scenario *out)
{
	char err[1024];
	int bad = 0;
	for (int i = 0; i < n; i++) {
		char found[4096]; /* a bare NAME: ./scenarios, then the installed ones */
		const char *path = datadir_scenario_path(paths[i], found, sizeof found, PGRACE_SCENARIO_DIR);
		if (!scenario_load(path, &out[i], err, sizeof err)) {
			text_line(stderr, "pgrace: %s", err);
			bad++;
		}
	}
	return bad;
}

/* Writes the results with writer into path; false (message printed) on failure. */
static bool write_results(const char *path, int (*writer)(FILE *, const struct run_result *, size_t),
			  const struct run_result *runs, size_t n)
{
	struct outfile of;
	if (!outfile_open(&of, path)) {
		text_line(stderr, "pgrace: cannot write %s: %s", path, strerror(errno));
		return false;
	}
	int rc = writer(of.f, runs, n);
	int e = errno;
	if (!outfile_close(&of, rc == 0)) {
		text_line(stderr, "pgrace: cannot write %s: %s", path, strerror(rc ? e : errno));
		return false;
	}
	return true;
}

/* True when a and b are one file (by device and inode; false when b does not exist). */
static bool same_file(const struct stat *a, const char *b)
{
	struct stat st;
	return stat(b, &st) == 0 && st.st_dev == a->st_dev && st.st_ino == a->st_ino;
}

/* The result files may be written without destroying an input: none is
 * a scenario file being read (whatever path names it), and no two are one
 * file. outs[i] (NULL: not asked for) was given as flags[i]. False with the
 * message printed. */
static bool outputs_apart(const char *const outs[], const char *const flags[], int n_outs,
			  char **inputs, int n)
{
	for (int o = 0; o < n_outs; o++) {
		struct stat st;
		if (!outs[o])
			continue;
		for (int p = 0; p < o; p++)
			if (outs[p] && !strcmp(outs[p], outs[o])) {
				usage_error("%s and %s both name %s", flags[p], flags[o], outs[o]);
				return false;
			}
		if (stat(outs[o], &st) != 0)
			continue; /* a new file overwrites nothing */
		for (int i = 0; i < n; i++)
			if (same_file(&st, inputs[i])) {
				usage_error("%s %s is the scenario file %s: refusing to overwrite it",
					    flags[o], outs[o], inputs[i]);
				return false;
			}
		for (int p = 0; p < o; p++)
			if (outs[p] && same_file(&st, outs[p])) {
				usage_error("%s %s and %s %s are one file", flags[p], outs[p], flags[o],
					    outs[o]);
				return false;
			}
	}
	return true;
}

/* The --target values, kept before their passwords are masked in argv. */
static char *target_copies[RUN_TARGETS_MAX];

/* --target NAME=CONNINFO into opts; false (message printed) when malformed. */
static bool parse_target(char *arg, struct run_opts *opts)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : 0;
	if (!eq || len == 0 || len >= sizeof opts->targets[0].name) {
		usage_error("%s", "--target: expected NAME=CONNINFO, e.g. --target replica='host=... port=5433'");
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if (!((arg[i] >= 'a' && arg[i] <= 'z') || (arg[i] >= '0' && arg[i] <= '9') || arg[i] == '_')) {
			usage_error("--target: a target name is lower case letters, digits and _, got \"%.*s\"",
				    (int)len, arg);
			return false;
		}
	for (size_t i = 0; i < opts->n_targets; i++)
		if (strlen(opts->targets[i].name) == len && !strncmp(opts->targets[i].name, arg, len)) {
			usage_error("--target %.*s given twice", (int)len, arg);
			return false;
		}
	if (opts->n_targets == RUN_TARGETS_MAX) {
		usage_error("--target: at most %d", RUN_TARGETS_MAX);
		return false;
	}
	struct target_arg *t = &opts->targets[opts->n_targets];
	if (!take_dsn(arg + len + 1, &target_copies[opts->n_targets], &t->dsn)) {
		usage_error("--target %.*s: not a valid conninfo string or postgresql:// URI", (int)len, arg);
		return false;
	}
	opts->n_targets++;
	snprintf(t->name, sizeof t->name, "%.*s", (int)len, arg);
	return true;
}

static int cmd_run(int argc, char **argv)
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
			if (!take_dsn(optarg, &dsn_copy, &opts.dsn))
				return usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'w':
			if (!parse_number(optarg, 1, 5000, &opts.override.workers))
				return usage_error("--workers: expected 1 to 5000, got \"%s\"", optarg);
			opts.override.set |= RACE_SET_WORKERS;
			break;
		case 'r':
			if (!parse_number(optarg, 1, 1000000, &opts.override.rounds))
				return usage_error("--rounds: expected 1 to 1000000, got \"%s\"", optarg);
			opts.override.set |= RACE_SET_ROUNDS;
			break;
		case 'D':
			if (!parse_number(optarg, 100, 3600000, &opts.override.deadline_ms))
				return usage_error("--deadline-ms: expected 100 to 3600000, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_DEADLINE;
			break;
		case 'T':
			if (!parse_number(optarg, 1, 86400, &opts.duration_ms))
				return usage_error("--duration: expected 1 to 86400 seconds, got \"%s\"",
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
			if (!take_dsn(optarg, &admin_dsn_copy, &opts.admin_dsn))
				return usage_error("%s", "--admin-dsn: not a valid conninfo string or postgresql:// URI");
			break;
		case 'm':
			if (!strcmp(optarg, "hold"))
				opts.override.mode = MODE_HOLD;
			else if (!strcmp(optarg, "fire"))
				opts.override.mode = MODE_FIRE;
			else if (!strcmp(optarg, "interleave"))
				opts.override.mode = MODE_INTERLEAVE;
			else
				return usage_error("--mode: expected hold, fire or interleave, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_MODE;
			break;
		case 'I':
			if (!parse_number(optarg, 1, 100000, &opts.override.max_interleavings))
				return usage_error("--max-interleavings: expected 1 to 100000, got \"%s\"",
						   optarg);
			opts.override.set |= RACE_SET_MAX_ILV;
			break;
		case 'N':
			opts.override.reduction = false;
			opts.override.set |= RACE_SET_REDUCTION;
			break;
		case 'S': {
			int seed;
			if (!parse_number(optarg, 0, 2147483647, &seed))
				return usage_error("--seed: expected 0 to 2147483647, got \"%s\"", optarg);
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
				return usage_error("--release: expected last-byte or send, got \"%s\"", optarg);
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
			if (optopt == 0 && !strcmp(argv[optind - 1], "--help")) {
				usage_print(stdout);
				return EXIT_PASS;
			}
			return usage_error("%s", "bad option for run");
		default:
			return usage_error("%s", "bad option for run");
		}
	}
	int n = argc - optind;
	if (n <= 0)
		return usage_error("%s", "run: name at least one scenario file");
	if (opts.hot && !opts.duration_ms)
		return usage_error("%s", "--hot goes with --duration");
	const char *const outs[] = {json, junit, html}, *const flags[] = {"--json", "--junit", "--html"};
	if (!outputs_apart(outs, flags, 3, argv + optind, n))
		return EXIT_USAGE;
	char env_err[128];
	if (race_threads(1, env_err, sizeof env_err) == 0)
		return usage_error("%s", env_err);
	struct scenario *sc = calloc((size_t)n, sizeof *sc);
	struct run_result *res = calloc((size_t)n, sizeof *res);
	if (!sc || !res)
		abort();
	int rc = EXIT_PASS;
	if (load_all(argv + optind, n, sc)) {
		rc = EXIT_USAGE;
		goto out;
	}
	char why[512];
	if (!server_targets_named(opts.targets, opts.n_targets, sc, (size_t)n, why, sizeof why)) {
		rc = usage_error("%s", why);
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
	start_signal_thread();
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
		saved &= write_results(json, report_write_json, res, (size_t)ran);
	if (junit)
		saved &= write_results(junit, report_write_junit, res, (size_t)ran);
	if (html)
		saved &= write_results(html, report_write_html, res, (size_t)ran);
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

/* pgrace spec SCENARIO --phase NAME [-o FILE] [--all]: runs the scenario
 * up to that interleave phase, then writes the phase as an isolation spec. */
static int cmd_spec(int argc, char **argv)
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
				return usage_error("%s", why);
			break;
		}
		case 'd':
			if (!take_dsn(optarg, &dsn_copy, &opts.dsn))
				return usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'j':
			json = optarg;
			break;
		case 'S':
			if (!parse_number(optarg, 0, 2147483647, &seed))
				return usage_error("--seed: expected 0 to 2147483647, got \"%s\"", optarg);
			opts.override.seed = seed;
			opts.override.set |= RACE_SET_SEED;
			break;
		case '?':
			if (optopt == 0 && !strcmp(argv[optind - 1], "--help")) {
				usage_print(stdout);
				return EXIT_PASS;
			}
			return usage_error("%s", "bad option for spec");
		default:
			return usage_error("%s", "bad option for spec");
		}
	}
	if (argc - optind != 1 || !phase_name)
		return usage_error("%s", "spec: name one scenario file and --phase NAME");
	/* As run: no output may be the scenario file, nor -o and --json one file. */
	const char *const outs[] = {json}, *const flags[] = {"--json"};
	if (!outputs_apart(outs, flags, 1, argv + optind, 1))
		return EXIT_USAGE;
	struct stat ost;
	if (output && stat(output, &ost) == 0) {
		if (same_file(&ost, argv[optind]))
			return usage_error("-o %s is the scenario file %s: refusing to overwrite it",
					   output, argv[optind]);
		if (json && same_file(&ost, json))
			return usage_error("-o %s and --json %s are one file", output, json);
	}
	if (output && json && !strcmp(output, json))
		return usage_error("-o and --json both name %s", output);
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
	if (sc.app && all) {
		text_line(stderr, "pgrace: %s: --all: an app flow's spec is one order (its SQL and key "
				  "are that order's own)", sc.path);
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
	start_signal_thread();
	run_scenario(&sc, &opts, &res);
	if (json && !write_results(json, report_write_json, &res, 1))
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
	if (sc.app && ph->appil) { /* one order of the app's own round trips */
		if (output)
			wrc = appspec_save(output, &sc, p, ph->appil, &cap, res.schema, ph->migrated, err,
					   sizeof err);
		else if (!appspec_write(stdout, &sc, p, ph->appil, &cap, res.schema, ph->migrated, err,
				       sizeof err) ||
			 fflush(stdout) != 0)
			wrc = err[0] ? EXIT_USAGE : EXIT_RESULTS;
	} else if (output) {
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

static int cmd_check(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("%s", "check: name at least one scenario file");
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		struct scenario sc;
		char err[1024];
		if (!scenario_load(argv[i], &sc, err, sizeof err)) {
			text_line(stderr, "pgrace: %s", err);
			bad++;
			continue;
		}
		text_line(stdout, "%s: ok (%s, %zu phases)", argv[i], sc.name, sc.n_phases);
		scenario_free(&sc);
	}
	return bad ? EXIT_USAGE : EXIT_PASS;
}

static int cmd_show(int argc, char **argv)
{
	if (argc != 3)
		return usage_error("%s", "show: name a scenario file and a part (schema, seed, rows, "
					 "migration.up, migration.down, sql.NAME, flow.N)");
	struct scenario sc;
	char err[1024];
	if (!scenario_load(argv[1], &sc, err, sizeof err)) {
		text_line(stderr, "pgrace: %s", err);
		return EXIT_USAGE;
	}
	int rc = EXIT_PASS;
	const struct sql_text *t = scenario_part(&sc, argv[2]);
	if (!t) {
		rc = usage_error("show: %s has no part \"%s\" (schema, seed, rows, migration.up, "
				 "migration.down, sql.NAME, flow.N)",
				 argv[1], argv[2]);
	} else if (!t->sql) {
		rc = usage_error("show: %s of %s is a command, not SQL", argv[2], argv[1]);
	} else {
		size_t len = strlen(t->sql);
		fputs(t->sql, stdout);
		if (len && t->sql[len - 1] != '\n')
			putchar('\n');
	}
	scenario_free(&sc);
	return rc;
}

static int cmd_percentiles(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return usage_error("%s", "percentiles: reads numbers on stdin, takes no arguments");
	struct hist *h = malloc(sizeof *h);
	if (!h)
		abort();
	hist_init(h);
	char line[128];
	long n = 0;
	int rc = EXIT_PASS;
	while (fgets(line, sizeof line, stdin)) {
		n++;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(line, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (line[0] == '\n')
			continue;
		if (errno || end == line || *end || line[0] == '-') {
			rc = usage_error("percentiles: line %ld: expected a count of microseconds", n);
			goto out;
		}
		hist_record(h, v);
	}
	if (h->count == 0)
		printf("null null null null 0\n");
	else
		printf("%llu %llu %llu %llu %llu\n", (unsigned long long)hist_percentile(h, 50),
		       (unsigned long long)hist_percentile(h, 90),
		       (unsigned long long)hist_percentile(h, 99), (unsigned long long)h->max,
		       (unsigned long long)h->count);
out:
	free(h);
	return rc;
}

/* pgrace report RESULT.json [-o FILE]: the HTML page of a result document
 * already written (stdout without -o). */
static int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
						  {"help", no_argument, NULL, '?'},
						  {NULL, 0, NULL, 0}};
	const char *outpath = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		if (c == 'o')
			outpath = optarg;
		else
			return usage_error("%s", "usage: pgrace report RESULT.json [-o FILE.html]");
	}
	if (optind != argc - 1)
		return usage_error("%s", "usage: pgrace report RESULT.json [-o FILE.html]");
	const char *in = argv[optind];
	const char *const outs[] = {outpath}, *const flags[] = {"-o"};
	if (!outputs_apart(outs, flags, 1, argv + optind, 1))
		return EXIT_USAGE;
	json_error_t jerr;
	json_t *doc = json_load_file(in, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return usage_error("%s:%d: not a pgrace result document: %s", in, jerr.line, jerr.text);
	if (!json_is_object(doc) || (!json_is_array(json_object_get(doc, "runs")) &&
				     !json_is_array(json_object_get(doc, "phases")))) {
		json_decref(doc);
		return usage_error("%s:1: not a pgrace result document (no \"phases\" or \"runs\")", in);
	}
	int rc = EXIT_PASS;
	struct outfile of = {.f = stdout};
	if (outpath && !outfile_open(&of, outpath)) {
		text_line(stderr, "pgrace: cannot write %s: %s", outpath, strerror(errno));
		rc = EXIT_RESULTS;
	} else {
		int wrc = html_write(of.f, doc);
		int e = errno;
		bool done = outpath ? outfile_close(&of, wrc == 0) : wrc == 0 && fflush(stdout) == 0;
		if (!done) {
			text_line(stderr, "pgrace: cannot write %s: %s", outpath ? outpath : "stdout",
				  strerror(wrc ? e : errno));
			rc = EXIT_RESULTS;
		}
	}
	json_decref(doc);
	return rc;
}

static int cmd_clean(int argc, char **argv)
{
	static const struct option longopts[] = {{"dsn", required_argument, NULL, 'd'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"lock-timeout-ms", required_argument, NULL, 'L'},
						 {"help", no_argument, NULL, '?'},
						 {NULL, 0, NULL, 0}};
	const char *dsn = NULL;
	bool dry_run = false;
	int c, lock_timeout_ms = 5000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:n", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!take_dsn(optarg, &dsn_copy, &dsn))
				return usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'L':
			if (!parse_number(optarg, 1, 3600000, &lock_timeout_ms))
				return usage_error("--lock-timeout-ms: expected 1 to 3600000, got \"%s\"",
						   optarg);
			break;
		case 'n':
			dry_run = true;
			break;
		case '?':
			if (optopt == 0 && !strcmp(argv[optind - 1], "--help")) {
				usage_print(stdout);
				return EXIT_PASS;
			}
			return usage_error("%s", "bad option for clean");
		default:
			return usage_error("%s", "bad option for clean");
		}
	}
	if (optind < argc)
		return usage_error("clean: unexpected argument \"%s\"", argv[optind]);
	return sandbox_clean(dsn, dry_run, lock_timeout_ms, stdout, stderr);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv)
{
	if (argc > 2)
		return usage_error("%s", "list: at most one directory");
	/* Default: ./scenarios in a checkout, else the installed examples. */
	struct stat st;
	char installed[4096];
	const char *dir = argc == 2 ? argv[1]
			  : stat("scenarios", &st) == 0 && S_ISDIR(st.st_mode)
			      ? "scenarios"
			      : datadir_scenarios(installed, sizeof installed, PGRACE_SCENARIO_DIR);
	DIR *d = opendir(dir);
	if (!d) {
		text_line(stderr, "pgrace: cannot open %s: %s", dir, strerror(errno));
		return EXIT_USAGE;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		char **grown = realloc(names, sizeof *names * (n + 1));
		if (!grown)
			abort();
		names = grown;
		size_t plen = strlen(dir) + len + 2;
		names[n] = malloc(plen);
		if (!names[n])
			abort();
		snprintf(names[n++], plen, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	int rc = EXIT_PASS;
	for (size_t i = 0; i < n; i++) {
		struct scenario sc;
		char err[1024];
		if (scenario_load(names[i], &sc, err, sizeof err)) {
			text_line(stdout, "%-24s %s", sc.name, sc.description ? sc.description : "");
			scenario_free(&sc);
		} else {
			text_line(stderr, "pgrace: %s", err);
			rc = EXIT_USAGE;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The subcommands: main() dispatches on this table, and --help's usage lines
 * and the messages for a missing or unknown command are printed from it.
 * tests/test_usage.c checks the man page's SYNOPSIS and README's usage
 * against --help. */
static const struct subcommand {
	const char *name;
	int (*handler)(int argc, char **argv); /* argv[0] is the name */
	const char *synopsis;                  /* after "pgrace NAME"; '\n' continues it */
	const char *what;                      /* --help's description; '\n' between lines */
} subcommands[] = {
	{"run", cmd_run, "SCENARIO... [OPTION]...", "race the scenarios' flows, judge them"},
	{"check", cmd_check, "SCENARIO...", "validate scenario files (no database)"},
	{"list", cmd_list, "[DIR]", "name and describe the scenarios in DIR\n(default: scenarios)"},
	{"show", cmd_show, "SCENARIO PART",
	 "print one part's SQL: schema, seed, rows,\nmigration.up, migration.down, sql.NAME,\n"
	 "flow.N (for scripts: no YAML parsing)"},
	{"percentiles", cmd_percentiles, "",
	 "p50 p90 p99 max count of the microseconds\non stdin, one per line, by the histogram\n"
	 "pgrace's own latencies use"},
	{"init", init_main, "--table TABLE --key COL,... [OPTION]...",
	 "write a first scenario for UNIQUE (COL, ...)\non TABLE from the catalog (pgrace init "
	 "--help)"},
	{"report", cmd_report, "RESULT.json [-o FILE.html]",
	 "one self-contained HTML page of a result\ndocument (the JSON of run --json)"},
	{"clean", cmd_clean, "[--dsn CONNINFO] [--dry-run] [--lock-timeout-ms N]",
	 "drop the sandbox schemas (pgrace_<pid>_<hex>)\nwhose run is gone (SIGKILL, a crash, a "
	 "lost\nhost): each live run holds an advisory lock\nnamed after its schema; --dry-run "
	 "only lists;\na drop waits at most N ms (5000) for a lock"},
	{"spec", cmd_spec,
	 "SCENARIO --phase NAME [-o FILE] [--all] [--schema NAME]\n[--dsn CONNINFO] [--json FILE] "
	 "[--seed N]",
	 "run the scenario up to that interleave\nphase, write it as a spec for PostgreSQL's\n"
	 "isolation tester: the orders that left\nduplicates (--all: every executable one)"},
};

#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])
#define USAGE_COLUMN 39 /* where the descriptions start */

/* text's lines, each after indent blanks (the first after first blanks). */
static void print_lines(FILE *out, const char *text, int first, int indent)
{
	for (int pad = first;; pad = indent) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		fprintf(out, "%*s%.*s\n", pad, "", len, text);
		if (!nl)
			return;
		text = nl + 1;
	}
}

static void usage_print(FILE *out)
{
	fputs(usage_head, out);
	for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
		const struct subcommand *c = &subcommands[i];
		/* "  pgrace NAME SYNOPSIS", its continuation lines under SYNOPSIS */
		int at = fprintf(out, "  pgrace %s%s", c->name, *c->synopsis ? " " : "");
		const char *syn = c->synopsis, *nl;
		while ((nl = strchr(syn, '\n'))) {
			fprintf(out, "%.*s\n%*s", (int)(nl - syn), syn, at, "");
			syn = nl + 1;
		}
		int used = at + (int)strlen(syn);
		fputs(syn, out);
		if (used < USAGE_COLUMN) {
			print_lines(out, c->what, USAGE_COLUMN - used, USAGE_COLUMN);
		} else {
			fputc('\n', out);
			print_lines(out, c->what, USAGE_COLUMN, USAGE_COLUMN);
		}
	}
	fputs(usage_text, out);
	exitcode_print(out);
	fputs(usage_tail, out);
}

/* "run, check, ... or spec" into buf. */
static const char *command_names(char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < N_SUBCOMMANDS && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i == 0 ? "" : i + 1 < N_SUBCOMMANDS ? ", " : " or ",
					 subcommands[i].name);
	return buf;
}

int main(int argc, char **argv)
{
	char names[256];
	secret_add(getenv("PGPASSWORD")); /* libpq's: scrubbed from what children say */
	if (argc < 2)
		return usage_error("missing command (%s)", command_names(names, sizeof names));
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-?") || !strcmp(cmd, "help")) {
		usage_print(stdout);
		return EXIT_PASS;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		int v = PQlibVersion();
		printf("pgrace %s (libpq %d.%d)\n", PGRACE_VERSION, v / 10000, v % 10000);
		return EXIT_PASS;
	}
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		if (!strcmp(cmd, subcommands[i].name))
			return subcommands[i].handler(argc - 1, argv + 1);
	return usage_error("unknown command \"%s\" (%s)", cmd, command_names(names, sizeof names));
}
