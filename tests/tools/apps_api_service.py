"""The apps API service itself, for tests/tools/apps_api.py: its state,
its tokens, its endpoints. apps_api.py's docstring says what it answers
and why; this module knows nothing of HTTP, faults or the request log.
"""
import json
import os
import re
import threading
import urllib.parse
import uuid

from apps_api_registry import Denied, TAG_RE, split_name, url_host

KINDS = ("environments", "apps", "registries")
SECRETS = ("password", "token")
CODES = {400: "VALIDATION_FAILED", 401: "UNAUTHORIZED", 403: "2fa_required",
         404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT",
         429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY",
         503: "SERVICE_UNAVAILABLE"}
NOT_JSON = object()  # a request body that does not parse


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
        hint = (f"container registry {reg.get('name')} holds no credentials" if reg
                else "give a containerRegistryId")
        raise ApiError(400, f"image {image} not found in registry {domain}, or it is "
                       f"private: {hint}", {"field": "imageName"})
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
        if write:
            return fn(api, req)  # takes the lock itself
        with api.store.lock:  # also while the reply is serialised
            return fn(api, req)
    except ApiError as e:
        reply = error_reply(e)
        if e.status == 401:
            reply.headers["WWW-Authenticate"] = 'Bearer realm="apps API"'
        return reply
    except Exception as e:  # the service's own failure
        return error_reply(ApiError(500, f"internal error: {type(e).__name__}"))
