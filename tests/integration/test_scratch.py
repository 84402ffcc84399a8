"""Scratch files (README, "Writing values"): the files editors and tools create
beside a value file live in memory only, 64 a directory, under the
measured names; any other new name is refused.
"""
import errno
import os

import pytest

from conftest import oserror, read, sh

SCRATCH = [".tag.swp", ".tag.swx", "tag~", "#tag#", ".#tag", "4913", "sedAb12Cd", "XXab12cd",
           "tmpab12cd34"]
APP_FILES = ["app.json", "created_by", "digest", "drift", "error", "history", "history.json",
             "hostname", "id", "image", "modified_by", "name", "port", "ref", "registry",
             "resources", "rollback", "tag", "version"]
NOT_SCRATCH = ["foo", "tag.bak", "sedabc", "sedabcdefg", "XXabc", "tmpabc", "tmpabcdefghi",
               "4914", "#tag", "~"]


def dirs(mount):
    """Directories that take scratch files."""
    return {
        "app": mount.app(),
        "image": mount.image(),
        "properties": mount.image("properties"),
        "registry": mount.path("registries", "acme"),
    }


def create(path, data=b"", flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL):
    fd = os.open(path, flags, 0o600)
    try:
        if data:
            os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize("where", ["app", "image", "properties", "registry"])
def test_scratch_names_live_in_memory(mount, where):
    d = dirs(mount)[where]
    before_store = {k: mount.store_files(k) for k in ("apps", "images", "registries")}
    before = mount.store_snapshot()
    listing = sorted(os.listdir(d))
    for i, name in enumerate(SCRATCH):
        data = ("scratch %d\n" % i).encode() * (i + 1)
        create(os.path.join(d, name), data)
        assert read(os.path.join(d, name)) == data.decode()
        assert os.stat(os.path.join(d, name)).st_size == len(data)
    assert sorted(os.listdir(d)) == sorted(listing + SCRATCH)
    assert mount.store_snapshot() == before
    assert {k: mount.store_files(k) for k in before_store} == before_store
    # rewrite, append, truncate: ordinary files
    p = os.path.join(d, SCRATCH[0])
    with open(p, "w") as f:
        f.write("one\n")
    with open(p, "a") as f:
        f.write("two\n")
    assert read(p) == "one\ntwo\n"
    os.truncate(p, 4)
    assert read(p) == "one\n"
    # scratch to scratch rename, unlink
    os.rename(os.path.join(d, "4913"), os.path.join(d, "tag~"))
    assert read(os.path.join(d, "tag~")) == "scratch 5\n" * 6
    for name in SCRATCH:
        if name != "4913":
            os.unlink(os.path.join(d, name))
    assert sorted(os.listdir(d)) == listing
    assert mount.store_snapshot() == before


def test_scratch_files_do_not_survive_the_mount(mount, make_mount):
    create(mount.app(".tag.swp"), b"swap\n")
    create(mount.app("tag~"), b"backup\n")
    before = mount.store_snapshot()
    assert mount.stop() == 0
    m2 = make_mount(state=mount.state, sub="again")   # a new daemon on the same store
    assert sorted(os.listdir(m2.app())) == APP_FILES
    assert m2.store_snapshot() == before


def test_emacs_lock_symlink(mount):
    os.symlink("user@host.1234:1", mount.app(".#tag"))
    assert os.readlink(mount.app(".#tag")) == "user@host.1234:1"
    assert oserror(os.open, mount.app(".#tag"), os.O_RDONLY) == errno.ENOENT   # dangling
    assert oserror(os.open, mount.app(".#tag"), os.O_RDONLY | os.O_NOFOLLOW) == errno.ELOOP
    assert os.lstat(mount.app(".#tag")).st_size == len("user@host.1234:1")
    assert oserror(os.symlink, "x", mount.app(".#tag")) == errno.EEXIST
    assert oserror(os.symlink, "x", mount.app("link")) == errno.EACCES
    os.unlink(mount.app(".#tag"))
    assert ".#tag" not in os.listdir(mount.app())


@pytest.mark.parametrize("name", NOT_SCRATCH)
def test_other_names_are_refused(mount, name):
    before = mount.store_snapshot()
    for d in dirs(mount).values():
        if os.path.basename(d) == "properties":
            continue   # there a new name is a new property
        assert oserror(create, os.path.join(d, name)) == errno.EACCES, (d, name)
        assert name not in os.listdir(d)
    assert mount.store_snapshot() == before


@pytest.mark.parametrize("parts", [(), ("environments",), ("environments", "prod"),
                                   ("environments", "prod", "apps"),
                                   ("environments", "prod", "apps", "web", "resources"),
                                   ("images",), ("images", "by-name"), ("registries",),
                                   (".deployfs",)])
def test_no_scratch_where_no_value_is_written(mount, parts):
    d = mount.path(*parts)
    for name in (".x.swp", "x~", "foo"):
        assert oserror(create, os.path.join(d, name)) == errno.EACCES, (d, name)
    assert oserror(os.mkdir, mount.app("newdir")) == errno.EACCES


def test_64_scratch_files_a_directory(mount):
    d = mount.app()
    for i in range(64):
        create(os.path.join(d, ".s%02d.swp" % i), b"x")
    assert oserror(create, os.path.join(d, ".s64.swp")) == errno.ENOSPC
    assert oserror(os.symlink, "x", os.path.join(d, ".#s64")) == errno.ENOSPC
    r = sh("echo x > tag~", cwd=d)
    assert r.returncode == 1 and "No space left on device" in r.stderr
    # another directory has its own 64
    create(mount.app(".x.swp", app="api"), b"x")
    create(mount.image(".x.swp"), b"x")
    # values still write: they are no scratch files
    assert sh("echo 1.26 > tag", cwd=d).returncode == 0
    os.unlink(os.path.join(d, ".s00.swp"))
    create(os.path.join(d, ".s64.swp"), b"x")
    assert len([n for n in os.listdir(d) if n.startswith(".s")]) == 64


def test_scratch_size_limit(mount):
    p = mount.app(".big.swp")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
    assert os.pwrite(fd, b"x", (1 << 20) - 1) == 1
    assert oserror(os.pwrite, fd, b"xy", (1 << 20) - 1) == errno.EFBIG
    os.close(fd)
    assert os.stat(p).st_size == 1 << 20


def test_scratch_renamed_over_a_value_is_a_write(mount):
    before = mount.doc("apps", "550e8400-e29b-41d4-a716-446655440000")
    create(mount.app("tmpab12cd34"), b"1.27\n")
    os.rename(mount.app("tmpab12cd34"), mount.app("tag"))
    after = mount.doc("apps", "550e8400-e29b-41d4-a716-446655440000")
    assert after["source"]["image"]["tag"] == "1.27"
    assert after["version"] == before["version"] + 1
    assert "tmpab12cd34" not in os.listdir(mount.app())
    assert read(mount.app("tag")) == "1.27\n"


def test_rename_rules(mount):
    before = mount.store_snapshot()
    create(mount.app(".a.swp"), b"1.27\n")
    # to a name that is neither scratch nor a value
    assert oserror(os.rename, mount.app(".a.swp"), mount.app("other")) == errno.EPERM
    # to another directory
    assert oserror(os.rename, mount.app(".a.swp"), mount.image(".a.swp")) == errno.EXDEV
    # over a read-only file
    assert oserror(os.rename, mount.app(".a.swp"), mount.app("version")) == errno.EACCES
    # a read-only file to a scratch name
    assert oserror(os.rename, mount.app("version"), mount.app("version~")) == errno.EACCES
    # a directory
    assert oserror(os.rename, mount.app("resources"), mount.app("resources~")) == errno.EPERM
    assert mount.store_snapshot() == before
    assert sorted(os.listdir(mount.app())) == sorted(APP_FILES + [".a.swp"])


def test_value_files_cannot_be_unlinked(mount):
    before = mount.store_snapshot()
    for f in ("tag", "version", "image"):
        assert oserror(os.unlink, mount.app(f)) == errno.EPERM
    assert oserror(os.rmdir, mount.app("resources")) == errno.EACCES
    assert oserror(os.unlink, mount.app("nothing")) == errno.ENOENT
    assert mount.store_snapshot() == before


def test_scratch_data_of_the_whole_mount_is_bounded(mount):
    """64 MiB of scratch data in all, whatever the number of directories
    (README, Writing values): the daemon's memory stays bounded."""
    mib = b"x" * (1 << 20)
    made = []
    for i in range(64):
        d = mount.app() if i % 2 else mount.app(app="api")
        path = os.path.join(d, ".big%02d.swp" % i)
        create(path, mib)
        made.append(path)
    # the 65th MiB, in a third directory, is refused; so is any growth
    fd = os.open(mount.image(".x.swp"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        assert oserror(os.write, fd, b"y") == errno.ENOSPC
    finally:
        os.close(fd)
    # shrinking gives memory back: a truncated file makes room again
    os.truncate(made[0], 0)
    create(mount.image(".y.swp"), mib)
    assert os.path.getsize(mount.image(".y.swp")) == 1 << 20
    # and values still write: they are no scratch files
    assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
    assert read(mount.app("tag")) == "1.26\n"
