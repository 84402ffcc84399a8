#!/bin/sh
# Install the Debian packages deployfs needs. Idempotent: installs only
# what is missing. Run as root.
#   contrib/install-deps.sh                  build and run: what contrib/demo.sh
#                                            needs (compiler, libraries, fuse3,
#                                            the demo's local registry)
#   contrib/install-deps.sh --tests          also what the tests use (clang,
#                                            valgrind, editors, skopeo, lintian,
#                                            credential helpers...): for
#                                            contrib/test.sh
#   contrib/install-deps.sh --glance         also glance-api (a real OpenStack
#                                            Glance on loopback, for
#                                            `contrib/demo.sh glance` and the
#                                            tests; ~200 packages, 1-2 minutes)
#   contrib/install-deps.sh --list [...]     print the packages those options
#                                            name, one a line; install nothing
set -eu

# build, and run the daemon
BUILD="build-essential pkg-config libfuse3-dev fuse3 libcurl4-openssl-dev libjansson-dev libssl-dev ca-certificates"
# the demo: its local registry and the Python scripts that start and seed it
DEMO="docker-registry python3"
# the tests: runner, editors and tools they drive, sanitizers and valgrind,
# TLS and htpasswd registries, skopeo, packaging checks, credential helpers,
# jq (history.json read as a user would)
TESTS="python3-pytest python3-pytest-timeout curl openssl vim nano emacs-nox inotify-tools skopeo apache2-utils valgrind clang tmux strace rsync lintian systemd golang-docker-credential-helpers pass gnupg jq"
GLANCE="glance-api"

want="$BUILD $DEMO"
list=0
for arg in "$@"; do
	case "$arg" in
	--tests) want="$want $TESTS" ;;
	--glance) want="$want $GLANCE" ;;
	--list) list=1 ;;
	*)
		echo "usage: $0 [--tests] [--glance] [--list]" >&2
		exit 2
		;;
	esac
done
if [ "$list" = 1 ]; then
	printf '%s\n' $want
	exit 0
fi

missing=""
for p in $want; do
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
