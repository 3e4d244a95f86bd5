/* attempt.c: the rules of an attempt that every engine shares (attempt.h).
 *
 * Kept apart from the engines so that hold, fire and interleave cannot
 * disagree on what an answer means: they used to (an exclusion violation
 * counted for its constraint by one engine only; a rows query of the wrong
 * shape refused by one, read by the other). */
#include "attempt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outcome.h"

const char *attempt_constraint_label(const char *sqlstate, const char *constraint)
{
	if (!sqlstate || strncmp(sqlstate, "23", 2) != 0)
		return NULL;
	if (constraint && constraint[0])
		return constraint;
	return outcome_names_constraint(sqlstate) ? "(none)" : NULL;
}

bool attempt_rows_value(const struct db_result *res, long long *rows, const char **why)
{
	char *end = NULL;
	*why = NULL;
	errno = 0;
	if (res->columns == 0)
		*why = "no result set (it must be a query)";
	else if (res->rows != 1)
		*why = res->rows == 0 ? "no row" : "more than one row";
	else if (res->columns != 1)
		*why = "more than one column";
	else if (res->first_null)
		*why = "NULL";
	else if ((*rows = strtoll(res->first_value, &end, 10), errno || end == res->first_value ||
		  *end))
		*why = "a value that is not an integer";
	else if (*rows < 0)
		*why = "a negative count";
	return *why == NULL;
}
