/* exitcode.c: the exit-code table (exitcode.h). */
#include "exitcode.h"

#include "pgrace.h"

const struct exit_code_def exit_codes[] = {
	{EXIT_PASS, "EXIT_PASS", "every expectation held"},
	{EXIT_FAIL, "EXIT_FAIL", "an expectation failed"},
	{EXIT_USAGE, "EXIT_USAGE", "bad usage or bad scenario file (the message names file:line)"},
	{EXIT_DATABASE, "EXIT_DATABASE",
	 "the database could not be used (unreachable, died, timed out)"},
	{EXIT_INCONCLUSIVE, "EXIT_INCONCLUSIVE",
	 "inconclusive: a phase that must reproduce the race never did"},
	{EXIT_RESULTS, "EXIT_RESULTS", "verdict reached, but the result files could not be written"},
	{EXIT_SKIPPED, "EXIT_SKIPPED",
	 "every scenario was skipped: the server lacks what each requires\n"
	 "(a skipped scenario beside others that pass does not change 0)"},
	{EXIT_SIGINT, "EXIT_SIGINT", "interrupted (SIGINT)"},
	{EXIT_SIGTERM, "EXIT_SIGTERM", "terminated (SIGTERM)"},
};

const size_t n_exit_codes = sizeof exit_codes / sizeof exit_codes[0];

void exitcode_print(FILE *out)
{
	fputs("Exit status:\n", out);
	for (size_t i = 0; i < n_exit_codes; i++) {
		const char *m = exit_codes[i].meaning;
		fprintf(out, "  %-4d ", exit_codes[i].code);
		for (; *m; m++) {
			fputc(*m, out);
			if (*m == '\n')
				fputs("       ", out);
		}
		fputc('\n', out);
	}
}
