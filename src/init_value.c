/* init_value.c: the values `pgrace init` makes up for a copied table: the
 * SQL of a key's and a filler column's value for a number, the flow's
 * INSERT columns, the parents' seed rows, the params: block.
 *
 * Pure, like init_write.c, which calls it through init_value.h: the model
 * init_catalog.c read in, text out. Values are cast without a length, so a
 * value too long for varchar(n) is an error instead of cut short into
 * another key. Calls nothing but the C library and mem.h. */
#include "init_value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define UUID_BASE 100000000000LL /* 12 digits: the last group of a key's uuid */

/* The type a value is cast to: without a length, so that a value too long
 * for varchar(n) is an error instead of cut short into another key. */
const char *init_value_cast(const struct init_column *c)
{
	return c->cast_type ? c->cast_type : c->type;
}

/* A text column too short for 'k' and a round number: its keys are the
 * digits alone. */
static bool short_text(const struct init_column *c)
{
	return c->kind == KIND_TEXT && c->max_len > 0 && c->max_len < 8;
}

/* The value number num makes for a key column like c, as SQL over the
 * integer expression num ("g", "1"). */
static void key_sql(const struct init_column *c, const char *num, char *buf, size_t len)
{
	if (c->kind == KIND_TEXT && short_text(c))
		snprintf(buf, len, "(%s)::text", num);
	else if (c->kind == KIND_TEXT)
		snprintf(buf, len, "'k' || %s", num);
	else if (c->kind == KIND_UUID)
		snprintf(buf, len, "('00000000-0000-4000-8000-' || (%s + %lld))::uuid", num, UUID_BASE);
	else
		snprintf(buf, len, "%s", num);
}

/* A value for a NOT NULL column without a default. unique: it must differ
 * row by row (num, when not NULL, numbers the row). */
static bool fill_sql(const struct init_column *c, bool unique, const char *num, char *buf, size_t len)
{
	bool tight = c->max_len > 0 && c->max_len < 40;
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
		if (unique && num && tight)
			snprintf(buf, len, "(%s)::text", num);
		else if (unique && num)
			snprintf(buf, len, "'%s-' || %s", c->name[0] == '"' ? "v" : c->name, num);
		else if (unique && tight)
			snprintf(buf, len, "left(md5(random()::text), %d)", c->max_len);
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
bool init_value_needed(const struct init_column *c)
{
	return c->not_null && !c->def && !c->identity && !c->generated;
}

int init_value_key_index(const struct init_model *m, int col)
{
	for (size_t j = 0; j < m->n_keys; j++)
		if (m->keys[j] == col)
			return (int)j;
	return -1;
}

/* The column whose values a column of the table takes: its foreign key's
 * parent column, else itself. */
const struct init_column *init_value_column(const struct init_model *m, int col)
{
	const struct init_column *c = &m->table.cols[col];
	for (size_t i = 0; i < m->n_fks; i++)
		for (size_t j = 0; j < m->fks[i].n; j++)
			if (m->fks[i].cols[j] == col)
				return &m->parents[m->fks[i].parent].cols[m->fks[i].parent_cols[j]];
	return c;
}

bool init_value_in_fk(const struct init_model *m, int col)
{
	return init_value_column(m, col) != &m->table.cols[col];
}

/* The columns the flow inserts (keys first, then those needing a value and
 * those of a foreign key) and their values. */
bool init_value_insert_parts(const struct init_model *m, char *cols, size_t clen, char *vals,
			     size_t vlen, char *err, size_t errlen)
{
	size_t cn = 0, vn = 0;
	cols[0] = vals[0] = '\0';
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		cn += (size_t)snprintf(cols + cn, clen - cn, "%s%s", i ? ", " : "", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, "%s$%zu::%s", i ? ", " : "", i + 1,
				       init_value_cast(c));
	}
	for (size_t i = 0; i < m->table.n_cols && cn < clen && vn < vlen; i++) {
		const struct init_column *c = &m->table.cols[i];
		if (init_value_key_index(m, (int)i) >= 0 || (!init_value_needed(c) && !init_value_in_fk(m, (int)i)))
			continue;
		char v[256];
		if (init_value_in_fk(m, (int)i)) {
			/* The parent's first row has it (init_value_parent_seed). */
			char k[128];
			key_sql(init_value_column(m, (int)i), "1", k, sizeof k);
			snprintf(v, sizeof v, "(%s)::%s", k, init_value_cast(c));
		} else if (!fill_sql(c, c->unique, NULL, v, sizeof v)) {
			snprintf(err, errlen,
				 "column %s (%s, NOT NULL, no default): pgrace init cannot make a value "
				 "of that "
				 "type; give it a default or edit the scenario by hand",
				 c->name, c->type);
			return false;
		}
		cn += (size_t)snprintf(cols + cn, clen - cn, ", %s", c->name);
		vn += (size_t)snprintf(vals + vn, vlen - vn, ", %s", v);
	}
	return true;
}

/* Row g's value of parent column pc when foreign key fk references it
 * (from its column j): a key that holds the round's key (the first key
 * column) pairs g there with the constants of the other columns; any other
 * key has g everywhere, so that row 1 holds the constants the flow inserts. */
static void fk_seed_sql(const struct init_model *m, const struct init_fk *fk, size_t j, char *buf,
			size_t len)
{
	const struct init_column *pc = &m->parents[fk->parent].cols[fk->parent_cols[j]];
	bool has_round = false;
	for (size_t x = 0; x < fk->n; x++)
		has_round = has_round || fk->cols[x] == m->keys[0];
	char k[128];
	key_sql(pc, has_round && fk->cols[j] != m->keys[0] ? "1" : "g", k, sizeof k);
	snprintf(buf, len, "(%s)::%s", k, init_value_cast(pc));
}

/* How many seed rows fit a parent's referenced short text columns. */
static int seed_rows_fit(const struct init_model *m, const struct init_table *p, int rows)
{
	for (size_t i = 0; i < m->n_fks; i++)
		for (size_t j = 0; j < m->fks[i].n; j++) {
			const struct init_column *pc =
				&m->parents[m->fks[i].parent].cols[m->fks[i].parent_cols[j]];
			if (&m->parents[m->fks[i].parent] != p || !short_text(pc))
				continue;
			long most = 1;
			for (int d = 0; d < pc->max_len; d++)
				most *= 10;
			if (most - 1 < rows)
				rows = (int)(most - 1);
		}
	return rows;
}

/* INSERT INTO parent (...) SELECT ... FROM generate_series(1, N) AS g */
bool init_value_parent_seed(FILE *f, const struct init_model *m, const struct init_table *p,
			    int rows, char *err, size_t errlen)
{
	char cols[2048] = "", vals[4096] = "";
	size_t cn = 0, vn = 0;
	rows = seed_rows_fit(m, p, rows);
	for (size_t i = 0; i < p->n_cols; i++) {
		const struct init_column *c = &p->cols[i];
		/* A column the table's foreign keys reference gets the keys' values. */
		char v[256] = "";
		for (size_t x = 0; x < m->n_fks; x++)
			for (size_t j = 0; j < m->fks[x].n; j++) {
				if (&m->parents[m->fks[x].parent] != p ||
				    m->fks[x].parent_cols[j] != (int)i)
					continue;
				char w[256];
				fk_seed_sql(m, &m->fks[x], j, w, sizeof w);
				if (v[0] && strcmp(v, w)) {
					snprintf(err, errlen,
						 "%s.%s: two foreign keys of %s need different values "
						 "in it; "
						 "write the seed by hand",
						 p->name, c->name, m->table.name);
					return false;
				}
				snprintf(v, sizeof v, "%s", w);
			}
		if (v[0]) {
			/* referenced */
		} else if (!init_value_needed(c)) {
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
	fprintf(f, "  INSERT INTO %s (%s)\n  SELECT %s\n  FROM generate_series(1, %d) AS g;\n", p->name,
		cols, vals, rows);
	return true;
}

/* params: one entry per key column: the first varies with the round, the
 * others are the same every round. */
bool init_value_params(FILE *f, const struct init_model *m, char *err, size_t errlen)
{
	fprintf(f, "params:\n");
	for (size_t i = 0; i < m->n_keys; i++) {
		const struct init_column *c = &m->table.cols[m->keys[i]];
		const struct init_column *v = init_value_column(m, m->keys[i]);
		bool tight = short_text(v);
		if (i == 0 && v->kind == KIND_TEXT && v->max_len > 0 && v->max_len < 2) {
			snprintf(err, errlen,
				 "key column %s is %s: too short for a distinct key each round (pgrace "
				 "init needs 2 characters or more)",
				 c->name, v->type);
			return false;
		}
		switch (v->kind) {
		case KIND_INT:
			fprintf(f, "  - %s\n", i == 0 ? "round" : "1");
			break;
		case KIND_TEXT:
			if (tight && i == 0) {
				long most = 1;
				for (int d = 0; d < v->max_len; d++)
					most *= 10;
				fprintf(f,
					"  # %s is %s: its keys are the round number alone, for runs of "
					"up\n"
					"  # to %ld rounds in all (a longer key is refused, 22001).\n",
					c->name, v->type, most - 1);
			}
			if (tight)
				fprintf(f, "  - %s\n", i == 0 ? "'{round}'" : "{text: '1'}");
			else
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
				 "key column %s has type %s: pgrace init makes keys of integer, text "
				 "and uuid "
				 "columns",
				 c->name, c->type);
			return false;
		}
	}
	return true;
}
