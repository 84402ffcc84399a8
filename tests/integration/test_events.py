""".deployfs/events: a blocking broadcast of changes, one JSON line each."""
import errno
import json
import os
import re
import select
import signal
import subprocess
import time

from conftest import read

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def events(m):
    return m.path(".deployfs", "events")


def read_lines(fd, count, timeout=5.0):
    """count JSON objects from a blocking events fd (select first, so a
    missing line fails the test instead of hanging it)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < count:
        left = deadline - time.monotonic()
        assert left > 0, "only %r arrived" % buf
        r, _, _ = select.select([fd], [], [], left)
        if r:
            buf += os.read(fd, 65536)
    return [json.loads(line) for line in buf.decode().splitlines()]


def write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def test_a_write_through_the_mount(mount):
    assert os.stat(events(mount)).st_size == 0
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        write(mount.app("tag"), "1.26-alpine\n")
        lines = read_lines(fd, 4)
    finally:
        os.close(fd)
    for line in lines:
        assert TIME.match(line.pop("time"))
    # a write through the mount says who made it: the writer's user, uid
    # and command; on the local store it is the app's modifiedBy too
    who = {"origin": "mount", "user": "root", "uid": 0, "command": "python3"}
    assert lines == [
        dict({"path": "environments/prod/apps/web/tag", "old": "1.25-alpine",
              "new": "1.26-alpine"}, **who),
        dict({"path": "environments/prod/apps/web/ref", "old": "nginx:1.25-alpine",
              "new": "nginx:1.26-alpine"}, **who),
        dict({"path": "environments/prod/apps/web/version", "old": "2", "new": "3"}, **who),
        dict({"path": "environments/prod/apps/web/modified_by", "old": "user-456",
              "new": "root"}, **who),
    ]


def test_a_change_made_in_the_store(mount):
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        p = os.path.join(mount.state, "images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd.json")
        with open(p) as f:
            doc = json.load(f)
        doc["os_version"] = "12.9"
        del doc["com.acme.owner"]
        with open(p + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(p + ".tmp", p)
        lines = read_lines(fd, 2)
    finally:
        os.close(fd)
    got = {(l["path"], l["old"], l["new"], l["origin"]) for l in lines}
    d = "images/e7db3b45-8db7-47ad-8109-3fb55c2c24fd/"
    assert got == {(d + "os_version", "12", "12.9", "store"),
                   (d + "properties/com.acme.owner", "platform", None, "store")}
    assert read(mount.image("os_version")) == "12.9\n"


def test_nonblocking_read_with_nothing_ready_is_eagain(mount):
    fd = os.open(events(mount), os.O_RDONLY | os.O_NONBLOCK)
    try:
        try:
            os.read(fd, 100)
            assert False, "read returned"
        except OSError as e:
            assert e.errno == errno.EAGAIN
    finally:
        os.close(fd)


def test_poll_wakes_on_a_change(mount):
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        assert p.poll(200) == []
        write(mount.app("tag"), "1.27\n")
        assert p.poll(5000) == [(fd, select.POLLIN)]
        assert read_lines(fd, 3)[0]["new"] == "1.27"
    finally:
        os.close(fd)


def test_each_reader_gets_every_line_after_its_open(mount):
    write(mount.app("tag"), "before\n")
    a = os.open(events(mount), os.O_RDONLY)
    b = os.open(events(mount), os.O_RDONLY)
    try:
        write(mount.app("tag"), "after\n")
        la, lb = read_lines(a, 3), read_lines(b, 3)
        assert [l["new"] for l in la] == [l["new"] for l in lb] == ["after", "nginx:after", "4"]
        assert la[0]["old"] == "before"
    finally:
        os.close(a)
        os.close(b)


def test_a_reader_that_falls_behind_is_told_how_many_it_lost(mount):
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        writes = 400   # three lines each: tag, ref, version
        for i in range(writes):
            write(mount.app("tag"), "t%d\n" % i)
        lines = read_lines(fd, 1025)
        # and one more: the first write makes root the app's modified_by
        assert lines[0] == {"dropped": 3 * writes + 1 - 1024}
        assert len(lines) == 1025
        assert lines[1]["path"].endswith("/version")   # the oldest kept
        assert lines[-3]["new"] == "t%d" % (writes - 1)
    finally:
        os.close(fd)


def test_ctrl_c_ends_a_blocked_read_at_once(mount):
    p = subprocess.Popen(["cat", events(mount)], stdout=subprocess.PIPE)
    time.sleep(0.3)
    assert p.poll() is None   # blocked
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(5)
    assert time.monotonic() - t0 < 1.0


def test_blocked_readers_hold_no_worker_thread(mount):
    # more blocked readers than libfuse keeps threads: the mount still answers
    readers = [subprocess.Popen(["head", "-n", "1", events(mount)], stdout=subprocess.PIPE)
               for _ in range(24)]
    try:
        time.sleep(0.5)
        assert read(mount.app("tag")) == "1.25-alpine\n"
        write(mount.app("tag"), "1.28\n")
        for r in readers:
            out, _ = r.communicate(timeout=10)
            assert json.loads(out)["new"] == "1.28"
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()


def test_secrets_never_reach_the_stream(mount):
    fd = os.open(events(mount), os.O_RDONLY | os.O_NONBLOCK)
    try:
        reg = mount.path("registries", "acme")
        write(os.path.join(reg, "password"), "s3cret-value\n")
        write(os.path.join(reg, "url"), "registry2.acme.example\n")
        time.sleep(0.2)
        data = os.read(fd, 65536).decode()
    finally:
        os.close(fd)
    assert "s3cret-value" not in data
    assert '"path":"registries/acme/url"' in data


def test_created_and_removed_objects(mount):
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        os.mkdir(mount.path("registries", "new-one"))
        rid = read(mount.path("registries", "new-one", "id")).strip()
        os.rmdir(mount.path("registries", "new-one"))
        lines = read_lines(fd, 2)
    finally:
        os.close(fd)
    assert [(l["path"], l["old"], l["new"]) for l in lines] == [
        ("registries/new-one", None, rid), ("registries/" + rid, rid, None)]
