/* history.h - what changed, who changed it, and how to go back (README,
 * "History, audit and rollback").
 *
 * Every change of an app or an image becomes lines of a journal
 * (backend/journal.h): one line per value file that changed, with the
 * time, who (the user, uid and command of a write through the mount), the
 * origin, the file, old and new values and, for an app's image, the
 * digest the registry answered. The files `history` and `history.json` of
 * app and image directories show them; an app's `rollback` re-applies
 * the image of one of them; a commit through the mount is one info line
 * in the log and a refusal one warning, with the mount path and who.
 *
 * Who records a change, so that each is recorded once per store:
 *   - a write through the mount: the daemon that made it, at once
 *     (dfs_history_commit, from the write path's post-commit hook);
 *   - a change made elsewhere (another daemon, a hand edit, a remote
 *     backend's poll): the daemons that see it, a second later, only if
 *     none of the journal's last lines holds the same document already
 *     (its "after" key): so another daemon's write is its writer's line,
 *     and a hand edit is one line with no who, written by whichever
 *     daemon watching the store is first.
 *
 * Thread-safe. The history files are rendered under the model's read
 * lock from the journal file (a bounded local read; fs/LOCKING).
 */
#ifndef DEPLOYFS_HISTORY_H
#define DEPLOYFS_HISTORY_H

#include <jansson.h>
#include "backend.h"
#include "error.h"

struct dfs_fs;
struct dfs_who;
struct dfs_node;
struct dfs_attr;
struct dfs_obj;

/* Open the journals: <store>/.journal for what the local store holds,
 * <store>/.journal/remote for the kinds in remote_mask (1u << kind: the
 * apps API's, Glance's), and start the recorder of changes made
 * elsewhere. The one history of the process (the schema's rows read it).
 * 0 or -errno with err. */
int dfs_history_start(struct dfs_fs *fs, const char *store, unsigned remote_mask,
		      struct dfs_error *err);
/* Stop the recorder (what it still holds is recorded first) and close the
 * journals. Safe when never started. */
void dfs_history_stop(void);

/* A commit through the mount (obj->wlock held, no other lock): its lines
 * into the journal, one info log line per changed file. file is the
 * written file ("tag", "properties/k"), who the writer, digest the
 * registry's answer ("" or NULL when none). old/new_ NULL: the document
 * did not change (the same value written again). */
void dfs_history_commit(struct dfs_fs *fs, enum dfs_kind k, const char *id, const char *file,
			const json_t *old, const json_t *new_, const struct dfs_who *who,
			const char *digest);
/* A change made elsewhere (origin "store" or "remote"), from the change
 * callback: recorded a second later unless recorded already. Takes no
 * lock but the recorder's queue mutex (a leaf). */
void dfs_history_seen(struct dfs_fs *fs, enum dfs_kind k, const char *id, const json_t *old,
		      const json_t *new_, const char *origin);

/* One warning log line for a refused write to the file at the mount path
 * path, with who and why. */
void dfs_history_refused(const char *path, const struct dfs_who *who, const char *why);

/* The mount path of node n's file ("environments/prod/apps/web/tag"). No
 * lock held. */
void dfs_history_node_path(struct dfs_fs *fs, const struct dfs_node *n, char *out, size_t outsz);

/* The schema rows' functions (schema.c): history (tab-separated),
 * history.json (JSON lines), and an app's rollback. */
char *dfs_show_history(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		       size_t *len);
char *dfs_show_history_json(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			    size_t *len);
struct dfs_store_ctx;
int dfs_store_app_rollback(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
/* The digest of the app's current image as its journal last recorded it
 * (into out, DFS_DIGEST_MAX + 1 bytes; "" when unknown): what `digest`
 * shows after a restart. */
void dfs_history_digest(const struct dfs_obj *o, char *out, size_t outsz);

#endif
