#!/usr/bin/env python3
"""Debian's glance-api (OpenStack Glance, v2 API) on 127.0.0.1 for tests,
standard library only.

    python3 tests/tools/glance.py start DIR [--api-limit-max N]
                                  [--property-quota N] [--tag-quota N]
    python3 tests/tools/glance.py seed DIR     demo images; prints their ids
    python3 tests/tools/glance.py stop DIR

`start` writes DIR/glance-api.conf (sqlite, file store, no Keystone, an
empty policy dir, one process: `workers = 0`, its log DIR/glance-api.log),
runs `glance-manage db_sync`, starts `glance-api` on a free port of
127.0.0.1, waits until `GET /` answers, writes DIR/glance.json and prints
the URL. `stop` ends the process recorded there, by pid (SIGTERM, then
SIGKILL). `seed` creates the images of examples/demo-store/images with
their ids, names and properties (an image already there is left as it is),
uploads a few bytes to each so it is `active` like the demo's, and prints
one id a line. From Python:

    g = Glance(DIR, api_limit_max=3).start()
    g.url                                     http://127.0.0.1:PORT
    iid = g.create_image(name="x", os_distro="debian", tags=["a"])
    g.get(iid); g.list(); g.delete(iid)
    g.patch(iid, [{"op": "add", "path": "/k", "value": "v"}])
    r = g.call("GET", "/v2/images/nope")     r.status, r.headers, r.body, r.json
    g.stop()

get/patch/list/delete raise GlanceError (.status, .json, .message) on an
HTTP error; call() returns any answer. Requests ask `Accept:
application/json`, so errors are JSON, not HTML. glance-api takes 2-4 s
to start and db_sync about 2.5 s more: tests share one per session (see
tests/integration/glance_fixture.py); `db_template=` copies an already
synced database instead of running db_sync again.

A port collision cannot be seen from a failed bind: glance-api (eventlet)
listens with SO_REUSEPORT, so two of them on one port share it silently.
start() therefore checks, once it answers, that every listener on its
port is its own process, and otherwise starts again on another port.
"""
import ctypes
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

from registry import free_port, pid_alive, stop_pid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
DEMO_IMAGES = os.path.join(TOP, "examples", "demo-store", "images")
GLANCE_API = "/usr/bin/glance-api"
GLANCE_MANAGE = "/usr/bin/glance-manage"
PASTE_INI = "/etc/glance/glance-api-paste.ini"
START_TIMEOUT = 30.0
STOP_GRACE = 5.0
REQUEST_TIMEOUT = 30.0
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
# what a client may not send at create (read-only, or set by Glance)
READ_ONLY = {"status", "checksum", "size", "virtual_size", "created_at", "updated_at",
             "self", "file", "schema", "owner", "os_hash_algo", "os_hash_value",
             "direct_url", "locations"}


def installed():
    return os.access(GLANCE_API, os.X_OK) and os.access(GLANCE_MANAGE, os.X_OK)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)


class GlanceError(Exception):
    """An HTTP error from Glance: .status, .body, .json (or None), .message
    (the JSON message without its `<br />` junk, else the body)."""

    def __init__(self, method, path, r):
        self.status, self.body = r.status, r.body
        try:
            self.json = r.json
        except ValueError:
            self.json = None
        msg = self.json.get("message") if isinstance(self.json, dict) else None
        self.message = clean_message(msg if isinstance(msg, str)
                                     else r.body.decode(errors="replace"))
        super().__init__(f"{method} {path}: {r.status} {self.message}")


def clean_message(msg):
    """Glance's error message on one line: `<br />` and blank runs dropped."""
    return " ".join(msg.replace("<br />", " ").split())


def _pdeathsig():
    """In the child: SIGTERM when the process that started it dies, so a
    test run killed hard leaves no Glance behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def listener_pids(port):
    """Pids holding a listening TCP socket on 127.0.0.1:port (or any
    address), from /proc: a second glance-api may share the port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


class Glance:
    def __init__(self, directory, api_limit_max=None, limit_param_default=None,
                 property_quota=None, tag_quota=None, db_template=None, die_with_parent=True):
        self.dir = os.path.abspath(directory)
        self.options = {"api_limit_max": api_limit_max,
                        "limit_param_default": limit_param_default,
                        "image_property_quota": property_quota,
                        "image_tag_quota": tag_quota}
        self.db_template = db_template
        self.die_with_parent = die_with_parent
        self.proc, self.port = None, None
        self.startup_seconds = None  # db_sync (or copy) + start until GET / answers

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def conf(self):
        return os.path.join(self.dir, "glance-api.conf")

    @property
    def db(self):
        return os.path.join(self.dir, "glance.sqlite")

    @property
    def logpath(self):
        return os.path.join(self.dir, "glance-api.log")

    def info(self):
        return {"dir": self.dir, "url": self.url, "port": self.port,
                "pid": self.proc.pid if self.proc else None,
                "options": {k: v for k, v in self.options.items() if v is not None}}

    # -- lifecycle -------------------------------------------------------
    def start(self):
        t0 = time.monotonic()
        for sub in ("images", "staging", "lock", "policy.d"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        try:
            for attempt in range(3):  # the free port may be taken meanwhile
                self.port = free_port()
                self._write_config()
                if attempt == 0:
                    self._db_sync()
                if self._start_api():
                    break
            else:
                raise RuntimeError("glance-api did not start:\n" + self.log_tail())
            with open(os.path.join(self.dir, "glance.json"), "w") as f:
                json.dump(self.info(), f, indent=1)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self):
        if self.proc:
            stop_pid(self.proc.pid, "glance-api", self.proc, grace=STOP_GRACE)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, n=3000):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # -- pieces ----------------------------------------------------------
    def _write_config(self):
        d = self.dir
        extra = "".join(f"{k} = {v}\n" for k, v in self.options.items() if v is not None)
        conf = f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = {self.port}
workers = 0
log_file = {self.logpath}
{extra}
[database]
connection = sqlite:///{self.db}

[paste_deploy]
# empty: the pipeline without Keystone, every request an admin-like context
flavor =
config_file = {PASTE_INI}

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {d}/images

[os_glance_staging_store]
filesystem_store_datadir = {d}/staging

[oslo_concurrency]
lock_path = {d}/lock

[oslo_policy]
# an empty directory of our own: an empty value makes Glance read every
# file of its working directory as policy, and every request fails
policy_dirs = {d}/policy.d
"""
        with open(self.conf, "w") as f:
            f.write(conf)

    def _db_sync(self):
        if os.path.exists(self.db):
            return  # a restart in the same DIR keeps its images
        if self.db_template:
            shutil.copyfile(self.db_template, self.db)
            return
        r = subprocess.run([GLANCE_MANAGE, "--config-file", self.conf, "db_sync"],
                           cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError("glance-manage db_sync failed:\n" +
                               (r.stdout + r.stderr)[-3000:].decode(errors="replace"))

    def _start_api(self):
        """True once GET / answers and the port is ours alone; False when
        glance-api exited or shares its port (then it is stopped)."""
        log = open(os.path.join(self.dir, "glance-api.out"), "ab")
        self.proc = subprocess.Popen(
            [GLANCE_API, "--config-file", self.conf], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=_pdeathsig if self.die_with_parent else None)
        log.close()
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
            except OSError:
                time.sleep(0.05)
                continue
            if listener_pids(self.port) <= {self.proc.pid}:
                return True
            self.stop()  # another listener shares the port: SO_REUSEPORT
            return False
        self.stop()
        raise RuntimeError("glance-api did not answer GET /:\n" + self.log_tail())

    # -- requests --------------------------------------------------------
    def call(self, method, path, body=None, headers=None, content_type="application/json"):
        """One request; any answer is returned. body: bytes, str, or JSON."""
        h = {"Accept": "application/json"}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            c.close()

    def _ok(self, method, path, r, *statuses):
        if r.status not in statuses:
            raise GlanceError(method, path, r)
        return r

    def create_image(self, name=None, **props):
        """POST /v2/images; returns the new id. props: anything Glance
        takes at create (disk_format, tags, id, custom properties, ...)."""
        body = dict(props)
        if name is not None:
            body["name"] = name
        r = self._ok("POST", "/v2/images", self.call("POST", "/v2/images", body), 201)
        return r.json["id"]

    def get(self, image_id):
        path = "/v2/images/" + image_id
        return self._ok("GET", path, self.call("GET", path), 200).json

    def patch(self, image_id, ops):
        """One PATCH (atomic in Glance) of the 2.1 JSON Patch media type;
        returns the image as Glance answers it."""
        path = "/v2/images/" + image_id
        r = self.call("PATCH", path, ops, content_type=PATCH_TYPE)
        return self._ok("PATCH", path, r, 200).json

    def delete(self, image_id):
        path = "/v2/images/" + image_id
        self._ok("DELETE", path, self.call("DELETE", path), 204)

    def upload(self, image_id, data=b"deployfs test image\n"):
        """PUT the image's data (the file store): the image becomes active."""
        path = f"/v2/images/{image_id}/file"
        self._ok("PUT", path, self.call("PUT", path, data,
                                        content_type="application/octet-stream"), 204)

    def list_pages(self, limit=None, max_pages=1000, **query):
        """Each page's answer (dict) of GET /v2/images, following `next`."""
        q = dict(query)
        if limit is not None:
            q["limit"] = limit
        path = "/v2/images" + ("?" + urllib.parse.urlencode(q) if q else "")
        pages = []
        while path and len(pages) < max_pages:
            page = self._ok("GET", path, self.call("GET", path), 200).json
            pages.append(page)
            nxt = page.get("next")
            if nxt and urllib.parse.urlsplit(nxt).netloc:
                raise ValueError(f"next is not a relative path: {nxt}")
            path = nxt
        return pages

    def list(self, limit=None, **query):
        """Every image of GET /v2/images (newest first), page by page."""
        return [i for p in self.list_pages(limit, **query) for i in p["images"]]


def synced_db(directory):
    """An empty, synced Glance database in DIR (db_sync once), for
    Glance(db_template=...): each Glance then copies it."""
    g = Glance(directory)
    os.makedirs(g.dir, exist_ok=True)
    g.port = 0
    g._write_config()
    g._db_sync()
    return g.db


# -- the demo images -----------------------------------------------------
def demo_images(directory=DEMO_IMAGES):
    """What POST /v2/images takes of each demo-store image, sorted by id."""
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as f:
            doc = json.load(f)
        body = {k: v for k, v in doc.items() if k not in READ_ONLY and v is not None}
        if body.get("os_hidden") is False:
            del body["os_hidden"]
        out.append(body)
    return out


def seed(g):
    """Create the demo images (with their ids) not there yet; returns ids."""
    ids = []
    for body in demo_images():
        iid = body["id"]
        r = g.call("GET", "/v2/images/" + iid)
        if r.status == 404:
            g.create_image(**body)
            g.upload(iid)
        elif r.status != 200:
            raise GlanceError("GET", "/v2/images/" + iid, r)
        ids.append(iid)
    return ids


def attach(directory):
    """A Glance for a DIR that `start` runs (its process not ours)."""
    with open(os.path.join(directory, "glance.json")) as f:
        info = json.load(f)
    g = Glance(directory)
    g.port = info["port"]
    return g, info


def stop_dir(directory):
    try:
        _, info = attach(directory)
    except FileNotFoundError:
        return
    stop_pid(info.get("pid"), "glance-api", grace=STOP_GRACE)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("start", "stop", "seed"))
    ap.add_argument("dir")
    ap.add_argument("--api-limit-max", type=int)
    ap.add_argument("--limit-param-default", type=int)
    ap.add_argument("--property-quota", type=int)
    ap.add_argument("--tag-quota", type=int)
    a = ap.parse_args(argv)
    if not installed():
        print("glance.py: glance-api is not installed (contrib/install-deps.sh --glance)",
              file=sys.stderr)
        return 1
    if a.command == "stop":
        stop_dir(a.dir)
        return 0
    if a.command == "seed":
        g, info = attach(a.dir)
        if not pid_alive(info.get("pid"), "glance-api"):
            print(f"glance.py: no glance-api running for {a.dir}", file=sys.stderr)
            return 1
        print("\n".join(seed(g)))
        return 0
    stop_dir(a.dir)  # one Glance per DIR
    g = Glance(a.dir, api_limit_max=a.api_limit_max, limit_param_default=a.limit_param_default,
               property_quota=a.property_quota, tag_quota=a.tag_quota,
               die_with_parent=False).start()
    g.proc = None  # the process outlives this command; `stop DIR` ends it by pid
    print(g.url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
