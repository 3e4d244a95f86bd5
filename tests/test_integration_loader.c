/* test_integration_loader.c: what the real binary says about the files and
 * text it is given: refused inputs (exit 2, file:line, what), built-in
 * catalog checks against a real PostgreSQL, and output that stays safe for a
 * terminal whatever the file, the names or the server put in it.
 *
 * Each test names the defect it guards against and what the code before the
 * fix did. Helpers are in harness.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

#define BAD PGRACE_TEST_DATA "/bad/"

TestSuite(loader, .init = scratch_init, .fini = scratch_fini);

/* ---- long expressions (issue 9, item 9) ---- */

/* An expectation of 300,000 terms: before, `pgrace check` died of a stack
 * overflow (SIGSEGV, exit 139) in parse, evaluation or free. */
Test(loader, huge_expression_is_refused_by_check, .timeout = 120)
{
	size_t len = 0;
	char *base = read_file(BAD "expect-too-long.yaml", &len);
	cr_assert_not_null(base);
	const char *from = "rows_per_key.max == 1+1+";
	size_t terms = 300000, need = strlen(base) + 2 * terms + 64;
	char *text = malloc(need), *at = strstr(base, from);
	cr_assert_not_null(text);
	cr_assert_not_null(at, "expect-too-long.yaml no longer has \"%s\"", from);
	size_t head = (size_t)(at - base) + strlen("rows_per_key.max == ");
	memcpy(text, base, head);
	char *p = text + head;
	for (size_t i = 0; i < terms; i++) {
		if (i)
			*p++ = '+';
		*p++ = '1';
	}
	const char *tail = strchr(at, '\n');
	size_t tl = tail ? strlen(tail) : 0;
	memcpy(p, tail ? tail : "", tl);
	p += tl;
	const char *path = spath("huge-expression.yaml");
	write_file(path, text, (size_t)(p - text));
	free(text);
	free(base);

	struct proc pr;
	int code = run_pgrace(ARGS("check", path), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(names_exact_line(pr.err, path, 37), "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "expression too long or nested too deeply"), "%s", proc_said(&pr));
	proc_free(&pr);
}

/* A key parameter of 6,000 terms: before, the file loaded and a --duration
 * run evaluated it on a worker's 256 KiB stack, which overflowed (SIGSEGV,
 * exit 139). Now the run is refused before it connects. */
Test(loader, long_key_parameter_is_refused_before_a_run, .timeout = 120)
{
	const char *path = BAD "params-too-long.yaml";
	struct proc pr;
	int code = run_pgrace(ARGS("run", path, "--duration", "1", "-q"), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(names_exact_line(pr.err, path, 15), "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "params: expression too long"), "%s", proc_said(&pr));
	proc_free(&pr);
}

/* ---- minor defects (issue 9, item 19) ---- */

/* -9223372036854775808 in an expectation: before, `pgrace check` refused it
 * (exit 2, "number out of range"). */
Test(loader, least_integer_is_a_number, .timeout = 120)
{
	struct proc pr;
	int code = run_pgrace(ARGS("check", PGRACE_TEST_DATA "/good/least-integer.yaml"), &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "ok (least-integer"), "%s", proc_said(&pr));
	proc_free(&pr);
}
