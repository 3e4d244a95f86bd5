/* init_value.h: the values `pgrace init` makes up, as init_write.c asks for
 * them (init_value.c; not part of pgrace's public face: init.h is).
 *
 * Every function is pure: the model init_catalog.c read in, SQL text or a
 * yes/no out. Writers return false with the reason in err when a value
 * cannot be made (err names the column). */
#ifndef PGRACE_INIT_VALUE_H
#define PGRACE_INIT_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "init.h"

/* The type a value of c is cast to, without a length ("text" for varchar(n)). */
const char *init_value_cast(const struct init_column *c);
/* Does the row pgrace inserts need a value for c (NOT NULL, no default, identity or generation)? */
bool init_value_needed(const struct init_column *c);
/* col's place among m's key columns, or -1 when it is not one. */
int init_value_key_index(const struct init_model *m, int col);
/* The column whose values table column col takes: its foreign key's parent column, else itself. */
const struct init_column *init_value_column(const struct init_model *m, int col);
/* Is table column col part of a foreign key (its values the parent's)? */
bool init_value_in_fk(const struct init_model *m, int col);
/* The flow's INSERT column list and VALUES list (keys first, then the columns needing a
 * value and those of a foreign key); false with err when a column's type has no made-up value. */
bool init_value_insert_parts(const struct init_model *m, char *cols, size_t clen, char *vals,
			     size_t vlen, char *err, size_t errlen);
/* Writes parent p's seed, INSERT ... SELECT FROM generate_series(1, rows) (rows cut to what
 * p's referenced short text columns can hold); false with err when two foreign keys want
 * different values in one column. */
bool init_value_parent_seed(FILE *f, const struct init_model *m, const struct init_table *p,
			    int rows, char *err, size_t errlen);
/* Writes the params: block, one entry per key column (the first varies with the round); false with err. */
bool init_value_params(FILE *f, const struct init_model *m, char *err, size_t errlen);

#endif
