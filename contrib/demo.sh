#!/bin/sh
# deployfs on its embedded default, with nothing to set up:
#   contrib/demo.sh        install what the demo needs and is missing (build
#                          and runtime: contrib/install-deps.sh without
#                          --tests), build, seed a demo store
#                          and a local registry, mount on /tmp/deployfs-demo/mnt
#   contrib/demo.sh api    the same demo data through a local apps API
#                          (tests/tools/apps_api.py, seeded from the demo
#                          store, its own registry check sent to the same
#                          local registry): api= with api_token_file=
#   contrib/demo.sh glance the demo's images from a real OpenStack Glance
#                          (Debian's glance-api, installed on first use,
#                          started on 127.0.0.1 by tests/tools/glance.py and
#                          seeded with the demo's images): glance=
#   contrib/demo.sh stop   unmount, stop the registry, the apps API and
#                          Glance: the
#                          last demo started (whatever its mode and
#                          DEPLOYFS_DEMO), else /tmp/deployfs-demo
# Run as root (it installs Debian packages and mounts).
# DEPLOYFS_DEMO=DIR puts the demo in DIR (default /tmp/deployfs-demo);
# DEPLOYFS_DEMO_NO_DEPS=1 skips contrib/install-deps.sh (the integration
# test sets it: the packages are there, and it must not reach the network).
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
# the last demo started, for a `stop` that is not told where it is
LAST=/tmp/deployfs-demo.last

stop() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" || umount -l "$MNT"
	fi
	[ -f "$DEMO/api/pid" ] && $PY contrib/demo_api.py stop "$DEMO/api" || true
	[ -f "$DEMO/glance/glance.json" ] && $PY tests/tools/glance.py stop "$DEMO/glance" >/dev/null || true
	[ -d "$DEMO/registry" ] && $PY contrib/demo_registry.py stop "$DEMO/registry" || true
}

mode=${1:-start}
case "$mode" in
stop)
	DEMO=${DEPLOYFS_DEMO:-}
	if [ -z "$DEMO" ] && [ -f "$LAST" ]; then
		DEMO=$(cat "$LAST")
	fi
	DEMO=${DEMO:-/tmp/deployfs-demo}
	MNT=$DEMO/mnt
	stop
	if [ -f "$LAST" ] && [ "$(cat "$LAST")" = "$DEMO" ]; then
		rm -f "$LAST"
	fi
	echo "deployfs demo stopped ($DEMO)"
	exit 0
	;;
start | api | glance) ;;
*)
	echo "usage: $0 [start|api|glance|stop]" >&2
	exit 2
	;;
esac

DEMO=${DEPLOYFS_DEMO:-/tmp/deployfs-demo}
MNT=$DEMO/mnt
if [ "${DEPLOYFS_DEMO_NO_DEPS:-}" != 1 ]; then
	if [ "$mode" = glance ]; then contrib/install-deps.sh --glance; else contrib/install-deps.sh; fi
fi
make -j2 deployfs
stop
mkdir -p "$MNT"
rm -rf "$DEMO/state" "$DEMO/registry" "$DEMO/api" "$DEMO/glance"
cp -r examples/demo-store "$DEMO/state"
printf '%s\n' "$DEMO" > "$LAST"
url=$($PY contrib/demo_registry.py start "$DEMO/registry")
# the daemon's log, where the demo's user finds it whatever the machine
# (no syslog in a container)
LOG=$DEMO/deployfs.log

if [ "$mode" = start ]; then
	./deployfs -o "state=$DEMO/state,registry_check=strict,log=$LOG" \
		-o "registry_mirror=docker.io=$url,registry_mirror=ghcr.io=$url" \
		-o "registry_mirror=registry.acme.example=$url" "$MNT"
	where="store: $DEMO/state, registry: $url"
elif [ "$mode" = glance ]; then
	glance=$($PY tests/tools/glance.py start "$DEMO/glance")
	$PY tests/tools/glance.py seed "$DEMO/glance" >/dev/null
	# environments and apps from the store, images from Glance
	./deployfs -o "glance=$glance,state=$DEMO/state,registry_check=strict,log=$LOG" \
		-o "registry_mirror=docker.io=$url,registry_mirror=ghcr.io=$url" \
		-o "registry_mirror=registry.acme.example=$url" "$MNT"
	where="Glance: $glance, store: $DEMO/state, registry: $url"
else
	api=$($PY contrib/demo_api.py start "$DEMO/api" "$url")
	# images still come from the store; the token only from its file
	./deployfs -o "api=$api,api_token_file=$DEMO/api/token,state=$DEMO/state,log=$LOG" \
		-o "registry_check=strict" \
		-o "registry_mirror=docker.io=$url,registry_mirror=ghcr.io=$url" \
		-o "registry_mirror=registry.acme.example=$url" "$MNT"
	where="apps API: $api (state: $DEMO/api/state.json, ${api%/api/v1}/_admin/state), registry: $url"
fi

web=$MNT/environments/prod/apps/web
# the stop command names the demo's folder, so it stops this demo whatever
# was started since
case "$DEMO" in
*[!A-Za-z0-9_./-]*) demo_q="'$(printf '%s' "$DEMO" | sed "s/'/'\\\\''/g")'" ;;
*) demo_q=$DEMO ;;
esac
cat <<MSG
deployfs is mounted on $MNT ($where).
Try:
  cat $web/ref
  echo 1.27-alpine > $web/tag && cat $web/ref $web/digest
  echo 9.9 > $web/tag; cat $web/error
  vim $web/tag
  ls $MNT/images/by-name/
Its log: $LOG
Stop it with: DEPLOYFS_DEMO=$demo_q $0 stop
MSG
