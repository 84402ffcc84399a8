"""The registry check of tests/tools/apps_api.py, standard library only.

As the apps API service does on `PATCH .../image`: parse the image name by
the distribution reference grammar, then
`HEAD /v2/<repo>/manifests/<tag>` with the OCI and Docker manifest and index
types in Accept, answering one 401 challenge: Basic, or the Bearer token
flow (anonymous, or with the container registry's credentials). Redirects
are never followed. Credentials go only to the host the registry object's
url names, and to a token realm only over https or on that registry itself.
"""
import base64
import http.client
import json
import re
import ssl
import urllib.parse

ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"))
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PATH_RE = re.compile(rf"{COMPONENT}(?:/{COMPONENT})*")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
DOMAIN_RE = re.compile(rf"(?:{LABEL}(?:\.{LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
MAX_BODY = 1 << 20


class Denied(Exception):
    """The registry refused us: no credentials, or wrong ones."""


def split_name(name):
    """(domain, repository) as docker normalises a name: nginx is
    (docker.io, library/nginx). Raises ValueError for a name outside the
    grammar."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if not DOMAIN_RE.fullmatch(domain) or not PATH_RE.fullmatch(path) or len(name) > 255:
        raise ValueError(name)
    if domain.lower() in DOCKER_HUB:
        domain = "docker.io"
        if "/" not in path:
            path = "library/" + path
    return domain, path


def url_host(url):
    """The HOST[:PORT] a registry object's url names (scheme and path
    dropped, Docker Hub's names made one)."""
    host = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", url or "").split("/")[0].lower()
    return "docker.io" if host in DOCKER_HUB else host


class Checker:
    """mirrors: {HOST: URL}; insecure: HOSTs asked over plain http."""

    def __init__(self, mirrors=None, insecure=(), cacert=None, timeout=10.0):
        self.mirrors = dict(mirrors or {})
        self.insecure = set(insecure)
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=cacert)

    def base(self, domain):
        if domain in self.mirrors:
            return self.mirrors[domain].rstrip("/")
        scheme = "http" if domain in self.insecure else "https"
        return f"{scheme}://{'registry-1.docker.io' if domain == 'docker.io' else domain}"

    def request(self, method, url, headers):
        """(status, headers, body) of one request; OSError when the
        registry cannot be reached."""
        u = urllib.parse.urlsplit(url)
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=self.timeout,
                                               context=self.ctx)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
        try:
            conn.request(method, u.path + (f"?{u.query}" if u.query else ""), headers=headers)
            r = conn.getresponse()
            return r.status, r.headers, r.read(MAX_BODY)
        except http.client.HTTPException as e:
            raise OSError(f"bad answer: {e}") from None
        finally:
            conn.close()

    def manifest(self, name, tag, creds=None):
        """The digest of name:tag, or None when the registry has no such
        manifest. creds: (user, secret) or None. Raises Denied, OSError,
        or RuntimeError for any other answer."""
        domain, path = split_name(name)
        base = self.base(domain)
        url = f"{base}/v2/{path}/manifests/{tag}"
        headers = {"Accept": ACCEPT}
        status, h, _ = self.request("HEAD", url, headers)
        if status == 401:
            headers["Authorization"] = self.authorize(h.get("WWW-Authenticate", ""), base,
                                                      path, creds)
            status, h, _ = self.request("HEAD", url, headers)
        if status == 405:  # HEAD refused: ask with GET
            status, h, _ = self.request("GET", url, headers)
        if status == 200:
            return h.get("Docker-Content-Digest", "")
        if status == 404:
            return None
        if status in (401, 403):
            raise Denied()
        raise RuntimeError(f"answered {status}")

    def authorize(self, challenge, base, path, creds):
        """The Authorization value answering a 401 challenge; Denied when
        there is none to give."""
        scheme, _, rest = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', rest))
        if scheme.lower() == "basic":
            if not creds:
                raise Denied()
            return basic(creds)
        if scheme.lower() != "bearer" or "realm" not in params:
            raise Denied()
        realm = params["realm"]
        query = urllib.parse.urlencode({
            "service": params.get("service", ""),
            "scope": params.get("scope") or f"repository:{path}:pull"})
        headers = {}
        if creds and realm_may_get_credentials(realm, base):
            headers["Authorization"] = basic(creds)
        status, _, body = self.request("GET", f"{realm}?{query}", headers)
        if status != 200:
            raise Denied()
        try:
            answer = json.loads(body)
            return "Bearer " + (answer.get("token") or answer["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RuntimeError("token server gave no token") from None


def realm_may_get_credentials(realm, base):
    r, b = urllib.parse.urlsplit(realm), urllib.parse.urlsplit(base)
    return r.scheme == "https" or (r.scheme, r.netloc) == (b.scheme, b.netloc)


def basic(creds):
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
