/* test_key.c: key parameters: integer expressions, text templates, variants
 * per worker, and their evaluation into fixed buffers. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "key.h"

static void parse_expr_ok(const char *text, struct key_param *p)
{
	char err[512] = "";
	cr_assert(key_param_expr(text, p, err, sizeof err), "%s: %s", text, err);
}

static void parse_text_ok(const char *const *texts, size_t n, struct key_param *p)
{
	char err[512] = "";
	cr_assert(key_param_text(texts, n, p, err, sizeof err), "%s: %s", texts[0], err);
}

/* The values of params for ctx, "$1|$2|..." into buf. */
static const char *eval(const struct key_param *p, size_t n, struct key_ctx ctx, char *buf,
			size_t len)
{
	struct key_values kv;
	char err[512] = "";
	cr_assert(key_eval(p, n, &ctx, &kv, err, sizeof err), "%s", err);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? "|" : "", kv.ptr[i]);
	}
	return buf;
}

Test(key, expressions_and_templates)
{
	static const struct {
		const char *text;
		struct key_ctx ctx;
		const char *want;
	} cases[] = {
		{"round", {7, 0, 0, 0}, "7"},
		{"round * 1000 + key", {3, 2, 0, 0}, "3002"},
		{"-9223372036854775807 - 1", {1, 0, 0, 0}, "-9223372036854775808"},
		{"user{round}@example.test", {42, 0, 0, 0}, "user42@example.test"},
		{"{round}-{key}-{phase_round}-{worker}", {5, 1, 2, 3}, "5-1-2-3"},
		{"t{worker / 2}", {1, 0, 0, 3}, "t1"},
		{"{{literal}} {round}", {9, 0, 0, 0}, "{literal} 9"},
		{"{round}", {12, 0, 0, 0}, "12"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct key_param p;
		if (key_is_template(cases[i].text))
			parse_text_ok(&cases[i].text, 1, &p);
		else
			parse_expr_ok(cases[i].text, &p);
		char buf[256];
		cr_expect_str_eq(eval(&p, 1, cases[i].ctx, buf, sizeof buf), cases[i].want, "%s",
				 cases[i].text);
		key_param_free(&p);
	}
}

Test(key, variants_by_worker)
{
	const char *v[] = {"Ann{round}@x.io", "ann{round}@x.io", "ANN{round}@X.IO"};
	struct key_param p;
	parse_text_ok(v, 3, &p);
	cr_expect(p.uses_worker);
	char buf[256];
	cr_expect_str_eq(eval(&p, 1, (struct key_ctx){4, 0, 0, 0}, buf, sizeof buf), "Ann4@x.io");
	cr_expect_str_eq(eval(&p, 1, (struct key_ctx){4, 0, 0, 1}, buf, sizeof buf), "ann4@x.io");
	cr_expect_str_eq(eval(&p, 1, (struct key_ctx){4, 0, 0, 2}, buf, sizeof buf), "ANN4@X.IO");
	cr_expect_str_eq(eval(&p, 1, (struct key_ctx){4, 0, 0, 5}, buf, sizeof buf), "ANN4@X.IO");
	key_param_free(&p);
}

Test(key, uses_worker)
{
	struct key_param p[3];
	parse_expr_ok("round", &p[0]);
	const char *t = "u{round}";
	parse_text_ok(&t, 1, &p[1]);
	cr_expect_not(key_uses_worker(p, 2));
	parse_expr_ok("round * 10 + worker", &p[2]);
	cr_expect(key_uses_worker(p, 3));
	char buf[256];
	cr_expect_str_eq(eval(p, 3, (struct key_ctx){2, 0, 0, 1}, buf, sizeof buf), "2|u2|21");
	for (int i = 0; i < 3; i++)
		key_param_free(&p[i]);
}

Test(key, parse_errors)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{"user{round", "without its"},
		{"user}x", "lone"},
		{"u{}", "{}"},
		{"u{tenant}", "tenant"},
		{"u{round +}", "round +"},
		{"u{1/0}", "division by zero"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct key_param p;
		char err[512] = "";
		cr_expect_not(key_param_text(&bad[i].text, 1, &p, err, sizeof err), "%s", bad[i].text);
		cr_expect(strstr(err, bad[i].needle), "%s: %s", bad[i].text, err);
	}
	struct key_param p;
	char err[512] = "";
	cr_expect_not(key_param_expr("tenant + 1", &p, err, sizeof err));
	cr_expect(strstr(err, "tenant"), "%s", err);
}

Test(key, eval_errors_name_the_parameter)
{
	struct key_param p[2];
	parse_expr_ok("round", &p[0]);
	parse_expr_ok("9223372036854775807 + round", &p[1]);
	struct key_values kv;
	char err[512] = "";
	struct key_ctx ctx = {1, 0, 0, 0};
	cr_expect_not(key_eval(p, 2, &ctx, &kv, err, sizeof err));
	cr_expect(strstr(err, "parameter $2"), "%s", err);
	key_param_free(&p[0]);
	key_param_free(&p[1]);
}

Test(key, too_long_for_the_buffer)
{
	char big[700];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const char *t = big;
	struct key_param p[2];
	parse_text_ok(&t, 1, &p[0]);
	parse_text_ok(&t, 1, &p[1]);
	struct key_values kv;
	char err[512] = "";
	struct key_ctx ctx = {1, 0, 0, 0};
	cr_expect(key_eval(p, 1, &ctx, &kv, err, sizeof err), "one value of 699 bytes fits");
	cr_expect_eq(strlen(kv.ptr[0]), 699);
	cr_expect_not(key_eval(p, 2, &ctx, &kv, err, sizeof err));
	cr_expect(strstr(err, "parameter $2") && strstr(err, "1024"), "%s", err);
	key_param_free(&p[0]);
	key_param_free(&p[1]);
}
