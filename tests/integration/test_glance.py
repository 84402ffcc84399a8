"""The Glance backend (glance=) through a real mount, against a REAL Glance
(Debian's glance-api, started by tests/tools/glance.py), with a thin
logging proxy in front of it (tests/tools/glance_proxy.py) so that every
test can assert the exact requests deployfs sent: what each write sends,
that each refused write sends nothing and leaves the image unchanged on
the server, every error (errno and `error` line), tokens, pages,
concurrent writers, polling, and Glance going away and coming back.
"""
import errno
import json
import os
import select
import subprocess
import threading
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import DEBIAN, Mount, check_sanitizers, oserror, read, sh, wait_until, write_fd
from glance_proxy import GlanceProxy

from glance_fixture import glance_db, glance_server  # noqa: F401
import glance as glance_tool

if not glance_tool.installed():
    pytest.skip("glance-api is not installed (contrib/install-deps.sh --glance)",
                allow_module_level=True)

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
PROD = "660e8400-e29b-41d4-a716-446655440001"
WEB = "550e8400-e29b-41d4-a716-446655440000"
VIM_RENAME = "set backupcopy=no writebackup nobackup backupskip="


# ------------------------------------------------------------------ helpers

def start_glance(directory, db, **opts):
    """A Glance of the test's own (the tooling's, from the session's synced
    database db), for tests that stop it or count its images."""
    return glance_tool.Glance(str(directory), db_template=db, **opts).start()


def call(base, method, path, body=None, ctype="application/json", token=None):
    """One request straight to Glance (another client): (status, parsed body)."""
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


class GEnv:
    """A Glance, a logging proxy before it, and the mounts made on them."""

    def __init__(self, tmp, glance):
        self.tmp = tmp
        self.glance = glance
        self.proxy = GlanceProxy(glance.url).start()
        self.mounts = []
        self.token_path = str(tmp / "glance-token")

    @property
    def url(self):
        return self.glance.url

    def create(self, name="img", disk_format="qcow2", container_format="bare", **props):
        st, doc = call(self.url, "POST", "/v2/images",
                       dict(name=name, disk_format=disk_format,
                            container_format=container_format, **props))
        assert st == 201, doc
        return doc["id"]

    def upload(self, iid, data=b"deployfs" * 64):
        st, doc = call(self.url, "PUT", "/v2/images/%s/file" % iid, data,
                       ctype="application/octet-stream")
        assert st == 204, doc
        assert wait_until(lambda: self.get(iid)["status"] == "active", timeout=20)

    def get(self, iid):
        st, doc = call(self.url, "GET", "/v2/images/" + iid)
        assert st == 200, doc
        return doc

    def patch(self, iid, ops):
        st, doc = call(self.url, "PATCH", "/v2/images/" + iid, ops, ctype=PATCH_TYPE)
        assert st == 200, doc
        return doc

    def mount(self, extra="", poll=60, sub=None, env=None, direct=False, start=True):
        opts = "glance=%s,registry_check=off,poll=%s,timeout=5" % (
            self.url if direct else self.proxy.url, poll)
        if extra:
            opts += "," + extra
        m = Mount(self.tmp / (sub or "m%d" % len(self.mounts)), options=opts, env=env)
        self.mounts.append(m)
        return m.start() if start else m

    def patches(self, iid=None):
        return self.proxy.requests("PATCH", "^/v2/images/%s" % (iid or ""))

    def close(self):
        for m in reversed(self.mounts):
            m.stop()
        self.proxy.stop()
        check_sanitizers(self.mounts)


@pytest.fixture
def genv(tmp_path, glance_server):
    """The session's shared Glance: each test makes its own images."""
    e = GEnv(tmp_path, glance_server)
    yield e
    e.close()


@pytest.fixture
def images(genv):
    """Fresh images for one test: an active one with properties, a queued
    one and a queued ami one."""
    active = genv.create("Debian 12 %s" % uuid.uuid4().hex[:6], os_distro="debian",
                         os_version="12", min_ram=512, min_disk=10, tags=["base"],
                         **{"com.acme.owner": "platform"})
    genv.upload(active)
    queued = genv.create("queued %s" % uuid.uuid4().hex[:6])
    ami = genv.create("ami %s" % uuid.uuid4().hex[:6], disk_format="ami", container_format="ami")
    return {"active": active, "queued": queued, "ami": ami}


def img(m, iid, *parts):
    return m.path("images", iid, *parts)


def echo(path, value):
    return sh("echo '%s' > '%s'" % (value, path))


def put(path, value, create=False):
    """value + newline in one write(2), as echo does: the errno name of the
    first failure (open, write or close), or 0."""
    flags = os.O_WRONLY | os.O_TRUNC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return errno.errorcode[e.errno]
    r = 0
    try:
        os.write(fd, (value + "\n").encode())
    except OSError as e:
        r = errno.errorcode[e.errno]
    try:
        os.close(fd)
    except OSError as e:
        r = r or errno.errorcode[e.errno]
    return r


def body(req):
    return json.loads(req["body"])


def assert_one_patch(genv, iid, ops, before_count=0):
    reqs = genv.patches(iid)[before_count:]
    assert len(reqs) == 1, reqs
    r = reqs[0]
    assert body(r) == ops
    assert r["headers"]["content-type"] == PATCH_TYPE
    assert r["headers"]["accept"] == "application/json"
    assert r["path"] == "/v2/images/" + iid
    return r


# ------------------------------------------------------------------ reading

def test_images_come_from_glance_and_read_as_on_the_store(genv, images):
    m = genv.mount()
    st, listing = call(genv.url, "GET", "/v2/images?limit=1000")
    assert st == 200
    ids = sorted(i["id"] for i in listing["images"])
    names = sorted(n for n in os.listdir(m.path("images")) if n != "by-name")
    # Glance is shared: other tests' images that the store's checks refuse
    # (a value over 255 characters, ...) are skipped; ours are all there
    assert set(images.values()) <= set(names) <= set(ids)
    assert len(names) == len(ids) - m.log().count("; skipped")
    # the local store's own images are not shown beside Glance's
    assert DEBIAN not in names
    # environments and apps still come from the local store
    assert sorted(os.listdir(m.path("environments"))) == ["prod", "staging"]
    doc = genv.get(images["active"])
    a = images["active"]
    want = {"name": doc["name"], "os_distro": "debian", "os_version": "12",
            "protected": "false", "container_format": "bare", "disk_format": "qcow2",
            "min_disk": "10", "min_ram": "512", "id": a, "status": "active",
            "visibility": doc["visibility"], "checksum": doc["checksum"],
            "size": str(doc["size"]), "created_at": doc["created_at"],
            "updated_at": doc["updated_at"]}
    for f, v in want.items():
        assert read(img(m, a, f)) == v + "\n", f
    assert read(img(m, a, "tags")) == "base\n"
    assert read(img(m, a, "ramdisk_id")) == ""
    assert read(img(m, a, "owner")) == ""
    assert read(img(m, a, "error")) == ""
    assert os.listdir(img(m, a, "properties")) == ["com.acme.owner"]
    assert read(img(m, a, "properties", "com.acme.owner")) == "platform\n"
    assert json.loads(read(img(m, a, "image.json"))) == doc
    # by-name links for the unique names
    assert os.readlink(m.path("images", "by-name", doc["name"])) == "../" + a
    # the mount read the list page by page and never an image alone
    gets = [r["path"] for r in genv.proxy.requests("GET")]
    assert gets[0] == "/v2/images?limit=1000"
    assert not [p for p in gets if not p.startswith("/v2/images?")]
    assert not genv.patches()


def test_pages_are_followed_one_request_per_page(tmp_path, glance_db):
    g = start_glance(tmp_path / "glance", glance_db, api_limit_max=2)
    e = GEnv(tmp_path, g)
    try:
        made = [e.create("page %d" % i) for i in range(5)]
        m = e.mount()
        assert sorted(n for n in os.listdir(m.path("images")) if n != "by-name") == sorted(made)
        gets = [r["path"] for r in e.proxy.requests("GET")]
        # 5 images, 2 a page: three pages; each asked once
        assert gets[0] == "/v2/images?limit=1000"
        assert 3 <= len(gets) <= 4, gets
        assert len(set(gets)) == len(gets)
        assert all(p.startswith("/v2/images?") and "marker=" in p for p in gets[1:])
    finally:
        e.close()
        g.stop()


def test_a_next_link_off_the_origin_is_not_followed(genv, images):
    genv.proxy.fault("GET", r"^/v2/images\?", 200, count=1,
                     body={"images": [], "next": "http://evil.example:9292/v2/images?marker=x"})
    m = genv.mount(start=False)
    with pytest.raises(RuntimeError):
        m.start()
    assert "not followed" in m.log()
    assert len(genv.proxy.requests("GET")) == 1


def test_malformed_images_are_skipped(genv, images):
    good = genv.get(images["queued"])
    bad = dict(good, id=str(uuid.uuid4()), min_ram="lots")
    genv.proxy.fault("GET", r"^/v2/images\?", 200, count=1, body={"images": [good, bad]})
    m = genv.mount()
    assert sorted(n for n in os.listdir(m.path("images")) if n != "by-name") == [good["id"]]
    assert "Glance: images/%s: min_ram" % bad["id"] in m.log()


def test_mount_fails_when_glance_cannot_be_reached(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    m = Mount(tmp_path / "m", options="glance=http://127.0.0.1:%d,registry_check=off" % port)
    proc = subprocess.run(m.cmd, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == ["deployfs: Glance 127.0.0.1:%d refused the connection" % port], lines


# ------------------------------------------------------------------ writes

WRITABLE = [
    ("active", "name", "Debian 12 (bookworm)", "Debian 12 (bookworm)"),
    ("active", "name", "é" * 255, "é" * 255),
    ("active", "os_distro", "debian-custom", "debian-custom"),
    ("active", "os_version", "12.8", "12.8"),
    ("active", "protected", "false", False),
    ("active", "min_ram", "2147483647", 2147483647),
    ("active", "min_ram", "0", 0),
    ("active", "min_disk", "40", 40),
    ("active", "tags", "web", ["web"]),
    ("queued", "container_format", "ovf", "ovf"),
    ("queued", "disk_format", "raw", "raw"),
    ("ami", "kernel_id", "KERNEL", "KERNEL"),
    ("ami", "ramdisk_id", "KERNEL", "KERNEL"),
]


@pytest.mark.parametrize("which,attr,value,stored", WRITABLE,
                         ids=["%s-%s" % (w[1], i) for i, w in enumerate(WRITABLE)])
def test_every_writable_property_by_echo(genv, images, which, attr, value, stored):
    iid = images[which]
    if value == "KERNEL":
        value = stored = images["active"]
    m = genv.mount()
    assert echo(img(m, iid, attr), value).returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/" + attr, "value": stored}])
    after = genv.get(iid)
    assert after[attr] == stored
    want = str(stored).lower() + "\n" if isinstance(stored, bool) else \
        "".join(t + "\n" for t in stored) if isinstance(stored, list) else "%s\n" % stored
    assert read(img(m, iid, attr)) == want
    assert json.loads(read(img(m, iid, "image.json"))) == after
    assert read(img(m, iid, "updated_at")) == after["updated_at"] + "\n"
    assert read(img(m, iid, "error")) == ""
    # the answer of the PATCH is the image: no GET after it
    assert not [r for r in genv.proxy.requests("GET") if r["path"] == "/v2/images/" + iid]


def test_protected_true_and_back(genv, images):
    iid = images["queued"]
    m = genv.mount()
    assert echo(img(m, iid, "protected"), "true").returncode == 0
    assert genv.get(iid)["protected"] is True
    assert read(img(m, iid, "protected")) == "true\n"
    assert echo(img(m, iid, "protected"), "false").returncode == 0
    assert genv.get(iid)["protected"] is False
    assert [body(r) for r in genv.patches(iid)] == [
        [{"op": "add", "path": "/protected", "value": True}],
        [{"op": "add", "path": "/protected", "value": False}]]


def test_tags_one_a_line(genv, images):
    iid = images["active"]
    m = genv.mount()
    assert sh("printf 'a\\nb\\nc\\n' > tags", cwd=img(m, iid)).returncode == 0
    assert sorted(genv.get(iid)["tags"]) == ["a", "b", "c"]
    assert len(genv.patches(iid)) == 1
    assert body(genv.patches(iid)[0]) == [{"op": "add", "path": "/tags", "value": ["a", "b", "c"]}]
    assert sh(": > tags", cwd=img(m, iid)).returncode == 0
    assert genv.get(iid)["tags"] == []


@pytest.mark.parametrize("attr", ["os_distro", "os_version"])
def test_removing_an_optional_property(genv, images, attr):
    iid = images["active"]
    m = genv.mount()
    assert sh(": > %s" % attr, cwd=img(m, iid)).returncode == 0
    assert_one_patch(genv, iid, [{"op": "remove", "path": "/" + attr}])
    assert attr not in genv.get(iid)
    assert read(img(m, iid, attr)) == ""
    # removing what is not set sends nothing
    assert sh(": > %s" % attr, cwd=img(m, iid)).returncode == 0
    assert len(genv.patches(iid)) == 1


@pytest.mark.parametrize("attr,old,new", [
    ("name", None, "vim-named"),
    ("os_version", "12", "13"),
    ("min_ram", "512", "1024"),
])
@pytest.mark.parametrize("style", ["in-place", "rename"])
def test_vim_saves_a_property_with_one_patch(genv, images, attr, old, new, style):
    iid = images["active"]
    m = genv.mount()
    cur = read(img(m, iid, attr)).rstrip("\n")
    cmds = ([VIM_RENAME] if style == "rename" else []) + ["%%s/.*/%s/" % new]
    args = ["vim", "--clean", "-n", "-es"]
    for c in cmds:
        args += ["-c", c]
    r = subprocess.run(args + ["-c", "wq", attr], cwd=img(m, iid), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    assert cur != new
    stored = int(new) if attr == "min_ram" else new
    assert_one_patch(genv, iid, [{"op": "add", "path": "/" + attr, "value": stored}])
    assert genv.get(iid)[attr] == stored
    assert read(img(m, iid, attr)) == new + "\n"
    # vim's scratch files never reached Glance, and are gone
    assert sorted(os.listdir(img(m, iid))) == sorted(
        os.listdir(img(m, images["queued"])))


def test_custom_property_create_replace_remove(genv, images):
    iid = images["queued"]
    m = genv.mount()
    props = img(m, iid, "properties")
    # touch alone sends nothing and leaves nothing
    assert sh("touch com.acme.team", cwd=props).returncode == 0
    assert not genv.patches(iid)
    # touch + write: one add
    assert sh("touch com.acme.team && echo sre > com.acme.team", cwd=props).returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/com.acme.team", "value": "sre"}])
    assert genv.get(iid)["com.acme.team"] == "sre"
    # write: replace is an add (an upsert)
    assert echo(os.path.join(props, "com.acme.team"), "platform").returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/com.acme.team", "value": "platform"}], 1)
    assert genv.get(iid)["com.acme.team"] == "platform"
    assert read(os.path.join(props, "com.acme.team")) == "platform\n"
    # a key with JSON Pointer's special characters
    assert echo(os.path.join(props, "a~b"), "x").returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/a~0b", "value": "x"}], 2)
    assert genv.get(iid)["a~b"] == "x"
    # rm: one remove
    assert sh("rm com.acme.team", cwd=props).returncode == 0
    assert_one_patch(genv, iid, [{"op": "remove", "path": "/com.acme.team"}], 3)
    assert "com.acme.team" not in genv.get(iid)
    assert sorted(os.listdir(props)) == ["a~b"]


def test_custom_property_by_vim(genv, images):
    iid = images["active"]
    m = genv.mount()
    props = img(m, iid, "properties")
    r = subprocess.run(["vim", "--clean", "-n", "-es", "-c", "%s/platform/infra/", "-c", "wq",
                        "com.acme.owner"], cwd=props, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/com.acme.owner", "value": "infra"}])
    r = subprocess.run(["vim", "--clean", "-n", "-es", "-c", "normal ivalue", "-c", "wq",
                        "com.acme.vim"], cwd=props, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert_one_patch(genv, iid, [{"op": "add", "path": "/com.acme.vim", "value": "value"}], 1)
    doc = genv.get(iid)
    assert (doc["com.acme.owner"], doc["com.acme.vim"]) == ("infra", "value")
    assert sorted(os.listdir(props)) == ["com.acme.owner", "com.acme.vim"]


# ---------------------------------------------------------------- refusals

def fill_properties(genv, iid, n):
    genv.patch(iid, [{"op": "add", "path": "/p%03d" % i, "value": "v"} for i in range(n)])


# (image, file, value, errno, error line); value None: `: > file`
REFUSALS = [
    ("queued", "properties/com.rackspace.x", "v", errno.EPERM,
     'property "com.rackspace.x": keys starting with com.rackspace, org.openstack or os_glance are reserved'),
    ("queued", "properties/org.openstack.x", "v", errno.EPERM,
     'property "org.openstack.x": keys starting with com.rackspace, org.openstack or os_glance are reserved'),
    ("queued", "properties/os_glance_x", "v", errno.EPERM,
     'property "os_glance_x": keys starting with com.rackspace, org.openstack or os_glance are reserved'),
    ("queued", "properties/" + "k" * 256, "v", errno.ENAMETOOLONG, None),
    ("queued", "properties/com.acme.long", "v" * 256, errno.EINVAL,
     'com.acme.long "%s...": at most 255 characters (this one has 256)' % ("v" * 64)),
    ("queued", "name", "n" * 256, errno.EINVAL,
     'name "%s...": at most 255 characters (this one has 256)' % ("n" * 64)),
    ("queued", "os_version", "x" * 256, errno.EINVAL,
     'os_version "%s...": at most 255 characters (this one has 256)' % ("x" * 64)),
    ("queued", "min_ram", "lots", errno.EINVAL,
     'min_ram "lots": a whole number from 0 to 2147483647'),
    ("queued", "min_disk", "2147483648", errno.EINVAL,
     'min_disk "2147483648": a whole number from 0 to 2147483647'),
    ("queued", "protected", "yes", errno.EINVAL, 'protected "yes": true or false'),
    ("queued", "container_format", "tarball", errno.EINVAL,
     'container_format "tarball": one of ami, ari, aki, bare, ovf, ova, docker, compressed'),
    ("queued", "disk_format", "img", errno.EINVAL,
     'disk_format "img": one of ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop'),
    ("active", "disk_format", "raw", errno.EPERM,
     "disk_format: can change only while the image is queued (its status is active)"),
    ("active", "container_format", "ovf", errno.EPERM,
     "container_format: can change only while the image is queued (its status is active)"),
    ("queued", "ramdisk_id", "ACTIVE", errno.EINVAL,
     "ramdisk_id: applies only when disk_format is ami (it is qcow2)"),
    ("queued", "kernel_id", "ACTIVE", errno.EINVAL,
     "kernel_id: applies only when disk_format is ami (it is qcow2)"),
    ("ami", "kernel_id", "not-a-uuid", errno.EINVAL,
     'kernel_id "not-a-uuid": an image id (UUID)'),
    ("queued", "properties/name", "v", errno.EINVAL,
     'property "name": an image attribute, not a custom property; write the image\'s name file'),
    ("queued", "properties/os_distro", "v", errno.EINVAL,
     'property "os_distro": an image attribute, not a custom property; write the image\'s os_distro file'),
    ("queued", "tags", "\n".join("t%d" % i for i in range(129)), errno.EDQUOT,
     "tags: 129 tags; Glance allows at most 128"),
    ("full", "properties/com.acme.one-more", "v", errno.EDQUOT,
     "com.acme.one-more: the image already has 128 properties, Glance's limit"),
    ("full", "os_distro", "debian", errno.EDQUOT,
     "os_distro: the image already has 128 properties, Glance's limit"),
    ("queued", "name", "", errno.EINVAL, "name: cannot be removed; write a value"),
    ("queued", "min_ram", "", errno.EINVAL, "min_ram: cannot be removed; write a value"),
    ("queued", "min_disk", "", errno.EINVAL, "min_disk: cannot be removed; write a value"),
    ("queued", "protected", "", errno.EINVAL, "protected: cannot be removed; write a value"),
    ("queued", "container_format", "", errno.EINVAL,
     "container_format: cannot be removed; write a value"),
    ("queued", "name", None, errno.EINVAL,
     "name: truncated and closed without a value; it cannot be empty, nothing changed"),
    ("queued", "min_ram", None, errno.EINVAL,
     "min_ram: truncated and closed without a value; it cannot be empty, nothing changed"),
    ("queued", "protected", None, errno.EINVAL,
     "protected: truncated and closed without a value; it cannot be empty, nothing changed"),
]


@pytest.mark.parametrize("which,path,value,err,line", REFUSALS,
                         ids=["%s-%d" % (r[1].split("/")[-1][:20], i)
                              for i, r in enumerate(REFUSALS)])
def test_refused_before_any_request(genv, images, which, path, value, err, line):
    if which == "full":
        iid = images["queued"]
        fill_properties(genv, iid, 128)
    else:
        iid = images[which]
    if value == "ACTIVE":
        value = images["active"]
    m = genv.mount()
    before = genv.get(iid)
    target = img(m, iid, *path.split("/"))
    if value is None:
        assert write_fd(target, flags=os.O_WRONLY | os.O_TRUNC) == [errno.errorcode[err]]
    elif err == errno.ENAMETOOLONG:
        assert oserror(os.open, target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == err
    else:
        assert put(target, value, create=path.startswith("properties/")) == \
            errno.errorcode[err]
    assert not genv.patches(), "a refused write reached Glance"
    assert genv.get(iid) == before
    if line:
        assert read(img(m, iid, "error")) == line + "\n"
        assert line in m.log()


@pytest.mark.parametrize("f", ["id", "status", "visibility", "checksum", "size", "owner",
                               "created_at", "updated_at", "image.json", "error"])
def test_read_only_files(genv, images, f):
    iid = images["active"]
    m = genv.mount()
    before = genv.get(iid)
    assert oserror(os.open, img(m, iid, f), os.O_WRONLY | os.O_TRUNC) == errno.EACCES
    assert echo(img(m, iid, f), "x").returncode != 0
    assert not genv.patches()
    assert genv.get(iid) == before


@pytest.mark.parametrize("key", ["deleted", "deleted_at"])
def test_keys_glance_reserves_are_refused_before_any_request(genv, images, key):
    """Glance answers 403 "Attribute 'deleted' is reserved." for these:
    refused here first, with the same errno."""
    iid = images["queued"]
    m = genv.mount()
    before = genv.get(iid)
    assert put(img(m, iid, "properties", key), "x", create=True) == "EPERM"
    assert not genv.patches(iid)
    assert read(img(m, iid, "error")) == 'property "%s": reserved by Glance\n' % key
    assert genv.get(iid) == before


# ------------------------------------------------------ errors Glance sends

GLANCE_ERRORS = [
    (400, {"message": "Bad thing.<br /><br />\n\n\n", "title": "Bad Request"}, errno.EINVAL,
     "Glance: Bad thing."),
    (401, {"message": "This server could not verify that you are authorized to access the "
                      "document you requested.<br /><br />\n\n", "title": "Unauthorized"},
     errno.EACCES, "Glance: This server could not verify that you are authorized to access the "
     "document you requested. (the token was refused: check glance_token_file or OS_TOKEN)"),
    (403, {"message": "Access was denied to this resource.<br /><br />\n\n\n"}, errno.EPERM,
     "Glance: Access was denied to this resource."),
    (409, {"message": "There was a conflict.<br /><br />\nProperty x does not exist.\n\n"},
     errno.EEXIST, "Glance: There was a conflict. Property x does not exist."),
    (413, {"message": "The request returned a 413 Request Entity Too Large.<br /><br />\n"},
     errno.EDQUOT, "Glance: The request returned a 413 Request Entity Too Large."),
    (415, {"message": "The request media type is not supported by this server.\n<br /><br />\n"},
     errno.EINVAL, "Glance: The request media type is not supported by this server."),
    (429, {"title": "Too Many Requests"}, errno.EAGAIN, "Glance: Too Many Requests"),
    (500, b"<html><body>500 Internal Server Error</body></html>", errno.EIO, "Glance: HTTP 500"),
    (503, {"message": "Service Unavailable\n<br />"}, errno.EAGAIN,
     "Glance: Service Unavailable (unavailable after 8 tries; try again later)"),
    (200, b"{\"id\": 42}", errno.EIO, None),
    (200, b"not json", errno.EIO, None),
]


@pytest.mark.parametrize("status,fbody,err,line", GLANCE_ERRORS,
                         ids=["%d-%d" % (e[0], i) for i, e in enumerate(GLANCE_ERRORS)])
def test_glance_errors_map_to_errno(genv, images, status, fbody, err, line):
    iid = images["queued"]
    m = genv.mount()
    before = genv.get(iid)
    genv.proxy.fault("PATCH", "^/v2/images/" + iid, status, fbody, count=100,
                     headers={"Retry-After": "0"} if status == 503 else None)
    assert put(img(m, iid, "os_distro"), "debian") == errno.errorcode[err]
    n = len(genv.patches(iid))
    assert n == (8 if status == 503 else 1)
    if line:
        assert read(img(m, iid, "error")) == line + "\n"
    else:
        assert read(img(m, iid, "error")).startswith("Glance: ")
    assert read(img(m, iid, "os_distro")) == ""
    assert genv.get(iid) == before
    # the image is still there, and a write works once Glance does
    genv.proxy.clear_faults()
    assert put(img(m, iid, "os_distro"), "debian") == 0
    assert genv.get(iid)["os_distro"] == "debian"
    assert read(img(m, iid, "error")) == ""


def test_a_503_is_retried_within_the_deadline(genv, images):
    iid = images["queued"]
    m = genv.mount()
    genv.proxy.fault("PATCH", "^/v2/images/" + iid, 503, {"message": "busy"}, count=2)
    assert put(img(m, iid, "os_distro"), "debian") == 0
    assert len(genv.patches(iid)) == 3
    assert genv.get(iid)["os_distro"] == "debian"


def test_404_removes_the_image(genv, images):
    iid = genv.create("doomed")
    m = genv.mount()
    assert os.path.isdir(img(m, iid))
    st, _ = call(genv.url, "DELETE", "/v2/images/" + iid)
    assert st == 204
    assert put(img(m, iid, "os_distro"), "debian") == "ENOENT"
    assert wait_until(lambda: not os.path.exists(img(m, iid)))
    assert iid not in os.listdir(m.path("images"))


# ------------------------------------------------------------------ tokens

def test_token_file_goes_in_x_auth_token_and_is_read_again_after_a_401(genv, images):
    with open(genv.token_path, "w") as f:
        f.write("first-token\n")
    m = genv.mount("glance_token_file=" + genv.token_path)
    gets = genv.proxy.requests("GET")
    assert gets and all(r["headers"].get("x-auth-token") == "first-token" for r in gets)
    assert all("authorization" not in r["headers"] for r in gets)
    iid = images["queued"]
    assert put(img(m, iid, "os_distro"), "one") == 0
    assert genv.patches(iid)[0]["headers"]["x-auth-token"] == "first-token"
    # rotate: the next request is refused once, the file is read again, sent again
    with open(genv.token_path + ".tmp", "w") as f:
        f.write("second-token\n")
    os.replace(genv.token_path + ".tmp", genv.token_path)
    genv.proxy.fault("PATCH", "^/v2/images/" + iid, 401, {"title": "Unauthorized"}, count=1)
    assert put(img(m, iid, "os_distro"), "two") == 0
    tokens = [r["headers"]["x-auth-token"] for r in genv.patches(iid)]
    assert tokens == ["first-token", "first-token", "second-token"]
    assert genv.get(iid)["os_distro"] == "two"
    # refused again with the same token: EACCES, sent once more at most
    genv.proxy.fault("PATCH", "^/v2/images/" + iid, 401, {"title": "Unauthorized"}, count=5)
    assert put(img(m, iid, "os_distro"), "three") == "EACCES"
    assert len(genv.patches(iid)) == 4
    assert "token was refused" in read(img(m, iid, "error"))
    for secret in ("first-token", "second-token"):
        assert secret not in m.log()
        assert secret not in read(img(m, iid, "error"))
        assert secret not in " ".join(m.cmd)


def test_os_token_from_the_environment(genv, images):
    env = dict(os.environ, OS_TOKEN="env-token-123")
    m = genv.mount(env=env)
    iid = images["queued"]
    assert put(img(m, iid, "os_version"), "1") == 0
    reqs = genv.proxy.requests()
    assert reqs and all(r["headers"].get("x-auth-token") == "env-token-123" for r in reqs)
    assert "env-token-123" not in m.log()


def test_no_token_sends_no_header(genv, images):
    env = {k: v for k, v in os.environ.items() if k != "OS_TOKEN"}
    m = genv.mount(env=env)
    assert put(img(m, images["queued"], "os_version"), "1") == 0
    assert all("x-auth-token" not in r["headers"] for r in genv.proxy.requests())


# ------------------------------------------------------------ concurrency

def test_16_writers_to_one_image_lose_no_update(genv, images):
    iid = images["queued"]
    m = genv.mount()
    props = img(m, iid, "properties")
    results = [None] * 16

    def writer(i):
        results[i] = put(os.path.join(props, "com.acme.w%02d" % i), "v%d" % i, create=True)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [0] * 16
    doc = genv.get(iid)
    assert {k: doc.get(k) for k in ("com.acme.w%02d" % i for i in range(16))} == \
        {"com.acme.w%02d" % i: "v%d" % i for i in range(16)}
    assert sorted(os.listdir(props)) == sorted("com.acme.w%02d" % i for i in range(16))
    assert len(genv.patches(iid)) == 16
    # the PATCHes of one image never overlapped
    spans = sorted((r["t0"], r["t1"]) for r in genv.patches(iid))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


def test_16_writers_to_16_images(genv):
    ids = [genv.create("par %d" % i) for i in range(16)]
    m = genv.mount()
    results = [None] * 16

    def writer(i):
        results[i] = put(img(m, ids[i], "os_distro"), "d%d" % i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [0] * 16
    for i, iid in enumerate(ids):
        assert genv.get(iid)["os_distro"] == "d%d" % i
        assert read(img(m, iid, "os_distro")) == "d%d\n" % i
        assert len(genv.patches(iid)) == 1


# ----------------------------------------------------- changes made elsewhere

def read_events(fd, want, timeout=10):
    import time
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 65536)
            except BlockingIOError:
                pass
        lines = [json.loads(l) for l in buf.decode().splitlines() if l]
        if want(lines):
            return lines
    return [json.loads(l) for l in buf.decode().splitlines() if l]


def test_changes_by_another_client_appear_within_poll(genv, images):
    iid = images["queued"]
    m = genv.mount(poll=1)
    fd = os.open(m.path(".deployfs", "events"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert read(img(m, iid, "os_distro")) == ""
        genv.patch(iid, [{"op": "add", "path": "/os_distro", "value": "elsewhere"},
                         {"op": "add", "path": "/com.acme.from", "value": "cli"}])
        assert wait_until(lambda: read(img(m, iid, "os_distro")) == "elsewhere\n", timeout=5)
        assert read(img(m, iid, "properties", "com.acme.from")) == "cli\n"
        assert read(img(m, iid, "error")) == ""
        # a new image, and a deleted one
        new = genv.create("made elsewhere")
        assert wait_until(lambda: os.path.isdir(img(m, new)), timeout=5)
        st, _ = call(genv.url, "DELETE", "/v2/images/" + new)
        assert st == 204
        assert wait_until(lambda: not os.path.exists(img(m, new)), timeout=5)
        lines = read_events(fd, lambda ls: any(l.get("old") == new for l in ls))
        assert {"path": "images/%s/os_distro" % iid, "old": None, "new": "elsewhere",
                "origin": "remote"} in [{k: l.get(k) for k in ("path", "old", "new", "origin")}
                                        for l in lines]
        assert any(l.get("new") == new and l["origin"] == "remote" for l in lines)
        assert any(l.get("old") == new and l["origin"] == "remote" for l in lines)
        # no PATCH was ever sent by the mount
        assert not genv.patches()
    finally:
        os.close(fd)


# ------------------------------------------------------------- lifecycle

def test_glance_stopped_mid_run_and_restarted(tmp_path, glance_db):
    """Glance itself stops and starts again. It comes back on another port
    (the tooling picks a free one), so the mount's endpoint is the proxy's
    stable one, as a load balancer's would be: it is stopped with Glance
    (its port then refuses connections) and started again on its port in
    front of the new Glance."""
    g = start_glance(tmp_path / "glance", glance_db)
    e = GEnv(tmp_path, g)
    try:
        iid = e.create("outage", os_distro="before")
        m = e.mount(poll=1)
        host = e.proxy.url.split("//")[1]
        assert read(img(m, iid, "os_distro")) == "before\n"
        g.stop()
        e.proxy.stop()
        # reads from the last known state; writes fail, and change nothing
        assert read(img(m, iid, "os_distro")) == "before\n"
        assert os.listdir(img(m, iid, "properties")) == []
        assert put(img(m, iid, "os_distro"), "during") == "ECONNREFUSED"
        assert read(img(m, iid, "error")) == "Glance %s refused the connection\n" % host
        assert read(img(m, iid, "os_distro")) == "before\n"
        # polls fail quietly: one line, and the image stays
        assert wait_until(lambda: "serving the last known images" in m.log(), timeout=5)
        assert os.path.isdir(img(m, iid))
        g.start()
        e.proxy = GlanceProxy(g.url, port=e.proxy.port).start()
        assert wait_until(lambda: put(img(m, iid, "os_distro"), "after") == 0, timeout=30,
                          step=0.2)
        assert e.get(iid)["os_distro"] == "after"
        assert read(img(m, iid, "os_distro")) == "after\n"
        assert read(img(m, iid, "error")) == ""
        assert wait_until(lambda: "Glance answers again" in m.log(), timeout=5)
        assert m.log().count("serving the last known images") == 1
    finally:
        e.close()
        g.stop()


def test_unmount_with_a_poll_in_flight_is_prompt(genv, images):
    import signal
    import time
    m = genv.mount(poll=0.2)
    t0 = time.monotonic()
    assert m.kill(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------- with the apps API too

def test_apps_api_and_glance_in_one_mount(genv, images, tmp_path):
    from apps_api_client import AppsApi, TOKEN
    api = AppsApi(tmp_path / "api", args=["--no-registry-check"]).start()
    try:
        tok = tmp_path / "api-token"
        tok.write_text(TOKEN + "\n")
        m = genv.mount("api=%s,api_token_file=%s" % (api.url, tok))
        # environments and apps from the API, images from Glance
        assert sorted(os.listdir(m.path("environments"))) == ["prod", "staging"]
        assert images["queued"] in os.listdir(m.path("images"))
        assert DEBIAN not in os.listdir(m.path("images"))
        assert echo(m.app("tag"), "1.27-alpine").returncode == 0
        assert api.state()["apps"][WEB]["source"]["image"]["tag"] == "1.27-alpine"
        assert not genv.patches()
        iid = images["queued"]
        assert echo(img(m, iid, "os_distro"), "both").returncode == 0
        assert genv.get(iid)["os_distro"] == "both"
        assert len(genv.patches()) == 1
        assert [r["method"] for r in api.requests() if r["method"] == "PATCH"] == ["PATCH"]
    finally:
        for mm in genv.mounts:
            mm.stop()
        api.stop()


def test_history_of_changes_seen_by_polling(genv, images):
    """History on Glance: a write through the mount, then a change another
    client made, seen by a poll (who unknown: Glance does not say)."""
    iid = images["queued"]
    m = genv.mount(poll=0.5)
    assert sh("echo linux > %s" % img(m, iid, "os_distro")).returncode == 0
    genv.patch(iid, [{"op": "add", "path": "/os_distro", "value": "elsewhere"}])
    hist = img(m, iid, "history")
    assert wait_until(lambda: len(read(hist).splitlines()) == 2, timeout=10), read(hist)
    rows = [l.split("\t") for l in read(hist).splitlines()]
    assert [r[:1] + r[2:] for r in rows] == [
        ["1", "root", "0", "bash", "mount", "os_distro", "", "linux", ""],
        ["2", "", "", "", "remote", "os_distro", "linux", "elsewhere", ""],
    ]
    twin = [json.loads(l) for l in read(img(m, iid, "history.json")).splitlines()]
    assert [(t["user"], t["origin"], t["old"], t["new"]) for t in twin] == \
        [("root", "mount", None, "linux"), (None, "remote", "linux", "elsewhere")]
