/* test_report.c: the report writers against runs built in memory.
 *
 * The JSON is parsed back with jansson and checked field by field against
 * the contract (a table of dotted paths); JUnit XML and the summary are
 * checked as text. No database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "report.h"
#include "stats.h"

/* A failing expectation whose text needs escaping in XML. */
#define NASTY_EXPECT "rows_per_key.max == 1 <&\">"
#define NASTY_ESCAPED "rows_per_key.max == 1 &lt;&amp;&quot;&gt;"

static struct expect_result race_expects[2];
static struct expect_result steps_expects[1];
static struct step_result step_results[2];
static struct phase_result phases[2];
static struct run_result run;

static void table_add(struct outcome_table *t, const char *label, long long count)
{
	cr_assert_lt(t->n, (size_t)OUTCOME_SLOTS);
	snprintf(t->label[t->n], sizeof t->label[t->n], "%s", label);
	t->count[t->n++] = count;
}

/* Run "membership_race", verdict fail: phase "after_migration" races (one
 * winner, 15 unique violations, one failed expectation), phase "precheck"
 * only runs steps. */
static void make_run(void)
{
	struct phase_result *race = &phases[0], *steps = &phases[1];
	static const uint64_t latencies[] = {1000, 2000, 3000, 50000};

	memset(race_expects, 0, sizeof race_expects);
	memset(steps_expects, 0, sizeof steps_expects);
	memset(phases, 0, sizeof phases);
	memset(&run, 0, sizeof run);

	snprintf(race_expects[0].expect, sizeof race_expects[0].expect, "%s", NASTY_EXPECT);
	snprintf(race_expects[0].actual, sizeof race_expects[0].actual, "2 == 1");
	race_expects[0].passed = false;
	snprintf(race_expects[1].expect, sizeof race_expects[1].expect, "outcomes.23505 == 15");
	snprintf(race_expects[1].actual, sizeof race_expects[1].actual, "15 == 15");
	race_expects[1].passed = true;

	snprintf(race->name, sizeof race->name, "after_migration");
	race->migrated = true;
	race->has_race = true;
	race->mode = MODE_HOLD;
	race->isolation = ISO_READ_COMMITTED;
	race->workers = 16;
	race->rounds = 1;
	race->keys = 1;
	race->rounds_with_duplicates = 1;
	race->rows_min = 1;
	race->rows_max = 2;
	race->attempts = 16;
	race->retries = 0;
	table_add(&race->outcomes, "ok", 1);
	table_add(&race->outcomes, "23505", 15);
	table_add(&race->constraints, "uq_user_tenant_membership_user_tenant", 15);
	hist_init(&race->latency);
	for (size_t i = 0; i < sizeof latencies / sizeof latencies[0]; i++)
		hist_record(&race->latency, latencies[i]);
	race->skew_us_p50 = 40;
	race->skew_us_max = 120;
	race->expects = race_expects;
	race->n_expects = 2;
	race->passed = false;
	race->verdict = VERDICT_FAIL;
	race->elapsed_s = 2.5;

	snprintf(steps_expects[0].expect, sizeof steps_expects[0].expect, "error 23505");
	snprintf(steps_expects[0].actual, sizeof steps_expects[0].actual, "error 23505");
	steps_expects[0].passed = true;
	snprintf(steps->name, sizeof steps->name, "precheck");
	steps->has_race = false;
	hist_init(&steps->latency);
	steps->expects = steps_expects;
	steps->n_expects = 1;
	snprintf(step_results[0].label, sizeof step_results[0].label, "migrate up");
	snprintf(step_results[0].sqlstate, sizeof step_results[0].sqlstate, "23505");
	step_results[0].elapsed_s = 0.5;
	snprintf(step_results[1].label, sizeof step_results[1].label, "run plain_alter");
	step_results[1].rows = 3;
	step_results[1].retries = 2;
	step_results[1].under_load = true;
	step_results[1].stall_ms = 42;
	step_results[1].load_attempts = 700;
	step_results[1].load_errors = 1;
	steps->steps = step_results;
	steps->n_steps = 2;
	steps->passed = true;
	steps->elapsed_s = 0.25;

	snprintf(run.scenario, sizeof run.scenario, "membership_race");
	snprintf(run.file, sizeof run.file, "scenarios/membership_race.yaml");
	snprintf(run.schema, sizeof run.schema, "pgrace_42_abcdef");
	run.verdict = VERDICT_FAIL;
	run.complete = true;
	run.phases = phases;
	run.n_phases = 2;
	run.elapsed_s = 3.5;
}

TestSuite(report, .init = make_run, .timeout = 10);

typedef int (*writer_fn)(FILE *out, const struct run_result *runs, size_t n);

/* What fn writes for runs, as a string (free it). */
static char *capture(writer_fn fn, const struct run_result *runs, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(fn(f, runs, n), 0, "writer reported an error");
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static char *capture_summary(const struct run_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	report_summary(f, r);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static json_t *parse_json(writer_fn fn, const struct run_result *runs, size_t n)
{
	char *text = capture(fn, runs, n);
	json_error_t err;
	json_t *doc = json_loads(text, 0, &err);

	cr_assert_not_null(doc, "invalid JSON (line %d: %s):\n%s", err.line, err.text, text);
	cr_assert_gt(strlen(text), 0);
	cr_assert_eq(text[strlen(text) - 1], '\n', "no trailing newline");
	free(text);
	return doc;
}

/* Value at a dotted path ("phases.0.outcomes.23505"): in an array a segment
 * is an index, in an object a member name. NULL when absent. */
static json_t *json_at(json_t *root, const char *path)
{
	json_t *v = root;

	while (v != NULL && *path != '\0') {
		char seg[128];
		size_t n = strcspn(path, ".");

		cr_assert_lt(n, sizeof seg);
		memcpy(seg, path, n);
		seg[n] = '\0';
		path += n + (path[n] == '.');
		if (json_is_array(v)) {
			char *end;
			unsigned long i = strtoul(seg, &end, 10);

			v = *end == '\0' ? json_array_get(v, i) : NULL;
		} else {
			v = json_object_get(v, seg);
		}
	}
	return v;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

enum kind { K_STR, K_INT, K_BOOL, K_REAL, K_NULL, K_OBJECT, K_ABSENT };

struct field_case {
	const char *path;
	enum kind kind;
	const char *s;
	long long i; /* K_INT value, K_BOOL 0/1 */
	double r;
};

static void check_field(json_t *root, const struct field_case *c)
{
	json_t *v = json_at(root, c->path);

	switch (c->kind) {
	case K_STR:
		cr_expect(json_is_string(v), "%s: not a string", c->path);
		if (json_is_string(v))
			cr_expect_str_eq(json_string_value(v), c->s, "%s", c->path);
		break;
	case K_INT:
		cr_expect(json_is_integer(v), "%s: not an integer", c->path);
		cr_expect_eq(json_integer_value(v), c->i, "%s: %lld, want %lld", c->path,
			     (long long)json_integer_value(v), c->i);
		break;
	case K_BOOL:
		cr_expect(json_is_boolean(v), "%s: not a boolean", c->path);
		cr_expect_eq(json_is_true(v), c->i != 0, "%s: want %s", c->path,
			     c->i ? "true" : "false");
		break;
	case K_REAL:
		cr_expect(json_is_real(v), "%s: not a real", c->path);
		cr_expect(fabs(json_real_value(v) - c->r) < 1e-9, "%s: %g, want %g", c->path,
			  json_real_value(v), c->r);
		break;
	case K_NULL:
		cr_expect(json_is_null(v), "%s: want null", c->path);
		break;
	case K_OBJECT:
		cr_expect(json_is_object(v), "%s: want an object", c->path);
		break;
	case K_ABSENT:
		cr_expect_null(v, "%s: want no such field", c->path);
		break;
	}
}

static const struct field_case single_run_fields[] = {
	{"scenario", K_STR, .s = "membership_race"},
	{"file", K_STR, .s = "scenarios/membership_race.yaml"},
	{"schema", K_STR, .s = "pgrace_42_abcdef"},
	{"verdict", K_STR, .s = "fail"},
	{"complete", K_BOOL, .i = 1},
	{"error", K_NULL, .s = NULL},
	{"elapsed_s", K_REAL, .r = 3.5},
	{"runs", K_ABSENT, .s = NULL},

	{"phases.0.name", K_STR, .s = "after_migration"},
	{"phases.0.migrated", K_BOOL, .i = 1},
	{"phases.0.mode", K_STR, .s = "hold"},
	{"phases.0.isolation", K_STR, .s = "read committed"},
	{"phases.0.workers", K_INT, .i = 16},
	{"phases.0.rounds", K_INT, .i = 1},
	{"phases.0.keys", K_INT, .i = 1},
	{"phases.0.attempts", K_INT, .i = 16},
	{"phases.0.retries", K_INT, .i = 0},
	{"phases.0.rounds_with_duplicates", K_INT, .i = 1},
	{"phases.0.rows_per_key.min", K_INT, .i = 1},
	{"phases.0.rows_per_key.max", K_INT, .i = 2},
	{"phases.0.outcomes.ok", K_INT, .i = 1},
	{"phases.0.outcomes.23505", K_INT, .i = 15},
	{"phases.0.constraints.uq_user_tenant_membership_user_tenant", K_INT, .i = 15},
	{"phases.0.latency_us", K_OBJECT, .s = NULL},
	{"phases.0.latency_us.max", K_INT, .i = 50000},
	{"phases.0.skew_us.p50", K_INT, .i = 40},
	{"phases.0.skew_us.max", K_INT, .i = 120},
	{"phases.0.expectations.0.expect", K_STR, .s = NASTY_EXPECT},
	{"phases.0.expectations.0.actual", K_STR, .s = "2 == 1"},
	{"phases.0.expectations.0.passed", K_BOOL, .i = 0},
	{"phases.0.expectations.1.passed", K_BOOL, .i = 1},
	{"phases.0.passed", K_BOOL, .i = 0},
	{"phases.0.verdict", K_STR, .s = "fail"},
	{"phases.0.broken", K_BOOL, .i = 0},
	{"phases.0.elapsed_s", K_REAL, .r = 2.5},

	{"phases.1.name", K_STR, .s = "precheck"},
	{"phases.1.migrated", K_BOOL, .i = 0},
	{"phases.1.mode", K_STR, .s = "steps"},
	{"phases.1.isolation", K_NULL, .s = NULL},
	{"phases.1.rows_per_key", K_NULL, .s = NULL},
	{"phases.1.latency_us", K_NULL, .s = NULL},
	{"phases.1.skew_us", K_NULL, .s = NULL},
	{"phases.1.outcomes", K_OBJECT, .s = NULL},
	{"phases.1.constraints", K_OBJECT, .s = NULL},
	{"phases.1.expectations.0.expect", K_STR, .s = "error 23505"},
	{"phases.1.expectations.0.passed", K_BOOL, .i = 1},
	{"phases.1.passed", K_BOOL, .i = 1},
	{"phases.1.elapsed_s", K_REAL, .r = 0.25},
	{"phases.1.steps.0.step", K_STR, .s = "migrate up"},
	{"phases.1.steps.0.sqlstate", K_STR, .s = "23505"},
	{"phases.1.steps.0.elapsed_s", K_REAL, .r = 0.5},
	{"phases.1.steps.0.stall_ms", K_ABSENT, .s = NULL},
	{"phases.1.steps.1.sqlstate", K_NULL, .s = NULL},
	{"phases.1.steps.1.rows", K_INT, .i = 3},
	{"phases.1.steps.1.retries", K_INT, .i = 2},
	{"phases.1.steps.1.stall_ms", K_INT, .i = 42},
	{"phases.1.steps.1.load_attempts", K_INT, .i = 700},
	{"phases.1.steps.1.load_errors", K_INT, .i = 1},
	{"phases.1.steps.2", K_ABSENT, .s = NULL},
	{"phases.0.steps.0", K_ABSENT, .s = NULL},
	{"phases.2", K_ABSENT, .s = NULL},
};

Test(report, json_single_run_is_the_run_object)
{
	json_t *doc = parse_json(report_write_json, &run, 1);

	for (size_t i = 0; i < sizeof single_run_fields / sizeof single_run_fields[0]; i++)
		check_field(doc, &single_run_fields[i]);
	json_decref(doc);
}

Test(report, json_latency_comes_from_the_histogram)
{
	static const struct {
		const char *key;
		double p;
	} pcts[] = {{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}};
	json_t *doc = parse_json(report_write_json, &run, 1);
	json_t *lat = json_at(doc, "phases.0.latency_us");

	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		json_t *v = json_object_get(lat, pcts[i].key);

		cr_expect(json_is_integer(v), "latency_us.%s missing", pcts[i].key);
		cr_expect_eq((uint64_t)json_integer_value(v),
			     hist_percentile(&phases[0].latency, pcts[i].p), "latency_us.%s",
			     pcts[i].key);
	}
	json_decref(doc);
}

Test(report, json_mode_and_isolation_names)
{
	static const struct {
		enum race_mode m;
		enum isolation i;
		const char *mode, *iso;
	} cases[] = {
		{MODE_HOLD, ISO_READ_COMMITTED, "hold", "read committed"},
		{MODE_FIRE, ISO_REPEATABLE_READ, "fire", "repeatable read"},
		{MODE_FIRE, ISO_SERIALIZABLE, "fire", "serializable"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *doc;

		phases[0].mode = cases[i].m;
		phases[0].isolation = cases[i].i;
		doc = parse_json(report_write_json, &run, 1);
		check_field(doc, &(struct field_case){"phases.0.mode", K_STR, .s = cases[i].mode});
		check_field(doc,
			    &(struct field_case){"phases.0.isolation", K_STR, .s = cases[i].iso});
		json_decref(doc);
	}
}

Test(report, json_race_without_ok_or_samples)
{
	json_t *doc;

	memset(&phases[0].outcomes, 0, sizeof phases[0].outcomes);
	table_add(&phases[0].outcomes, "40001", 16);
	hist_init(&phases[0].latency);
	doc = parse_json(report_write_json, &run, 1);
	check_field(doc, &(struct field_case){"phases.0.outcomes.ok", K_INT, .i = 0});
	check_field(doc, &(struct field_case){"phases.0.outcomes.40001", K_INT, .i = 16});
	check_field(doc, &(struct field_case){"phases.0.latency_us", K_NULL, .s = NULL});
	check_field(doc, &(struct field_case){"phases.1.outcomes.ok", K_ABSENT, .s = NULL});
	json_decref(doc);
}

Test(report, json_error_text_even_when_not_utf8)
{
	json_t *doc;

	snprintf(run.error, sizeof run.error, "round 3: \xff lost \"connection\"\n");
	run.complete = false;
	run.verdict = VERDICT_ERROR;
	doc = parse_json(report_write_json, &run, 1);
	check_field(doc,
		    &(struct field_case){"error", K_STR, .s = "round 3: ? lost \"connection\"\n"});
	check_field(doc, &(struct field_case){"complete", K_BOOL, .i = 0});
	check_field(doc, &(struct field_case){"verdict", K_STR, .s = "error"});
	json_decref(doc);
}

Test(report, json_several_runs_are_wrapped_with_the_worst_verdict)
{
	static const struct {
		enum verdict a, b;
		const char *worst;
	} cases[] = {
		{VERDICT_PASS, VERDICT_PASS, "pass"},
		{VERDICT_PASS, VERDICT_FAIL, "fail"},
		{VERDICT_INCONCLUSIVE, VERDICT_PASS, "inconclusive"},
		{VERDICT_FAIL, VERDICT_ERROR, "error"},
		{VERDICT_BAD_SCENARIO, VERDICT_FAIL, "bad_scenario"},
		/* skipped is the mildest: beside a pass the pass shows, alone it shows */
		{VERDICT_SKIPPED, VERDICT_PASS, "pass"},
		{VERDICT_PASS, VERDICT_SKIPPED, "pass"},
		{VERDICT_SKIPPED, VERDICT_SKIPPED, "skipped"},
		{VERDICT_SKIPPED, VERDICT_FAIL, "fail"},
		{VERDICT_INCONCLUSIVE, VERDICT_SKIPPED, "inconclusive"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct run_result runs[2] = {run, run};
		json_t *doc;

		runs[0].verdict = cases[i].a;
		runs[1].verdict = cases[i].b;
		snprintf(runs[1].scenario, sizeof runs[1].scenario, "second");
		doc = parse_json(report_write_json, runs, 2);
		check_field(doc, &(struct field_case){"verdict", K_STR, .s = cases[i].worst});
		check_field(doc, &(struct field_case){"scenario", K_ABSENT, .s = NULL});
		cr_expect_eq(json_array_size(json_object_get(doc, "runs")), 2);
		check_field(doc,
			    &(struct field_case){"runs.0.scenario", K_STR, .s = "membership_race"});
		check_field(doc, &(struct field_case){"runs.1.scenario", K_STR, .s = "second"});
		check_field(doc, &(struct field_case){"runs.1.phases.0.outcomes.23505", K_INT,
						      .i = 15});
		json_decref(doc);
	}
}

Test(report, writers_report_write_errors)
{
	static const struct {
		const char *name;
		writer_fn fn;
	} writers[] = {{"json", report_write_json}, {"junit", report_write_junit}};

	for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
		FILE *f = fopen("/dev/full", "w");

		cr_assert_not_null(f, "cannot open /dev/full");
		cr_expect_eq(writers[i].fn(f, &run, 1), -1, "%s: write error not reported",
			     writers[i].name);
		fclose(f);
	}
}

Test(report, junit_has_a_testcase_per_phase_and_escaped_failures)
{
	char *xml = capture(report_write_junit, &run, 1);

	cr_expect_eq(strncmp(xml, "<?xml", 5), 0);
	cr_expect_eq(count_of(xml, "<testcase "), 2, "%s", xml);
	cr_expect_not_null(strstr(xml, "<testsuite name=\"membership_race\" tests=\"2\" "
				       "failures=\"1\" errors=\"0\""),
			   "%s", xml);
	cr_expect_not_null(strstr(xml, "classname=\"pgrace.membership_race\" "
				       "name=\"after_migration\""),
			   "%s", xml);
	cr_expect_not_null(strstr(xml, "name=\"precheck\""), "%s", xml);
	cr_expect_eq(count_of(xml, "<failure "), 1, "%s", xml);
	cr_expect_eq(count_of(xml, "<error "), 0, "%s", xml);
	cr_expect_not_null(strstr(xml, "<failure message=\"expected " NASTY_ESCAPED
				       ", actual 2 == 1\""),
			   "%s", xml);
	cr_expect_null(strstr(xml, "<&\">"), "unescaped text in:\n%s", xml);
	cr_expect_null(strstr(xml, "outcomes.23505 == 15"), "a passed expectation listed");
	cr_expect_not_null(strstr(xml, "</testsuites>\n"));
	free(xml);
}

Test(report, junit_lists_each_failed_expectation_on_its_own_line)
{
	char *xml;

	race_expects[1].passed = false;
	xml = capture(report_write_junit, &run, 1);
	cr_expect_not_null(strstr(xml, "actual 2 == 1&#10;expected outcomes.23505 == 15, "
				       "actual 15 == 15\">"),
			   "%s", xml);
	free(xml);
}

Test(report, junit_escapes_control_characters)
{
	char *xml;

	snprintf(race_expects[0].actual, sizeof race_expects[0].actual, "a\x01" "b\nc'd\te");
	xml = capture(report_write_junit, &run, 1);
	cr_expect_not_null(strstr(xml, "actual a?b&#10;c&apos;d&#9;e"), "%s", xml);
	cr_expect_null(strchr(xml, '\x01'));
	free(xml);
}

/* xmllint's verdict on xml (scripts/setup.sh installs libxml2-utils):
 * its exit code, its complaint in said. */
static int xmllint(const char *xml, char *said, size_t len)
{
	char path[] = "/tmp/pgrace-junit-XXXXXX", cmd[128];
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(xml, f);
	cr_assert_eq(fclose(f), 0);
	snprintf(cmd, sizeof cmd, "xmllint --noout %s 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(said, 1, len - 1, p);
	said[n] = '\0';
	int st = pclose(p);
	unlink(path);
	cr_assert(st != -1 && WIFEXITED(st), "xmllint did not run");
	cr_assert_neq(WEXITSTATUS(st), 127, "xmllint is missing (Debian: libxml2-utils)");
	return WEXITSTATUS(st);
}

/* Every character XML 1.0 forbids, from a server message, a name or a file
 * name: U+FFFE and U+FFFF (well-formed UTF-8, so they went out raw before
 * and xmllint refused the file), C0 controls and ESC, invalid UTF-8
 * (overlong, a surrogate, above U+10FFFF, a cut sequence). Each becomes
 * '?'; what XML allows (bidi controls, ]]>, C1, U+10FFFF) stays. */
Test(report, junit_replaces_every_character_xml_forbids)
{
	static const char hostile[] = "a\xef\xbf\xbe" "b\xef\xbf\xbf" "c\x01\x1b[2J"
				      "d\xc0\xaf" "e\xed\xa0\x80" "f\xf4\x90\x80\x80"
				      "g\xe2\x80\xae" "h]]>i\xc2\x85" "j\xf4\x8f\xbf\xbf" "k\xe2\x80";
	char said[4096];
	snprintf(race_expects[0].actual, sizeof race_expects[0].actual, "%s", hostile);
	snprintf(run.error, sizeof run.error, "%s", hostile);
	snprintf(run.scenario, sizeof run.scenario, "%s", hostile);
	snprintf(phases[0].name, sizeof phases[0].name, "%s", hostile);
	run.verdict = VERDICT_ERROR;
	char *xml = capture(report_write_junit, &run, 1);
	cr_expect_null(strstr(xml, "\xef\xbf\xbe"), "U+FFFE written raw");
	cr_expect_null(strstr(xml, "\xef\xbf\xbf"), "U+FFFF written raw");
	cr_expect_null(strchr(xml, '\x1b'), "ESC written raw");
	cr_expect_not_null(strstr(xml, "a?b?c??[2Jd??e???f????g\xe2\x80\xaeh]]&gt;i\xc2\x85j"
				       "\xf4\x8f\xbf\xbfk??"),
			   "%s", xml);
	cr_expect_eq(xmllint(xml, said, sizeof said), 0, "xmllint refuses the JUnit file:\n%s\n%s",
		     said, xml);
	free(xml);
}

/* When the run stopped, which testcase carries the <error>. */
Test(report, junit_errors)
{
	static const struct {
		const char *what;
		size_t n_phases;
		bool broken;    /* phases[0].broken */
		bool complete;
		const char *error;
		const char *testcase; /* the testcase holding the error, as written */
		size_t testcases;
	} cases[] = {
		{"no phase ran", 0, false, false, "could not connect: <server> & co",
		 "name=\"setup\" time=\"0.000\">\n      <error message=\"could not connect: "
		 "&lt;server&gt; &amp; co\"",
		 1},
		{"broken phase", 2, true, false, "round 3 timed out",
		 "name=\"after_migration\" time=\"2.500\">\n      <error message=\"round 3 timed "
		 "out\"",
		 2},
		{"error, no phase broken", 2, false, true, "could not drop schema",
		 "name=\"run\" time=\"0.000\">\n      <error message=\"could not drop schema\"", 3},
		{"interrupted, no message", 1, false, false, "",
		 "name=\"run\" time=\"0.000\">\n      <error message=\"run incomplete", 2},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *xml;

		make_run();
		run.n_phases = cases[i].n_phases;
		phases[0].broken = cases[i].broken;
		run.complete = cases[i].complete;
		snprintf(run.error, sizeof run.error, "%s", cases[i].error);
		xml = capture(report_write_junit, &run, 1);
		cr_expect_eq(count_of(xml, "<testcase "), cases[i].testcases, "%s:\n%s",
			     cases[i].what, xml);
		cr_expect_eq(count_of(xml, "<error "), 1, "%s:\n%s", cases[i].what, xml);
		cr_expect_not_null(strstr(xml, cases[i].testcase), "%s:\n%s", cases[i].what, xml);
		cr_expect_not_null(strstr(xml, "errors=\"1\""), "%s:\n%s", cases[i].what, xml);
		free(xml);
	}
}

Test(report, junit_several_runs_are_several_suites)
{
	struct run_result runs[2] = {run, run};
	char *xml;

	runs[1].phases = &phases[1];
	runs[1].n_phases = 1;
	snprintf(runs[1].scenario, sizeof runs[1].scenario, "second");
	xml = capture(report_write_junit, runs, 2);
	cr_expect_eq(count_of(xml, "<testsuite "), 2, "%s", xml);
	cr_expect_eq(count_of(xml, "<testcase "), 3, "%s", xml);
	cr_expect_not_null(strstr(xml, "<testsuites name=\"pgrace\" tests=\"3\" failures=\"1\" "
				       "errors=\"0\""),
			   "%s", xml);
	cr_expect_not_null(strstr(xml, "classname=\"pgrace.second\" name=\"precheck\""), "%s",
			   xml);
	free(xml);
}

/* Column of needle in the first line of text holding line_key, or -1. */
static long column_in_line(const char *text, const char *line_key, const char *needle)
{
	const char *at = strstr(text, line_key);
	const char *start, *end, *hit;

	if (at == NULL)
		return -1;
	for (start = at; start > text && start[-1] != '\n'; start--)
		;
	end = strchr(at, '\n');
	hit = strstr(start, needle);
	if (hit == NULL || (end != NULL && hit > end))
		return -1;
	return (long)(hit - start);
}

Test(report, summary_shows_phases_verdict_and_failures)
{
	char *s = capture_summary(&run);
	static const char *const wanted[] = {
		"membership_race (scenarios/membership_race.yaml): FAIL in 3.5 s\n",
		"after_migration",
		"precheck",
		"ok=1 23505=15",
		"1..2",
		"steps",
		"  FAIL phase after_migration: expected " NASTY_EXPECT ", actual 2 == 1\n",
	};

	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		cr_expect_not_null(strstr(s, wanted[i]), "missing \"%s\" in:\n%s", wanted[i], s);
	cr_expect_null(strstr(s, "outcomes.23505 == 15"), "a passed expectation listed:\n%s", s);
	cr_expect_null(strstr(s, "error:"), "%s", s);
	cr_expect_null(strstr(s, "incomplete"), "%s", s);
	cr_expect_null(strstr(s, "\x1b["), "colors in:\n%s", s);
	free(s);
}

Test(report, summary_columns_line_up)
{
	char *s = capture_summary(&run);
	long header = column_in_line(s, "outcomes", "outcomes");
	long race_row = column_in_line(s, "after_migration  ", "ok=1");
	long result_header = column_in_line(s, "outcomes", "result");
	long race_result = column_in_line(s, "after_migration  ", "FAIL");
	long steps_result = column_in_line(s, "precheck", "PASS");

	cr_expect_gt(header, 0, "%s", s);
	cr_expect_eq(race_row, header, "outcomes column misaligned:\n%s", s);
	cr_expect_gt(result_header, header, "%s", s);
	cr_expect_eq(race_result, result_header, "result column misaligned:\n%s", s);
	cr_expect_eq(steps_result, result_header, "result column misaligned:\n%s", s);
	/* numbers align right: "16" ends where "workers" does */
	cr_expect_eq(column_in_line(s, "after_migration  ", " 16 ") + 3,
		     column_in_line(s, "outcomes", "workers") + 7, "workers misaligned:\n%s", s);
	free(s);
}

Test(report, summary_verdict_names)
{
	static const struct {
		enum verdict v;
		const char *line;
	} cases[] = {
		{VERDICT_PASS, "): PASS in"},
		{VERDICT_FAIL, "): FAIL in"},
		{VERDICT_INCONCLUSIVE, "): INCONCLUSIVE in"},
		{VERDICT_ERROR, "): ERROR in"},
		{VERDICT_BAD_SCENARIO, "): BAD SCENARIO in"},
		{VERDICT_SKIPPED, "): SKIPPED in"},
		{VERDICT_MEASURED, "): MEASURED in"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s;
		const char *hit;

		run.verdict = cases[i].v;
		s = capture_summary(&run);
		hit = strstr(s, cases[i].line);
		cr_expect(hit != NULL && hit < strchr(s, '\n'),
			  "want \"%s\" in the first line of:\n%s", cases[i].line, s);
		free(s);
	}
}

Test(report, summary_error_and_incomplete_run)
{
	char *s;

	snprintf(run.error, sizeof run.error, "server closed the connection");
	run.complete = false;
	run.n_phases = 0;
	s = capture_summary(&run);
	cr_expect_not_null(strstr(s, "error: server closed the connection\n"), "%s", s);
	cr_expect_not_null(strstr(s, "incomplete"), "%s", s);
	free(s);
}

/* Terminal control sequences, C1 controls and bidi overrides from names,
 * file names, expectations and server messages are escaped in the summary
 * (before, they reached the terminal raw: a clear-screen in a server message
 * cleared the screen); the columns still line up. */
Test(report, summary_escapes_control_characters)
{
	char *s;

	snprintf(run.scenario, sizeof run.scenario, "race\x1b]0;title\x07");
	snprintf(run.file, sizeof run.file, "scenarios/x\xe2\x80\xae" "lmay.yaml");
	snprintf(phases[0].name, sizeof phases[0].name, "after\x1b[2J");
	snprintf(race_expects[0].actual, sizeof race_expects[0].actual, "2 == 1\n\xc2\x9b" "31m");
	table_add(&phases[0].outcomes, "XX\x1b" "00", 1);
	snprintf(run.error, sizeof run.error, "ERROR: \xe2\x81\xa6hidden\xe2\x81\xa9 \xff");
	s = capture_summary(&run);
	static const char *const wanted[] = {
		"race\\x1b]0;title\\x07 (scenarios/x\\u202elmay.yaml): FAIL",
		"after\\x1b[2J",
		"XX\\x1b00=1",
		"  FAIL phase after\\x1b[2J: expected " NASTY_EXPECT ", actual 2 == 1\\n\\u009b31m\n",
		"error: ERROR: \\u2066hidden\\u2069 \\xff\n",
	};
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		cr_expect_not_null(strstr(s, wanted[i]), "missing \"%s\" in:\n%s", wanted[i], s);
	static const char *const banned[] = {"\x1b", "\x07", "\xc2\x9b", "\xe2\x80\xae", "\xe2\x81\xa6",
					     "\xff"};
	for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
		cr_expect_null(strstr(s, banned[i]), "raw byte(s) %zu in:\n%s", i, s);
	long header = column_in_line(s, "outcomes", "result");
	long row = column_in_line(s, "after\\x1b[2J", "FAIL");
	cr_expect_eq(row, header, "result column misaligned:\n%s", s);
	free(s);
}

/* ---- interleave phases and fire bounds --------------------------------- */

/* Phase 0 becomes an interleave phase of two orders of 2 workers x 3 steps:
 * the first left two rows, the second was not executable at b3. */
static void make_interleave(struct ilv_order orders[2])
{
	struct phase_result *ph = &phases[0];
	char err[128];
	memset(orders, 0, 2 * sizeof *orders);
	ph->mode = MODE_INTERLEAVE;
	ph->ilv.orders = orders;
	ph->ilv.n_orders = 2;
	ph->ilv.total = 20;
	ph->ilv.exhaustive = false;
	ph->ilv.seed = 7;
	ph->ilv.steps = 3;
	ph->ilv.with_duplicates = 1;
	ph->ilv.not_executable = 1;
	static const char *const sql[] = {"SELECT 1", "INSERT INTO t VALUES (1)"};
	order_step_names(sql, 3, ph->ilv.step_names);
	cr_assert(order_parse("a1 b1 a2 b2 a3 b3", 2, 3, &orders[0].order, err, sizeof err), "%s", err);
	orders[0].executable = true;
	orders[0].stuck_pos = orders[0].stuck_on = -1;
	orders[0].rows = 2;
	for (int i = 0; i < 6; i++)
		orders[0].status[i] = ILV_RAN;
	snprintf(orders[0].w[0].outcome, sizeof orders[0].w[0].outcome, "ok");
	snprintf(orders[0].w[1].outcome, sizeof orders[0].w[1].outcome, "ok");
	orders[0].w[1].blocked_by = 1u; /* waited on a */
	cr_assert(order_parse("a1 a2 b1 b2 b3 a3", 2, 3, &orders[1].order, err, sizeof err), "%s", err);
	orders[1].executable = false;
	orders[1].stuck_pos = 4;
	orders[1].stuck_on = 0;
	orders[1].rows = -1;
	orders[1].status[0] = orders[1].status[1] = orders[1].status[2] = ILV_RAN;
	orders[1].status[3] = ILV_STUCK;
}

static const struct field_case interleave_fields[] = {
	{"phases.0.mode", K_STR, "interleave", 0, 0},
	{"phases.0.interleave.orders_possible", K_INT, NULL, 20, 0},
	{"phases.0.interleave.exhaustive", K_BOOL, NULL, 0, 0},
	{"phases.0.interleave.seed", K_INT, NULL, 7, 0},
	{"phases.0.interleave.interleavings", K_INT, NULL, 2, 0},
	{"phases.0.interleave.interleavings_with_duplicates", K_INT, NULL, 1, 0},
	{"phases.0.interleave.interleavings_not_executable", K_INT, NULL, 1, 0},
	{"phases.0.interleave.first_duplicate", K_STR, "a1 b1 a2 b2 a3 b3", 0, 0},
	{"phases.0.interleave.orders.0.order", K_STR, "a1 b1 a2 b2 a3 b3", 0, 0},
	{"phases.0.interleave.orders.0.permutation", K_STR,
	 "permutation \"a_select\" \"b_select\" \"a_insert\" \"b_insert\" \"a_commit\" \"b_commit\"", 0, 0},
	{"phases.0.interleave.orders.0.rows", K_INT, NULL, 2, 0},
	{"phases.0.interleave.orders.0.duplicate", K_BOOL, NULL, 1, 0},
	{"phases.0.interleave.orders.0.not_executable_at", K_NULL, NULL, 0, 0},
	{"phases.0.interleave.orders.0.steps.3.step", K_STR, "b2", 0, 0},
	{"phases.0.interleave.orders.0.steps.3.name", K_STR, "b_insert", 0, 0},
	{"phases.0.interleave.orders.0.steps.3.status", K_STR, "ran", 0, 0},
	{"phases.0.interleave.orders.0.workers.1.outcome", K_STR, "ok", 0, 0},
	{"phases.0.interleave.orders.0.workers.1.blocked_by.0", K_STR, "a", 0, 0},
	{"phases.0.interleave.orders.0.workers.0.error_step", K_NULL, NULL, 0, 0},
	{"phases.0.interleave.orders.1.executable", K_BOOL, NULL, 0, 0},
	{"phases.0.interleave.orders.1.rows", K_NULL, NULL, 0, 0},
	{"phases.0.interleave.orders.1.not_executable_at", K_STR, "b3", 0, 0},
	{"phases.0.interleave.orders.1.steps.3.status", K_STR, "stuck", 0, 0},
	{"phases.0.interleave.orders.1.steps.4.status", K_STR, "not_reached", 0, 0},
	{"phases.0.race_probability_upper_95", K_NULL, NULL, 0, 0},
	{"phases.1.interleave", K_NULL, NULL, 0, 0},
};

Test(report, json_interleave_orders)
{
	struct ilv_order orders[2];
	make_interleave(orders);
	json_t *doc = parse_json(report_write_json, &run, 1);
	for (size_t i = 0; i < sizeof interleave_fields / sizeof interleave_fields[0]; i++)
		check_field(doc, &interleave_fields[i]);
	cr_expect_eq(json_array_size(json_at(doc, "phases.0.interleave.orders.1.workers")), 0,
		     "a not executable order has no outcomes");
	json_decref(doc);
	phases[0].ilv.orders = NULL;
}

Test(report, summary_and_junit_name_the_first_duplicating_order)
{
	struct ilv_order orders[2];
	make_interleave(orders);
	char *text = capture_summary(&run);
	cr_expect(strstr(text, "after_migration: 1 of 2 orders left duplicates, 1 not executable "
			       "(a sample of 2 of 20 orders, seed 7)"),
		  "%s", text);
	cr_expect(strstr(text, "first: a1 b1 a2 b2 a3 b3 -> 2 rows; a ok; b ok after waiting on a"),
		  "%s", text);
	cr_expect(strstr(text, "permutation \"a_select\" \"b_select\" \"a_insert\""), "%s", text);
	free(text);
	char *xml = capture(report_write_junit, &run, 1);
	cr_expect(strstr(xml, "first order that left duplicates: a1 b1 a2 b2 a3 b3 -&gt; 2 rows"), "%s",
		  xml);
	free(xml);
	char buf[256];
	ilv_describe(&orders[1], buf, sizeof buf);
	cr_expect_str_eq(buf, "a1 a2 b1 b2 b3 a3 -> not executable at b3 (b2 waits on a)");
	phases[0].ilv.orders = NULL;
}

Test(report, fire_bound_and_order)
{
	struct phase_result *ph = &phases[0];
	ph->mode = MODE_FIRE;
	ph->rounds = 20;
	ph->rounds_with_duplicates = 0;
	ph->upper95 = stats_upper95(0, 20);
	json_t *doc = parse_json(report_write_json, &run, 1);
	json_t *u = json_at(doc, "phases.0.race_probability_upper_95");
	cr_assert(json_is_real(u));
	cr_expect(fabs(json_real_value(u) - 0.139108) < 1e-5, "%f", json_real_value(u));
	cr_expect(json_is_null(json_at(doc, "phases.0.first_duplicate_round")));
	json_decref(doc);
	char *text = capture_summary(&run);
	cr_expect(strstr(text, "after_migration: 0 of 20 rounds duplicated: race probability per "
			       "round <= 0.139 (95 % upper bound)"),
		  "%s", text);
	free(text);

	ph->rounds_with_duplicates = 1;
	ph->fire_round = 4;
	snprintf(ph->fire_order, sizeof ph->fire_order, "b1 a1 a2 b2 a3 b3");
	ph->fire_events[0] = (struct order_event){1, 0, 1000, 1400};
	ph->fire_events[1] = (struct order_event){0, 0, 1010, 1300};
	ph->n_fire_events = 2;
	doc = parse_json(report_write_json, &run, 1);
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.round", K_INT, NULL, 4, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.order", K_STR,
					      "b1 a1 a2 b2 a3 b3", 0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.steps.1.step", K_STR, "a1",
					      0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.steps.1.sent_us", K_INT,
					      NULL, 10, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.steps.0.done_us", K_INT,
					      NULL, 400, 0});
	json_decref(doc);
	text = capture_summary(&run);
	cr_expect(strstr(text, "round 4 sent its steps in the order b1 a1 a2 b2 a3 b3"), "%s", text);
	free(text);
}

/* Fire phases: the bound only where it means something, the replay hint
 * only where an interleave phase can run the order (2-4 workers). */
Test(report, summary_fire_bound_and_replay_only_where_they_apply)
{
	static const struct {
		int workers, rounds;
		long long dup;
		const char *order;
		bool bound, replay;
	} cases[] = {
		{2, 20, 3, "a1 b1 a2 b2 a3 b3", true, true},
		{4, 20, 1, "a1 b1 c1 d1 a2 b2 c2 d2", true, true},
		{16, 20, 1, "a1 b1 c1 d1 e1 f1 g1 h1 i1 j1 k1 l1 m1 n1 o1 p1", true, false},
		{5, 20, 1, "a1 b1 c1 d1 e1", true, false},
		{1, 20, 0, "", false, false},   /* one worker: nothing races */
		{2, 20, 20, "a1 b1", false, true}, /* every round duplicated */
	};
	struct phase_result *race = &phases[0];
	race->mode = MODE_FIRE;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		race->workers = cases[i].workers;
		race->rounds = cases[i].rounds;
		race->rounds_with_duplicates = cases[i].dup;
		race->upper95 = 0.5;
		race->fire_round = 1;
		snprintf(race->fire_order, sizeof race->fire_order, "%s", cases[i].order);
		char *text = capture_summary(&run);
		cr_expect_eq(strstr(text, "upper bound") != NULL, cases[i].bound,
			     "case %zu: bound shown %d:\n%s", i, !cases[i].bound, text);
		cr_expect_eq(strstr(text, "replay it") != NULL, cases[i].replay,
			     "case %zu: replay shown %d:\n%s", i, !cases[i].replay, text);
		if (cases[i].order[0])
			cr_expect(strstr(text, cases[i].order), "case %zu: the order is shown", i);
		free(text);
	}
}

/* Hold and fire rounds: each timeline step says what it ended in and which
 * constraint that names; a migrated phase keeps its first passing round;
 * a hold phase's order stays out of the terminal (the barrier made it). */
Test(report, round_steps_outcome_and_first_passing_round)
{
	struct phase_result *ph = &phases[0];
	ph->mode = MODE_HOLD;
	ph->workers = 2;
	ph->rounds = 3;
	ph->rounds_with_duplicates = 1;
	ph->steps_per_worker = 3;
	ph->fire_round = 2;
	snprintf(ph->fire_order, sizeof ph->fire_order, "a1 b1 a2 b2 a3 b3");
	ph->fire_events[0] = (struct order_event){0, 0, 1000, 1100};
	ph->fire_ends[0] = (struct step_end){"", ""};
	ph->n_fire_events = 1;
	ph->pass_round = 3;
	ph->pass_events[0] = (struct order_event){0, 1, 2000, 2100};
	ph->pass_events[1] = (struct order_event){1, 1, 2010, 2900};
	ph->pass_ends[0] = (struct step_end){"", ""};
	ph->pass_ends[1] = (struct step_end){"23505", "uq_t_k"};
	ph->pass_events[2] = (struct order_event){27, -1, 2020, 2030}; /* worker ab's BEGIN */
	ph->pass_ends[2] = (struct step_end){"", ""};
	ph->n_pass_events = 3;
	json_t *doc = parse_json(report_write_json, &run, 1);
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.2.step", K_STR, "ab0",
					      0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.2.sent_us", K_INT,
					      NULL, 20, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.steps.0.outcome", K_STR,
					      "ok", 0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_duplicate_round.steps_per_worker", K_INT,
					      NULL, 3, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.round", K_INT, NULL, 3, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.1.step", K_STR, "b2",
					      0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.1.done_us", K_INT,
					      NULL, 900, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.1.outcome", K_STR,
					      "23505", 0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.1.constraint", K_STR,
					      "uq_t_k", 0, 0});
	check_field(doc, &(struct field_case){"phases.0.first_passing_round.steps.0.constraint", K_NULL,
					      NULL, 0, 0});
	json_decref(doc);
	char *text = capture_summary(&run);
	cr_expect_null(strstr(text, "sent its steps in the order"), "%s", text);
	free(text);
	ph->pass_round = 0;
	ph->n_pass_events = 0;
	doc = parse_json(report_write_json, &run, 1);
	cr_expect(json_is_null(json_at(doc, "phases.0.first_passing_round")));
	json_decref(doc);
}

/* An app flow's kept rounds: each worker's end, match, SQLSTATE, constraint
 * and output tails in the JSON; a tail's invalid UTF-8 becomes '?'. */
Test(report, json_app_rounds_per_worker)
{
	struct app_worker_result w[2] = {{0}};
	struct phase_result *ph = &phases[0];
	json_t *doc;

	w[0].exit_code = 0;
	snprintf(w[0].end, sizeof w[0].end, "exited with status 0");
	w[0].matched = true;
	snprintf(w[0].out, sizeof w[0].out, "inserted <b>1</b>\n");
	w[1].exit_code = 137;
	w[1].signal = 9;
	snprintf(w[1].end, sizeof w[1].end, "was killed by SIGKILL");
	snprintf(w[1].sqlstate, sizeof w[1].sqlstate, "23505");
	snprintf(w[1].constraint, sizeof w[1].constraint, "members_email_key");
	snprintf(w[1].err, sizeof w[1].err, "dup \xff key");
	ph->app.exit_ok = 1;
	ph->app.exit_failed = 1;
	ph->app_rounds[0] = (struct app_round_result){.round = 1, .workers = w, .n_workers = 2};
	snprintf(ph->app_rounds[0].why, sizeof ph->app_rounds[0].why, "first, first duplicate");
	ph->n_app_rounds = 1;
	doc = parse_json(report_write_json, &run, 1);
	static const struct field_case cases[] = {
		{"phases.0.app.exit_ok", K_INT, .i = 1},
		{"phases.0.app.rounds.0.round", K_INT, .i = 1},
		{"phases.0.app.rounds.0.why", K_STR, .s = "first, first duplicate"},
		{"phases.0.app.rounds.0.workers.0.worker", K_STR, .s = "a"},
		{"phases.0.app.rounds.0.workers.0.exit_code", K_INT, .i = 0},
		{"phases.0.app.rounds.0.workers.0.signal", K_NULL, .s = NULL},
		{"phases.0.app.rounds.0.workers.0.end", K_STR, .s = "exited with status 0"},
		{"phases.0.app.rounds.0.workers.0.output_matched", K_BOOL, .i = 1},
		{"phases.0.app.rounds.0.workers.0.sqlstate", K_NULL, .s = NULL},
		{"phases.0.app.rounds.0.workers.0.constraint", K_NULL, .s = NULL},
		{"phases.0.app.rounds.0.workers.0.stdout_tail", K_STR, .s = "inserted <b>1</b>\n"},
		{"phases.0.app.rounds.0.workers.0.stderr_tail", K_STR, .s = ""},
		{"phases.0.app.rounds.0.workers.1.exit_code", K_INT, .i = 137},
		{"phases.0.app.rounds.0.workers.1.signal", K_INT, .i = 9},
		{"phases.0.app.rounds.0.workers.1.end", K_STR, .s = "was killed by SIGKILL"},
		{"phases.0.app.rounds.0.workers.1.output_matched", K_BOOL, .i = 0},
		{"phases.0.app.rounds.0.workers.1.sqlstate", K_STR, .s = "23505"},
		{"phases.0.app.rounds.0.workers.1.constraint", K_STR, .s = "members_email_key"},
		{"phases.0.app.rounds.0.workers.1.stderr_tail", K_STR, .s = "dup ? key"},
		{"phases.1.app", K_NULL, .s = NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_field(doc, &cases[i]);
	json_decref(doc);
	ph->n_app_rounds = 0; /* w is on this stack */
}
