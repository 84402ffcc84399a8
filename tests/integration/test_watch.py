"""inotify for changes made elsewhere (README, inotify).

A change that did not come through this mount (another daemon on the
same store, a hand edit of the store) is written into the value file
through the mount by the daemon's echo thread, so a watcher of the file
or of its directory gets IN_MODIFY and IN_CLOSE_WRITE, as for a local
write; the echo commits nothing. Watchers here are real `inotifywait -m`.
"""
import contextlib
import os
import signal
import subprocess
import threading
import time

from conftest import WEB, read, sh
from test_store import edit, set_tag
from watch_helpers import Watcher, wait_for

# the value files of an app whose content a tag change changes
TAG_CHANGE = {"tag", "ref", "version"}


def changed_names(w):
    return {n for n, ev in w.names() if ev & {"MODIFY", "CLOSE_WRITE"}}


def test_write_on_another_daemon(mount, make_mount):
    b = make_mount(state=mount.state, sub="b")
    d, f = Watcher(b.app()), Watcher(b.app("tag"))
    try:
        before = mount.doc("apps", WEB)
        assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
        assert d.wait("tag", "CLOSE_WRITE"), d.lines()
        assert f.wait("tag", "CLOSE_WRITE"), f.lines()
        # as for a local write: opened, modified, closed after writing
        events = [ev for n, ev in f.names()]
        assert {"OPEN"} in events and {"MODIFY"} in events
        assert read(b.app("tag")) == "1.26\n"
        # only value files whose content changed; never digest, error,
        # app.json, or values that stayed (the writer, root, is the app's
        # modifiedBy now)
        assert wait_for(lambda: changed_names(d) == TAG_CHANGE | {"modified_by"}), d.lines()
        # the echo committed nothing: A's write is the only new version
        after = mount.doc("apps", WEB)
        assert after["version"] == before["version"] + 1
        assert after["source"]["image"]["tag"] == "1.26"
        assert read(b.app("error")) == ""
    finally:
        d.stop()
        f.stop()
    # nothing came later either
    assert mount.doc("apps", WEB) == after
    assert "inotify echo" not in b.log()


def test_hand_edit_of_the_store(mount):
    w = Watcher(mount.app())
    try:
        doc = edit(mount, "apps", WEB, set_tag("1.27-bookworm"))
        assert w.wait("tag", "CLOSE_WRITE"), w.lines()
        assert read(mount.app("tag")) == "1.27-bookworm\n"
        assert wait_for(lambda: changed_names(w) == TAG_CHANGE), w.lines()
    finally:
        w.stop()
    # the store holds exactly the hand edit: no second change
    assert mount.doc("apps", WEB) == doc


def test_no_event_for_what_did_not_change(mount):
    w = Watcher(mount.app(), mount.app("resources"))
    try:
        # a field no file shows, without a new version: no file changed
        edit(mount, "apps", WEB, lambda doc: doc.update(note="unrelated"))
        # then a change of the version alone
        edit(mount, "apps", WEB, lambda doc: doc.update(version=doc["version"] + 1))
        assert w.wait("version", "CLOSE_WRITE"), w.lines()
        # one queue, in order: had the first edit made events, they would
        # be there already
        assert changed_names(w) == {"version"}, w.lines()
        assert read(mount.app("tag")) == "1.25-alpine\n"
    finally:
        w.stop()


def test_a_file_and_its_directory_watched_at_once(mount):
    # the echo goes through the kernel: every watcher gets it
    ws = [Watcher(mount.app()), Watcher(mount.app("tag")), Watcher(mount.app("tag"))]
    try:
        edit(mount, "apps", WEB, set_tag("1.28"))
        for w in ws:
            assert w.wait("tag", "CLOSE_WRITE"), w.lines()
    finally:
        for w in ws:
            w.stop()


def test_burst_of_a_thousand_changes(mount, make_mount):
    b = make_mount(state=mount.state, sub="b")
    w = Watcher(b.app(), read_on="tag")
    stop = threading.Event()
    slow = []

    def probe():
        # the mount answers while the burst runs
        while not stop.is_set():
            t = time.monotonic()
            os.listdir(b.app())
            read(b.app("image"))
            slow.append(time.monotonic() - t)
            time.sleep(0.01)

    p = threading.Thread(target=probe)
    p.start()
    try:
        version = mount.doc("apps", WEB)["version"]
        for i in range(1000):
            edit(mount, "apps", WEB, set_tag("b%d" % i))
        assert wait_for(lambda: read(b.app("tag")) == "b999\n", timeout=60), read(b.app("tag"))
        # the last value reaches the watcher: what it reads at its last
        # IN_CLOSE_WRITE is the last value
        assert wait_for(lambda: w.values and w.values[-1] == "b999\n", timeout=60), w.values[-5:]
    finally:
        stop.set()
        p.join()
        w.stop()
    closes = sum(1 for n, ev in w.names() if n == "tag" and "CLOSE_WRITE" in ev)
    print("1000 changes: %d IN_CLOSE_WRITE of tag, probe max %.3f s" % (closes, max(slow)))
    assert 1 <= closes <= 1000
    assert max(slow) < 10, "the mount stalled for %.1f s" % max(slow)
    # neither daemon committed anything: the hand edits are the store
    doc = mount.doc("apps", WEB)
    assert doc["version"] == version + 1000 and doc["source"]["image"]["tag"] == "b999"
    assert read(mount.app("tag")) == "b999\n"


def test_readers_never_see_an_empty_file(mount, make_mount):
    # the echo does not truncate: a reader of a file changed elsewhere never
    # sees it empty
    b = make_mount(state=mount.state, sub="b")
    w = Watcher(b.app())
    stop = threading.Event()
    seen = set()

    def reader():
        while not stop.is_set():
            seen.add(read(b.app("tag")))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(200):
            edit(mount, "apps", WEB, set_tag("r%d" % i))
        assert wait_for(lambda: w.values or w.saw("tag", "CLOSE_WRITE"))
        assert wait_for(lambda: read(b.app("tag")) == "r199\n", timeout=60)
    finally:
        stop.set()
        t.join()
        w.stop()
    # never nothing; a read that races a change may mix two successive
    # values for that one read (README, "inotify"), and one after it reads
    # the last value whole
    assert seen and "" not in seen
    assert read(b.app("tag")) == "r199\n"


def test_read_only_mount(mount, make_mount):
    b = make_mount("registry_check=off,ro", state=mount.state, sub="b")
    w = Watcher(b.app())
    try:
        edit(mount, "apps", WEB, set_tag("1.26"))
        assert wait_for(lambda: read(b.app("tag")) == "1.26\n")
        # the echo was refused by the kernel, said so once, and gave up
        assert wait_for(lambda: "read-only mount" in b.log()), b.log()
        assert not changed_names(w), w.lines()
        edit(mount, "apps", WEB, set_tag("1.27"))
        assert wait_for(lambda: read(b.app("tag")) == "1.27\n")
    finally:
        w.stop()
    assert b.log().count("read-only mount") == 1
    assert mount.doc("apps", WEB)["source"]["image"]["tag"] == "1.27"


@contextlib.contextmanager
def burst(m):
    """Hand edits of web's tag, one after the other, until the block ends;
    a watcher of its directory has seen the first echo when it starts."""
    w = Watcher(m.app())
    stop = threading.Event()

    def edits():
        i = 0
        while not stop.is_set():
            edit(m, "apps", WEB, set_tag("s%d" % i))
            i += 1

    t = threading.Thread(target=edits)
    t.start()
    try:
        assert w.wait("tag", "CLOSE_WRITE"), w.lines()
        w.stop()
        yield
    finally:
        stop.set()
        t.join()
        w.stop()


def test_sigterm_during_a_burst(mount):
    with burst(mount):
        start = time.monotonic()
        rc = mount.kill(signal.SIGTERM, timeout=20)
        took = time.monotonic() - start
    assert rc == 0, mount.log()
    assert took < 10, took


def test_unmount_during_a_burst(mount):
    with burst(mount):
        subprocess.run(["fusermount3", "-u", "-z", mount.mnt], check=True)
        rc = mount.proc.wait(20)
    assert rc == 0, mount.log()


def test_plain_unmount_during_a_burst(mount):
    # the echo opens its files through a private copy of the mount: a
    # non-lazy unmount never finds the mount point busy because of it
    with burst(mount):
        r = subprocess.run(["fusermount3", "-u", mount.mnt], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rc = mount.proc.wait(20)
    assert rc == 0, mount.log()
