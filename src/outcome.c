/* outcome.c: SQLSTATE classification and outcome tables. */
#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sqlstate_def sqlstates[] = {
#include "sqlstates.inc"
};

enum outcome_class outcome_classify(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return OC_LOST;
	if (strcmp(sqlstate, "23505") == 0)
		return OC_UNIQUE_VIOLATION;
	if (strcmp(sqlstate, "40001") == 0)
		return OC_SERIALIZATION;
	if (strcmp(sqlstate, "40P01") == 0)
		return OC_DEADLOCK;
	return OC_OTHER_ERROR;
}

bool outcome_retryable(const char *sqlstate)
{
	enum outcome_class c = outcome_classify(sqlstate);
	return c == OC_SERIALIZATION || c == OC_DEADLOCK;
}

const struct sqlstate_def *outcome_sqlstates(size_t *n)
{
	*n = sizeof sqlstates / sizeof sqlstates[0];
	return sqlstates;
}

static int sqlstate_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sqlstate_def *)elem)->code);
}

const char *outcome_sqlstate_name(const char *code)
{
	if (!code || strlen(code) != 5)
		return NULL;
	const struct sqlstate_def *d = bsearch(code, sqlstates, sizeof sqlstates / sizeof sqlstates[0],
					       sizeof sqlstates[0], sqlstate_cmp);
	return d ? d->name : NULL;
}

bool outcome_names_constraint(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "23505") == 0 || strcmp(sqlstate, "23P01") == 0);
}

static long long *slot(struct outcome_table *t, const char *label, bool create)
{
	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->label[i], label, sizeof t->label[i] - 1) == 0)
			return &t->count[i];
	if (!create)
		return NULL;
	if (t->n >= OUTCOME_SLOTS - 1 && strcmp(label, "other") != 0)
		return slot(t, "other", true);
	size_t i = t->n++;
	strncpy(t->label[i], label, sizeof t->label[i] - 1);
	t->label[i][sizeof t->label[i] - 1] = '\0';
	t->count[i] = 0;
	t->sample[i][0] = '\0';
	t->line[i] = 0;
	return &t->count[i];
}

void outcome_clear(struct outcome_table *t)
{
	t->n = 0;
}

void outcome_add(struct outcome_table *t, const char *label, long long delta)
{
	*slot(t, label, true) += delta;
}

long long outcome_get(const struct outcome_table *t, const char *label)
{
	long long *c = slot((struct outcome_table *)t, label, false);
	return c ? *c : 0;
}

void outcome_note(struct outcome_table *t, const char *label, const char *msg, int line)
{
	long long *c = slot(t, label, true);
	size_t i = (size_t)(c - t->count);
	if (!t->sample[i][0] && msg) {
		snprintf(t->sample[i], sizeof t->sample[i], "%s", msg);
		t->line[i] = line;
	}
}

const char *outcome_sample(const struct outcome_table *t, const char *label)
{
	long long *c = slot((struct outcome_table *)t, label, false);
	return c ? t->sample[c - t->count] : "";
}

void outcome_merge(struct outcome_table *dst, const struct outcome_table *src)
{
	for (size_t i = 0; i < src->n; i++) {
		outcome_add(dst, src->label[i], src->count[i]);
		if (src->sample[i][0])
			outcome_note(dst, src->label[i], src->sample[i], src->line[i]);
	}
}

long long outcome_total(const struct outcome_table *t)
{
	long long sum = 0;
	for (size_t i = 0; i < t->n; i++)
		sum += t->count[i];
	return sum;
}
