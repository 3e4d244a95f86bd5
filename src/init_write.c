/* init_write.c: `pgrace init`'s scenario writer (pure: a model in, text out).
 *
 * init_write() turns the model init_catalog.c read into a scenario: the
 * table's DDL after its foreign keys' parents, seed rows for those, the flow,
 * the migration and the phases. What the copy must leave out (a trigger, a
 * CHECK the made-up values would break, a DEFAULT calling a function of the
 * source schema) is left out and said so in the file's comments. The values
 * it makes up (keys, fillers, the INSERT lists, seeds, params) are
 * init_value.c's; it calls init_value.h and the C library, nothing else. */
#include "init.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "init_value.h"
#include "mem.h"

#define SEED_ROWS 20000

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


/* Does pgrace write column col of t (parent or table) with values of its
 * own making: the key, a foreign key's columns, a NOT NULL column without a
 * default, and the referenced columns of a parent? */
static bool written(const struct init_model *m, const struct init_table *t, int col)
{
	if (t == &m->table)
		return init_value_key_index(m, col) >= 0 || init_value_in_fk(m, col) || init_value_needed(&t->cols[col]);
	for (size_t i = 0; i < m->n_fks; i++)
		for (size_t j = 0; j < m->fks[i].n; j++)
			if (&m->parents[m->fks[i].parent] == t && m->fks[i].parent_cols[j] == col)
				return true;
	return init_value_needed(&t->cols[col]);
}

/* Why constraint k of t is left out of the copy, or NULL when it is copied:
 * a CHECK over a column pgrace writes (the rounds' keys 1, 2, 3..., made-up
 * values) could refuse every row, and one calling a function of the source
 * schema cannot be created (the function is not copied). */
/* The column, one pgrace writes, that CHECK constraint k of t is over; NULL
 * when k is no such CHECK. */
static const char *check_over_written(const struct init_model *m, const struct init_table *t, size_t k)
{
	const struct init_constraint *con = &t->constraints[k];
	if (con->type != 'c')
		return NULL;
	for (size_t i = 0; i < con->n_attnums; i++)
		for (size_t c = 0; c < t->n_cols; c++)
			if (t->cols[c].attnum == con->attnums[i] && written(m, t, (int)c))
				return t->cols[c].name;
	return NULL;
}

static const char *left_out_why(const struct init_model *m, const struct init_table *t, size_t k,
				const char **column)
{
	*column = NULL;
	if (t->constraints[k].own_function)
		return "it calls a function of the source schema, not copied";
	if ((*column = check_over_written(m, t, k)))
		return "a CHECK on a column whose values pgrace makes up";
	return NULL;
}

/* With the schema from a command: its CHECKs over columns pgrace writes,
 * dropped before the seed (the command made them; they would refuse the
 * rows). Returns how many. */
static size_t write_check_drops(FILE *f, const struct init_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i <= m->n_parents; i++) {
		const struct init_table *t = i < m->n_parents ? &m->parents[i] : &m->table;
		for (size_t k = 0; k < t->n_constraints; k++)
			if (t->constraints[k].name && check_over_written(m, t, k)) {
				fprintf(f, "  ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", t->name,
					t->constraints[k].name);
				n++;
			}
	}
	return n;
}

static void write_table(FILE *f, const struct init_model *m, const struct init_table *t,
			bool with_indexes)
{
	fprintf(f, "  CREATE TABLE %s (\n", t->name);
	size_t items = t->n_cols, k = 0;
	const char *col;
	for (size_t i = 0; i < t->n_constraints; i++)
		items += !left_out_why(m, t, i, &col);
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
		fprintf(f, "%s", k + 1 < items ? "," : "");
		if (c->serial_def)
			fprintf(f, "  -- DEFAULT %s in the source (a sequence not its own): an identity here",
				c->serial_def);
		else if (c->serial)
			fprintf(f, "  -- serial in the source");
		fprintf(f, "\n");
	}
	for (size_t i = 0; i < t->n_constraints; i++)
		if (!left_out_why(m, t, i, &col)) {
			fprintf(f, "      %s%s\n", t->constraints[i].def, k + 1 < items ? "," : "");
			k++;
		}
	fprintf(f, "  );\n");
	for (size_t i = 0; with_indexes && i < t->n_indexes; i++)
		fprintf(f, "  %s;\n", t->indexes[i]);
	if (t->rows_json) {
		fprintf(f, "  INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, '",
			t->name, t->name);
		for (const char *p = t->rows_json; *p; p++)
			fprintf(f, *p == '\'' ? "''" : "%c", *p);
		fprintf(f, "');\n");
	}
}

/* s on one comment line: a line break in a catalog text (a string in a
 * CHECK, a trigger's WHEN) would end the comment and start YAML. */
static void comment_text(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
}

/* What of t the copy leaves out, as comment lines: CHECKs, DEFAULTs,
 * triggers. Returns how many. */
static size_t write_left_out(FILE *f, const struct init_model *m, const struct init_table *t)
{
	size_t n = 0;
	const char *col;
	for (size_t i = 0; i < t->n_constraints; i++) {
		const char *why = left_out_why(m, t, i, &col);
		if (why) {
			fprintf(f, "#   left out: ");
			comment_text(f, t->constraints[i].def);
			fprintf(f, "\n#     (%s%s%s: %s)\n", t->name, col ? "." : "", col ? col : "",
				why);
			n++;
		}
	}
	for (size_t i = 0; i < t->n_cols; i++)
		if (t->cols[i].def_left_out) {
			fprintf(f, "#   left out: ");
			comment_text(f, t->cols[i].def_left_out);
			fprintf(f,
				"\n#     (%s.%s: it calls a function of the source schema, not copied; "
				"pgrace gives the column a value)\n",
				t->name, t->cols[i].name);
			n++;
		}
	for (size_t i = 0; i < t->n_indexes_left_out; i++) {
		char *def = mem_strdup(t->indexes_left_out[i]), *why = strchr(def, '\n');
		if (why)
			*why++ = '\0';
		fprintf(f, "#   left out: ");
		comment_text(f, def);
		fprintf(f, "\n#     (");
		comment_text(f, why ? why : "");
		fprintf(f, ")\n");
		free(def);
		n++;
	}
	for (size_t i = 0; i < t->n_triggers; i++) {
		fprintf(f, "#   left out: ");
		comment_text(f, t->triggers[i]);
		fprintf(f, "\n#     (a trigger: its function is not copied; rows go in without it)\n");
		n++;
	}
	return n;
}

/* WHERE k1 = $1::type AND k2 = $2::type */
static void key_where(FILE *f, const struct init_model *m)
{
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		fprintf(f, "%s%s = $%zu::%s", i ? " AND " : "WHERE ", c->name, i + 1, init_value_cast(c));
	}
}

static void key_list(FILE *f, const struct init_model *m, const char *sep)
{
	for (size_t i = 0; i < m->n_keys; i++)
		fprintf(f, "%s%s", i ? sep : "", m->table.cols[m->keys[i]].name);
}


static const char *const flow_names[] = {"check-then-insert", "where-not-exists", "on-conflict"};

static void write_flow(FILE *f, const struct init_model *m, enum init_flow flow, const char *cols,
		       const char *vals)
{
	fprintf(f, "flow:\n");
	switch (flow) {
	case FLOW_CHECK_THEN_INSERT:
		fprintf(f,
			"  # Check, then insert only when nothing was found.\n"
			"  - sql: |\n      SELECT 1 FROM %s ",
			m->table.name);
		key_where(f, m);
		fprintf(f, "\n    skip_if_found: true\n  - sql: |\n      INSERT INTO %s (%s)\n      VALUES (%s)\n",
			m->table.name, cols, vals);
		break;
	case FLOW_WHERE_NOT_EXISTS:
		fprintf(f,
			"  # One statement: insert unless the key is there.\n"
			"  - sql: |\n      INSERT INTO %s (%s)\n      SELECT %s\n"
			"      WHERE NOT EXISTS (SELECT 1 FROM %s ",
			m->table.name, cols, vals, m->table.name);
		key_where(f, m);
		fprintf(f, ")\n");
		break;
	case FLOW_ON_CONFLICT:
		fprintf(f,
			"  # Insert, and let the unique key arbitrate (it needs the migration).\n"
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

bool init_write(FILE *f, const struct init_model *m, const struct init_opts *o, char *err, size_t errlen)
{
	char uq[64], cols[4096], vals[8192];
	const struct init_table *t = &m->table;
	int rows = o->seed_rows > 0 ? o->seed_rows : SEED_ROWS;
	init_constraint_name(m, uq, sizeof uq);
	if (!init_value_insert_parts(m, cols, sizeof cols, vals, sizeof vals, err, errlen))
		return false;
	/* Check everything that can fail before writing a line. */
	FILE *null = fopen("/dev/null", "w");
	if (!null) {
		snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
		return false;
	}
	bool ok = init_value_params(null, m, err, errlen);
	for (size_t i = 0; ok && i < m->n_parents; i++)
		ok = init_value_parent_seed(null, m, &m->parents[i], rows, err, errlen);
	fclose(null);
	if (!ok)
		return false;

	fprintf(f,
		"# Written by `pgrace init` from the catalog of %s.%s%s%s: a first gate for\n"
		"# UNIQUE (",
		m->source_schema, t->name, o->dsn_note ? " on " : "", o->dsn_note ? o->dsn_note : "");
	key_list(f, m, ", ");
	fprintf(f,
		"), with the %s flow. Every run works in a sandbox schema\n"
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
			fprintf(f, ", after the tables its foreign keys point at\n# (their own foreign "
				   "keys left out)");
		fprintf(f, ".\n");
		FILE *null2 = fopen("/dev/null", "w");
		size_t n_left = 0;
		for (size_t i = 0; null2 && i <= m->n_parents; i++)
			n_left += write_left_out(null2, m, i < m->n_parents ? &m->parents[i] : t);
		if (null2)
			fclose(null2);
		if (n_left) {
			fprintf(f,
				"# Left out of the copy, as the race does not need them and they would\n"
				"# refuse the rows pgrace makes up or not be created in the sandbox\n"
				"# (put them back with values and functions that satisfy them):\n");
			for (size_t i = 0; i <= m->n_parents; i++)
				write_left_out(f, m, i < m->n_parents ? &m->parents[i] : t);
		}
		if (o->migrate_command && m->versions_read) {
			if (m->n_versions)
				fprintf(f,
					"# With the version table%s of your migration tool, rows "
					"included, so\n"
					"# that the migration command finds the version the table is "
					"at.\n",
					m->n_versions > 1 ? "s" : "");
			else
				fprintf(f,
					"# No version table of a known migration tool (alembic_version, "
					"...)\n"
					"# is in %s: if your migration command needs one, add it "
					"here.\n",
					m->source_schema);
		}
		fprintf(f, "schema: |\n");
		for (size_t i = 0; i < m->n_types; i++)
			fprintf(f, "  %s;\n", m->types[i]);
		for (size_t i = 0; i < m->n_parents; i++)
			write_table(f, m, &m->parents[i], false);
		write_table(f, m, t, true);
		for (size_t i = 0; i < m->n_versions; i++)
			write_table(f, m, &m->versions[i], false);
	}
	fprintf(f, "\n");
	FILE *null3 = o->schema_command ? fopen("/dev/null", "w") : NULL;
	size_t drops = null3 ? write_check_drops(null3, m) : 0;
	if (null3)
		fclose(null3);
	if (m->n_parents || drops) {
		if (drops)
			fprintf(f,
				"# The CHECKs of your schema over columns whose values pgrace makes up\n"
				"# (the rounds' keys 1, 2, 3..., made-up values) are dropped first: "
				"they\n"
				"# would refuse the rows, and the race does not need them.\n");
		if (m->n_parents)
			fprintf(f, "# Rows for the keys the rounds use (round numbers from 1).\n");
		fprintf(f, "seed: |\n");
		if (drops)
			write_check_drops(f, m);
		for (size_t i = 0; i < m->n_parents; i++)
			init_value_parent_seed(f, m, &m->parents[i], rows, err, errlen);
		fprintf(f, "\n");
	}
	if (o->migrate_command) {
		fprintf(f, "# The fix, as your own tool applies and reverts it.\nmigration:\n  up: ");
		write_command(f, o->migrate_command, o->command_cwd);
		fprintf(f, "  down: ");
		write_command(f, o->downgrade_command, o->command_cwd);
		fprintf(f, "\n");
	} else {
		fprintf(f,
			"# The fix: a unique key on the columns (your own tool instead:\n"
			"# migration: {up: {command: ...}, down: {command: ...}}).\n"
			"migration:\n  up: ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (",
			t->name, uq);
		key_list(f, m, ", ");
		fprintf(f, ")\n  down: ALTER TABLE %s DROP CONSTRAINT %s\n\n", t->name, uq);
	}

	fprintf(f, "sql:\n  # The pre-migration check: keys with more than one row.\n  precheck: |\n    "
		   "SELECT ");
	key_list(f, m, ", ");
	fprintf(f, ", count(*) FROM %s\n    GROUP BY ", t->name);
	key_list(f, m, ", ");
	fprintf(f,
		" HAVING count(*) > 1\n  # Keep the oldest row of each key.\n  cleanup: |\n"
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
	init_value_params(f, m, err, errlen);
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

