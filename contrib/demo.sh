#!/bin/sh
# deployfs on its embedded default, with nothing to set up:
#   contrib/demo.sh        install what is missing, build, seed a demo store
#                          and a local registry, mount on /tmp/deployfs-demo/mnt
#   contrib/demo.sh stop   unmount and stop the registry
# Run as root (it installs Debian packages and mounts).
set -eu
cd "$(dirname "$0")/.."
DEMO=${DEPLOYFS_DEMO:-/tmp/deployfs-demo}
MNT=$DEMO/mnt
PY=/usr/bin/python3

stop() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" || umount -l "$MNT"
	fi
	[ -d "$DEMO/registry" ] && $PY contrib/demo_registry.py stop "$DEMO/registry" || true
}

case "${1:-start}" in
stop)
	stop
	echo "deployfs demo stopped"
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 [start|stop]" >&2
	exit 2
	;;
esac

contrib/install-deps.sh
make -j2 deployfs
stop
mkdir -p "$MNT"
rm -rf "$DEMO/state" "$DEMO/registry"
cp -r examples/demo-store "$DEMO/state"
url=$($PY contrib/demo_registry.py start "$DEMO/registry")
./deployfs -o "state=$DEMO/state,registry_check=strict" \
	-o "registry_mirror=docker.io=$url,registry_mirror=ghcr.io=$url" \
	-o "registry_mirror=registry.acme.example=$url" "$MNT"

web=$MNT/environments/prod/apps/web
cat <<MSG
deployfs is mounted on $MNT (store: $DEMO/state, registry: $url).
Try:
  cat $web/ref
  echo 1.27-alpine > $web/tag && cat $web/ref $web/digest
  echo 9.9 > $web/tag; cat $web/error
  vim $web/tag
  ls $MNT/images/by-name/
Stop it with: $0 stop
MSG
