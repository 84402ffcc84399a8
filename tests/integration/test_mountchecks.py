"""What deployfs checks and shows at mount time: a mount point that is
already a FUSE mount, a state= that does not exist, the source and type
findmnt shows, fstab through util-linux mount -T, -o ro, --help."""
import errno
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, TOP, Mount, check_sanitizers, oserror, read, wait_until


def mounted(path):
    return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev


def run(*args, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env=env)


def findmnt(path, cols="SOURCE,FSTYPE"):
    r = subprocess.run(["findmnt", "-n", "-o", cols, "--raw", "--mountpoint", path],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.split()


@pytest.mark.parametrize("subtype", ["deployfs", "otherfs"])
def test_mount_on_a_fuse_mount_is_refused(tmp_path, subtype):
    """A second mount on a live deployfs (or any fuse.* filesystem) used to
    stack on it; it is refused with one line and the first keeps serving."""
    first = Mount(tmp_path, options="registry_check=off,subtype=" + subtype).start()
    try:
        assert findmnt(first.mnt)[1] == "fuse." + subtype
        r = run("-f", "-o", "state=%s,registry_check=off" % first.state, first.mnt)
        assert r.returncode == 1
        assert r.stderr == ("deployfs: %s: already a FUSE mount (fuse.%s); unmount it first: "
                            "fusermount3 -u %s\n" % (first.mnt, subtype, first.mnt))
        # one mount there, still the first daemon's
        with open("/proc/self/mountinfo") as f:
            assert [l for l in f if (" %s " % first.mnt) in l].__len__() == 1
        assert read(first.app("tag")) == "1.25-alpine\n"
    finally:
        assert first.stop() == 0
    check_sanitizers([first])


def test_missing_state_is_refused(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    typo = tmp_path / "stte"
    r = run("-f", "-o", "state=%s" % typo, str(mnt))
    assert r.returncode == 1
    assert r.stderr == ("deployfs: store %s does not exist; create it (mkdir -m 0700 %s) or "
                        "leave state= out for the default store\n" % (typo, typo))
    assert not typo.exists()
    assert not mounted(str(mnt))
    # mount(8)'s source is the same explicit store
    r = run("-f", str(typo), str(mnt))
    assert r.returncode == 1 and "store %s does not exist" % typo in r.stderr
    assert not typo.exists()


def test_default_store_is_created(tmp_path):
    xdg = tmp_path / "xdg" / "data"
    env = dict(os.environ, XDG_DATA_HOME=str(xdg))
    m = Mount(tmp_path, options="registry_check=off", env=env)
    m.cmd = [BIN, "-f", "-o", "registry_check=off", m.mnt]
    m.start()
    try:
        assert {"environments", "images", "registries"} <= set(os.listdir(m.mnt))
        assert (xdg / "deployfs" / "apps").is_dir()
        assert findmnt(m.mnt) == [str(xdg / "deployfs"), "fuse.deployfs"]
    finally:
        assert m.stop() == 0


def test_findmnt_shows_the_store(tmp_path):
    m = Mount(tmp_path).start()
    try:
        assert findmnt(m.mnt) == [m.state, "fuse.deployfs"]
    finally:
        m.stop()
    # a relative state= is shown absolute; fsname= given wins
    m = Mount(tmp_path / "b")
    m.cmd = [BIN, "-f", "-o", "state=%s,registry_check=off,fsname=my\\,store" %
             os.path.relpath(m.state), m.mnt]
    m.start()
    try:
        assert findmnt(m.mnt) == ["my,store", "fuse.deployfs"]
    finally:
        m.stop()


def test_fstab_through_mount_T(tmp_path):
    """util-linux mount -T with a fstab of the test's own: mount.fuse3 runs
    the daemon (by path here: PROG#SOURCE, the installed one is found by
    name), noauto, _netdev and x-systemd.* pass through harmlessly, the
    source is the store, and a second mount is refused."""
    m = Mount(tmp_path)          # only for its store copy and mount point
    fstab = tmp_path / "fstab"
    fstab.write_text("%s#%s %s fuse registry_check=off,noauto,_netdev,"
                     "x-systemd.requires=network-online.target,x-systemd.automount 0 0\n"
                     % (BIN, m.state, m.mnt))
    try:
        r = subprocess.run(["mount", "-T", str(fstab), m.mnt], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert mounted(m.mnt)
        assert findmnt(m.mnt) == [m.state, "fuse.deployfs"]
        assert read(m.app("tag")) == "1.25-alpine\n"
        r = subprocess.run(["mount", "-T", str(fstab), m.mnt], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode != 0
        assert "already a FUSE mount (fuse.deployfs)" in r.stderr
    finally:
        subprocess.run(["umount", m.mnt], capture_output=True)
    assert wait_until(lambda: not mounted(m.mnt))


def test_ro_mount(tmp_path):
    m = Mount(tmp_path, options="registry_check=off,ro").start()
    try:
        assert read(m.app("tag")) == "1.25-alpine\n"
        assert oserror(os.open, m.app("tag"), os.O_WRONLY | os.O_TRUNC) == errno.EROFS
        assert oserror(os.mkdir, m.path("registries", "x")) == errno.EROFS
        assert "ro" in findmnt(m.mnt, "OPTIONS")[0].split(",")
    finally:
        assert m.stop() == 0
    check_sanitizers([m])


def test_help_lists_each_option_once():
    r = run("--help")
    assert r.returncode == 0 and r.stderr == ""
    names = re.findall(r"^    (-\w|--?\w[\w-]*|[a-z_]+)(?=[ =,\n])", r.stdout, re.M)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for opt in ("state", "registry_check", "registry_mirror", "insecure_registry", "cacert",
                "timeout", "api", "api_token_file", "company", "glance", "glance_token_file",
                "poll", "max_threads", "max_idle_threads", "clone_fd", "allow_other",
                "allow_root", "auto_unmount", "ro", "fsname", "subtype", "log", "-f", "-d", "-s",
                "-h", "-V"):
        assert opt in names, opt
    # every option line says its default
    body = r.stdout.split("Options")[1].split("Flags:")[0]
    entries = re.split(r"\n    (?=\S)", body)[1:]
    for e in entries:
        assert "default" in e, e
    assert "(default 64)" in r.stdout
    assert ("Logs: to log=FILE when given; else with -f or -d to stderr; otherwise to\n"
            "syslog") in r.stdout
    assert "~/.local/state/deployfs/deployfs.log" in r.stdout
    assert "journalctl -t deployfs" in r.stdout


@pytest.mark.skipif(not shutil.which("unshare"), reason="util-linux unshare is not installed")
def test_fstab_finds_the_binary_make_install_put_in_usr_local(tmp_path):
    """After `make install` with the default PREFIX, a fstab line of type
    fuse.deployfs works: mount(8) runs mount.fuse3 with its own PATH, which
    has /usr/local/bin. The install goes to a DESTDIR, bind-mounted on
    /usr/local/bin in a private mount namespace: the machine's own
    /usr/local is never touched, and the mount stays in that namespace."""
    stage = tmp_path / "stage"
    r = subprocess.run(["make", "-s", "-C", TOP, "install", "DESTDIR=%s" % stage],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    m = Mount(tmp_path)          # only for its store copy and mount point
    fstab = tmp_path / "fstab"
    fstab.write_text("%s %s fuse.deployfs registry_check=off,noauto,_netdev,"
                     "x-systemd.automount,x-systemd.mount-timeout=30 0 0\n" % (m.state, m.mnt))
    script = """set -e
mount --bind "$1/usr/local/bin" /usr/local/bin
PATH=/usr/bin:/bin mount -T "$2" "$3"
findmnt -n -o SOURCE,FSTYPE --raw --mountpoint "$3"
cat "$3/environments/prod/apps/web/tag"
umount "$3"
"""
    out = tmp_path / "out"
    with open(out, "w") as f:   # a file, never a pipe the daemon would hold
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            script, "sh", str(stage), str(fstab), m.mnt],
                           stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=60)
    text = out.read_text()
    assert r.returncode == 0, text
    lines = [l for l in text.splitlines() if not l.startswith("20")]   # not log lines
    assert lines == ["%s fuse.deployfs" % m.state, "1.25-alpine"], text
    assert not mounted(m.mnt)
