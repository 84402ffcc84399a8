"""The registry check through the mount: every image write is checked in a
real registry (Debian's docker-registry on 127.0.0.1, seeded offline).

What a user sees: the write(2) of `echo TAG > tag` succeeds or fails with
the contract's errno, `error` says why, `digest` shows what the registry
answered, and a refused write changes nothing in the store.
"""
import errno
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import WEB, WORKER, REGISTRY, read
from registry import Registry
from seed_registry import Client, push_image, push_list

# tag -> manifest kind, pushed as library/nginx (docker.io's "nginx")
NGINX = {
    "1.25-alpine": "oci",
    "1.26-alpine": "oci-index",
    "1.27-alpine": "docker-list",
    "1.28": "docker",
}


def seed(reg, repo, tags, user=None, password=None):
    c = Client(reg.url, cacert=reg.cacert, user=user, password=password)
    out = {}
    for tag, kind in tags.items():
        if kind in ("oci-index", "docker-list"):
            digest, _, _ = push_list(c, repo, tag, kind == "docker-list")
        else:
            digest = push_image(c, repo, tag, f"{repo}:{tag}", "amd64", kind == "docker")["digest"]
        out[tag] = digest
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("plain"))).start()
    reg.digests = seed(reg, "library/nginx", NGINX)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("basic")), auth="htpasswd").start()
    reg.digests = seed(reg, "private/app", {"1.0": "oci"}, user="alice",
                       password=reg.users["alice"])
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("tls")), tls=True).start()
    reg.digests = seed(reg, "library/nginx", {"1.25-alpine": "oci"})
    yield reg
    reg.stop()


@pytest.fixture
def no_docker_config(tmp_path):
    d = tmp_path / "docker-config"
    d.mkdir()
    env = dict(os.environ, DOCKER_CONFIG=str(d))
    return env


@pytest.fixture
def strict(make_mount, plain, no_docker_config):
    """A strict mount whose docker.io is the plain local registry."""
    return make_mount("registry_check=strict,registry_mirror=docker.io=%s" % plain.url,
                      env=no_docker_config)


def write(path, value):
    """echo VALUE > path in real bash: (exit code, stderr)."""
    r = subprocess.run(["bash", "-c", 'echo "$0" > "$1"', value, path],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def oswrite(path, value):
    """One write(2) of value + newline; returns 0 or the errno."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, (value + "\n").encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.parametrize("tag", sorted(NGINX))
def test_each_manifest_kind_is_found_and_its_digest_recorded(strict, plain, tag):
    before = strict.doc("apps", WEB)
    rc, err = write(strict.app("tag"), tag)
    assert rc == 0, err
    doc = strict.doc("apps", WEB)
    assert doc["source"]["image"] == {"name": "nginx", "tag": tag}
    assert doc["version"] == before["version"] + 1
    assert read(strict.app("digest")) == plain.digests[tag] + "\n"
    assert read(strict.app("error")) == ""


@pytest.mark.parametrize("tag", sorted(NGINX))
def test_skopeo_agrees_with_the_recorded_digest(strict, plain, tag):
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is missing: apt-get install skopeo")
    assert oswrite(strict.app("tag"), tag) == 0
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          "docker://%s/library/nginx:%s" % (plain.host, tag)],
                         capture_output=True, check=True, timeout=60).stdout
    assert read(strict.app("digest")) == "sha256:" + hashlib.sha256(out).hexdigest() + "\n"
    meta = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--no-tags",
         "docker://%s/library/nginx:%s" % (plain.host, tag)],
        capture_output=True, check=True, timeout=60, text=True).stdout)
    if NGINX[tag] in ("oci", "docker"):
        assert meta["Digest"] + "\n" == read(strict.app("digest"))


def test_missing_tag_is_einval_and_changes_nothing(strict, plain):
    before = strict.store_snapshot()
    rc, err = write(strict.app("tag"), "9.9")
    assert rc == 1 and "Invalid argument" in err
    assert strict.store_snapshot() == before
    line = "image nginx:9.9 not found in registry docker.io (mirror %s)\n" % plain.host
    assert read(strict.app("error")) == line
    assert line.strip() in strict.log()
    assert read(strict.app("tag")) == "1.25-alpine\n"


def test_missing_repository_is_einval(strict, plain):
    before = strict.store_snapshot()
    assert oswrite(strict.app("ref"), "nosuch/thing:1.0") == errno.EINVAL
    assert strict.store_snapshot() == before
    assert "not found in registry docker.io" in read(strict.app("error"))


def test_image_written_alone_is_checked_with_the_current_tag(strict):
    before = strict.store_snapshot()
    assert oswrite(strict.app("image"), "nosuch") == errno.EINVAL
    assert read(strict.app("error")).startswith("image nosuch:1.25-alpine not found")
    assert strict.store_snapshot() == before


def test_pinned_ref_checks_the_digest_and_stores_name_and_tag(strict, plain):
    d = plain.digests["1.26-alpine"]
    assert oswrite(strict.app("ref"), "nginx:1.26-alpine@" + d) == 0
    doc = strict.doc("apps", WEB)
    assert doc["source"]["image"] == {"name": "nginx", "tag": "1.26-alpine"}
    assert read(strict.app("digest")) == d + "\n"
    assert read(strict.app("ref")) == "nginx:1.26-alpine\n"


def test_pinned_ref_with_another_digest_is_refused(strict, plain):
    before = strict.store_snapshot()
    other = plain.digests["1.27-alpine"]
    assert oswrite(strict.app("ref"), "nginx:1.26-alpine@" + other) == errno.EINVAL
    assert strict.store_snapshot() == before
    e = read(strict.app("error"))
    assert other in e and plain.digests["1.26-alpine"] in e


def test_digest_only_ref_is_refused_with_a_reason(strict, plain):
    before = strict.store_snapshot()
    assert oswrite(strict.app("ref"), "nginx@" + plain.digests["1.28"]) == errno.EINVAL
    assert strict.store_snapshot() == before
    assert "digest-only reference" in read(strict.app("error"))


def test_registry_down_is_econnrefused_fast(make_mount, no_docker_config):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there now
    m = make_mount("registry_check=strict,timeout=5,registry_mirror=docker.io=http://127.0.0.1:%d"
                   % port, env=no_docker_config)
    before = m.store_snapshot()
    t0 = time.monotonic()
    assert oswrite(m.app("tag"), "1.26-alpine") == errno.ECONNREFUSED
    assert time.monotonic() - t0 < 2
    assert m.store_snapshot() == before
    assert "refused" in read(m.app("error"))


def test_registry_that_never_answers_is_etimedout_within_timeout(make_mount, no_docker_config):
    held = []   # accepted, never read, never answered
    with FakeRegistry(held.append) as fake:
        m = make_mount("registry_check=strict,timeout=2,registry_mirror=docker.io=http://127.0.0.1:%d"
                       % fake.port, env=no_docker_config)
        before = m.store_snapshot()
        t0 = time.monotonic()
        assert oswrite(m.app("tag"), "1.26-alpine") == errno.ETIMEDOUT
        elapsed = time.monotonic() - t0
        assert 1.5 < elapsed < 3.5
        assert m.store_snapshot() == before
        assert read(m.app("error")) != ""
    for c in held:
        c.close()


def test_warn_logs_and_commits(make_mount, plain, no_docker_config):
    m = make_mount("registry_check=warn,registry_mirror=docker.io=%s" % plain.url,
                   env=no_docker_config)
    assert oswrite(m.app("tag"), "9.9") == 0
    assert m.doc("apps", WEB)["source"]["image"]["tag"] == "9.9"
    assert "registry_check=warn" in m.log()
    assert read(m.app("error")) == ""


def test_off_skips_the_registry(make_mount, no_docker_config):
    m = make_mount("registry_check=off", env=no_docker_config)
    assert oswrite(m.app("tag"), "anything-at-all") == 0
    assert read(m.app("digest")) == ""


def test_strict_is_the_default(make_mount, no_docker_config):
    """No registry_check option: the (unreachable) registry is asked."""
    m = make_mount("registry_mirror=docker.io=http://127.0.0.1:9,timeout=3",
                   env=no_docker_config)
    before = m.store_snapshot()
    assert oswrite(m.app("tag"), "1.26-alpine") == errno.ECONNREFUSED
    assert m.store_snapshot() == before


class FakeRegistry:
    """A TCP server on 127.0.0.1 that accepts and hands each connection to
    on_conn (keep it to hold it open, or close it); stopped on exit."""

    def __init__(self, on_conn):
        self.on_conn = on_conn
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn = self.srv.accept()[0]
            except OSError:
                continue
            self.on_conn(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.srv.close()


def private_ref(basic):
    return "%s/private/app:1.0" % basic.host


def test_credentials_from_the_registry_object(make_mount, basic, no_docker_config):
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host,
                   env=no_docker_config)
    reg = m.path("registries", "acme")
    assert oswrite(os.path.join(reg, "url"), basic.host) == 0
    assert oswrite(os.path.join(reg, "username"), "alice") == 0
    assert oswrite(os.path.join(reg, "password"), basic.users["alice"]) == 0
    assert m.doc("registries", REGISTRY)["password"] == basic.users["alice"]
    # the worker app names that registry object
    assert oswrite(m.app("ref", app="worker"), private_ref(basic)) == 0
    doc = m.doc("apps", WORKER)
    assert doc["source"]["image"] == {"name": "%s/private/app" % basic.host, "tag": "1.0"}
    assert doc["source"]["containerRegistryConfigIdRef"] == REGISTRY
    assert read(m.app("digest", app="worker")) == basic.digests["1.0"] + "\n"
    # no secret anywhere a user or a log reader can see
    secret = basic.users["alice"]
    assert secret not in m.log()
    r = subprocess.run(["grep", "-rl", "--exclude=password", "--exclude=token", secret, m.mnt],
                       capture_output=True, text=True)
    assert r.stdout == ""
    with pytest.raises(PermissionError):
        open(os.path.join(reg, "password")).read()


def test_wrong_password_is_eacces(make_mount, basic, no_docker_config):
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host,
                   env=no_docker_config)
    reg = m.path("registries", "acme")
    assert oswrite(os.path.join(reg, "url"), "http://%s/" % basic.host) == 0
    assert oswrite(os.path.join(reg, "username"), "alice") == 0
    assert oswrite(os.path.join(reg, "password"), "not-her-password") == 0
    before = m.store_snapshot()
    assert oswrite(m.app("ref", app="worker"), private_ref(basic)) == errno.EACCES
    assert m.store_snapshot() == before
    assert "not-her-password" not in m.log()
    assert "not-her-password" not in read(m.app("error", app="worker"))


def test_private_image_without_credentials_is_einval(make_mount, basic, no_docker_config):
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host,
                   env=no_docker_config)
    before = m.store_snapshot()
    assert oswrite(m.app("ref"), private_ref(basic)) == errno.EINVAL
    assert m.store_snapshot() == before
    assert "not found, or private" in read(m.app("error"))


def test_credentials_from_the_docker_config(make_mount, basic, tmp_path):
    import base64
    d = tmp_path / "dockercfg"
    d.mkdir()
    auth = base64.b64encode(b"alice:" + basic.users["alice"].encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {basic.host: {"auth": auth}}}))
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host,
                   env=dict(os.environ, DOCKER_CONFIG=str(d)))
    assert oswrite(m.app("ref"), private_ref(basic)) == 0
    assert read(m.app("digest")) == basic.digests["1.0"] + "\n"


def test_tls_with_cacert(make_mount, tls, no_docker_config):
    m = make_mount("registry_check=strict,cacert=%s,registry_mirror=docker.io=%s"
                   % (tls.cacert, tls.url), env=no_docker_config)
    assert oswrite(m.app("tag"), "1.25-alpine") == 0
    assert read(m.app("digest")) == tls.digests["1.25-alpine"] + "\n"


def test_tls_without_cacert_is_eio(make_mount, tls, no_docker_config):
    m = make_mount("registry_check=strict,registry_mirror=docker.io=%s" % tls.url,
                   env=no_docker_config)
    before = m.store_snapshot()
    assert oswrite(m.app("tag"), "1.25-alpine") == errno.EIO
    assert m.store_snapshot() == before


def test_registry_that_resets_the_connection_is_eio_fast(make_mount, no_docker_config):
    def reset(conn):   # close with RST (SO_LINGER 0)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with FakeRegistry(reset) as fake:
        m = make_mount("registry_check=strict,timeout=5,registry_mirror=docker.io=http://127.0.0.1:%d"
                       % fake.port, env=no_docker_config)
        before = m.store_snapshot()
        t0 = time.monotonic()
        assert oswrite(m.app("tag"), "1.26-alpine") == errno.EIO
        assert time.monotonic() - t0 < 2
        assert m.store_snapshot() == before
        assert read(m.app("error")) == \
            "registry docker.io (mirror 127.0.0.1:%d) closed the connection without an answer\n" \
            % fake.port


def test_registry_with_a_1_mb_header_is_eio_fast(make_mount, no_docker_config):
    """A response header of 1 MB is refused at 64 KiB, not read whole, and
    not reported as the daemon running out of memory."""
    def huge_header(conn):
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) +
                         b"\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass   # the client stopped reading at the bound
        conn.close()

    with FakeRegistry(huge_header) as fake:
        m = make_mount("registry_check=strict,timeout=20,registry_mirror=docker.io=http://127.0.0.1:%d"
                       % fake.port, env=no_docker_config)
        before = m.store_snapshot()
        t0 = time.monotonic()
        assert oswrite(m.app("tag"), "1.26-alpine") == errno.EIO
        assert time.monotonic() - t0 < 5   # the bound, not the 20 s deadline
        assert m.store_snapshot() == before
        assert read(m.app("error")) == \
            "registry docker.io (mirror 127.0.0.1:%d): response headers over 64 KiB\n" % fake.port


@pytest.mark.parametrize("mode", ["strict", "warn"])
def test_image_on_another_host_than_its_registry_object_is_refused(make_mount, basic,
                                                                   no_docker_config, mode):
    """acme's credentials (right for the real registry its url names) are
    never sent to the host another image names: the write is refused before
    any request, under warn too, and that host sees no connection at all."""
    conns = []   # every connection the other host gets
    with FakeRegistry(conns.append) as fake:
        m = make_mount("registry_check=%s,insecure_registry=127.0.0.1" % mode,
                       env=no_docker_config)
        reg = m.path("registries", "acme")
        assert oswrite(os.path.join(reg, "url"), basic.host) == 0
        assert oswrite(os.path.join(reg, "username"), "alice") == 0
        assert oswrite(os.path.join(reg, "password"), basic.users["alice"]) == 0
        before = m.store_snapshot()
        other = "127.0.0.1:%d/x:1" % fake.port
        assert oswrite(m.app("ref", app="worker"), other) == errno.EINVAL
        assert m.store_snapshot() == before
        assert read(m.app("error", app="worker")) == \
            "image %s is not on registry acme (%s): its credentials are sent only there\n" \
            % (other, basic.host)
        # the same object still works for its own registry
        assert oswrite(m.app("ref", app="worker"), private_ref(basic)) == 0
        assert read(m.app("digest", app="worker")) == basic.digests["1.0"] + "\n"
    assert conns == []


def test_demo_registry_object_refuses_a_loopback_image(make_mount, no_docker_config):
    """The audit's case: acme is registry.acme.example; an image on
    127.0.0.1 gets none of its credentials, and no request."""
    conns = []
    with FakeRegistry(conns.append) as fake:
        m = make_mount("registry_check=strict,insecure_registry=127.0.0.1",
                       env=no_docker_config)
        assert oswrite(m.path("registries", "acme", "password"), "s3cret-acme") == 0
        before = m.store_snapshot()
        other = "127.0.0.1:%d/x:1" % fake.port
        assert oswrite(m.app("ref", app="worker"), other) == errno.EINVAL
        assert m.store_snapshot() == before
        assert read(m.app("error", app="worker")) == \
            "image %s is not on registry acme (registry.acme.example): its credentials are " \
            "sent only there\n" % other
    assert conns == []
