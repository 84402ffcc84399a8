"""AppsApi: tests/tools/apps_api.py as a subprocess, for tests.

    api = AppsApi(DIR, args=["--no-registry-check"]).start()
    api.url                                  http://127.0.0.1:PORT/api/v1
    r = api.call("GET", "/environments")     r.status, r.headers, r.body, r.json
    api.requests(); api.clear_requests()     the server's request log
    api.faults([{"match": "PATCH ", "status": 503, "count": 1}])
    api.state(); api.set_state(s); api.set_tokens({...})
    api.stop(); api.kill(); api.restart()    restart: same port, same state

The server is started by pid in its own session and stopped by that pid
(SIGTERM, then SIGKILL), as tests/tools/registry.py does. Its state file,
tokens file, port file and log live in DIR. By default the state is seeded
from examples/demo-store and TOKENS are valid: TOKEN (alice, with 2FA) and
NO_2FA_TOKEN (bob, without).
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import time

from registry import pid_alive, stop_pid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "apps_api.py")
DEMO_STORE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples", "demo-store")
TOKEN, NO_2FA_TOKEN = "alice-2fa-token", "bob-no-2fa-token"
TOKENS = {TOKEN: {"user": "alice", "twofa": True},
          NO_2FA_TOKEN: {"user": "bob", "twofa": False}}
START_TIMEOUT = 15.0


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)


def write_json(path, obj):
    """Atomically: the server never reads half a file."""
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.replace(path + ".tmp", path)


class AppsApi:
    def __init__(self, directory, seed=DEMO_STORE, tokens=TOKENS, args=(), prefix="/api/v1"):
        self.dir = os.path.abspath(directory)
        self.seed, self.tokens, self.args, self.prefix = seed, tokens, list(args), prefix
        self.state_path = os.path.join(self.dir, "state.json")
        self.tokens_path = os.path.join(self.dir, "tokens.json")
        self.port_path = os.path.join(self.dir, "port")
        self.proc, self.port = None, 0
        self.responses = []  # every Response call() got, for leak checks

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- lifecycle -------------------------------------------------------
    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.exists(self.tokens_path):
            self.set_tokens(self.tokens)
        if os.path.exists(self.port_path):
            os.unlink(self.port_path)
        cmd = [sys.executable, SERVER, "--tokens", self.tokens_path, "--state", self.state_path,
               "--port", str(self.port), "--port-file", self.port_path, "--prefix", self.prefix]
        if self.seed:
            cmd += ["--seed-from-store", self.seed]
        log = open(os.path.join(self.dir, "apps-api.log"), "ab")
        self.proc = subprocess.Popen(cmd + self.args, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.port_path):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("apps_api.py did not start:\n" + self.log())
            time.sleep(0.01)
        with open(self.port_path) as f:
            self.port = int(f.read())
        return self

    def stop(self):
        """SIGTERM (SIGKILL after 5 s); returns the exit status."""
        if not self.proc:
            return None
        stop_pid(self.proc.pid, "apps_api.py", self.proc)
        rc, self.proc = self.proc.wait(), None
        return rc

    def kill(self):
        """SIGKILL: the server dies mid-run."""
        if self.proc and pid_alive(self.proc.pid, "apps_api.py"):
            os.kill(self.proc.pid, signal.SIGKILL)
        return self.stop()

    def restart(self):
        """Stop if running, start again on the same port with the saved state."""
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(os.path.join(self.dir, "apps-api.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- requests --------------------------------------------------------
    def call(self, method, path, body=None, token=TOKEN, headers=None, raw=None, timeout=10):
        """One request on a new connection. path: under the prefix
        ("/environments"), or absolute (a next link, "/_admin/..."); body:
        JSON-encoded, or raw bytes as given; token None: no Authorization."""
        if not path.startswith((self.prefix + "/", "/_admin/")):
            path = self.prefix + path
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, r.headers, r.read())
        finally:
            conn.close()
        self.responses.append(resp)
        return resp

    def admin(self, method, what, body=None):
        r = self.call(method, "/_admin/" + what, body, token=None)
        if r.status != 200:
            raise RuntimeError(f"{method} /_admin/{what}: {r.status} {r.body[:300]!r}")
        return r.json

    def requests(self):
        return self.admin("GET", "requests")

    def clear_requests(self):
        self.admin("DELETE", "requests")

    def faults(self, rules):
        """Replace the fault rules."""
        return self.admin("PUT", "faults", rules)

    def clear_faults(self):
        self.admin("DELETE", "faults")

    def state(self):
        return self.admin("GET", "state")

    def set_state(self, state):
        self.admin("PUT", "state", state)

    def set_tokens(self, tokens):
        """Rewrite the tokens file; the server reads it at its next request."""
        self.tokens = tokens
        write_json(self.tokens_path, tokens)
