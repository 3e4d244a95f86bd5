/* loader.h: the scenario loader's internals, shared by scenario.c,
 * scenario_phase.c, scenario_race.c and scenario_server.c (not part of pgrace's public face:
 * include scenario.h for that).
 *
 * A struct loader carries the file's path and the caller's error buffer;
 * every reader takes the YAML node, the key it is under and the line to
 * blame, and on a bad value writes "PATH:LINE: what" once (the first error
 * wins) and returns false (or -1, NULL). */
#ifndef PGRACE_LOADER_H
#define PGRACE_LOADER_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"

#define LOADER_MAX_FILE_BYTES (1024 * 1024) /* a scenario file's size limit */

struct loader {
	const char *path;
	char *err;
	size_t errlen;
	bool failed;
};

/* Iterates a mapping: {.map = node}, then loader_next_pair() until false. */
struct loader_map {
	void *it;
	struct fy_node *map;
};

/* Sets "PATH:LINE: message" unless an error is set already; returns false. */
__attribute__((format(printf, 3, 4))) bool loader_error(struct loader *L, int line, const char *fmt, ...);
/* 1-based line where a node starts (for a collection: its first scalar);
 * fallback for NULL or a node without a position. */
int loader_line(struct fy_node *n, int fallback);
/* n is of type t, else an error naming key and what n is. */
bool loader_want_type(struct loader *L, struct fy_node *n, enum fy_node_type t, const char *key,
		      int line);
/* Scalar text of n (NUL-terminated by libfyaml), or NULL with an error. */
const char *loader_scalar(struct loader *L, struct fy_node *n, const char *key, int line);
/* s is NULL or only white space. */
bool loader_blank(const char *s);
/* A non-empty string into *out (malloc'd). */
bool loader_string(struct loader *L, struct fy_node *n, const char *key, int line, char **out);
/* A name or description: a string without control characters, C1 or bidi
 * controls (they would rewrite a terminal line), malloc'd into *out. */
bool loader_name(struct loader *L, struct fy_node *n, const char *key, int line, char **out);
/* SQL text into out (its line, its highest $n); COPY FROM STDIN / TO STDOUT
 * refused. */
bool loader_sql(struct loader *L, struct fy_node *n, const char *key, int line, struct sql_text *out);
/* t is exactly one statement (a flow step). */
bool loader_one_statement(struct loader *L, const struct sql_text *t, const char *key);
/* An integer from lo to hi into *out. */
bool loader_int(struct loader *L, struct fy_node *n, const char *key, int line, long lo, long hi,
		int *out);
/* true/yes or false/no into *out. */
bool loader_bool(struct loader *L, struct fy_node *n, const char *key, int line, bool *out);
/* The index of n's text among names[0..count-1], or -1 with an error listing them. */
int loader_enum(struct loader *L, struct fy_node *n, const char *key, int line, const char *const *names,
		size_t count);
/* The next pair of mi's mapping: its key (one of allowed[], NULL-ended;
 * another is an error naming where and the choices), value and line. */
bool loader_next_pair(struct loader *L, struct loader_map *mi, const char *const *allowed,
		      const char *where, const char **key, struct fy_node **value, int *line);
/* SQL text, or {command: LINE, cwd: DIR, shell: BOOL, timeout_ms: N} (cwd
 * relative to the scenario's folder). */
bool loader_sql_or_command(struct loader *L, struct fy_node *n, const char *key, int line,
			   struct sql_text *out);
/* Fills cmd from its line, folder (relative to the scenario's), shell flag
 * and deadline; an error names line when the line does not split. */
bool loader_command(struct loader *L, int line, const char *text, const char *cwd, bool shell,
		    int timeout_ms, struct command *cmd);
/* One of the command keys (cwd, shell, timeout_ms) k with value v into its field. */
bool loader_command_option(struct loader *L, const char *k, struct fy_node *v, int kl, const char **cwd,
			   bool *shell, int *timeout_ms);
/* Frees what t owns (not t). */
void loader_text_free(struct sql_text *t);
/* The whole file at L->path (malloc'd, NUL-terminated, length in *len),
 * refusing what is too big or not a regular file. */
char *loader_read_file(struct loader *L, size_t *len);
/* No NUL bytes, valid UTF-8; else an error naming the line. */
bool loader_check_text(struct loader *L, const unsigned char *s, size_t len);

/* scenario_phase.c */

/* phases: a non-empty list of phases with unique names, each with its steps,
 * race and expectations, into sc->phases. */
bool scenario_parse_phases(struct loader *L, struct fy_node *n, int line, struct scenario *sc);
/* SQL sent the key as $1..$n uses no more parameters than sc's params give. */
bool scenario_params_fit(struct loader *L, const struct sql_text *t, const char *what,
			 const struct scenario *sc);

/* scenario_race.c */

/* A race: map (where is RACE_IN_SCENARIO or RACE_IN_PHASE) into *r, with
 * the set bits of the keys it names; `race:` with nothing is all defaults. */
bool scenario_race_parse(struct loader *L, struct fy_node *n, int line, struct race_cfg *r,
			 unsigned where);
/* Every setting r does not set, at its default (set bits unchanged). */
void scenario_race_defaults(struct race_cfg *r);
/* The checks ph's race settings imply: interleave's limits and orders,
 * autocommit's refusals. */
bool scenario_race_check(struct loader *L, const struct scenario *sc, const struct phase *ph);

/* scenario_server.c */

/* check: invalid_indexes | amcheck | constraint NAME | unique NAME on TABLE (cols) */
bool scenario_parse_check(struct loader *L, struct fy_node *n, int line, struct step *st);
/* requires: {server_version: N, extensions: [...]} */
bool scenario_parse_requires(struct loader *L, struct fy_node *n, int line, struct requirements *rq);
/* targets: [NAME, ...], the first the --dsn server */
bool scenario_parse_targets(struct loader *L, struct fy_node *n, int line, struct scenario *sc);
/* Each flow step's on: names one of the targets. */
bool scenario_resolve_targets(struct loader *L, struct scenario *sc);

#endif
