#!/usr/bin/env python3
"""The Thevenin apps API on 127.0.0.1, for tests and for trying deployfs
without an account. Python standard library only.

    python3 tests/tools/apps_api.py --tokens FILE [--state FILE]
        [--seed-from-store DIR] [--port N] [--port-file FILE]
        [--prefix /api/v1] [--page-size N] [--list-shape array|wrapped]
        [--show-deleted] [--registry-mirror HOST=URL]...
        [--insecure-registry HOST[:PORT]]... [--cacert FILE]
        [--registry-timeout S] [--no-registry-check]

It binds 127.0.0.1 (port 0: a free one), writes the port to --port-file
(by rename: never half a port), prints the base URL, and serves until
SIGTERM or SIGINT, then exits 0. tests/tools/apps_api_client.py starts it
from Python.

API, under the prefix (default /api/v1), as the service documents it:
    GET   /environments                        GET /environments/{id}
    GET   /environments/{envId}/app            GET /environments/{envId}/app/{id}
    PATCH /environments/{envId}/app/{appId}/image
          {"imageName", "imageTag", "containerRegistryId"?} -> 200, the whole app,
          version + 1, modifiedBy = the token's user
    POST  /{companyId}/containerRegistryConfig
          {"name", "url", "username"+"password" | "token"} -> 201, no credentials
    GET   /{companyId}/container-registries/{id}   never password or token
Errors are {"code", "message", "details"}: 400 VALIDATION_FAILED, 401
UNAUTHORIZED, 403 2fa_required, 404 NOT_FOUND, 405 METHOD_NOT_ALLOWED, 409
CONFLICT, 500 INTERNAL_ERROR.

Choices where the service's documents are silent:
- Auth: `Authorization: Bearer T`, T a key of the --tokens file
  {"T": {"user": "alice", "twofa": true}}, re-read whenever the file
  changes (an unparsable file keeps the last good tokens; a missing file
  has none). Auth comes before routing. A token with "twofa": false may
  read; writes (PATCH, POST) need 2FA and get 403 2fa_required.
- isDeleted: deleted objects stay in the state and are hidden: lists skip
  them, GETs answer 404. --show-deleted shows them in lists and GETs (a
  service that leaves filtering to its clients). Writes always answer 404.
- PATCH: the body is the app's whole image: an absent or null
  containerRegistryId makes the app public (the stored ref is removed).
  Unknown fields, a name outside the distribution grammar (stored as
  written; normalised only for the check), a bad tag, a registry id not in
  the app's company: 400. The registry check (apps_api_registry.py) runs
  before the commit: no such manifest -> 400 "image nginx:9.9 not found in
  registry docker.io"; refused without credentials -> 400 "... or private";
  credentials refused -> 400; image not on the registry object's host ->
  400, before any request; registry unreachable or odd answer -> 500.
  --registry-mirror HOST=URL sends HOST's requests to URL (docker.io covers
  Docker Hub's names), --insecure-registry HOST asks HOST over plain http.
- Registries: a company exists when an environment names it (else 404);
  409 when a visible registry of the company has the same url (scheme,
  case and trailing / ignored); credentials are never checked at creation.
- Lists: ?page=K (from 1). --page-size N (0, the default: one page) cuts
  them. --list-shape array (default): a bare JSON array, and a next page is
  a `Link: </api/v1/...?page=K+1>; rel="next"` header; wrapped:
  {"items": [...], "next": "/api/v1/...?page=K+1" or null}. Past the end:
  an empty page. next is an absolute path with its query.
- State: {"environments": {id: obj}, "apps": {...}, "registries": {...}}
  (registries with their credentials), saved atomically after each change.
  --seed-from-store DIR builds it from a deployfs store's environments/,
  apps/, registries/ *.json when the --state file does not exist yet.

Admin, on the same port, no token, never logged, shows secrets:
    GET|DELETE /_admin/requests     every API request received: method, path
        (with query), headers (Authorization replaced by its token's user or
        "invalid"), body (parsed JSON, else "body_raw"), user, time, status
    GET|POST|PUT|DELETE /_admin/faults   POST adds rules, PUT replaces them
    GET|PUT /_admin/state           the whole state / replace it
A fault rule: {"match": regex searched in "METHOD /path?query" (the path
after the prefix), "count": N (default: every time), "delay": s, "status":
C (a JSON error body), "retry_after": s, "hang": true (no answer until the
client goes), "malformed": true (a broken JSON body), "oversized": MB (the
answer padded with spaces to MB MiB), "body": JSON to send, "apply": true
(do the request first, then the fault)}. A rule with only "delay" delays
and then serves; any other answers in place of the service, so nothing
changes unless "apply".
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import http.server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apps_api_registry import Checker, Denied, TAG_RE, split_name, url_host  # noqa: E402

KINDS = ("environments", "apps", "registries")
SECRETS = ("password", "token")
CODES = {400: "VALIDATION_FAILED", 401: "UNAUTHORIZED", 403: "2fa_required",
         404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT",
         429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY",
         503: "SERVICE_UNAVAILABLE"}
FAULT_KEYS = {"match", "count", "delay", "status", "retry_after", "hang", "malformed",
              "oversized", "body", "apply"}
NUMERIC_FAULT_KEYS = ("count", "delay", "status", "retry_after", "oversized")
MALFORMED = b'{"id": "550e8400-e29b-41d4-a716, "name": ['
MAX_BODY, MAX_ADMIN_BODY = 1 << 20, 64 << 20
NOT_JSON = object()  # a body that does not parse
STOP = threading.Event()


class ApiError(Exception):
    def __init__(self, status, message, details=None, code=None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or {}
        self.code = code or CODES.get(status, "ERROR")


class Reply:
    def __init__(self, status, obj=None, headers=None, raw=None, pad=0):
        self.status, self.headers, self.pad = status, dict(headers or {}), pad
        self.body = raw if raw is not None else json.dumps(obj).encode()


def error_reply(e):
    return Reply(e.status, {"code": e.code, "message": e.message, "details": e.details})


# -- state ---------------------------------------------------------------
class Store:
    """The whole state in memory, saved to path (if any) after each change.
    Every access holds self.lock."""

    def __init__(self, path, seed_dir=None):
        self.path, self.lock = path, threading.RLock()
        if path and os.path.exists(path):
            with open(path) as f:
                self.data = normalise_state(json.load(f))
        else:
            self.data = seed_from_store(seed_dir) if seed_dir else normalise_state({})
            self.save()

    def save(self):
        if not self.path:
            return
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path)
        dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def replace(self, data):
        with self.lock:
            self.data = normalise_state(data)
            self.save()


def normalise_state(data):
    """{kind: {id: obj}}; a kind may also be given as a list of objects."""
    if not isinstance(data, dict) or set(data) - set(KINDS):
        raise ValueError(f"state is an object with keys {', '.join(KINDS)}")
    out = {}
    for kind in KINDS:
        objs = data.get(kind, {})
        objs = objs.values() if isinstance(objs, dict) else objs
        if not all(isinstance(o, dict) and isinstance(o.get("id"), str) for o in objs):
            raise ValueError(f"{kind}: every object needs a string id")
        out[kind] = {o["id"]: o for o in objs}
    return out


def seed_from_store(directory):
    """The state a deployfs store holds: its documents are already the
    API's shapes (registries with their credentials)."""
    data = {}
    for kind in KINDS:
        d = os.path.join(directory, kind)
        names = sorted(n for n in os.listdir(d) if n.endswith(".json")
                       and not n.startswith(".")) if os.path.isdir(d) else []
        data[kind] = []
        for n in names:
            with open(os.path.join(d, n)) as f:
                data[kind].append(json.load(f))
    return normalise_state(data)


# -- auth ----------------------------------------------------------------
class Tokens:
    """The --tokens file, read again whenever it changes."""

    def __init__(self, path):
        self.path, self.sig, self.table, self.lock = path, None, {}, threading.Lock()

    def reload(self):
        try:
            st = os.stat(self.path)
        except OSError:
            self.sig, self.table = None, {}
            return
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self.sig:
            return
        try:
            with open(self.path) as f:
                table = json.load(f)
            if not isinstance(table, dict):
                raise ValueError
        except (OSError, ValueError):
            return  # half-written or broken: keep the last good tokens
        self.sig, self.table = sig, table

    def lookup(self, header):
        """The token's entry {"user", "twofa"}, or None."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with self.lock:
            self.reload()
            entry = self.table.get(token.strip())
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), str):
            return None
        return {"user": entry["user"], "twofa": entry.get("twofa", True) is not False}


# -- faults and the request log ------------------------------------------
class Faults:
    def __init__(self):
        self.rules, self.lock = [], threading.Lock()

    def set(self, rules, append):
        rules = rules if isinstance(rules, list) else [rules]
        for r in rules:
            check_rule(r)
        with self.lock:
            self.rules = (self.rules if append else []) + [dict(r) for r in rules]
            return list(self.rules)

    def list(self):
        with self.lock:
            return list(self.rules)

    def take(self, what):
        """The first rule matching what with count left (counted down)."""
        with self.lock:
            for r in self.rules:
                if r.get("count", 1) > 0 and re.search(r["match"], what):
                    if "count" in r:
                        r["count"] -= 1
                    return r
        return None


def check_rule(r):
    if not isinstance(r, dict) or set(r) - FAULT_KEYS or not isinstance(r.get("match"), str):
        raise ApiError(400, f"a fault rule is an object with match and {sorted(FAULT_KEYS)}")
    for k in NUMERIC_FAULT_KEYS:
        if k in r and (not isinstance(r[k], (int, float)) or isinstance(r[k], bool) or r[k] < 0):
            raise ApiError(400, f"fault {k} is a number >= 0")
    try:
        re.compile(r["match"])
    except re.error as e:
        raise ApiError(400, f"match: {e}") from None


def fault_reply(rule, reply):
    """What the client gets for a request that rule caught; reply is the
    service's own answer when it was served first."""
    status = rule.get("status") or (reply.status if reply else 200)
    if "body" in rule:
        out = Reply(status, rule["body"])
    elif rule.get("malformed"):
        out = Reply(status, raw=MALFORMED)
    elif rule.get("status"):
        out = error_reply(ApiError(status, "injected fault"))
    else:
        out = reply or Reply(status, {})
    if rule.get("oversized"):
        out.pad = max(0, int(rule["oversized"] * (1 << 20)) - len(out.body))
    if "retry_after" in rule:
        out.headers["Retry-After"] = str(rule["retry_after"])
    return out


class RequestLog:
    def __init__(self):
        self.entries, self.lock = [], threading.Lock()

    def add(self, entry):
        with self.lock:
            self.entries.append(entry)
        return entry

    def list(self):
        with self.lock:
            return json.loads(json.dumps(self.entries))

    def clear(self):
        with self.lock:
            self.entries = []


# -- the API -------------------------------------------------------------
def visible(api, obj):
    return api.show_deleted or not obj.get("isDeleted")


def public_registry(obj):
    return {k: v for k, v in obj.items() if k not in SECRETS}


def find(api, kind, oid, what, write=False, **refs):
    """The object oid of kind, 404 when unknown, hidden, deleted (for a
    write) or not under refs ({field: id})."""
    obj = api.store.data[kind].get(oid)
    if (obj is None or not visible(api, obj) or (write and obj.get("isDeleted"))
            or any(obj.get(k) != v for k, v in refs.items())):
        raise ApiError(404, f"{what} {oid} not found", {"id": oid})
    return obj


def page(api, req, items):
    try:
        n = int(req.query.get("page", ["1"])[0])
        if n < 1:
            raise ValueError
    except ValueError:
        raise ApiError(400, "page is a whole number from 1", {"field": "page"}) from None
    size = api.page_size or max(1, len(items))
    chunk, more = items[(n - 1) * size:n * size], n * size < len(items)
    nxt = f"{api.prefix}{req.rel}?page={n + 1}" if more else None
    if api.list_shape == "wrapped":
        return Reply(200, {"items": chunk, "next": nxt})
    return Reply(200, chunk, {"Link": f'<{nxt}>; rel="next"'} if nxt else {})


def list_environments(api, req):
    return page(api, req, [e for e in api.store.data["environments"].values() if visible(api, e)])


def get_environment(api, req):
    return Reply(200, find(api, "environments", req.params["env"], "environment"))


def list_apps(api, req):
    env = req.params["env"]
    find(api, "environments", env, "environment")
    return page(api, req, [a for a in api.store.data["apps"].values()
                           if a.get("envIdRef") == env and visible(api, a)])


def get_app(api, req):
    find(api, "environments", req.params["env"], "environment")
    return Reply(200, find(api, "apps", req.params["app"], "app", envIdRef=req.params["env"]))


def image_body(body):
    """(name, tag, registry id or None) of a PATCH .../image body."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body is a JSON object")
    for k in body:
        if k not in ("imageName", "imageTag", "containerRegistryId"):
            raise ApiError(400, f"unknown field {k}", {"field": k})
    for k in ("imageName", "imageTag"):
        if not isinstance(body.get(k), str):
            raise ApiError(400, f"{k} is required (a string)", {"field": k})
    name, tag, reg = body["imageName"], body["imageTag"], body.get("containerRegistryId")
    try:
        split_name(name)
    except ValueError:
        raise ApiError(400, f'imageName "{name}": not a valid image name',
                       {"field": "imageName"}) from None
    if not TAG_RE.fullmatch(tag):
        raise ApiError(400, f'imageTag "{tag}": tags are [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}',
                       {"field": "imageTag"})
    if reg is not None and not isinstance(reg, str):
        raise ApiError(400, "containerRegistryId is a string", {"field": "containerRegistryId"})
    return name, tag, reg or None


def check_image(api, name, tag, reg):
    """The registry check; ApiError when the image may not be used."""
    image, domain = f"{name}:{tag}", split_name(name)[0]
    creds = None
    if reg:
        if url_host(reg.get("url")) != domain:
            raise ApiError(400, f"image {image} is not on registry {reg.get('name')} "
                           f"({reg.get('url')})", {"field": "containerRegistryId"})
        secret = reg.get("password") or reg.get("token")
        creds = (reg.get("username") or "token", secret) if secret else None
    try:
        digest = api.checker.manifest(name, tag, creds)
    except Denied:
        if creds:
            raise ApiError(400, f"registry {domain} refused the credentials of container "
                           f"registry {reg.get('name')}", {"field": "containerRegistryId"})
        raise ApiError(400, f"image {image} not found in registry {domain}, or it is "
                       "private: give a containerRegistryId", {"field": "imageName"})
    except (OSError, RuntimeError) as e:
        raise ApiError(500, f"registry {domain} could not be asked about {image}: {e}")
    if digest is None:
        raise ApiError(400, f"image {image} not found in registry {domain}",
                       {"field": "imageTag"})


def patch_image(api, req):
    name, tag, reg_id = image_body(req.body)
    env, app_id = req.params["env"], req.params["app"]
    with api.store.lock:
        find(api, "environments", env, "environment", write=True)
        app = find(api, "apps", app_id, "app", write=True, envIdRef=env)
        reg = None
        if reg_id:
            reg = api.store.data["registries"].get(reg_id)
            if not reg or reg.get("isDeleted") or reg.get("companyIdRef") != app.get("companyIdRef"):
                raise ApiError(400, f"container registry {reg_id} not found",
                               {"field": "containerRegistryId"})
            reg = dict(reg)
    if api.checker:
        check_image(api, name, tag, reg)  # slow: outside the lock
    with api.store.lock:
        app = find(api, "apps", app_id, "app", write=True, envIdRef=env)
        source = app.setdefault("source", {})
        source.setdefault("image", {}).update(name=name, tag=tag)
        if reg_id:
            source["containerRegistryConfigIdRef"] = reg_id
        else:
            source.pop("containerRegistryConfigIdRef", None)
        app["version"] = app.get("version", 0) + 1
        app["modifiedBy"] = req.user
        api.store.save()
        return Reply(200, app)


def registry_body(body):
    if not isinstance(body, dict):
        raise ApiError(400, "the body is a JSON object")
    for k, v in body.items():
        if k not in ("name", "url", "username", "password", "token"):
            raise ApiError(400, f"unknown field {k}", {"field": k})
        if not isinstance(v, str) or not v:
            raise ApiError(400, f"{k} is a non-empty string", {"field": k})
    for k in ("name", "url"):
        if k not in body:
            raise ApiError(400, f"{k} is required", {"field": k})
    if ("password" in body) == ("token" in body) or ("password" in body and "username" not in body):
        raise ApiError(400, "give username and password, or token", {"field": "password"})
    return body


def url_key(url):
    """A registry url as the 409 check compares it: host and path."""
    path = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", url or "").partition("/")[2]
    return url_host(url) + "/" + path.rstrip("/")


def create_registry(api, req):
    company, body = req.params["company"], registry_body(req.body)
    with api.store.lock:
        if not any(e.get("companyIdRef") == company
                   for e in api.store.data["environments"].values()):
            raise ApiError(404, f"company {company} not found", {"id": company})
        for r in api.store.data["registries"].values():
            if (r.get("companyIdRef") == company and visible(api, r)
                    and url_key(r.get("url")) == url_key(body["url"])):
                raise ApiError(409, f"a container registry with url {body['url']} exists",
                               {"id": r["id"]})
        obj = dict(id=str(uuid.uuid4()), **body, companyIdRef=company, isDeleted=False,
                   createdBy=req.user, modifiedBy=req.user, version=1)
        api.store.data["registries"][obj["id"]] = obj
        api.store.save()
    return Reply(201, public_registry(obj),
                 {"Location": f"{api.prefix}/{company}/container-registries/{obj['id']}"})


def get_registry(api, req):
    return Reply(200, public_registry(find(api, "registries", req.params["reg"], "container "
                 "registry", companyIdRef=req.params["company"])))


ROUTES = [(m, re.compile(p), f, w) for m, p, f, w in (
    ("GET", r"/environments", list_environments, False),
    ("GET", r"/environments/(?P<env>[^/]+)", get_environment, False),
    ("GET", r"/environments/(?P<env>[^/]+)/app", list_apps, False),
    ("GET", r"/environments/(?P<env>[^/]+)/app/(?P<app>[^/]+)", get_app, False),
    ("PATCH", r"/environments/(?P<env>[^/]+)/app/(?P<app>[^/]+)/image", patch_image, True),
    ("POST", r"/(?P<company>[^/]+)/containerRegistryConfig", create_registry, True),
    ("GET", r"/(?P<company>[^/]+)/container-registries/(?P<reg>[^/]+)", get_registry, False),
)]


class Request:
    def __init__(self, rel, query, body, user):
        self.rel, self.query, self.body, self.user, self.params = rel, query, body, user, {}


def route(method, rel):
    """(handler, params, is_write); ApiError 404 or 405."""
    allowed = []
    for m, pattern, fn, write in ROUTES:
        hit = pattern.fullmatch(rel)
        if hit and m == method:
            return fn, {k: urllib.parse.unquote(v) for k, v in hit.groupdict().items()}, write
        if hit:
            allowed.append(m)
    if allowed:
        raise ApiError(405, f"{method} is not allowed here", {"allow": allowed})
    raise ApiError(404, f"no such resource: {rel}")


def serve_api(api, method, rel, query, body, who):
    """The service's answer to one request (never raises)."""
    try:
        if who is None:
            raise ApiError(401, "missing or invalid Bearer token")
        fn, params, write = route(method, rel)
        if write and not who["twofa"]:
            raise ApiError(403, "writes need a token with two-factor authentication")
        if body is NOT_JSON:
            raise ApiError(400, "the body is not JSON")
        req = Request(rel, urllib.parse.parse_qs(query), body, who["user"])
        req.params = params
        return fn(api, req)
    except ApiError as e:
        reply = error_reply(e)
        if e.status == 401:
            reply.headers["WWW-Authenticate"] = 'Bearer realm="apps API"'
        return reply
    except Exception as e:  # the service's own failure
        return error_reply(ApiError(500, f"internal error: {type(e).__name__}"))


def serve_admin(api, method, path, body):
    what = (method, path[len("/_admin/"):])
    if body is NOT_JSON:
        raise ApiError(400, "the body is not JSON")
    if what == ("GET", "requests"):
        return Reply(200, api.log.list())
    if what == ("DELETE", "requests"):
        api.log.clear()
        return Reply(200, [])
    if what == ("GET", "faults"):
        return Reply(200, api.faults.list())
    if what in (("POST", "faults"), ("PUT", "faults"), ("DELETE", "faults")):
        return Reply(200, api.faults.set(body if method != "DELETE" else [],
                                         append=method == "POST"))
    if what == ("GET", "state"):
        with api.store.lock:
            return Reply(200, api.store.data)
    if what == ("PUT", "state"):
        try:
            api.store.replace(body)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return Reply(200, {})
    raise ApiError(404, f"no such admin resource: {method} {path}")


# -- HTTP ----------------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api = None  # set by main()

    def log_message(self, fmt, *args):
        pass

    def do_any(self):
        url = urllib.parse.urlsplit(self.path)
        admin = url.path.startswith("/_admin/")
        try:
            raw = self.read_body(MAX_ADMIN_BODY if admin else MAX_BODY)
            body = parse_json(raw)
            if admin:
                return self.send(serve_admin(self.api, self.command, url.path, body))
        except ApiError as e:
            return self.send(error_reply(e))
        who = self.api.tokens.lookup(self.headers.get("Authorization"))
        entry = self.api.log.add(self.log_entry(raw, body, who))
        if not url.path.startswith(self.api.prefix + "/"):
            return self.send(error_reply(ApiError(404, f"no such resource: {url.path}")))
        rel = url.path[len(self.api.prefix):]
        rule = self.api.faults.take(f"{self.command} {rel}" + (f"?{url.query}" if url.query else ""))
        if rule and rule.get("delay"):
            STOP.wait(rule["delay"])
        passes = rule is None or rule.get("apply") or set(rule) <= {"match", "count", "delay"}
        reply = serve_api(self.api, self.command, rel, url.query, body, who) if passes else None
        if rule and rule.get("hang"):
            return self.hang()
        if rule and not set(rule) <= {"match", "count", "delay"}:
            reply = fault_reply(rule, reply)
        entry["status"] = reply.status
        self.send(reply)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_any

    def read_body(self, limit):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline(64).split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                if len(data) + size > limit:
                    self.close_connection = True
                    raise ApiError(400, f"the body is over {limit} bytes")
                data += self.rfile.read(size)
                self.rfile.readline(8)
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            self.close_connection = True
            raise ApiError(400, f"the body is over {limit} bytes")
        return self.rfile.read(n) if n > 0 else b""

    def log_entry(self, raw, body, who):
        headers = {}
        for k, v in self.headers.items():
            if k.lower() == "authorization":
                v = who["user"] if who else "invalid"
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        entry = {"method": self.command, "path": self.path, "headers": headers,
                 "body": None if body is NOT_JSON else body,
                 "user": who["user"] if who else None, "time": time.time(), "status": None}
        if body is NOT_JSON:
            entry["body_raw"] = raw.decode(errors="replace")
        return entry

    def hang(self):
        """No answer until the client closes or the server stops."""
        self.close_connection = True
        sock = self.connection
        while not STOP.is_set():
            if select.select([sock], [], [], 0.1)[0]:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return
                STOP.wait(0.1)

    def send(self, reply):
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body) + reply.pad))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
                chunk, left = b" " * (1 << 20), reply.pad
                while left > 0:
                    self.wfile.write(chunk[:left])
                    left -= len(chunk)
        except OSError:
            self.close_connection = True


def parse_json(raw):
    """The parsed body, None when empty, NOT_JSON when it does not parse."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return NOT_JSON


class Api:
    def __init__(self, a):
        self.store = Store(a.state, a.seed_from_store)
        self.tokens, self.faults, self.log = Tokens(a.tokens), Faults(), RequestLog()
        self.prefix = "/" + a.prefix.strip("/") if a.prefix.strip("/") else ""
        self.page_size, self.list_shape, self.show_deleted = a.page_size, a.list_shape, a.show_deleted
        mirrors = dict(m.split("=", 1) for m in a.registry_mirror)
        self.checker = None if a.no_registry_check else Checker(
            mirrors, a.insecure_registry, a.cacert, a.registry_timeout)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--state")
    ap.add_argument("--seed-from-store")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--prefix", default="/api/v1")
    ap.add_argument("--page-size", type=int, default=0)
    ap.add_argument("--list-shape", choices=("array", "wrapped"), default="array")
    ap.add_argument("--show-deleted", action="store_true")
    ap.add_argument("--registry-mirror", action="append", default=[], metavar="HOST=URL")
    ap.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]")
    ap.add_argument("--cacert")
    ap.add_argument("--registry-timeout", type=float, default=10.0)
    ap.add_argument("--no-registry-check", action="store_true")
    a = ap.parse_args(argv)
    if any("=" not in m for m in a.registry_mirror):
        ap.error("--registry-mirror takes HOST=URL")
    return a


def main(argv):
    a = parse_args(argv)
    Handler.api = api = Api(a)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True

    def stop(*_):
        STOP.set()
        threading.Thread(target=srv.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(a.port_file + ".tmp", a.port_file)
    print(f"http://127.0.0.1:{port}{api.prefix}", flush=True)
    srv.serve_forever(poll_interval=0.05)  # SIGTERM ends it within 50 ms
    srv.server_close()
    with api.store.lock:  # a save in progress ends first
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
