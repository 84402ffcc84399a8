"""contrib/deployfs@.service: installed by make install, checked by
systemd-analyze verify, and the readiness its Type=forking relies on."""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import BIN, DEMO_STORE, TOP, read, wait_until


def make(*args):
    return subprocess.run(["make", "-s", "-C", TOP] + list(args), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
@pytest.mark.parametrize("prefix", ["/usr/local", "/usr"])
def test_unit_installed_and_verified(tmp_path, prefix):
    dest = tmp_path / "stage"
    r = make("install", "DESTDIR=%s" % dest, "PREFIX=%s" % prefix)
    assert r.returncode == 0, r.stderr
    unitdir = dest / prefix.lstrip("/") / "lib/systemd/system"
    unit = (unitdir / "deployfs@.service").read_text()
    assert "ExecStart=%s/bin/deployfs -o " % prefix in unit
    assert "Type=forking" in unit and "Restart=on-failure" in unit
    # verify an instance with the binary it names pointing at this build
    # (systemd-analyze checks that it exists), and the man page it cites
    # found in the stage
    units = tmp_path / "units"
    units.mkdir()
    (units / "deployfs@.service").write_text(
        unit.replace("%s/bin/deployfs" % prefix, BIN))
    env = dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % units,
               MANPATH=str(dest / prefix.lstrip("/") / "share/man"))
    for name in ("deployfs@srv-deploy.service", "deployfs@.service"):
        r = subprocess.run(["systemd-analyze", "verify", str(units / name)],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stderr == "", r.stderr


def test_daemon_returns_once_mounted(tmp_path):
    """Type=forking is right: deployfs without -f returns only after the
    mount is in place, and the daemon it leaves stops cleanly on SIGTERM."""
    state = tmp_path / "state"
    shutil.copytree(DEMO_STORE, state)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    parent = os.stat(tmp_path).st_dev
    r = subprocess.run([BIN, "-o", "state=%s,registry_check=off" % state, str(mnt)],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    try:
        assert r.returncode == 0, r.stderr
        assert os.stat(mnt).st_dev != parent      # mounted when the starter returned
        assert read(mnt / "environments/prod/apps/web/tag") == "1.25-alpine\n"
        out = subprocess.run(["pgrep", "-f", "^%s -o state=%s" % (BIN, state)],
                             capture_output=True, text=True).stdout.split()
        assert len(out) == 1, out
        os.kill(int(out[0]), signal.SIGTERM)
        assert wait_until(lambda: os.stat(mnt).st_dev == parent, timeout=10)
        assert wait_until(lambda: not os.path.exists("/proc/%s" % out[0]) or
                          "zombie" in open("/proc/%s/status" % out[0]).read(), timeout=10)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
