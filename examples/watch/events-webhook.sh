#!/bin/sh
# events-webhook.sh - post every change the mount reports to a webhook
# (the deployfs README, Examples).
#
#   examples/watch/events-webhook.sh MOUNT URL
#
# Follows MOUNT/.deployfs/events (one JSON object a line, for a change
# made through the mount, by another daemon or a hand edit of the store,
# on the apps API or Glance, or a tag's drift) and POSTs each line as it
# comes to URL with curl, as Content-Type: application/json, bounded by
# --max-time 10 and retried 3 times; a post that still fails is reported
# on stderr and the follower goes on. It receives what happens after it
# opened the stream (it says "following" on stderr then); a follower more
# than 1,024 lines behind gets {"dropped":N} instead of what it lost, and
# posts that too. Runs until killed or until the mount goes away.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 MOUNT URL" >&2
	exit 2
fi
mnt=$1 url=$2

exec < "$mnt/.deployfs/events" || exit 1
echo "following $mnt/.deployfs/events, posting to $url" >&2
while IFS= read -r line; do
	if ! printf '%s' "$line" | curl -fsS --max-time 10 --retry 3 -o /dev/null \
		-H 'Content-Type: application/json' --data-binary @- "$url"; then
		echo "$0: could not post: $line" >&2
	fi
done
