/* appstep.c: a step's SQL, parameters, kind and interleaving point, read
 * from its protocol bytes (appstep.h). */
#include "appstep.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pgwire.h"
#include "sqllex.h"

#define MAX_PARAMS 64 /* parameters of one Bind shown and inlined; more cut the step */

/* One Bind's parameters, pointing into the step's bytes. */
struct bind {
	int n;
	const char *val[MAX_PARAMS]; /* NULL: SQL NULL */
	size_t len[MAX_PARAMS];
	bool binary[MAX_PARAMS];
	bool cut; /* more than MAX_PARAMS */
};

void appstep_kind(const char *sql, char *buf, size_t len)
{
	struct sqllex_token t;
	const char *p = sql;
	buf[0] = '\0';
	for (;;) {
		enum sqllex_kind k = sqllex_next_code(p, &t);
		if (k == SQLLEX_END)
			return;
		if (k == SQLLEX_WORD)
			break;
		if (k != SQLLEX_OTHER || *t.start != '(')
			return;
		p = t.start + t.len; /* "(SELECT ...)" */
	}
	size_t n = t.len < len - 1 ? t.len : len - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)t.start[i]);
	buf[n] = '\0';
}

bool appstep_interleaves(const char *sql)
{
	enum pgwire_sql_class c = pgwire_sql_class(sql);
	if (c != PGWIRE_SQL_SESSION && c != PGWIRE_SQL_BEGIN)
		return true;
	/* SESSION takes in ROLLBACK TO SAVEPOINT, which releases locks; and a
	 * Query of several statements takes its first one's class: any
	 * statement in it that is a point makes the step one. */
	const char *p = sql;
	struct sqllex_token t;
	bool start = true;
	for (;;) {
		enum sqllex_kind k = sqllex_next_code(p, &t);
		if (k == SQLLEX_END)
			return false;
		if (start && k == SQLLEX_WORD) {
			char w[16];
			appstep_kind(t.start, w, sizeof w);
			if (!strcmp(w, "rollback") || !strcmp(w, "abort"))
				return true;
			c = pgwire_sql_class(t.start);
			if (c != PGWIRE_SQL_SESSION && c != PGWIRE_SQL_BEGIN)
				return true;
		}
		start = k == SQLLEX_SEMI;
		p = t.start + t.len;
	}
}

bool appstep_quote(const char *val, size_t n, char *out, size_t len)
{
	size_t k = 0;
	if (!val) {
		if (len < 5)
			return false;
		memcpy(out, "NULL", 5);
		return true;
	}
	bool backslash = memchr(val, '\\', n) != NULL;
	if (backslash && k < len)
		out[k++] = 'E';
	if (k < len)
		out[k++] = '\'';
	for (size_t i = 0; i < n; i++) {
		char c = val[i];
		if (c == '\0')
			break;
		if ((c == '\'' || c == '\\') && k < len)
			out[k++] = c;
		if (k < len)
			out[k++] = c;
	}
	if (k + 1 >= len) {
		if (len)
			out[len - 1] = '\0';
		return false;
	}
	out[k++] = '\'';
	out[k] = '\0';
	return true;
}

/* Appends s (n bytes) to buf (capacity len, *at used); false (and *cut)
 * when it does not fit. */
static void put(char *buf, size_t len, size_t *at, const char *s, size_t n, bool *cut)
{
	if (*at + n + 1 > len) {
		size_t room = len - 1 - *at;
		memcpy(buf + *at, s, room);
		*at += room;
		buf[*at] = '\0';
		*cut = true;
		return;
	}
	memcpy(buf + *at, s, n);
	*at += n;
	buf[*at] = '\0';
}

/* A parameter as a literal (binary ones as '\x..' hex, flagged). */
static void literal(const struct bind *b, int i, char *out, size_t len, bool *binary)
{
	if (b->val[i] && b->binary[i]) {
		size_t k = 0;
		*binary = true;
		k += (size_t)snprintf(out, len, "'\\x");
		for (size_t j = 0; j < b->len[i] && k + 4 < len; j++)
			k += (size_t)snprintf(out + k, len - k, "%02x", (unsigned char)b->val[i][j]);
		snprintf(out + k, len - k, "'");
		return;
	}
	if (!appstep_quote(b->val[i], b->len[i], out, len))
		*binary = true; /* too long to show: not exact either */
}

/* Reads a Bind's parameters; false when malformed. */
static bool read_bind(const struct pgwire_msg *m, struct bind *b)
{
	struct pgwire_reader r;
	const char *s;
	uint16_t nf, np;
	uint16_t fmt[MAX_PARAMS];
	memset(b, 0, sizeof *b);
	pgwire_reader_init(&r, m->body, m->body_len);
	if (!pgwire_get_string(&r, &s, NULL) || !pgwire_get_string(&r, &s, NULL) ||
	    !pgwire_get_uint16(&r, &nf))
		return false;
	for (uint16_t i = 0; i < nf; i++) {
		uint16_t f;
		if (!pgwire_get_uint16(&r, &f))
			return false;
		if (i < MAX_PARAMS)
			fmt[i] = f;
	}
	if (!pgwire_get_uint16(&r, &np))
		return false;
	for (uint16_t i = 0; i < np; i++) {
		uint32_t l;
		const uint8_t *v = NULL;
		if (!pgwire_get_uint32(&r, &l))
			return false;
		if (l != 0xffffffffu && !pgwire_get_bytes(&r, l, &v))
			return false;
		if (i >= MAX_PARAMS) {
			b->cut = true;
			continue;
		}
		b->val[i] = l == 0xffffffffu ? NULL : (const char *)v;
		b->len[i] = l == 0xffffffffu ? 0 : l;
		b->binary[i] = nf == 0   ? false
			       : nf == 1 ? fmt[0] == 1
					 : (i < nf && i < MAX_PARAMS && fmt[i] == 1);
		b->n = i + 1;
	}
	return true;
}

/* The class of the one statement that starts at s and ends at end (a
 * semicolon or the text's end): classified alone, from a copy. */
static enum pgwire_sql_class one_class(const char *s, const char *end)
{
	char buf[2048];
	size_t n = (size_t)(end - s);
	if (n >= sizeof buf)
		return PGWIRE_SQL_DATA; /* long: not housekeeping */
	memcpy(buf, s, n);
	buf[n] = '\0';
	return pgwire_sql_class(buf);
}

/* Every statement of sql is transaction control or session housekeeping. */
static bool control_only(const char *sql)
{
	const char *p = sql, *start = NULL;
	struct sqllex_token t;
	for (;;) {
		enum sqllex_kind k = sqllex_next_code(p, &t);
		if (!start && k != SQLLEX_END && k != SQLLEX_SEMI)
			start = t.start;
		if (k == SQLLEX_END || k == SQLLEX_SEMI) {
			if (start) {
				enum pgwire_sql_class c = one_class(start, t.start);
				if (c != PGWIRE_SQL_SESSION && c != PGWIRE_SQL_BEGIN &&
				    c != PGWIRE_SQL_COMMIT && c != PGWIRE_SQL_ROLLBACK)
					return false;
			}
			if (k == SQLLEX_END)
				return true;
			start = NULL;
		}
		p = t.start + t.len;
	}
}

/* Appends one executed statement (sql with b's parameters) to d. */
static void add_statement(struct appstep_desc *d, size_t *at_shown, size_t *at_inl, const char *sql,
			  const struct bind *b)
{
	char lit[256];
	if (*at_shown)
		put(d->shown, sizeof d->shown, at_shown, "; ", 2, &d->cut);
	if (*at_inl)
		put(d->inlined, sizeof d->inlined, at_inl, "; ", 2, &d->cut);
	put(d->shown, sizeof d->shown, at_shown, sql, strlen(sql), &d->cut);
	if (!d->kind[0])
		appstep_kind(sql, d->kind, sizeof d->kind);
	if (appstep_interleaves(sql))
		d->visible = true;
	if (!control_only(sql))
		d->control = false;
	/* inlined: every $n outside literals, names and comments replaced */
	const char *p = sql;
	struct sqllex_token t;
	while (sqllex_next(p, &t) != SQLLEX_END) {
		int n = t.kind == SQLLEX_PARAM ? sqllex_param_number(&t) : 0;
		if (n >= 1 && b && n <= b->n) {
			literal(b, n - 1, lit, sizeof lit, &d->binary);
			put(d->inlined, sizeof d->inlined, at_inl, lit, strlen(lit), &d->cut);
		} else {
			if (t.kind == SQLLEX_PARAM)
				d->binary = true; /* a parameter the Bind did not give */
			put(d->inlined, sizeof d->inlined, at_inl, t.start, t.len, &d->cut);
		}
		p = t.start + t.len;
	}
	if (!b || b->n == 0)
		return;
	if (b->cut)
		d->cut = true;
	put(d->shown, sizeof d->shown, at_shown, " -- ", 4, &d->cut);
	for (int i = 0; i < b->n; i++) {
		char head[16];
		bool ignored = false;
		int hn = snprintf(head, sizeof head, "%s$%d = ", i ? ", " : "", i + 1);
		put(d->shown, sizeof d->shown, at_shown, head, (size_t)hn, &d->cut);
		literal(b, i, lit, sizeof lit, &ignored);
		put(d->shown, sizeof d->shown, at_shown, lit, strlen(lit), &d->cut);
	}
}

void appstep_describe(const uint8_t *buf, size_t len, appstep_lookup_fn lookup, void *ctx,
		      struct appstep_desc *d)
{
	memset(d, 0, sizeof *d);
	d->control = true;
	size_t at_shown = 0, at_inl = 0, off = 0;
	const char *unnamed = NULL; /* this batch's unnamed statement */
	char bound_name[64] = "";
	bool have_bind = false;
	struct bind b;
	memset(&b, 0, sizeof b);
	while (off < len) {
		struct pgwire_msg m;
		char err[160];
		if (pgwire_frame(buf + off, len - off, &m, err, sizeof err) != PGWIRE_MESSAGE)
			break;
		off += m.total;
		const char *sql, *name;
		size_t sl;
		switch (m.type) {
		case 'Q':
			if (pgwire_parse_sql(&m, &sql, &sl))
				add_statement(d, &at_shown, &at_inl, sql, NULL);
			break;
		case 'P':
			if (pgwire_parse_sql(&m, &sql, &sl) && m.body_len > 0 && m.body[0] == '\0')
				unnamed = sql;
			break;
		case 'B':
			if (pgwire_parse_bind_statement(&m, &name) && read_bind(&m, &b)) {
				snprintf(bound_name, sizeof bound_name, "%s", name);
				have_bind = true;
			}
			break;
		case 'E': {
			const char *text = NULL;
			if (have_bind && !bound_name[0])
				text = unnamed;
			else if (have_bind && lookup)
				text = lookup(ctx, bound_name);
			add_statement(d, &at_shown, &at_inl,
				      text ? text : "/* unknown prepared statement */",
				      have_bind ? &b : NULL);
			if (!text)
				d->cut = true;
			break;
		}
		default:
			break;
		}
	}
	if (!d->kind[0])
		snprintf(d->kind, sizeof d->kind, "sync");
}
