/* pgwire.c: framing and parsing of PostgreSQL protocol messages on byte
 * buffers (pgwire.h). Every read goes through the bounds-checked reader;
 * nothing here trusts a length it has not checked against the buffer. */
#include "pgwire.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sqllex.h"

void pgwire_reader_init(struct pgwire_reader *r, const void *buf, size_t len)
{
	r->pos = buf;
	r->end = r->pos + len;
	r->bad = false;
}

size_t pgwire_reader_left(const struct pgwire_reader *r)
{
	return r->bad ? 0 : (size_t)(r->end - r->pos);
}

static bool reader_has(struct pgwire_reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->pos) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

bool pgwire_get_byte(struct pgwire_reader *r, uint8_t *out)
{
	if (!reader_has(r, 1))
		return false;
	*out = *r->pos++;
	return true;
}

bool pgwire_get_uint16(struct pgwire_reader *r, uint16_t *out)
{
	if (!reader_has(r, 2))
		return false;
	*out = (uint16_t)((unsigned)r->pos[0] << 8 | r->pos[1]);
	r->pos += 2;
	return true;
}

bool pgwire_get_uint32(struct pgwire_reader *r, uint32_t *out)
{
	if (!reader_has(r, 4))
		return false;
	*out = (uint32_t)r->pos[0] << 24 | (uint32_t)r->pos[1] << 16 | (uint32_t)r->pos[2] << 8 |
	       r->pos[3];
	r->pos += 4;
	return true;
}

bool pgwire_get_bytes(struct pgwire_reader *r, size_t n, const uint8_t **out)
{
	if (!reader_has(r, n))
		return false;
	*out = r->pos;
	r->pos += n;
	return true;
}

bool pgwire_get_string(struct pgwire_reader *r, const char **out, size_t *len)
{
	if (r->bad)
		return false;
	const uint8_t *nul = memchr(r->pos, 0, (size_t)(r->end - r->pos));
	if (!nul) {
		r->bad = true;
		return false;
	}
	*out = (const char *)r->pos;
	if (len)
		*len = (size_t)(nul - r->pos);
	r->pos = nul + 1;
	return true;
}

enum pgwire_frame pgwire_frame(const void *buf, size_t len, struct pgwire_msg *m, char *err,
			       size_t errlen)
{
	struct pgwire_reader r;
	uint8_t type;
	uint32_t n;
	pgwire_reader_init(&r, buf, len);
	if (!pgwire_get_byte(&r, &type) || !pgwire_get_uint32(&r, &n))
		return PGWIRE_NEED_MORE;
	if (n < 4) {
		snprintf(err, errlen, "message '%c' claims length %u, below 4",
			 type >= 0x20 && type < 0x7f ? type : '?', n);
		return PGWIRE_BAD;
	}
	if (n > PGWIRE_MAX_MESSAGE) {
		snprintf(err, errlen, "message '%c' claims length %u, past the %u-byte cap",
			 type >= 0x20 && type < 0x7f ? type : '?', n, PGWIRE_MAX_MESSAGE);
		return PGWIRE_BAD;
	}
	if (pgwire_reader_left(&r) < n - 4)
		return PGWIRE_NEED_MORE;
	m->type = type;
	m->body = r.pos;
	m->body_len = n - 4;
	m->total = (size_t)n + 1;
	return PGWIRE_MESSAGE;
}

enum pgwire_frame pgwire_frame_startup(const void *buf, size_t len, struct pgwire_startup *s, char *err,
				       size_t errlen)
{
	struct pgwire_reader r;
	uint32_t n, code;
	pgwire_reader_init(&r, buf, len);
	if (!pgwire_get_uint32(&r, &n))
		return PGWIRE_NEED_MORE;
	if (n < 8 || n > PGWIRE_MAX_STARTUP) {
		snprintf(err, errlen, "start-up packet claims length %u (8 to %u allowed)", n,
			 PGWIRE_MAX_STARTUP);
		return PGWIRE_BAD;
	}
	if (len < n)
		return PGWIRE_NEED_MORE;
	pgwire_reader_init(&r, (const uint8_t *)buf + 4, n - 4);
	(void)pgwire_get_uint32(&r, &code);
	memset(s, 0, sizeof *s);
	s->msg.body = r.pos;
	s->msg.body_len = n - 8;
	s->msg.total = n;
	if (code == PGWIRE_CODE_SSL || code == PGWIRE_CODE_GSSENC) {
		if (n != 8) {
			snprintf(err, errlen, "%s request of length %u, not 8",
				 code == PGWIRE_CODE_SSL ? "SSL" : "GSSENC", n);
			return PGWIRE_BAD;
		}
		s->kind = code == PGWIRE_CODE_SSL ? PGWIRE_SSL : PGWIRE_GSSENC;
		return PGWIRE_MESSAGE;
	}
	if (code == PGWIRE_CODE_CANCEL) {
		s->kind = PGWIRE_CANCEL;
		if (!pgwire_get_uint32(&r, &s->pid) || pgwire_reader_left(&r) < 4 ||
		    pgwire_reader_left(&r) > PGWIRE_MAX_CANCEL_KEY) {
			snprintf(err, errlen, "cancel request of length %u (16 to %u allowed)", n,
				 12 + PGWIRE_MAX_CANCEL_KEY);
			return PGWIRE_BAD;
		}
		s->key_len = pgwire_reader_left(&r);
		(void)pgwire_get_bytes(&r, s->key_len, &s->key);
		return PGWIRE_MESSAGE;
	}
	if (code >> 16 != 3) {
		snprintf(err, errlen, "start-up packet asks for protocol %u.%u (pgrace speaks 3.x)",
			 code >> 16, code & 0xffff);
		return PGWIRE_BAD;
	}
	s->kind = PGWIRE_STARTUP;
	s->major = 3;
	s->minor = (int)(code & 0xffff);
	return PGWIRE_MESSAGE;
}

const char *pgwire_startup_param(const struct pgwire_startup *s, const char *name)
{
	struct pgwire_reader r;
	if (s->kind != PGWIRE_STARTUP)
		return NULL;
	pgwire_reader_init(&r, s->msg.body, s->msg.body_len);
	for (;;) {
		const char *k, *v;
		size_t klen;
		if (!pgwire_get_string(&r, &k, &klen) || klen == 0)
			return NULL;
		if (!pgwire_get_string(&r, &v, NULL))
			return NULL;
		if (strcmp(k, name) == 0)
			return v;
	}
}

static void copy_field(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

bool pgwire_parse_error(const struct pgwire_msg *m, struct pgwire_error *e)
{
	struct pgwire_reader r;
	bool have_v = false;
	memset(e, 0, sizeof *e);
	if (m->type != 'E' && m->type != 'N')
		return false;
	pgwire_reader_init(&r, m->body, m->body_len);
	for (;;) {
		uint8_t code;
		const char *v;
		size_t len;
		if (!pgwire_get_byte(&r, &code))
			return false;
		if (code == 0)
			return pgwire_reader_left(&r) == 0;
		if (!pgwire_get_string(&r, &v, &len))
			return false;
		switch (code) {
		case 'V':
			copy_field(e->severity, sizeof e->severity, v, len);
			have_v = true;
			break;
		case 'S':
			if (!have_v)
				copy_field(e->severity, sizeof e->severity, v, len);
			break;
		case 'C':
			copy_field(e->sqlstate, sizeof e->sqlstate, v, len);
			break;
		case 'n':
			copy_field(e->constraint, sizeof e->constraint, v, len);
			break;
		case 't':
			copy_field(e->table, sizeof e->table, v, len);
			break;
		case 'M':
			copy_field(e->message, sizeof e->message, v, len);
			break;
		default:
			break;
		}
	}
}

bool pgwire_parse_ready(const struct pgwire_msg *m, char *status)
{
	if (m->type != 'Z' || m->body_len != 1)
		return false;
	if (m->body[0] != 'I' && m->body[0] != 'T' && m->body[0] != 'E')
		return false;
	*status = (char)m->body[0];
	return true;
}

bool pgwire_parse_key_data(const struct pgwire_msg *m, uint32_t *pid, const uint8_t **key,
			   size_t *key_len)
{
	struct pgwire_reader r;
	if (m->type != 'K')
		return false;
	pgwire_reader_init(&r, m->body, m->body_len);
	if (!pgwire_get_uint32(&r, pid))
		return false;
	*key_len = pgwire_reader_left(&r);
	if (*key_len < 4 || *key_len > PGWIRE_MAX_CANCEL_KEY)
		return false;
	return pgwire_get_bytes(&r, *key_len, key);
}

bool pgwire_parse_sql(const struct pgwire_msg *m, const char **sql, size_t *len)
{
	struct pgwire_reader r;
	const char *name;
	pgwire_reader_init(&r, m->body, m->body_len);
	if (m->type == 'P' && !pgwire_get_string(&r, &name, NULL))
		return false;
	if (m->type != 'Q' && m->type != 'P')
		return false;
	return pgwire_get_string(&r, sql, len);
}

bool pgwire_parse_bind_statement(const struct pgwire_msg *m, const char **name)
{
	struct pgwire_reader r;
	const char *portal;
	if (m->type != 'B')
		return false;
	pgwire_reader_init(&r, m->body, m->body_len);
	return pgwire_get_string(&r, &portal, NULL) && pgwire_get_string(&r, name, NULL);
}

void pgwire_put_header(uint8_t out[5], uint8_t type, uint32_t body_len)
{
	uint32_t n = body_len + 4;
	out[0] = type;
	out[1] = (uint8_t)(n >> 24);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)(n >> 8);
	out[4] = (uint8_t)n;
}

/* The next word token of a statement (skipping comments, blanks and other
 * tokens but stopping at its end); false at a semicolon or the end. */
static bool next_word(const char **p, struct sqllex_token *t, bool *semi)
{
	for (;;) {
		enum sqllex_kind k = sqllex_next_code(*p, t);
		*p = t->start + t->len;
		if (k == SQLLEX_END)
			return false;
		if (k == SQLLEX_SEMI) {
			*semi = true;
			return false;
		}
		if (k == SQLLEX_WORD)
			return true;
	}
}

static bool word_is(const struct sqllex_token *t, const char *w)
{
	return t->len == strlen(w) && strncasecmp(t->start, w, t->len) == 0;
}

static bool catalog_name(const struct sqllex_token *t)
{
	return (t->len > 3 && strncasecmp(t->start, "pg_", 3) == 0) || word_is(t, "information_schema");
}

/* A SELECT (its first word already read) of no table, or of catalog tables
 * only: the introspection drivers run at connect. Reads to the statement's end. */
static enum pgwire_sql_class select_class(const char **p, bool *semi)
{
	struct sqllex_token t;
	bool any_table = false, user_table = false, after_from = false;
	while (next_word(p, &t, semi)) {
		if (after_from) {
			any_table = true;
			if (!catalog_name(&t))
				user_table = true;
			after_from = false;
		}
		if (word_is(&t, "from") || word_is(&t, "join"))
			after_from = true;
	}
	return any_table && user_table ? PGWIRE_SQL_DATA : PGWIRE_SQL_SESSION;
}

/* The class of the statement at *p; *p moves past it (and *semi says a
 * semicolon ended it). */
static enum pgwire_sql_class stmt_class(const char **p, bool *semi)
{
	struct sqllex_token t, t2;
	enum pgwire_sql_class c = PGWIRE_SQL_DATA;
	*semi = false;
	if (!next_word(p, &t, semi))
		return PGWIRE_SQL_SESSION; /* empty */
	if (word_is(&t, "select"))
		return select_class(p, semi);
	if (word_is(&t, "begin") || word_is(&t, "start"))
		c = PGWIRE_SQL_BEGIN;
	else if (word_is(&t, "commit") || word_is(&t, "end")) {
		const char *q = *p;
		bool s2 = false;
		c = next_word(&q, &t2, &s2) && word_is(&t2, "prepared") ? PGWIRE_SQL_DATA
									: PGWIRE_SQL_COMMIT;
	} else if (word_is(&t, "rollback") || word_is(&t, "abort")) {
		const char *q = *p;
		bool s2 = false;
		c = PGWIRE_SQL_ROLLBACK;
		for (int i = 0; i < 2 && next_word(&q, &t2, &s2); i++) {
			if (word_is(&t2, "to"))
				c = PGWIRE_SQL_SESSION;
			else if (word_is(&t2, "prepared"))
				c = PGWIRE_SQL_DATA;
			if (!word_is(&t2, "work") && !word_is(&t2, "transaction"))
				break;
		}
	} else if (word_is(&t, "set") || word_is(&t, "show") || word_is(&t, "reset") ||
		   word_is(&t, "discard") || word_is(&t, "savepoint") || word_is(&t, "release") ||
		   word_is(&t, "deallocate"))
		c = PGWIRE_SQL_SESSION;
	else if (word_is(&t, "copy"))
		c = PGWIRE_SQL_COPY;
	else if (word_is(&t, "listen") || word_is(&t, "unlisten") || word_is(&t, "notify"))
		c = PGWIRE_SQL_LISTEN;
	while (!*semi && next_word(p, &t, semi))
		;
	return c;
}

enum pgwire_sql_class pgwire_sql_class(const char *sql)
{
	enum pgwire_sql_class first = PGWIRE_SQL_SESSION;
	bool any_commit = false, semi = true;
	const char *p = sql;
	while (semi) {
		enum pgwire_sql_class c = stmt_class(&p, &semi);
		if (c == PGWIRE_SQL_COMMIT)
			any_commit = true;
		if (first == PGWIRE_SQL_SESSION)
			first = c;
	}
	return any_commit ? PGWIRE_SQL_COMMIT : first;
}

const char *pgwire_sql_class_name(enum pgwire_sql_class c)
{
	static const char *const names[] = {
		[PGWIRE_SQL_DATA] = "statement", [PGWIRE_SQL_BEGIN] = "BEGIN",
		[PGWIRE_SQL_COMMIT] = "COMMIT",  [PGWIRE_SQL_ROLLBACK] = "ROLLBACK",
		[PGWIRE_SQL_SESSION] = "session", [PGWIRE_SQL_COPY] = "COPY",
		[PGWIRE_SQL_LISTEN] = "LISTEN",
	};
	return (unsigned)c < sizeof names / sizeof names[0] && names[c] ? names[c] : "?";
}
