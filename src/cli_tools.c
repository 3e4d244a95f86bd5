/* cli_tools.c: the subcommands that race nothing: check, list, show,
 * percentiles, report and clean.
 *
 * Each reads its arguments and calls one module: scenario.h (check, list,
 * show), stats.h (percentiles), html.h and outfile.h (report), sandbox.h
 * (clean). Calls cli.h for what subcommands share. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "datadir.h"
#include "exitcode.h"
#include "html.h"
#include "outfile.h"
#include "pgrace.h"
#include "sandbox.h"
#include "scenario.h"
#include "secret.h"
#include "stats.h"
#include "text.h"

/* The --dsn value of clean, kept before its password is masked in argv (it
 * lives until exit). */
static char *dsn_copy;

int cli_check(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("%s", "check: name at least one scenario file");
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

int cli_show(int argc, char **argv)
{
	if (argc != 3)
		return cli_usage_error("%s", "show: name a scenario file and a part (schema, seed, rows, "
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
		rc = cli_usage_error("show: %s has no part \"%s\" (schema, seed, rows, migration.up, "
				 "migration.down, sql.NAME, flow.N)",
				 argv[1], argv[2]);
	} else if (!t->sql) {
		rc = cli_usage_error("show: %s of %s is a command, not SQL", argv[2], argv[1]);
	} else {
		size_t len = strlen(t->sql);
		fputs(t->sql, stdout);
		if (len && t->sql[len - 1] != '\n')
			putchar('\n');
	}
	scenario_free(&sc);
	return rc;
}

int cli_percentiles(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cli_usage_error("%s", "percentiles: reads numbers on stdin, takes no arguments");
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
			rc = cli_usage_error("percentiles: line %ld: expected a count of microseconds", n);
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
int cli_report(int argc, char **argv)
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
			return cli_usage_error("%s", "usage: pgrace report RESULT.json [-o FILE.html]");
	}
	if (optind != argc - 1)
		return cli_usage_error("%s", "usage: pgrace report RESULT.json [-o FILE.html]");
	const char *in = argv[optind];
	const char *const outs[] = {outpath}, *const flags[] = {"-o"};
	if (!cli_outputs_apart(outs, flags, 1, argv + optind, 1))
		return EXIT_USAGE;
	json_error_t jerr;
	json_t *doc = json_load_file(in, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return cli_usage_error("%s:%d: not a pgrace result document: %s", in, jerr.line, jerr.text);
	if (!json_is_object(doc) || (!json_is_array(json_object_get(doc, "runs")) &&
				     !json_is_array(json_object_get(doc, "phases")))) {
		json_decref(doc);
		return cli_usage_error("%s:1: not a pgrace result document (no \"phases\" or \"runs\")", in);
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

int cli_clean(int argc, char **argv)
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
			if (!cli_take_dsn(optarg, &dsn_copy, &dsn))
				return cli_usage_error("%s", SECRET_DSN_INVALID);
			break;
		case 'L':
			if (!cli_parse_number(optarg, 1, 3600000, &lock_timeout_ms))
				return cli_usage_error("--lock-timeout-ms: expected 1 to 3600000, got \"%s\"",
						   optarg);
			break;
		case 'n':
			dry_run = true;
			break;
		case '?':
			return cli_option_help(argv, "clean");
		default:
			return cli_usage_error("%s", "bad option for clean");
		}
	}
	if (optind < argc)
		return cli_usage_error("clean: unexpected argument \"%s\"", argv[optind]);
	return sandbox_clean(dsn, dry_run, lock_timeout_ms, stdout, stderr);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_list(int argc, char **argv)
{
	if (argc > 2)
		return cli_usage_error("%s", "list: at most one directory");
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
