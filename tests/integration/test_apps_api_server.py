"""tests/tools/apps_api.py, the apps API the remote-backend tests run
against: each endpoint, each error body, auth and 2FA, token rotation,
both list shapes, every fault, the request log, its lifecycle, and the
server-side registry check against real registries on loopback.
"""
import copy
import http.client
import json
import os
import shutil
import socket
import time

import pytest

from conftest import DEMO_STORE, PROD, REGISTRY, WEB, WORKER
from apps_api_client import NO_2FA_TOKEN, TOKEN, TOKENS, AppsApi
from registry import Registry, free_port
from seed_registry import Client, push_image

STAGING = "660e8400-e29b-41d4-a716-446655440011"
STAGING_WEB = "550e8400-e29b-41d4-a716-446655440300"
COMPANY = "770e8400-e29b-41d4-a716-446655440002"
PATCH_WEB = f"/environments/{PROD}/app/{WEB}/image"
PASSWORD = "pw-must-never-leak-7f3a"


def error(r, status, code):
    """The JSON error body of r, after checking its status and shape."""
    assert r.status == status, r.body
    body = r.json
    assert set(body) == {"code", "message", "details"} and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def names(objs):
    return [o["name"] for o in objs]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    api = AppsApi(tmp_path_factory.mktemp("api"), args=["--no-registry-check"]).start()
    api.initial = api.state()
    yield api
    assert api.stop() == 0


@pytest.fixture
def api(server):
    """The shared server, reset to the demo store, no faults, empty log."""
    server.set_tokens(TOKENS)
    server.set_state(server.initial)
    server.clear_faults()
    server.clear_requests()
    return server


@pytest.fixture
def make_api(tmp_path):
    """Factory for servers with other options; all are stopped at the end."""
    apis = []

    def make(*args, sub="a", **kw):
        a = AppsApi(tmp_path / sub, args=["--no-registry-check", *args], **kw).start()
        apis.append(a)
        return a

    yield make
    for a in apis:
        a.stop()


# -- endpoints -----------------------------------------------------------
def test_environments_list_and_get(api):
    r = api.call("GET", "/environments")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    assert names(r.json) == ["prod", "staging"]
    with open(os.path.join(DEMO_STORE, "environments", PROD + ".json")) as f:
        assert api.call("GET", f"/environments/{PROD}").json == json.load(f)
    body = error(api.call("GET", "/environments/nope"), 404, "NOT_FOUND")
    assert body["details"] == {"id": "nope"}


def test_apps_list_and_get(api):
    assert names(api.call("GET", f"/environments/{PROD}/app").json) == ["web", "api", "worker"]
    assert names(api.call("GET", f"/environments/{STAGING}/app").json) == ["web"]
    assert api.call("GET", f"/environments/{PROD}/app/{WEB}").json["id"] == WEB
    error(api.call("GET", "/environments/nope/app"), 404, "NOT_FOUND")
    error(api.call("GET", f"/environments/{STAGING}/app/{WEB}"), 404, "NOT_FOUND")  # other env
    error(api.call("GET", f"/environments/{PROD}/app/nope"), 404, "NOT_FOUND")


def test_patch_returns_the_whole_app_with_version_bumped(api):
    before = api.call("GET", f"/environments/{PROD}/app/{WEB}").json
    r = api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1.27-alpine"})
    assert r.status == 200, r.body
    want = copy.deepcopy(before)
    want["source"]["image"] = {"name": "nginx", "tag": "1.27-alpine"}
    want.update(version=before["version"] + 1, modifiedBy="alice")
    assert r.json == want
    assert api.call("GET", f"/environments/{PROD}/app/{WEB}").json == want
    with open(api.state_path) as f:  # saved at once
        assert json.load(f)["apps"][WEB] == want


def test_patch_sets_and_clears_the_registry(api):
    body = {"imageName": "registry.acme.example/acme/worker", "imageTag": "2025.01"}
    r = api.call("PATCH", f"/environments/{PROD}/app/{WORKER}/image", body)
    assert r.status == 200 and "containerRegistryConfigIdRef" not in r.json["source"]
    r = api.call("PATCH", f"/environments/{PROD}/app/{WORKER}/image",
                 dict(body, containerRegistryId=REGISTRY))
    assert r.status == 200 and r.json["source"]["containerRegistryConfigIdRef"] == REGISTRY
    assert r.json["source"]["image"] == {"name": body["imageName"], "tag": "2025.01"}


@pytest.mark.parametrize("body,field", [
    ({"imageName": "nginx"}, "imageTag"),
    ({"imageTag": "1.0"}, "imageName"),
    ({"imageName": "nginx", "imageTag": "v2 beta"}, "imageTag"),
    ({"imageName": "nginx", "imageTag": "-x"}, "imageTag"),
    ({"imageName": "nginx", "imageTag": "a" * 129}, "imageTag"),
    ({"imageName": "Nginx", "imageTag": "1.0"}, "imageName"),
    ({"imageName": "nginx:1.25", "imageTag": "1.0"}, "imageName"),
    ({"imageName": "nginx@sha256:" + "0" * 64, "imageTag": "1.0"}, "imageName"),
    ({"imageName": "nginx", "imageTag": 1}, "imageTag"),
    ({"imageName": "nginx", "imageTag": "1", "extra": 1}, "extra"),
    ({"imageName": "nginx", "imageTag": "1", "containerRegistryId": "nope"},
     "containerRegistryId"),
    (["nginx", "1"], None),
])
def test_patch_validation_failed(api, body, field):
    r = api.call("PATCH", PATCH_WEB, body)
    assert error(r, 400, "VALIDATION_FAILED")["details"] == ({"field": field} if field else {})
    assert api.state() == api.initial


def test_patch_of_a_body_that_is_not_json(api):
    error(api.call("PATCH", PATCH_WEB, raw=b"{nope"), 400, "VALIDATION_FAILED")
    assert api.requests()[-1]["body_raw"] == "{nope"


@pytest.mark.parametrize("path", [
    f"/environments/{PROD}/app/nope/image",
    f"/environments/{STAGING}/app/{WEB}/image",
    f"/environments/nope/app/{WEB}/image",
])
def test_patch_of_an_unknown_app_is_404(api, path):
    error(api.call("PATCH", path, {"imageName": "nginx", "imageTag": "1"}), 404, "NOT_FOUND")


def deleted_state(api):
    s = copy.deepcopy(api.initial)
    s["apps"][WEB]["isDeleted"] = True
    s["environments"][STAGING]["isDeleted"] = True
    return s


def test_deleted_objects_are_hidden(api):
    api.set_state(deleted_state(api))
    assert names(api.call("GET", "/environments").json) == ["prod"]
    assert names(api.call("GET", f"/environments/{PROD}/app").json) == ["api", "worker"]
    error(api.call("GET", f"/environments/{PROD}/app/{WEB}"), 404, "NOT_FOUND")
    error(api.call("GET", f"/environments/{STAGING}"), 404, "NOT_FOUND")
    error(api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1"}), 404, "NOT_FOUND")
    assert api.state()["apps"][WEB]["isDeleted"] is True  # kept


def test_show_deleted_lists_them_but_never_writes_them(api, make_api):
    other = make_api("--show-deleted")
    other.set_state(deleted_state(api))
    assert names(other.call("GET", "/environments").json) == ["prod", "staging"]
    assert other.call("GET", f"/environments/{PROD}/app/{WEB}").json["isDeleted"] is True
    r = other.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1"})
    error(r, 404, "NOT_FOUND")


def test_unknown_path_and_method(api):
    error(api.call("GET", "/nope"), 404, "NOT_FOUND")
    body = error(api.call("DELETE", f"/environments/{PROD}"), 405, "METHOD_NOT_ALLOWED")
    assert body["details"] == {"allow": ["GET"]}


# -- registries ----------------------------------------------------------
def test_registry_create_get_and_conflict(api):
    body = {"name": "hub", "url": "https://hub.example.com/", "username": "u",
            "password": PASSWORD}
    r = api.call("POST", f"/{COMPANY}/containerRegistryConfig", body)
    assert r.status == 201, r.body
    created = r.json
    rid = created["id"]
    assert created == {"id": rid, "name": "hub", "url": body["url"], "username": "u",
                       "companyIdRef": COMPANY, "isDeleted": False, "createdBy": "alice",
                       "modifiedBy": "alice", "version": 1}
    assert r.headers["Location"] == f"/api/v1/{COMPANY}/container-registries/{rid}"
    assert api.call("GET", r.headers["Location"]).json == created
    assert api.state()["registries"][rid]["password"] == PASSWORD  # kept server-side
    again = api.call("POST", f"/{COMPANY}/containerRegistryConfig",
                     {"name": "hub2", "url": "HUB.example.com", "token": "t"})
    assert error(again, 409, "CONFLICT")["details"] == {"id": rid}
    r = api.call("POST", f"/{COMPANY}/containerRegistryConfig",
                 {"name": "ghcr", "url": "ghcr.io", "token": "ghp_secret"})
    assert r.status == 201 and "token" not in r.json
    error(api.call("GET", f"/{COMPANY}/container-registries/nope"), 404, "NOT_FOUND")
    error(api.call("GET", f"/other-company/container-registries/{rid}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("body", [
    {"url": "a.example", "token": "t"},
    {"name": "a", "token": "t"},
    {"name": "a", "url": "a.example"},
    {"name": "a", "url": "a.example", "password": "p"},
    {"name": "a", "url": "a.example", "username": "u", "password": "p", "token": "t"},
    {"name": "", "url": "a.example", "token": "t"},
    {"name": "a", "url": "a.example", "token": "t", "extra": "x"},
])
def test_registry_validation_failed(api, body):
    error(api.call("POST", f"/{COMPANY}/containerRegistryConfig", body), 400,
          "VALIDATION_FAILED")
    assert api.state() == api.initial


def test_registry_of_an_unknown_company_is_404(api):
    r = api.call("POST", "/nope/containerRegistryConfig", {"name": "a", "url": "a", "token": "t"})
    error(r, 404, "NOT_FOUND")


# -- auth ----------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"},
                                     {"Authorization": "Basic YWxpY2U6eA=="},
                                     {"Authorization": "Bearer wrong"}])
def test_missing_or_invalid_token_is_401(api, headers):
    r = api.call("GET", "/environments", token=None, headers=headers)
    error(r, 401, "UNAUTHORIZED")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    error(api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1"}, token=None,
                   headers=headers), 401, "UNAUTHORIZED")
    assert api.state() == api.initial


def test_writes_need_2fa_reads_do_not(api):
    assert api.call("GET", f"/environments/{PROD}/app", token=NO_2FA_TOKEN).status == 200
    r = api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1"}, token=NO_2FA_TOKEN)
    error(r, 403, "2fa_required")
    r = api.call("POST", f"/{COMPANY}/containerRegistryConfig",
                 {"name": "a", "url": "a.example", "token": "t"}, token=NO_2FA_TOKEN)
    error(r, 403, "2fa_required")
    assert api.state() == api.initial


def test_token_rotation_is_seen_at_the_next_request(api):
    assert api.call("GET", "/environments").status == 200
    api.set_tokens({"new-token": {"user": "carol", "twofa": True}})
    error(api.call("GET", "/environments"), 401, "UNAUTHORIZED")
    r = api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "1"}, token="new-token")
    assert r.status == 200 and r.json["modifiedBy"] == "carol"
    os.unlink(api.tokens_path)  # no file: no tokens
    error(api.call("GET", "/environments", token="new-token"), 401, "UNAUTHORIZED")


# -- lists ---------------------------------------------------------------
def follow(api, path, shape):
    """Every item of a list, following next links; also the links seen."""
    items, links = [], []
    while path:
        r = api.call("GET", path)
        assert r.status == 200, r.body
        if shape == "wrapped":
            assert set(r.json) == {"items", "next"} and "Link" not in r.headers
            items += r.json["items"]
            path = r.json["next"]
        else:
            assert isinstance(r.json, list)
            items += r.json
            link = r.headers.get("Link")
            path = link[1:link.index(">")] if link else None
            assert not link or link.endswith('>; rel="next"')
        links.append(path)
    return items, links


@pytest.mark.parametrize("shape", ["array", "wrapped"])
def test_pages_and_their_next_links(api, make_api, shape):
    paged = make_api("--page-size", "2", "--list-shape", shape)
    apps, links = follow(paged, f"/environments/{PROD}/app", shape)
    assert apps == api.call("GET", f"/environments/{PROD}/app").json
    assert links == [f"/api/v1/environments/{PROD}/app?page=2", None]
    envs, links = follow(paged, "/environments", shape)
    assert names(envs) == ["prod", "staging"] and links == [None]
    past = paged.call("GET", "/environments?page=9").json
    assert past == ([] if shape == "array" else {"items": [], "next": None})
    for bad in ("0", "x", "-1"):
        error(paged.call("GET", f"/environments?page={bad}"), 400, "VALIDATION_FAILED")


def test_wrapped_without_pages(make_api):
    r = make_api("--list-shape", "wrapped").call("GET", "/environments")
    assert names(r.json["items"]) == ["prod", "staging"] and r.json["next"] is None


def test_prefix_is_an_option(make_api):
    other = make_api("--prefix", "/v9/x", prefix="/v9/x")
    assert other.url.endswith("/v9/x")
    assert other.call("GET", "/environments").status == 200
    conn = http.client.HTTPConnection("127.0.0.1", other.port, timeout=10)
    conn.request("GET", "/api/v1/environments", headers={"Authorization": f"Bearer {TOKEN}"})
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["code"] == "NOT_FOUND"
    conn.close()


# -- faults --------------------------------------------------------------
@pytest.mark.parametrize("status,code", [(500, "INTERNAL_ERROR"), (503, "SERVICE_UNAVAILABLE"),
                                         (429, "TOO_MANY_REQUESTS")])
def test_fault_status_count_and_retry_after(api, status, code):
    api.faults([{"match": r"^PATCH /environments/.*/image$", "status": status, "count": 2,
                 "retry_after": 3}])
    body = {"imageName": "nginx", "imageTag": "1"}
    assert api.call("GET", f"/environments/{PROD}/app/{WEB}").status == 200  # not matched
    for _ in range(2):
        r = api.call("PATCH", PATCH_WEB, body)
        error(r, status, code)
        assert r.headers["Retry-After"] == "3"
    assert api.state() == api.initial  # the service never saw them
    assert api.call("PATCH", PATCH_WEB, body).status == 200
    assert api.admin("GET", "faults")[0]["count"] == 0


def test_fault_applied_first_changes_the_state(api):
    api.faults([{"match": "PATCH ", "status": 500, "apply": True}])
    error(api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "9"}), 500,
          "INTERNAL_ERROR")
    assert api.state()["apps"][WEB]["source"]["image"]["tag"] == "9"


def test_fault_delay_then_serves(api):
    api.faults([{"match": r"GET /environments$", "delay": 0.3}])
    t = time.monotonic()
    r = api.call("GET", "/environments")
    assert r.status == 200 and names(r.json) == ["prod", "staging"]
    assert time.monotonic() - t >= 0.3


def test_fault_hang_until_the_client_goes(api):
    api.faults([{"match": "GET /environments", "hang": True, "count": 1}])
    t = time.monotonic()
    with pytest.raises(socket.timeout):
        api.call("GET", "/environments", timeout=0.3)
    assert time.monotonic() - t < 5
    assert api.call("GET", "/environments").status == 200  # served again
    assert [e["status"] for e in api.requests()] == [None, 200]


def test_fault_malformed_body(api):
    api.faults([{"match": "GET /environments", "malformed": True}])
    r = api.call("GET", "/environments")
    assert r.status == 200
    with pytest.raises(ValueError):
        json.loads(r.body)


def test_fault_oversized_body(api):
    api.faults([{"match": "GET /environments$", "oversized": 2, "apply": True}])
    r = api.call("GET", "/environments")
    assert r.status == 200 and len(r.body) == 2 << 20 == int(r.headers["Content-Length"])
    assert names(json.loads(r.body)) == ["prod", "staging"]  # valid JSON, padded


def test_fault_custom_body_and_clear(api):
    api.faults([{"match": "GET /environments$", "body": {"unexpected": "shape"}}])
    assert api.call("GET", "/environments").json == {"unexpected": "shape"}
    api.clear_faults()
    assert isinstance(api.call("GET", "/environments").json, list)


@pytest.mark.parametrize("rule", [{"status": 500}, {"match": "(", "status": 500},
                                  {"match": "x", "bogus": 1}, {"match": "x", "delay": "1"}])
def test_bad_fault_rules_are_refused(api, rule):
    error(api.call("POST", "/_admin/faults", [rule], token=None), 400, "VALIDATION_FAILED")
    assert api.admin("GET", "faults") == []


# -- request log and admin state ------------------------------------------
def test_request_log(api):
    api.call("GET", "/environments?page=1")
    api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "2"})
    api.call("GET", "/environments", token="stolen-token-value")
    log = api.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v1/environments?page=1", 200), ("PATCH", "/api/v1" + PATCH_WEB, 200),
        ("GET", "/api/v1/environments", 401)]
    assert [e["headers"]["Authorization"] for e in log] == ["alice", "alice", "invalid"]
    assert log[1]["body"] == {"imageName": "nginx", "imageTag": "2"}
    assert log[1]["headers"]["Content-Type"] == "application/json"
    assert TOKEN not in json.dumps(log) and "stolen-token-value" not in json.dumps(log)
    api.clear_requests()
    assert api.requests() == []


def test_state_put_is_a_change_made_elsewhere(api):
    s = copy.deepcopy(api.initial)
    s["apps"][WEB]["source"]["image"]["tag"] = "changed-remotely"
    api.set_state(s)
    assert api.call("GET", f"/environments/{PROD}/app/{WEB}").json["source"]["image"]["tag"] \
        == "changed-remotely"
    error(api.call("PUT", "/_admin/state", {"apps": [{"no": "id"}]}, token=None), 400,
          "VALIDATION_FAILED")


def test_seed_from_store_keeps_credentials_server_side(tmp_path, make_api):
    store = tmp_path / "store"
    shutil.copytree(DEMO_STORE, store)
    doc_path = store / "registries" / (REGISTRY + ".json")
    doc = json.loads(doc_path.read_text())
    doc["password"] = PASSWORD
    doc_path.write_text(json.dumps(doc))
    api = make_api(seed=str(store))
    state = api.state()
    for kind in ("environments", "apps", "registries"):
        docs = [json.loads(p.read_text()) for p in sorted((store / kind).glob("*.json"))]
        assert list(state[kind].values()) == docs
    r = api.call("GET", f"/{COMPANY}/container-registries/{REGISTRY}")
    assert r.json == {k: v for k, v in doc.items() if k != "password"}


# -- lifecycle -----------------------------------------------------------
def test_sigterm_restart_and_kill(make_api):
    api = make_api()
    assert api.call("PATCH", PATCH_WEB, {"imageName": "nginx", "imageTag": "r1"}).status == 200
    port = api.port
    assert api.stop() == 0
    api.start()
    assert api.port == port
    assert api.call("GET", f"/environments/{PROD}/app/{WEB}").json["source"]["image"]["tag"] \
        == "r1"
    assert api.kill() == -9
    with pytest.raises(ConnectionRefusedError):
        api.call("GET", "/environments")
    api.restart()
    assert api.port == port and api.call("GET", "/environments").status == 200


# -- the registry check against real registries ----------------------------
def seed_images(reg, images, user=None):
    c = Client(reg.url, cacert=reg.cacert, user=user,
               password=reg.users.get(user) if user else None)
    for repo, tag, docker in images:
        push_image(c, repo, tag, f"{repo}:{tag}", "amd64", docker)


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    regs = {}
    try:
        regs["plain"] = Registry(str(tmp_path_factory.mktemp("plain"))).start()
        seed_images(regs["plain"], [("library/nginx", "1.25-alpine", False),
                                    ("library/nginx", "1.28", True)])
        regs["basic"] = Registry(str(tmp_path_factory.mktemp("basic")), auth="htpasswd").start()
        seed_images(regs["basic"], [("private/app", "1.0", False)], user="alice")
        regs["token"] = Registry(str(tmp_path_factory.mktemp("token")), auth="token").start()
        seed_images(regs["token"], [("public/tool", "1.0", False), ("private/app", "2.0", True)],
                    user="alice")
        yield regs
    finally:
        for r in regs.values():
            r.stop()


def registry_obj(rid, reg, password):
    return {"id": rid, "name": rid, "url": reg.host, "username": "alice", "password": password,
            "companyIdRef": COMPANY}


@pytest.fixture(scope="module")
def checked(tmp_path_factory, registries):
    plain, basic, token = registries["plain"], registries["basic"], registries["token"]
    dead = f"127.0.0.1:{free_port()}"
    api = AppsApi(tmp_path_factory.mktemp("checked"), args=[
        "--registry-mirror", f"docker.io={plain.url}", "--registry-mirror",
        f"dead.example=http://{dead}", "--insecure-registry", basic.host,
        "--insecure-registry", token.host, "--cacert", token.cacert,
        "--registry-timeout", "5"]).start()
    s = api.state()
    for rid, reg, pw in (("good", basic, "wonderland"), ("bad", basic, PASSWORD),
                         ("tok", token, "wonderland")):
        s["registries"][rid] = registry_obj(rid, reg, pw)
    api.set_state(s)
    api.registries = registries
    yield api
    assert api.stop() == 0


def patch(api, name, tag, registry=None):
    body = {"imageName": name, "imageTag": tag}
    if registry:
        body["containerRegistryId"] = registry
    return api.call("PATCH", PATCH_WEB, body)


@pytest.mark.parametrize("name,tag", [("nginx", "1.25-alpine"), ("nginx", "1.28"),
                                      ("docker.io/library/nginx", "1.28"),
                                      ("index.docker.io/library/nginx", "1.25-alpine")])
def test_check_finds_public_images_and_stores_the_name_as_written(checked, name, tag):
    r = patch(checked, name, tag)
    assert r.status == 200, r.body
    assert r.json["source"]["image"] == {"name": name, "tag": tag}


def test_check_refuses_a_missing_tag_and_repository(checked):
    before = checked.state()["apps"][WEB]
    body = error(patch(checked, "nginx", "9.9"), 400, "VALIDATION_FAILED")
    assert body["message"] == "image nginx:9.9 not found in registry docker.io"
    error(patch(checked, "nosuch/repo", "1"), 400, "VALIDATION_FAILED")
    assert checked.state()["apps"][WEB] == before


def test_check_with_basic_credentials(checked):
    host = checked.registries["basic"].host
    assert patch(checked, f"{host}/private/app", "1.0", "good").status == 200
    body = error(patch(checked, f"{host}/private/app", "1.0"), 400, "VALIDATION_FAILED")
    assert "or it is private" in body["message"]
    body = error(patch(checked, f"{host}/private/app", "1.0", "bad"), 400, "VALIDATION_FAILED")
    assert body["message"] == f"registry {host} refused the credentials of container registry bad"
    error(patch(checked, f"{host}/private/app", "9", "good"), 400, "VALIDATION_FAILED")


def test_check_with_the_token_flow(checked):
    reg = checked.registries["token"]
    before = len(reg.token_requests())
    assert patch(checked, f"{reg.host}/public/tool", "1.0").status == 200  # anonymous
    error(patch(checked, f"{reg.host}/private/app", "2.0"), 400, "VALIDATION_FAILED")
    assert patch(checked, f"{reg.host}/private/app", "2.0", "tok").status == 200
    users = [e["user"] for e in reg.token_requests()[before:]]
    assert users == [None, None, "alice"]


def test_credentials_go_only_to_their_registry(checked):
    body = error(patch(checked, "nginx", "1.28", "good"), 400, "VALIDATION_FAILED")
    assert body["message"].startswith("image nginx:1.28 is not on registry good")


def test_an_unreachable_registry_is_500(checked):
    error(patch(checked, "dead.example/x", "1"), 500, "INTERNAL_ERROR")


def test_no_response_ever_holds_a_registry_password(checked, api):
    checked.responses.clear()
    api.responses.clear()
    host = checked.registries["basic"].host
    patch(checked, f"{host}/private/app", "1.0", "bad")
    patch(checked, "nginx", "1.28", "bad")
    checked.call("GET", f"/{COMPANY}/container-registries/bad")
    checked.call("POST", f"/{COMPANY}/containerRegistryConfig",
                 {"name": "dup", "url": host, "username": "alice", "password": PASSWORD})
    r = api.call("POST", f"/{COMPANY}/containerRegistryConfig",
                 {"name": "n", "url": "n.example", "username": "alice", "password": PASSWORD})
    api.call("GET", r.headers["Location"])
    api.call("POST", f"/{COMPANY}/containerRegistryConfig",
             {"name": "n", "url": "n.example", "username": "alice", "password": PASSWORD})
    api.call("POST", f"/{COMPANY}/containerRegistryConfig", {"password": PASSWORD})
    responses = checked.responses + api.responses
    assert len(responses) == 8
    for r in responses:
        assert PASSWORD not in r.body.decode() + str(r.headers.items())
