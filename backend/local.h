/* local.h - the local store: one JSON document per object on disk.
 *
 * Layout under the store directory (0700):
 *   environments/<id>.json  apps/<id>.json  registries/<id>.json
 *   images/<id>.json         .lock/<kind>-<id>   (flock, one per object)
 * Documents have the remote APIs' shapes. Every write is write-temp (a
 * dotfile, 0600), fsync, rename, fsync-directory: a crash leaves each object
 * old or new, never torn. A patch re-reads the document under the object's
 * flock, so several daemons (and people editing the JSON) never lose an
 * update. Changes made outside this process are reported through watch()
 * (inotify).
 *
 * Only regular files are read, never blocking and never through a symlink;
 * every document is checked (storedoc.h) where it is read (list, get,
 * patch, the watcher), and one that fails is logged and skipped (list) or
 * not reported (watcher: the last good version stays). A write holds its
 * object's flock while its temp file exists; a lock file is removed with
 * its object (under the lock, and lockers check that the path still names
 * the inode they locked). At open, temp files nobody holds and lock files
 * of objects with no document are removed.
 */
#ifndef DEPLOYFS_LOCAL_H
#define DEPLOYFS_LOCAL_H

#include "backend.h"

/* Open (creating what is missing) the store at dir. NULL with err on
 * failure. Free with backend->ops->free. */
struct dfs_backend *dfs_local_new(const char *dir, struct dfs_error *err);

/* Serve only the kinds in mask (bit 1u << k per kind; all by default):
 * the watcher then reports changes of those alone, so a store that serves
 * images beside a remote backend never shows its own environments or
 * apps. Call before watch. */
void dfs_local_serve_only(struct dfs_backend *b, unsigned mask);

/* 1 when id can name a document file: non-empty, at most 200 bytes, no '/',
 * not starting with '.'. */
int dfs_local_id_ok(const char *id);

#endif
