/* test_db.c: the pure parts of db.h (no server): password masking.
 *
 * The masked argv is what `ps` shows. Before the mask used libpq's own
 * parser, the two cases marked "leaked" showed the password, or part of it
 * (this test failed on them). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "db.h"

static const struct {
	const char *dsn;
	const char *secret; /* parts of the password that must not survive */
	const char *masked; /* the exact result, or NULL to check only the secret */
} cases[] = {
	{"postgresql://ann:s3cret@localhost/db", "s3cret", "postgresql://ann:xxxxxx@localhost/db"},
	{"host=localhost password=s3cret dbname=db", "s3cret",
	 "host=localhost password=xxxxxx dbname=db"},
	{"host=localhost password = s3cret", "s3cret", NULL}, /* the blank after = may go too */
	/* leaked: a percent-encoded key name */
	{"postgresql://localhost/db?pass%77ord=s3cret", "s3cret",
	 "postgresql://localhost/db?pass%77ord=xxxxxx"},
	/* a percent-encoded value: every byte of its escapes */
	{"postgresql://localhost/db?password=s%33cr%45t", "cr", "postgresql://localhost/db?password=xxxxxxxxxx"},
	/* a quoted value with an escaped space ("ab cd"); leaked: an unquoted one */
	{"host=localhost password='ab\\ cd' dbname=db", "cd", NULL},
	{"host=localhost password=ab\\ cdef dbname=db", "cdef", NULL},
	/* a password given twice: libpq uses the last, both are secret */
	{"password=first1 host=localhost password=second2", "first1", NULL},
	{"postgresql://ann:one111@localhost/db?password=two222", "one111", NULL},
	{"postgresql://ann:one111@localhost/db?password=two222", "two222", NULL},
	/* the whole password, escapes included (before: %40's 4, %2F's 2 and the
	 * conninfo escapes' backslashes showed the password's shape) */
	{"postgresql://ann:a%40b%2Fc@localhost/db", "%", "postgresql://ann:xxxxxxxxx@localhost/db"},
	{"postgresql://ann:p%40ss@localhost/db", "4", "postgresql://ann:xxxxxx@localhost/db"},
	{"host=localhost password='a\\\\b\\'c' dbname=db", "\\",
	 "host=localhost password=xxxxxxxx' dbname=db"},
	{"host=localhost password=a\\ b\\\\ dbname=db", "\\", "host=localhost password=xxxxxx dbname=db"},
	/* nothing to mask */
	{"host=localhost dbname=passwords", "passwords", NULL},
};

Test(db, mask_password)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s", cases[i].dsn);
		db_mask_password(buf);
		cr_expect_eq(strlen(buf), strlen(cases[i].dsn), "length changed: %s", buf);
		if (cases[i].masked)
			cr_expect_str_eq(buf, cases[i].masked, "masking \"%s\": \"%s\"", cases[i].dsn, buf);
		else if (strcmp(cases[i].secret, "passwords"))
			cr_expect(!strstr(buf, cases[i].secret), "\"%s\" masked as \"%s\" shows \"%s\"",
				  cases[i].dsn, buf, cases[i].secret);
		else
			cr_expect_str_eq(buf, cases[i].dsn, "masked without a password: %s", buf);
	}
}
