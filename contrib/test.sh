#!/bin/sh
# Run every test of deployfs: installs what is missing, builds, then the
# unit tests, the integration tests on real mounts (real registry, editors,
# inotifywait, a real Glance), all of them again under ASan+UBSan, and the
# write-path tests with the daemon under valgrind. Run as root.
set -eu
cd "$(dirname "$0")/.."
contrib/install-deps.sh --tests --glance
make -j2
make check
make SAN=1 -j2 check
make check-valgrind
