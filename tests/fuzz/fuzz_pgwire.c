/* fuzz_pgwire.c: libFuzzer target for the protocol reader (pgwire.h).
 *
 * Any input is framed as a stream of typed messages and as a start-up
 * packet, and every whole message goes through each parser: never a read
 * outside the input (ASan), never a message that claims more bytes than it
 * was given, never a stream that stops advancing. Run by scripts/fuzz.sh
 * pgwire. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct pgwire_startup s;
	if (pgwire_frame_startup(data, size, &s, err, sizeof err) == PGWIRE_MESSAGE) {
		if (s.msg.total > size)
			abort();
		(void)pgwire_startup_param(&s, "user");
	}
	size_t off = 0;
	while (off < size) {
		struct pgwire_msg m;
		if (pgwire_frame(data + off, size - off, &m, err, sizeof err) != PGWIRE_MESSAGE)
			break;
		if (m.total < 5 || m.total > size - off)
			abort();
		struct pgwire_error e;
		const char *sql, *name;
		const uint8_t *key;
		uint32_t pid;
		size_t len;
		char st;
		(void)pgwire_parse_error(&m, &e);
		(void)pgwire_parse_ready(&m, &st);
		(void)pgwire_parse_key_data(&m, &pid, &key, &len);
		(void)pgwire_parse_bind_statement(&m, &name);
		if (pgwire_parse_sql(&m, &sql, &len))
			(void)pgwire_sql_class(sql);
		off += m.total;
	}
	return 0;
}
