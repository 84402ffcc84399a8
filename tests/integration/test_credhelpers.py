"""Docker credential helpers (credsStore, credHelpers) in the registry check.

A private loopback registry (Debian's docker-registry, htpasswd Basic auth)
holds an image; its password comes only from a helper on the daemon's PATH:
a small script speaking the helper protocol, and Debian's own
docker-credential-pass (golang-docker-credential-helpers) over a real
`pass` store with a throwaway GnuPG key. A failing helper is an `error`
line naming it and the host; a hanging one is killed at `timeout`.
"""
import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import read
from registry import Registry
from seed_registry import Client, push_image
from test_registry_check import oswrite


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    reg = Registry(str(tmp_path_factory.mktemp("basic")), auth="htpasswd").start()
    c = Client(reg.url, user="alice", password=reg.users["alice"])
    reg.digest = push_image(c, "private/app", "1.0", "private/app:1.0", "amd64", False)["digest"]
    yield reg
    reg.stop()


def ref(reg):
    return "%s/private/app:1.0" % reg.host


def setup_helper(tmp_path, config, name, body):
    """A docker config and docker-credential-NAME (sh) in a bin dir; the
    environment for a daemon that has that dir first on its PATH."""
    cfg = tmp_path / "docker"
    cfg.mkdir(exist_ok=True)
    (cfg / "config.json").write_text(json.dumps(config))
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    h = bindir / ("docker-credential-" + name)
    h.write_text("#!/bin/sh\n" + body + "\n")
    h.chmod(0o755)
    return dict(os.environ, DOCKER_CONFIG=str(cfg),
                PATH="%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))


def no_secret_anywhere(m, secret):
    assert secret not in m.log()
    for app in ("web", "worker"):
        assert secret not in read(m.app("error", app=app))


def test_credsstore_helper_supplies_the_password(make_mount, basic, tmp_path):
    pw = basic.users["alice"]
    asked = tmp_path / "asked"
    # the protocol: `get`, the server on stdin, JSON on stdout
    body = ('[ "$1" = get ] || exit 2\ncat > %s\n'
            "printf '{\"ServerURL\":\"%%s\",\"Username\":\"alice\",\"Secret\":\"%s\"}' \"$(cat %s)\""
            % (asked, pw, asked))
    env = setup_helper(tmp_path, {"credsStore": "fake", "auths": {basic.host: {}}}, "fake", body)
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
    assert oswrite(m.app("ref"), ref(basic)) == 0
    assert read(m.app("digest")) == basic.digest + "\n"
    assert asked.read_text() == basic.host
    no_secret_anywhere(m, pw)


def test_credhelpers_for_the_host_wins_over_credsstore(make_mount, basic, tmp_path):
    pw = basic.users["alice"]
    env = setup_helper(tmp_path, {"credsStore": "broken", "credHelpers": {basic.host: "good"}},
                       "good", "echo '{\"Username\":\"alice\",\"Secret\":\"%s\"}'" % pw)
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
    assert oswrite(m.app("ref"), ref(basic)) == 0
    assert read(m.app("digest")) == basic.digest + "\n"


def test_helper_not_found_in_keychain_is_anonymous(make_mount, basic, tmp_path):
    env = setup_helper(tmp_path, {"credsStore": "empty"}, "empty",
                       "echo 'credentials not found in native keychain'; exit 1")
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
    assert oswrite(m.app("ref"), ref(basic)) == errno.EINVAL
    assert "not found, or private" in read(m.app("error"))


def test_failing_helper_is_an_error_line(make_mount, basic, tmp_path):
    env = setup_helper(tmp_path, {"credsStore": "locked"}, "locked",
                       "echo 'gpg: decryption failed: No secret key'; exit 1")
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
    before = m.store_snapshot()
    assert oswrite(m.app("ref"), ref(basic)) == errno.EACCES
    assert read(m.app("error")) == (
        "credential helper docker-credential-locked for %s failed (exit 1): "
        "gpg: decryption failed: No secret key\n" % basic.host)
    assert m.store_snapshot() == before


def test_missing_helper_is_an_error_line(make_mount, basic, tmp_path):
    env = setup_helper(tmp_path, {"credHelpers": {basic.host: "nosuch"}}, "other", "exit 0")
    m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
    assert oswrite(m.app("ref"), ref(basic)) == errno.EACCES
    assert read(m.app("error")) == (
        "credential helper docker-credential-nosuch for %s: not found on PATH\n" % basic.host)


def test_hanging_helper_is_killed_at_timeout(make_mount, basic, tmp_path):
    pidfile = tmp_path / "helper.pid"
    env = setup_helper(tmp_path, {"credsStore": "hang"}, "hang",
                       "echo $$ > %s\nexec sleep 600" % pidfile)
    m = make_mount("registry_check=strict,timeout=2,insecure_registry=%s" % basic.host, env=env)
    t0 = time.monotonic()
    assert oswrite(m.app("ref"), ref(basic)) == errno.ETIMEDOUT
    took = time.monotonic() - t0
    assert took < 10, took
    assert read(m.app("error")) == (
        "credential helper docker-credential-hang for %s did not answer in time; killed\n"
        % basic.host)
    pid = int(pidfile.read_text())
    assert not os.path.exists("/proc/%d" % pid)   # killed and reaped
    # the mount still answers
    assert read(m.app("tag")) == "1.25-alpine\n"


PASS_HELPER = shutil.which("docker-credential-pass")


@pytest.mark.skipif(not PASS_HELPER or not shutil.which("pass"),
                    reason="golang-docker-credential-helpers and pass not installed "
                           "(contrib/install-deps.sh installs them)")
def test_debian_docker_credential_pass(make_mount, basic, tmp_path):
    """Debian's docker-credential-pass over a real pass store: the store
    is filled by the helper's own `store`, as `docker login` does."""
    pw = basic.users["alice"]
    gnupg = tmp_path / "gnupg"
    gnupg.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(gnupg), PASSWORD_STORE_DIR=str(tmp_path / "pass"),
               DOCKER_CONFIG=str(tmp_path / "docker"))
    env.pop("DISPLAY", None)

    def run(*cmd, input=None):
        return subprocess.run(cmd, env=env, input=input, capture_output=True, text=True,
                              timeout=60, check=True)

    try:
        run("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
            "--quick-generate-key", "deployfs-test@example.invalid", "default", "default", "never")
        run("pass", "init", "deployfs-test@example.invalid")
        run(PASS_HELPER, "store", input=json.dumps(
            {"ServerURL": basic.host, "Username": "alice", "Secret": pw}))
        assert json.loads(run(PASS_HELPER, "get", input=basic.host).stdout)["Username"] == "alice"
        os.makedirs(env["DOCKER_CONFIG"])
        with open(os.path.join(env["DOCKER_CONFIG"], "config.json"), "w") as f:
            json.dump({"credsStore": "pass"}, f)
        m = make_mount("registry_check=strict,insecure_registry=%s" % basic.host, env=env)
        assert oswrite(m.app("ref"), ref(basic)) == 0
        assert read(m.app("digest")) == basic.digest + "\n"
        no_secret_anywhere(m, pw)
        # a host pass holds nothing for (it answers an empty Secret): anonymous
        assert oswrite(m.app("ref"), "127.0.0.1:1/private/app:1.0") == errno.ECONNREFUSED
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
