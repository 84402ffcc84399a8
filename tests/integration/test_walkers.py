"""Tree walkers over the whole mount finish: .deployfs (whose events file
blocks readers) is reachable by its path but listed nowhere."""
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from conftest import sh, wait_until, write_fd

# the files every walker is refused, as any reader is: write-only secrets
SECRETS = ("registries/acme/password", "registries/acme/token")

WALKERS = {
    "cp": "cp -r {mnt} {out}/cp",
    "cp-a": "cp -a {mnt}/. {out}/cpa",
    "tar": "tar -cf {out}/t.tar -C {mnt} .",
    "grep": "grep -r nginx {mnt}",
    "find-exec-cat": "find {mnt} -exec cat {{}} \\;",
    "find-exec-cat-plus": "find {mnt} -type f -exec cat {{}} +",
    "rsync": "rsync -a {mnt}/ {out}/rs/",
    "du": "du -a {mnt}",
    "ls-R": "ls -laR {mnt}",
}


@pytest.mark.parametrize("tool", sorted(WALKERS))
def test_walker_finishes(mount, tmp_path, tool):
    if tool == "rsync" and not shutil.which("rsync"):
        pytest.skip("rsync is not installed (contrib/install-deps.sh installs it)")
    out = tmp_path / "out"
    out.mkdir()
    # an events reader open meanwhile changes nothing
    ev = os.open(mount.path(".deployfs", "events"), os.O_RDONLY)
    try:
        t0 = time.monotonic()
        r = sh(WALKERS[tool].format(mnt=mount.mnt, out=out), timeout=20)
        took = time.monotonic() - t0
    finally:
        os.close(ev)
    assert took < 10
    assert ".deployfs" not in r.stdout + r.stderr
    # the only complaints are the write-only secrets (cat of a directory:
    # find -exec cat names each directory)
    for line in r.stderr.splitlines():
        assert any(s in line for s in SECRETS) or "Is a directory" in line or \
            "rsync error: some files" in line or "Exiting with failure" in line, line
    if tool == "cp":
        assert (out / "cp" / "environments" / "prod" / "apps" / "web" / "tag").read_text() \
            == "1.25-alpine\n"
        assert not (out / "cp" / ".deployfs").exists()
    if tool == "tar":
        names = sh("tar -tf %s/t.tar" % out).stdout.split()
        assert "./environments/prod/apps/web/tag" in names
        assert not [n for n in names if ".deployfs" in n]
    if tool == "grep":
        assert "%s/environments/prod/apps/web/image:nginx" % mount.mnt in r.stdout


def test_walkers_never_open_deployfs(mount, tmp_path):
    """What the tools really do (strace): none of them opens or stats
    anything under .deployfs."""
    trace = tmp_path / "trace"
    r = sh("strace -f -qq -e trace=%%file,getdents64 -o %s bash -c "
           "'cp -r %s %s/cp; tar -cf /dev/null -C %s .; grep -rq nothing-here %s; "
           "find %s -type f -exec cat {} + >/dev/null'"
           % (trace, mount.mnt, tmp_path, mount.mnt, mount.mnt, mount.mnt), timeout=30)
    assert r.returncode in (0, 1), r.stderr
    text = trace.read_text()
    assert "environments/prod/apps/web/tag" in text
    assert ".deployfs" not in text


def test_deployfs_reachable_by_path(mount):
    assert ".deployfs" not in os.listdir(mount.mnt)
    assert sorted(os.listdir(mount.path(".deployfs"))) == ["events", "version"]
    assert os.path.isdir(mount.path(".deployfs"))
    with open(mount.path(".deployfs", "version")) as f:
        assert f.read().startswith("deployfs ")
    # cat of the documented path still streams changes
    p = subprocess.Popen(["cat", mount.path(".deployfs", "events")], stdout=subprocess.PIPE)
    try:
        # the reader is registered once its open returned: retry the write
        # until a line arrives
        line = b""
        deadline = time.monotonic() + 10
        i = 0
        while not line and time.monotonic() < deadline:
            i += 1
            assert write_fd(mount.app("tag"), b"w%d\n" % i) == [len(b"w%d\n" % i), 0]
            if select.select([p.stdout], [], [], 0.5)[0]:
                line = p.stdout.readline()
        ev = json.loads(line)
        assert ev["path"] == "environments/prod/apps/web/tag" and ev["origin"] == "mount"
    finally:
        p.kill()
        p.wait()
