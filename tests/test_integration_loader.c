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

/* A copy of the good scenario bare-race.yaml as scratch/name; its path. */
static const char *bare_race_copy(const char *name)
{
	size_t len = 0;
	char *good = read_file(PGRACE_TEST_DATA "/good/bare-race.yaml", &len);
	cr_assert_not_null(good);
	const char *path = spath(name);
	write_file(path, good, len);
	free(good);
	return path;
}

/* pgrace with args refuses path: exit 2, "path:line:" and needle on stderr. */
static void refused(const char *const *args, const char *path, int line, const char *needle)
{
	struct proc pr;
	int code = run_pgrace(args, &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(names_exact_line(pr.err, path, line), "%s", proc_said(&pr));
	cr_expect(contains(pr.err, needle), "want \"%s\": %s", needle, proc_said(&pr));
	proc_free(&pr);
}

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

	refused(ARGS("check", path), path, 37, "expression too long or nested too deeply");
}

/* A key parameter of 6,000 terms: before, the file loaded and a --duration
 * run evaluated it on a worker's 256 KiB stack, which overflowed (SIGSEGV,
 * exit 139). Now the run is refused before it connects. */
Test(loader, long_key_parameter_is_refused_before_a_run, .timeout = 120)
{
	const char *path = BAD "params-too-long.yaml";
	refused(ARGS("run", path, "--duration", "1", "-q"), path, 15, "params: expression too long");
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

/* ---- control characters never reach the terminal raw (issue 9, item 18) ---- */

/* Raw bytes a terminal acts on (ESC, BEL, a C1 CSI, bidi overrides and
 * isolates) are absent from text, which names what it is for messages. */
static void assert_no_raw_controls(const char *text, const char *what)
{
	static const char *const raw[] = {"\x1b", "\x07", "\xc2\x9b", "\xc2\x85", "\xe2\x80\xae",
					  "\xe2\x81\xa6"};
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
		cr_expect_null(strstr(text, raw[i]), "%s: raw control %zu in:\n%s", what, i, text);
}

/* A file name with ESC and BEL, in check's "ok" line and in the loader's
 * error: before, both printed them raw (the name turned the terminal red). */
Test(loader, file_names_are_escaped, .timeout = 120)
{
	const char *path = bare_race_copy("red\x1b[31m\x07.yaml");
	struct proc pr;
	int code = run_pgrace(ARGS("check", path), &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "red\\x1b[31m\\x07.yaml: ok (bare-race"), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.out, "check stdout");
	proc_free(&pr);

	const char *missing = spath("gone\xe2\x80\xae" "lmay.yaml");
	code = run_pgrace(ARGS("check", missing), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "gone\\u202elmay.yaml:0: cannot open"), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.err, "check stderr");
	proc_free(&pr);
}

/* A YAML scalar quoted in an error, and a command-line argument quoted in a
 * usage error: before, printed raw. */
Test(loader, quoted_values_are_escaped, .timeout = 120)
{
	const char *path = variant_of(PGRACE_TEST_DATA "/bad/workers-string.yaml", "esc.yaml",
				      "workers: \"many\"", "workers: \"\\e[2J\\x85\"");
	struct proc pr;
	int code = run_pgrace(ARGS("check", path), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "got \"\\x1b[2J\\u0085\""), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.err, "check stderr");
	proc_free(&pr);

	code = run_pgrace(ARGS("run", path, "--workers", "\x1b[2J"), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "--workers: expected 1 to 5000, got \"\\x1b[2J\""), "%s",
		  proc_said(&pr));
	assert_no_raw_controls(pr.err, "usage stderr");
	proc_free(&pr);
}

/* pgrace init's messages quote its arguments and the server: before, raw. */
Test(loader, init_messages_are_escaped, .timeout = 120)
{
	struct proc pr;
	int code = run_pgrace(ARGS("init", "--table", "t", "--key", "k", "--flow", "\x1b[2J"), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "got \"\\x1b[2J\""), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.err, "init stderr");
	proc_free(&pr);

	code = run_pgrace(ARGS("init", "--table", "no_such\xe2\x80\xae_table", "--key", "k"), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "no_such\\u202e_table"), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.err, "init stderr");
	proc_free(&pr);
}

/* pgrace spec quotes the phase it was asked for: before, raw. */
Test(loader, spec_messages_are_escaped, .timeout = 120)
{
	struct proc pr;
	int code = run_pgrace(ARGS("spec", SEED, "--phase", "\x1b[2J\x07"), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "no phase named \"\\x1b[2J\\x07\""), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.err, "spec stderr");
	proc_free(&pr);
}

/* A server message with a clear-screen, a BEL and a bidi override, shown in
 * the summary's FAIL line: before, raw. */
Test(loader, server_messages_are_escaped, .timeout = 120)
{
	const char *path = spath("raise.yaml");
	static const char text[] =
		"name: raise\n"
		"schema: CREATE TABLE t (k bigint NOT NULL)\n"
		"params: [round]\n"
		"rows: SELECT count(*) FROM t WHERE k = $1\n"
		"flow: [{sql: SELECT 1}]\n"
		"phases:\n"
		"  - name: shout\n"
		"    steps:\n"
		"      - sql: |\n"
		"          DO $$ BEGIN RAISE EXCEPTION E'\\x1b[2J\\x07 \\u202e gnol'; END $$\n";
	write_file(path, text, sizeof text - 1);
	struct proc pr;
	int code = run_pgrace(ARGS("run", path), &pr);
	cr_expect_eq(code, 1, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "P0001: \\x1b[2J\\x07 \\u202e gnol"), "%s", proc_said(&pr));
	assert_no_raw_controls(pr.out, "run stdout");
	assert_no_raw_controls(pr.err, "run stderr");
	proc_free(&pr);
}

/* ---- check: unique NAME on TABLE (cols) (issue 9, item 6) ---- */

/* The bare form: before, `check: unique NAME` loaded and passed for a
 * unique constraint of that name on any table, over any columns. */
Test(loader, bare_unique_check_is_refused, .timeout = 120)
{
	const char *path = BAD "check-unique-bare.yaml";
	refused(ARGS("check", path), path, 29, "must say where: unique NAME on TABLE (col, ...)");
}

/* The expectation of phase "catalog" whose expect text is want_expect, or
 * fails the test. */
static json_t *expectation(json_t *doc, const char *want_expect)
{
	json_t *list = jget(phase(doc, "catalog"), "expectations");
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *x = json_array_get(list, i);
		if (!strcmp(jstr(x, "expect"), want_expect))
			return x;
	}
	cr_assert_fail("no expectation \"%s\"", want_expect);
	return NULL;
}

/* Every kind of object a name can belong to, on a real server: the check
 * holds only for a valid unique constraint, primary key or unique index
 * (expression and partial ones too) on that table over those columns, and
 * says what is there instead. Before, uq_t2 (a unique constraint of t2)
 * passed for t, and uq_ab passed for columns it is not on. */
Test(loader, unique_check_looks_at_table_columns_kind_and_validity, .timeout = 120)
{
	static const struct {
		const char *check, *actual;
	} cases[] = {
		{"uq_ab on t (b, a)", "ok, uq_ab is a valid unique constraint"},
		{"uq_t2 on t (a, b)", "ok, uq_t2 (a unique constraint) is on table t2 (a, b)"},
		{"uq_ab on t (a, c)", "ok, uq_ab (a unique constraint) is on t (a, b)"},
		{"t_check on t (a)", "ok, t_check is a CHECK constraint, not a unique constraint or index"},
		{"plain_idx on t (a, b)", "ok, plain_idx (an index) is not unique"},
		{"uq_lower on t (lower(email))", "ok, uq_lower is a valid unique expression index"},
		{"uq_partial on t (c)", "ok, uq_partial is a valid partial unique index WHERE c > 0"},
		{"t2_pkey on t2 (a)", "ok, t2_pkey is a valid primary key"},
		{"uq_def on t (c, b)", "ok, uq_def is a valid deferrable unique constraint"},
		{"nothing_here on t (a)", "ok, nothing_here does not exist"},
		{"t on t (a)", "ok, t is a table, not a unique constraint or index"},
		{"\"Odd UQ\" on \"Odd Table\" (B, \"Col A\")", "ok, Odd UQ is a valid unique constraint"},
		{"uq_bad on t3 (k)", "ok, uq_bad (a unique index) is INVALID"},
	};
	const char *json = spath("check-unique.json");
	struct proc pr;
	int code = run_pgrace(
		ARGS("run", PGRACE_TEST_DATA "/integration/check-unique.yaml", "-q", "--json", json),
		&pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char want[256];
		snprintf(want, sizeof want, "check unique %s succeeds", cases[i].check);
		json_t *x = expectation(doc, want);
		cr_expect_str_eq(jstr(x, "actual"), cases[i].actual, "%s", want);
		/* the rows == 1 / rows == 0 that follows it held */
		snprintf(want, sizeof want, "check unique %s: rows == %d", cases[i].check,
			 strstr(cases[i].actual, "is a valid") ? 1 : 0);
		cr_expect(jbool(expectation(doc, want), "passed"), "%s", want);
	}
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&pr);
}

/* A YAML alias as a mapping key: its text is the anchor's name, so before,
 * "*workers : 8" was read as the key workers (check: exit 0). */
Test(loader, alias_as_key_is_refused, .timeout = 120)
{
	const char *path = BAD "alias-as-key.yaml";
	refused(ARGS("check", path), path, 13, "race: a YAML alias as a key is not supported");
}

/* $5 and $6 in dollar-quoted text of the flow are text: before, the file was
 * refused ("flow step uses $6, but params gives only 1 key parameters",
 * exit 2). It runs, and passes, on a real server. */
Test(loader, dollar_quoted_text_holds_no_parameter, .timeout = 120)
{
	const char *json = spath("dollar.json");
	struct proc pr;
	int code = run_pgrace(
		ARGS("run", PGRACE_TEST_DATA "/good/dollar-quoted.yaml", "-q", "--json", json), &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "pass");
	assert_schema_dropped(doc);
	json_decref(doc);
	proc_free(&pr);
}

/* --json or --junit naming the scenario file being read (here through
 * another path): before, the run went ahead and the JSON replaced the
 * scenario. Now exit 2 before anything runs, the file untouched. */
Test(loader, results_never_overwrite_a_scenario, .timeout = 120)
{
	const char *path = bare_race_copy("self.yaml");
	size_t len = 0;
	char *good = read_file(path, &len);
	cr_assert_not_null(good);
	char other[1100];
	snprintf(other, sizeof other, "%s/./self.yaml", scratch);
	static const char *const flags[] = {"--json", "--junit"};
	for (size_t i = 0; i < 2; i++) {
		struct proc pr;
		int code = run_pgrace(ARGS("run", path, "-q", flags[i], other), &pr);
		cr_expect_eq(code, 2, "%s: %s", flags[i], proc_said(&pr));
		cr_expect(contains(pr.err, "is the scenario file"), "%s: %s", flags[i],
			  proc_said(&pr));
		proc_free(&pr);
		size_t now_len = 0;
		char *now = read_file(path, &now_len);
		cr_assert_not_null(now);
		cr_expect(now_len == len && !memcmp(now, good, len), "%s: the scenario changed",
			  flags[i]);
		free(now);
	}
	free(good);

	struct proc pr;
	const char *out = spath("both.out");
	int code = run_pgrace(ARGS("run", path, "-q", "--json", out, "--junit", out), &pr);
	cr_expect_eq(code, 2, "%s", proc_said(&pr));
	cr_expect(contains(pr.err, "--json and --junit both name"), "%s", proc_said(&pr));
	proc_free(&pr);
}

/* A --duration run judges nothing: its verdict is "measured" in the summary,
 * the JSON and the JUnit XML, and it exits 0. Before, it said "pass". */
Test(loader, duration_run_is_measured, .timeout = 120)
{
	const char *json = spath("free.json"), *xml = spath("free.xml");
	struct proc pr;
	int code = run_pgrace(ARGS("run", PGRACE_TEST_DATA "/good/bare-race.yaml", "--duration", "1",
				   "-w", "2", "--json", json, "--junit", xml),
			      &pr);
	cr_expect_eq(code, 0, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "): MEASURED in"), "%s", proc_said(&pr));
	json_t *doc = load_json(json);
	cr_expect_str_eq(jstr(doc, "verdict"), "measured");
	cr_expect_str_eq(jstr(phase(doc, "only"), "verdict"), "measured");
	cr_expect(contains(pr.out, "MEASURED\n"), "the phase's result column: %s", proc_said(&pr));
	assert_schema_dropped(doc);
	json_decref(doc);
	char *junit = read_file(xml, NULL);
	cr_assert_not_null(junit);
	cr_expect(contains(junit, "<property name=\"verdict\" value=\"measured\"/>"), "%s", junit);
	cr_expect(!contains(junit, "<failure") && !contains(junit, "<error"), "%s", junit);
	free(junit);
	proc_free(&pr);
}

/* A failed unique check's FAIL line says what is there instead: before, the
 * terminal showed "actual 0 == 1" and nothing else. */
Test(loader, failed_unique_check_says_why_on_the_terminal, .timeout = 120)
{
	const char *path = variant_of(PGRACE_TEST_DATA "/integration/check-unique.yaml",
				      "wrong-table.yaml",
				      "check: unique uq_t2 on t (a, b)\n        expect: [rows == 0]",
				      "check: unique uq_t2 on t (a, b)\n        expect: [rows == 1]");
	struct proc pr;
	int code = run_pgrace(ARGS("run", path), &pr);
	cr_expect_eq(code, 1, "%s", proc_said(&pr));
	cr_expect(contains(pr.out, "  FAIL phase catalog: expected check unique uq_t2 on t (a, b): "
				   "rows == 1, actual 0 == 1: uq_t2 (a unique constraint) is on "
				   "table t2 (a, b)\n"),
		  "%s", proc_said(&pr));
	proc_free(&pr);
}
