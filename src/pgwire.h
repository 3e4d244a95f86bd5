/* pgwire.h: PostgreSQL's frontend/backend protocol (v3.0 and v3.2) read
 * from byte buffers.
 *
 * Pure: no sockets, no allocation, no server. The proxy (proxy.c) feeds it
 * what it has received so far and gets back either a whole message, "need
 * more bytes", or "bad" with why; a message never claims bytes it does not
 * have. Every field is read through a bounds-checked reader (after
 * PgBouncer's mbuf: a read past the end fails and leaves the reader marked
 * bad instead of overrunning). A message longer than PGWIRE_MAX_MESSAGE
 * (64 MiB; a start-up packet past PGWIRE_MAX_STARTUP, PostgreSQL's own cap)
 * is refused before any of its body is waited for, so a lying length cannot
 * make the proxy buffer without bound.
 *
 * Start-up packets carry no type byte: int32 length (counting itself), then
 * int32 code: 196608 (3.0) or 196610 (3.2) for StartupMessage, 80877103
 * SSLRequest, 80877104 GSSENCRequest, 80877102 CancelRequest. Every later
 * message is a type byte, then an int32 length that counts itself but not
 * the type byte. */
#ifndef PGRACE_PGWIRE_H
#define PGRACE_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGWIRE_MAX_MESSAGE (64u * 1024u * 1024u)
#define PGWIRE_MAX_STARTUP 10000u
#define PGWIRE_MAX_CANCEL_KEY 256u

#define PGWIRE_CODE_SSL 80877103u
#define PGWIRE_CODE_GSSENC 80877104u
#define PGWIRE_CODE_CANCEL 80877102u

/* A bounds-checked cursor over a byte buffer. Once a read fails, bad stays
 * set and every later read fails too. */
struct pgwire_reader {
	const uint8_t *pos, *end;
	bool bad;
};

/* Starts r over len bytes at buf. */
void pgwire_reader_init(struct pgwire_reader *r, const void *buf, size_t len);
/* Bytes left to read. */
size_t pgwire_reader_left(const struct pgwire_reader *r);
/* One byte; false (r bad) past the end. */
bool pgwire_get_byte(struct pgwire_reader *r, uint8_t *out);
/* A big-endian uint16; false past the end. */
bool pgwire_get_uint16(struct pgwire_reader *r, uint16_t *out);
/* A big-endian uint32; false past the end. */
bool pgwire_get_uint32(struct pgwire_reader *r, uint32_t *out);
/* n bytes (a pointer into the buffer); false when fewer are left. */
bool pgwire_get_bytes(struct pgwire_reader *r, size_t n, const uint8_t **out);
/* A NUL-terminated string within the buffer (*out points at it, *len its
 * length without the NUL); false when no NUL comes before the end. */
bool pgwire_get_string(struct pgwire_reader *r, const char **out, size_t *len);

/* What framing made of the bytes at hand. */
enum pgwire_frame {
	PGWIRE_NEED_MORE, /* a prefix of a valid message: wait for more bytes */
	PGWIRE_MESSAGE,   /* a whole message */
	PGWIRE_BAD,       /* not a message: a length below its minimum or past the cap */
};

/* One framed message: points into the caller's buffer. */
struct pgwire_msg {
	uint8_t type;        /* 0 for a start-up packet */
	const uint8_t *body; /* after the length (after the code, for start-up packets) */
	size_t body_len;
	size_t total; /* bytes the whole message takes in the buffer */
};

/* Frames the typed message at the start of buf (len bytes so far). */
enum pgwire_frame pgwire_frame(const void *buf, size_t len, struct pgwire_msg *m, char *err,
			       size_t errlen);

enum pgwire_startup_kind {
	PGWIRE_STARTUP, /* StartupMessage: parameters follow */
	PGWIRE_SSL,     /* SSLRequest: answer 'S' or 'N' */
	PGWIRE_GSSENC,  /* GSSENCRequest: answer 'G' or 'N' */
	PGWIRE_CANCEL,  /* CancelRequest: pid and secret key */
};

/* A framed start-up packet. */
struct pgwire_startup {
	enum pgwire_startup_kind kind;
	int major, minor;   /* PGWIRE_STARTUP: the protocol version asked for */
	uint32_t pid;       /* PGWIRE_CANCEL */
	const uint8_t *key; /* PGWIRE_CANCEL: 4 bytes in 3.0, up to 256 in 3.2 */
	size_t key_len;
	struct pgwire_msg msg; /* the parameters (PGWIRE_STARTUP) are msg.body */
};

/* Frames the start-up packet at the start of buf: a protocol major version
 * other than 3, an unknown request code, a cancel key of the wrong size or
 * a length past PGWIRE_MAX_STARTUP is PGWIRE_BAD with why. */
enum pgwire_frame pgwire_frame_startup(const void *buf, size_t len, struct pgwire_startup *s, char *err,
				       size_t errlen);
/* The value of parameter name ("user", "database", "application_name") in
 * a StartupMessage, or NULL when it has none or the list is malformed. */
const char *pgwire_startup_param(const struct pgwire_startup *s, const char *name);

/* ErrorResponse and NoticeResponse fields pgrace reads, copied out and
 * NUL-terminated (cut to their size). */
struct pgwire_error {
	char severity[16];   /* 'V' (else 'S') */
	char sqlstate[6];    /* 'C' */
	char constraint[64]; /* 'n' */
	char table[64];      /* 't' */
	char message[256];   /* 'M' */
};

/* Reads an 'E' or 'N' message's fields into *e; false when the field list
 * is malformed (a field without its NUL, no terminating zero byte). */
bool pgwire_parse_error(const struct pgwire_msg *m, struct pgwire_error *e);
/* ReadyForQuery's transaction status ('I', 'T' or 'E'); false for any other
 * byte or length. */
bool pgwire_parse_ready(const struct pgwire_msg *m, char *status);
/* BackendKeyData: the backend pid and its secret key (4 bytes in 3.0, up
 * to 256 in 3.2); false when malformed. */
bool pgwire_parse_key_data(const struct pgwire_msg *m, uint32_t *pid, const uint8_t **key,
			   size_t *key_len);
/* The SQL of a Query ('Q') or of a Parse ('P', after the statement name);
 * false for other types or a malformed body. *sql points into the buffer,
 * NUL-terminated there. */
bool pgwire_parse_sql(const struct pgwire_msg *m, const char **sql, size_t *len);
/* The statement name a Bind ('B') names (its second string); false when
 * malformed. */
bool pgwire_parse_bind_statement(const struct pgwire_msg *m, const char **name);

/* What a round trip's SQL does to the transaction, as the proxy's holds
 * need it. */
enum pgwire_sql_class {
	PGWIRE_SQL_DATA,     /* anything else: the application's own work */
	PGWIRE_SQL_BEGIN,    /* BEGIN, START TRANSACTION */
	PGWIRE_SQL_COMMIT,   /* COMMIT, END (not COMMIT PREPARED) */
	PGWIRE_SQL_ROLLBACK, /* ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT) */
	PGWIRE_SQL_SESSION,  /* SET, SHOW, RESET, DISCARD, SAVEPOINT, RELEASE, DEALLOCATE,
				ROLLBACK TO, and SELECTs of no table or of the catalog only
				(a driver's introspection at connect) */
	PGWIRE_SQL_COPY,     /* COPY */
	PGWIRE_SQL_LISTEN,   /* LISTEN, UNLISTEN, NOTIFY */
};

/* The class of one statement's SQL (a NUL-terminated text; comments
 * skipped); several statements in one Query take the class of the first
 * that is not PGWIRE_SQL_SESSION, COMMIT winning when any is COMMIT. */
enum pgwire_sql_class pgwire_sql_class(const char *sql);
/* A word for class c, for reports: "statement" (DATA), "BEGIN", "COMMIT",
 * "ROLLBACK", "session", "COPY", "LISTEN"; "?" for no class. */
const char *pgwire_sql_class_name(enum pgwire_sql_class c);

/* Appends a typed message header (type, then length len + 4) to out[0..5). */
void pgwire_put_header(uint8_t out[5], uint8_t type, uint32_t body_len);

#endif
