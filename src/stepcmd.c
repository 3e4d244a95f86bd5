/* stepcmd.c: a scenario's command run as a step (stepcmd.h): in the
 * sandbox, its end read as a query's result, the catalog outside the
 * sandbox compared before and after. */
#include "stepcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outside.h"
#include "stats.h"

extern char **environ;

static bool command_outcome(const struct command *cmd, struct command_result *cr, struct db_result *r);

bool stepcmd_run(PGconn *admin, const char *schema, const struct command *cmd, struct command_result *cr,
		 struct db_result *r, bool *touched_outside)
{
	struct outside_snap before, after;
	memset(r, 0, sizeof *r);
	*touched_outside = false;
	memset(cr, 0, sizeof *cr);
	if (!outside_snapshot(admin, 0, &before, r)) {
		char text[600];
		snprintf(r->message, sizeof r->message, "cannot read the catalog before the command: %s",
			 db_result_text(r, text, sizeof text));
		if (r->status == DB_ERROR) /* the database's fault, never the scenario's */
			r->status = DB_LOST;
		return true;
	}
	char **env = command_env(environ, admin, schema);
	command_run(cmd->argv, cmd->cwd, env, clock_us() + (uint64_t)cmd->timeout_ms * 1000u, cr);
	command_argv_free(env);
	bool started = command_outcome(cmd, cr, r);
	struct db_result ar;
	if (!outside_snapshot(admin, 0, &after, &ar)) {
		outside_free(&before);
		if (r->status == DB_OK || r->status == DB_ERROR) {
			char text[600];
			*r = ar;
			snprintf(r->message, sizeof r->message,
				 "cannot read the catalog after the command: %s",
				 db_result_text(&ar, text, sizeof text));
			if (r->status == DB_ERROR)
				r->status = DB_LOST;
		}
		return started;
	}
	char changed[400];
	if (outside_diff(&before, &after, changed, sizeof changed)) {
		char said[sizeof r->message];
		snprintf(said, sizeof said, "%s", r->status == DB_OK ? "" : r->message);
		r->status = DB_ERROR;
		r->sqlstate[0] = '\0';
		snprintf(r->message, sizeof r->message,
			 "changed the database outside the sandbox: %s%s%s", changed,
			 said[0] ? "; " : "", said);
		*touched_outside = true;
	}
	outside_free(&before);
	outside_free(&after);
	return started;
}

/* What a finished command means as a query result. */
static bool command_outcome(const struct command *cmd, struct command_result *cr, struct db_result *r)
{
	switch (cr->status) {
	case CMD_OK:
		r->status = DB_OK;
		return true;
	case CMD_SPAWN_ERROR:
		r->status = DB_ERROR;
		snprintf(r->message, sizeof r->message, "%s", cr->why);
		return false;
	case CMD_TIMEOUT:
		r->status = DB_TIMEOUT;
		snprintf(r->message, sizeof r->message, "command \"%.200s\" %s", cmd->line, cr->why);
		return true;
	case CMD_INTERRUPTED:
		r->status = DB_INTERRUPTED;
		snprintf(r->message, sizeof r->message, "command \"%.200s\" interrupted: killed",
			 cmd->line);
		return true;
	case CMD_FAILED:
		break;
	}
	r->status = DB_ERROR;
	command_sqlstate(cr->err, r->sqlstate);
	if (!r->sqlstate[0])
		command_sqlstate(cr->out, r->sqlstate);
	/* The last lines of stderr (else stdout), on one line. */
	const char *said = command_last_lines(cr->err[0] ? cr->err : cr->out, 6);
	char ended[96];
	int n = snprintf(r->message, sizeof r->message, "command \"%.80s\" %s%s", cmd->line,
			 command_end_text(cr, cmd->shell, ended, sizeof ended), *said ? ":" : "");
	bool line_start = true;
	for (const char *c = said; *c && n >= 0 && (size_t)n + 4 < sizeof r->message; c++) {
		if (*c == '\n' || *c == '\r') {
			line_start = true;
			continue;
		}
		if (line_start) /* lines joined by " | ", blank ones dropped */
			n += snprintf(r->message + n, sizeof r->message - (size_t)n, "%s",
				      n && r->message[n - 1] == ':' ? " " : " | ");
		line_start = false;
		r->message[n++] = *c;
	}
	if (n >= 0 && (size_t)n < sizeof r->message)
		r->message[n] = '\0';
	return true;
}
