"""Tag drift (README, Tag drift): with -o drift=SECONDS the mount re-checks
each app's tag in its registry; when the tag now resolves to another
digest than the one deployed, `digest` shows it, `drift` says since when
and from what, .deployfs/events has a line with origin "registry", and
watchers of `digest` get IN_MODIFY. A real docker-registry on loopback,
re-tagged with skopeo, as an image's publisher would."""
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import WEB, read, sh
from registry import Registry
from seed_registry import Client, push_image
from watch_helpers import Watcher, wait_for

DRIFT = re.compile(r"^since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ from (sha256:[0-9a-f]{64}) "
                   r"to (sha256:[0-9a-f]{64})\n$")


@pytest.fixture
def registry(tmp_path):
    """A registry of its own (a test re-tags and stops it) holding
    library/nginx 1.25-alpine and 1.28: two images."""
    reg = Registry(str(tmp_path / "registry")).start()
    c = Client(reg.url)
    reg.digests = {tag: push_image(c, "library/nginx", tag, "nginx:" + tag, "amd64", docker)["digest"]
                   for tag, docker in (("1.25-alpine", False), ("1.28", True))}
    yield reg
    reg.stop()


def retag(reg, src, dst):
    """Point dst at src's image with skopeo; the digest dst resolves to now."""
    base = "docker://%s/library/nginx:" % reg.host
    subprocess.run(["skopeo", "copy", "--insecure-policy", "--src-tls-verify=false",
                    "--dest-tls-verify=false", "-q", base + src, base + dst],
                   check=True, capture_output=True, timeout=120)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", base + dst],
                         check=True, capture_output=True, timeout=60).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class Events:
    """A reader of .deployfs/events opened now."""

    def __init__(self, m):
        self.fd = os.open(m.path(".deployfs", "events"), os.O_RDONLY | os.O_NONBLOCK)
        self.buf = b""

    def lines(self):
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.buf += chunk
        return [json.loads(l) for l in self.buf.decode().splitlines()]

    def close(self):
        os.close(self.fd)


def mount_with_drift(make_mount, reg, check="strict", period=1):
    return make_mount("registry_check=%s,registry_mirror=docker.io=%s,drift=%s"
                      % (check, reg.url, period))


def deploy(m, tag):
    r = sh("echo %s > tag" % tag, cwd=m.app())
    assert r.returncode == 0, r.stderr + read(m.app("error"))


def registry_lines(ev):
    return [l for l in ev.lines() if l.get("origin") == "registry"]


def test_drift_is_shown_everywhere(make_mount, registry):
    m = mount_with_drift(make_mount, registry)
    deploy(m, "1.25-alpine")
    d1 = registry.digests["1.25-alpine"]
    assert read(m.app("digest")) == d1 + "\n"
    version = m.doc("apps", WEB)["version"]
    w, ev = Watcher(m.app(), read_on="digest"), Events(m)
    try:
        # keep the deployed image under another tag, to move back to
        retag(registry, "1.25-alpine", "kept")
        d2 = retag(registry, "1.28", "1.25-alpine")
        assert d2 != d1
        assert wait_for(lambda: read(m.app("digest")) == d2 + "\n", timeout=30)
        drift = read(m.app("drift"))
        assert DRIFT.match(drift).groups() == (d1, d2), drift
        assert wait_for(lambda: registry_lines(ev))
        line, = registry_lines(ev)
        assert line["path"] == "environments/prod/apps/web/digest"
        assert (line["old"], line["new"]) == (d1, d2)
        assert w.wait("digest", "MODIFY") and w.wait("digest", "CLOSE_WRITE"), w.lines()
        assert w.wait("drift", "CLOSE_WRITE"), w.lines()
        assert wait_for(lambda: w.values and w.values[-1] == d2 + "\n"), w.values

        # the tag comes back: so do digest and drift
        assert retag(registry, "kept", "1.25-alpine") == d1
        assert wait_for(lambda: read(m.app("digest")) == d1 + "\n", timeout=30)
        assert read(m.app("drift")) == ""
        assert wait_for(lambda: len(registry_lines(ev)) == 2)
        back = registry_lines(ev)[1]
        assert (back["old"], back["new"]) == (d2, d1)
        # the same answer at every later check: no line more
        assert len(registry_lines(ev)) == 2
    finally:
        w.stop()
        ev.close()
    # drift never writes the store
    assert m.doc("apps", WEB)["version"] == version
    assert m.doc("apps", WEB)["source"]["image"]["tag"] == "1.25-alpine"


def test_redeploy_ends_the_drift(make_mount, registry):
    m = mount_with_drift(make_mount, registry)
    deploy(m, "1.25-alpine")
    d2 = retag(registry, "1.28", "1.25-alpine")
    assert wait_for(lambda: read(m.app("drift")) != "", timeout=30)
    # deploying the tag again accepts what it points at now
    deploy(m, "1.25-alpine")
    assert read(m.app("drift")) == "" and read(m.app("digest")) == d2 + "\n"
    ev = Events(m)
    try:
        # the checks after it find what was deployed: no drift
        assert wait_for(lambda: "drift" not in m.log().split("resolves to")[-1], timeout=3)
        assert read(m.app("digest")) == d2 + "\n"
        assert not registry_lines(ev)
        assert read(m.app("drift")) == ""
    finally:
        ev.close()


def test_first_check_records_and_is_not_drift(make_mount, registry):
    # the store's web is on nginx:1.25-alpine, and nothing was recorded
    # for it (no write through this mount): the first check records
    m = mount_with_drift(make_mount, registry, check="off")
    ev = Events(m)
    try:
        d1 = registry.digests["1.25-alpine"]
        assert wait_for(lambda: read(m.app("digest")) == d1 + "\n", timeout=30)
        assert read(m.app("drift")) == ""
        assert not registry_lines(ev)
        d2 = retag(registry, "1.28", "1.25-alpine")
        assert wait_for(lambda: read(m.app("digest")) == d2 + "\n", timeout=30)
        assert DRIFT.match(read(m.app("drift"))).groups() == (d1, d2)
    finally:
        ev.close()


def test_a_registry_that_is_down_is_no_drift(make_mount, registry):
    m = mount_with_drift(make_mount, registry)
    deploy(m, "1.25-alpine")
    d1 = registry.digests["1.25-alpine"]
    ev = Events(m)
    try:
        registry.stop()
        # the failure is logged once, and the checks go on
        assert wait_for(lambda: "drift check of nginx:1.25-alpine" in m.log(), timeout=30), m.log()
        first = m.log().count("drift check of nginx:1.25-alpine")
        assert first == 1
        assert read(m.app("digest")) == d1 + "\n"
        assert read(m.app("drift")) == ""
        assert not registry_lines(ev)
    finally:
        ev.close()


def test_drift_off_by_default(mount):
    assert read(mount.app("drift")) == ""
    assert "drift:" not in mount.log()


def test_sigterm_stops_drift_at_once(make_mount, registry):
    m = mount_with_drift(make_mount, registry, period=0.2)
    deploy(m, "1.25-alpine")
    assert wait_for(lambda: read(m.app("digest")) != "")
    t = time.monotonic()
    assert m.kill(signal.SIGTERM, timeout=20) == 0
    assert time.monotonic() - t < 5
