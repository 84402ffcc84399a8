"""The apps API backend (api=) through a real mount, against the loopback
apps API (tests/tools/apps_api.py): what is listed and read, the exact
requests each write sends, every error (errno, `error` line, the server's
state unchanged), token rotation, registries made by mkdir, concurrent
writers, the server going away, and polling.
"""
import errno
import json
import os
import select
import threading
import time

import pytest

from conftest import Mount, check_sanitizers, oserror, read, sh, wait_until
from apps_api_client import AppsApi, NO_2FA_TOKEN, TOKEN, TOKENS

PROD = "660e8400-e29b-41d4-a716-446655440001"
STAGING = "660e8400-e29b-41d4-a716-446655440011"
WEB = "550e8400-e29b-41d4-a716-446655440000"
API_APP = "550e8400-e29b-41d4-a716-446655440100"
WORKER = "550e8400-e29b-41d4-a716-446655440200"
STAGING_WEB = "550e8400-e29b-41d4-a716-446655440300"
ACME = "880e8400-e29b-41d4-a716-446655440003"
COMPANY = "770e8400-e29b-41d4-a716-446655440002"
PATCH_WEB = "/api/v1/environments/%s/app/%s/image" % (PROD, WEB)


class Env:
    """One apps API server and the mounts made on it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.api = None
        self.mounts = []
        self.token_path = str(tmp / "token")
        self.set_token(TOKEN)

    def start_api(self, args=()):
        self.api = AppsApi(self.tmp / "api", args=["--no-registry-check"] + list(args)).start()
        return self.api

    def set_token(self, token):
        with open(self.token_path + ".tmp", "w") as f:
            f.write(token + "\n")
        os.replace(self.token_path + ".tmp", self.token_path)

    def mount(self, extra="", poll=60, sub="m", token_file=True, env=None, start=True):
        opts = "api=%s,registry_check=off,poll=%s,timeout=5" % (self.api.url, poll)
        if token_file:
            opts += ",api_token_file=" + self.token_path
        if extra:
            opts += "," + extra
        m = Mount(self.tmp / sub, options=opts, env=env)
        self.mounts.append(m)
        return m.start() if start else m

    def state(self, kind, oid):
        return self.api.state()[kind][oid]

    def requests(self, method=None, path=None):
        return [r for r in self.api.requests()
                if (method is None or r["method"] == method) and
                (path is None or r["path"].split("?")[0] == path)]


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    e.start_api()
    yield e
    for m in reversed(e.mounts):
        m.stop()
    if e.api:
        e.api.stop()
    check_sanitizers(e.mounts)


def tree(m):
    out = {}
    for env_name in sorted(os.listdir(m.path("environments"))):
        out[env_name] = sorted(os.listdir(m.path("environments", env_name, "apps")))
    return out


def app_path(m, *parts, envname="prod", app="web"):
    return m.path("environments", envname, "apps", app, *parts)


def echo(path, value):
    return sh("echo %s > %s" % (value, path))


def write_errno(path, value):
    """errno of writing value (one write(2), as echo does), 0 on success."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, (value + "\n").encode())
    except OSError as e:
        return e.errno
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    return 0


# ---------------------------------------------------------------- reading

EXPECTED_TREE = {"prod": ["api", "web", "worker"], "staging": ["web"]}


@pytest.mark.parametrize("shape", ["array", "wrapped"])
def test_lists_follow_next_links_one_request_per_page(tmp_path, shape):
    e = Env(tmp_path)
    e.start_api(["--page-size", "1", "--list-shape", shape])
    try:
        m = e.mount()
        assert tree(m) == EXPECTED_TREE
        gets = [r["path"] for r in e.requests("GET")]
        # environments: 2 pages and the empty one past the end, at most
        env_pages = [p for p in gets if p.startswith("/api/v1/environments?") or
                     p == "/api/v1/environments"]
        assert 2 <= len(env_pages) <= 3
        assert len(set(env_pages)) == len(env_pages)
        # one request per page, never one per entry
        assert not [p for p in gets if "/app/" in p]
        assert not [p for p in gets if p.count("/") == 4 and p.startswith("/api/v1/environments/")
                    and "?" not in p and not p.endswith("/app")]
        prod_pages = [p for p in gets if p.startswith("/api/v1/environments/%s/app" % PROD)]
        assert 3 <= len(prod_pages) <= 4
        # the registry an app names: one GET by id
        assert ("/api/v1/%s/container-registries/%s" % (COMPANY, ACME)) in gets
        assert sorted(os.listdir(m.path("registries"))) == ["acme"]
    finally:
        for mm in e.mounts:
            mm.stop()
        e.api.stop()
        check_sanitizers(e.mounts)


def test_next_link_to_another_origin_is_not_followed(env):
    env.api.faults([{"match": "^GET /environments$", "count": 1,
                     "body": {"items": [], "next": "http://evil.example:1/api/v1/environments"}}])
    m = env.mount(start=False)
    with pytest.raises(RuntimeError):
        m.start()
    assert "not followed" in m.log()


def test_read_every_file(env):
    m = env.mount()
    state = env.api.state()
    for eid, envdoc in state["environments"].items():
        assert read(m.path("environments", envdoc["name"], "id")) == eid + "\n"
        assert read(m.path("environments", envdoc["name"], "name")) == envdoc["name"] + "\n"
    names = {PROD: "prod", STAGING: "staging"}
    for aid, app in state["apps"].items():
        d = m.path("environments", names[app["envIdRef"]], "apps", app["name"])
        img = app["source"]["image"]
        assert read(os.path.join(d, "id")) == aid + "\n"
        assert read(os.path.join(d, "name")) == app["name"] + "\n"
        assert read(os.path.join(d, "image")) == img["name"] + "\n"
        assert read(os.path.join(d, "tag")) == img["tag"] + "\n"
        assert read(os.path.join(d, "ref")) == "%s:%s\n" % (img["name"], img["tag"])
        reg = app["source"].get("containerRegistryConfigIdRef")
        assert read(os.path.join(d, "registry")) == (reg + "\n" if reg else "")
        assert read(os.path.join(d, "version")) == "%d\n" % app["version"]
        for f, key in (("hostname", "hostname"), ("port", "port"), ("created_by", "createdBy"),
                       ("modified_by", "modifiedBy")):
            want = app.get(key)
            assert read(os.path.join(d, f)) == ("" if want is None else "%s\n" % want)
        for f in ("cpu", "memory", "storage"):
            want = app.get("resources", {}).get(f)
            assert read(os.path.join(d, "resources", f)) == ("" if want is None else "%s\n" % want)
        assert json.loads(read(os.path.join(d, "app.json"))) == app
        assert read(os.path.join(d, "error")) == ""
    acme = m.path("registries", "acme")
    assert read(os.path.join(acme, "id")) == ACME + "\n"
    assert read(os.path.join(acme, "url")) == "registry.acme.example\n"
    # images still come from the local store
    assert "e7db3b45-8db7-47ad-8109-3fb55c2c24fd" in os.listdir(m.path("images"))


def test_deleted_and_malformed_objects_are_not_served(env):
    s = env.api.state()
    s["apps"][API_APP]["isDeleted"] = True
    s["apps"][WORKER]["source"]["image"]["tag"] = {"not": "a tag"}
    env.api.set_state(s)
    env.api.faults([{"match": "^GET /environments$", "apply": True, "count": 1,
                     "body": [dict(s["environments"][PROD], isDeleted=False),
                              dict(s["environments"][STAGING], isDeleted=True)]}])
    m = env.mount()
    assert tree(m) == {"prod": ["web"]}
    assert "apps API: apps/%s: source.image.tag is an object, not a string; skipped" \
        % WORKER in m.log()


def test_mount_fails_when_the_api_is_unreachable_or_refuses_the_token(env, tmp_path):
    port = env.api.port
    env.api.stop()
    m = env.mount(start=False, sub="down")
    with pytest.raises(RuntimeError):
        m.start()
    assert m.proc.returncode != 0
    lines = [l for l in m.log().splitlines() if l.startswith("deployfs:")]
    assert lines == ["deployfs: apps API 127.0.0.1:%d refused the connection" % port]
    env.api.start()
    env.set_token("no-such-token")
    m = env.mount(start=False, sub="badtoken")
    with pytest.raises(RuntimeError):
        m.start()
    assert "the token was refused" in m.log()
    assert "no-such-token" not in m.log()


# ---------------------------------------------------------------- writing

def last_patch(env):
    (p,) = env.requests("PATCH")[-1:]
    return p


def test_each_write_file_sends_one_patch_with_the_other_values(env):
    m = env.mount()
    env.api.clear_requests()
    assert echo(app_path(m, "tag"), "1.27-alpine").returncode == 0
    patches = env.requests("PATCH")
    assert [p["path"] for p in patches] == [PATCH_WEB]
    assert patches[0]["body"] == {"imageName": "nginx", "imageTag": "1.27-alpine"}
    app = env.state("apps", WEB)
    assert app["source"]["image"] == {"name": "nginx", "tag": "1.27-alpine"}
    assert read(app_path(m, "version")) == "%d\n" % app["version"]
    assert json.loads(read(app_path(m, "app.json"))) == app
    # no GET after the PATCH: its answer is the new app
    reqs = env.api.requests()
    assert reqs[-1]["method"] == "PATCH"

    steps = [("image", "nginxinc/nginx-unprivileged",
              {"imageName": "nginxinc/nginx-unprivileged", "imageTag": "1.27-alpine"}),
             ("ref", "redis:7.2", {"imageName": "redis", "imageTag": "7.2"}),
             ("registry", "acme", {"imageName": "redis", "imageTag": "7.2",
                                   "containerRegistryId": ACME}),
             ("tag", "7.4", {"imageName": "redis", "imageTag": "7.4",
                             "containerRegistryId": ACME})]
    for f, value, body in steps:
        env.api.clear_requests()
        assert echo(app_path(m, f), value).returncode == 0, read(app_path(m, "error"))
        assert env.requests("PATCH")[-1]["body"] == body
        assert len(env.requests("PATCH")) == 1
    assert read(app_path(m, "registry")) == ACME + "\n"
    # an empty registry: public, no containerRegistryId
    env.api.clear_requests()
    assert sh(": > %s" % app_path(m, "registry")).returncode == 0
    assert env.requests("PATCH")[-1]["body"] == {"imageName": "redis", "imageTag": "7.4"}
    assert "containerRegistryConfigIdRef" not in env.state("apps", WEB)["source"]
    assert read(app_path(m, "registry")) == ""


def test_a_stale_copy_is_fetched_again_before_the_patch(env):
    m = env.mount()
    s = env.api.state()
    s["apps"][WEB]["source"]["image"]["name"] = "nginxinc/nginx-unprivileged"
    env.api.set_state(s)
    # the mount's copy is older than one second: what the README promises
    t0 = time.monotonic()
    wait_until(lambda: time.monotonic() - t0 > 1.1, timeout=2)
    env.api.clear_requests()
    assert echo(app_path(m, "tag"), "1.27").returncode == 0
    reqs = [(r["method"], r["path"]) for r in env.api.requests()]
    assert reqs == [("GET", "/api/v1/environments/%s/app/%s" % (PROD, WEB)), ("PATCH", PATCH_WEB)]
    assert env.requests("PATCH")[0]["body"] == {"imageName": "nginxinc/nginx-unprivileged",
                                                "imageTag": "1.27"}


def test_other_files_are_refused(env):
    m = env.mount()
    before = env.api.state()
    assert write_errno(app_path(m, "name"), "x") == errno.EACCES
    assert write_errno(m.path("environments", "prod", "name"), "x") == errno.EACCES
    # a registry the API holds cannot be changed nor deleted
    assert write_errno(m.path("registries", "acme", "url"), "other.example") == errno.EPERM
    assert read(m.path("registries", "acme", "error")) == \
        "apps API: a container registry cannot be changed once created (the API has no " \
        "endpoint for it)\n"
    assert oserror(os.rmdir, m.path("registries", "acme")) == errno.EPERM
    assert os.path.isdir(m.path("registries", "acme"))
    assert env.api.state() == before
    assert not env.requests("PATCH") and not env.requests("POST")


ERRORS = [
    ({"status": 400, "body": {"code": "VALIDATION_FAILED",
                              "message": "image nginx:9.9 not found in registry docker.io"}},
     errno.EINVAL, "apps API: image nginx:9.9 not found in registry docker.io"),
    ({"status": 401}, errno.EACCES, None),
    ({"status": 403, "body": {"code": "FORBIDDEN", "message": "not your app"}},
     errno.EPERM, "apps API: not your app"),
    ({"status": 409, "body": {"code": "CONFLICT", "message": "busy"}}, errno.EEXIST,
     "apps API: busy"),
    ({"status": 429, "body": {"code": "TOO_MANY_REQUESTS", "message": "slow down"}},
     errno.EAGAIN, "apps API: slow down"),
    ({"status": 500, "body": {"code": "INTERNAL_ERROR", "message": "boom\nsecond line"}},
     errno.EIO, "apps API: boom second line"),
    ({"malformed": True}, errno.EIO, None),
    ({"oversized": 17, "body": {}}, errno.EIO, None),   # answered in place of the service
    ({"status": 503, "retry_after": 0}, errno.EAGAIN, None),
]


@pytest.mark.parametrize("fault,want,line", ERRORS,
                         ids=["400", "401", "403", "409", "429", "500", "malformed",
                              "oversized", "503"])
def test_errors_of_a_patch(env, fault, want, line):
    m = env.mount()
    before = env.api.state()
    env.api.faults([dict(fault, match="^PATCH ")])
    assert write_errno(app_path(m, "tag"), "1.27") == want
    err = read(app_path(m, "error"))
    assert err.endswith("\n") and err.count("\n") == 1
    if line:
        assert err == line + "\n"
    assert err.startswith("apps API")
    assert env.api.state() == before
    assert read(app_path(m, "tag")) == "1.25-alpine\n"
    # the next write, once the API is well again, works and clears error
    env.api.clear_faults()
    assert write_errno(app_path(m, "tag"), "1.27") == 0
    assert read(app_path(m, "error")) == ""
    assert env.state("apps", WEB)["source"]["image"]["tag"] == "1.27"


def test_2fa_required(env):
    env.set_token(NO_2FA_TOKEN)
    m = env.mount()
    before = env.api.state()
    assert write_errno(app_path(m, "tag"), "1.27") == errno.EPERM
    assert "the token needs 2FA" in read(app_path(m, "error"))
    assert env.api.state() == before
    assert NO_2FA_TOKEN not in m.log() and NO_2FA_TOKEN not in read(app_path(m, "error"))


def test_503_is_retried_within_the_deadline(env):
    m = env.mount()
    env.api.faults([{"match": "^PATCH ", "status": 503, "retry_after": 0, "count": 2}])
    assert write_errno(app_path(m, "tag"), "1.27") == 0
    assert len(env.requests("PATCH")) == 3
    assert env.state("apps", WEB)["source"]["image"]["tag"] == "1.27"


def test_a_hung_api_never_hangs_a_caller(env):
    """A PATCH the server never answers fails with ETIMEDOUT at the mount's
    timeout; meanwhile reads are served from the last known state, and the
    API's state is unchanged."""
    m = env.mount()
    before = env.api.state()
    env.api.faults([{"match": "^PATCH ", "hang": True}])
    result = {}

    def writer():
        t0 = time.monotonic()
        result["errno"] = write_errno(app_path(m, "tag"), "1.27")
        result["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=writer)
    t.start()
    assert wait_until(lambda: env.requests("PATCH"))
    assert read(app_path(m, "tag", app="api")) == "v2.0.0\n"   # served while it hangs
    t.join(15)
    assert not t.is_alive()
    assert result["errno"] == errno.ETIMEDOUT
    assert 4 <= result["seconds"] < 8, result   # timeout=5
    assert read(app_path(m, "error")).startswith("apps API")
    assert env.api.state() == before
    assert read(app_path(m, "tag")) == "1.25-alpine\n"


def test_an_app_deleted_on_the_api_disappears(env):
    m = env.mount()
    s = env.api.state()
    s["apps"][WEB]["isDeleted"] = True
    env.api.set_state(s)
    t0 = time.monotonic()
    wait_until(lambda: time.monotonic() - t0 > 1.1, timeout=2)
    assert write_errno(app_path(m, "tag"), "1.27") == errno.ENOENT
    assert wait_until(lambda: not os.path.exists(app_path(m)))
    assert tree(m)["prod"] == ["api", "worker"]


def test_token_rotated_between_two_writes(env):
    m = env.mount()
    assert write_errno(app_path(m, "tag"), "1.26") == 0
    env.api.set_tokens({"rotated-token": {"user": "carol", "twofa": True}})
    env.set_token("rotated-token")
    env.api.clear_requests()
    assert write_errno(app_path(m, "tag"), "1.27") == 0
    users = [(r["method"], r["user"]) for r in env.api.requests()]
    # the old token refused, the file read again, the request sent once more
    assert users[-1] == ("PATCH", "carol")
    assert ("PATCH", "carol") in users and users.count(("PATCH", "carol")) == 1
    assert env.state("apps", WEB)["modifiedBy"] == "carol"
    assert "rotated-token" not in m.log() and TOKEN not in m.log()


def test_token_from_the_environment(env):
    e = dict(os.environ, DEPLOYFS_API_TOKEN=TOKEN)
    m = env.mount(token_file=False, env=e)
    assert write_errno(app_path(m, "tag"), "1.27") == 0
    assert env.state("apps", WEB)["modifiedBy"] == "alice"
    assert TOKEN not in m.log()
    with open("/proc/%d/cmdline" % m.proc.pid, "rb") as f:
        assert TOKEN.encode() not in f.read()


# ------------------------------------------------------------- registries

def test_registry_made_by_mkdir(env):
    m = env.mount()
    hub = m.path("registries", "hub")
    os.mkdir(hub)
    assert not env.requests("POST")
    draft_id = read(os.path.join(hub, "id")).strip()
    assert len(draft_id) == 36
    assert echo(os.path.join(hub, "username"), "bob").returncode == 0
    assert echo(os.path.join(hub, "password"), "pw-Secret-1").returncode == 0
    assert not env.requests("POST")
    assert echo(os.path.join(hub, "url"), "hub.example.com").returncode == 0
    (post,) = env.requests("POST")
    assert post["path"] == "/api/v1/%s/containerRegistryConfig" % COMPANY
    assert post["body"] == {"name": "hub", "url": "hub.example.com", "username": "bob",
                            "password": "pw-Secret-1"}
    created = [r for r in env.api.state()["registries"].values() if r["name"] == "hub"]
    assert len(created) == 1 and created[0]["url"] == "hub.example.com"
    sid = created[0]["id"]
    assert read(os.path.join(hub, "id")) == sid + "\n"
    assert read(os.path.join(hub, "url")) == "hub.example.com\n"
    assert sorted(os.listdir(m.path("registries"))) == ["acme", "hub"]
    # once created it cannot be changed or deleted
    assert write_errno(os.path.join(hub, "username"), "eve") == errno.EPERM
    assert oserror(os.rmdir, hub) == errno.EPERM
    # an app can use it by name: the server's id is sent
    env.api.clear_requests()
    assert echo(app_path(m, "registry"), "hub").returncode == 0, read(app_path(m, "error"))
    assert env.requests("PATCH")[0]["body"]["containerRegistryId"] == sid
    assert "pw-Secret-1" not in m.log()
    assert sh("grep -r -a pw-Secret-1 %s/registries %s/environments" % (m.mnt, m.mnt)).stdout == ""


def test_registry_conflict_and_drafts(env):
    m = env.mount()
    dup = m.path("registries", "dup")
    os.mkdir(dup)
    assert echo(os.path.join(dup, "token"), "tk-Secret").returncode == 0
    before = env.api.state()
    assert write_errno(os.path.join(dup, "url"), "registry.acme.example") == errno.EEXIST
    assert read(os.path.join(dup, "error")).startswith("apps API: ")
    assert env.api.state() == before
    # the draft stays a draft, and removing it sends nothing
    env.api.clear_requests()
    os.rmdir(dup)
    assert not os.path.exists(dup)
    assert env.api.requests() == []
    # a draft cannot be an app's registry yet
    os.mkdir(m.path("registries", "later"))
    assert write_errno(app_path(m, "registry"), "later") == errno.EINVAL
    assert "is a draft" in read(app_path(m, "error"))


def test_registry_company_must_be_known(env):
    s = env.api.state()
    s["environments"][STAGING]["companyIdRef"] = "770e8400-e29b-41d4-a716-000000000999"
    env.api.set_state(s)
    m = env.mount()
    assert oserror(os.mkdir, m.path("registries", "x")) == errno.EINVAL
    assert "several companies" in m.log()
    m2 = env.mount(extra="company=" + COMPANY, sub="m2")
    os.mkdir(m2.path("registries", "x"))
    assert echo(m2.path("registries", "x", "token"), "tk").returncode == 0
    assert echo(m2.path("registries", "x", "url"), "x.example").returncode == 0, \
        read(m2.path("registries", "x", "error"))
    assert env.requests("POST")[0]["path"] == "/api/v1/%s/containerRegistryConfig" % COMPANY


# ------------------------------------------------------------ concurrency

def test_concurrent_writers_to_one_app_lose_no_update(env):
    m = env.mount()
    n = 8
    errors = []

    def images():
        for i in range(n):
            if write_errno(app_path(m, "image"), "img%d" % i):
                errors.append(("image", i))

    def tags():
        for i in range(n):
            if write_errno(app_path(m, "tag"), "t%d" % i):
                errors.append(("tag", i))

    ts = [threading.Thread(target=images), threading.Thread(target=tags)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    app = env.state("apps", WEB)
    assert app["source"]["image"] == {"name": "img%d" % (n - 1), "tag": "t%d" % (n - 1)}
    assert app["version"] == 2 + 2 * n
    assert len(env.requests("PATCH")) == 2 * n


def test_concurrent_writers_to_many_apps(env):
    m = env.mount()
    targets = [("prod", "web"), ("prod", "api"), ("prod", "worker"), ("staging", "web")]
    results = {}

    def write(envname, app):
        results[(envname, app)] = [write_errno(app_path(m, "tag", envname=envname, app=app),
                                               "c%d" % i) for i in range(5)]

    ts = [threading.Thread(target=write, args=t) for t in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(r == [0] * 5 for r in results.values()), results
    s = env.api.state()
    for aid in (WEB, API_APP, WORKER, STAGING_WEB):
        assert s["apps"][aid]["source"]["image"]["tag"] == "c4"


# ------------------------------------------------------- lifecycle, polls

def test_server_killed_and_restarted(env):
    m = env.mount(poll=0.2)
    env.api.kill()
    # reads are served from the last known state
    assert read(app_path(m, "tag")) == "1.25-alpine\n"
    assert tree(m) == EXPECTED_TREE
    assert write_errno(app_path(m, "tag"), "1.27") == errno.ECONNREFUSED
    assert "refused the connection" in read(app_path(m, "error"))
    assert wait_until(lambda: "serving the last known state" in m.log())
    env.api.start()
    assert wait_until(lambda: "apps API answers again" in m.log())
    assert write_errno(app_path(m, "tag"), "1.27") == 0
    assert env.state("apps", WEB)["source"]["image"]["tag"] == "1.27"
    assert m.log().count("serving the last known state") == 1


def test_poll_reports_remote_changes(env):
    m = env.mount(poll=0.2)
    fd = os.open(m.path(".deployfs", "events"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        s = env.api.state()
        s["apps"][WEB]["source"]["image"]["tag"] = "remote-1"
        s["apps"][WEB]["version"] += 1
        del s["apps"][API_APP]
        env.api.set_state(s)
        assert wait_until(lambda: read(app_path(m, "tag")) == "remote-1\n", timeout=5)
        assert wait_until(lambda: not os.path.exists(app_path(m, app="api")), timeout=5)
        lines = []

        def got():
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                lines.extend(os.read(fd, 65536).decode().splitlines())
            return any('"environments/prod/apps/web/tag"' in l for l in lines) and \
                any(json.loads(l).get("old") == API_APP for l in lines)

        assert wait_until(got, timeout=5), lines
        ev = [json.loads(l) for l in lines]
        tag = [e for e in ev if e.get("path") == "environments/prod/apps/web/tag"]
        assert tag[0]["old"] == "1.25-alpine" and tag[0]["new"] == "remote-1"
        assert all(e["origin"] == "remote" for e in ev)
    finally:
        os.close(fd)
    # a write of ours is not reported again by the next poll
    assert write_errno(app_path(m, "tag"), "mine") == 0
    n = len(env.requests("GET", "/api/v1/environments"))
    assert wait_until(lambda: len(env.requests("GET", "/api/v1/environments")) >= n + 2)
    assert read(app_path(m, "tag")) == "mine\n"


def test_history_of_changes_seen_by_polling(env):
    """History on the apps API: this mount's writes, and changes another
    client made, seen by a poll, with the user the server says
    (modifiedBy); kept in the store's .journal/remote."""
    m = env.mount(poll=0.2)
    assert sh("echo mine > %s" % app_path(m, "tag")).returncode == 0
    s = env.api.state()
    s["apps"][WEB]["source"]["image"]["tag"] = "remote-1"
    s["apps"][WEB]["version"] += 1
    s["apps"][WEB]["modifiedBy"] = "carol"
    env.api.set_state(s)
    hist = app_path(m, "history")
    assert wait_until(lambda: len(read(hist).splitlines()) == 2, timeout=10), read(hist)
    rows = [l.split("\t") for l in read(hist).splitlines()]
    # n, user, uid, command, origin, file, old, new: the server checked
    # the image itself, so no digest
    assert [r[:1] + r[2:10] for r in rows] == [
        ["1", "root", "0", "bash", "mount", "ref", "nginx:1.25-alpine", "nginx:mine", ""],
        ["2", "carol", "", "", "remote", "ref", "nginx:mine", "nginx:remote-1", ""],
    ]
    assert os.path.exists(os.path.join(m.state, ".journal", "remote", "apps-%s.log" % WEB))
    # the API sets modifiedBy from its token's user, not from the writer
    assert env.state("apps", WEB)["modifiedBy"] == "carol"
