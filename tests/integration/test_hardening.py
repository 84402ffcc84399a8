"""Regressions for the outside audit (issue 17): what a user noticed, each
point pinned by the behaviour the daemon must keep once fixed.
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import (DEMO_STORE, REGISTRY, WEB, Mount, check_sanitizers, read, sh, umount, wait_until,
                      write_fd)
from test_registry_check import FakeRegistry

STAGING_WEB = "550e8400-e29b-41d4-a716-446655440300"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def events(m):
    return m.path(".deployfs", "events")


def has_open(pid, path):
    """Whether process pid holds path open (its open(2) has returned)."""
    d = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(d)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(os.path.join(d, fd)) == path:
                return True
        except OSError:
            pass
    return False


def mounted_layers(path):
    """How many mounts sit on path (a dead one included)."""
    with open("/proc/self/mounts") as f:
        return sum(1 for line in f if line.split()[1] == path)


def tally(path):
    """The complete lines a reader wrote to path: (lines, lines lost per
    {"dropped":N} notes)."""
    with open(path, "rb") as f:
        text = f.read()
    lines = [json.loads(l) for l in text.split(b"\n")[:-1]]
    dropped = sum(l["dropped"] for l in lines if "dropped" in l)
    return [l for l in lines if "dropped" not in l], dropped


def received(path):
    """How many lines reached the reader writing to path, the lost ones counted."""
    lines, dropped = tally(path)
    return len(lines) + dropped


def numbers(lines, path, prefix):
    return [int(l["new"][len(prefix):]) for l in lines if l["path"] == path]


# 1. The events stream with several blocked readers --------------------------

def test_events_four_blocked_readers_survive_300_writes_and_interrupts(mount, tmp_path):
    """Audit 1: the daemon crashed when several readers blocked on
    .deployfs/events while tags were written; readers interrupted and
    closing while writes go on must not hurt it either."""
    ev = events(mount)
    tagpath = "environments/prod/apps/web/tag"
    readers = []

    def start_reader(i):
        out = open(tmp_path / ("reader%d" % i), "wb")
        err = open(tmp_path / ("reader%d.err" % i), "wb")
        p = subprocess.Popen(["cat", ev], stdout=out, stderr=err)
        out.close()
        err.close()
        readers.append(p)
        assert wait_until(lambda: has_open(p.pid, ev) or p.poll() is not None, 10)
        assert p.poll() is None, (tmp_path / ("reader%d.err" % i)).read_text()
        return p

    try:
        first = [start_reader(i) for i in range(4)]
        for i in range(1, 301):
            r = write_fd(mount.app("tag"), b"v%d\n" % i)
            assert r == [len(b"v%d\n" % i), 0], (i, r, mount.proc.poll())

        assert wait_until(lambda: all(received(tmp_path / ("reader%d" % i)) >= 900
                                      for i in range(4)), 20), \
            [received(tmp_path / ("reader%d" % i)) for i in range(4)]
        assert mount.proc.poll() is None
        for i in range(4):
            lines, dropped = tally(tmp_path / ("reader%d" % i))
            # a change not made by these writes (a stale store read) shows here
            odd = [l for l in lines if l["origin"] != "mount"]
            # 3 lines a write, and modified_by once (root wrote it)
            assert (len(lines) + dropped, odd) == (901, []), (i, odd)
            got = numbers(lines, tagpath, "v")
            if dropped == 0:
                assert got == list(range(1, 301))
            else:
                assert got == sorted(set(got)) and got[-1] == 300

        # readers killed (Ctrl-C, kill -9) and closing while writes go on
        stop = threading.Event()
        acked, failed = [], []

        def writer():
            i = 300
            while not stop.is_set():
                i += 1
                r = write_fd(mount.app("tag"), b"v%d\n" % i)
                (acked if r == [len(b"v%d\n" % i), 0] else failed).append((i, r))

        t = threading.Thread(target=writer)
        t.start()
        try:
            for k, p in enumerate(first[:2]):
                p.send_signal((signal.SIGINT, signal.SIGKILL)[k])
                p.wait(5)
            for k in range(12):
                p = start_reader(4 + k)
                p.send_signal((signal.SIGINT, signal.SIGKILL)[k % 2])
                p.wait(5)
                fd = os.open(ev, os.O_RDONLY | (os.O_NONBLOCK if k % 2 else 0))
                os.close(fd)
        finally:
            stop.set()
            t.join(30)
        assert not t.is_alive()
        assert failed == []
        assert len(acked) > 0
        assert mount.proc.poll() is None
        last = acked[-1][0]
        # the two readers left blocked got everything up to the last write
        for i in (2, 3):
            assert wait_until(lambda: received(tmp_path / ("reader%d" % i)) >= 3 * last + 1, 10)
            lines, dropped = tally(tmp_path / ("reader%d" % i))
            odd = [l for l in lines if l["origin"] != "mount"]
            assert (len(lines) + dropped, odd) == (3 * last + 1, []), (i, odd)
            assert numbers(lines, tagpath, "v")[-1] == last
        assert read(mount.app("tag")) == "v%d\n" % last
    finally:
        for p in readers:
            if p.poll() is None:
                p.kill()
            p.wait(10)


# 5. A mount point left by a kill -9'd daemon ---------------------------------

def test_mount_over_a_dead_mount_works_or_says_how_to_clear_it(make_mount, tmp_path):
    """Audit 5: on a mount point whose daemon was killed (ENOTCONN), a new
    deployfs either mounts and serves, or fails with one line on stderr
    that says how to clear it (fusermount3 -u)."""
    m = make_mount()
    mnt = m.mnt
    assert m.kill(signal.SIGKILL) == -signal.SIGKILL
    with pytest.raises(OSError) as e:
        os.listdir(mnt)
    assert e.value.errno == errno.ENOTCONN
    before = m.store_snapshot()
    errpath = tmp_path / "second.err"
    proc = None
    try:
        with open(errpath, "wb") as err:
            proc = subprocess.Popen(m.cmd, stdout=subprocess.DEVNULL, stderr=err,
                                    stdin=subprocess.DEVNULL)
        parent = os.stat(os.path.dirname(mnt)).st_dev

        def settled():
            if proc.poll() is not None:
                return "failed"
            try:   # the dead mount's root attributes stay cached: a new st_dev
                if os.stat(mnt).st_dev not in (parent, m.dev):
                    return "mounted"
            except OSError:
                pass
            return None
        outcome = wait_until(settled, 10)
        assert outcome, "neither mounted nor exited within 10 s"
        print("outcome:", outcome)
        if outcome == "mounted":
            assert read(m.app("tag")) == "1.25-alpine\n"
            assert write_fd(m.app("tag"), b"1.26\n") == [5, 0]
            assert m.doc("apps", WEB)["source"]["image"]["tag"] == "1.26"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(5) == 0
        else:
            text = errpath.read_text()
            assert proc.returncode == 1, text
            assert text.endswith("\n") and text.count("\n") == 1, text
            assert "fusermount3 -u" in text, text
            with pytest.raises(OSError) as e:
                os.listdir(mnt)
            assert e.value.errno == errno.ENOTCONN
            assert m.store_snapshot() == before
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for _ in range(3):
            if not mounted_layers(mnt):
                break
            umount(mnt)
        assert mounted_layers(mnt) == 0


# 6. SIGTERM while a registry check hangs -------------------------------------

def test_sigterm_during_a_hung_registry_check_exits_within_2s(make_mount, tmp_path):
    """Audit 6: SIGTERM ends the daemon in about a second even while a write
    waits on a registry that never answers; other requests are served."""
    requests = []
    held = []

    def hold(conn):   # read the request, never answer
        held.append(conn)
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        requests.append(data)

    cfg = tmp_path / "docker-config"
    cfg.mkdir()
    with FakeRegistry(hold) as fake:
        m = make_mount("registry_check=strict,timeout=30,"
                       "registry_mirror=docker.io=http://127.0.0.1:%d" % fake.port,
                       env=dict(os.environ, DOCKER_CONFIG=str(cfg)))
        before = m.store_snapshot()
        res = {}

        def write():
            try:
                fd = os.open(m.app("tag"), os.O_WRONLY | os.O_TRUNC)
            except OSError as e:
                res["open"] = e.errno
                return
            try:
                os.write(fd, b"1.2\n")
                res["write"] = 0
            except OSError as e:
                res["write"] = e.errno
            try:
                os.close(fd)
            except OSError:
                pass

        t = threading.Thread(target=write)
        t.start()
        try:
            assert wait_until(lambda: any(b"/manifests/1.2 " in r for r in requests), 10), \
                requests
            assert t.is_alive()
            other = subprocess.run(["cat", m.app("tag", app="api")], capture_output=True,
                                   text=True, timeout=5)
            assert other.stdout == "v2.0.0\n"
            t0 = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
            try:
                rc = m.proc.wait(3)
            except subprocess.TimeoutExpired:
                rc = "still running after 3 s"
                m.abort()
                m.proc.kill()
                m.proc.wait(10)
            elapsed = time.monotonic() - t0
        finally:
            t.join(35)
            for c in held:
                c.close()
    assert not t.is_alive()
    assert (rc, elapsed < 2) == (0, True), (rc, elapsed)
    assert "open" not in res and res["write"] != 0, res
    print("the interrupted write got", errno.errorcode[res["write"]])
    assert m.store_snapshot() == before


# 7. allow_other --------------------------------------------------------------

NOBODY_SCRIPT = r"""
import errno, json, os, sys
mnt = sys.argv[1]
def p(*a): return os.path.join(mnt, *a)
def attempt(fn):
    try:
        r = fn()
        return ["ok", r]
    except OSError as e:
        return errno.errorcode[e.errno]
def write(path):
    def go():
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"x1\n")
        finally:
            os.close(fd)
    return go
def rd(path):
    def go():
        with open(path) as f:
            return f.read()
    return go
app = p("environments", "prod", "apps", "web")
reg = p("registries", "acme")
print(json.dumps({
    "ls": attempt(lambda: sorted(os.listdir(mnt))),
    "write tag": attempt(write(os.path.join(app, "tag"))),
    "write url": attempt(write(os.path.join(reg, "url"))),
    "write username": attempt(write(os.path.join(reg, "username"))),
    "write password": attempt(write(os.path.join(reg, "password"))),
    "mkdir": attempt(lambda: os.mkdir(p("registries", "x"))),
    "rmdir": attempt(lambda: os.rmdir(reg)),
    "read tag": attempt(rd(os.path.join(app, "tag"))),
    "read password": attempt(rd(os.path.join(reg, "password"))),
}))
"""


def as_nobody(mnt):
    r = subprocess.run(NOBODY + ["/usr/bin/python3", "-c", NOBODY_SCRIPT, mnt],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_allow_other_lets_other_users_read_but_not_write(public_dir):
    """Audit 7: with allow_other a non-root user reads values but gets
    EACCES on every write, on mkdir/rmdir of registries and on reading
    password; the store is unchanged."""
    m = Mount(public_dir, options="registry_check=off,allow_other").start()
    try:
        before = m.store_snapshot()
        got = as_nobody(m.mnt)
        assert got == {
            "ls": ["ok", ["environments", "images", "registries"]],
            "write tag": "EACCES",
            "write url": "EACCES",
            "write username": "EACCES",
            "write password": "EACCES",
            "mkdir": "EACCES",
            "rmdir": "EACCES",
            "read tag": ["ok", "1.25-alpine\n"],
            "read password": "EACCES",
        }
        assert m.store_snapshot() == before
        assert m.store_files("registries") == [REGISTRY + ".json"]
    finally:
        assert m.stop() == 0
    check_sanitizers([m])


def test_without_allow_other_other_users_cannot_enter(public_dir):
    """Audit 7: without allow_other a non-root user gets EACCES on the
    mount point itself."""
    m = Mount(public_dir).start()
    try:
        before = m.store_snapshot()
        r = subprocess.run(NOBODY + ["/usr/bin/python3", "-c",
                                     "import os, sys\n"
                                     "for fn in (os.stat, os.listdir):\n"
                                     "    try:\n"
                                     "        fn(sys.argv[1]); print('ok')\n"
                                     "    except OSError as e:\n"
                                     "        print(e.errno)\n", m.mnt],
                           capture_output=True, text=True, timeout=30)
        assert r.stdout.split() == [str(errno.EACCES)] * 2, (r.stdout, r.stderr)
        assert m.store_snapshot() == before
    finally:
        assert m.stop() == 0
    check_sanitizers([m])


# 8. mkfifo, mknod, mv across objects ----------------------------------------

@pytest.mark.parametrize("where", ["app", "properties"])
def test_mkfifo_and_mknod_are_eperm(mount, where):
    """Audit 8: mkfifo and mknod in the mount are EPERM (not ENOSYS) and
    create nothing."""
    d = mount.app() if where == "app" else mount.image("properties")
    names = sorted(os.listdir(d))
    before = mount.store_snapshot()
    for fn, args in [(os.mkfifo, ("fifo",)),
                     (os.mknod, ("null", 0o600 | 0o020000, os.makedev(1, 3))),
                     (os.mknod, ("blk", 0o600 | 0o060000, os.makedev(7, 0)))]:
        with pytest.raises(OSError) as e:
            fn(os.path.join(d, args[0]), *args[1:])
        assert e.value.errno == errno.EPERM, (fn.__name__, args[0], e.value)
    r = sh("mkfifo f2", cwd=d)
    assert (r.returncode, r.stderr) == (1, "mkfifo: cannot create fifo 'f2': "
                                           "Operation not permitted\n")
    assert sorted(os.listdir(d)) == names
    assert mount.store_snapshot() == before


def test_mv_of_a_tag_onto_another_apps_tag_writes_its_value(mount):
    """Audit 8: mv env/apps/web/tag onto another environment's app's tag
    gives the destination web's value; the source keeps its own."""
    src = mount.app("tag")
    dst = mount.app("tag", env="staging", app="web")
    assert read(src) == "1.25-alpine\n" and read(dst) == "1.26-alpine\n"
    before = mount.store_snapshot()
    r = subprocess.run(["mv", src, dst], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, "")
    assert read(dst) == "1.25-alpine\n"
    assert read(src) == "1.25-alpine\n"
    after = mount.store_snapshot()
    staging = "apps/%s.json" % STAGING_WEB
    want = json.loads(json.dumps(before[staging]))
    want["source"]["image"]["tag"] = "1.25-alpine"
    want["version"] += 1
    want["modifiedBy"] = "root"
    assert after[staging] == want
    assert {k: v for k, v in after.items() if k != staging} == \
        {k: v for k, v in before.items() if k != staging}


# 9. mkdir of registries stays linear -----------------------------------------

@pytest.fixture
def tmpfs_mount(tmp_path):
    """deployfs on a copy of the demo store on a tmpfs of its own: the cost
    of creating files on a disk filesystem (ext4 scans for a free inode
    longer as the directory fills) is not the daemon's."""
    store = tmp_path / "tmpfs"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(store)],
                   check=True)
    m = Mount(tmp_path, state=str(store / "state"))
    try:
        shutil.copytree(DEMO_STORE, m.state)
        m.start()
        yield m
    finally:
        m.stop()
        subprocess.run(["umount", "-l", str(store)])
    check_sanitizers([m])


def test_mkdir_of_400_registries_does_not_slow_down(tmpfs_mount):
    """Audit 9: mkdir registries/r$i: the fastest of the last 50 of 400
    takes at most 3x the fastest of the first 50. The fastest, not the
    median: on a loaded machine half of a batch can wait on the scheduler
    (CI measured medians of 2 ms then 5 ms per 50 with a flat daemon),
    while a daemon whose mkdir costs grow with the registries makes every
    one of them slower, the fastest too."""
    mount = tmpfs_mount
    regs = mount.path("registries")
    times = []
    t_start = time.monotonic()
    for i in range(400):
        t0 = time.monotonic()
        os.mkdir(os.path.join(regs, "r%d" % i))
        times.append(time.monotonic() - t0)
        # a quadratic daemon fails here, not after a minute of mkdirs
        if time.monotonic() - t_start > 20:
            break

    def cost(batch):   # the fastest: waits on the scheduler do not decide
        return min(batch) * 50
    first, last = cost(times[:50]), cost(times[-50:])
    assert len(times) == 400 and last <= 3 * first, \
        "%d mkdirs; ms per 50: %r" % (len(times), [round(cost(times[i:i + 50]) * 1000)
                                              for i in range(0, len(times), 50)])
    assert len(os.listdir(regs)) == 401
    assert len(mount.store_files("registries")) == 401
