"""inotify for writes through the mount (README, "inotify").

Measured (kernel 6.18): for `echo v > tag`, a watcher of the file and a
watcher of its directory each get IN_OPEN, IN_MODIFY, IN_MODIFY,
IN_CLOSE_WRITE (the directory's with the name "tag"). The first IN_MODIFY
is the O_TRUNC of the open, the second the write. The kernel merges an
event equal to the last one in a watcher's queue, so a watcher that reads
after the write has ended sees IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE; one
inotify instance watching both the file and its directory gets the eight
events interleaved, directory first, and nothing merged. A refused write
gets the same events: the truncation alone is an IN_MODIFY.
"""
import ctypes
import ctypes.util
import os
import struct
import subprocess
import time

import pytest

from conftest import read, sh, wait_until

IN = {0x1: "ACCESS", 0x2: "MODIFY", 0x4: "ATTRIB", 0x8: "CLOSE_WRITE", 0x10: "CLOSE_NOWRITE",
      0x20: "OPEN", 0x40: "MOVED_FROM", 0x80: "MOVED_TO", 0x100: "CREATE", 0x200: "DELETE",
      0x400: "DELETE_SELF", 0x800: "MOVE_SELF", 0x8000: "IGNORED", 0x40000000: "ISDIR"}
IN_ALL_EVENTS = 0xfff

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class Inotify:
    """A watcher that reads its queue only when asked."""

    def __init__(self):
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.names = {}

    def watch(self, path, label):
        wd = libc.inotify_add_watch(self.fd, path.encode(), IN_ALL_EVENTS)
        assert wd >= 0, ctypes.get_errno()
        self.names[wd] = label

    def events(self):
        """[(label, "MASK|NAMES", name)] queued so far."""
        out = []
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return out
        i = 0
        while i < len(buf):
            wd, mask, cookie, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
            i += 16 + n
            flags = "|".join(v for k, v in sorted(IN.items()) if mask & k)
            out.append((self.names[wd], flags, name))
        return out

    def close(self):
        os.close(self.fd)


@pytest.fixture
def ino():
    w = Inotify()
    yield w
    w.close()


def settle(w):
    time.sleep(0.1)
    return w.events()


def test_echo_through_the_mount(mount):
    # one watcher of the file, one of the directory
    f, d = Inotify(), Inotify()
    try:
        f.watch(mount.app("tag"), "file")
        d.watch(mount.app(), "dir")
        assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
        time.sleep(0.1)
        # read after the write: the truncation's and the write's IN_MODIFY are merged
        assert f.events() == [("file", "OPEN", ""), ("file", "MODIFY", ""),
                              ("file", "CLOSE_WRITE", "")]
        assert d.events() == [("dir", "OPEN", "tag"), ("dir", "MODIFY", "tag"),
                              ("dir", "CLOSE_WRITE", "tag")]
    finally:
        f.close()
        d.close()
    assert read(mount.app("tag")) == "1.26\n"


def test_echo_events_unmerged(mount, ino):
    # one watcher of both: their events interleave, so none are merged and
    # both IN_MODIFY show (the O_TRUNC, then the write)
    ino.watch(mount.app("tag"), "file")
    ino.watch(mount.app(), "dir")
    assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
    assert settle(ino) == [
        ("dir", "OPEN", "tag"), ("file", "OPEN", ""),
        ("dir", "MODIFY", "tag"), ("file", "MODIFY", ""),
        ("dir", "MODIFY", "tag"), ("file", "MODIFY", ""),
        ("dir", "CLOSE_WRITE", "tag"), ("file", "CLOSE_WRITE", ""),
    ]


def test_refused_write_gets_the_same_events(mount, ino):
    ino.watch(mount.app("tag"), "file")
    before = mount.store_snapshot()
    assert sh('echo "bad value" > tag', cwd=mount.app()).returncode == 1
    assert settle(ino) == [("file", "OPEN", ""), ("file", "MODIFY", ""),
                           ("file", "CLOSE_WRITE", "")]
    assert mount.store_snapshot() == before


def test_inotifywait_sees_close_write(mount, tmp_path):
    out = tmp_path / "events"
    with open(out, "w") as f:
        p = subprocess.Popen(["inotifywait", "-m", "--format", "%f %e", mount.app()],
                             stdout=f, stderr=subprocess.PIPE, text=True)
    try:
        # it says so on stderr when its watches are set up
        for _ in range(5):
            if "Watches established" in p.stderr.readline():
                break
        else:
            pytest.fail("inotifywait did not start")
        assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
        assert wait_until(lambda: "CLOSE_WRITE" in out.read_text())
    finally:
        p.terminate()
        p.wait()
    seen = out.read_text().splitlines()
    # the two IN_MODIFY are merged, or not, as the watcher read them
    collapsed = [e for i, e in enumerate(seen) if i == 0 or seen[i - 1] != e]
    assert collapsed == ["tag OPEN", "tag MODIFY", "tag CLOSE_WRITE,CLOSE"]
    assert seen.count("tag MODIFY") in (1, 2)


def test_rename_save_events(mount, ino):
    # sed -i: a temp file created, written, renamed over tag
    ino.watch(mount.app(), "dir")
    assert sh("sed -i s/alpine/bookworm/ tag", cwd=mount.app()).returncode == 0
    ev = settle(ino)
    names = [(m, n) for _, m, n in ev]
    tmp = [n for m, n in names if m == "CREATE"]
    assert len(tmp) == 1 and tmp[0].startswith("sed")
    assert ("MOVED_FROM", tmp[0]) in names and ("MOVED_TO", "tag") in names
    assert names.index(("CREATE", tmp[0])) < names.index(("MOVED_TO", "tag"))
    assert read(mount.app("tag")) == "1.25-bookworm\n"
