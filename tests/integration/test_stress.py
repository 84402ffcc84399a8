"""Bounded stress for the outside audit (issue 17): everything at once then
SIGTERM, kill -9 in the middle of writes, and two daemons on one store.
Every wait has a deadline, so a hang fails the test instead of CI.
"""
import errno
import fcntl
import json
import os
import random
import select
import signal
import subprocess
import threading
import time

from conftest import DEBIAN, WEB, WORKER, read, umount, wait_until, write_fd

API = "550e8400-e29b-41d4-a716-446655440100"
STAGING_WEB = "550e8400-e29b-41d4-a716-446655440300"
KINDS = ("apps", "environments", "images", "registries")


def locked_edit(state, kind, oid, fn, timeout=10.0):
    """Edit a document as another daemon does (README, The local store):
    take the object's flock under .lock/, re-read, change, write a temp
    dotfile, fsync, rename over it, fsync the directory."""
    os.makedirs(os.path.join(state, ".lock"), exist_ok=True)
    lfd = os.open(os.path.join(state, ".lock", "%s-%s" % (kind, oid)),
                  os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "store lock %s-%s held" % (kind, oid)
                time.sleep(0.001)
        path = os.path.join(state, kind, oid + ".json")
        with open(path) as f:
            doc = json.load(f)
        fn(doc)
        tmp = os.path.join(state, kind, ".%s.edit.tmp" % oid)
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
        dfd = os.open(os.path.join(state, kind), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
    finally:
        os.close(lfd)


def parse_store(state):
    """Every document of the store, parsed (a torn one fails here); only
    documents and dotfiles (temp files) in its folders."""
    docs = {}
    for kind in KINDS:
        for name in os.listdir(os.path.join(state, kind)):
            if name.startswith("."):
                continue
            assert name.endswith(".json"), (kind, name)
            with open(os.path.join(state, kind, name)) as f:
                doc = json.load(f)
            assert doc["id"] + ".json" == name
            docs[kind + "/" + doc["id"]] = doc
    return docs


class Writer(threading.Thread):
    """Writes prefix1, prefix2, ... to path until stopped or a write fails;
    .acked is the last value whose write and close succeeded, .inflight the
    one under way when it stopped (None when none was)."""

    def __init__(self, path, prefix, start=1):
        super().__init__()
        self.path, self.prefix, self.n = path, prefix, start - 1
        self.stop = threading.Event()
        self.acked = None
        self.count = 0
        self.inflight = None
        self.failure = None

    def run(self):
        while not self.stop.is_set():
            self.n += 1
            value = b"%s%d\n" % (self.prefix.encode(), self.n)
            self.inflight = self.n
            try:
                r = write_fd(self.path, value)
            except OSError as e:
                r = [errno.errorcode[e.errno]]
            if r != [len(value), 0]:
                self.failure = (self.n, r)
                return
            self.inflight = None
            self.acked = self.n
            self.count += 1


# 2. Everything at once, then SIGTERM ----------------------------------------

def test_stress_readers_writers_store_edits_then_sigterm(make_mount):
    """Audit 2: events readers (blocking, interrupted, closing, O_NONBLOCK),
    writers to several apps and edits of the store by another writer, for a
    few seconds; then SIGTERM: exit 0 within 3 s, nothing lost, no hang."""
    m = make_mount()
    ev = m.path(".deployfs", "events")
    rng = random.Random()
    stop = threading.Event()
    terminating = threading.Event()
    problems = []   # (what, detail), before SIGTERM only
    procs = []

    def problem(what, detail):
        if not terminating.is_set():
            problems.append((what, detail))

    base = {oid: m.doc("apps", oid)["version"] for oid in (WEB, API, STAGING_WEB, WORKER)}
    writers = [Writer(m.app("tag"), "w"), Writer(m.app("tag", app="api"), "a"),
               Writer(m.app("tag", env="staging", app="web"), "s")]
    edits = {"api": 0, "worker": 0}

    def editor():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                def api(doc, i=i):
                    doc["modifiedBy"] = "ext-%d" % i
                    doc["version"] += 1
                locked_edit(m.state, "apps", API, api)
                edits["api"] += 1

                def worker(doc, i=i):
                    doc["source"]["image"]["tag"] = "e%d" % i
                    doc["version"] += 1
                locked_edit(m.state, "apps", WORKER, worker)
                edits["worker"] += 1
                locked_edit(m.state, "images", DEBIAN,
                            lambda doc, i=i: doc.update(os_version="12.%d" % i))
            except Exception as e:   # noqa: BLE001 - reported by the test
                problems.append(("editor", repr(e)))
                return
            stop.wait(0.01)

    received = [b"", b""]

    def blocking_reader(k):
        try:
            fd = os.open(ev, os.O_RDONLY)
        except OSError as e:
            return problem("open", e)
        try:
            while not stop.is_set():
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    data = os.read(fd, 65536)
                    if not data:
                        return
                    received[k] += data
        except OSError as e:
            problem("blocking read", e)
        finally:
            try:
                os.close(fd)
            except OSError as e:
                problem("close", e)

    def closer():
        while not stop.is_set():
            try:
                fd = os.open(ev, os.O_RDONLY)
                try:
                    if select.select([fd], [], [], 0.02)[0]:
                        os.read(fd, rng.choice((1, 100, 65536)))
                finally:
                    os.close(fd)
            except OSError as e:
                return problem("closer", e)

    def poller():
        while not stop.is_set():
            try:
                fd = os.open(ev, os.O_RDONLY | os.O_NONBLOCK)
                try:
                    p = select.poll()
                    p.register(fd, select.POLLIN)
                    for _ in range(5):
                        p.poll(20)
                        try:
                            os.read(fd, 4096)
                        except BlockingIOError:
                            pass
                finally:
                    os.close(fd)
            except OSError as e:
                return problem("poller", e)

    def interrupter():
        k = 0
        while not stop.is_set():
            k += 1
            p = subprocess.Popen(["cat", ev], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(p)
            stop.wait(rng.random() * 0.05)
            p.send_signal(signal.SIGINT if k % 2 else signal.SIGKILL)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                return problem("interrupted cat", "still running 5 s after a signal")

    threads = writers + [threading.Thread(target=f) for f in (editor, closer, poller,
                                                               interrupter)]
    threads += [threading.Thread(target=blocking_reader, args=(k,)) for k in range(2)]
    try:
        for t in threads:
            t.start()
        # run for 4 s, or until a writer failed
        wait_until(lambda: any(w.failure for w in writers) or problems, 4.0, 0.05)
        assert [w.failure for w in writers] == [None] * 3
        assert problems == []
        assert m.proc.poll() is None
        terminating.set()
        t0 = time.monotonic()
        m.proc.send_signal(signal.SIGTERM)
        try:
            rc = m.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = "still running after 5 s"
            m.abort()
            m.proc.kill()
            m.proc.wait(10)
        elapsed = time.monotonic() - t0
        assert rc == 0 and elapsed < 3, (rc, elapsed)
    finally:
        stop.set()
        for w in writers:
            w.stop.set()
        for t in threads:
            t.join(15)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        umount(m.mnt)
    assert [t for t in threads if t.is_alive()] == []
    assert problems == []

    # what the readers got parses; the mount's writes and the store's both
    for k in range(2):
        lines = [json.loads(l) for l in received[k].split(b"\n")[:-1]]
        assert {l.get("origin") for l in lines if "dropped" not in l} == {"mount", "store"}

    # every acknowledged write is in the store, once; an unacknowledged
    # in-flight write may or may not be
    docs = parse_store(m.state)
    for w, oid, extra in [(writers[0], WEB, 0), (writers[1], API, edits["api"]),
                          (writers[2], STAGING_WEB, 0)]:
        doc = docs["apps/" + oid]
        tag = doc["source"]["image"]["tag"]
        assert w.count > 0
        if w.inflight is not None and tag == "%s%d" % (w.prefix, w.inflight):
            assert doc["version"] == base[oid] + w.count + extra + 1
        else:
            assert tag == "%s%d" % (w.prefix, w.acked)
            assert doc["version"] == base[oid] + w.count + extra, (oid, w.count, extra)
    assert docs["apps/" + WORKER]["version"] == base[WORKER] + edits["worker"]


# 3. kill -9 in the middle of writes -----------------------------------------

def test_kill9_loop_keeps_every_acknowledged_write(make_mount):
    """Audit 3: kill -9 the daemon at random moments of writes to three
    apps, ten times: every document parses, each tag is the last
    acknowledged write or the one in flight after it, and a fresh mount on
    the store shows it."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    first = make_mount(sub="r0")
    state = first.state
    apps = [(WEB, "prod", "web", "w"), (API, "prod", "api", "a"),
            (STAGING_WEB, "staging", "web", "s")]
    version = {oid: first.doc("apps", oid)["version"] for oid, *_ in apps}
    tag = {oid: first.doc("apps", oid)["source"]["image"]["tag"] for oid, *_ in apps}
    nxt = {oid: 1 for oid, *_ in apps}
    m = first
    for rnd in range(10):
        if rnd:
            m = make_mount(state=state, sub="r%d" % rnd)
        # a fresh mount shows what the store holds
        for oid, env, app, _ in apps:
            assert read(m.app("tag", env=env, app=app)) == tag[oid] + "\n", (seed, rnd)
            assert read(m.app("version", env=env, app=app)) == "%d\n" % version[oid]
        writers = {oid: Writer(m.app("tag", env=env, app=app), prefix, nxt[oid])
                   for oid, env, app, prefix in apps}
        for w in writers.values():
            w.start()
        # kill once every writer has had an answer, at a random moment
        assert wait_until(lambda: all(w.count or w.failure for w in writers.values()), 10)
        time.sleep(rng.random() * 0.2)   # the random moment of the kill, not a wait
        assert m.kill(signal.SIGKILL) == -signal.SIGKILL
        umount(m.mnt)
        for w in writers.values():
            w.stop.set()
            w.join(10)
            assert not w.is_alive()
        docs = parse_store(state)
        for oid, env, app, prefix in apps:
            w = writers[oid]
            assert w.count > 0, (seed, rnd, oid, w.failure)
            doc = docs["apps/" + oid]
            got = doc["source"]["image"]["tag"]
            want = ["%s%d" % (prefix, w.acked)]
            if w.inflight is not None:
                want.append("%s%d" % (prefix, w.inflight))
            assert got in want, (seed, rnd, oid, got, want)
            committed = w.count + (got != want[0])
            assert doc["version"] == version[oid] + committed, (seed, rnd, oid)
            version[oid], tag[oid] = doc["version"], got
            nxt[oid] = w.n + 1
    final = make_mount(state=state, sub="final")
    for oid, env, app, _ in apps:
        assert read(final.app("tag", env=env, app=app)) == tag[oid] + "\n", seed
        assert read(final.app("version", env=env, app=app)) == "%d\n" % version[oid]


# 4. Two daemons: a value read never goes back --------------------------------

def test_version_read_through_a_mount_never_goes_back(make_mount):
    """Audit 4: with two daemons writing one app, the app's version read
    through either mount, and its changes on either's events stream, never
    go back, and both mounts end on the store's version."""
    m1 = make_mount(sub="one")
    m2 = make_mount(state=m1.state, sub="two")
    mounts = (m1, m2)
    writers = [Writer(m1.app("tag"), "x"), Writer(m2.app("tag"), "y"),
               Writer(m1.app("image"), "repo/x"), Writer(m2.app("image"), "repo/y")]
    stop = threading.Event()
    back = [[], []]
    reads = [0, 0]
    failures = []
    streams = [b"", b""]
    fds = [os.open(m.path(".deployfs", "events"), os.O_RDONLY) for m in mounts]

    def reader(k):
        last = 0
        while not stop.is_set():
            try:
                v = int(read(mounts[k].app("version")))
            except (OSError, ValueError) as e:
                failures.append((k, repr(e)))
                return
            reads[k] += 1
            if v < last:
                back[k].append((last, v, reads[k]))
            last = max(last, v)

    def follow(k):
        while not stop.is_set():
            if select.select([fds[k]], [], [], 0.1)[0]:
                streams[k] += os.read(fds[k], 65536)

    threads = writers + [threading.Thread(target=f, args=(k,))
                         for f in (reader, follow) for k in (0, 1)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: any(w.failure for w in writers) or failures, 4.0, 0.05)
    finally:
        stop.set()
        for w in writers:
            w.stop.set()
        for t in threads:
            t.join(15)
        for fd in fds:
            os.close(fd)
    assert [t for t in threads if t.is_alive()] == []
    assert ([w.failure for w in writers], failures) == ([None] * 4, [])
    counts = [w.count for w in writers]
    assert min(counts) > 0 and min(reads) > 100, (counts, reads)
    assert back == [[], []], "reads went back %r times in %r reads; first (before, after, " \
        "read #): %r" % ([len(b) for b in back], reads, [b[:3] for b in back])
    version = "environments/prod/apps/web/version"
    for k in (0, 1):
        lines = [json.loads(l) for l in streams[k].split(b"\n")[:-1]]
        steps = [(l["old"], l["new"], l["origin"]) for l in lines if l.get("path") == version]
        assert steps, k
        assert [s for s in steps if int(s[1]) <= int(s[0])] == [], (k, len(steps))
    final = m1.doc("apps", WEB)["version"]
    assert final == 2 + sum(counts)
    for m in mounts:
        assert wait_until(lambda: read(m.app("version")) == "%d\n" % final, 5), \
            (read(m.app("version")), final)
