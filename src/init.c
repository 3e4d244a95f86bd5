/* init.c: `pgrace init`: the scenario writer (pure) and the subcommand.
 *
 * init_write() turns the model init_catalog.c read into a scenario: the
 * table's DDL after its foreign keys' parents, seed rows for those, the flow,
 * the migration and the phases. What the model says could not be copied
 * (a trigger, a CHECK the made-up values would break, a DEFAULT calling a
 * function of the source schema) is left out and said so in the file. The
 * table's rows are never read nor written. */
#include "init.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "mem.h"
#include "pgrace.h"
#include "secret.h"
#include "text.h"

#define SEED_ROWS 20000
#define UUID_BASE 100000000000LL /* 12 digits: the last group of a key's uuid */

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

/* ---- the writer (pure) ----------------------------------------------- */

void init_constraint_name(const struct init_model *m, char *buf, size_t len)
{
	char raw[512];
	size_t n = (size_t)snprintf(raw, sizeof raw, "uq_%s", m->table.name);
	for (size_t i = 0; i < m->n_keys && n < sizeof raw; i++)
		n += (size_t)snprintf(raw + n, sizeof raw - n, "_%s", m->table.cols[m->keys[i]].name);
	size_t w = 0;
	for (const char *p = raw; *p && w + 1 < len && w < 63; p++) {
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
			ch = ch == '"' ? 0 : '_';
		if (ch)
			buf[w++] = ch;
	}
	buf[w] = '\0';
}

/* The value number n makes for a key column of kind k, as SQL over the
 * integer expression num ("g", "1"). */
static void key_sql(enum init_kind k, const char *num, char *buf, size_t len)
{
	if (k == KIND_TEXT)
		snprintf(buf, len, "'k' || %s", num);
	else if (k == KIND_UUID)
		snprintf(buf, len, "('00000000-0000-4000-8000-' || (%s + %lld))::uuid", num, UUID_BASE);
	else
		snprintf(buf, len, "%s", num);
}

/* A value for a NOT NULL column without a default. unique: it must differ
 * row by row (num, when not NULL, numbers the row). */
static bool fill_sql(const struct init_column *c, bool unique, const char *num, char *buf,
		     size_t len)
{
	switch (c->kind) {
	case KIND_INT:
		if (unique && num)
			snprintf(buf, len, "%s", num);
		else if (unique)
			snprintf(buf, len, "(random() * 1000000000)::%s", c->type);
		else
			snprintf(buf, len, "0");
		return true;
	case KIND_TEXT:
		if (unique && num)
			snprintf(buf, len, "'%s-' || %s", c->name[0] == '"' ? "v" : c->name, num);
		else if (unique)
			snprintf(buf, len, "gen_random_uuid()::text");
		else
			snprintf(buf, len, "'x'");
		return true;
	case KIND_UUID:
		snprintf(buf, len, "gen_random_uuid()");
		return true;
	case KIND_BOOL:
		snprintf(buf, len, "false");
		return !unique;
	case KIND_TIME:
		snprintf(buf, len, "now()::%s", c->type);
		return true;
	case KIND_JSON:
		snprintf(buf, len, "'{}'::%s", c->type);
		return !unique;
	case KIND_BYTES:
		snprintf(buf, len, "''::bytea");
		return !unique;
	case KIND_ENUM:
		snprintf(buf, len, "%s::%s", c->enum_first ? c->enum_first : "NULL", c->type);
		return !unique && c->enum_first;
	case KIND_OTHER:
		break;
	}
	return false;
}

/* Does the row pgrace inserts need a value for c? */
static bool needs_value(const struct init_column *c)
{
	return c->not_null && !c->def && !c->identity && !c->generated;
}

static void write_table(FILE *f, const struct init_table *t, bool with_indexes)
{
	fprintf(f, "  CREATE TABLE %s (\n", t->name);
	size_t items = t->n_cols + t->n_constraints;
	size_t k = 0;
	for (size_t i = 0; i < t->n_cols; i++, k++) {
		const struct init_column *c = &t->cols[i];
		fprintf(f, "      %s %s", c->name, c->type);
		if (c->identity)
			fprintf(f, " GENERATED %s AS IDENTITY", c->identity);
		if (c->generated)
			fprintf(f, " GENERATED ALWAYS AS (%s) STORED", c->generated);
		if (c->def)
			fprintf(f, " DEFAULT %s", c->def);
		if (c->not_null)
			fprintf(f, " NOT NULL");
		fprintf(f, "%s%s\n", k + 1 < items ? "," : "", c->serial ? "  -- serial in the source" : "");
	}
	for (size_t i = 0; i < t->n_constraints; i++, k++)
		fprintf(f, "      %s%s\n", t->constraints[i], k + 1 < items ? "," : "");
	fprintf(f, "  );\n");
	for (size_t i = 0; with_indexes && i < t->n_indexes; i++)
		fprintf(f, "  %s;\n", t->indexes[i]);
}

/* WHERE k1 = $1::type AND k2 = $2::type */
static void key_where(FILE *f, const struct init_model *m)
{
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		fprintf(f, "%s%s = $%zu::%s", i ? " AND " : "WHERE ", c->name, i + 1, c->type);
	}
}

static void key_list(FILE *f, const struct init_model *m, const char *sep)
{
	for (size_t i = 0; i < m->n_keys; i++)
		fprintf(f, "%s%s", i ? sep : "", m->table.cols[m->keys[i]].name);
}

/* The columns the flow inserts (keys first, then those needing a value) and
 * their values. */
static bool insert_parts(const struct init_model *m, char *cols, size_t clen, char *vals,
			 size_t vlen, char *err, size_t errlen)
{
	size_t cn = 0, vn = 0;
	cols[0] = vals[0] = '\0';
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		cn += (size_t)snprintf(cols + cn, clen - cn, "%s%s", i ? ", " : "", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, "%s$%zu::%s", i ? ", " : "", i + 1, c->type);
	}
	for (size_t i = 0; i < m->table.n_cols && cn < clen && vn < vlen; i++) {
		const struct init_column *c = &m->table.cols[i];
		bool is_key = false;
		for (size_t j = 0; j < m->n_keys; j++)
			is_key = is_key || m->keys[j] == (int)i;
		if (is_key || !needs_value(c))
			continue;
		char v[256];
		if (c->fk_parent >= 0) {
			const struct init_table *p = &m->parents[c->fk_parent];
			int pc = init_find_column(p, c->fk_column);
			char k[128];
			key_sql(pc >= 0 ? p->cols[pc].kind : KIND_INT, "1", k, sizeof k);
			snprintf(v, sizeof v, "(%s)::%s", k, c->type);
		} else if (!fill_sql(c, c->unique, NULL, v, sizeof v)) {
			snprintf(err, errlen,
				 "column %s (%s, NOT NULL, no default): pgrace init cannot make a value of that "
				 "type; give it a default or edit the scenario by hand",
				 c->name, c->type);
			return false;
		}
		cn += (size_t)snprintf(cols + cn, clen - cn, ", %s", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, ", %s", v);
	}
	return true;
}

/* INSERT INTO parent (...) SELECT ... FROM generate_series(1, N) AS g */
static bool write_parent_seed(FILE *f, const struct init_model *m, const struct init_table *p,
			      int rows, char *err, size_t errlen)
{
	char cols[2048] = "", vals[4096] = "";
	size_t cn = 0, vn = 0;
	for (size_t i = 0; i < p->n_cols; i++) {
		const struct init_column *c = &p->cols[i];
		/* The column the table's key points at gets the keys' values. */
		bool referenced = false;
		for (size_t j = 0; j < m->table.n_cols; j++) {
			const struct init_column *tc = &m->table.cols[j];
			referenced = referenced ||
				     (tc->fk_parent >= 0 && &m->parents[tc->fk_parent] == p &&
				      !strcmp(tc->fk_column, c->name));
		}
		char v[256];
		if (referenced) {
			char k[128];
			key_sql(c->kind, "g", k, sizeof k);
			snprintf(v, sizeof v, "(%s)::%s", k, c->type);
		} else if (!needs_value(c)) {
			continue;
		} else if (!fill_sql(c, c->unique, "g", v, sizeof v)) {
			snprintf(err, errlen,
				 "column %s.%s (%s, NOT NULL, no default): pgrace init cannot make seed "
				 "values of that type; edit the scenario by hand",
				 p->name, c->name, c->type);
			return false;
		}
		cn += (size_t)snprintf(cols + cn, sizeof cols - cn, "%s%s", cn ? ", " : "", c->name);
		vn += (size_t)snprintf(vals + vn, sizeof vals - vn, "%s%s", vn ? ", " : "", v);
		if (cn >= sizeof cols || vn >= sizeof vals) {
			snprintf(err, errlen, "table %s: too many columns to seed", p->name);
			return false;
		}
	}
	if (!cn) {
		fprintf(f, "  INSERT INTO %s SELECT FROM generate_series(1, %d);\n", p->name, rows);
		return true;
	}
	fprintf(f, "  INSERT INTO %s (%s)\n  SELECT %s\n  FROM generate_series(1, %d) AS g;\n",
		p->name, cols, vals, rows);
	return true;
}

/* params: one entry per key column: the first varies with the round, the
 * others are the same every round. */
static bool write_params(FILE *f, const struct init_model *m, char *err, size_t errlen)
{
	fprintf(f, "params:\n");
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		enum init_kind k = c->kind;
		if (c->fk_parent >= 0) {
			const struct init_table *p = &m->parents[c->fk_parent];
			int pc = init_find_column(p, c->fk_column);
			if (pc >= 0)
				k = p->cols[pc].kind;
		}
		switch (k) {
		case KIND_INT:
			fprintf(f, "  - %s\n", i == 0 ? "round" : "1");
			break;
		case KIND_TEXT:
			fprintf(f, "  - %s\n", i == 0 ? "'k{round}'" : "{text: k1}");
			break;
		case KIND_UUID:
			if (i == 0)
				fprintf(f, "  - '00000000-0000-4000-8000-{round + %lld}'\n", UUID_BASE);
			else
				fprintf(f, "  - {text: 00000000-0000-4000-8000-%lld}\n", UUID_BASE + 1);
			break;
		default:
			snprintf(err, errlen,
				 "key column %s has type %s: pgrace init makes keys of integer, text and uuid "
				 "columns",
				 c->name, c->type);
			return false;
		}
	}
	return true;
}

static const char *const flow_names[] = {"check-then-insert", "where-not-exists", "on-conflict"};

static void write_flow(FILE *f, const struct init_model *m, enum init_flow flow,
		       const char *cols, const char *vals)
{
	fprintf(f, "flow:\n");
	switch (flow) {
	case FLOW_CHECK_THEN_INSERT:
		fprintf(f, "  # Check, then insert only when nothing was found.\n"
			   "  - sql: |\n      SELECT 1 FROM %s ",
			m->table.name);
		key_where(f, m);
		fprintf(f, "\n    skip_if_found: true\n  - sql: |\n      INSERT INTO %s (%s)\n      VALUES (%s)\n",
			m->table.name, cols, vals);
		break;
	case FLOW_WHERE_NOT_EXISTS:
		fprintf(f, "  # One statement: insert unless the key is there.\n"
			   "  - sql: |\n      INSERT INTO %s (%s)\n      SELECT %s\n"
			   "      WHERE NOT EXISTS (SELECT 1 FROM %s ",
			m->table.name, cols, vals, m->table.name);
		key_where(f, m);
		fprintf(f, ")\n");
		break;
	case FLOW_ON_CONFLICT:
		fprintf(f, "  # Insert, and let the unique key arbitrate (it needs the migration).\n"
			   "  - sql: |\n      INSERT INTO %s (%s)\n      VALUES (%s)\n      ON CONFLICT (",
			m->table.name, cols, vals);
		key_list(f, m, ", ");
		fprintf(f, ") DO NOTHING\n");
		break;
	}
}

static void write_phases(FILE *f, enum init_flow flow, const char *uq, const char *where)
{
	fprintf(f, "phases:\n");
	if (flow == FLOW_ON_CONFLICT) {
		fprintf(f,
			"  # Without a unique key on the columns ON CONFLICT has no arbiter: every\n"
			"  # attempt is refused (42P10) before it writes anything.\n"
			"  - name: before\n"
			"    race: {rounds: 3}\n"
			"    expect:\n"
			"      - outcomes.42P10 == attempts\n"
			"      - rows_per_key.max == 0\n\n"
			"  - name: precheck\n"
			"    steps:\n"
			"      - run: precheck\n"
			"        expect: [rows == 0]\n\n"
			"  - name: migrate\n"
			"    steps:\n"
			"      - migrate: up\n"
			"%s%s%s"
			"\n"
			"  # With it: one row, and every request succeeds (the losers insert nothing).\n"
			"  - name: after\n"
			"    race: {}\n"
			"    expect:\n"
			"      - rows_per_key.min == 1\n"
			"      - rows_per_key.max == 1\n"
			"      - rounds_with_duplicates == 0\n"
			"      - outcomes.ok == attempts\n\n"
			"  - name: downgrade\n"
			"    steps:\n"
			"      - migrate: down\n"
			"    race: {rounds: 3}\n"
			"    expect:\n"
			"      - outcomes.42P10 == attempts\n",
			where ? "      - check: unique " : "", where ? where : "",
			where ? "\n        expect: [rows == 1]\n" : "");
		return;
	}
	bool check = flow == FLOW_CHECK_THEN_INSERT;
	fprintf(f,
		"  # Alone, the flow is correct: one row per key.\n"
		"  - name: baseline\n"
		"    race: {workers: 1, rounds: 3}\n"
		"    expect:\n"
		"      - rows_per_key.min == 1\n"
		"      - rows_per_key.max == 1\n"
		"      - outcomes.ok == rounds\n\n"
		"  # Concurrently, it duplicates (held before COMMIT: every round, every worker).\n"
		"  - name: before\n"
		"    race: {}\n"
		"    must_reproduce: true\n"
		"    expect:\n"
		"      - rounds_with_duplicates >= 1\n"
		"      - hold: rounds_with_duplicates == rounds\n"
		"      - hold: rows_per_key.min == workers\n\n"
		"  # The pre-migration check finds the duplicates, the migration refuses to\n"
		"  # apply over them, the cleanup keeps the oldest row of each key.\n"
		"  - name: precheck\n"
		"    steps:\n"
		"      - run: precheck\n"
		"        expect: [rows >= 1]\n"
		"      - migrate: up\n"
		"        expect_error: \"23505\"\n"
		"        expect_message: could not create unique index\n"
		"      - run: cleanup\n"
		"        expect: [affected >= 1]\n"
		"      - run: precheck\n"
		"        expect: [rows == 0]\n\n"
		"  - name: migrate\n"
		"    steps:\n"
		"      - migrate: up\n"
		"%s%s%s"
		"\n"
		"  # One row per key; every other attempt meets the constraint.\n"
		"  - name: after\n"
		"    race: {}\n"
		"    expect:\n"
		"      - rows_per_key.min == 1\n"
		"      - rows_per_key.max == 1\n"
		"      - rounds_with_duplicates == 0\n"
		"      - attempts == outcomes.ok + %soutcomes.23505\n"
		"%s%s%s"
		"      - hold: outcomes.ok == rounds\n"
		"      - hold: outcomes.23505 == (workers - 1) * rounds\n\n"
		"  # After the downgrade the race is back.\n"
		"  - name: downgrade\n"
		"    steps:\n"
		"      - migrate: down\n"
		"    race: {}\n"
		"    must_reproduce: true\n"
		"    expect:\n"
		"      - rounds_with_duplicates >= 1\n",
		where ? "      - check: unique " : "", where ? where : "",
		where ? "\n        expect: [rows == 1]\n" : "", check ? "outcomes.skipped + " : "",
		uq ? "      - constraint." : "", uq ? uq : "", uq ? " == outcomes.23505\n" : "");
}

/* {command: '...', cwd: '...'} and a newline (YAML single quotes: '' is '). */
static void write_command(FILE *f, const char *cmd, const char *cwd)
{
	fprintf(f, "{command: '");
	for (const char *p = cmd; *p; p++)
		fprintf(f, *p == '\'' ? "''" : "%c", *p);
	fprintf(f, "'");
	if (cwd) {
		fprintf(f, ", cwd: '");
		for (const char *p = cwd; *p; p++)
			fprintf(f, *p == '\'' ? "''" : "%c", *p);
		fprintf(f, "'");
	}
	fprintf(f, "}\n");
}

bool init_write(FILE *f, const struct init_model *m, const struct init_opts *o, char *err,
		size_t errlen)
{
	char uq[64], cols[4096], vals[8192];
	const struct init_table *t = &m->table;
	int rows = o->seed_rows > 0 ? o->seed_rows : SEED_ROWS;
	init_constraint_name(m, uq, sizeof uq);
	if (!insert_parts(m, cols, sizeof cols, vals, sizeof vals, err, errlen))
		return false;
	/* Check everything that can fail before writing a line. */
	FILE *null = fopen("/dev/null", "w");
	if (!null) {
		snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
		return false;
	}
	bool ok = write_params(null, m, err, errlen);
	for (size_t i = 0; ok && i < m->n_parents; i++)
		ok = write_parent_seed(null, m, &m->parents[i], rows, err, errlen);
	fclose(null);
	if (!ok)
		return false;

	fprintf(f, "# Written by `pgrace init` from the catalog of %s.%s%s%s: a first gate for\n"
		   "# UNIQUE (",
		m->source_schema, t->name, o->dsn_note ? " on " : "", o->dsn_note ? o->dsn_note : "");
	key_list(f, m, ", ");
	fprintf(f, "), with the %s flow. Every run works in a sandbox schema\n"
		   "# of its own: the table's rows are never read or changed. Edit it freely:\n"
		   "# docs/scenario-format.md has every key.\n",
		flow_names[o->flow]);
	fprintf(f, "name: %s-unique\n", t->name[0] == '"' ? "table" : t->name);
	fprintf(f, "description: >-\n  %s flow on %s (", flow_names[o->flow], t->name);
	key_list(f, m, ", ");
	fprintf(f, ") duplicates under concurrency;\n  UNIQUE (");
	key_list(f, m, ", ");
	fprintf(f, ") closes the race.\n\n");

	if (o->schema_command) {
		fprintf(f, "# The schema, as your own tool makes it.\nschema: ");
		write_command(f, o->schema_command, o->command_cwd);
	} else {
		fprintf(f, "# The table as the catalog describes it");
		if (m->n_parents)
			fprintf(f, ", after the tables its foreign keys point at\n# (their own foreign keys left out)");
		fprintf(f, ".\nschema: |\n");
		for (size_t i = 0; i < m->n_types; i++)
			fprintf(f, "  %s;\n", m->types[i]);
		for (size_t i = 0; i < m->n_parents; i++)
			write_table(f, &m->parents[i], false);
		write_table(f, t, true);
	}
	fprintf(f, "\n");
	if (m->n_parents) {
		fprintf(f, "# Rows for the keys the rounds use (round numbers from 1).\nseed: |\n");
		for (size_t i = 0; i < m->n_parents; i++)
			write_parent_seed(f, m, &m->parents[i], rows, err, errlen);
		fprintf(f, "\n");
	}
	if (o->migrate_command) {
		fprintf(f, "# The fix, as your own tool applies and reverts it.\nmigration:\n  up: ");
		write_command(f, o->migrate_command, o->command_cwd);
		fprintf(f, "  down: ");
		write_command(f, o->downgrade_command, o->command_cwd);
		fprintf(f, "\n");
	} else {
		fprintf(f, "# The fix: a unique key on the columns (your own tool instead:\n"
			   "# migration: {up: {command: ...}, down: {command: ...}}).\n"
			   "migration:\n  up: ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (",
			t->name, uq);
		key_list(f, m, ", ");
		fprintf(f, ")\n  down: ALTER TABLE %s DROP CONSTRAINT %s\n\n", t->name, uq);
	}

	fprintf(f, "sql:\n  # The pre-migration check: keys with more than one row.\n  precheck: |\n    SELECT ");
	key_list(f, m, ", ");
	fprintf(f, ", count(*) FROM %s\n    GROUP BY ", t->name);
	key_list(f, m, ", ");
	fprintf(f, " HAVING count(*) > 1\n  # Keep the oldest row of each key.\n  cleanup: |\n"
		   "    DELETE FROM %s AS d USING %s AS keep\n    WHERE ",
		t->name, t->name);
	for (size_t i = 0; i < m->n_keys; i++) {
		const char *k = t->cols[m->keys[i]].name;
		fprintf(f, "d.%s = keep.%s AND ", k, k);
	}
	if (m->has_pk_column)
		fprintf(f, "d.%s > keep.%s\n\n", m->pk_column, m->pk_column);
	else
		fprintf(f, "d.ctid > keep.ctid\n\n");

	fprintf(f, "race:\n  workers: 8\n  rounds: 10\n  mode: hold\n  isolation: read committed\n\n");
	fprintf(f, "# The key a round races on, $1..$%zu: a fresh one each round.\n", m->n_keys);
	write_params(f, m, err, errlen);
	fprintf(f, "\n# Rows for one key after a round.\nrows: SELECT count(*) FROM %s ", t->name);
	key_where(f, m);
	fprintf(f, "\n\n");
	write_flow(f, m, o->flow, cols, vals);
	fprintf(f, "\n");
	/* With your own migration the constraint's name is what you say, or unknown. */
	if (o->migrate_command) {
		if (!o->constraint) {
			write_phases(f, o->flow, NULL, NULL);
			return true;
		}
		snprintf(uq, sizeof uq, "%s", o->constraint);
	}
	char where[1024];
	size_t wn = (size_t)snprintf(where, sizeof where, "%s on %s (", uq, t->name);
	for (size_t i = 0; i < m->n_keys && wn < sizeof where; i++)
		wn += (size_t)snprintf(where + wn, sizeof where - wn, "%s%s", i ? ", " : "",
				       t->cols[m->keys[i]].name);
	if (wn < sizeof where)
		snprintf(where + wn, sizeof where - wn, ")");
	write_phases(f, o->flow, uq, where);
	return true;
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
	char *tmp_path = NULL;
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
	/* Where the command runs: the scenario's folder is where it is written. */
	char here[4096];
	if ((o.schema_command || o.migrate_command) && output && strchr(output, '/') &&
	    getcwd(here, sizeof here))
		o.command_cwd = here;
	FILE *f = stdout;
	if (output) {
		size_t len = strlen(output) + 16;
		tmp_path = mem_calloc(len, 1);
		snprintf(tmp_path, len, "%s.tmp", output);
		f = fopen(tmp_path, "w");
		if (!f) {
			rc = init_error("cannot write %s: %s", tmp_path, strerror(errno));
			goto out;
		}
	}
	bool ok = init_write(f, &m, &o, err, sizeof err);
	if (output) {
		ok = (fclose(f) == 0) && ok;
		if (ok && rename(tmp_path, output) != 0) {
			rc = init_error("cannot write %s: %s", output, strerror(errno));
			unlink(tmp_path);
			goto out;
		}
		if (!ok)
			unlink(tmp_path);
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
	free(tmp_path);
	return rc;
}
