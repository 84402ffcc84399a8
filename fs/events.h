/* events.h - .deployfs/events: a broadcast of changes, one JSON line each.
 *
 * Each open is a reader that receives every line published after it
 * opened, like the kernel's trace_pipe. A blocked READ holds no worker
 * thread: it is kept and answered when a line arrives (the low-level API
 * allows a deferred reply), or with EINTR when interrupted. A reader that
 * falls more than DFS_EVENTS_BACKLOG lines (or DFS_EVENTS_BYTES bytes)
 * behind gets {"dropped":N} in place of what it lost: the ring's memory is
 * bounded by both, whatever the readers do. Thread-safe; publish may be called from any
 * thread, but never with a lock held that a FUSE handler needs.
 */
#ifndef DEPLOYFS_EVENTS_H
#define DEPLOYFS_EVENTS_H

#include <stdint.h>
#include <fuse_lowlevel.h>

#define DFS_EVENTS_BACKLOG 1024
#define DFS_EVENTS_BYTES (4 << 20)

struct dfs_events;
struct dfs_events_reader;

struct dfs_events *dfs_events_new(void);
/* Answers every blocked read with EINTR, frees everything. Accepts NULL. */
void dfs_events_free(struct dfs_events *ev);

/* Publish one line (without its "\n"; copied). */
void dfs_events_publish(struct dfs_events *ev, const char *line);
/* Publish a change of the file at path (mount-relative): old/new values
 * (NULL: absent), origin "mount", "store" or "remote". */
void dfs_events_change(struct dfs_events *ev, const char *path, const char *old,
		       const char *new_, const char *origin);

/* A new reader, positioned after the newest line. NULL on ENOMEM. */
struct dfs_events_reader *dfs_events_open(struct dfs_events *ev);
void dfs_events_close(struct dfs_events *ev, struct dfs_events_reader *r);

/* Serve a READ: replies now (lines ready, or EAGAIN when nonblock), or
 * keeps req and replies later. */
void dfs_events_read(struct dfs_events *ev, struct dfs_events_reader *r, fuse_req_t req,
		     size_t size, int nonblock);
/* Serve a POLL: POLLIN when a line is ready; ph (may be NULL) is kept and
 * notified at the next line. */
void dfs_events_poll(struct dfs_events *ev, struct dfs_events_reader *r, fuse_req_t req,
		     struct fuse_pollhandle *ph);

#endif
