"""The mounted tree on the demo store: what a user sees first."""
import errno
import os
import time

import pytest

from conftest import DEBIAN, PROD, WEB, read, sh


def test_tree_top(mount):
    assert sorted(os.listdir(mount.mnt)) == ["environments", "images", "registries"]
    assert sorted(os.listdir(mount.path("environments"))) == ["prod", "staging"]


def test_app_values(mount):
    assert read(mount.app("image")) == "nginx\n"
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("ref")) == "nginx:1.25-alpine\n"
    assert read(mount.app("registry")) == ""
    assert os.stat(mount.app("registry")).st_size == 0
    assert read(mount.app("id")) == WEB + "\n"
    assert read(mount.app("resources", "cpu")) == "1000\n"
    assert read(mount.path("environments", "prod", "id")) == PROD + "\n"


def test_echo_tag_commits_once(mount):
    before = mount.doc("apps", WEB)
    r = sh("echo 1.26-alpine > tag", cwd=mount.app())
    assert r.returncode == 0, r.stderr
    after = mount.doc("apps", WEB)
    assert after["source"]["image"] == {"name": "nginx", "tag": "1.26-alpine"}
    assert after["version"] == before["version"] + 1
    assert read(mount.app("tag")) == "1.26-alpine\n"
    assert read(mount.app("ref")) == "nginx:1.26-alpine\n"
    assert read(mount.app("error")) == ""


def test_bad_tag_is_refused_and_changes_nothing(mount):
    before = mount.store_snapshot()
    r = sh('echo "v2 beta" > tag', cwd=mount.app())
    assert r.returncode == 1
    assert "Invalid argument" in r.stderr
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == \
        'tag "v2 beta": tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\n'
    assert 'tag "v2 beta": tags are' in mount.log()


def test_read_only_file_is_eacces_for_root(mount):
    with pytest.raises(PermissionError) as e:
        open(mount.app("version"), "w")
    assert e.value.errno == errno.EACCES


def test_mount_t_fuse_deployfs(tmp_path):
    """mount -t fuse.deployfs runs mount.fuse3 (with a PATH of its own, so
    this runs that helper directly), which runs `deployfs STORE MNT -o ...`
    from PATH: the store is the source."""
    import shutil
    import subprocess
    from conftest import BIN, DEMO_STORE, umount, wait_for_mount
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "deployfs").symlink_to(BIN)
    state, mnt = tmp_path / "state", tmp_path / "mnt"
    shutil.copytree(DEMO_STORE, state)
    mnt.mkdir()
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ.get("PATH", "")))
    # the daemon outlives the helper: its output goes to a file, never to a
    # pipe this test would wait on
    errlog = tmp_path / "mount.log"
    with open(errlog, "w") as err:
        r = subprocess.run(["mount.fuse3", str(state), str(mnt), "-t", "deployfs", "-o",
                            "rw,noatime,registry_check=off"], env=env, stdout=err,
                           stderr=err, stdin=subprocess.DEVNULL, timeout=60)
    try:
        assert r.returncode == 0, errlog.read_text()
        assert read(os.path.join(mnt, "environments", "prod", "apps", "web", "ref")) == \
            "nginx:1.25-alpine\n"
        assert any(l.split()[1] == str(mnt) and l.split()[2] == "fuse.deployfs"
                   for l in open("/proc/mounts"))
        # the daemon went to the background: its threads must be there too
        # (a change made in the store shows up)
        import json
        from conftest import WEB
        doc_path = os.path.join(state, "apps", WEB + ".json")
        with open(doc_path) as f:
            doc = json.load(f)
        doc["source"]["image"]["tag"] = "from-the-store"
        with open(doc_path + ".new", "w") as f:
            json.dump(doc, f)
        os.rename(doc_path + ".new", doc_path)
        tag = os.path.join(mnt, "environments", "prod", "apps", "web", "tag")
        deadline = time.monotonic() + 10
        while read(tag) != "from-the-store\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read(tag) == "from-the-store\n"
    finally:
        # a plain unmount; where the echo cannot open a private copy of the
        # mount (valgrind has no open_tree), one that meets its write in
        # flight is EBUSY for that moment (README, "inotify")
        deadline = time.monotonic() + 10
        while subprocess.run(["fusermount3", "-u", str(mnt)]).returncode != 0 and \
                time.monotonic() < deadline:
            time.sleep(0.1)
    # and it exits once unmounted
    deadline = time.monotonic() + 20
    while daemons_of(mnt) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert daemons_of(mnt) == []


def daemons_of(mnt):
    """pids of processes whose command line names mnt."""
    pids = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if str(mnt).encode() in f.read().split(b"\0"):
                    pids.append(int(pid))
        except (OSError, ValueError):
            pass
    return pids
