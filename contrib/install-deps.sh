#!/bin/sh
# Install the Debian packages deployfs needs to build, run its demo and run
# every test. Idempotent: installs only what is missing. Run as root.
set -eu

BUILD="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libjansson-dev"
# the demo's local registry, and the real parts the tests use
RUNTIME="docker-registry ca-certificates curl openssl python3"
TESTS="python3-pytest python3-pytest-timeout vim nano emacs-nox inotify-tools skopeo apache2-utils valgrind clang tmux strace"

missing=""
for p in $BUILD $RUNTIME $TESTS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing:$missing; run as root (sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
# docker-registry's install script would start a registry on all
# interfaces: deny service starts during the install (Debian's policy-rc.d
# convention), unless the machine already has such a policy.
tmp_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	tmp_policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' > "$tmp_policy"
	chmod 755 "$tmp_policy"
fi
cleanup() { [ -n "$tmp_policy" ] && rm -f "$tmp_policy"; return 0; }
trap cleanup EXIT
apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
