"""Fixtures that mount the real deployfs, as libfuse's and sshfs's own tests do.

Every mount is started by pid and always unmounted and stopped, also when a
test fails. The store is a fresh copy of examples/demo-store unless a test
gives its own.
"""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "tools"))

DEMO_STORE = os.path.join(TOP, "examples", "demo-store")
BIN = os.environ.get("DEPLOYFS_BIN", os.path.join(TOP, "build", "deployfs"))

# Ids in examples/demo-store
PROD = "660e8400-e29b-41d4-a716-446655440001"
WEB = "550e8400-e29b-41d4-a716-446655440000"
WORKER = "550e8400-e29b-41d4-a716-446655440200"
REGISTRY = "880e8400-e29b-41d4-a716-446655440003"
DEBIAN = "e7db3b45-8db7-47ad-8109-3fb55c2c24fd"


# what log lines start with on stderr or in a log= file
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                        r"(?:debug|info|warning|error) deployfs\[\d+\]: ", re.M)


def wait_for_mount(path, proc, timeout=10.0):
    """Wait until path is a mount point (st_dev differs from its parent)."""
    parent = os.stat(os.path.dirname(path)).st_dev
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("deployfs exited with %d" % proc.returncode)
        try:
            if os.stat(path).st_dev != parent:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError("deployfs did not mount %s" % path)


def default_signals():
    """In the daemon's child before exec: a shell's background job ignores
    SIGINT, and libfuse keeps a signal ignored that it finds ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def umount(path):
    subprocess.run(["fusermount3", "-u", "-z", path], stderr=subprocess.DEVNULL)


class Mount:
    """A running deployfs: .mnt (mount point), .state (store), .log()."""

    def __init__(self, tmp, options="registry_check=off", store=DEMO_STORE, env=None,
                 state=None):
        self.tmp = str(tmp)
        self.mnt = os.path.join(self.tmp, "mnt")
        # state: an existing store to share (another daemon's), else a copy of store
        self.state = state or os.path.join(self.tmp, "state")
        self.logpath = os.path.join(self.tmp, "deployfs.log")
        os.makedirs(self.mnt, exist_ok=True)
        if store and not state and not os.path.exists(self.state):
            shutil.copytree(store, self.state)
        opts = "state=%s" % self.state + ("," + options if options else "")
        self.cmd = [BIN, "-f", "-o", opts, self.mnt]
        self.env = env
        self.proc = None

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     preexec_fn=default_signals)
        try:
            wait_for_mount(self.mnt, self.proc)
        except Exception:
            self.stop()
            raise
        self.dev = os.stat(self.mnt).st_dev
        return self

    def abort(self):
        """Abort the FUSE connection (fusectl), the one cure for a daemon
        stuck in the kernel: its stuck requests then fail with ENOTCONN."""
        conns = "/sys/fs/fuse/connections"
        if not os.listdir(conns):
            subprocess.run(["mount", "-t", "fusectl", "none", conns], stderr=subprocess.DEVNULL)
        path = os.path.join(conns, str(os.minor(self.dev)), "abort")
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write("1")

    def kill(self, sig=signal.SIGKILL, timeout=10):
        """Send sig and wait for the daemon to exit; a daemon that cannot
        exit (a thread stuck in the kernel) has its connection aborted."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.abort()
            self.proc.kill()
            return self.proc.wait(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.kill(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                pass
        umount(self.mnt)
        if getattr(self, "logf", None):
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def log(self, raw=False):
        """The daemon's stderr; its log lines with their time, level and
        pid ("2026-12-02T14:06:52.897Z warning deployfs[1234]: text")
        shortened to "deployfs: text", unless raw."""
        with open(self.logpath, errors="replace") as f:
            text = f.read()
        return text if raw else LOG_PREFIX.sub("deployfs: ", text)

    def sanitizer_reports(self):
        """Lines of the log where ASan or UBSan (a `make SAN=1` build) or valgrind spoke."""
        try:
            text = self.log()
        except FileNotFoundError:
            return []
        return [l for l in text.splitlines()
                if any(m in l for m in SANITIZER_MARKS) or VALGRIND_MARK.match(l)]

    def store_files(self, kind):
        """The names in the store's folder of kind (apps, images, ...)."""
        return sorted(os.listdir(os.path.join(self.state, kind)))

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def app(self, *parts, env="prod", app="web"):
        return self.path("environments", env, "apps", app, *parts)

    def image(self, *parts, image=DEBIAN):
        return self.path("images", image, *parts)

    def doc(self, kind, oid):
        with open(os.path.join(self.state, kind, oid + ".json")) as f:
            return json.load(f)

    def store_snapshot(self):
        """Every document in the store, by relative path, as parsed JSON."""
        out = {}
        for kind in ("environments", "apps", "registries", "images"):
            d = os.path.join(self.state, kind)
            for name in sorted(os.listdir(d)):
                if name.endswith(".json") and not name.startswith("."):
                    with open(os.path.join(d, name)) as f:
                        out[kind + "/" + name] = json.load(f)
        return out


# What a sanitizer build (make SAN=1) writes to the daemon's log when it
# finds a bug; a test whose daemon logged one fails.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# What valgrind (tests/tools/valgrind-deployfs, run -q) writes when it finds
# one: "==PID== Invalid read ...", "==PID== 16 bytes ... definitely lost ..."
VALGRIND_MARK = re.compile(r"^==\d+== (Invalid |Conditional jump|Use of uninitialised|"
                           r"Syscall param|Mismatched free|.*definitely lost)")


def check_sanitizers(mounts):
    reports = [(m.logpath, l) for m in mounts for l in m.sanitizer_reports()]
    if reports:
        pytest.fail("the daemon's sanitizers reported:\n" +
                    "\n".join("%s: %s" % r for r in reports), pytrace=False)


@pytest.fixture
def mount(tmp_path):
    """deployfs on a copy of the demo store, registry_check=off."""
    m = Mount(tmp_path).start()
    yield m
    m.stop()
    check_sanitizers([m])


@pytest.fixture
def public_dir():
    """A directory other users can enter (pytest's tmp is root's, 0700):
    for mounts with allow_other."""
    d = tempfile.mkdtemp(prefix="deployfs-test-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_mount(tmp_path):
    """Factory for mounts with other options; all are stopped at the end."""
    mounts = []

    def make(options="registry_check=off", sub="m", **kw):
        m = Mount(tmp_path / sub, options=options, **kw)
        mounts.append(m)
        return m.start()

    yield make
    for m in reversed(mounts):
        m.stop()
    check_sanitizers(mounts)


def read(path):
    with open(path) as f:
        return f.read()


def sh(cmd, cwd=None, check=False, timeout=30, input=None):
    """Run a shell command (real bash); returns CompletedProcess with text."""
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=check, input=input)


def oserror(fn, *args, **kw):
    """The errno fn(*args) fails with, or 0 when it succeeds."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return 0


def write_fd(path, *chunks, flags=os.O_WRONLY | os.O_TRUNC):
    """Open path, write each chunk with its own write(2), close. Returns
    the list of results, one per write and the close last: the byte count
    or 0 for the close, or the errno name ("EINVAL") of a failure. A
    failed write does not stop the later ones."""
    out = []
    fd = os.open(path, flags, 0o644)
    for c in chunks:
        try:
            out.append(os.write(fd, c))
        except OSError as e:
            out.append(errno.errorcode[e.errno])
    try:
        os.close(fd)
        out.append(0)
    except OSError as e:
        out.append(errno.errorcode[e.errno])
    return out


def wait_until(pred, timeout=5.0, step=0.01):
    """Poll pred() until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)
