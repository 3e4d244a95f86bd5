/* order.c: enumerating, sampling and writing interleavings; naming a
 * flow's steps from their SQL (read with sqllex.h). */
#include "order.h"

#include "sqllex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t order_count(int workers, int steps)
{
	/* The multinomial as a product of binomials: C(s, s) C(2s, s) ... C(ks, s),
	 * each built so that every intermediate value is itself a binomial. */
	unsigned __int128 total = 1;
	for (int i = 1; i <= workers; i++) {
		unsigned __int128 c = 1;
		int n = i * steps;
		for (int j = 1; j <= steps; j++) {
			c = c * (unsigned)(n - steps + j) / (unsigned)j;
			if (c > UINT64_MAX)
				return UINT64_MAX;
		}
		total *= c;
		if (total > UINT64_MAX)
			return UINT64_MAX;
	}
	return (uint64_t)total;
}

void order_first(struct order *o, int workers, int steps)
{
	memset(o, 0, sizeof *o);
	o->workers = workers;
	o->steps = steps;
	for (int i = 0; i < workers * steps; i++)
		o->w[i] = (unsigned char)(i / steps);
}

bool order_next(struct order *o)
{
	int len = o->workers * o->steps, i = len - 2;
	while (i >= 0 && o->w[i] >= o->w[i + 1])
		i--;
	if (i < 0)
		return false;
	int j = len - 1;
	while (o->w[j] <= o->w[i])
		j--;
	unsigned char t = o->w[i];
	o->w[i] = o->w[j];
	o->w[j] = t;
	for (int a = i + 1, b = len - 1; a < b; a++, b--) {
		t = o->w[a];
		o->w[a] = o->w[b];
		o->w[b] = t;
	}
	return true;
}

/* Two bits a position, the first in the highest: numeric order is
 * lexicographic order. Never 0 for two or more workers (position 0 would be
 * a at every position). */
static uint64_t pack(const struct order *o)
{
	uint64_t code = 0;
	for (int i = 0; i < o->workers * o->steps; i++)
		code |= (uint64_t)o->w[i] << (2 * (ORDER_MAX_LEN - 1 - i));
	return code;
}

static void unpack(uint64_t code, int workers, int steps, struct order *o)
{
	memset(o, 0, sizeof *o);
	o->workers = workers;
	o->steps = steps;
	for (int i = 0; i < workers * steps; i++)
		o->w[i] = (unsigned char)((code >> (2 * (ORDER_MAX_LEN - 1 - i))) & 3u);
}

/* splitmix64: tiny, fixed, and the same everywhere. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, bound) without modulo bias. */
static uint64_t random_below(uint64_t *state, uint64_t bound)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t x;
	do
		x = next_random(state);
	while (x >= limit);
	return x % bound;
}

static int cmp_code(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* max distinct codes drawn by shuffling the multiset (every distinct order
 * is equally likely: each stands for the same number of shuffles). */
static uint64_t *sample_codes(int workers, int steps, size_t max, uint64_t seed)
{
	size_t cap = 16;
	while (cap < 2 * max)
		cap *= 2;
	uint64_t *set = calloc(cap, sizeof *set), *codes = malloc(max * sizeof *codes);
	if (!set || !codes)
		abort();
	uint64_t state = seed;
	size_t have = 0;
	struct order o;
	order_first(&o, workers, steps);
	int len = workers * steps;
	while (have < max) {
		for (int i = len - 1; i > 0; i--) {
			int j = (int)random_below(&state, (uint64_t)i + 1);
			unsigned char t = o.w[i];
			o.w[i] = o.w[j];
			o.w[j] = t;
		}
		uint64_t code = pack(&o);
		size_t h = (size_t)((code * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
		while (set[h] && set[h] != code)
			h = (h + 1) & (cap - 1);
		if (set[h])
			continue; /* drawn before */
		set[h] = code;
		codes[have++] = code;
	}
	free(set);
	qsort(codes, max, sizeof *codes, cmp_code);
	return codes;
}

struct order *order_list(int workers, int steps, size_t max, uint64_t seed, size_t *n,
			 bool *exhaustive)
{
	uint64_t count = order_count(workers, steps);
	*exhaustive = count <= max;
	*n = *exhaustive ? (size_t)count : max;
	struct order *out = malloc(*n * sizeof *out);
	if (!out)
		abort();
	if (*exhaustive) {
		order_first(&out[0], workers, steps);
		for (size_t i = 1; i < *n; i++) {
			out[i] = out[i - 1];
			order_next(&out[i]);
		}
		return out;
	}
	uint64_t *codes = sample_codes(workers, steps, max, seed);
	for (size_t i = 0; i < max; i++)
		unpack(codes[i], workers, steps, &out[i]);
	free(codes);
	return out;
}

int order_step_at(const struct order *o, int pos)
{
	int step = 0;
	for (int i = 0; i < pos; i++)
		step += o->w[i] == o->w[pos];
	return step;
}

void order_notation(const struct order *o, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < o->workers * o->steps && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%c%d", i ? " " : "",
					 'a' + o->w[i], order_step_at(o, i) + 1);
}

bool order_parse(const char *text, int workers, int steps, struct order *o, char *err,
		 size_t errlen)
{
	int next[ORDER_MAX_WORKERS] = {0}, len = 0;
	memset(o, 0, sizeof *o);
	o->workers = workers;
	o->steps = steps;
	for (const char *p = text;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		int w = *p - 'a';
		if (w < 0 || w >= workers) {
			snprintf(err, errlen, "\"%.16s\": a step is a worker letter (a..%c) and a step number",
				 p, 'a' + workers - 1);
			return false;
		}
		char *end;
		long step = strtol(p + 1, &end, 10);
		if (end == p + 1 || (*end && !isspace((unsigned char)*end))) {
			snprintf(err, errlen, "\"%.16s\": a step is a worker letter and a step number (\"a1\")", p);
			return false;
		}
		if (step < 1 || step > steps) {
			snprintf(err, errlen, "%c%ld: worker %c has steps 1..%d", 'a' + w, step, 'a' + w, steps);
			return false;
		}
		if (step != next[w] + 1) {
			snprintf(err, errlen, "%c%ld: worker %c's next step is %c%d", 'a' + w, step, 'a' + w,
				 'a' + w, next[w] + 1);
			return false;
		}
		if (len >= ORDER_MAX_LEN) {
			snprintf(err, errlen, "more than %d steps", ORDER_MAX_LEN);
			return false;
		}
		next[w]++;
		o->w[len++] = (unsigned char)w;
		p = end;
	}
	for (int w = 0; w < workers; w++)
		if (next[w] != steps) {
			snprintf(err, errlen, "worker %c has %d of its %d steps", 'a' + w, next[w], steps);
			return false;
		}
	return true;
}

/* The first SQL keyword of sql, lower case (its letters up to the first
 * other character), past blanks, comments and '(' as sqllex.c reads them. */
static void first_keyword(const char *sql, char *out, size_t len)
{
	struct sqllex_token t;
	const char *p = sql;
	while (sqllex_next_code(p, &t) == SQLLEX_OTHER && *t.start == '(')
		p = t.start + t.len;
	size_t n = 0;
	while (t.kind == SQLLEX_WORD && n + 1 < len && n < t.len && isalpha((unsigned char)t.start[n])) {
		out[n] = (char)tolower((unsigned char)t.start[n]);
		n++;
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "step");
}

void order_step_names(const char *const *sql, int n, char (*names)[ORDER_NAME_LEN])
{
	char base[ORDER_MAX_LEN][16];
	for (int i = 0; i < n; i++) {
		if (i == n - 1)
			snprintf(base[i], sizeof base[i], "commit");
		else
			first_keyword(sql[i], base[i], sizeof base[i]);
	}
	for (int i = 0; i < n; i++) {
		int same = 0;
		for (int j = 0; j < n; j++)
			same += strcmp(base[i], base[j]) == 0;
		if (same > 1)
			snprintf(names[i], ORDER_NAME_LEN, "%s%d", base[i], i + 1);
		else
			snprintf(names[i], ORDER_NAME_LEN, "%s", base[i]);
	}
}

static int cmp_event(const void *a, const void *b)
{
	const struct order_event *x = a, *y = b;
	if (x->sent_us != y->sent_us)
		return x->sent_us < y->sent_us ? -1 : 1;
	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	return (x->step > y->step) - (x->step < y->step);
}

/* Appends "xN" (with a separating blank) to buf at *used; false when full. */
static bool put_step(char *buf, size_t len, size_t *used, int worker, int step)
{
	int n = snprintf(buf + *used, len - *used, "%s%c%d", *used ? " " : "", 'a' + worker, step + 1);
	if (n < 0 || (size_t)n >= len - *used)
		return false;
	*used += (size_t)n;
	return true;
}

bool order_observed(struct order_event *ev, size_t n, int workers, int steps, char *buf,
		    size_t len)
{
	int next[26] = {0};
	size_t used = 0;
	if (len == 0 || workers < 1 || workers > 26)
		return false;
	buf[0] = '\0';
	qsort(ev, n, sizeof *ev, cmp_event);
	for (size_t i = 0; i < n; i++) {
		int w = ev[i].worker;
		if (w < 0 || w >= workers || ev[i].step < next[w] || ev[i].step >= steps)
			continue; /* not a step of this order, or one seen already */
		while (next[w] <= ev[i].step)
			if (!put_step(buf, len, &used, w, next[w]++))
				return false;
	}
	for (int w = 0; w < workers; w++)
		while (next[w] < steps)
			if (!put_step(buf, len, &used, w, next[w]++))
				return false;
	return true;
}

const char *order_worker_name(int worker, char *buf, size_t len)
{
	char rev[16];
	size_t n = 0;
	if (worker < 0)
		worker = 0;
	/* bijective base 26: a..z, then aa..zz, aaa..., as spreadsheet columns */
	for (long v = (long)worker + 1; v > 0 && n < sizeof rev; v = (v - 1) / 26)
		rev[n++] = (char)('a' + (v - 1) % 26);
	size_t i = 0;
	for (; i < n && i + 1 < len; i++)
		buf[i] = rev[n - 1 - i];
	if (len)
		buf[i] = '\0';
	return buf;
}

void order_step_label(int worker, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%c_%s", 'a' + worker, name);
}

void order_permutation(const struct order *o, const char (*names)[ORDER_NAME_LEN], char *buf,
		       size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "permutation");
	for (int i = 0; i < o->workers * o->steps && used < len; i++) {
		char label[ORDER_NAME_LEN + 4];
		order_step_label(o->w[i], names[order_step_at(o, i)], label, sizeof label);
		used += (size_t)snprintf(buf + used, len - used, " \"%s\"", label);
	}
}
