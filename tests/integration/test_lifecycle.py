"""Starting and stopping (README, "Mount options" and "Limits and memory")."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, DEMO_STORE, WEB, Mount, check_sanitizers, read, write_fd


def mounted(path):
    return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_and_exits_0(tmp_path, sig):
    m = Mount(tmp_path).start()
    try:
        assert mounted(m.mnt)
        assert read(m.app("tag")) == "1.25-alpine\n"
        assert m.kill(sig) == 0
        assert not mounted(m.mnt)
        assert os.listdir(m.mnt) == []
    finally:
        m.stop()
    check_sanitizers([m])
    log = m.log().splitlines()
    assert log == ["deployfs: mounted %s on %s (registry_check=off)" % (m.state, m.mnt),
                   "deployfs: %s: unmounting (network waits cancelled, writes in flight finish)"
                   % signal.strsignal(sig)]


def test_sigterm_with_writes_in_flight(tmp_path):
    m = Mount(tmp_path).start()
    ok = []
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = write_fd(m.app("tag"), b"w%d\n" % i)
            except OSError:
                return
            if r != [len(b"w%d\n" % i), 0]:
                return
            ok.append(i)

    t = threading.Thread(target=loop)
    t.start()
    try:
        time.sleep(0.3)
        assert m.kill(signal.SIGTERM) == 0
        stop.set()
        t.join(10)
        assert not t.is_alive()
    finally:
        stop.set()
        m.stop()
    check_sanitizers([m])
    doc = m.doc("apps", WEB)
    assert len(ok) > 10
    # every write that was answered is in the store, each exactly once
    assert doc["version"] in (2 + len(ok), 3 + len(ok))
    if doc["version"] == 2 + len(ok):
        assert doc["source"]["image"]["tag"] == "w%d" % ok[-1]


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_version():
    for flag in ("--version", "-V"):
        r = run(flag)
        assert r.returncode == 0
        lines = r.stdout.splitlines()
        assert re.fullmatch(r"deployfs \d+\.\d+\.\d+", lines[0])
        assert re.fullmatch(r"FUSE library version 3\.\d+\.\d+", lines[1])
        assert r.stderr == ""


def test_help(tmp_path):
    r = run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: %s [options] MOUNTPOINT\n" % BIN)
    for opt in ("state=DIR", "registry_check=MODE", "timeout=SECONDS", "--version"):
        assert opt in r.stdout
    r = run("-h", str(tmp_path))
    assert r.returncode == 0 and "usage:" in r.stdout
    assert not mounted(str(tmp_path))


@pytest.mark.parametrize("state,says", [
    ("/proc/nope/store", "deployfs: store /proc/nope/store does not exist; create it "
     "(mkdir -m 0700 /proc/nope/store) or leave state= out for the default store\n"),
    ("{file}", "deployfs: store {file}: Not a directory\n"),
    ("{file}/sub", "deployfs: store {file}/sub: Not a directory\n"),
])
def test_store_that_cannot_be_made(tmp_path, state, says):
    f = tmp_path / "afile"
    f.write_text("x")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    state = state.format(file=f)
    r = run("-f", "-o", "state=%s" % state, str(mnt))
    assert r.returncode == 1
    assert r.stderr == says.format(file=f)
    assert not mounted(str(mnt))


def test_bad_options(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run("-f", "-o", "state=%s,registry_check=maybe" % (tmp_path / "s"), str(mnt))
    assert r.returncode == 1
    assert r.stderr == "deployfs: registry_check=maybe: use strict, warn or off\n"
    r = run("-f", "-o", "state=%s" % (tmp_path / "s"))
    assert r.returncode == 2
    assert r.stderr.startswith("usage: ")
    assert not mounted(str(mnt))


def test_unreadable_documents_are_skipped(tmp_path):
    store = tmp_path / "store"
    shutil.copytree(DEMO_STORE, store)
    (store / "apps" / (WEB + ".json")).write_text("{not json")
    (store / "apps" / "notes.txt").write_text("hello")
    m = Mount(tmp_path / "m", store=str(store)).start()
    try:
        assert sorted(os.listdir(m.path("environments", "prod", "apps"))) == ["api", "worker"]
        assert ("apps/%s.json: not a JSON object" % WEB) in m.log()
    finally:
        assert m.stop() == 0
    check_sanitizers([m])
