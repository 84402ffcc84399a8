#!/bin/sh
# promote-on-change.sh - when staging's tag of an app changes, promote it
# to prod (the deployfs README, Examples).
#
#   examples/watch/promote-on-change.sh MOUNT [APP] [FROM] [TO]
#
# Watches MOUNT/environments/FROM/apps/APP (default: web, staging, prod)
# with inotifywait and, at each IN_CLOSE_WRITE of its tag (a write through
# this mount, or a change made elsewhere: another daemon, a hand edit of
# the store, a poll of the apps API), writes the new tag to
# MOUNT/environments/TO/apps/APP/tag, where the mount validates it and
# checks it in its registry. A refused promotion prints the error file's
# line and the watcher goes on. It acts on IN_CLOSE_WRITE, not
# IN_MODIFY: the first IN_MODIFY of a write is its truncation, before the
# value is there. Runs until killed; needs inotify-tools.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 MOUNT [APP] [FROM] [TO]" >&2
	exit 2
fi
mnt=$1 app=${2:-web} from=${3:-staging} to=${4:-prod}
src=$mnt/environments/$from/apps/$app
dst=$mnt/environments/$to/apps/$app
for d in "$src" "$dst"; do
	[ -d "$d" ] || { echo "$0: no such app directory: $d" >&2; exit 1; }
done

# inotifywait says "Watches established." on stderr once it listens
inotifywait -m -e close_write --format '%f' "$src" | while IFS= read -r file; do
	[ "$file" = tag ] || continue
	new=$(cat "$src/tag") || continue
	[ -n "$new" ] || continue
	[ "$new" = "$(cat "$dst/tag")" ] && continue
	if printf '%s\n' "$new" > "$dst/tag"; then
		echo "promoted $app:$new from $from to $to"
	else
		echo "promotion of $app:$new to $to refused: $(cat "$dst/error")" >&2
	fi
done
