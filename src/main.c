/* main.c: pgrace's command line: the subcommands table, --help, dispatch.
 *
 * main() finds the subcommand in the table and hands it argv; the
 * subcommands' bodies live in cli_run.c (run), cli_spec.c (spec),
 * cli_tools.c (check, list, show, percentiles, report, clean) and init.c
 * (init), what they share in cli.c. --help and the messages for a missing or
 * unknown command are printed from the table, with the exit codes from
 * exitcode.c's table. Calls cli.h, init.h, exitcode.h, secret.h and text.h.
 *
 * Every line it prints for a person goes through text_line (text.h): file
 * names, arguments and messages may hold control characters. */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "init.h"
#include "secret.h"
#include "text.h"

/* --help: the lines of the subcommands table (before main()) between these. */
static const char usage_head[] = "pgrace proves that a database constraint closes a race.\n"
				 "\n"
				 "Usage:\n";

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

int cli_usage_error(const char *fmt, ...)
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
	{"run", cli_run, "SCENARIO... [OPTION]...", "race the scenarios' flows, judge them"},
	{"check", cli_check, "SCENARIO...", "validate scenario files (no database)"},
	{"list", cli_list, "[DIR]", "name and describe the scenarios in DIR\n(default: scenarios)"},
	{"show", cli_show, "SCENARIO PART",
	 "print one part's SQL: schema, seed, rows,\nmigration.up, migration.down, sql.NAME,\n"
	 "flow.N (for scripts: no YAML parsing)"},
	{"percentiles", cli_percentiles, "",
	 "p50 p90 p99 max count of the microseconds\non stdin, one per line, by the histogram\n"
	 "pgrace's own latencies use"},
	{"init", init_main, "--table TABLE --key COL,... [OPTION]...",
	 "write a first scenario for UNIQUE (COL, ...)\non TABLE from the catalog (pgrace init "
	 "--help)"},
	{"report", cli_report, "RESULT.json [-o FILE.html]",
	 "one self-contained HTML page of a result\ndocument (the JSON of run --json)"},
	{"clean", cli_clean, "[--dsn CONNINFO] [--dry-run] [--lock-timeout-ms N]",
	 "drop the sandbox schemas (pgrace_<pid>_<hex>)\nwhose run is gone (SIGKILL, a crash, a "
	 "lost\nhost): each live run holds an advisory lock\nnamed after its schema; --dry-run "
	 "only lists;\na drop waits at most N ms (5000) for a lock"},
	{"spec", cli_spec,
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

void cli_usage_print(FILE *out)
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
		return cli_usage_error("missing command (%s)", command_names(names, sizeof names));
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-?") || !strcmp(cmd, "help")) {
		cli_usage_print(stdout);
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
	return cli_usage_error("unknown command \"%s\" (%s)", cmd, command_names(names, sizeof names));
}
