"""Registries on the local store (README, "Registries"): mkdir creates
one, its values land in registries/<id>.json (0600, in a 0700 store), and
its secrets are never readable through the mount.
"""
import errno
import os
import re
import stat

from conftest import WEB, oserror, read, sh, write_fd


def registry_docs(mount):
    return {k: v for k, v in mount.store_snapshot().items() if k.startswith("registries/")}


def new_id(mount, before):
    (name,) = set(mount.store_files("registries")) - set(before)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json",
                        name)
    return name[:-5]


def test_mkdir_creates_a_document(mount):
    regs = mount.path("registries")
    files = mount.store_files("registries")
    os.mkdir(os.path.join(regs, "hub"))
    rid = new_id(mount, files)
    assert mount.doc("registries", rid) == {"id": rid, "name": "hub"}
    path = os.path.join(mount.state, "registries", rid + ".json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(mount.state).st_mode) == 0o700
    assert sorted(os.listdir(regs)) == ["acme", "hub"]
    hub = os.path.join(regs, "hub")
    assert sorted(os.listdir(hub)) == ["error", "id", "password", "token", "url", "username"]
    assert read(os.path.join(hub, "id")) == rid + "\n"
    assert read(os.path.join(hub, "url")) == ""
    assert os.stat(os.path.join(hub, "url")).st_size == 0
    assert read(os.path.join(hub, "username")) == ""
    assert read(os.path.join(hub, "error")) == ""


def test_values_land_in_the_document(mount):
    regs = mount.path("registries")
    files = mount.store_files("registries")
    os.mkdir(os.path.join(regs, "hub"))
    rid = new_id(mount, files)
    hub = os.path.join(regs, "hub")
    steps = [("url", "registry.example.com:5000"), ("username", "bob"),
             ("password", "pw-Secret-1"), ("token", "tk-Secret-2")]
    want = {"id": rid, "name": "hub"}
    for i, (f, v) in enumerate(steps):
        assert sh("echo %s > %s" % (v, f), cwd=hub).returncode == 0
        want[f] = v
        want["version"] = i + 1
        assert mount.doc("registries", rid) == want
    assert read(os.path.join(hub, "url")) == "registry.example.com:5000\n"
    assert read(os.path.join(hub, "username")) == "bob\n"
    for f in ("password", "token"):
        p = os.path.join(hub, f)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o200
        assert os.stat(p).st_size == 0
        assert oserror(os.open, p, os.O_RDONLY) == errno.EACCES
    # an empty value removes the key
    assert sh("echo > token; : > username", cwd=hub).returncode == 0
    del want["token"], want["username"]
    want["version"] += 2
    assert mount.doc("registries", rid) == want
    assert read(os.path.join(hub, "username")) == ""
    assert stat.S_IMODE(os.stat(os.path.join(mount.state, "registries", rid + ".json")).st_mode) \
        == 0o600
    # the app can use it by name now
    assert sh("echo hub > registry", cwd=mount.app()).returncode == 0
    assert mount.doc("apps", WEB)["source"]["containerRegistryConfigIdRef"] == rid
    assert "pw-Secret-1" not in mount.log()
    assert sh("grep -r -a pw-Secret-1 %s" % mount.mnt).stdout == ""


def test_bad_registry_values(mount):
    acme = mount.path("registries", "acme")
    before = mount.store_snapshot()
    assert read(os.path.join(acme, "error")) == ""
    assert write_fd(os.path.join(acme, "url"), b"a b\n") == ["EINVAL", 0]
    assert read(os.path.join(acme, "error")) == ('url "a b": a registry address such as '
                                                 "registry.example.com, host:5000 or https://host/\n")
    assert write_fd(os.path.join(acme, "username"), b"x" * 2049 + b"\n") == ["EINVAL", 0]
    assert read(os.path.join(acme, "error")) == \
        'username "%s...": at most 2048 characters (this one has 2049)\n' % ("x" * 64)
    assert write_fd(os.path.join(acme, "password"), b"p" * 4097) == ["EFBIG", 0]
    assert read(os.path.join(acme, "error")) == "password: a value holds at most 4096 bytes\n"
    assert mount.store_snapshot() == before


def test_mkdir_refusals(mount):
    regs = mount.path("registries")
    before = mount.store_snapshot()
    assert oserror(os.mkdir, os.path.join(regs, "acme")) == errno.EEXIST
    assert oserror(os.mkdir, os.path.join(regs, "a\x01b")) == errno.EINVAL
    assert oserror(os.mkdir, os.path.join(regs, "x\nforged line")) == errno.EINVAL
    # objects are made in their folders only (README, "Making and deleting objects")
    assert oserror(os.mkdir, mount.path("environments", "prod", "new")) == errno.EACCES
    assert oserror(os.mkdir, mount.path("environments", "prod", "apps", "web", "new")) == \
        errno.EACCES
    assert oserror(os.mkdir, mount.path("images", "new")) == errno.EACCES
    assert oserror(os.mkdir, mount.path("registries", "acme", "sub")) == errno.EACCES
    assert mount.store_snapshot() == before
    assert sorted(os.listdir(regs)) == ["acme"]
    # the log quotes a refused name; it never starts a line of its own
    assert not any(l.startswith("forged line") for l in mount.log().splitlines())
    assert 'registry name "x\\x0aforged line": control characters are not allowed' in mount.log()


def test_rmdir_removes_the_document(mount):
    regs = mount.path("registries")
    files = mount.store_files("registries")
    os.mkdir(os.path.join(regs, "tmp-reg"))
    rid = new_id(mount, files)
    os.rmdir(os.path.join(regs, "tmp-reg"))
    assert mount.store_files("registries") == files
    assert sorted(os.listdir(regs)) == ["acme"]
    assert oserror(os.stat, os.path.join(regs, "tmp-reg")) == errno.ENOENT
    assert oserror(os.rmdir, os.path.join(regs, "nope")) == errno.ENOENT
    assert not os.path.exists(os.path.join(mount.state, "registries", rid + ".json"))


def test_fresh_store_modes(make_mount, tmp_path):
    # an explicit state= must exist (only the default store is made): empty here
    os.makedirs(str(tmp_path / "fresh" / "state"), mode=0o755)
    m = make_mount(store=None, sub="fresh")
    assert stat.S_IMODE(os.stat(m.state).st_mode) == 0o700
    for kind in ("apps", "environments", "images", "registries", ".lock"):
        assert stat.S_IMODE(os.stat(os.path.join(m.state, kind)).st_mode) == 0o700, kind
    assert os.listdir(m.path("registries")) == []
    assert os.listdir(m.path("environments")) == []
    os.mkdir(m.path("registries", "first"))
    (name,) = m.store_files("registries")
    assert stat.S_IMODE(os.stat(os.path.join(m.state, "registries", name)).st_mode) == 0o600
    assert os.listdir(m.path("registries")) == ["first"]
