"""The registry check (backend/registry.c) against a real docker-registry on
127.0.0.1, through tests/tools/regcheck, with exact errnos and lines.

    /usr/bin/python3 -m pytest -q tests/integration/test_registry_client.py

REGCHECK=build-san/tests/regcheck runs it on the sanitiser build; without
it the test builds build/tests/regcheck with make. Registries come from
tests/tools/registry.py (plain, htpasswd, token auth, TLS) and are seeded by
tests/tools/seed_registry.py; every process started is stopped by pid in a
fixture finalizer, also when a test fails. A small recording HTTP server
(RecordingServer) checks the exact requests the client sends.
"""
import base64
import errno
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

import registry as regtool  # noqa: E402
import seed_registry  # noqa: E402

MEDIA_TYPES = [seed_registry.OCI_INDEX, seed_registry.OCI_MANIFEST,
               seed_registry.DOCKER_LIST, seed_registry.DOCKER_MANIFEST]
KINDS = ["demo/oci:1.0", "demo/oci-index:1.0", "demo/docker:1.0", "demo/docker-list:1.0"]
ALICE = {"username": "alice", "password": "wonderland"}
SLACK = 0.5  # seconds a timeout may overrun on a loaded 2-core machine


# ------------------------------------------------------------------ helpers

@pytest.fixture(scope="session")
def regcheck_bin():
    path = os.environ.get("REGCHECK")
    if path:
        return os.path.abspath(path)
    subprocess.run(["make", "-s", "-C", ROOT, "build/tests/regcheck"], check=True)
    return os.path.join(ROOT, "build", "tests", "regcheck")


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    @property
    def line(self):
        """The error line without its "ERRNAME: " prefix."""
        return self.out.split(": ", 1)[1] if ": " in self.out else self.out

    def __repr__(self):
        return f"Result(rc={self.rc}, out={self.out!r}, err={self.err[-500:]!r})"


@pytest.fixture
def check(regcheck_bin, tmp_path):
    """check(ref, *options, creds=None, creds_env=None, docker_config=None)
    runs regcheck; credentials go through a 0600 file or the environment,
    and the test fails if any secret shows up in what regcheck printed.
    creds is a registry object: without a "url" it gets the reference's
    own registry as its url, as an app's registry object names it."""
    empty_cfg = tmp_path / "no-docker-config"
    empty_cfg.mkdir()

    def run(ref, *options, creds=None, creds_env=None, docker_config=None, timeout=60):
        env = dict(os.environ)
        env["DOCKER_CONFIG"] = str(docker_config or empty_cfg)  # never the user's own
        args = [regcheck_bin, *options]
        secrets = []
        if creds is not None:
            creds = {"url": ref_registry(ref), **creds}
            f = tmp_path / "creds"
            f.write_text("".join(f"{k}={v}\n" for k, v in creds.items()))
            f.chmod(0o600)
            args += ["--creds-file", str(f)]
            secrets += [v for k, v in creds.items() if k in ("password", "token")]
        if creds_env is not None:
            creds_env = {"url": ref_registry(ref), **creds_env}
            args.append("--creds-env")
            for k, v in creds_env.items():
                env["REGCHECK_" + k.upper()] = v
            secrets += [v for k, v in creds_env.items() if k in ("password", "token")]
        t0 = time.monotonic()
        p = subprocess.run(args + [ref], capture_output=True, text=True, env=env,
                           timeout=timeout)
        r = Result(p.returncode, p.stdout.strip(), p.stderr, time.monotonic() - t0)
        for s in secrets:
            assert s not in p.stdout and s not in p.stderr, f"secret leaked: {r!r}"
        return r
    return run


def ref_registry(ref):
    """The registry a reference names (its first component when that is a
    host), as the distribution reference grammar decides."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def need(tool, package):
    """A missing tool fails the test: skipping would hide lost coverage."""
    if not shutil.which(tool):
        pytest.fail(f"{tool} not installed (Debian package {package})")


def start_registry(tmp_path_factory, name, **kw):
    need("docker-registry", "docker-registry")
    need("openssl", "openssl")
    if kw.get("auth") == "htpasswd":
        need("htpasswd", "apache2-utils")
    reg = regtool.Registry(str(tmp_path_factory.mktemp(name)), **kw)
    reg.start()
    return reg


@pytest.fixture(scope="session")
def plain(tmp_path_factory):
    reg = start_registry(tmp_path_factory, "plain")
    try:
        reg.seeds = seed_registry.seed(reg.url)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def basic(tmp_path_factory):
    reg = start_registry(tmp_path_factory, "htpasswd", auth="htpasswd")
    try:
        reg.seeds = seed_registry.seed(reg.url, user="alice", password="wonderland")
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def token(tmp_path_factory):
    """Token auth; the token server is on https (reg.cacert), another port."""
    reg = start_registry(tmp_path_factory, "token", auth="token")
    try:
        reg.opts = ["--insecure", reg.host, "--cacert", reg.cacert]
        reg.seeds = seed_registry.seed(reg.url, user="alice", password="wonderland",
                                       cacert=reg.cacert)
        reg.seeds.update(seed_registry.seed(reg.url, user="alice", password="wonderland",
                                            prefix="public", cacert=reg.cacert))
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    reg = start_registry(tmp_path_factory, "tls", tls=True)
    try:
        reg.seeds = seed_registry.seed(reg.url, cacert=reg.cacert)
        yield reg
    finally:
        reg.stop()


def docker_config(tmp_path, entries):
    d = tmp_path / "docker"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps({"auths": entries}))
    (d / "config.json").chmod(0o600)
    return d


def b64(s):
    return base64.b64encode(s.encode()).decode()


# ------------------------------------------------------- plain registry

@pytest.mark.parametrize("name", KINDS)
def test_each_manifest_kind_found(plain, check, name):
    r = check(f"{plain.host}/{name}", "--insecure", plain.host)
    assert (r.rc, r.out) == (0, plain.seeds[name]["digest"]), r


@pytest.mark.parametrize("name", KINDS)
def test_digest_reference(plain, check, name):
    d = plain.seeds[name]["digest"]
    r = check(f"{plain.host}/{name.split(':')[0]}@{d}", "--insecure", plain.host)
    assert (r.rc, r.out) == (0, d), r


def test_index_child_by_digest(plain, check):
    child = plain.seeds["demo/oci-index:1.0"]["children"][1]
    r = check(f"{plain.host}/demo/oci-index@{child}", "--insecure", plain.host)
    assert (r.rc, r.out) == (0, child), r


def test_pinned_tag_matches(plain, check):
    d = plain.seeds["demo/web:1.0"]["digest"]
    r = check(f"{plain.host}/demo/web:1.0@{d}", "--insecure", plain.host)
    assert (r.rc, r.out) == (0, d), r


def test_pinned_tag_mismatch_names_both_digests(plain, check):
    d1, d2 = plain.seeds["demo/web:1.0"]["digest"], plain.seeds["demo/web:2.0"]["digest"]
    r = check(f"{plain.host}/demo/web:1.0@{d2}", "--insecure", plain.host)
    assert r.rc == errno.ENOENT, r
    assert r.out == (f"ENOENT: image {plain.host}/demo/web:1.0 resolves to {d1} in registry "
                     f"{plain.host}, not to the pinned {d2}")


@pytest.mark.parametrize("ask,shown", [
    ("demo/web:v9", "demo/web:v9"),                                  # missing tag
    ("demo/nothing:1.0", "demo/nothing:1.0"),                        # missing repository
    ("demo/web@sha256:" + "0" * 64, "demo/web@sha256:" + "0" * 64),  # missing digest
    ("demo/web", "demo/web:latest"),                                 # no tag means latest
], ids=["tag", "repository", "digest", "latest"])
def test_not_found(plain, check, ask, shown):
    r = check(f"{plain.host}/{ask}", "--insecure", plain.host)
    assert r.rc == errno.ENOENT, r
    assert r.out == f"ENOENT: image {plain.host}/{shown} not found in registry {plain.host}"


def test_plain_http_needs_insecure(plain, check):
    r = check(f"{plain.host}/demo/oci:1.0")
    assert r.rc == errno.EIO, r
    assert r.out.startswith(f"EIO: registry {plain.host}: TLS failed: ")
    assert r.out.endswith(f"(a plain-http registry needs insecure_registry={plain.host})")


def test_insecure_host_without_port_covers_every_port(plain, check):
    r = check(f"{plain.host}/demo/oci:1.0", "--insecure", "127.0.0.1")
    assert (r.rc, r.out) == (0, plain.seeds["demo/oci:1.0"]["digest"]), r


def test_mirror_of_docker_io(plain, check):
    """docker.io names go to the mirror; http:// needs no insecure_registry."""
    # demo/oci is docker.io/demo/oci: the mirror is asked for demo/oci
    r = check("demo/oci:1.0", "--mirror", f"docker.io={plain.url}")
    assert (r.rc, r.out) == (0, plain.seeds["demo/oci:1.0"]["digest"]), r
    r = check("index.docker.io/demo/docker:1.0", "--mirror", f"registry-1.docker.io={plain.url}/")
    assert (r.rc, r.out) == (0, plain.seeds["demo/docker:1.0"]["digest"]), r
    r = check("demo/web:v9", "--mirror", f"docker.io={plain.url}")
    assert r.rc == errno.ENOENT, r
    assert r.line == f"image demo/web:v9 not found in registry docker.io (mirror {plain.host})"


@pytest.mark.parametrize("name", list(KINDS) + ["demo/web:1.0", "demo/web:2.0"])
def test_skopeo_agrees(plain, check, name):
    need("skopeo", "skopeo")
    p = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                        f"docker://{plain.host}/{name}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    want = plain.seeds[name]["digest"]
    assert json.loads(p.stdout)["Digest"] == want
    r = check(f"{plain.host}/{name}", "--insecure", plain.host)
    assert (r.rc, r.out) == (0, want), r


# ----------------------------------------------------- htpasswd Basic auth

def test_basic_without_credentials_is_enokey(basic, check):
    r = check(f"{basic.host}/demo/oci:1.0", "--insecure", basic.host)
    assert r.rc == errno.ENOKEY, r
    assert r.line == (f"image {basic.host}/demo/oci:1.0 not found, or private, in registry "
                      f"{basic.host}: add credentials to the registry object or the docker config")


def test_basic_right_password(basic, check):
    r = check(f"{basic.host}/demo/oci-index:1.0", "--insecure", basic.host, creds=ALICE)
    assert (r.rc, r.out) == (0, basic.seeds["demo/oci-index:1.0"]["digest"]), r


def test_basic_credentials_from_environment(basic, check):
    r = check(f"{basic.host}/demo/docker:1.0", "--insecure", basic.host, creds_env=ALICE)
    assert (r.rc, r.out) == (0, basic.seeds["demo/docker:1.0"]["digest"]), r


def test_basic_wrong_password_is_eacces(basic, check):
    r = check(f"{basic.host}/demo/oci:1.0", "--insecure", basic.host,
              creds={"username": "alice", "password": "not-the-password"})
    assert r.rc == errno.EACCES, r
    assert r.line == (f"registry {basic.host} refused the credentials of user alice "
                      f"for {basic.host}/demo/oci:1.0")


def test_basic_credentials_from_docker_config(basic, check, tmp_path):
    cfg = docker_config(tmp_path, {f"http://{basic.host}/v2/": {"auth": b64("bob:builder")}})
    r = check(f"{basic.host}/demo/docker-list:1.0", "--insecure", basic.host, docker_config=cfg)
    assert (r.rc, r.out) == (0, basic.seeds["demo/docker-list:1.0"]["digest"]), r
    assert r.err == ""


def test_basic_wrong_password_in_docker_config(basic, check, tmp_path):
    cfg = docker_config(tmp_path, {basic.host: {"username": "bob", "password": "wrong-one"}})
    r = check(f"{basic.host}/demo/oci:1.0", "--insecure", basic.host, docker_config=cfg)
    assert r.rc == errno.EACCES, r
    assert "wrong-one" not in r.out + r.err


def test_absent_docker_config_is_quiet(plain, check, tmp_path):
    r = check(f"{plain.host}/demo/oci:1.0", "--insecure", plain.host,
              docker_config=tmp_path / "does-not-exist")
    assert (r.rc, r.err) == (0, ""), r


def test_broken_docker_config_is_logged_and_skipped(plain, check, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "config.json").write_text('{"auths": {"x": {"password": "s3cret" oops')
    r = check(f"{plain.host}/demo/oci:1.0", "--insecure", plain.host, docker_config=d)
    assert r.rc == 0, r
    assert "is not JSON" in r.err and "s3cret" not in r.err


# ----------------------------------------------------------- token auth

def test_token_anonymous_denied_is_enokey(token, check):
    before = len(token.token_requests())
    r = check(f"{token.host}/demo/oci:1.0", *token.opts)
    assert r.rc == errno.ENOKEY, r
    assert r.line.startswith(f"image {token.host}/demo/oci:1.0 not found, or private, ")
    reqs = token.token_requests()[before:]
    assert [(q["method"], q["user"], q["scopes"], q["service"]) for q in reqs] == \
        [("GET", None, ["repository:demo/oci:pull"], regtool.SERVICE)]


def test_token_anonymous_public(token, check):
    r = check(f"{token.host}/public/oci-index:1.0", *token.opts)
    assert (r.rc, r.out) == (0, token.seeds["public/oci-index:1.0"]["digest"]), r


@pytest.mark.parametrize("name", KINDS)
def test_token_with_credentials(token, check, name):
    before = len(token.token_requests())
    r = check(f"{token.host}/{name}", *token.opts, creds=ALICE)
    assert (r.rc, r.out) == (0, token.seeds[name]["digest"]), r
    reqs = token.token_requests()[before:]
    assert [(q["method"], q["user"], q["grant"]) for q in reqs] == [("GET", "alice", "get")]


def test_token_wrong_password_is_eacces(token, check):
    r = check(f"{token.host}/demo/oci:1.0", *token.opts,
              creds={"username": "alice", "password": "nope-nope"})
    assert r.rc == errno.EACCES, r
    assert r.line == (f"registry {token.host} refused the credentials of user alice "
                      f"for {token.host}/demo/oci:1.0")


def test_token_refresh_token(token, check):
    """A token (identitytoken) goes as an OAuth2 refresh token, POSTed."""
    before = len(token.token_requests())
    r = check(f"{token.host}/demo/docker:1.0", *token.opts,
              creds={"token": "refresh-alice"})
    assert (r.rc, r.out) == (0, token.seeds["demo/docker:1.0"]["digest"]), r
    reqs = token.token_requests()[before:]
    assert [(q["method"], q["grant"], q["user"]) for q in reqs] == \
        [("POST", "refresh_token", "alice")]


def test_token_bad_refresh_token_is_eacces(token, check):
    r = check(f"{token.host}/demo/docker:1.0", *token.opts,
              creds={"token": "refresh-mallory"})
    assert r.rc == errno.EACCES, r


def test_token_identitytoken_from_docker_config(token, check, tmp_path):
    cfg = docker_config(tmp_path, {token.host: {"auth": b64("<token>:"),
                                                "identitytoken": "refresh-alice"}})
    r = check(f"{token.host}/demo/oci:1.0", *token.opts, docker_config=cfg)
    assert (r.rc, r.out) == (0, token.seeds["demo/oci:1.0"]["digest"]), r


def test_token_is_cached(token, check):
    before = len(token.token_requests())
    r = check(f"{token.host}/demo/web:2.0", *token.opts, "--repeat", "5",
              creds=ALICE)
    assert (r.rc, r.out) == (0, token.seeds["demo/web:2.0"]["digest"]), r
    assert len(token.token_requests()) - before == 1


# ------------------------------------------------------------------ TLS

def test_tls_with_cacert(tls, check):
    r = check(f"{tls.host}/demo/oci-index:1.0", "--cacert", tls.cacert)
    assert (r.rc, r.out) == (0, tls.seeds["demo/oci-index:1.0"]["digest"]), r


def test_tls_without_cacert_is_eio(tls, check):
    r = check(f"{tls.host}/demo/oci:1.0")
    assert r.rc == errno.EIO, r
    assert r.out.startswith(f"EIO: registry {tls.host}: TLS failed: ")
    assert "certificate" in r.out


def test_tls_insecure_skips_verification(tls, check):
    r = check(f"{tls.host}/demo/docker-list:1.0", "--insecure", tls.host)
    assert (r.rc, r.out) == (0, tls.seeds["demo/docker-list:1.0"]["digest"]), r


def test_tls_skopeo_agrees(tls):
    need("skopeo", "skopeo")
    for name in KINDS:
        p = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                            f"docker://{tls.host}/{name}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["Digest"] == tls.seeds[name]["digest"]


# ------------------------------------------- registries that misbehave

def test_registry_down_is_econnrefused_fast(check):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"127.0.0.1:{port}"
    for opts in (["--insecure", host], []):
        r = check(f"{host}/demo/web:1.0", "--timeout", "5", *opts)
        assert r.rc == errno.ECONNREFUSED, r
        assert r.out == f"ECONNREFUSED: registry {host} refused the connection"
        assert r.elapsed < 1.0


@pytest.fixture
def silent_server():
    """Accepts connections (the kernel does) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield f"127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


@pytest.mark.parametrize("insecure", [True, False])
def test_registry_that_never_answers_is_etimedout(check, silent_server, insecure):
    opts = ["--insecure", silent_server] if insecure else []
    r = check(f"{silent_server}/demo/web:1.0", "--timeout", "1", *opts)
    assert r.rc == errno.ETIMEDOUT, r
    assert r.out == f"ETIMEDOUT: registry {silent_server} did not answer within 1 s"
    assert 1.0 <= r.elapsed < 1.0 + SLACK, r.elapsed


class HoldingServer:
    """Accepts every connection, reads what comes, never answers; counts
    the connections that sent something (a request or a TLS hello) and
    notes when the last of them did."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.host = f"127.0.0.1:{self.srv.getsockname()[1]}"
        self.conns = []
        self.talked = 0
        self.last_talk = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.srv.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn = self.srv.accept()[0]
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        first = True
        try:
            while conn.recv(65536):
                if first:
                    with self.lock:
                        self.talked += 1
                        self.last_talk = time.monotonic()
                    first = False
        except OSError:
            pass

    def wait_talked(self, n, idle, timeout=30):
        """Until n connections sent something, the last one idle s ago."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if self.talked >= n and time.monotonic() - self.last_talk >= idle:
                    return
            time.sleep(0.01)
        raise AssertionError(f"only {self.talked} of {n} connections sent a request")

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.srv.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def holding_server():
    s = HoldingServer()
    try:
        yield s
    finally:
        s.stop()


CANCELLED = "ECANCELED: cancelled: deployfs is shutting down"


@pytest.mark.parametrize("how,threads", [("mirror", 1), ("insecure", 1), ("mirror", 3)],
                         ids=["http-request", "tls-handshake", "three-threads"])
def test_sigterm_cancels_transfers_in_flight(regcheck_bin, holding_server, tmp_path,
                                             how, threads):
    """dfs_cancel_all() from a SIGTERM handler ends every transfer in flight
    with ECANCELED and the shutdown line, long before the 30 s timeout:
    curl's progress callback alone would take a second, and nothing at all
    would end a transfer that receives no data before its deadline.
    The checks run on threads that block SIGTERM, as FUSE workers do not
    take the daemon's signals, so no EINTR shortens their wait: they must
    see the flag. They are left waiting 0.5 s first: curl's own connect-phase
    timer (200 ms) wakes a fresh transfer anyway and would hide a missing
    check of the flag."""
    host = holding_server.host
    opts = (["--mirror", f"{host}=http://{host}"] if how == "mirror"
            else ["--insecure", host])  # https first: it hangs in the handshake
    p = subprocess.Popen([regcheck_bin, "--cancel-on-sigterm", "--timeout", "30",
                          "--threads", str(threads), *opts, f"{host}/demo/web:1.0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, DOCKER_CONFIG=str(tmp_path)))
    try:
        holding_server.wait_talked(threads, idle=0.5)   # every check waits for its answer
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out.strip()) == (errno.ECANCELED, CANCELLED), err
    # measured inside regcheck, from the signal to the checks' return: the
    # transfers look at the flag every 50 ms; the margin is for a loaded
    # machine, and still well under curl's one-second progress interval
    ms = float(err.split("cancel_to_return_ms ")[1].split()[0])
    assert ms < 400, err
    assert elapsed < 5, elapsed   # process exit included (a sanitiser's too)
    # the https attempt was cancelled, not failed over to plain http
    assert holding_server.talked == threads


def test_mirror_down_names_the_mirror(check):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = check("nginx:1.25", "--mirror", f"docker.io=http://127.0.0.1:{port}")
    assert r.rc == errno.ECONNREFUSED, r
    assert r.line == f"registry docker.io (mirror 127.0.0.1:{port}) refused the connection"


# --------------------------------------- the exact requests the client sends

class RecordingServer:
    """An HTTP/1.1 server on 127.0.0.1 that records every request and
    answers from routes: {(method, path): (status, headers, body)} or a
    callable(request) returning that; unknown routes get 404."""

    def __init__(self, routes):
        self.routes = routes
        self.requests = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                u = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length", "0") or 0)
                req = {"method": self.command, "path": u.path, "query": u.query,
                       "port": self.client_address[1],  # one per connection
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": self.rfile.read(n) if n else b""}
                rec.requests.append(req)
                route = rec.routes.get((self.command, u.path), (404, {}, b""))
                status, headers, body = route(req) if callable(route) else route
                self.send_response(status)
                for k, v in headers.items():
                    for one in (v if isinstance(v, list) else [v]):
                        self.send_header(k, one)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading: that is the test

            do_GET = do_HEAD = do_POST = handle_any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.host = f"127.0.0.1:{self.srv.server_address[1]}"
        self.url = "http://" + self.host
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join()


@pytest.fixture
def recorder():
    servers = []

    def make(routes):
        s = RecordingServer(routes)
        servers.append(s)
        return s
    try:
        yield make
    finally:
        for s in servers:
            s.stop()


DIGEST = "sha256:" + "ab" * 32


def test_request_is_a_head_with_all_four_media_types(recorder, check):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"):
                    (200, {"Docker-Content-Digest": DIGEST,
                           "Content-Type": seed_registry.OCI_MANIFEST}, b"")})
    r = check(f"{srv.host}/demo/web:1.0", "--insecure", srv.host)
    assert (r.rc, r.out) == (0, DIGEST), r
    # the https attempt fails at TLS and leaves no HTTP request here
    assert [(q["method"], q["path"]) for q in srv.requests] == \
        [("HEAD", "/v2/demo/web/manifests/1.0")]
    h = srv.requests[0]["headers"]
    assert [t.strip() for t in h["accept"].split(",")] == MEDIA_TYPES
    assert "authorization" not in h
    assert h["user-agent"].startswith("deployfs/")


def test_mirror_request_path(recorder, check):
    srv = recorder({("HEAD", "/v2/library/nginx/manifests/1.25"):
                    (200, {"Docker-Content-Digest": DIGEST}, b"")})
    r = check("nginx:1.25", "--mirror", f"docker.io={srv.url}")
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [(q["method"], q["path"]) for q in srv.requests] == \
        [("HEAD", "/v2/library/nginx/manifests/1.25")]


def test_get_when_head_is_refused(recorder, check):
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): (405, {}, b""),
                    ("GET", "/v2/demo/web/manifests/1.0"):
                    (200, {"Content-Type": seed_registry.OCI_MANIFEST}, body)})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    # no Docker-Content-Digest at all: the digest is the body's sha256
    assert (r.rc, r.out) == (0, "sha256:" + hashlib.sha256(body).hexdigest()), r
    assert [q["method"] for q in srv.requests] == ["HEAD", "GET"]
    assert [t.strip() for t in srv.requests[1]["headers"]["accept"].split(",")] == MEDIA_TYPES


def test_get_when_head_lacks_the_digest(recorder, check):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): (200, {}, b""),
                    ("GET", "/v2/demo/web/manifests/1.0"):
                    (200, {"Docker-Content-Digest": DIGEST}, b"{}")})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [q["method"] for q in srv.requests] == ["HEAD", "GET"]


def test_oversized_manifest_is_eio(recorder, check):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): (405, {}, b""),
                    ("GET", "/v2/demo/web/manifests/1.0"): (200, {}, b"x" * (5 << 20))})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert r.rc == errno.EIO, r
    assert r.line == f"registry {srv.host} (mirror {srv.host}): answer larger than 4194304 bytes"


def bearer_routes(challenge, token="tok-123", expires_in=300):
    def manifest(req):
        if req["headers"].get("authorization") == f"Bearer {token}":
            return 200, {"Docker-Content-Digest": DIGEST}, b""
        return 401, {"WWW-Authenticate": challenge}, b""

    def tok(req):
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"token": token, "expires_in": expires_in}).encode()
    return {("HEAD", "/v2/demo/web/manifests/1.0"): manifest, ("GET", "/token"): tok}


def test_bearer_challenge_with_quoted_commas(recorder, check):
    routes = {}
    srv = recorder(routes)
    routes.update(bearer_routes(
        f'Bearer realm="{srv.url}/token",service="svc, with comma",'
        'scope="repository:demo/web:pull,push"'))
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [(q["method"], q["path"]) for q in srv.requests] == [
        ("HEAD", "/v2/demo/web/manifests/1.0"), ("GET", "/token"),
        ("HEAD", "/v2/demo/web/manifests/1.0")]
    assert srv.requests[1]["query"] == \
        "service=svc%2C%20with%20comma&scope=repository%3Ademo%2Fweb%3Apull%2Cpush"
    assert "authorization" not in srv.requests[1]["headers"]  # anonymous
    assert srv.requests[2]["headers"]["authorization"] == "Bearer tok-123"


def test_bearer_token_reused_across_checks(recorder, check):
    routes = {}
    srv = recorder(routes)
    routes.update(bearer_routes(f'Bearer realm="{srv.url}/token",service="s"'))
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}",
              "--repeat", "3")
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [q["path"] for q in srv.requests].count("/token") == 1
    # the scope the client computed when the challenge named none
    assert "scope=repository%3Ademo%2Fweb%3Apull" in srv.requests[1]["query"]
    # keep-alive: registry and realm share a host, so all went on one connection
    assert len(srv.requests) == 5 and len({q["port"] for q in srv.requests}) == 1


def test_one_client_many_threads(token, check):
    """One client shared by threads, as FUSE workers share it: every check
    answers, and the token cache bounds the token requests."""
    before = len(token.token_requests())
    r = check(f"{token.host}/demo/docker-list:1.0", *token.opts,
              "--threads", "4", "--repeat", "25", creds=ALICE)
    assert (r.rc, r.out) == (0, token.seeds["demo/docker-list:1.0"]["digest"]), r
    assert "checks 100 " in r.err
    # without the cache it would be 100; threads that miss it at the same
    # moment each fetch one, and a busy machine may see one refetch each
    assert 1 <= len(token.token_requests()) - before <= 8


def test_basic_challenge_sends_credentials(recorder, check):
    want = "Basic " + b64("carol:pa55word")

    def manifest(req):
        if req["headers"].get("authorization") == want:
            return 200, {"Docker-Content-Digest": DIGEST}, b""
        return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): manifest})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}",
              creds={"username": "carol", "password": "pa55word"})
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [q["headers"].get("authorization") for q in srv.requests] == [None, want]


# ------------------------------------------------ where credentials go

CAROL = {"name": "acme", "username": "carol", "password": "pa55word"}
CAROL_BASIC = "Basic " + b64("carol:pa55word")


@pytest.mark.parametrize("url", ["registry.acme.example", "https://registry.acme.example/v2/",
                                 "127.0.0.1"], ids=["host", "url", "same-host-other-port"])
def test_image_on_another_host_than_the_registry_object_is_refused(recorder, check, url):
    """The registry object's credentials go only to the host its url
    names: an image elsewhere is refused before any request."""
    srv = recorder({})
    r = check(f"{srv.host}/x:1", "--insecure", srv.host, creds=dict(CAROL, url=url))
    want = url.split("://")[-1].split("/")[0]
    assert (r.rc, r.out) == (errno.EINVAL, f"EINVAL: image {srv.host}/x:1 is not on registry "
                             f"acme ({want}): its credentials are sent only there"), r
    assert srv.requests == []


def test_registry_object_without_url_is_refused(recorder, check):
    srv = recorder({})
    r = check(f"{srv.host}/x:1", "--insecure", srv.host, creds=dict(CAROL, url=""))
    assert (r.rc, r.line) == (errno.EINVAL, f"image {srv.host}/x:1: registry acme has no url, "
                              "and its credentials are sent only to the registry its url "
                              "names: write its url"), r
    assert srv.requests == []


def basic_routes(path="/v2/library/nginx/manifests/1.25"):
    def manifest(req):
        if req["headers"].get("authorization") == CAROL_BASIC:
            return 200, {"Docker-Content-Digest": DIGEST}, b""
        return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
    return {("HEAD", path): manifest}


@pytest.mark.parametrize("url", ["docker.io", "https://index.docker.io/v1/",
                                 "registry-1.docker.io"])
def test_mirror_gets_the_credentials_of_the_registry_it_stands_for(recorder, check, url):
    """registry_mirror=docker.io=URL is the operator's redirection of
    docker.io: its registry object's credentials go to the mirror."""
    srv = recorder(basic_routes())
    r = check("nginx:1.25", "--mirror", f"docker.io={srv.url}", creds=dict(CAROL, url=url))
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [q["headers"].get("authorization") for q in srv.requests] == [None, CAROL_BASIC]


def bearer_to(realm, token="tok-anon"):
    def manifest(req):
        if req["headers"].get("authorization") == f"Bearer {token}":
            return 200, {"Docker-Content-Digest": DIGEST}, b""
        return 401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b""
    return {("HEAD", "/v2/demo/web/manifests/1.0"): manifest}


def token_answer(status, token="tok-anon"):
    body = json.dumps({"token": token}).encode() if status == 200 else b"{}"
    return {("GET", "/token"): (status, {"Content-Type": "application/json"}, body),
            ("POST", "/token"): (status, {"Content-Type": "application/json"}, body)}


@pytest.mark.parametrize("creds", [CAROL, {"name": "acme", "token": "refresh-carol"}],
                         ids=["password", "refresh-token"])
def test_plain_http_realm_on_another_port_gets_no_credentials(recorder, check, creds):
    tok = recorder(token_answer(401))
    reg = recorder(bearer_to(f"{tok.url}/token"))
    r = check(f"{reg.host}/demo/web:1.0", "--insecure", reg.host, creds=creds)
    assert (r.rc, r.line) == (errno.EACCES, f"registry {reg.host} refused anonymous access to "
                              f"{reg.host}/demo/web:1.0: the credentials were withheld from "
                              f"its token server {tok.host} because it is not HTTPS"), r
    # one anonymous GET: no Authorization, no refresh token POSTed
    assert [(q["method"], q["headers"].get("authorization"), q["body"])
            for q in tok.requests] == [("GET", None, b"")]
    assert "carol" not in tok.requests[0]["query"]
    assert [q["headers"].get("authorization") for q in reg.requests] == [None]


def test_plain_http_realm_anonymous_token_still_works(recorder, check):
    tok = recorder(token_answer(200))
    reg = recorder(bearer_to(f"{tok.url}/token"))
    r = check(f"{reg.host}/demo/web:1.0", "--insecure", reg.host, creds=CAROL)
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [q["headers"].get("authorization") for q in tok.requests] == [None]


@pytest.mark.parametrize("how", ["insecure", "mirror"])
def test_plain_http_realm_on_the_registry_itself_gets_credentials(recorder, check, how):
    """The registry's own host:port, allowed plain http: the credentials
    go there with every manifest request anyway."""
    routes = {}
    reg = recorder(routes)
    routes.update(bearer_to(f"{reg.url}/token"))
    routes.update(token_answer(200))
    opts = ["--insecure", reg.host] if how == "insecure" else ["--mirror", f"{reg.host}={reg.url}"]
    r = check(f"{reg.host}/demo/web:1.0", *opts, creds=CAROL)
    assert (r.rc, r.out) == (0, DIGEST), r
    assert [(q["path"], q["headers"].get("authorization")) for q in reg.requests] == [
        ("/v2/demo/web/manifests/1.0", None), ("/token", CAROL_BASIC),
        ("/v2/demo/web/manifests/1.0", "Bearer tok-anon")]


def test_redirect_is_not_followed_with_the_credentials(recorder, check):
    other = recorder({})
    routes = {}
    srv = recorder(routes)

    def manifest(req):
        if req["headers"].get("authorization") == CAROL_BASIC:
            return 307, {"Location": f"{other.url}/v2/demo/web/manifests/1.0"}, b""
        return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
    routes[("HEAD", "/v2/demo/web/manifests/1.0")] = manifest
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}", creds=CAROL)
    assert (r.rc, r.line) == (errno.EIO, f"registry {srv.host} (mirror {srv.host}) answered "
                              f"HTTP 307 for {srv.host}/demo/web:1.0"), r
    assert other.requests == []


@pytest.mark.parametrize("status,code", [(500, errno.EIO), (503, errno.EIO),
                                         (429, errno.EAGAIN), (400, errno.EIO)])
def test_error_statuses(recorder, check, status, code):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): (status, {}, b"")})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert r.rc == code, r


def test_401_without_challenge_is_eio(recorder, check):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"): (401, {}, b"")})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert r.rc == errno.EIO, r
    assert r.line == (f"registry {srv.host} (mirror {srv.host}) answered 401 without a "
                      "usable WWW-Authenticate challenge")


def test_invalid_digest_header_is_eio(recorder, check):
    srv = recorder({("HEAD", "/v2/demo/web/manifests/1.0"):
                    (200, {"Docker-Content-Digest": "sha256:nothex"}, b"")})
    r = check(f"{srv.host}/demo/web:1.0", "--mirror", f"{srv.host}={srv.url}")
    assert r.rc == errno.EIO, r


# ------------------------------------------------- oversized answers

@pytest.fixture
def raw_answer():
    """raw_answer(data) -> host: a server that reads a request and answers
    every connection with data as is, then closes it."""
    socks = []

    def make(data):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        socks.append(srv)

        def serve():
            while True:
                try:
                    conn = srv.accept()[0]
                except OSError:
                    return   # closed by the finalizer
                with conn:
                    try:
                        conn.recv(65536)
                        conn.sendall(data)
                    except OSError:
                        pass   # the client gave up reading: that is the test
        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{srv.getsockname()[1]}"
    try:
        yield make
    finally:
        for srv in socks:
            srv.close()


def answer_with(headers):
    return (b"HTTP/1.1 200 OK\r\nDocker-Content-Digest: " + DIGEST.encode() + b"\r\n" +
            b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers) +
            b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize("headers", [
    [("X-Big", "a" * (1 << 20))],                          # one 1 MB line
    [(f"X-Many-{i}", "b" * 1000) for i in range(100)],     # 100 KB in 100 lines
], ids=["one-line", "many-lines"])
@pytest.mark.parametrize("insecure", [True, False], ids=["insecure", "mirror"])
def test_headers_over_64_kib_are_eio(raw_answer, check, headers, insecure):
    host = raw_answer(answer_with(headers))
    opts = ["--insecure", host] if insecure else ["--mirror", f"{host}=http://{host}"]
    r = check(f"{host}/demo/web:1.0", "--timeout", "20", *opts)
    label = host if insecure else f"{host} (mirror {host})"
    assert (r.rc, r.out) == (errno.EIO, f"EIO: registry {label}: response headers over 64 KiB"), r
    assert r.elapsed < 5, r.elapsed   # stopped at the bound, not at the deadline


def test_headers_under_64_kib_pass(raw_answer, check):
    host = raw_answer(answer_with([(f"X-Many-{i}", "b" * 1000) for i in range(60)]))
    r = check(f"{host}/demo/web:1.0", "--mirror", f"{host}=http://{host}")
    assert (r.rc, r.out) == (0, DIGEST), r


def test_more_than_128_header_lines_are_eio(raw_answer, check):
    host = raw_answer(answer_with([(f"X-{i}", "1") for i in range(130)]))
    r = check(f"{host}/demo/web:1.0", "--mirror", f"{host}=http://{host}")
    assert (r.rc, r.line) == (errno.EIO, f"registry {host} (mirror {host}): answer has more "
                              "than 128 header lines"), r


# ------------------------------------------------------------- valgrind

@pytest.mark.skipif(not shutil.which("valgrind") or bool(os.environ.get("REGCHECK")),
                    reason="valgrind not installed, or a sanitiser build")
def test_valgrind_clean(token, check, regcheck_bin, tmp_path):
    f = tmp_path / "vg-creds"
    f.write_text(f"url={token.host}\nusername=alice\npassword=wonderland\n")
    f.chmod(0o600)
    p = subprocess.run(["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect", regcheck_bin,
                        *token.opts, "--creds-file", str(f), "--repeat", "2",
                        f"{token.host}/demo/oci-index:1.0"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DOCKER_CONFIG=str(tmp_path)))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == token.seeds["demo/oci-index:1.0"]["digest"]
