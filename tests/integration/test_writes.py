"""Writing the value files of an app (README, "Writing values" and "Apps"): every
way a user writes a value makes exactly one change, a refused write changes
nothing and says why, read-only and write-only files hold.
"""
import copy
import errno
import json
import os

import pytest

from conftest import REGISTRY, WEB, WORKER, oserror, read, sh, write_fd

DIGEST = "sha256:" + "ab" * 32
WHOLE = "tag: write the whole value in one write (a second write or an append changes nothing)"
TAG_RULE = "tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


def with_image(doc, name=None, tag=None, registry=None, drop_registry=False):
    """doc after one change of its image: the version is one higher, and
    the writer (root, in these tests) is its modifiedBy."""
    d = copy.deepcopy(doc)
    if name is not None:
        d["source"]["image"]["name"] = name
    if tag is not None:
        d["source"]["image"]["tag"] = tag
    if registry is not None:
        d["source"]["containerRegistryConfigIdRef"] = registry
    if drop_registry:
        d["source"].pop("containerRegistryConfigIdRef")
    d["version"] += 1
    d["modifiedBy"] = "root"
    return d


def py_text(path, value):
    with open(path, "w") as f:
        f.write(value)


def py_replace_open(path, value):
    """os-level: O_TRUNC open, one write, close."""
    assert write_fd(path, value.encode()) == [len(value.encode()), 0]


# Each writer puts the tag 1.26-alpine into prod/web/tag.
WRITERS = {
    "echo": "echo 1.26-alpine > tag",
    "printf": "printf 1.26-alpine > tag",
    "printf-crlf": r"printf '1.26-alpine\r\n' > tag",
    "usr-bin-printf": "/usr/bin/printf 1.26-alpine > tag",
    "cat": "printf '1.26-alpine\\n' > ../f && cat ../f > tag",
    "tee": "echo 1.26-alpine | tee tag > /dev/null",
    "tee-no-newline": "printf 1.26-alpine | tee tag > /dev/null",
    "cp": "printf '1.26-alpine\\n' > ../f && cp ../f tag",
    "dd": "printf '1.26-alpine\\n' | dd of=tag status=none",
    "exec-fd": "exec 3> tag; echo 1.26-alpine >&3; exec 3>&-",
}


@pytest.mark.parametrize("cmd", WRITERS.values(), ids=list(WRITERS))
def test_shell_writers_make_one_change(mount, tmp_path, cmd):
    before = mount.store_snapshot()
    r = sh(cmd.replace("../f", str(tmp_path / "f")), cwd=mount.app())
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    after = mount.store_snapshot()
    want = copy.deepcopy(before)
    want["apps/%s.json" % WEB] = with_image(before["apps/%s.json" % WEB], tag="1.26-alpine")
    assert after == want
    assert read(mount.app("tag")) == "1.26-alpine\n"
    assert read(mount.app("ref")) == "nginx:1.26-alpine\n"
    assert read(mount.app("version")) == "3\n"
    assert read(mount.app("error")) == ""


@pytest.mark.parametrize("value", ["1.26-alpine\n", "1.26-alpine", "1.26-alpine\r\n"])
@pytest.mark.parametrize("how", [py_text, py_replace_open], ids=["stdio", "os"])
def test_python_writes_make_one_change(mount, how, value):
    before = mount.doc("apps", WEB)
    how(mount.app("tag"), value)
    assert mount.doc("apps", WEB) == with_image(before, tag="1.26-alpine")
    assert read(mount.app("tag")) == "1.26-alpine\n"


def test_only_one_newline_is_dropped(mount):
    before = mount.store_snapshot()
    assert write_fd(mount.app("tag"), b"1.26\n\n") == ["EINVAL", 0]
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == 'tag "1.26\\x0a": %s\n' % TAG_RULE


def test_every_file_reads_the_new_value_when_write_returns(mount):
    fd = os.open(mount.app("ref"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"redis:7.2\n")
    # the same open is not closed yet: every file already shows the change
    assert read(mount.app("image")) == "redis\n"
    assert read(mount.app("tag")) == "7.2\n"
    assert read(mount.app("version")) == "3\n"
    assert json.loads(read(mount.app("app.json")))["source"]["image"] == \
        {"name": "redis", "tag": "7.2"}
    assert os.stat(mount.app("tag")).st_size == 4
    os.close(fd)


def test_second_write_on_the_same_open_is_refused(mount):
    before = mount.doc("apps", WEB)
    r = sh("{ echo 1.26; echo 1.27; } > tag", cwd=mount.app())
    assert r.returncode == 1
    assert r.stderr == "bash: line 1: echo: write error: Invalid argument\n"
    # the first write was the value; the second changed nothing
    assert mount.doc("apps", WEB) == with_image(before, tag="1.26")
    assert read(mount.app("error")) == WHOLE + "\n"
    assert WHOLE in mount.log()


def test_second_os_write_is_refused(mount):
    before = mount.doc("apps", WEB)
    assert write_fd(mount.app("tag"), b"1.26\n", b"1.27\n", b"1.28\n") == \
        [5, "EINVAL", "EINVAL", 0]
    assert mount.doc("apps", WEB) == with_image(before, tag="1.26")
    assert read(mount.app("error")) == WHOLE + "\n"


def test_append_is_refused_and_changes_nothing(mount):
    before = mount.store_snapshot()
    r = sh("echo x >> tag", cwd=mount.app())
    assert r.returncode == 1
    assert r.stderr == "bash: line 1: echo: write error: Invalid argument\n"
    assert mount.store_snapshot() == before
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("error")) == WHOLE + "\n"
    assert write_fd(mount.app("tag"), b"x\n", flags=os.O_WRONLY | os.O_APPEND) == ["EINVAL", 0]
    assert mount.store_snapshot() == before


def test_write_after_a_refused_write_is_refused(mount):
    before = mount.store_snapshot()
    assert write_fd(mount.app("tag"), b"v2 beta\n", b"1.26\n") == ["EINVAL", "EINVAL", 0]
    assert mount.store_snapshot() == before
    # the error file keeps the reason of the refusal
    assert read(mount.app("error")) == 'tag "v2 beta": %s\n' % TAG_RULE


def test_bad_value_from_bash_fails_the_write(mount):
    before = mount.store_snapshot()
    for cmd in ('echo "v2 beta" > tag', 'printf "v2 beta" > tag', '/usr/bin/printf "v2 beta" > tag'):
        r = sh(cmd, cwd=mount.app())
        assert r.returncode == 1, cmd
        assert "Invalid argument" in r.stderr
        assert mount.store_snapshot() == before
        assert read(mount.app("error")) == 'tag "v2 beta": %s\n' % TAG_RULE


def test_error_is_empty_after_a_success(mount):
    sh('echo "v2 beta" > tag', cwd=mount.app())
    assert read(mount.app("error")) != ""
    assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
    assert read(mount.app("error")) == ""
    assert os.stat(mount.app("error")).st_size == 0


def test_value_over_4k_is_efbig(mount):
    before = mount.store_snapshot()
    line = "tag: a value holds at most 4096 bytes\n"
    assert write_fd(mount.app("tag"), b"a" * 4097) == ["EFBIG", 0]
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == line
    # cat and Python's buffered writer (which retries at close) see EFBIG too
    big = mount.tmp + "/big"
    with open(big, "w") as f:
        f.write("a" * 5000)
    r = sh("cat %s > tag" % big, cwd=mount.app())
    assert r.returncode == 1
    assert "File too large" in r.stderr
    with pytest.raises(OSError) as e:
        with open(mount.app("tag"), "w") as f:
            f.write("b" * 5000)
    assert e.value.errno == errno.EFBIG
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == line


def test_4k_with_its_newline_is_not_efbig(mount):
    # 4096 bytes and "\r\n" are within the limit: the tag grammar refuses it
    before = mount.store_snapshot()
    assert write_fd(mount.app("tag"), b"a" * 4096 + b"\r\n") == ["EINVAL", 0]
    assert read(mount.app("error")) == 'tag "%s...": %s\n' % ("a" * 96, TAG_RULE)
    assert mount.store_snapshot() == before


def test_tag_length_limit(mount):
    before = mount.doc("apps", WEB)
    assert write_fd(mount.app("tag"), b"t" * 129 + b"\n") == ["EINVAL", 0]
    assert mount.doc("apps", WEB) == before
    assert write_fd(mount.app("tag"), b"t" * 128 + b"\n") == [129, 0]
    assert mount.doc("apps", WEB) == with_image(before, tag="t" * 128)


READ_ONLY = [
    ("environments", "prod", "id"),
    ("environments", "prod", "name"),
    ("environments", "prod", "apps", "web", "id"),
    ("environments", "prod", "apps", "web", "name"),
    ("environments", "prod", "apps", "web", "hostname"),
    ("environments", "prod", "apps", "web", "port"),
    ("environments", "prod", "apps", "web", "version"),
    ("environments", "prod", "apps", "web", "created_by"),
    ("environments", "prod", "apps", "web", "modified_by"),
    ("environments", "prod", "apps", "web", "digest"),
    ("environments", "prod", "apps", "web", "app.json"),
    ("environments", "prod", "apps", "web", "error"),
    ("environments", "prod", "apps", "web", "resources", "cpu"),
    ("environments", "prod", "apps", "web", "resources", "memory"),
    ("environments", "prod", "apps", "web", "resources", "storage"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "id"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "status"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "checksum"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "size"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "updated_at"),
    ("images", "e7db3b45-8db7-47ad-8109-3fb55c2c24fd", "image.json"),
    ("registries", "acme", "id"),
    (".deployfs", "version"),
]


@pytest.mark.parametrize("parts", READ_ONLY, ids=["/".join(p[-2:]) for p in READ_ONLY])
def test_read_only_files_refuse_root(mount, parts):
    path = mount.path(*parts)
    assert os.geteuid() == 0
    before = mount.store_snapshot()
    content = read(path)
    st = os.stat(path)
    assert st.st_mode & 0o222 == 0
    assert oserror(os.open, path, os.O_WRONLY) == errno.EACCES
    assert oserror(os.open, path, os.O_RDWR) == errno.EACCES
    assert oserror(os.open, path, os.O_WRONLY | os.O_TRUNC) == errno.EACCES
    assert oserror(os.truncate, path, 0) == errno.EACCES
    assert not os.access(path, os.W_OK)
    r = sh("echo x > '%s'" % path)
    assert r.returncode == 1 and "Permission denied" in r.stderr
    assert read(path) == content
    assert mount.store_snapshot() == before


def test_digest_only_ref_is_refused(mount):
    before = mount.store_snapshot()
    r = sh("echo nginx@%s > ref" % DIGEST, cwd=mount.app())
    assert r.returncode == 1
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == (
        'ref "nginx@%s": a digest-only reference cannot be stored (apps store a name '
        "and a tag); write name:tag@digest to pin the tag to that digest\n" % DIGEST)


@pytest.mark.parametrize("value,name,tag", [
    ("redis:7.2", "redis", "7.2"),
    ("redis", "redis", "latest"),
    ("redis:7.2@" + DIGEST, "redis", "7.2"),
    ("ghcr.io/org/app:v1", "ghcr.io/org/app", "v1"),
    ("localhost:5000/x/y:2", "localhost:5000/x/y", "2"),
    ("docker.io/library/nginx:1.27", "docker.io/library/nginx", "1.27"),
])
def test_ref_values(mount, value, name, tag):
    before = mount.doc("apps", WEB)
    assert sh("echo %s > ref" % value, cwd=mount.app()).returncode == 0
    # the name is stored as written; a digest pins the check, never stored
    assert mount.doc("apps", WEB) == with_image(before, name=name, tag=tag)
    assert read(mount.app("ref")) == "%s:%s\n" % (name, tag)
    assert read(mount.app("digest")) == ""   # registry_check=off: nothing asked


def test_image_with_a_tag_is_refused(mount):
    before = mount.store_snapshot()
    r = sh("echo nginx:1.2 > image", cwd=mount.app())
    assert r.returncode == 1
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == ('image "nginx:1.2": image takes a name only '
                                        "(nginx, ghcr.io/org/repo); write ref for name:tag\n")


@pytest.mark.parametrize("bad", ["Nginx", "-bad", "a//b", "a/", "ngin x", "a" * 256])
def test_bad_image_names_are_refused(mount, bad):
    before = mount.store_snapshot()
    assert write_fd(mount.app("image"), bad.encode() + b"\n") == ["EINVAL", 0]
    assert mount.store_snapshot() == before
    err = read(mount.app("error"))
    assert err.startswith('image "') and err.endswith("\n") and err.count("\n") == 1


def test_image_keeps_the_tag(mount):
    before = mount.doc("apps", WEB)
    assert sh("echo ghcr.io/acme/web > image", cwd=mount.app()).returncode == 0
    assert mount.doc("apps", WEB) == with_image(before, name="ghcr.io/acme/web")
    assert read(mount.app("ref")) == "ghcr.io/acme/web:1.25-alpine\n"


def test_registry_by_name_by_id_and_public(mount):
    before = mount.doc("apps", WEB)
    assert sh("echo acme > registry", cwd=mount.app()).returncode == 0
    doc = with_image(before, registry=REGISTRY)
    assert mount.doc("apps", WEB) == doc
    assert read(mount.app("registry")) == REGISTRY + "\n"
    assert sh("echo %s > registry" % REGISTRY, cwd=mount.app()).returncode == 0
    doc = with_image(doc)
    assert mount.doc("apps", WEB) == doc
    # empty: a public image, the key leaves the document
    assert sh("echo > registry", cwd=mount.app()).returncode == 0
    doc = with_image(doc, drop_registry=True)
    assert mount.doc("apps", WEB) == doc
    assert "containerRegistryConfigIdRef" not in mount.doc("apps", WEB)["source"]
    assert read(mount.app("registry")) == ""
    assert os.stat(mount.app("registry")).st_size == 0


def test_unknown_registry_is_refused(mount):
    before = mount.store_snapshot()
    r = sh("echo nope > registry", cwd=mount.app(app="worker"))
    assert r.returncode == 1
    assert mount.store_snapshot() == before
    assert read(mount.app("registry", app="worker")) == REGISTRY + "\n"
    assert read(mount.app("error", app="worker")) == (
        'registry "nope": no container registry has that id or name (see registries/), '
        "or write an empty value for a public image\n")


def test_truncate_only_removes_the_registry_at_close(mount):
    before = mount.doc("apps", WORKER)
    r = sh(": > registry", cwd=mount.app(app="worker"))
    assert r.returncode == 0
    # removed when the shell's close(2) returned: no waiting
    assert mount.doc("apps", WORKER) == with_image(before, drop_registry=True)
    assert read(mount.app("registry", app="worker")) == ""
    assert os.stat(mount.app("registry", app="worker")).st_size == 0


def test_truncate_only_of_a_required_value_is_refused(mount):
    before = mount.store_snapshot()
    line = "tag: truncated and closed without a value; it cannot be empty, nothing changed\n"
    # bash ignores close: it exits 0, and nothing changes
    assert sh(": > tag", cwd=mount.app()).returncode == 0
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == line
    assert read(mount.app("tag")) == "1.25-alpine\n"
    # a tool that checks close(2) sees EINVAL
    assert write_fd(mount.app("tag")) == ["EINVAL"]
    assert mount.store_snapshot() == before


def test_open_for_write_without_truncate_or_write_changes_nothing(mount):
    before = mount.store_snapshot()
    assert write_fd(mount.app("tag"), flags=os.O_WRONLY) == [0]
    assert write_fd(mount.app("registry", app="worker"), flags=os.O_WRONLY) == [0]
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == ""


def test_truncate_then_write_is_one_change(mount):
    # vim's in-place save: open without O_TRUNC, ftruncate(0), write
    before = mount.doc("apps", WEB)
    fd = os.open(mount.app("tag"), os.O_WRONLY)
    os.ftruncate(fd, 0)
    assert mount.doc("apps", WEB) == before    # the empty value is not committed
    assert os.fstat(fd).st_size == 0
    assert os.write(fd, b"1.26\n") == 5
    os.fsync(fd)
    os.close(fd)
    assert mount.doc("apps", WEB) == with_image(before, tag="1.26")


def test_truncate_to_a_size_is_refused(mount):
    before = mount.store_snapshot()
    fd = os.open(mount.app("tag"), os.O_WRONLY)
    assert oserror(os.ftruncate, fd, 3) == errno.EINVAL
    os.close(fd)
    assert mount.store_snapshot() == before


def test_chmod_and_xattr_of_values_are_harmless(mount):
    # editors copy modes and ACLs; neither may fail a save nor change anything
    before = mount.store_snapshot()
    os.chmod(mount.app("tag"), 0o600)
    assert oserror(os.setxattr, mount.app("tag"), "user.x", b"1") == errno.EOPNOTSUPP
    assert os.stat(mount.app("tag")).st_mode & 0o777 == 0o644
    assert mount.store_snapshot() == before


def test_nul_in_a_value_is_refused(mount):
    before = mount.store_snapshot()
    assert write_fd(mount.app("tag"), b"1.2\x006\n") == ["EINVAL", 0]
    assert mount.store_snapshot() == before
    assert read(mount.app("error")) == "tag: the value holds a NUL byte\n"


def test_other_app_and_environment_untouched(mount):
    before = mount.store_snapshot()
    assert sh("echo 1.30 > tag", cwd=mount.app(env="staging")).returncode == 0
    after = mount.store_snapshot()
    changed = [k for k in before if before[k] != after[k]]
    assert changed == ["apps/550e8400-e29b-41d4-a716-446655440300.json"]
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("tag", env="staging")) == "1.30\n"


def test_write_only_files_never_readable(mount):
    reg = mount.path("registries", "acme")
    secret = "s3cr3t-Pa55w0rd-7f1e"
    token = "tok-9d2c4b7a11e0"
    for f, v in (("password", secret), ("token", token)):
        assert sh("echo %s > %s" % (v, f), cwd=reg).returncode == 0
        path = os.path.join(reg, f)
        assert os.stat(path).st_mode & 0o777 == 0o200
        assert os.stat(path).st_size == 0
        assert oserror(os.open, path, os.O_RDONLY) == errno.EACCES
        assert oserror(os.open, path, os.O_RDWR) == errno.EACCES
        assert not os.access(path, os.R_OK)
        r = sh("cat %s" % f, cwd=reg)
        assert r.returncode == 1 and r.stdout == "" and "Permission denied" in r.stderr
    doc = mount.doc("registries", REGISTRY)
    assert doc["password"] == secret and doc["token"] == token
    # nowhere under the mount, nor in the log (.deployfs/events is a stream:
    # test_events.py reads it for secrets)
    r = sh("grep -r -a --exclude-dir=.deployfs -e %s -e %s %s" % (secret, token, mount.mnt))
    assert r.returncode == 2 and r.stdout == ""
    assert sorted(l.split(":")[1].strip() for l in r.stderr.splitlines()) == \
        sorted(os.path.join(reg, f) for f in ("password", "token"))
    # .deployfs is not listed (events blocks, like trace_pipe): a walk never meets it
    for dirpath, dirs, files in os.walk(mount.mnt):
        assert ".deployfs" not in dirs
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or not os.access(p, os.R_OK):
                continue
            text = read(p)
            assert secret not in text and token not in text, p
    assert secret not in mount.log() and token not in mount.log()
    assert secret not in read(mount.app("app.json", app="worker"))


def test_secret_with_control_characters_is_not_quoted(mount):
    reg = mount.path("registries", "acme")
    before = mount.store_snapshot()
    assert write_fd(os.path.join(reg, "password"), b"pw\x01Xyzzy42\n") == ["EINVAL", 0]
    assert mount.store_snapshot() == before
    assert read(os.path.join(reg, "error")) == "password: control characters are not allowed\n"
    assert "Xyzzy42" not in mount.log()
