#!/usr/bin/env python3
"""Debian's docker-registry on 127.0.0.1 for tests, standard library only.

    python3 tests/tools/registry.py start DIR [--auth htpasswd|token] [--tls]
    python3 tests/tools/registry.py stop DIR

`start` writes a config into DIR, starts `docker-registry serve` on a free
port of 127.0.0.1 (and, for token auth, tests/tools/token_server.py), waits
until /v2/ answers, writes DIR/registry.json and prints it. `stop` ends
every process recorded there, by pid. From Python:

    reg = Registry(DIR, auth="token", tls=True).start()
    ... reg.host, reg.url, reg.cacert, reg.users ...
    reg.stop()

Variants: plain http; htpasswd Basic auth (bcrypt, `htpasswd -B`); token
auth with token_server.py; TLS with a CA made by openssl (reg.cacert).
The token server speaks https (its certificate is signed by the same CA,
so clients need reg.cacert), as public registries' token servers do: a
client sends credentials to a token realm only over https. token_tls=False
makes it plain http, for tests of that rule.
Users (all variants with auth): alice/wonderland, bob/builder; token auth
also takes the refresh token "refresh-alice" for alice, and lets anonymous
pull repositories under public/.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
USERS = {"alice": "wonderland", "bob": "builder"}
REFRESH_TOKENS = {"refresh-alice": "alice"}
SERVICE = "deployfs-test-registry"
ISSUER = "deployfs-test-issuer"
START_TIMEOUT = 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_tls(d):
    """ca.crt (a self-signed CA) and tls.crt/tls.key for 127.0.0.1 and
    localhost, signed by it. Returns the CA path."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("tls.key", "tls.csr", "tls.crt"))
    ext = os.path.join(d, "tls.ext")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
            "-out", ca_crt, "-days", "2", "-subj", "/CN=deployfs test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt


def pid_alive(pid, needle):
    """True while pid runs and its command line holds needle (so a reused
    pid is never signalled); a zombie counts as gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and needle.encode() in cmd


def stop_pid(pid, needle, proc=None, grace=5.0):
    """SIGTERM, then SIGKILL after grace seconds; reaps proc if we own it."""
    if not pid or not pid_alive(pid, needle):
        if proc:
            proc.poll()
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if proc and proc.poll() is not None:
            return
        if not proc and not pid_alive(pid, needle):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    if proc:
        proc.wait()


class Registry:
    def __init__(self, directory, auth=None, tls=False, public_prefixes=("public/",),
                 no_oauth=False, token_tls=True):
        assert auth in (None, "htpasswd", "token")
        self.dir = os.path.abspath(directory)
        self.auth = auth
        self.tls = tls
        self.public_prefixes = list(public_prefixes)
        self.no_oauth = no_oauth
        self.token_tls = token_tls and auth == "token"
        self.users = dict(USERS)
        self.refresh_tokens = dict(REFRESH_TOKENS)
        self.proc = self.token_proc = None
        self.port = self.token_port = None
        self.cacert = None

    # -- what tests use --------------------------------------------------
    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def token_url(self):
        return f"{'https' if self.token_tls else 'http'}://127.0.0.1:{self.token_port}/token"

    @property
    def token_log(self):
        return os.path.join(self.dir, "token-requests.log")

    def token_requests(self):
        try:
            with open(self.token_log) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def info(self):
        return {"dir": self.dir, "host": self.host, "url": self.url, "port": self.port,
                "pid": self.proc.pid if self.proc else None,
                "token_pid": self.token_proc.pid if self.token_proc else None,
                "token_port": self.token_port, "auth": self.auth, "tls": self.tls,
                "cacert": self.cacert, "users": self.users, "service": SERVICE,
                "refresh_tokens": self.refresh_tokens}

    # -- lifecycle -------------------------------------------------------
    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        try:
            if self.tls or self.token_tls:
                self.cacert = make_tls(self.dir)
            if self.auth == "htpasswd":
                self._write_htpasswd()
            if self.auth == "token":
                self._start_token_server()
            for attempt in range(3):  # the free port may be taken meanwhile
                self.port = free_port()
                self._write_config()
                if self._start_registry():
                    break
            else:
                raise RuntimeError("docker-registry did not start:\n" + self._log_tail())
            with open(os.path.join(self.dir, "registry.json"), "w") as f:
                json.dump(self.info(), f, indent=1)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc:
            stop_pid(self.proc.pid, "docker-registry", self.proc)
            self.proc = None
        if self.token_proc:
            stop_pid(self.token_proc.pid, "token_server.py", self.token_proc)
            self.token_proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- pieces ----------------------------------------------------------
    def _write_htpasswd(self):
        lines = []
        for user, pw in self.users.items():
            # -i: the password comes on stdin, never in a command line
            out = subprocess.run(["htpasswd", "-Bin", user], input=pw.encode(),
                                 check=True, capture_output=True).stdout.decode()
            lines.append(out.strip())
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def _start_token_server(self):
        conf = {"users": self.users, "refresh_tokens": self.refresh_tokens,
                "public_prefixes": self.public_prefixes, "issuer": ISSUER,
                "no_oauth": self.no_oauth, "tls": self.token_tls}
        with open(os.path.join(self.dir, "token.json"), "w") as f:
            json.dump(conf, f)
        portfile = os.path.join(self.dir, "token.port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        log = open(os.path.join(self.dir, "token-server.log"), "ab")
        self.token_proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "token_server.py"), self.dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + START_TIMEOUT
        while not os.path.exists(portfile):
            if self.token_proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("token server did not start")
            time.sleep(0.02)
        with open(portfile) as f:
            self.token_port = int(f.read())

    def _write_config(self):
        d = self.dir
        http = {"addr": self.host, "secret": "deployfs-test"}
        if self.tls:
            http["tls"] = {"certificate": os.path.join(d, "tls.crt"),
                           "key": os.path.join(d, "tls.key")}
        conf = {"version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": os.path.join(d, "data")},
                            "delete": {"enabled": True},
                            "cache": {"blobdescriptor": "inmemory"}},
                "http": http}
        if self.auth == "htpasswd":
            conf["auth"] = {"htpasswd": {"realm": "deployfs-test",
                                         "path": os.path.join(d, "htpasswd")}}
        elif self.auth == "token":
            conf["auth"] = {"token": {"realm": self.token_url,
                                      "service": SERVICE, "issuer": ISSUER,
                                      "rootcertbundle": os.path.join(d, "token.crt")}}
        # JSON is YAML: no YAML writer needed
        with open(os.path.join(d, "config.yml"), "w") as f:
            json.dump(conf, f, indent=1)

    def _log_tail(self):
        try:
            with open(os.path.join(self.dir, "registry.log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def _start_registry(self):
        """True once /v2/ answers; False when the registry exited (port taken)."""
        log = open(os.path.join(self.dir, "registry.log"), "ab")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", os.path.join(self.dir, "config.yml")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        ctx = ssl.create_default_context(cafile=self.cacert) if self.tls else None
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1, context=ctx).close()
                return True
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return True  # up, and wants credentials
            except OSError:
                pass
            time.sleep(0.02)
        stop_pid(self.proc.pid, "docker-registry", self.proc)
        self.proc = None
        raise RuntimeError("docker-registry did not answer /v2/:\n" + self._log_tail())


def stop_dir(directory):
    path = os.path.join(directory, "registry.json")
    with open(path) as f:
        info = json.load(f)
    stop_pid(info.get("pid"), "docker-registry")
    stop_pid(info.get("token_pid"), "token_server.py")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("start", "stop"))
    ap.add_argument("dir")
    ap.add_argument("--auth", choices=("htpasswd", "token"))
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args(argv)
    if a.command == "stop":
        stop_dir(a.dir)
        return 0
    reg = Registry(a.dir, auth=a.auth, tls=a.tls).start()
    # the processes outlive this command; `stop DIR` ends them by pid
    reg.proc = reg.token_proc = None
    with open(os.path.join(a.dir, "registry.json")) as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
