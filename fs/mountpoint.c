/* mountpoint.c - a dead mount left on the mount point (see mountpoint.h). */
#include "mountpoint.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Undo /proc/self/mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* The filesystem type of the topmost mount on mnt, malloc'd, or NULL. */
static char *mount_type(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *type = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER */
		char *save = NULL, *field, *point = NULL, *fstype = NULL;
		int i = 0, dash = 0;

		for (field = strtok_r(line, " \n", &save); field;
		     field = strtok_r(NULL, " \n", &save), i++) {
			if (i == 4)
				point = field;
			else if (dash) {
				fstype = field;
				break;
			} else if (i > 5 && strcmp(field, "-") == 0)
				dash = 1;
		}
		if (!point || !fstype)
			continue;
		unescape(point);
		if (strcmp(point, mnt) == 0) {
			free(type);
			type = strdup(fstype);   /* later lines are mounted on top */
		}
	}
	free(line);
	fclose(f);
	return type;
}

static int fusermount_detach(const char *mnt)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int dfs_mountpoint_prepare(const char *mnt)
{
	struct stat st;
	char *type;
	int ours;

	if (stat(mnt, &st) == 0) {
		/* a live FUSE mount here: mounting again would stack on it */
		type = mount_type(mnt);
		if (type && (strcmp(type, "fuse") == 0 || strcmp(type, "fuseblk") == 0 ||
			     strncmp(type, "fuse.", 5) == 0)) {
			fprintf(stderr, "deployfs: %s: already a FUSE mount (%s); unmount it first: "
				"fusermount3 -u %s\n", mnt, type, mnt);
			free(type);
			return -1;
		}
		free(type);
		return 0;
	}
	if (errno != ENOTCONN)
		return 0;
	type = mount_type(mnt);
	ours = type && strcmp(type, "fuse.deployfs") == 0;
	free(type);
	if (ours && (umount2(mnt, MNT_DETACH) == 0 || fusermount_detach(mnt) == 0) &&
	    (stat(mnt, &st) == 0 || errno != ENOTCONN)) {
		log_info("%s: detached the mount of a deployfs that is gone", mnt);
		return 0;
	}
	fprintf(stderr, "deployfs: %s: a dead mount is still there (transport endpoint is not "
		"connected); clear it with: fusermount3 -u %s\n", mnt, mnt);
	return -1;
}
