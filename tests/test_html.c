/* test_html.c: the HTML page of result documents built in memory. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "html.h"

TestSuite(html, .timeout = 30);

/* The page of the JSON text doc, malloc'd. */
static char *page(const char *doc)
{
	json_error_t e;
	json_t *j = json_loads(doc, 0, &e);
	cr_assert(j, "bad test JSON at %d: %s", e.line, e.text);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	cr_assert_eq(html_write(f, j), 0);
	fclose(f);
	json_decref(j);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(html, failed_expectations_first_with_where)
{
	char *p = page("{\"scenario\": \"s\", \"file\": \"s.yaml\", \"verdict\": \"fail\", \"exit_code\": 1,"
		       " \"phases\": [{\"name\": \"after\", \"verdict\": \"fail\", \"expectations\": ["
		       "{\"expect\": \"rows_per_key.max == 1\", \"actual\": \"2 == 1\", \"passed\": false, \"line\": 40},"
		       "{\"expect\": \"outcomes.ok >= 1\", \"actual\": \"5 >= 1\", \"passed\": true}]}]}");
	cr_expect_eq(count(p, "class=\"failed-expectation\""), 1);
	cr_expect(strstr(p, "s.yaml:40"), "the expectation's file:line");
	cr_expect(strstr(p, "<b id=\"exit-code\">1</b>"));
	cr_expect(strstr(p, "id=\"failures\"") < strstr(p, "class=\"run\""), "failures come first");
	free(p);
}

Test(html, race_map_cells_by_outcome)
{
	char *p = page("{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"i\", \"interleave\": {"
		       "\"orders\": ["
		       "{\"order\": \"a1 b1\", \"executable\": true, \"duplicate\": true, \"rows\": 2, \"workers\": []},"
		       "{\"order\": \"b1 a1\", \"executable\": true, \"duplicate\": false, \"rows\": 1,"
		       " \"workers\": [{\"worker\": \"a\", \"outcome\": \"23P01\"}]},"
		       "{\"order\": \"a1 a2\", \"executable\": false, \"workers\": []}]}}]}");
	cr_expect_eq(count(p, "class=\"cell "), 3);
	cr_expect_eq(count(p, "class=\"cell dup\""), 1);
	cr_expect_eq(count(p, "class=\"cell uv\""), 1, "an exclusion violation counts as the constraint's");
	cr_expect_eq(count(p, "class=\"cell nx\""), 1);
	free(p);
}

Test(html, timeline_one_lane_per_worker)
{
	char *p = page("{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"f\","
		       " \"first_duplicate_round\": {\"round\": 3, \"steps\": ["
		       "{\"step\": \"a1\", \"sent_us\": 0, \"done_us\": 10}, {\"step\": \"b1\", \"sent_us\": 2, \"done_us\": 9},"
		       "{\"step\": \"a2\", \"sent_us\": 11, \"done_us\": 20}, {\"step\": \"c1\", \"sent_us\": 3, \"done_us\": null}]}}]}");
	cr_expect_eq(count(p, "class=\"lane\""), 3);
	cr_expect(strstr(p, "data-worker=\"a\"") < strstr(p, "data-worker=\"b\""));
	cr_expect(strstr(p, "c1: sent at 3 us, no answer by"), "a step without an answer runs to the end");
	free(p);
}

Test(html, hostile_text_is_text)
{
	char *p = page("{\"scenario\": \"<script>x</script>\", \"verdict\": \"fail\", \"error\": \"a\\u001b[2J\\u202e'\\\"&\","
		       " \"phases\": []}");
	cr_expect_null(strstr(p, "<script>"));
	cr_expect(strstr(p, "&lt;script&gt;x&lt;/script&gt;"));
	cr_expect(strstr(p, "a\\x1b[2J\\u202e&#39;&quot;&amp;"), "controls and bidi escaped, quotes too");
	cr_expect(strstr(p, "Content-Security-Policy"));
	cr_expect_null(strstr(p, "://"), "nothing refers to the network");
	free(p);
}
