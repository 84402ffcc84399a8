#!/usr/bin/env python3
"""Push small generated images into a registry, without internet.

    python3 tests/tools/seed_registry.py URL [--cacert FILE | --insecure]
                                        [--user U] [--prefix demo]

(the password comes from $SEED_PASSWORD, never argv) prints a JSON object
{"demo/oci:1.0": {"digest": ..., "media_type": ..., "kind": ...}, ...}.
From Python: seed(url, cacert=..., user=..., password=..., prefix=...).

Under PREFIX it pushes all four manifest kinds a registry check must know:
  PREFIX/oci:1.0          OCI image manifest
  PREFIX/oci-index:1.0    OCI image index (linux/amd64 + linux/arm64 children)
  PREFIX/docker:1.0       Docker schema2 manifest
  PREFIX/docker-list:1.0  Docker manifest list (amd64 + arm64 children)
  PREFIX/web:1.0          OCI manifest, PREFIX/web:2.0 Docker schema2 (two
                          tags of one repository with different digests)
Each image is a small config blob and one small tar.gz layer, built
deterministically (fixed mtimes), so digests are stable from run to run.
Blobs go up as POST (202 with a Location that already holds ?_state=) then
PUT "<Location>&digest=sha256:<hex>": distribution 2.8 has no monolithic
POST with ?digest=; manifests go after their blobs. The digest printed
is the sha256 of the manifest bytes and is checked against the registry's
Docker-Content-Digest.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import re
import ssl
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer(text):
    """A tar.gz holding /hello.txt; returns (gzipped bytes, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
        t.addfile(info, io.BytesIO(data))
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(raw.getvalue())
    return gz.getvalue(), sha256(raw.getvalue())


def image(tag, arch):
    """(config bytes, layer bytes) of a tiny image."""
    blob, diff_id = layer(f"hello from {tag} on {arch}\n")
    config = canonical({"architecture": arch, "os": "linux",
                        "created": "2024-01-01T00:00:00Z",
                        "config": {"Cmd": ["/hello.txt"]},
                        "rootfs": {"type": "layers", "diff_ids": [diff_id]}})
    return config, blob


class Client:
    """Just enough of the distribution API to push, with Basic or Bearer
    auth answered from the registry's challenge."""

    def __init__(self, url, cacert=None, insecure=False, user=None, password=None):
        self.url = url.rstrip("/")
        self.user, self.password = user, password
        self.auth = {}  # scope -> Authorization value
        # also for an http registry whose token server is on https
        if url.startswith("https:") or cacert:
            self.ctx = ssl.create_default_context(cafile=cacert)
            if insecure:
                self.ctx.check_hostname = False
                self.ctx.verify_mode = ssl.CERT_NONE
        else:
            self.ctx = None

    def _basic(self):
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def _authorize(self, challenge, scope):
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            return self._basic()
        p = dict(re.findall(r'(\w+)="([^"]*)"', params))
        q = urllib.parse.urlencode({"service": p.get("service", ""), "scope": scope})
        req = urllib.request.Request(p["realm"] + "?" + q)
        if self.user:
            req.add_header("Authorization", self._basic())
        with urllib.request.urlopen(req, timeout=10, context=self.ctx) as r:
            return "Bearer " + json.load(r)["token"]

    def request(self, method, url, scope, body=None, headers=None):
        """(status, headers, body); answers one 401 challenge."""
        if not url.startswith("http"):
            url = self.url + url
        for attempt in (0, 1):
            req = urllib.request.Request(url, data=body, method=method,
                                         headers=dict(headers or {}))
            if scope in self.auth:
                req.add_header("Authorization", self.auth[scope])
            try:
                with urllib.request.urlopen(req, timeout=10, context=self.ctx) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0:
                    self.auth[scope] = self._authorize(e.headers["WWW-Authenticate"], scope)
                    continue
                raise RuntimeError(f"{method} {url}: {e.code} {e.read()[:300]!r}") from None

    def push_blob(self, repo, data):
        scope = f"repository:{repo}:pull,push"
        digest = sha256(data)
        status, _, _ = self._head_ok(f"/v2/{repo}/blobs/{digest}", scope)
        if status == 200:
            return digest
        _, h, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope, body=b"")
        loc = urllib.parse.urljoin(self.url + "/", h["Location"])
        loc += ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(digest)
        self.request("PUT", loc, scope, body=data,
                     headers={"Content-Type": "application/octet-stream"})
        return digest

    def _head_ok(self, path, scope):
        try:
            return self.request("HEAD", path, scope)
        except RuntimeError:
            return 404, None, None

    def push_manifest(self, repo, ref, manifest, media_type):
        body = canonical(manifest)
        _, h, _ = self.request("PUT", f"/v2/{repo}/manifests/{ref}",
                               f"repository:{repo}:pull,push", body=body,
                               headers={"Content-Type": media_type})
        digest = sha256(body)
        if h.get("Docker-Content-Digest") != digest:
            raise RuntimeError(f"{repo}:{ref}: registry says {h.get('Docker-Content-Digest')},"
                               f" we computed {digest}")
        return digest, len(body)


def push_image(c, repo, ref, tag, arch, docker):
    """One image manifest under ref (None: by its digest); returns its
    descriptor."""
    config, blob = image(tag, arch)
    cfg_digest, layer_digest = c.push_blob(repo, config), c.push_blob(repo, blob)
    mt = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = {"schemaVersion": 2, "mediaType": mt,
                "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                           "digest": cfg_digest, "size": len(config)},
                "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                            "digest": layer_digest, "size": len(blob)}]}
    digest, size = c.push_manifest(repo, ref or sha256(canonical(manifest)), manifest, mt)
    return {"mediaType": mt, "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"}}


def push_list(c, repo, tag, docker):
    """An index / manifest list with amd64 and arm64 children, pushed by
    digest first (the registry refuses an index naming unknown manifests)."""
    children = []
    for arch in ("amd64", "arm64"):
        d = push_image(c, repo, None, f"{repo}:{tag}", arch, docker)
        children.append(d)
    mt = DOCKER_LIST if docker else OCI_INDEX
    digest, _ = c.push_manifest(repo, tag, {"schemaVersion": 2, "mediaType": mt,
                                            "manifests": children}, mt)
    return digest, mt, [ch["digest"] for ch in children]


def seed(url, cacert=None, insecure=False, user=None, password=None, prefix="demo"):
    c = Client(url, cacert=cacert, insecure=insecure, user=user, password=password)
    out = {}

    def image_(repo, tag, docker, kind):
        d = push_image(c, repo, tag, f"{repo}:{tag}", "amd64", docker)
        out[f"{repo}:{tag}"] = {"digest": d["digest"], "media_type": d["mediaType"],
                                "kind": kind}

    def list_(repo, tag, docker, kind):
        digest, mt, children = push_list(c, repo, tag, docker)
        out[f"{repo}:{tag}"] = {"digest": digest, "media_type": mt, "kind": kind,
                                "children": children}

    image_(f"{prefix}/oci", "1.0", False, "oci-manifest")
    list_(f"{prefix}/oci-index", "1.0", False, "oci-index")
    image_(f"{prefix}/docker", "1.0", True, "docker-manifest")
    list_(f"{prefix}/docker-list", "1.0", True, "docker-list")
    image_(f"{prefix}/web", "1.0", False, "oci-manifest")
    image_(f"{prefix}/web", "2.0", True, "docker-manifest")
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--cacert")
    ap.add_argument("--insecure", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--prefix", default="demo")
    a = ap.parse_args(argv)
    res = seed(a.url, cacert=a.cacert, insecure=a.insecure, user=a.user,
               password=os.environ.get("SEED_PASSWORD"), prefix=a.prefix)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
