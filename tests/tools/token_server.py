#!/usr/bin/env python3
"""A token server for docker-registry's token auth (the Docker Hub / ghcr
flow), Python standard library plus the openssl command only.

    python3 tests/tools/token_server.py DIR

reads DIR/token.json (written by registry.py), binds 127.0.0.1 on a free
port, writes the port to DIR/token.port once it listens, and serves until
SIGTERM; on https with DIR/tls.crt and DIR/tls.key when token.json says
"tls": true. Keys: DIR/token.key signs, DIR/token.crt is the registry's
rootcertbundle. Tokens are RS256 JWTs whose kid is the libtrust fingerprint
of the key, as distribution 2.8 wants it: base32 of the first 30 bytes of
sha256(DER public key), in 12 groups of 4 joined by ":".

Policy: a user from "users" (Basic credentials on GET, grant_type=password
or a known refresh_token on POST) gets pull and push on every repository;
anonymous gets pull on repositories under a "public_prefixes" entry and
nothing else (an empty access list, as Docker Hub does). Wrong credentials:
401. Every request is appended to DIR/token-requests.log as one JSON line
(method, path, query, user, grant), never with a password or token.
"""
import base64
import hashlib
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

TOKEN_TTL = 300


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_keys(d):
    """token.key and a self-signed token.crt for it, once per directory."""
    key, crt = os.path.join(d, "token.key"), os.path.join(d, "token.crt")
    if not os.path.exists(key):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-out", crt,
                        "-days", "2", "-subj", "/CN=deployfs test token issuer"],
                       check=True, capture_output=True)
    return key, crt


def libtrust_kid(key):
    """base32 of the first 30 bytes of sha256(DER public key), 4-char groups."""
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class Issuer:
    def __init__(self, d, conf):
        self.dir = d
        self.conf = conf
        self.key, self.crt = make_keys(d)
        self.kid = libtrust_kid(self.key)
        self.lock = threading.Lock()

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input, check=True, capture_output=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def grant(self, user, scopes):
        """The access list for user (None: anonymous) asking for scopes."""
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            if user is not None:
                allowed = [a for a in actions if a in ("pull", "push")]
            elif any(name.startswith(p) for p in self.conf.get("public_prefixes", [])):
                allowed = [a for a in actions if a == "pull"]
            else:
                allowed = []
            if allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def token(self, user, service, scopes):
        now = int(time.time())
        claims = {"iss": self.conf["issuer"], "sub": user or "", "aud": service,
                  "exp": now + TOKEN_TTL, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": self.grant(user, scopes)}
        return self.sign(claims), now

    def record(self, entry):
        with self.lock, open(os.path.join(self.dir, "token-requests.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    issuer = None  # set by serve()

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def basic_user(self):
        """(user, ok): user None when no credentials were sent."""
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None, True
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except ValueError:
            return "?", False
        users = self.issuer.conf["users"]
        return user, users.get(user) == pw

    def answer(self, user, ok, service, scopes, grant, refresh=False):
        entry = {"method": self.command, "path": self.path.split("?")[0],
                 "query": urllib.parse.urlsplit(self.path).query, "user": user,
                 "grant": grant, "scopes": scopes, "service": service}
        self.issuer.record(entry)
        if not ok:
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "wrong credentials"}]},
                       {"WWW-Authenticate": 'Basic realm="token"'})
            return
        token, iat = self.issuer.token(user, service, scopes)
        body = {"token": token, "access_token": token, "expires_in": TOKEN_TTL,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(iat))}
        if refresh:
            del body["token"]
        self.reply(200, body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/token":
            self.reply(404, {"error": "not found"})
            return
        q = urllib.parse.parse_qs(u.query)
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
        user, ok = self.basic_user()
        self.answer(user, ok, q.get("service", [""])[0], scopes, "get")

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if u.path != "/token" or self.issuer.conf.get("no_oauth"):
            self.reply(404, {"error": "not found"})
            return
        grant = form.get("grant_type", [""])[0]
        scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
        service = form.get("service", [""])[0]
        if grant == "password":
            user = form.get("username", [""])[0]
            ok = self.issuer.conf["users"].get(user) == form.get("password", [None])[0]
        elif grant == "refresh_token":
            user = self.issuer.conf.get("refresh_tokens", {}).get(
                form.get("refresh_token", [""])[0])
            ok = user is not None
        else:
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        self.answer(user, ok, service, scopes, grant, refresh=True)


def serve(d):
    with open(os.path.join(d, "token.json")) as f:
        conf = json.load(f)
    Handler.issuer = Issuer(d, conf)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if conf.get("tls"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "tls.crt"), os.path.join(d, "tls.key"))
        # the handshake in the handler's thread, not in accept()
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    tmp = os.path.join(d, "token.port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(d, "token.port"))  # readers never see half a port
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: token_server.py DIR")
    serve(sys.argv[1])
