"""A thin logging proxy in front of a real Glance, for tests: it forwards
every request unchanged and records what deployfs sent (method, path,
headers, body, and when it went and its answer came: t0, t1), so a test can assert the exact requests of an operation,
and that a refused write sent none. It can also answer in Glance's place
(faults) to reach what a healthy Glance never says (503, 500, 401, ...).

    p = GlanceProxy("http://127.0.0.1:9292").start()
    ... mount with glance=p.url ...
    p.requests("PATCH")        # [{"method", "path", "headers", "body"}, ...]
    p.fault("PATCH", r"/v2/images/", 503, count=2)
    p.stop()

Python's standard library alone; one thread per connection.
"""
import http.client
import http.server
import json
import re
import socket
import threading
import time
import urllib.parse


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.proxy._lock:
            self.server.proxy._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.proxy._lock:
                self.server.proxy._conns.discard(self.connection)

    def _serve(self):
        proxy = self.server.proxy
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace"),
               "t0": time.monotonic(), "t1": None}
        fault = proxy._take_fault(self.command, self.path)
        rec["fault"] = bool(fault)
        with proxy._lock:
            proxy._log.append(rec)
        if fault:
            status, fbody, fheaders = fault
            data = fbody if isinstance(fbody, bytes) else json.dumps(fbody).encode()
            self.send_response(status)
            for k, v in fheaders.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        up = urllib.parse.urlsplit(proxy.upstream)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length")}
        try:
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            with proxy._lock:
                rec["t1"] = time.monotonic()
        except OSError:
            # Glance is down: the connection deployfs made is dropped, as
            # a refused one would be
            self.close_connection = True
            self.wfile.close()
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


class GlanceProxy:
    def __init__(self, upstream, port=0):
        self.upstream = upstream.rstrip("/")
        self.port = port
        self._lock = threading.Lock()
        self._log = []
        self._faults = []
        self._conns = set()
        self._srv = None

    def start(self):
        """Listen (on port when given: a proxy started again on the port of
        one stopped before keeps the URL a mount was given)."""
        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._srv.daemon_threads = True
        self._srv.proxy = self
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()
        self.port = self._srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        """Stop listening and drop every open connection: a client then
        finds the port refusing connections, as a stopped server's."""
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def requests(self, method=None, path=None):
        """What was sent, oldest first; method and path (a regex searched
        in the path with its query) narrow it."""
        with self._lock:
            log = list(self._log)
        return [r for r in log if (method is None or r["method"] == method) and
                (path is None or re.search(path, r["path"]))]

    def clear(self):
        with self._lock:
            self._log.clear()

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def fault(self, method, path, status, body=None, count=1, headers=None):
        """Answer the next count requests of method on a path matching the
        regex with status and body (a JSON value or bytes) in Glance's place."""
        with self._lock:
            self._faults.append([method, re.compile(path), status,
                                 body if body is not None else {"message": "fault",
                                                                "title": "Fault"},
                                 count, headers or {}])

    def _take_fault(self, method, path):
        with self._lock:
            for f in self._faults:
                if f[0] == method and f[1].search(path) and f[4] > 0:
                    f[4] -= 1
                    return f[2], f[3], f[5]
        return None
