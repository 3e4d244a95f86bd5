/* footprint.c: each flow statement's footprint, asked of the server (see
 * footprint.h). */
#include "footprint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "sqllex.h"

/* The relations seen so far: bit i of a step's rels is rel[i]. */
struct rels {
	unsigned long oid[REDUCE_MAX_RELS];
	int n;
};

static bool lost(const struct db_result *r)
{
	return r->status == DB_LOST || r->status == DB_INTERRUPTED;
}

/* "{"name","name"}": the names a statement calls as functions (a word or a
 * quoted name right before an opening parenthesis), for the server to look
 * up; unquoted words folded to lower case, as the server folds them. */
static void called_names(const char *sql, char *buf, size_t len)
{
	size_t n = 0;
	buf[n++] = '{';
	struct sqllex_token t, prev = {.kind = SQLLEX_END};
	for (const char *p = sql; sqllex_next_code(p, &t) != SQLLEX_END; p = t.start + t.len) {
		bool paren = t.kind == SQLLEX_OTHER && *t.start == '(';
		if (paren && (prev.kind == SQLLEX_WORD || prev.kind == SQLLEX_QNAME)) {
			bool quoted = prev.kind == SQLLEX_QNAME;
			const char *s = prev.start + quoted;
			size_t l = prev.len - (quoted ? 2 : 0);
			if (n + 2 * l + 4 >= len)
				break;
			if (n > 1)
				buf[n++] = ',';
			buf[n++] = '"';
			for (size_t i = 0; i < l; i++) {
				char ch = quoted ? s[i] : (char)tolower((unsigned char)s[i]);
				if (ch == '"' || ch == '\\')
					buf[n++] = '\\';
				buf[n++] = ch;
			}
			buf[n++] = '"';
		}
		prev = t;
	}
	buf[n++] = '}';
	buf[n] = '\0';
}

/* Reads "FLAGS OID OID ..." into *st; false when it does not parse. */
static bool parse_answer(const char *text, struct rels *rels, struct reduce_step *st)
{
	const char *p = text;
	for (; *p && *p != '-'; p++) {
		if (*p == 'w')
			st->writes = true;
		else if (*p == 'x')
			st->exclusive = true;
		else if (*p == 'u')
			st->unknown = true;
		else
			return false;
	}
	if (*p != '-')
		return false;
	for (p++; *p;) {
		if (*p != ' ')
			return false;
		char *end;
		unsigned long oid = strtoul(p + 1, &end, 10);
		if (end == p + 1)
			return false;
		p = end;
		int i = 0;
		while (i < rels->n && rels->oid[i] != oid)
			i++;
		if (i == rels->n) {
			if (rels->n == REDUCE_MAX_RELS) {
				st->unknown = true; /* more relations than a step's mask holds */
				continue;
			}
			rels->oid[rels->n++] = oid;
		}
		st->rels |= UINT64_C(1) << i;
	}
	return true;
}

/* The footprint of one flow statement, run alone in a transaction on c. */
static bool probe_one(PGconn *c, PGconn *monitor, const struct lockview *view, const struct flow_step *fs,
		      const char *begin_sql, const char *const *key, uint64_t deadline,
		      struct rels *rels, struct reduce_step *st, char *err, size_t errlen)
{
	struct db_result r, rb;
	char names[1024], text[320];
	called_names(fs->text.sql, names, sizeof names);
	const char *np[1] = {names};
	db_query(monitor, view->user_functions_named, 1, np, deadline, &r);
	if (lost(&r))
		goto lost_monitor;
	if (r.status != DB_OK || strtol(r.first_value, NULL, 10) != 0)
		st->unknown = true;
	db_query(c, begin_sql, 0, NULL, deadline, &r);
	if (lost(&r)) {
		snprintf(err, errlen, "footprint probe, BEGIN: %s",
			 db_result_text(&r, text, sizeof text));
		return false;
	}
	if (r.status != DB_OK) {
		st->unknown = true;
		goto out;
	}
	db_statement(c, fs->text.sql, fs->text.nparams, key, deadline, &r);
	if (lost(&r)) {
		snprintf(err, errlen, "footprint probe: %s", db_result_text(&r, text, sizeof text));
		return false;
	}
	if (r.status != DB_OK) { /* failed alone: what it would touch is not seen */
		st->unknown = true;
		goto out;
	}
	char answer[4096] = "", pid[16], offset[16];
	size_t n = 0;
	snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
	for (;;) {
		snprintf(offset, sizeof offset, "%zu", n + 1);
		const char *params[2] = {pid, offset};
		db_query(monitor, view->step_footprint, 2, params, deadline, &r);
		if (lost(&r))
			goto lost_monitor;
		size_t got = strlen(r.first_value);
		if (r.status != DB_OK || n + got >= sizeof answer) {
			st->unknown = true;
			goto out;
		}
		memcpy(answer + n, r.first_value, got + 1);
		n += got;
		if (got < 60)
			break;
	}
	if (!parse_answer(answer, rels, st))
		st->unknown = true;
out:
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		db_query_cleanup(c, "ROLLBACK", deadline, &rb);
	if (PQtransactionStatus(c) != PQTRANS_IDLE) {
		snprintf(err, errlen, "footprint probe: cannot roll back: %s", PQerrorMessage(c));
		return false;
	}
	return true;
lost_monitor:
	snprintf(err, errlen, "footprint probe, lock view: %s", db_result_text(&r, text, sizeof text));
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		db_query_cleanup(c, "ROLLBACK", deadline, &rb);
	return false;
}

bool footprint_probe(PGconn *c, PGconn *monitor, const struct lockview *view, const struct scenario *sc,
		     int workers, const char *begin_sql, const char *const *key, uint64_t deadline_us,
		     struct reduce_flow *f, struct footprint_rels *names, char *err, size_t errlen)
{
	struct rels rels = {.n = 0};
	memset(f, 0, sizeof *f);
	f->workers = workers;
	f->steps = (int)sc->n_flow + 1;
	for (size_t j = 0; j < sc->n_flow; j++) {
		struct reduce_step st = {0};
		if (!probe_one(c, monitor, view, &sc->flow[j], begin_sql, key, deadline_us, &rels, &st,
			       err, errlen))
			return false;
		for (int w = 0; w < workers; w++)
			f->step[w][j] = st;
	}
	reduce_prepare(f);
	names->n = rels.n;
	for (int i = 0; i < rels.n; i++) {
		char oid[24], text[320];
		const char *params[1] = {oid};
		struct db_result r;
		snprintf(oid, sizeof oid, "%lu", rels.oid[i]);
		db_query(monitor, "SELECT $1::oid::regclass::text", 1, params, deadline_us, &r);
		if (lost(&r)) {
			snprintf(err, errlen, "footprint probe, relation names: %s",
				 db_result_text(&r, text, sizeof text));
			return false;
		}
		snprintf(names->name[i], sizeof names->name[i], "%s",
			 r.status == DB_OK ? r.first_value : oid);
	}
	return true;
}
