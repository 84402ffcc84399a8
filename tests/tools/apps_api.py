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
service's answer padded with spaces to MB MiB), "body": JSON to send,
"apply": true (ask the service first, then the fault)}. "delay",
"retry_after" (a header) and "oversized" change the service's answer; a
rule with "status", "hang", "malformed" or "body" answers in place of the
service, so nothing changes, unless "apply". Faults come before auth.
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
import http.server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apps_api_registry import Checker  # noqa: E402
from apps_api_service import (NOT_JSON, ApiError, Reply, Store, Tokens,  # noqa: E402
                              error_reply, serve_api)

FAULT_KEYS = {"match", "count", "delay", "status", "retry_after", "hang", "malformed",
              "oversized", "body", "apply"}
REPLACING_KEYS = {"status", "hang", "malformed", "body"}  # the service is not asked
NUMERIC_FAULT_KEYS = ("count", "delay", "status", "retry_after", "oversized")
MALFORMED = b'{"id": "550e8400-e29b-41d4-a716, "name": ['
MAX_BODY, MAX_ADMIN_BODY = 1 << 20, 64 << 20
STOP = threading.Event()


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
        out = reply
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
    # the headers and the body are two writes: with Nagle, a keep-alive
    # client's delayed ACK holds the body back ~40 ms
    disable_nagle_algorithm = True
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
        rule = rule or {}
        STOP.wait(rule.get("delay", 0))
        reply = None
        if rule.get("apply") or not REPLACING_KEYS & set(rule):
            reply = serve_api(self.api, self.command, rel, url.query, body, who)
        if rule.get("hang"):
            return self.hang()
        if rule:
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


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog is 5: a client opening 16 connections at once
    # would see SYNs dropped and retried a second later
    request_queue_size = 128


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
    srv = Server(("127.0.0.1", a.port), Handler)

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
