"""Where the log goes: -o log=FILE, stderr with -f, and without -f on a
machine with no syslog socket (/dev/log) a file stderr was redirected to,
else $XDG_STATE_HOME/deployfs/deployfs.log. Lines carry a UTC time, a level
and the pid. A refused write is the line looked for: the path and the
reason its `error` file shows."""
import os
import re
import socket
import stat
import subprocess

import pytest

from conftest import BIN, DEMO_STORE, WEB, LOG_PREFIX, Mount, check_sanitizers, read, wait_until

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info|warning|error) "
                  r"deployfs\[(\d+)\]: (.*)$", re.M)
# the mount path, who (bash, as root), why
REFUSED = ('environments/prod/apps/web/tag: tag "v2 beta": tags are '
           '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (refused; written by root (uid 0, bash))')


def syslog_listens():
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.connect("/dev/log")
            return True
        except OSError:
            pass
        finally:
            s.close()
    return False


def refuse_a_write(mnt):
    """echo "v2 beta" > tag in real bash: refused with EINVAL."""
    r = subprocess.run(["bash", "-c", 'echo "v2 beta" > "$0"',
                        os.path.join(mnt, "environments/prod/apps/web/tag")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "Invalid argument" in r.stderr


def lines(path):
    with open(path, errors="replace") as f:
        return [m.groups() for m in LINE.finditer(f.read())]


def test_log_file_gets_the_lines(tmp_path):
    logfile = tmp_path / "daemon.log"
    logfile.write_text("an older line\n")
    logfile.chmod(0o640)
    m = Mount(tmp_path, options="registry_check=off,log=%s" % logfile).start()
    try:
        refuse_a_write(m.mnt)
        assert wait_until(lambda: any(l[3] == REFUSED for l in lines(logfile)))
        got = lines(logfile)
        assert got[0][1:] == ("info", str(m.proc.pid),
                              "mounted %s on %s (registry_check=off)" % (m.state, m.mnt))
        assert [l[1:] for l in got[1:]] == [("warning", str(m.proc.pid), REFUSED)]
        # appended to what was there, its mode kept; nothing on stderr
        assert read(logfile).startswith("an older line\n")
        assert stat.S_IMODE(os.stat(logfile).st_mode) == 0o640
        assert m.log(raw=True) == ""
    finally:
        assert m.stop() == 0
    check_sanitizers([m])


def test_log_file_is_created_0600(tmp_path):
    logfile = tmp_path / "new.log"
    m = Mount(tmp_path, options="registry_check=off,log=%s" % logfile).start()
    try:
        assert stat.S_IMODE(os.stat(logfile).st_mode) == 0o600
        # not inherited by what the daemon starts (a credential helper)
        fds = os.listdir("/proc/%d/fd" % m.proc.pid)
        target = [fd for fd in fds
                  if os.readlink("/proc/%d/fd/%s" % (m.proc.pid, fd)) == str(logfile)]
        assert len(target) == 1
        with open("/proc/%d/fdinfo/%s" % (m.proc.pid, target[0])) as f:
            flags = int(re.search(r"^flags:\s+(\d+)", f.read(), re.M).group(1), 8)
        assert flags & os.O_CLOEXEC and flags & os.O_APPEND
    finally:
        assert m.stop() == 0


def test_log_file_that_cannot_be_opened_fails_the_mount(tmp_path):
    bad = tmp_path / "no-such-dir" / "x.log"
    m = Mount(tmp_path, options="registry_check=off,log=%s" % bad)
    r = subprocess.run(m.cmd, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stderr == "deployfs: log=%s: No such file or directory\n" % bad


def test_foreground_lines_carry_time_and_level(tmp_path):
    m = Mount(tmp_path).start()
    try:
        refuse_a_write(m.mnt)
        assert wait_until(lambda: REFUSED in m.log())
        raw = m.log(raw=True).splitlines()
        assert len(raw) == 2
        assert all(LOG_PREFIX.match(l) for l in raw), raw
        assert LINE.match(raw[0]).group(2) == "info"
        assert LINE.match(raw[1]).groups()[1:] == ("warning", str(m.proc.pid), REFUSED)
    finally:
        assert m.stop() == 0


class Daemon:
    """deployfs without -f: the starter returns once mounted; the daemon's
    pid is read from its first log line."""

    def __init__(self, tmp_path, env, stderr=subprocess.PIPE, extra=""):
        self.mnt = tmp_path / "mnt"
        self.mnt.mkdir()
        self.state = tmp_path / "state"
        subprocess.run(["cp", "-r", DEMO_STORE, str(self.state)], check=True)
        self.r = subprocess.run([BIN, "-o", "state=%s,registry_check=off%s" % (self.state, extra),
                                 str(self.mnt)], stderr=stderr, text=True, timeout=30,
                                stdin=subprocess.DEVNULL, env=env)
        self.pid = None

    def check_log(self, path):
        """path starts with the mount's line, and gets a refused write's.
        The daemon logs its mount after the starter returned: wait."""
        got = wait_until(lambda: lines(path))
        assert got[0][1] == "info" and got[0][3].startswith("mounted %s on " % self.state)
        self.pid = int(got[0][2])
        refuse_a_write(str(self.mnt))
        assert wait_until(lambda: ("warning", str(self.pid), REFUSED)
                          in [l[1:] for l in lines(path)])

    def stop(self):
        subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], capture_output=True)
        if self.pid:
            assert wait_until(lambda: not os.path.exists("/proc/%d" % self.pid), timeout=10)


@pytest.mark.skipif(syslog_listens(), reason="a syslog daemon listens on /dev/log here")
def test_no_syslog_socket_falls_back_to_the_state_directory(tmp_path):
    xdg = tmp_path / "xdg-state"
    env = dict(os.environ, XDG_STATE_HOME=str(xdg))
    d = Daemon(tmp_path, env)
    logfile = xdg / "deployfs" / "deployfs.log"
    try:
        assert d.r.returncode == 0, d.r.stderr
        assert d.r.stderr == ("deployfs: no syslog socket (/dev/log): the log goes to %s "
                              "(-o log=FILE to choose)\n" % logfile)
        assert stat.S_IMODE(os.stat(logfile).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(logfile.parent).st_mode) == 0o700
        d.check_log(logfile)
    finally:
        d.stop()


@pytest.mark.skipif(syslog_listens(), reason="a syslog daemon listens on /dev/log here")
def test_no_syslog_socket_keeps_stderr_redirected_to_a_file(tmp_path):
    err = tmp_path / "stderr.log"
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "unused"))
    with open(err, "ab") as f:
        d = Daemon(tmp_path, env, stderr=f)
    try:
        assert d.r.returncode == 0
        d.check_log(err)
        assert not (tmp_path / "unused").exists()
    finally:
        d.stop()


@pytest.mark.skipif(syslog_listens(), reason="a syslog daemon listens on /dev/log here")
def test_a_refused_mount_says_only_why(tmp_path):
    """Where the log would have gone is said once the mount is in place;
    a mount refused prints its one line and nothing else."""
    typo = tmp_path / "no-such-store"
    (tmp_path / "mnt").mkdir()
    r = subprocess.run([BIN, "-o", "state=%s" % typo, str(tmp_path / "mnt")],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "xdg")))
    assert r.returncode == 1
    assert r.stderr == ("deployfs: store %s does not exist; create it (mkdir -m 0700 %s) or "
                        "leave state= out for the default store\n" % (typo, typo))
