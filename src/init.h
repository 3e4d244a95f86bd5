/* init.h: `pgrace init`: a first scenario written from a live table.
 *
 * init_catalog() (init_catalog.c) reads, from the catalog only (never the
 * table's rows), the table's columns, types, defaults, NOT NULL,
 * constraints, indexes and triggers, and the tables its foreign keys point
 * at. init_write() (init_write.c) turns that model into a commented scenario
 * (schema, seed rows for the parents, the flow for the chosen pattern on the
 * key columns, the rows query, a migration adding UNIQUE (key columns), the
 * pre-migration check, a cleanup keeping the oldest row, and the standard
 * phases), leaving out and listing what would refuse its rows or could not
 * be made in the sandbox: pure, unit-tested without a database. init_main()
 * (init.c) is the subcommand: options, the two, the file. */
#ifndef PGRACE_INIT_H
#define PGRACE_INIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define INIT_MAX_KEYS 16

enum init_flow { FLOW_CHECK_THEN_INSERT, FLOW_WHERE_NOT_EXISTS, FLOW_ON_CONFLICT };

/* How a column's value is made when pgrace inserts a row. */
enum init_kind {
	KIND_INT,     /* smallint, integer, bigint, numeric */
	KIND_TEXT,    /* text, varchar, char, citext */
	KIND_UUID,
	KIND_BOOL,
	KIND_TIME,    /* timestamp, timestamptz, date, time */
	KIND_JSON,    /* json, jsonb */
	KIND_BYTES,   /* bytea */
	KIND_ENUM,    /* an enum of the table's schema: its first label */
	KIND_OTHER,   /* no literal known: the file says so */
};

struct init_column {
	char *name;
	char *type;     /* format_type(): "bigint", "character varying(80)" */
	char *cast_type; /* the type without its length ("character varying", "bpchar") for
			  * casts, which would cut a longer value short; NULL: type */
	int max_len;    /* n of varchar(n) / char(n), 0 when unbounded */
	int attnum;
	char *def;      /* DEFAULT expression, NULL when none */
	char *def_left_out; /* "DEFAULT ..." or "GENERATED ALWAYS AS (...) STORED" not copied: it
			     * calls a function of the source schema; the column gets a value */
	char *identity; /* "ALWAYS" / "BY DEFAULT", NULL when not an identity column */
	char *generated; /* GENERATED ALWAYS AS (...) expression, NULL when none */
	bool not_null;
	bool serial;    /* its default was nextval() of a sequence: written as an identity */
	char *serial_def; /* that default, when the sequence is not the column's own (shared) */
	bool unique;    /* in some UNIQUE or PRIMARY KEY constraint or unique index */
	enum init_kind kind;
	int fk_parent;  /* index into parents of the first foreign key's table, -1 */
	char *fk_column; /* the parent's column it references */
	char *enum_first; /* KIND_ENUM: its first label, quoted */
};

/* A constraint as pg_get_constraintdef() prints it, and what it touches. */
struct init_constraint {
	char *def;        /* "CONSTRAINT name <pg_get_constraintdef>" */
	char *name;       /* its name, quoted as quote_ident does (NULL: unknown) */
	char type;        /* contype: 'p', 'u', 'c', 'f', 'x' */
	int *attnums;     /* the columns it constrains (conkey) */
	size_t n_attnums;
	bool own_function; /* calls a function outside pg_catalog (not copied) */
};

/* A foreign key of the table under test into one of the parents. */
struct init_fk {
	int parent;       /* index into parents */
	size_t n;
	int *cols;        /* the table's column indexes */
	int *parent_cols; /* the parent's column indexes they reference */
};

/* A table: the one under test, or a parent an FK points at. */
struct init_table {
	char *name;
	struct init_column *cols;
	size_t n_cols;
	struct init_constraint *constraints;
	size_t n_constraints;
	char **indexes;      /* CREATE INDEX ... for indexes no constraint owns */
	size_t n_indexes;
	char **triggers;     /* CREATE TRIGGER ...: not copied, said in the file */
	size_t n_triggers;
	char **indexes_left_out; /* "CREATE INDEX ...\nwhy": calling a function of the source
				  * schema, or INVALID there */
	size_t n_indexes_left_out;
	char *rows_json;     /* a migration tool's version table: its rows (jsonb array) */
};

struct init_model {
	char *source_schema;        /* where the table lives */
	struct init_table table;
	int keys[INIT_MAX_KEYS];    /* column indexes of the key, in the order given */
	size_t n_keys;
	struct init_table *parents; /* FK targets (their own FKs left out) */
	size_t n_parents;
	struct init_fk *fks;        /* the table's foreign keys into parents */
	size_t n_fks;
	bool has_pk_column;         /* a one-column primary key orders "oldest" */
	char *pk_column;
	char **types;               /* CREATE TYPE ... AS ENUM for the enums the columns use */
	size_t n_types;
	bool versions_read;         /* init_catalog_versions() looked for version tables */
	struct init_table *versions; /* the version tables found, with their rows */
	size_t n_versions;
};

struct init_opts {
	enum init_flow flow;
	const char *schema_command;  /* schema: {command: ...} instead of the DDL */
	const char *migrate_command; /* migration.up as your command (then downgrade_command too) */
	const char *downgrade_command;
	const char *constraint;      /* the name your migration gives the constraint, or NULL */
	const char *command_cwd;     /* cwd: for the command, NULL: the file's folder */
	const char *dsn_note;        /* where the model came from, for the header comment */
	int seed_rows;               /* rows per parent (covers the rounds' keys) */
};

/* "check-then-insert", ...; false for an unknown name. */
bool init_flow_parse(const char *name, enum init_flow *out);
/* Reads table (optionally schema-qualified) with key columns keys[] from
 * the catalog into *m. False with err: exit 2 cases (no such table, an
 * unknown column, a key that is already unique by a valid unique index over
 * key columns only, partial or on expressions too) set *usage, database
 * errors do not. */
bool init_catalog(PGconn *c, const char *table, const char *const *keys, size_t n_keys,
		  struct init_model *m, bool *usage, char *err, size_t errlen);
/* With the migration as a command and the schema from the catalog: copies
 * the version tables of the usual migration tools (alembic_version,
 * flyway_schema_history, schema_migrations, ...) of m's source schema,
 * their rows included, into m, so that the command finds the database at
 * the version the live table is at. False with err on a database error. */
bool init_catalog_versions(PGconn *c, struct init_model *m, char *err, size_t errlen);
/* Frees what init_catalog allocated. */
void init_model_free(struct init_model *m);
/* The kind of a format_type() name. */
enum init_kind init_kind_of(const char *type);
/* The constraint name the migration adds: uq_<table>_<key>_..., at most 63 bytes. */
void init_constraint_name(const struct init_model *m, char *buf, size_t len);
/* Writes the scenario for m to f; false (err) when a column needs a value
 * pgrace cannot make (a NOT NULL column without a default of an unknown
 * type, a key column of such a type). */
bool init_write(FILE *f, const struct init_model *m, const struct init_opts *o, char *err,
		size_t errlen);
/* `pgrace init ...` (argv[0] = "init"); returns the exit code. */
int init_main(int argc, char **argv);

#endif
