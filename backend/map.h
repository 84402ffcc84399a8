/* map.h - a string-keyed hash map of borrowed pointers (open addressing).
 * Not thread-safe: callers hold the lock that protects what it indexes. */
#ifndef DEPLOYFS_MAP_H
#define DEPLOYFS_MAP_H

#include <stddef.h>
#include <stdint.h>

struct dfs_map;

struct dfs_map *dfs_map_new(void);          /* NULL on ENOMEM */
/* A map that keeps the caller's key pointers instead of copies: each key
 * must stay as it is until its entry is deleted or the map freed. */
struct dfs_map *dfs_map_new_borrowed(void);
void dfs_map_free(struct dfs_map *m);       /* accepts NULL; frees keys, not values */
void *dfs_map_get(const struct dfs_map *m, const char *key);
int dfs_map_put(struct dfs_map *m, const char *key, void *value);  /* copies key; 0 or -ENOMEM */
void *dfs_map_del(struct dfs_map *m, const char *key);  /* returns the value removed */
size_t dfs_map_count(const struct dfs_map *m);
/* Iterate: start with *pos = 0; returns the next value or NULL at the end,
 * and its key in *key (borrowed). No put/del while iterating. */
void *dfs_map_next(const struct dfs_map *m, size_t *pos, const char **key);

/* 64-bit FNV-1a of len bytes: the one content hash of deployfs. */
uint64_t dfs_fnv1a(const char *s, size_t len);

#endif
