/* journal.h - an append-only journal of changes, one file per object
 * (README, "History, audit and rollback").
 *
 * A journal is a directory of files named "<kind>-<id>.log", each holding
 * one JSON object per line, oldest first. Every line gets "n", its number
 * in that object's journal (1, 2, ...; numbers stay with their line when
 * older lines go). Several processes (daemons on one store) share a
 * journal:
 *   - an append is one write(2) on an O_APPEND descriptor, under the
 *     file's flock; a file whose last line was torn (a crash in the middle
 *     of a write) gets a "\n" first, so the torn line stays alone and is
 *     ignored by every reader, never fatal;
 *   - the file is bounded: when it holds more than 2 * DFS_JOURNAL_KEEP
 *     lines, the append that passes that keeps the newest DFS_JOURNAL_KEEP
 *     (temp file, fsync, rename, fsync of the directory, under the lock);
 *     lockers check that the path still names the file they locked;
 *   - readers take no lock: they see the file before or after an append
 *     or a compaction, and skip lines that are not whole JSON objects.
 *
 * Locking: the file's flock is a leaf: nothing is taken while it is held
 * (fs/LOCKING). Thread-safe: the struct holds only the directory.
 */
#ifndef DEPLOYFS_JOURNAL_H
#define DEPLOYFS_JOURNAL_H

#include <sys/types.h>
#include <jansson.h>
#include "error.h"

#define DFS_JOURNAL_KEEP 1000        /* lines a reader gets; compaction keeps these */
#define DFS_JOURNAL_LINE_MAX 65536   /* a longer line is not written (EFBIG) */
#define DFS_JOURNAL_DEDUP 16         /* lines the dedup key is looked for in */

struct dfs_journal;

/* The journal in dir (created 0700 when missing; its parent must exist).
 * NULL with err on failure. */
struct dfs_journal *dfs_journal_open(const char *dir, struct dfs_error *err);
void dfs_journal_free(struct dfs_journal *j);   /* accepts NULL */
/* The directory (borrowed). */
const char *dfs_journal_dir(const struct dfs_journal *j);

/* Append the objects of the array entries (each gets "n"; borrowed, but
 * "n" is set in them) to the journal of name (a file name without
 * ".log": "apps-<id>"; no '/', not starting with '.'), in one write(2).
 * When key and field are given (a change seen, not made, by the caller),
 * nothing is appended if one of the last DFS_JOURNAL_DEDUP lines has
 * field equal to key: another process recorded this change already; and
 * each entry's "old" becomes the "new" of the newest line with its
 * "file" (entries left with old equal to new are dropped, so entries may
 * shrink). *appended (may be NULL) says whether lines were written. 0 or
 * -errno with err. */
int dfs_journal_append(struct dfs_journal *j, const char *name, json_t *entries,
		       const char *field, const char *key, int *appended, struct dfs_error *err);

/* The last DFS_JOURNAL_KEEP lines of name's journal, oldest first, as a
 * new JSON array in *out (empty when there is no journal). Lines that are
 * not whole JSON objects with a number "n" (a torn last line) are
 * skipped. 0 or -errno with err. */
int dfs_journal_read(struct dfs_journal *j, const char *name, json_t **out,
		     struct dfs_error *err);

/* Where a reader of a journal file got to: the file, and the end of its
 * last whole line read. Zeroed: nothing read yet. */
struct dfs_journal_pos {
	dev_t dev;
	ino_t ino;
	off_t end;
};

/* The lines of name's journal after pos, oldest first, as a new JSON
 * array in *out, and pos moved past them: when pos names the same file
 * and it has not shrunk, only the lines appended since (*restart = 0);
 * else (a compaction replaced it, or pos is zeroed) the lines of its
 * last 8 MiB (*restart = 1), that the caller keeps the last
 * DFS_JOURNAL_KEEP of. Lines that are not whole are skipped, a torn last
 * line left for later. 0 or -errno with err. */
int dfs_journal_read_since(struct dfs_journal *j, const char *name, struct dfs_journal_pos *pos,
			   int *restart, json_t **out, struct dfs_error *err);

#endif
