/* handles.h - every handle given to the kernel, on one list.
 *
 * An open's fi->fh (an open for writing, an open directory) lives until
 * its RELEASE. Those whose RELEASE has not come when the session ends
 * (still open, or their RELEASE was on its way) are freed at destroy by
 * dfs_handles_free_all.
 *
 * Locking: the list has its own mutex, taken inside add and del only;
 * nothing else is held while a handle's free function runs.
 */
#ifndef DEPLOYFS_HANDLES_H
#define DEPLOYFS_HANDLES_H

#include <stdint.h>

/* What a handle is: RELEASE, WRITE and READ branch on it, never on the
 * node (whose kind a rename may change). */
enum dfs_handle_kind {
	DFS_H_WRITE = 1,   /* an open of a value file for writing (write.h) */
	DFS_H_EVENTS,      /* a reader of .deployfs/events (ops.c) */
	DFS_H_DIR,         /* an open directory's listing (ops.c) */
};

/* The first field of each kind of handle, so that fi->fh, which points at
 * it, says what it is (libfuse's passthrough_ll.c does the same with one
 * type per open). Its other fields are handles.c's. An open that needs no
 * state (a read-only open, a scratch file) has fi->fh 0. */
struct dfs_handle {
	enum dfs_handle_kind kind;        /* immutable */
	struct dfs_handle *prev, *next;   /* the list's mutex */
	void (*free)(struct dfs_handle *h);
};

/* The handle fi->fh points at, or NULL for 0. */
static inline struct dfs_handle *dfs_handle_of(uint64_t fh)
{
	return (struct dfs_handle *)(uintptr_t)fh;
}

/* Put h, the first field of a handle of that kind, on the list; free_fn
 * frees the handle (and must take it off the list with dfs_handle_del).
 * Can't fail. */
void dfs_handle_add(struct dfs_handle *h, enum dfs_handle_kind kind,
		    void (*free_fn)(struct dfs_handle *h));
/* Take h off the list. h must be on it. */
void dfs_handle_del(struct dfs_handle *h);
/* At the session's end, when no request runs any more: free every handle
 * still on the list by its free function. */
void dfs_handles_free_all(void);

#endif
