/* loader.c: the scenario loader's typed readers (see loader.h).
 *
 * Everything here turns one YAML node into one C value or refuses it with
 * "PATH:LINE: what": integers in bounds, booleans, one of a list of names,
 * strings, names fit for a terminal, SQL text (through sqlscan.h), commands
 * (argv, folder, shell, deadline), the keys of a mapping; and the file
 * itself, read whole and checked for NUL bytes and invalid UTF-8 before
 * libfyaml sees it. It knows no scenario key but those of a command. */
#include "loader.h"

#include "mem.h"
#include "sqlscan.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool loader_error(struct loader *L, int line, const char *fmt, ...)
{
	if (L->failed)
		return false;
	L->failed = true;
	int n = snprintf(L->err, L->errlen, "%s:%d: ", L->path, line);
	if (n < 0 || (size_t)n >= L->errlen)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* 1-based line where a node starts (for a collection: its first scalar). */
int loader_line(struct fy_node *n, int fallback)
{
	if (!n)
		return fallback;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR: {
		struct fy_token *t = fy_node_get_scalar_token(n);
		const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
		return m ? m->line + 1 : fallback;
	}
	case FYNT_MAPPING: {
		void *it = NULL;
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
		return p ? loader_line(fy_node_pair_key(p), fallback) : fallback;
	}
	case FYNT_SEQUENCE: {
		void *it = NULL;
		struct fy_node *item = fy_node_sequence_iterate(n, &it);
		return item ? loader_line(item, fallback) : fallback;
	}
	}
	return fallback;
}

static const char *type_name(struct fy_node *n)
{
	if (!n)
		return "nothing";
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		return "a scalar";
	case FYNT_SEQUENCE:
		return "a list";
	case FYNT_MAPPING:
		return "a mapping";
	}
	return "?";
}

bool loader_want_type(struct loader *L, struct fy_node *n, enum fy_node_type t, const char *key, int line)
{
	static const char *names[] = {"a scalar", "a list", "a mapping"};
	if (n && fy_node_is_alias(n))
		return loader_error(L, loader_line(n, line), "%s: YAML aliases are not supported", key);
	if (!n || fy_node_get_type(n) != t)
		return loader_error(L, loader_line(n, line), "%s: expected %s, got %s", key, names[t],
				    type_name(n));
	return true;
}

/* Scalar text of n (NUL-terminated by libfyaml), checked to be a scalar. */
const char *loader_scalar(struct loader *L, struct fy_node *n, const char *key, int line)
{
	if (!loader_want_type(L, n, FYNT_SCALAR, key, line))
		return NULL;
	const char *s = fy_node_get_scalar0(n);
	if (!s)
		loader_error(L, loader_line(n, line), "%s: unreadable scalar", key);
	return s;
}

bool loader_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

bool loader_string(struct loader *L, struct fy_node *n, const char *key, int line, char **out)
{
	const char *s = loader_scalar(L, n, key, line);
	if (!s)
		return false;
	if (loader_blank(s))
		return loader_error(L, line, "%s: must not be empty", key);
	*out = mem_strdup(s);
	return true;
}

/* A name or description: a string without control characters, C1 or bidi
 * controls (they would reach reports raw, and reorder what a reader sees). */
bool loader_name(struct loader *L, struct fy_node *n, const char *key, int line, char **out)
{
	if (!loader_string(L, n, key, line, out))
		return false;
	const unsigned char *u = (const unsigned char *)*out;
	for (size_t i = 0, len = strlen(*out), step; i < len; i += step) {
		step = text_utf8_len(u + i, len - i);
		uint32_t cp = step ? text_utf8_decode(u + i, step) : u[i];
		if (!step || text_is_control(cp)) {
			free(*out);
			*out = NULL;
			return cp < 0x80 || !step
				       ? loader_error(L, loader_line(n, line),
						      "%s: control character 0x%02X not allowed", key,
						      (unsigned)cp)
				       : loader_error(L, loader_line(n, line),
						      "%s: control character U+%04X not allowed", key,
						      (unsigned)cp);
		}
	}
	return true;
}

bool loader_sql(struct loader *L, struct fy_node *n, const char *key, int line, struct sql_text *out)
{
	out->line = loader_line(n, line);
	if (!loader_string(L, n, key, line, &out->sql))
		return false;
	out->nparams = sql_max_param(out->sql);
	/* pgrace sends no COPY data and keeps no COPY output. */
	const char *pos = out->sql;
	struct sql_stmt st;
	while (sql_next_stmt(out->sql, &pos, &st))
		if (sql_is_client_copy(&st))
			return loader_error(
				L, out->line + st.line,
				"%s: COPY from STDIN or to STDOUT is not supported (pgrace has no "
				"data to send and keeps no output); load data with INSERT ... SELECT",
				key);
	return true;
}

/* A flow step is one statement: several would run outside the barrier's
 * reasoning (and, sent as one string, could leave the sandbox). */
bool loader_one_statement(struct loader *L, const struct sql_text *t, const char *key)
{
	const char *pos = t->sql;
	struct sql_stmt st;
	if (!sql_next_stmt(t->sql, &pos, &st))
		return loader_error(L, t->line, "%s: no statement", key);
	if (sql_next_stmt(t->sql, &pos, &st))
		return loader_error(
			L, t->line + st.line,
			"%s: one statement per flow step, but a second one starts here (make it "
			"a flow step of its own)",
			key);
	return true;
}

bool loader_int(struct loader *L, struct fy_node *n, const char *key, int line, long lo, long hi,
		int *out)
{
	const char *s = loader_scalar(L, n, key, line);
	if (!s)
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		return loader_error(L, loader_line(n, line),
				    "%s: expected an integer from %ld to %ld, got \"%.40s\"", key, lo,
				    hi, s);
	*out = (int)v;
	return true;
}

bool loader_bool(struct loader *L, struct fy_node *n, const char *key, int line, bool *out)
{
	const char *s = loader_scalar(L, n, key, line);
	if (!s)
		return false;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
		*out = false;
		return true;
	}
	return loader_error(L, loader_line(n, line), "%s: expected true or false, got \"%.40s\"", key, s);
}

/* Picks one of names[]; returns its index or -1 (error set). */
int loader_enum(struct loader *L, struct fy_node *n, const char *key, int line, const char *const *names,
		size_t count)
{
	const char *s = loader_scalar(L, n, key, line);
	if (!s)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	char choices[256] = "";
	for (size_t i = 0; i < count; i++) {
		size_t len = strlen(choices);
		snprintf(choices + len, sizeof choices - len, "%s%s", i ? ", " : "", names[i]);
	}
	loader_error(L, loader_line(n, line), "%s: expected one of %s, got \"%.40s\"", key, choices, s);
	return -1;
}

bool loader_next_pair(struct loader *L, struct loader_map *mi, const char *const *allowed,
		      const char *where, const char **key, struct fy_node **value, int *line)
{
	struct fy_node_pair *p = fy_node_mapping_iterate(mi->map, &mi->it);
	if (!p)
		return false;
	struct fy_node *k = fy_node_pair_key(p);
	*value = fy_node_pair_value(p);
	*line = loader_line(k, loader_line(*value, 0));
	if (k && fy_node_is_alias(k)) { /* its text is the anchor's name, not a key */
		loader_error(L, *line, "%s: a YAML alias as a key is not supported", where);
		return false;
	}
	const char *ks = (k && fy_node_get_type(k) == FYNT_SCALAR) ? fy_node_get_scalar0(k) : NULL;
	if (!ks) {
		loader_error(L, *line, "%s: keys must be plain strings", where);
		return false;
	}
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(ks, allowed[i]) == 0) {
			*key = allowed[i];
			return true;
		}
	char choices[512] = "";
	for (size_t i = 0; allowed[i]; i++) {
		size_t len = strlen(choices);
		snprintf(choices + len, sizeof choices - len, "%s%s", i ? ", " : "", allowed[i]);
	}
	loader_error(L, *line, "%s: unknown key \"%.40s\" (expected one of: %s)", where, ks, choices);
	return false;
}

/* The scenario file's folder ("." when the path has none), malloc'd. */
static char *scenario_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return mem_strdup(".");
	if (slash == path)
		return mem_strdup("/");
	size_t n = (size_t)(slash - path);
	char *d = mem_calloc(n + 1, 1);
	memcpy(d, path, n);
	return d;
}

/* Fills cmd from its line, folder (relative to the scenario's), shell flag
 * and deadline; false with the error set. */
bool loader_command(struct loader *L, int line, const char *text, const char *cwd, bool shell,
		    int timeout_ms, struct command *cmd)
{
	char perr[256];
	cmd->line = mem_strdup(text);
	cmd->shell = shell;
	cmd->timeout_ms = timeout_ms ? timeout_ms : COMMAND_DEFAULT_TIMEOUT_MS;
	if (shell) {
		cmd->argv = mem_calloc(4, sizeof *cmd->argv);
		cmd->argv[0] = mem_strdup("/bin/sh");
		cmd->argv[1] = mem_strdup("-c");
		cmd->argv[2] = mem_strdup(text);
	} else if (!command_split(text, &cmd->argv, perr, sizeof perr)) {
		return loader_error(L, line, "command: %s", perr);
	}
	char *dir = scenario_dir(L->path);
	if (cwd && cwd[0] == '/') {
		cmd->cwd = mem_strdup(cwd);
	} else if (cwd) {
		size_t n = strlen(dir) + strlen(cwd) + 2;
		cmd->cwd = mem_calloc(n, 1);
		snprintf(cmd->cwd, n, "%s/%s", dir, cwd);
	} else {
		cmd->cwd = mem_strdup(dir);
	}
	free(dir);
	return true;
}

static const char *const command_keys[] = {"command", "cwd", "shell", "timeout_ms", NULL};

/* One of the command keys (cwd, shell, timeout_ms) into its field. */
bool loader_command_option(struct loader *L, const char *k, struct fy_node *v, int kl, const char **cwd,
			   bool *shell, int *timeout_ms)
{
	if (!strcmp(k, "cwd"))
		return (*cwd = loader_scalar(L, v, k, kl)) != NULL;
	if (!strcmp(k, "shell"))
		return loader_bool(L, v, k, kl, shell);
	return loader_int(L, v, k, kl, 100, 3600000, timeout_ms);
}

/* SQL text, or {command: LINE, cwd: DIR, shell: BOOL, timeout_ms: N}. */
bool loader_sql_or_command(struct loader *L, struct fy_node *n, const char *key, int line,
			   struct sql_text *out)
{
	if (!n || fy_node_get_type(n) != FYNT_MAPPING || fy_node_is_alias(n))
		return loader_sql(L, n, key, line, out);
	out->line = loader_line(n, line);
	const char *text = NULL, *cwd = NULL;
	bool shell = false;
	int timeout_ms = 0, text_line = out->line;
	struct loader_map mi = {.map = n};
	const char *k;
	struct fy_node *v;
	int kl;
	while (loader_next_pair(L, &mi, command_keys, key, &k, &v, &kl)) {
		if (!strcmp(k, "command")) {
			if (!(text = loader_scalar(L, v, k, kl)))
				return false;
			text_line = kl;
		} else if (!loader_command_option(L, k, v, kl, &cwd, &shell, &timeout_ms)) {
			return false;
		}
	}
	if (L->failed)
		return false;
	if (!text)
		return loader_error(L, out->line,
				    "%s: a mapping here names a command: missing key \"command\"", key);
	out->command = mem_calloc(1, sizeof *out->command);
	return loader_command(L, text_line, text, cwd, shell, timeout_ms, out->command);
}

void loader_text_free(struct sql_text *t)
{
	free(t->sql);
	if (t->command) {
		command_free(t->command);
		free(t->command);
	}
}

/* Reads the file, refusing what is too big, binary or not UTF-8. */
char *loader_read_file(struct loader *L, size_t *len)
{
	char *buf = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
	 * refused as not a regular file. */
	int fd = open(L->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
	if (!f) {
		loader_error(L, 0, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		loader_error(L, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > LOADER_MAX_FILE_BYTES) {
		loader_error(L, 0, "file is %lld bytes, more than the %d a scenario may have",
			     (long long)st.st_size, LOADER_MAX_FILE_BYTES);
		goto out;
	}
	buf = mem_calloc((size_t)st.st_size + 1, 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		loader_error(L, 0, "read error: %s", strerror(errno));
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/* NUL bytes and invalid UTF-8, reported with their line. */
bool loader_check_text(struct loader *L, const unsigned char *s, size_t len)
{
	int line = 1;
	for (size_t i = 0; i < len;) {
		if (s[i] == '\n')
			line++;
		if (s[i] == 0)
			return loader_error(L, line, "NUL byte: not a text file");
		size_t n = text_utf8_len(s + i, len - i);
		if (n == 0)
			return loader_error(L, line, "invalid UTF-8 (byte 0x%02X)", s[i]);
		i += n;
	}
	return true;
}
