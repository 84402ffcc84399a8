"""api= with registry_check=strict against real registries: the loopback
docker-registry (tests/tools/registry.py) as docker.io's mirror for the
client check and for the apps API server's own check, and a private
(htpasswd) registry whose credentials only the server holds.

- a tag that exists: one PATCH, `digest` shows what the registry answered;
- a tag that does not: refused by deployfs's own check (EINVAL, `error`),
  no PATCH sent;
- a private image: the API never returns credentials, so deployfs's
  anonymous check is refused and skipped (a log line), and the server's
  check with the registry object's credentials decides: its 400 is EINVAL
  with the server's message in `error`, the state unchanged; a tag it finds
  commits.
"""
import errno
import os
import subprocess

import pytest

from conftest import Mount, check_sanitizers, read
from apps_api_client import AppsApi, TOKEN
from registry import Registry
from seed_registry import Client, push_image, push_list

PROD = "660e8400-e29b-41d4-a716-446655440001"
WEB = "550e8400-e29b-41d4-a716-446655440000"
WORKER = "550e8400-e29b-41d4-a716-446655440200"
COMPANY = "770e8400-e29b-41d4-a716-446655440002"
PRIVATE = "990e8400-e29b-41d4-a716-446655440009"
NGINX = {"1.25-alpine": "oci", "1.27-alpine": "docker-list"}


def seed(reg, repo, tags, user=None, password=None):
    c = Client(reg.url, cacert=reg.cacert, user=user, password=password)
    out = {}
    for tag, kind in tags.items():
        if kind in ("oci-index", "docker-list"):
            out[tag] = push_list(c, repo, tag, kind == "docker-list")[0]
        else:
            out[tag] = push_image(c, repo, tag, f"{repo}:{tag}", "amd64", kind == "docker")["digest"]
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("plain"))).start()
    reg.digests = seed(reg, "library/nginx", NGINX)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("private")), auth="htpasswd").start()
    reg.digests = seed(reg, "private/app", {"1.0": "oci"}, user="alice",
                       password=reg.users["alice"])
    yield reg
    reg.stop()


class Setup:
    def __init__(self, tmp, plain, private):
        self.api = AppsApi(tmp / "api", args=[
            "--registry-mirror", "docker.io=%s" % plain.url,
            "--insecure-registry", private.host]).start()
        # the private registry, with credentials only the server has, and
        # worker's image on it
        s = self.api.state()
        s["registries"][PRIVATE] = {
            "id": PRIVATE, "name": "private", "url": private.host, "username": "alice",
            "password": private.users["alice"], "companyIdRef": COMPANY}
        s["apps"][WORKER]["source"] = {
            "image": {"name": "%s/private/app" % private.host, "tag": "1.0"},
            "containerRegistryConfigIdRef": PRIVATE}
        self.api.set_state(s)
        self.token_path = str(tmp / "token")
        with open(self.token_path, "w") as f:
            f.write(TOKEN + "\n")
        docker_config = tmp / "docker-config"
        docker_config.mkdir()
        opts = ("api=%s,api_token_file=%s,registry_check=strict,poll=60,timeout=5,"
                "registry_mirror=docker.io=%s,insecure_registry=%s"
                % (self.api.url, self.token_path, plain.url, private.host))
        self.m = Mount(tmp / "m", options=opts,
                       env=dict(os.environ, DOCKER_CONFIG=str(docker_config)))
        self.m.start()

    def app(self, name, *parts):
        return self.m.app(*parts, app=name)

    def patches(self):
        return [r for r in self.api.requests() if r["method"] == "PATCH"]

    def stop(self):
        self.m.stop()
        self.api.stop()


@pytest.fixture
def setup(tmp_path, plain, private):
    s = Setup(tmp_path, plain, private)
    yield s
    s.stop()
    check_sanitizers([s.m])


def echo(path, value):
    """echo VALUE > path in real bash: (exit code, stderr)."""
    r = subprocess.run(["bash", "-c", 'echo "$0" > "$1"', value, path],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def test_a_tag_that_exists_commits_with_one_patch(setup, plain):
    setup.api.clear_requests()
    rc, err = echo(setup.app("web", "tag"), "1.27-alpine")
    assert rc == 0, err + read(setup.app("web", "error"))
    (p,) = setup.patches()
    assert p["path"] == "/api/v1/environments/%s/app/%s/image" % (PROD, WEB)
    assert p["body"] == {"imageName": "nginx", "imageTag": "1.27-alpine"}
    assert p["status"] == 200
    assert read(setup.app("web", "digest")) == plain.digests["1.27-alpine"] + "\n"
    assert read(setup.app("web", "error")) == ""
    assert setup.api.state()["apps"][WEB]["source"]["image"]["tag"] == "1.27-alpine"


def test_a_missing_tag_is_refused_by_the_client_check_and_sends_no_patch(setup, plain):
    before = setup.api.state()
    setup.api.clear_requests()
    rc, err = echo(setup.app("web", "tag"), "9.9")
    assert rc == 1 and "Invalid argument" in err
    assert read(setup.app("web", "error")) == \
        "image nginx:9.9 not found in registry docker.io (mirror %s)\n" % plain.host
    assert setup.patches() == []
    assert setup.api.state() == before
    assert read(setup.app("web", "tag")) == "1.25-alpine\n"


def test_a_private_image_is_left_to_the_servers_check(setup, private):
    before = setup.api.state()
    setup.api.clear_requests()
    name = "%s/private/app" % private.host
    # not in the registry: the server's check (with credentials) refuses it
    rc, err = echo(setup.app("worker", "tag"), "2.0")
    assert rc == 1 and "Invalid argument" in err
    want = "image %s:2.0 not found in registry %s" % (name, private.host)
    assert read(setup.app("worker", "error")) == "apps API: %s\n" % want
    (p,) = setup.patches()
    assert p["status"] == 400
    assert p["body"] == {"imageName": name, "imageTag": "2.0", "containerRegistryId": PRIVATE}
    assert setup.api.state() == before
    assert read(setup.app("worker", "tag")) == "1.0\n"
    skipped = [l for l in setup.m.log().splitlines() if "registry check skipped" in l]
    assert len(skipped) == 1 and "the apps API checks it itself" in skipped[0]
    assert private.users["alice"] not in setup.m.log()

    # there: the server's check passes and the write commits; deployfs
    # never saw the manifest, so there is no digest to show
    setup.api.clear_requests()
    rc, err = echo(setup.app("worker", "ref"), "%s:1.0" % name)
    assert rc == 0, err + read(setup.app("worker", "error"))
    (p,) = setup.patches()
    assert p["status"] == 200
    assert setup.api.state()["apps"][WORKER]["version"] == before["apps"][WORKER]["version"] + 1
    assert read(setup.app("worker", "error")) == ""
    assert len([l for l in setup.m.log().splitlines() if "registry check skipped" in l]) == 2


def test_the_errno_of_a_server_refusal_is_einval(setup):
    # the same refusal through one write(2), for its errno
    fd = os.open(setup.app("worker", "tag"), os.O_WRONLY | os.O_TRUNC)
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, b"3.0\n")
        assert e.value.errno == errno.EINVAL
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
