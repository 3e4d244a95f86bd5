/* metric.c: the table of metric and key-parameter names, and their checks. */
#include "metric.h"

#include <stdio.h>
#include <string.h>

#include "outcome.h"

static const struct metric_def table[] = {
	{"workers", METRIC_PHASE, M_WORKERS, false, NULL, "the phase's workers (after overrides)"},
	{"rounds", METRIC_PHASE, M_ROUNDS, false, NULL, "rounds the phase ran"},
	{"keys", METRIC_PHASE, M_KEYS, false, NULL, "distinct keys raced per round"},
	{"attempts", METRIC_PHASE, M_ATTEMPTS, false, NULL, "attempts made (workers x rounds)"},
	{"retries", METRIC_PHASE, M_RETRIES, false, NULL, "extra tries after 40001/40P01"},
	{"rounds_with_duplicates", METRIC_PHASE, M_ROUNDS_WITH_DUPLICATES, false, NULL,
	 "rounds where some key had more than one row"},
	{"extra_rows", METRIC_PHASE, M_EXTRA_ROWS, false, NULL,
	 "rows beyond each key's first, summed over every key of every round"},
	{"rows_per_key.min", METRIC_PHASE, M_ROWS_MIN, false, NULL,
	 "fewest rows of any key of any round"},
	{"rows_per_key.max", METRIC_PHASE, M_ROWS_MAX, false, NULL,
	 "most rows of any key of any round"},
	{"outcomes.", METRIC_PHASE, M_OUTCOMES, true, "outcomes.<ok|skipped|lost|SQLSTATE>",
	 "attempts by final outcome (absent = 0)"},
	{"constraint.", METRIC_PHASE, M_CONSTRAINT, true, "constraint.<name>",
	 "violations naming that constraint or index"},
	{"interleavings", METRIC_PHASE, M_INTERLEAVINGS, false, NULL,
	 "interleave: orders the phase ran (every one, or the sample)"},
	{"interleavings_with_duplicates", METRIC_PHASE, M_INTERLEAVINGS_WITH_DUPLICATES, false, NULL,
	 "interleave: orders that left more than one row for their key"},
	{"interleavings_not_executable", METRIC_PHASE, M_INTERLEAVINGS_NOT_EXECUTABLE, false, NULL,
	 "interleave: orders that asked a waiting worker for its next step"},
	{"app.exit_ok", METRIC_PHASE, M_APP_EXIT_OK, false, NULL,
	 "app flow: processes that exited with status 0"},
	{"app.exit_failed", METRIC_PHASE, M_APP_EXIT_FAILED, false, NULL,
	 "app flow: processes that exited with another status"},
	{"app.output_matched", METRIC_PHASE, M_APP_OUTPUT_MATCHED, false, NULL,
	 "app flow: processes whose stdout or stderr held expect_output"},
	{"rows", METRIC_STEP, M_STEP_ROWS, false, NULL, "rows returned by the step's last statement"},
	{"affected", METRIC_STEP, M_STEP_AFFECTED, false, NULL,
	 "rows its last statement inserted, updated or deleted"},
	{"retries", METRIC_STEP, M_STEP_RETRIES, false, NULL, "retries the step needed"},
	{"stall_ms", METRIC_STEP, M_STEP_STALL_MS, false, NULL,
	 "under_load: the writers' longest attempt while the step ran"},
	{"load_attempts", METRIC_STEP, M_STEP_LOAD_ATTEMPTS, false, NULL,
	 "under_load: the writers' attempts"},
	{"load_ok", METRIC_STEP, M_STEP_LOAD_OK, false, NULL,
	 "under_load: attempts that committed or skipped"},
	{"load_errors", METRIC_STEP, M_STEP_LOAD_ERRORS, false, NULL,
	 "under_load: attempts that ended in an error"},
	{"round", METRIC_PARAM, M_PARAM_ROUND, false, NULL,
	 "the round's number, counted over the whole run from 1 (keys never repeat)"},
	{"key", METRIC_PARAM, M_PARAM_KEY, false, NULL, "the key's index in its round, from 0"},
	{"phase_round", METRIC_PARAM, M_PARAM_PHASE_ROUND, false, NULL,
	 "the round's number within its phase, from 0"},
	{"worker", METRIC_PARAM, M_PARAM_WORKER, false, NULL,
	 "the worker sending the key, from 0 (rows and round_setup: 0)"},
};

#define TABLE_LEN (sizeof table / sizeof table[0])

/* Outcome labels that are not SQLSTATEs. */
static const char *const outcome_words[] = {"ok", "skipped", "lost"};

const struct metric_def *metric_table(size_t *n)
{
	*n = TABLE_LEN;
	return table;
}

const struct metric_def *metric_find(enum metric_scope scope, const char *name,
				     const char **suffix)
{
	for (size_t i = 0; i < TABLE_LEN; i++) {
		const struct metric_def *d = &table[i];
		if (d->scope != scope)
			continue;
		size_t len = strlen(d->name);
		if (d->family ? strncmp(name, d->name, len) == 0 : strcmp(name, d->name) == 0) {
			if (suffix)
				*suffix = name + (d->family ? len : strlen(name));
			return d;
		}
	}
	return NULL;
}

/* Levenshtein distance of a and b, capped: anything above cap is cap + 1. */
static size_t distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > cap ? cap + 1 : row[lb];
}

/* Keeps candidate in *best when it is closer to word than what is there. */
static void consider(const char *word, const char *candidate, const char **best, size_t *best_d)
{
	size_t d = distance(word, candidate, 2);
	if (d < *best_d) {
		*best_d = d;
		*best = candidate;
	}
}

static bool outcome_label_ok(const char *s)
{
	for (size_t i = 0; i < sizeof outcome_words / sizeof outcome_words[0]; i++)
		if (strcmp(s, outcome_words[i]) == 0)
			return true;
	return outcome_sqlstate_name(s) != NULL;
}

/* The closest valid outcome label to s, NULL when none is close. Condition
 * names count too: "unique_violation" suggests 23505. */
static const char *outcome_suggest(const char *s)
{
	const char *best = NULL;
	size_t best_d = 3, n;
	for (size_t i = 0; i < sizeof outcome_words / sizeof outcome_words[0]; i++)
		consider(s, outcome_words[i], &best, &best_d);
	const struct sqlstate_def *st = outcome_sqlstates(&n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, st[i].name) == 0)
			return st[i].code;
		consider(s, st[i].code, &best, &best_d);
	}
	return best;
}

bool metric_check(enum metric_scope scope, const char *name, char *err, size_t errlen)
{
	const char *suffix = NULL;
	const struct metric_def *d = metric_find(scope, name, &suffix);
	char known[512];
	if (d && d->id == M_OUTCOMES) {
		if (outcome_label_ok(suffix))
			return true;
		const char *hint = outcome_suggest(suffix);
		snprintf(err, errlen,
			 "unknown outcome \"%.64s\": expected ok, skipped, lost or a SQLSTATE PostgreSQL "
			 "defines (such as 23505)%s%s%s",
			 suffix, hint ? "; did you mean outcomes." : "", hint ? hint : "",
			 hint ? "?" : "");
		return false;
	}
	if (d && d->family && !*suffix) {
		snprintf(err, errlen, "\"%.64s\" needs a name after the dot (%s)", name,
			 d->shown ? d->shown : d->name);
		return false;
	}
	if (d)
		return true;
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < TABLE_LEN; i++)
		if (table[i].scope == scope && !table[i].family)
			consider(name, table[i].name, &best, &best_d);
	snprintf(err, errlen, "unknown %s \"%.64s\"%s%s%s (known: %s)",
		 scope == METRIC_PARAM ? "name" : "metric", name, best ? "; did you mean " : "",
		 best ? best : "", best ? "?" : "", metric_names(scope, known, sizeof known));
	return false;
}

const char *metric_names(enum metric_scope scope, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < TABLE_LEN && used < len; i++)
		if (table[i].scope == scope)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 table[i].shown ? table[i].shown : table[i].name);
	return buf;
}
