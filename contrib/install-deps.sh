#!/bin/sh
# Install the Debian packages deployfs needs to build, run its demo and run
# every test. Idempotent: installs only what is missing. Run as root.
#   contrib/install-deps.sh           build, demo and test packages
#   contrib/install-deps.sh --glance  also glance-api, for the tests against
#                                     a real Glance (tests/tools/glance.py);
#                                     ~200 packages, 1-2 minutes: only asked
#                                     for by contrib/test.sh
set -eu

BUILD="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libjansson-dev libssl-dev"
# the demo's local registry, and the real parts the tests use
RUNTIME="docker-registry ca-certificates curl openssl python3"
TESTS="python3-pytest python3-pytest-timeout vim nano emacs-nox inotify-tools skopeo apache2-utils valgrind clang tmux strace rsync lintian systemd"
# a real OpenStack Glance on loopback (tests/tools/glance.py), tests only
GLANCE=""
case "${1:-}" in
--glance) GLANCE="glance-api" ;;
"") ;;
*)
	echo "usage: $0 [--glance]" >&2
	exit 2
	;;
esac

missing=""
for p in $BUILD $RUNTIME $TESTS $GLANCE; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing:$missing; run as root (sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
# docker-registry's and glance-api's install scripts would start a server on
# all interfaces (glance-api on 0.0.0.0:9292): deny service starts during the
# install (Debian's policy-rc.d convention), unless the machine already has
# such a policy.
tmp_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	tmp_policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' > "$tmp_policy"
	chmod 755 "$tmp_policy"
fi
cleanup() { [ -n "$tmp_policy" ] && rm -f "$tmp_policy"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT HUP TERM
# glance-api processes running before the install (tests' own, say): the
# install must leave no other one behind
glance_pids() { pgrep -f '^[^ ]*python3[^ ]* /usr/bin/glance-api' || true; }
before=" $(glance_pids | tr '\n' ' ') "
apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
for pid in $(glance_pids); do
	case "$before" in *" $pid "*) continue ;; esac
	echo "install-deps: stopping glance-api $pid that the install started" >&2
	kill -TERM "$pid" 2>/dev/null || continue
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$pid" 2>/dev/null || true
done
# nor start one at the next boot: the tests start their own, on loopback
case "$missing " in
*" glance-api "*)
	if command -v systemctl >/dev/null; then
		systemctl disable glance-api.service >/dev/null 2>&1 || true
	fi
	update-rc.d glance-api disable >/dev/null 2>&1 || true
	;;
esac
