/* names.c - directory names for server-provided object names.
 *
 * Every sibling starts from its "stem": the name itself when it is safe,
 * else the name %-escaped (an empty name: its id). Siblings whose names
 * collide climb a ladder of suffixes, one rung per round:
 *
 *   level 0   stem                      (only when the stem fits in 255)
 *   level 1   stem@<8 chars of id>
 *   level k   stem@<8 << (k-1) chars of id>, up to the whole id
 *   counter   stem@<whole id>~N         (same name and same id, or worse)
 *
 * A round groups equal outputs; in each group only the members on the
 * highest rung climb, so an object literally named "web@3f2a9c1d" keeps
 * its name and the duplicate "web" whose suffix met it climbs past it.
 * Rounds depend on the set of outputs only, never on input order. Counter
 * names are handed out last, in an order sorted by the inputs themselves,
 * each the smallest N not yet taken, so they too are order-independent.
 */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The id part of a suffix is bounded so a long id cannot crowd out the
 * name: 255 - 1 ("@") - 128 - 21 ("~" and a counter) leaves 105 bytes. */
#define ID_SUFFIX_MAX 128
#define COUNTER_LEVEL INT32_MAX
/* A stem or id is kept a little beyond what is ever shown, so a cut can
 * always look at the byte after it. */
#define STEM_KEEP (DFS_FILENAME_MAX + 4)
#define ID_KEEP   (ID_SUFFIX_MAX + 4)

struct item {
	const struct dfs_name_in *in;
	char stem[STEM_KEEP];             /* start of the stem */
	size_t stemlen;                   /* bytes held in stem */
	size_t fulllen;                   /* length of the whole stem */
	int stem_escaped;                 /* '%' in stem starts an escape */
	char id[ID_KEEP + 1];             /* start of the id, '%' '/' escaped */
	size_t idlen;                     /* bytes a suffix uses; id[idlen] = 0 */
	int level, top;                   /* current rung, last id rung */
	unsigned long counter;
	char out[DFS_FILENAME_MAX + 1];
};

static int is_safe(const char *s, size_t len)
{
	return len > 0 && len <= DFS_FILENAME_MAX && !memchr(s, '/', len) &&
	       !memchr(s, '\0', len) && !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

/* %-escape s into buf: whole escapes only, as many bytes as fit in max,
 * their count in *kept. Returns the length of the whole escaped string.
 * With all_pct, '%' is escaped too, so that '%' in the result always
 * starts an escape and the escaping can be undone. */
static size_t escape(const char *s, size_t len, int all_pct, char *buf,
		     size_t max, size_t *kept)
{
	size_t i, o = 0;

	*kept = 0;
	if (len == 1 && s[0] == '.')
		s = "%2E", len = 3, all_pct = 0;
	else if (len == 2 && s[0] == '.' && s[1] == '.')
		s = "%2E%2E", len = 6, all_pct = 0;
	for (i = 0; i < len; i++) {
		const char *rep = NULL;
		char c = s[i];

		if (all_pct && c == '%')
			rep = "%25";
		else if (c == '/')
			rep = "%2F";
		else if (c == '\0')
			rep = "%00";
		if (rep && o + 3 <= max && *kept == o) {
			memcpy(buf + o, rep, 3);
			*kept = o + 3;
		} else if (!rep && o < max && *kept == o) {
			buf[o] = c;
			*kept = o + 1;
		}
		o += rep ? 3 : 1;
	}
	return o;
}

/* The largest cut <= p of s that splits neither a UTF-8 sequence nor,
 * when escaped, a %XX escape. s[p] must be readable. */
static size_t safe_cut(const char *s, size_t p, int escaped)
{
	size_t q = p;

	while (q > 0 && p - q < 3 && ((unsigned char)s[q] & 0xc0) == 0x80)
		q--;
	if (((unsigned char)s[q] & 0xc0) == 0x80)
		q = p;          /* not UTF-8 here anyway: cut where asked */
	if (escaped && q >= 1 && s[q - 1] == '%')
		q -= 1;
	else if (escaped && q >= 2 && s[q - 2] == '%')
		q -= 2;
	return q;
}

static void item_init(struct item *it, const struct dfs_name_in *in)
{
	const char *name = in->name ? in->name : "";
	const char *id = in->id ? in->id : "";
	size_t len = in->name ? in->len : 0, step;

	it->in = in;
	if (len == 0) {
		/* an empty name becomes its id, made safe as a name would be */
		name = id;
		len = strlen(id);
	}
	it->stem_escaped = !is_safe(name, len);
	if (it->stem_escaped) {
		it->fulllen = escape(name, len, 1, it->stem, STEM_KEEP,
				     &it->stemlen);
	} else {
		memcpy(it->stem, name, len);    /* safe: at most 255 bytes */
		it->fulllen = it->stemlen = len;
	}

	if (escape(id, strlen(id), 1, it->id, ID_KEEP, &it->idlen) >
	    ID_SUFFIX_MAX)
		it->idlen = safe_cut(it->id, ID_SUFFIX_MAX, 1);
	it->id[it->idlen] = '\0';

	for (it->top = 1, step = 8; step < it->idlen; step <<= 1)
		it->top++;
	it->level = it->fulllen == 0 || it->fulllen > DFS_FILENAME_MAX;
}

/* Write the name of it at its current level into it->out. */
static void render(struct item *it)
{
	char suffix[1 + ID_SUFFIX_MAX + 24];
	size_t slen = 0, take, keep;

	if (it->level > 0) {
		take = it->idlen;
		if (it->level != COUNTER_LEVEL && (8u << (it->level - 1)) < take)
			take = safe_cut(it->id, 8u << (it->level - 1), 1);
		slen = (size_t)snprintf(suffix, sizeof(suffix), "@%.*s",
					(int)take, it->id);
		if (it->level == COUNTER_LEVEL)
			slen += (size_t)snprintf(suffix + slen, sizeof(suffix) - slen,
						 "~%lu", it->counter);
	}
	/* A stem of over 255 - slen bytes is cut; the cut is below fulllen
	 * and stemlen (which holds at least 256 bytes of a long stem). */
	keep = it->stemlen;
	if (it->fulllen + slen > DFS_FILENAME_MAX)
		keep = safe_cut(it->stem, DFS_FILENAME_MAX - slen,
				it->stem_escaped);
	memcpy(it->out, it->stem, keep);
	memcpy(it->out + keep, suffix, slen);
	it->out[keep + slen] = '\0';
}

static int cmp_out(const void *a, const void *b)
{
	return strcmp((*(struct item *const *)a)->out,
		      (*(struct item *const *)b)->out);
}

/* Counter order: items that render alike are adjacent, and ties are
 * broken by the inputs themselves, so the order does not depend on how
 * the caller ordered them. */
static int cmp_input(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a;
	const struct item *y = *(struct item *const *)b;
	size_t lx = x->in->name ? x->in->len : 0, ly = y->in->name ? y->in->len : 0;
	int c;

	if (x->stemlen != y->stemlen)
		return x->stemlen < y->stemlen ? -1 : 1;
	if ((c = memcmp(x->stem, y->stem, x->stemlen)) != 0)
		return c;
	if ((c = strcmp(x->id, y->id)) != 0)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	if (lx && (c = memcmp(x->in->name, y->in->name, lx)) != 0)
		return c;
	return strcmp(x->in->id ? x->in->id : "", y->in->id ? y->in->id : "");
}

static int same_render_base(const struct item *x, const struct item *y)
{
	return x->stemlen == y->stemlen &&
	       memcmp(x->stem, y->stem, x->stemlen) == 0 &&
	       strcmp(x->id, y->id) == 0;
}

/* Climb the id rungs until the non-counter names are all distinct.
 * Items that run out of rungs are moved to the end of v; returns how many
 * stay in front. */
static size_t climb(struct item **v, size_t n)
{
	size_t i, j, k, active = n;
	int changed = 1, top;

	while (changed) {
		changed = 0;
		for (i = 0; i < active; i++)
			render(v[i]);
		qsort(v, active, sizeof(*v), cmp_out);
		for (i = 0; i < active; i = j) {
			for (j = i + 1; j < active && !strcmp(v[i]->out, v[j]->out); j++)
				;
			if (j - i < 2)
				continue;
			for (top = 0, k = i; k < j; k++)
				if (v[k]->level > top)
					top = v[k]->level;
			for (k = i; k < j; k++) {
				if (v[k]->level != top)
					continue;
				v[k]->level = top < v[k]->top ? top + 1 : COUNTER_LEVEL;
				changed = 1;
			}
		}
		/* move the items out of rungs behind the active ones */
		for (i = 0; i < active;) {
			if (v[i]->level == COUNTER_LEVEL) {
				struct item *t = v[i];

				v[i] = v[--active];
				v[active] = t;
			} else {
				i++;
			}
		}
	}
	return active;
}

/* A set of names, open addressing; it never fills beyond half. */
struct nameset {
	const char **slot;
	size_t mask;
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Insert s unless present. 1 inserted, 0 already there. */
static int nameset_add(struct nameset *set, const char *s)
{
	size_t i = hash(s) & set->mask;

	while (set->slot[i]) {
		if (strcmp(set->slot[i], s) == 0)
			return 0;
		i = (i + 1) & set->mask;
	}
	set->slot[i] = s;
	return 1;
}

/* Give each counter item v[active..n) the smallest free N, starting after
 * the N of the previous item with the same base (those below are taken). */
static int assign_counters(struct item **v, size_t active, size_t n)
{
	struct nameset set;
	size_t size = 4, i;

	while (size < 2 * n)
		size <<= 1;
	set.slot = calloc(size, sizeof(*set.slot));
	if (!set.slot)
		return -ENOMEM;
	set.mask = size - 1;
	for (i = 0; i < active; i++)
		nameset_add(&set, v[i]->out);
	qsort(v + active, n - active, sizeof(*v), cmp_input);
	for (i = active; i < n; i++) {
		v[i]->counter = 1;
		if (i > active && same_render_base(v[i - 1], v[i]))
			v[i]->counter = v[i - 1]->counter + 1;
		for (;; v[i]->counter++) {
			render(v[i]);
			if (nameset_add(&set, v[i]->out))
				break;
		}
	}
	free(set.slot);
	return 0;
}

int dfs_names_assign(const struct dfs_name_in *in, size_t n, char **out)
{
	struct item *items;
	struct item **v;
	char **names = NULL;
	size_t i, active;
	int ret = -ENOMEM;

	if (n == 0)
		return 0;
	if (!in || !out)
		return -EINVAL;
	items = calloc(n, sizeof(*items));
	v = calloc(n, sizeof(*v));
	names = calloc(n, sizeof(*names));
	if (!items || !v || !names)
		goto out_free;
	for (i = 0; i < n; i++) {
		item_init(&items[i], &in[i]);
		v[i] = &items[i];
	}
	active = climb(v, n);
	if (assign_counters(v, active, n))
		goto out_free;

	/* out is written only once every name exists */
	for (i = 0; i < n; i++) {
		names[i] = strdup(items[i].out);
		if (!names[i])
			goto out_names;
	}
	memcpy(out, names, n * sizeof(*out));
	ret = 0;
	goto out_free;

out_names:
	while (i-- > 0)
		free(names[i]);
out_free:
	free(names);
	free(v);
	free(items);
	return ret;
}
