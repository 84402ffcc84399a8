/* mountpoint.h - what deployfs checks of its mount point before mounting. */
#ifndef DEPLOYFS_MOUNTPOINT_H
#define DEPLOYFS_MOUNTPOINT_H

/* Make mnt mountable after a daemon that was killed left its mount behind
 * (every access gives ENOTCONN, "Transport endpoint is not connected").
 * A dead deployfs mount on mnt is detached (umount2 MNT_DETACH as root,
 * else fusermount3 -u -z) with a log line; a dead mount of another
 * filesystem is left alone. A live FUSE mount on mnt (a deployfs, or any
 * fuse, fuseblk or fuse.* type) is refused: mounting again would stack a
 * second filesystem on it. Returns 0 when mnt can be mounted on (or
 * its other problems are for the mount itself to report), or -1 after
 * printing one line to stderr that says how to clear it. */
int dfs_mountpoint_prepare(const char *mnt);

#endif
