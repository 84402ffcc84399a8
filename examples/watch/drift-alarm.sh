#!/bin/sh
# drift-alarm.sh - raise an alarm when an app's tag drifts: its registry
# now resolves it to another image than the one deployed (the deployfs
# README, Tag drift and Examples). Needs a mount with -o drift=SECONDS.
#
#   examples/watch/drift-alarm.sh MOUNT [COMMAND [ARG...]]
#
# Watches every directory under MOUNT/environments (inotifywait -r) for
# IN_CLOSE_WRITE of an app's `drift` file, which deployfs writes when it
# sees drift (and empties when the tag comes back). For a drift it prints
#
#   DRIFT environments/prod/apps/web: since 2026-12-02T14:06:52Z from sha256:... to sha256:...
#
# and, when COMMAND is given, runs it with the app's directory and that
# line as two more arguments (`drift-alarm.sh /srv/deploy logger -t drift`).
# Apps drifting already when it starts are reported first. Runs until
# killed; needs inotify-tools.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 MOUNT [COMMAND [ARG...]]" >&2
	exit 2
fi
mnt=${1%/}
shift

# report DIR LINE COMMAND...: print the alarm, run COMMAND DIR LINE
report() {
	dir=$1 line=$2
	shift 2
	echo "DRIFT ${dir#"$mnt"/}: $line"
	[ $# -gt 0 ] || return 0
	"$@" "$dir" "$line" || echo "drift-alarm: the alarm command failed" >&2
}

for f in "$mnt"/environments/*/apps/*/drift; do
	[ -s "$f" ] && report "$(dirname "$f")" "$(cat "$f")" "$@"
done

inotifywait -m -r -e close_write --format '%w%f' "$mnt/environments" | while IFS= read -r f; do
	[ "${f##*/}" = drift ] || continue
	line=$(cat "$f") || continue
	[ -n "$line" ] || continue   # emptied: the tag came back
	report "$(dirname "$f")" "$line" "$@"
done
