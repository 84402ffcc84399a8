"""The automation in examples/watch/ runs end to end against a mount
(README, Examples): a promoter on inotifywait, a webhook follower of
.deployfs/events, a drift alarm."""
import http.server
import json
import os
import subprocess
import threading

import pytest

from conftest import TOP, WEB, read, sh
from test_watch_drift import registry, retag  # noqa: F401  (a fixture)
from test_store import edit, set_tag
from watch_helpers import wait_for

EXAMPLES = os.path.join(TOP, "examples", "watch")
STAGING_WEB = "550e8400-e29b-41d4-a716-446655440300"


class Script:
    """An example running in the background; .out() and .err() so far."""

    def __init__(self, tmp, name, *args, ready=None):
        self.outpath, self.errpath = tmp / (name + ".out"), tmp / (name + ".err")
        self.proc = subprocess.Popen([os.path.join(EXAMPLES, name), *args],
                                     stdout=open(self.outpath, "w"),
                                     stderr=open(self.errpath, "w"),
                                     start_new_session=True)
        if ready:
            assert wait_for(lambda: ready in self.err() or self.proc.poll() is not None), \
                self.err()
            assert self.proc.poll() is None, self.err()

    def out(self):
        return self.outpath.read_text()

    def err(self):
        return self.errpath.read_text()

    def stop(self):
        # the script and its inotifywait, curl, cat
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def test_promote_on_change(tmp_path, mount, make_mount):
    other = make_mount(state=mount.state, sub="other")
    p = Script(tmp_path, "promote-on-change.sh", mount.mnt, ready="Watches established")
    try:
        # a change made elsewhere: a hand edit of staging in the store
        edit(mount, "apps", STAGING_WEB, set_tag("1.27-alpine"))
        assert wait_for(lambda: mount.doc("apps", WEB)["source"]["image"]["tag"] ==
                        "1.27-alpine"), p.out() + p.err()
        assert "promoted web:1.27-alpine from staging to prod" in p.out()
        # another daemon's write to staging
        assert sh("echo 1.28 > tag", cwd=other.app(env="staging")).returncode == 0
        assert wait_for(lambda: read(mount.app("tag")) == "1.28\n"), p.out() + p.err()
        # a new ref in staging is a new tag too
        assert sh("echo nginx:latest > ref", cwd=other.app(env="staging")).returncode == 0
        assert wait_for(lambda: "promoted web:latest" in p.out()), p.out() + p.err()
    finally:
        p.stop()
    assert read(mount.app("ref")) == "nginx:latest\n"


class Hook(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        Hook.bodies.append((self.headers.get("Content-Type"), self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def webhook():
    Hook.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/hook" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def posted():
    return [(ct, json.loads(b)) for ct, b in Hook.bodies]


def test_events_webhook(tmp_path, mount, webhook):
    p = Script(tmp_path, "events-webhook.sh", mount.mnt, webhook, ready="following")
    try:
        assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
        edit(mount, "apps", WEB, set_tag("1.27"))

        def got(origin, new):
            return any(b.get("path") == "environments/prod/apps/web/tag" and
                       b.get("origin") == origin and b.get("new") == new
                       for _, b in posted())
        assert wait_for(lambda: got("mount", "1.26") and got("store", "1.27")), \
            (posted(), p.err())
    finally:
        p.stop()
    assert all(ct == "application/json" for ct, _ in posted())
    first = [b for _, b in posted() if b["path"].endswith("/tag")][0]
    assert (first["old"], first["new"]) == ("1.25-alpine", "1.26")


def test_drift_alarm(tmp_path, make_mount, registry):  # noqa: F811
    m = make_mount("registry_check=strict,registry_mirror=docker.io=%s,drift=1" % registry.url)
    assert sh("echo 1.25-alpine > tag", cwd=m.app()).returncode == 0
    d1 = registry.digests["1.25-alpine"]
    log = tmp_path / "alarms"
    p = Script(tmp_path, "drift-alarm.sh", m.mnt, "sh", "-c",
               'printf "%s|%s\\n" "$1" "$2" >> "$0"', str(log), ready="Watches established")
    try:
        d2 = retag(registry, "1.28", "1.25-alpine")
        want = "DRIFT environments/prod/apps/web: since "
        assert wait_for(lambda: want in p.out(), timeout=30), p.out() + p.err()
        line = [l for l in p.out().splitlines() if l.startswith(want)][0]
        assert line.endswith(" from %s to %s" % (d1, d2))
        assert wait_for(lambda: log.exists() and
                        log.read_text().startswith(m.app() + "|since "))
    finally:
        p.stop()
