/* test_integration_modes.c: the modes agree, against a real PostgreSQL.
 *
 * For every scenario in scenarios/ and every release mode it allows (hold,
 * fire, interleave at the two workers interleave mode races by default),
 * `pgrace run --mode M` with few rounds reaches the same verdict: the
 * engines share one definition of an attempt (src/attempt.c), so a mode
 * must never pass what another fails. A mode a scenario does not allow is
 * refused before anything runs (exit 2, naming file:line and the mode);
 * only interleave may be refused that way here (the shipped scenarios race
 * in hold and fire). A scenario the server cannot run (exit 6: an
 * extension, a version, a replica it needs) is skipped in every mode. The
 * exclusion scenarios pass in interleave mode too.
 *
 * Fire mode is the one stochastic mode: a phase that must reproduce the
 * race may not in a few rounds (exit 4, inconclusive, never a pass or a
 * fail the others did not reach). It runs 10 rounds, and an inconclusive
 * fire run beside a pass is told apart from a disagreement and counted:
 * at most two of them in the whole matrix. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(modes, .init = scratch_init, .fini = scratch_fini, .timeout = 900);

static const char *const modes[] = {"hold", "fire", "interleave"};
#define N_MODES (sizeof modes / sizeof modes[0])

/* The scenario files, sorted, into names (each malloc'd); their count. */
static size_t scenario_files(char names[][128], size_t cap)
{
	DIR *d = opendir(PGRACE_SOURCE_DIR "/scenarios");
	cr_assert(d, "cannot list scenarios/");
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < cap) {
		size_t len = strlen(e->d_name);
		if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml"))
			snprintf(names[n++], 128, "%s", e->d_name);
	}
	closedir(d);
	qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
	return n;
}

Test(modes, every_scenario_same_verdict_in_every_mode_it_allows)
{
	static char names[64][128];
	size_t n = scenario_files(names, 64), compared = 0, unreproduced = 0;
	cr_assert_geq(n, 10, "only %zu scenarios", n);
	for (size_t i = 0; i < n; i++) {
		char file[512];
		snprintf(file, sizeof file, "%s/scenarios/%s", PGRACE_SOURCE_DIR, names[i]);
		int code[N_MODES];
		char verdict[N_MODES][32];
		bool allowed[N_MODES], skipped = false;
		for (size_t m = 0; m < N_MODES; m++) {
			struct proc p;
			const char *json = spath("modes.json");
			remove(json);
			const char *rounds = m == 1 ? "10" : "3";
			code[m] = run_pgrace(ARGS("run", file, "-q", "--mode", modes[m], "--rounds",
						  rounds, "--json", json),
					     &p);
			allowed[m] = code[m] != 2;
			verdict[m][0] = '\0';
			if (code[m] == 6)
				skipped = true;
			if (code[m] == 2) {
				/* Refused up front, and only interleave, naming the file's
				 * line and what interleave cannot do. */
				cr_expect_eq(m, 2, "%s --mode %s refused: %s", names[i], modes[m],
					     proc_said(&p));
				cr_expect(strstr(p.err, names[i]) && strstr(p.err, "interleave"),
					  "%s --mode interleave: the refusal does not name the file and "
					  "the mode\n%s",
					  names[i], proc_said(&p));
			} else if (code[m] != 6) {
				json_t *doc = load_json(json);
				snprintf(verdict[m], sizeof verdict[m], "%s", jstr(doc, "verdict"));
				json_decref(doc);
			}
			proc_free(&p);
		}
		if (skipped) {
			for (size_t m = 0; m < N_MODES; m++)
				cr_expect(code[m] == 6 || code[m] == 2,
					  "%s: skipped in one mode (exit 6) but exit %d in %s", names[i],
					  code[m], modes[m]);
			continue;
		}
		size_t first = N_MODES;
		for (size_t m = 0; m < N_MODES; m++) {
			if (!allowed[m])
				continue;
			if (first == N_MODES) {
				first = m;
				continue;
			}
			compared++;
			if (m == 1 && code[m] == 4 && code[first] == 0) {
				unreproduced++;
				continue;
			}
			cr_expect(code[m] == code[first] && !strcmp(verdict[m], verdict[first]),
				  "%s: --mode %s gives exit %d (%s), --mode %s exit %d (%s)", names[i],
				  modes[first], code[first], verdict[first], modes[m], code[m],
				  verdict[m]);
		}
		cr_expect(first < N_MODES, "%s: no mode allowed", names[i]);
		/* The shipped scenarios pass: an agreement on a failure is a bug too. */
		if (first < N_MODES)
			cr_expect_eq(code[first], 0, "%s --mode %s: exit %d", names[i], modes[first],
				     code[first]);
		if (strstr(names[i], "exclusion"))
			cr_expect(allowed[2] && code[2] == 0, "%s: interleave mode exit %d", names[i],
				  code[2]);
	}
	cr_expect_geq(compared, 10, "only %zu mode pairs compared", compared);
	cr_expect_leq(unreproduced, 2, "%zu fire runs never reproduced the race", unreproduced);
}
