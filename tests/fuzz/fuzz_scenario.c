/* fuzz_scenario.c: libFuzzer target for the scenario loader.
 *
 * Any input must end in a loaded scenario or an error naming path:line:
 * never a crash, a hang, a leak or an error without a location. A loaded
 * scenario's expressions are then evaluated and walked as a run would:
 * expectations here, key parameters on a thread with a worker's stack
 * (256 KiB), so an expression too deep for either shows as a crash. Seeded
 * from scenarios/ by scripts/fuzz.sh. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every name is worth 1: evaluation may still fail (division by zero). */
static bool any_metric(void *ctx, const char *name, long long *value)
{
	(void)ctx;
	(void)name;
	*value = 1;
	return true;
}

static bool any_name(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] != '\0';
}

static void eval_expects(const struct expectation *x, size_t n)
{
	char actual[256], err[256];
	bool passed;
	for (size_t i = 0; i < n; i++) {
		(void)expect_eval(&x[i], any_metric, NULL, &passed, actual, sizeof actual, err,
				  sizeof err);
		if (!expr_names(x[i].lhs, any_name, NULL) || !expr_names(x[i].rhs, any_name, NULL))
			abort();
	}
}

static void *eval_params(void *arg)
{
	const struct scenario *sc = arg;
	char err[256];
	struct key_values kv;
	/* As a worker would, on a thread's stack: a far round, a worker past 0. */
	struct key_ctx ctx = {.round = 1000003, .key = 7, .phase_round = 5, .worker = 3};
	(void)key_eval(sc->params, sc->n_params, &ctx, &kv, err, sizeof err);
	return NULL;
}

static void eval_all(const struct scenario *sc)
{
	for (size_t i = 0; i < sc->n_phases; i++) {
		const struct phase *p = &sc->phases[i];
		eval_expects(p->expects, p->n_expects);
		for (size_t j = 0; j < p->n_steps; j++)
			eval_expects(p->steps[j].expects, p->steps[j].n_expects);
	}
	pthread_attr_t attr;
	pthread_t t;
	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 256 * 1024) ||
	    pthread_create(&t, &attr, eval_params, (void *)sc) || pthread_join(t, NULL))
		abort();
	pthread_attr_destroy(&attr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario sc;
	char err[1024];
	if (scenario_parse("fuzz.yaml", (const char *)data, size, &sc, err, sizeof err)) {
		struct race_cfg r = scenario_race(&sc, sc.n_phases ? &sc.phases[0] : NULL, NULL);
		if (r.workers < 1 || r.keys < 1 || r.keys > r.workers)
			abort();
		eval_all(&sc);
		scenario_free(&sc);
	} else if (strncmp(err, "fuzz.yaml:", 10) != 0) {
		abort(); /* every error names the file and line */
	}
	return 0;
}
