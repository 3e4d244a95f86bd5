/* init.c: `pgrace init`, the subcommand: its options, the catalog read
 * (init_catalog.c), the scenario written (init_write.c) into standard
 * output or the -o file; and the names of flows and column kinds. */
#include "init.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "mem.h"
#include "outfile.h"
#include "pgrace.h"
#include "secret.h"
#include "text.h"

bool init_flow_parse(const char *name, enum init_flow *out)
{
	static const char *const names[] = {"check-then-insert", "where-not-exists", "on-conflict"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum init_flow)i;
			return true;
		}
	return false;
}

enum init_kind init_kind_of(const char *type)
{
	static const struct {
		const char *prefix;
		enum init_kind kind;
	} kinds[] = {
		{"smallint", KIND_INT},  {"integer", KIND_INT},
		{"bigint", KIND_INT},    {"numeric", KIND_INT},
		{"text", KIND_TEXT},     {"character varying", KIND_TEXT},
		{"character", KIND_TEXT}, {"citext", KIND_TEXT},
		{"uuid", KIND_UUID},     {"boolean", KIND_BOOL},
		{"timestamp", KIND_TIME}, {"date", KIND_TIME},
		{"time", KIND_TIME},     {"jsonb", KIND_JSON},
		{"json", KIND_JSON},     {"bytea", KIND_BYTES},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = strlen(kinds[i].prefix);
		if (!strncmp(type, kinds[i].prefix, n) &&
		    (type[n] == '\0' || type[n] == '(' || type[n] == ' '))
			return kinds[i].kind;
	}
	return KIND_OTHER;
}

/* ---- the subcommand --------------------------------------------------- */

static const char init_usage[] =
	"Usage: pgrace init --table TABLE --key COL[,COL...] [OPTION]...\n"
	"Writes a first scenario for UNIQUE (COL, ...) on TABLE, from the catalog only.\n"
	"  -t, --table=TABLE          the table (schema-qualified or on the search_path)\n"
	"  -k, --key=COL,...          the columns that must be unique together\n"
	"  -d, --dsn=CONNINFO         conninfo string or postgresql:// URI (default: PG*)\n"
	"      --flow=NAME            check-then-insert (default), where-not-exists, on-conflict\n"
	"      --schema-from-db       the schema from the catalog (default)\n"
	"      --schema-command=CMD   the schema from a command (e.g. \"alembic upgrade 004\")\n"
	"      --migrate-command=CMD  the migration as your command (\"alembic upgrade 005\"),\n"
	"      --downgrade-command=CMD  and its downgrade (\"alembic downgrade 004\")\n"
	"      --constraint=NAME      the constraint your migration adds (checked by name)\n"
	"  -o, --output=FILE          write it there (default: standard output)\n";

/* Splits a comma-separated list in place into names[]; returns the count. */
static size_t split_keys(char *list, const char **names, size_t max)
{
	size_t n = 0;
	for (char *p = list; p && *p && n < max + 1;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		while (*p == ' ')
			p++;
		char *end = p + strlen(p);
		while (end > p && end[-1] == ' ')
			*--end = '\0';
		if (n < max)
			names[n] = p;
		n++;
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

__attribute__((format(printf, 1, 2))) static int init_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	text_line(stderr, "pgrace init: %s", msg); /* arguments may hold anything */
	return EXIT_USAGE;
}

int init_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"table", required_argument, NULL, 't'},
		{"key", required_argument, NULL, 'k'},
		{"dsn", required_argument, NULL, 'd'},
		{"flow", required_argument, NULL, 'F'},
		{"schema-from-db", no_argument, NULL, 'S'},
		{"schema-command", required_argument, NULL, 'C'},
		{"migrate-command", required_argument, NULL, 'M'},
		{"downgrade-command", required_argument, NULL, 'D'},
		{"constraint", required_argument, NULL, 'N'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *table = NULL, *output = NULL;
	char *keylist = NULL, *dsn = NULL;
	struct init_opts o = {.flow = FLOW_CHECK_THEN_INSERT};
	bool from_db = false;
	int c, rc = EXIT_USAGE;
	PGconn *conn = NULL;
	struct init_model m;
	bool have_model = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:k:d:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			table = optarg;
			break;
		case 'k':
			free(keylist);
			keylist = mem_strdup(optarg);
			break;
		case 'd':
			if (!secret_take_dsn(optarg, &dsn)) {
				rc = init_error("%s", SECRET_DSN_INVALID);
				goto out;
			}
			break;
		case 'F':
			if (!init_flow_parse(optarg, &o.flow)) {
				rc = init_error("--flow: expected check-then-insert, where-not-exists or on-conflict, got \"%s\"",
						optarg);
				goto out;
			}
			break;
		case 'S':
			from_db = true;
			break;
		case 'C':
			o.schema_command = optarg;
			break;
		case 'M':
			o.migrate_command = optarg;
			break;
		case 'D':
			o.downgrade_command = optarg;
			break;
		case 'N':
			o.constraint = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			rc = EXIT_PASS;
			goto out;
		default:
			fputs(init_usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		rc = init_error("unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if (!table || !keylist) {
		rc = init_error("--table and --key are required (pgrace init --help)");
		goto out;
	}
	if (from_db && o.schema_command) {
		rc = init_error("--schema-from-db and --schema-command exclude each other");
		goto out;
	}
	if (!o.migrate_command != !o.downgrade_command) {
		rc = init_error("--migrate-command and --downgrade-command go together");
		goto out;
	}
	if (o.constraint && !o.migrate_command) {
		rc = init_error("--constraint names the constraint of your own --migrate-command");
		goto out;
	}
	const char *keys[INIT_MAX_KEYS];
	size_t n_keys = split_keys(keylist, keys, INIT_MAX_KEYS);
	if (n_keys == 0 || n_keys > INIT_MAX_KEYS) {
		rc = init_error("--key: give 1 to %d column names, comma-separated", INIT_MAX_KEYS);
		goto out;
	}
	for (size_t i = 0; i < n_keys; i++)
		if (!keys[i][0]) {
			rc = init_error("--key: an empty column name in \"%s\"", keylist);
			goto out;
		}
	char err[1024];
	conn = db_connect(dsn, NULL, err, sizeof err);
	if (!conn) {
		text_line(stderr, "pgrace init: cannot connect: %s", err);
		rc = EXIT_DATABASE;
		goto out;
	}
	bool usage = false;
	if (!init_catalog(conn, table, keys, n_keys, &m, &usage, err, sizeof err)) {
		text_line(stderr, "pgrace init: %s", err);
		rc = usage ? EXIT_USAGE : EXIT_DATABASE;
		goto out;
	}
	have_model = true;
	/* The migration command starts from the version the live table is at. */
	if (o.migrate_command && !o.schema_command &&
	    !init_catalog_versions(conn, &m, err, sizeof err)) {
		text_line(stderr, "pgrace init: %s", err);
		rc = EXIT_DATABASE;
		goto out;
	}
	/* Where the command runs: the scenario's folder is where it is written. */
	char here[4096];
	if ((o.schema_command || o.migrate_command) && output && strchr(output, '/') &&
	    getcwd(here, sizeof here))
		o.command_cwd = here;
	FILE *f = stdout;
	struct outfile of;
	if (output) {
		if (!outfile_open(&of, output)) {
			rc = init_error("cannot write %s: %s", output, strerror(errno));
			goto out;
		}
		f = of.f;
	}
	bool ok = init_write(f, &m, &o, err, sizeof err);
	if (output && !outfile_close(&of, ok) && ok) {
		rc = init_error("cannot write %s: %s", output, strerror(errno));
		goto out;
	}
	if (!ok) {
		rc = init_error("%s", err);
		goto out;
	}
	if (output)
		text_line(stderr, "pgrace init: wrote %s (run it: pgrace run %s)", output, output);
	rc = EXIT_PASS;
out:
	if (have_model)
		init_model_free(&m);
	if (conn)
		PQfinish(conn);
	free(keylist);
	free(dsn);
	return rc;
}
