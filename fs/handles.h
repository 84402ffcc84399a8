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

/* Embedded in each kind of handle; its fields are handles.c's. */
struct dfs_handle {
	struct dfs_handle *prev, *next;   /* the list's mutex */
	void (*free)(struct dfs_handle *h);
};

/* Put h on the list; free_fn frees the handle h is embedded in (and must
 * take it off the list with dfs_handle_del). Can't fail. */
void dfs_handle_add(struct dfs_handle *h, void (*free_fn)(struct dfs_handle *h));
/* Take h off the list. h must be on it. */
void dfs_handle_del(struct dfs_handle *h);
/* At the session's end, when no request runs any more: free every handle
 * still on the list by its free function. */
void dfs_handles_free_all(void);

#endif
