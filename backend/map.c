/* map.c - open addressing with linear probing and tombstones. */
#include "map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone;

struct slot {
	char *key;     /* NULL: empty; &tombstone: deleted */
	void *value;
};

struct dfs_map {
	struct slot *slots;
	size_t cap;    /* power of two */
	size_t used;   /* live + tombstones */
	int borrowed;  /* keys are the caller's, not copies */
	size_t live;
};

uint64_t dfs_fnv1a(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static uint64_t hash(const char *s)
{
	return dfs_fnv1a(s, strlen(s));
}

struct dfs_map *dfs_map_new_borrowed(void)
{
	struct dfs_map *m = dfs_map_new();

	if (m)
		m->borrowed = 1;
	return m;
}

struct dfs_map *dfs_map_new(void)
{
	struct dfs_map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void dfs_map_free(struct dfs_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key && m->slots[i].key != &tombstone && !m->borrowed)
			free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static struct slot *find(const struct dfs_map *m, const char *key)
{
	size_t i = hash(key) & (m->cap - 1);

	for (;; i = (i + 1) & (m->cap - 1)) {
		struct slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != &tombstone && strcmp(s->key, key) == 0)
			return s;
	}
}

void *dfs_map_get(const struct dfs_map *m, const char *key)
{
	struct slot *s = find(m, key);

	return s ? s->value : NULL;
}

static int grow(struct dfs_map *m)
{
	struct slot *old = m->slots;
	size_t oldcap = m->cap;
	size_t cap = m->live * 4 > oldcap ? oldcap * 2 : oldcap;   /* else: just drop tombstones */

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	m->used = m->live;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i].key || old[i].key == &tombstone)
			continue;
		for (j = hash(old[i].key) & (cap - 1); m->slots[j].key; j = (j + 1) & (cap - 1))
			;
		m->slots[j] = old[i];
	}
	free(old);
	return 0;
}

int dfs_map_put(struct dfs_map *m, const char *key, void *value)
{
	struct slot *s = find(m, key);
	size_t i;

	if (s) {
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	for (i = hash(key) & (m->cap - 1); m->slots[i].key && m->slots[i].key != &tombstone;
	     i = (i + 1) & (m->cap - 1))
		;
	if (!m->slots[i].key)
		m->used++;
	m->slots[i].key = m->borrowed ? (char *)key : strdup(key);
	if (!m->slots[i].key)
		return -ENOMEM;
	m->slots[i].value = value;
	m->live++;
	return 0;
}

void *dfs_map_del(struct dfs_map *m, const char *key)
{
	struct slot *s = find(m, key);
	void *v;

	if (!s)
		return NULL;
	v = s->value;
	if (!m->borrowed)
		free(s->key);
	s->key = &tombstone;
	s->value = NULL;
	m->live--;
	return v;
}

size_t dfs_map_count(const struct dfs_map *m)
{
	return m->live;
}

void *dfs_map_next(const struct dfs_map *m, size_t *pos, const char **key)
{
	for (; *pos < m->cap; (*pos)++) {
		struct slot *s = &m->slots[*pos];

		if (s->key && s->key != &tombstone) {
			(*pos)++;
			if (key)
				*key = s->key;
			return s->value;
		}
	}
	return NULL;
}
