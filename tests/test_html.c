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

/* Noncharacters (U+FFFE, U+FFFF, U+FDD0, U+1FFFE) are an HTML parse error:
 * shown escaped; the characters beside them stay as they are. */
Test(html, noncharacters_are_escaped)
{
	char *p = page("{\"scenario\": \"a\\ufffe b\\uffff c\\ufdd0 d\\ud83f\\udffe e \\u00e9\\ufffd\","
		       " \"verdict\": \"pass\", \"phases\": []}");
	cr_expect(strstr(p, "a\\ufffe b\\uffff c\\ufdd0 d\\u1fffe e \xc3\xa9\xef\xbf\xbd"), "%s", p);
	cr_expect_null(strstr(p, "\xef\xbf\xbe"), "U+FFFE raw");
	free(p);
}

/* A hold round's timeline: COMMIT green, a statement still unanswered when
 * the COMMITs went was blocked, its error named with its constraint; the
 * first passing round after the migration gets its own timeline; every
 * step is in the list below as well. */
Test(html, hold_timelines_blocked_commit_and_error)
{
	char *p = page("{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"after\","
		       " \"mode\": \"hold\", \"first_duplicate_round\": null, \"first_passing_round\": "
		       "{\"round\": 2,"
		       " \"steps_per_worker\": 3, \"steps\": ["
		       "{\"step\": \"a1\", \"sent_us\": 0, \"done_us\": 5, \"outcome\": \"ok\"},"
		       "{\"step\": \"b1\", \"sent_us\": 1, \"done_us\": 6, \"outcome\": \"ok\"},"
		       "{\"step\": \"a2\", \"sent_us\": 6, \"done_us\": 9, \"outcome\": \"ok\"},"
		       "{\"step\": \"b2\", \"sent_us\": 7, \"done_us\": 40, \"outcome\": \"23505\","
		       " \"constraint\": \"uq_<k>\"},"
		       "{\"step\": \"a3\", \"sent_us\": 20, \"done_us\": 30, \"outcome\": \"ok\"}]}}]}");
	cr_expect_eq(count(p, "class=\"lane\""), 2);
	cr_expect(strstr(p, "the first with the migration applied that left no duplicates"));
	cr_expect_eq(count(p, "class=\"st commit\""), 1, "a3 is the COMMIT");
	cr_expect_eq(count(p, "class=\"st err blocked\""), 1, "b2 waited past the release");
	cr_expect_eq(count(p, "class=\"held\""), 1, "a waited at the barrier before its COMMIT");
	cr_expect(strstr(p,
			 "b2: sent at 7 us, answered at 40 us, blocked until the COMMITs were released, "
			 "23505 (uq_&lt;k&gt;)"),
		  "the blocked step's SQLSTATE and constraint, escaped");
	cr_expect_eq(count(p, "class=\"tl-step"), 5, "every step listed");
	cr_expect_null(strstr(p, "a2: sent at 6 us, answered at 9 us, blocked"),
		       "a2 ended before the release");
	free(p);

	/* fire: no barrier, so no step is called blocked */
	p = page("{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"f\", \"mode\": "
		 "\"fire\","
		 " \"first_duplicate_round\": {\"round\": 1, \"steps_per_worker\": 2, \"steps\": ["
		 "{\"step\": \"a1\", \"sent_us\": 0, \"done_us\": 50}, {\"step\": \"b2\", \"sent_us\": "
		 "10,"
		 " \"done_us\": 20}]}}]}");
	cr_expect_eq(count(p, "blocked until"), 0);
	cr_expect_eq(count(p, " blocked\""), 0);
	cr_expect_eq(count(p, "class=\"st commit\""), 1);
	free(p);
}

/* Each worker's BEGIN (step a0) on its lane, before its statements, and the
 * wait at the start line after it; a hostile step name stays text. */
Test(html, begin_on_lanes)
{
	char *p = page("{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"h\","
		       " \"mode\": \"hold\", \"first_duplicate_round\": {\"round\": 1, \"steps_per_worker\": 2,"
		       " \"steps\": ["
		       "{\"step\": \"a0\", \"sent_us\": 0, \"done_us\": 4, \"outcome\": \"ok\"},"
		       "{\"step\": \"b0\", \"sent_us\": 1, \"done_us\": 5, \"outcome\": \"ok\"},"
		       "{\"step\": \"a1\", \"sent_us\": 10, \"done_us\": 12, \"outcome\": \"ok\"},"
		       "{\"step\": \"b1\", \"sent_us\": 10, \"done_us\": 13, \"outcome\": \"ok\"},"
		       "{\"step\": \"a2\", \"sent_us\": 20, \"done_us\": 22, \"outcome\": \"ok\"},"
		       "{\"step\": \"b2\", \"sent_us\": 20, \"done_us\": 23, \"outcome\": \"ok\"},"
		       "{\"step\": \"<i>0\", \"sent_us\": 2, \"done_us\": 3}]}}]}");
	cr_expect_eq(count(p, "class=\"st begin\""), 3, "one BEGIN per worker");
	cr_expect(strstr(p, "a0 BEGIN: sent at 0 us, answered at 4 us, ok"));
	cr_expect_eq(count(p, "class=\"start\""), 2, "a and b waited at the start line");
	cr_expect_eq(count(p, "class=\"st commit\""), 2);
	cr_expect_eq(count(p, "class=\"lane\""), 3);
	cr_expect(strstr(p, "data-worker=\"&lt;i&gt;\""), "a hostile worker name is escaped");
	cr_expect_null(strstr(p, "<i>"));
	free(p);
}

/* An app round's timeline: a lane per worker's process, its steps as the
 * listener relayed them (BEGIN, a held COMMIT with its wait, an INSERT
 * blocked past the release ending in 23505 and its constraint), its exit;
 * the axis from the first step in; hostile words stay text. */
Test(html, app_lanes)
{
	char *p = page(
		"{\"scenario\": \"s\", \"verdict\": \"pass\", \"phases\": [{\"name\": \"after\","
		" \"mode\": \"hold\", \"app\": {\"exit_ok\": 1, \"exit_failed\": 1, \"rounds\": ["
		"{\"round\": 2, \"why\": \"first passing\", \"workers\": ["
		"{\"worker\": \"a\", \"exit_code\": 0, \"end\": \"exited with status 0\","
		" \"exited_us\": 900, \"trips_seen\": 3, \"trips\": ["
		"{\"conn\": 0, \"what\": \"BEGIN\", \"in_us\": 100, \"sent_us\": 100, \"done_us\": 110,"
		" \"held\": false, \"outcome\": \"ok\", \"constraint\": null},"
		"{\"conn\": 0, \"what\": \"statement\", \"in_us\": 120, \"sent_us\": 120, \"done_us\": 130,"
		" \"held\": false, \"outcome\": \"ok\", \"constraint\": null},"
		"{\"conn\": 0, \"what\": \"COMMIT\", \"in_us\": 140, \"sent_us\": 400, \"done_us\": 410,"
		" \"held\": true, \"outcome\": \"ok\", \"constraint\": null}]},"
		"{\"worker\": \"b\", \"exit_code\": 3, \"end\": \"exited with status 3\","
		" \"exited_us\": 800, \"trips_seen\": 40, \"trips\": ["
		"{\"conn\": 0, \"what\": \"BEGIN\", \"in_us\": 105, \"sent_us\": 105, \"done_us\": 115,"
		" \"held\": false, \"outcome\": \"ok\", \"constraint\": null},"
		"{\"conn\": 0, \"what\": \"statement\", \"in_us\": 150, \"sent_us\": 150, \"done_us\": 500,"
		" \"held\": false, \"outcome\": \"23505\", \"constraint\": \"uq_<m>\"},"
		"{\"conn\": 1, \"what\": \"<b>x</b>\", \"in_us\": 600, \"sent_us\": null,"
		" \"done_us\": null, \"held\": true, \"outcome\": \"ok\", \"constraint\": null}]}]}]}}]}");
	cr_expect_eq(count(p, "<figure class=\"timeline app-timeline\">"), 1);
	cr_expect_eq(count(p, "class=\"lane\" data-worker="), 2, "a lane per worker");
	cr_expect_eq(count(p, "class=\"st begin\""), 2, "each process's BEGIN");
	cr_expect_eq(count(p, "class=\"st commit\""), 1);
	cr_expect_eq(count(p, "class=\"st err blocked\""), 1, "b's INSERT waited past the release");
	cr_expect(strstr(p, "b, connection 0, statement: in at 150 us, sent at 150 us, answered at "
			    "500 us, blocked until the COMMITs were released, 23505 (uq_&lt;m&gt;)"),
		  "%s", p);
	cr_expect(strstr(p, "a, connection 0, COMMIT: in at 140 us, held by the listener, sent at 400 us"));
	cr_expect_eq(count(p, "<line class=\"held\""), 2, "a's COMMIT and b's last step were held");
	cr_expect(strstr(p, "&lt;b&gt;x&lt;/b&gt;: in at 600 us, held by the listener, never sent, no answer"));
	cr_expect_null(strstr(p, "<b>x"));
	cr_expect_eq(count(p, "<rect class=\"exit\""), 1);
	cr_expect_eq(count(p, "<rect class=\"exit bad\""), 1);
	cr_expect(strstr(p, "b exited with status 3 at 800 us"));
	cr_expect(strstr(p, "from the first step in, 100 us after the round&#39;s start"));
	cr_expect(strstr(p, "b: 40 steps in all, the last 3 shown"));
	cr_expect(strstr(p, "<table class=\"app\">"), "the table of the processes follows");
	free(p);
}

/* An app phase: a table per kept round, a row per worker with its end,
 * match, SQLSTATE, constraint and output tails, all of it text. */
Test(html, app_workers_table)
{
	char *p = page("{\"scenario\": \"s\", \"verdict\": \"fail\", \"phases\": [{\"name\": \"app\","
		       " \"mode\": \"fire\", \"app\": {\"exit_ok\": 1, \"exit_failed\": 1, \"rounds\": ["
		       "{\"round\": 1, \"why\": \"first, first duplicate\", \"workers\": ["
		       "{\"worker\": 0, \"exit_code\": 0, \"end\": \"exited with status 0\","
		       " \"output_matched\": true, \"sqlstate\": null, \"constraint\": null,"
		       " \"stdout_tail\": \"ok <script>alert(1)</script>\\nline2 \\ufffe\\u001b[2J\","
		       " \"stderr_tail\": \"\"},"
		       "{\"worker\": 1, \"exit_code\": 137, \"signal\": 9, \"end\": \"was killed by "
		       "SIGKILL\", \"output_matched\": false, \"sqlstate\": \"23505\","
		       " \"constraint\": \"uq_<k>\", \"stdout_tail\": \"\", \"stderr_tail\": "
		       "\"dup '&\\\"\"}]}]}}]}");
	cr_expect_eq(count(p, "<table class=\"app\">"), 1);
	cr_expect_eq(count(p, "app-timeline"), 0, "no steps, no exit times: no empty figure");
	cr_expect(strstr(p, "app workers, round 1 (first, first duplicate)"));
	cr_expect_eq(count(p, "<tr class=\"bad\"><td>b</td><td>was killed by SIGKILL"), 1,
		     "%s", p);
	cr_expect(strstr(p, "<td>exited with status 0</td><td>yes</td>"));
	cr_expect(strstr(p, "<td>23505</td><td>uq_&lt;k&gt;</td>"));
	cr_expect_null(strstr(p, "<script>alert"));
	cr_expect(strstr(p, "ok &lt;script&gt;alert(1)&lt;/script&gt;\nline2 \\ufffe\\x1b[2J</pre>"),
		  "newline kept, the rest escaped");
	cr_expect_null(strstr(p, "\xef\xbf\xbe"), "U+FFFE raw");
	cr_expect(strstr(p, "stderr:<pre>dup &#39;&amp;&quot;</pre>"));
	free(p);
}
