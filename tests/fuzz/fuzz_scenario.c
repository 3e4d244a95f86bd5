/* fuzz_scenario.c: libFuzzer target for the scenario loader.
 *
 * Any input must end in a loaded scenario or an error naming path:line:
 * never a crash, a hang, a leak or an error without a location. Seeded from
 * scenarios/ by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario sc;
	char err[1024];
	if (scenario_parse("fuzz.yaml", (const char *)data, size, &sc, err, sizeof err)) {
		struct race_cfg r = scenario_race(&sc, sc.n_phases ? &sc.phases[0] : NULL, NULL);
		if (r.workers < 1 || r.keys < 1 || r.keys > r.workers)
			abort();
		scenario_free(&sc);
	} else if (strncmp(err, "fuzz.yaml:", 10) != 0) {
		abort(); /* every error names the file and line */
	}
	return 0;
}
