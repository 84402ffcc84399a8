"""The local store against what people and crashes leave in it (README, The
local store): files that are not regular files, documents of the wrong
shape or size, temp files of killed writes and lock files of deleted
objects.
"""
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import time

import pytest

from conftest import (DEBIAN, DEMO_STORE, PROD, WEB, WORKER, check_sanitizers, Mount, read, sh,
                      wait_until, write_fd)

NEW = "550e8400-e29b-41d4-a716-4466554409ff"


def demo_doc(kind, oid):
    with open(os.path.join(DEMO_STORE, kind, oid + ".json")) as f:
        return json.load(f)


def put(state, kind, oid, doc):
    """Write a document as another tool would: a temp file renamed over it
    (one inotify event)."""
    text = doc if isinstance(doc, (bytes, str)) else json.dumps(doc, indent=2)
    tmp = os.path.join(state, kind, ".put.tmp")
    with open(tmp, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.rename(tmp, os.path.join(state, kind, oid + ".json"))


def store_copy(tmp_path):
    """A store the mount uses in place (state=): copytree cannot copy a FIFO."""
    d = tmp_path / "store"
    shutil.copytree(DEMO_STORE, d)
    return d


def apps_of(m, env="prod"):
    return sorted(os.listdir(m.path("environments", env, "apps")))


def lines_with(m, text):
    return [l for l in m.log().splitlines() if text in l]


# -- files that are not regular files --------------------------------------

def make_special(path, what):
    if what == "FIFO":
        os.mkfifo(path)
    elif what == "symbolic link":
        os.symlink(os.path.join(DEMO_STORE, "apps", WEB + ".json"), path)
    elif what == "directory":
        os.mkdir(path)
    elif what == "socket":
        s = socket.socket(socket.AF_UNIX)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))     # a sun_path holds 108 bytes
        try:
            s.bind(os.path.basename(path))
        finally:
            os.chdir(cwd)
        return s
    elif what == "character device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))   # /dev/null
    return None


SPECIAL = ["FIFO", "symbolic link", "directory", "socket", "character device"]


@pytest.mark.parametrize("what", SPECIAL)
def test_special_file_at_mount_is_skipped(make_mount, tmp_path, what):
    d = store_copy(tmp_path)
    sock = make_special(str(d / "apps" / (NEW + ".json")), what)
    t0 = time.monotonic()
    m = make_mount(state=str(d))
    assert time.monotonic() - t0 < 5
    assert apps_of(m) == ["api", "web", "worker"]
    want = "deployfs: store apps/%s.json: a %s, not a regular file; skipped" % (NEW, what)
    assert lines_with(m, NEW) == [want]
    assert read(m.app("tag")) == "1.25-alpine\n"
    if sock:
        sock.close()


def test_fifo_while_mounted(mount):
    state = mount.state
    fifo = os.path.join(state, "apps", NEW + ".json")
    os.mkfifo(fifo)
    want = "deployfs: store apps/%s.json: a FIFO, not a regular file; skipped" % NEW
    assert wait_until(lambda: lines_with(mount, NEW) == [want]), mount.log()
    # one moved in over an app's document (a rename: the watcher looks at it)
    moved = os.path.join(state, "moved.fifo")
    os.mkfifo(moved)
    os.rename(moved, os.path.join(state, "apps", WORKER + ".json"))
    want2 = ("deployfs: store apps/%s.json: a FIFO, not a regular file; keeping the last good "
             "version" % WORKER)
    assert wait_until(lambda: lines_with(mount, WORKER + ".json") == [want2]), mount.log()
    # later edits of another app still appear
    doc = demo_doc("apps", WEB)
    doc["source"]["image"]["tag"] = "1.27"
    put(state, "apps", WEB, doc)
    assert wait_until(lambda: read(mount.app("tag")) == "1.27\n")
    assert read(mount.app("tag", app="worker")) == "2024.11\n"   # the last good version
    # each file was logged once, not in a loop
    assert lines_with(mount, NEW) == [want]
    assert lines_with(mount, WORKER + ".json") == [want2]
    # and SIGTERM still stops the daemon
    assert mount.kill(signal.SIGTERM) == 0


# -- documents of the wrong shape ------------------------------------------

def tag_set(v):
    def fn(doc):
        doc["source"]["image"]["tag"] = v
    return fn


def field_set(k, v):
    def fn(doc):
        doc[k] = v
    return fn


BAD_APPS = [
    (tag_set({"a": 1}), "source.image.tag is an object, not a string"),
    (field_set("name", ["x"]), "name is an array, not a string"),
    (field_set("source", 5), "source is an integer, not an object"),
    (field_set("version", "abc"), "version is a string, not an integer"),
    (tag_set("1.26\nrm -rf"),
     'source.image.tag: tag "1.26\\x0arm -rf": tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'),
    (tag_set("x" * 5000), "source.image.tag is 5000 bytes long; a value holds at most 4096"),
    (field_set("port", 70000), "port is 70000, not a whole number from 0 to 65535"),
]


@pytest.mark.parametrize("fn,reason", BAD_APPS, ids=[r[:30] for _, r in BAD_APPS])
def test_bad_shape_keeps_the_last_good_version(mount, fn, reason):
    before = json.loads(read(mount.app("app.json")))
    doc = demo_doc("apps", WEB)
    fn(doc)
    put(mount.state, "apps", WEB, doc)
    want = "deployfs: store apps/%s.json: %s; keeping the last good version" % (WEB, reason)
    assert wait_until(lambda: want in mount.log().splitlines()), mount.log()
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("name")) == "web\n"
    assert json.loads(read(mount.app("app.json"))) == before
    # a write cannot apply to the bad document: EIO, error says why
    assert write_fd(mount.app("tag"), b"1.26\n") == ["EIO", 0]
    assert read(mount.app("error")) == "store apps/%s.json: %s\n" % (WEB, reason)
    with open(os.path.join(mount.state, "apps", WEB + ".json")) as f:
        assert json.load(f) == doc            # the store is left as it was
    # the person fixes the document: it appears
    put(mount.state, "apps", WEB, dict(demo_doc("apps", WEB), version=7))
    assert wait_until(lambda: read(mount.app("version")) == "7\n")
    assert read(mount.app("error")) == ""


def test_bad_image_and_registry_shapes(mount):
    img = demo_doc("images", DEBIAN)
    img["tags"] = ["ok", "two\nlines"]
    put(mount.state, "images", DEBIAN, img)
    want = ('deployfs: store images/%s.json: tags[1] "two\\x0alines": control characters are '
            'not allowed (tab is); keeping the last good version' % DEBIAN)
    assert wait_until(lambda: want in mount.log().splitlines()), mount.log()
    assert read(mount.image("tags")) == "base\n"
    # a registry's password is never quoted
    reg = "880e8400-e29b-41d4-a716-446655440003"
    doc = demo_doc("registries", reg)
    doc["password"] = "hunter2\nsecret"
    put(mount.state, "registries", reg, doc)
    want = ("deployfs: store registries/%s.json: password: control characters are not "
            "allowed; keeping the last good version" % reg)
    assert wait_until(lambda: want in mount.log().splitlines()), mount.log()
    assert "hunter2" not in mount.log()


def test_bad_shape_at_mount_hides_the_object(make_mount, tmp_path):
    d = store_copy(tmp_path)
    doc = demo_doc("apps", WEB)
    doc["source"]["image"]["tag"] = {"a": 1}
    (d / "apps" / (WEB + ".json")).write_text(json.dumps(doc))
    img = demo_doc("images", DEBIAN)
    img["min_ram"] = "512"
    (d / "images" / (DEBIAN + ".json")).write_text(json.dumps(img))
    m = make_mount(state=str(d))
    assert apps_of(m) == ["api", "worker"]
    assert DEBIAN not in os.listdir(m.path("images"))
    log = m.log().splitlines()
    assert ("deployfs: store apps/%s.json: source.image.tag is an object, not a string; "
            "skipped" % WEB) in log
    assert ("deployfs: store images/%s.json: min_ram is a string, not an integer; skipped"
            % DEBIAN) in log


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_oversized_documents_keep_memory_bounded(make_mount):
    """Twenty 5 MB tags and twenty just under the document cap: each is
    refused with a log line naming it, and the daemon's memory stays put.
    Under AddressSanitizer (make SAN=1) freed memory waits in a quarantine
    of 256 MB: a small one measures the daemon, not the sanitizer."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    mount = make_mount(env=dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") +
                                "quarantine_size_mb=4"))
    base_rss = vmrss_kb(mount.proc.pid)
    doc = demo_doc("apps", WEB)
    ids = []
    for i in range(40):
        oid = "a1000000-0000-4000-8000-%012d" % i
        big = 5 << 20 if i < 20 else 1000 * 1000
        d = dict(doc, id=oid, name="big%d" % i)
        d["source"] = {"image": {"name": "nginx", "tag": "x" * big}}
        put(mount.state, "apps", oid, d)
        ids.append((oid, big))

    def reasons():
        got = {}
        for line in mount.log().splitlines():
            for oid, _ in ids:
                if ("store apps/%s.json: " % oid) in line:
                    got[oid] = line
        return got
    assert wait_until(lambda: len(reasons()) == len(ids), timeout=30), mount.log()[-2000:]
    got = reasons()
    for oid, big in ids:
        if big > 1 << 20:
            assert got[oid].endswith(": %d bytes; a document holds at most 1048576 (1 MiB); "
                                     "keeping the last good version" % (len(json.dumps(dict(
                                         doc, id=oid, name="big%d" % ids.index((oid, big)),
                                         source={"image": {"name": "nginx", "tag": "x" * big}}),
                                         indent=2)))), got[oid]
        else:
            assert got[oid].endswith("source.image.tag is %d bytes long; a value holds at most "
                                     "4096; keeping the last good version" % big), got[oid]
    assert apps_of(mount) == ["api", "web", "worker"]
    rss = vmrss_kb(mount.proc.pid)
    assert rss < base_rss + 64 * 1024, (base_rss, rss)
    assert read(mount.app("tag")) == "1.25-alpine\n"


# -- temp files and lock files ---------------------------------------------

def test_stale_temp_files_are_removed_at_mount(make_mount, tmp_path):
    d = store_copy(tmp_path)
    (d / ".lock").mkdir()
    stale = d / "apps" / (".%s.0123abcd.tmp" % WEB)
    stale.write_text('{"half": ')
    gone = d / "images" / (".%s.deadbeef.tmp" % NEW)    # of an object never created
    gone.write_text("{}")
    held = d / "apps" / (".%s.89abcdef.tmp" % WORKER)
    held.write_text("{}")
    other = d / "apps" / ".notes.tmp"                      # not one of ours
    other.write_text("x")
    # another daemon writing WORKER holds its lock
    fd = os.open(str(d / ".lock" / ("apps-" + WORKER)), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        m = make_mount(state=str(d))
        assert not stale.exists() and not gone.exists()
        assert held.exists() and other.exists()
        assert sorted(os.listdir(m.state + "/.lock")) == ["apps-" + WEB, "apps-" + WORKER]
        assert read(m.app("tag")) == "1.25-alpine\n"
        log = m.log().splitlines()
        assert ("deployfs: store apps/.%s.0123abcd.tmp: removed the temp file of an "
                "interrupted write" % WEB) in log
        assert ("deployfs: store images/.%s.deadbeef.tmp: removed the temp file of an "
                "interrupted write" % NEW) in log
        assert not any(WORKER in l for l in log)
    finally:
        os.close(fd)


def test_lock_files_of_missing_objects_are_removed_at_mount(make_mount, tmp_path):
    d = store_copy(tmp_path)
    locks = d / ".lock"
    locks.mkdir()
    for name in ("apps-" + NEW, "images-" + NEW, "registries-" + NEW, "apps-" + WEB,
                 "images-" + DEBIAN, "environments-" + PROD, "unrelated"):
        (locks / name).write_text("")
    held = os.open(str(locks / ("environments-" + NEW)), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        m = make_mount(state=str(d))
        assert sorted(os.listdir(os.path.join(m.state, ".lock"))) == sorted([
            "apps-" + WEB, "images-" + DEBIAN, "environments-" + PROD, "unrelated",
            "environments-" + NEW])
        log = m.log().splitlines()
        for name in ("apps-" + NEW, "images-" + NEW, "registries-" + NEW):
            assert ("deployfs: store .lock/%s: removed the lock file of an object with no "
                    "document" % name) in log
    finally:
        os.close(held)


def test_rmdir_leaves_no_lock_file(mount):
    regs = mount.path("registries")
    os.mkdir(os.path.join(regs, "gone"))
    rid = read(os.path.join(regs, "gone", "id")).strip()
    assert sh("echo registry.gone.example > url", cwd=os.path.join(regs, "gone")).returncode == 0
    lock = os.path.join(mount.state, ".lock", "registries-" + rid)
    assert os.path.exists(lock)
    os.rmdir(os.path.join(regs, "gone"))
    assert not os.path.exists(os.path.join(mount.state, "registries", rid + ".json"))
    assert not os.path.exists(lock)
    assert [n for n in os.listdir(os.path.join(mount.state, ".lock")) if rid in n] == []
