"""Images (README, "Images"; the Glance facts they follow are checked by
test_glance_server.py): the standard properties as
files, custom properties under properties/, Glance's rules and quotas,
images/by-name/.
"""
import copy
import errno
import json
import os
import re
import shutil

import pytest

from conftest import DEBIAN, DEMO_STORE, oserror, read, sh, wait_until, write_fd

UBUNTU1 = "a1b2c3d4-0000-4000-8000-000000000001"
UBUNTU2 = "a1b2c3d4-0000-4000-8000-000000000002"
QUEUED = "b1b2c3d4-0000-4000-8000-00000000000a"
AMI = "b1b2c3d4-0000-4000-8000-00000000000b"
KERNEL = "b1b2c3d4-0000-4000-8000-0000000000cc"


def changed(before, after, **kv):
    """before with kv set (None: removed) and after's updated_at, which
    must be an ISO time no earlier than before's."""
    want = copy.deepcopy(before)
    for k, v in kv.items():
        if v is None:
            want.pop(k, None)
        else:
            want[k] = v
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", after["updated_at"])
    assert after["updated_at"] >= before["updated_at"]
    want["updated_at"] = after["updated_at"]
    return want


def put(mount, attr, value, image=DEBIAN):
    """Write value into an image file with one write(2) (creating a
    property); errno name or 0."""
    r = write_fd(mount.image(attr, image=image), value.encode(),
                 flags=os.O_WRONLY | os.O_TRUNC | os.O_CREAT)
    return r[0] if isinstance(r[0], str) else r[-1]


@pytest.fixture
def store(tmp_path):
    """The demo store plus a queued image and an ami image."""
    d = tmp_path / "store"
    shutil.copytree(DEMO_STORE, d)
    with open(os.path.join(DEMO_STORE, "images", DEBIAN + ".json")) as f:
        base = json.load(f)
    for iid, kw in ((QUEUED, {"status": "queued", "name": "queued one"}),
                    (AMI, {"disk_format": "ami", "container_format": "ami", "name": "ami one",
                           "kernel_id": KERNEL})):
        doc = dict(base, id=iid, **kw)
        with open(d / "images" / (iid + ".json"), "w") as f:
            json.dump(doc, f)
    return str(d)


@pytest.fixture
def imount(make_mount, store):
    return make_mount(store=store)


def test_standard_properties_read(mount):
    want = {
        "name": "Debian 12\n", "tags": "base\n", "os_distro": "debian\n", "os_version": "12\n",
        "protected": "false\n", "container_format": "bare\n", "disk_format": "qcow2\n",
        "min_disk": "10\n", "min_ram": "512\n", "ramdisk_id": "", "kernel_id": "",
        "id": DEBIAN + "\n", "status": "active\n", "visibility": "shared\n",
        "checksum": "d41d8cd98f00b204e9800998ecf8427e\n", "size": "1073741824\n", "owner": "",
        "created_at": "2026-11-01T10:00:00Z\n", "updated_at": "2026-11-01T10:00:00Z\n",
        "error": "",
    }
    for f, v in want.items():
        assert read(mount.image(f)) == v, f
        assert os.stat(mount.image(f)).st_size == len(v.encode()), f
    assert json.loads(read(mount.image("image.json"))) == mount.doc("images", DEBIAN)
    assert sorted(os.listdir(mount.image())) == sorted(list(want) + ["image.json", "properties",
                                                                     "history", "history.json"])


@pytest.mark.parametrize("attr,value,stored", [
    ("name", "Debian 12 (bookworm)", "Debian 12 (bookworm)"),
    ("name", "é" * 255, "é" * 255),
    ("os_distro", "debian-custom", "debian-custom"),
    ("os_version", "12.8", "12.8"),
    ("protected", "true", True),
    ("protected", "false", False),
    ("min_ram", "0", 0),
    ("min_ram", "2147483647", 2147483647),
    ("min_disk", "40", 40),
    ("container_format", "bare", "bare"),     # unchanged: allowed while active
    ("disk_format", "qcow2", "qcow2"),
])
def test_set_standard_property(mount, attr, value, stored):
    before = mount.doc("images", DEBIAN)
    assert sh("echo '%s' > %s" % (value, attr), cwd=mount.image()).returncode == 0
    after = mount.doc("images", DEBIAN)
    assert after == changed(before, after, **{attr: stored})
    want = str(stored).lower() if isinstance(stored, bool) else str(stored)
    assert read(mount.image(attr)) == want + "\n"
    assert json.loads(read(mount.image("image.json"))) == after
    assert read(mount.image("updated_at")) == after["updated_at"] + "\n"
    assert read(mount.image("error")) == ""


@pytest.mark.parametrize("attr,value,line", [
    ("protected", "yes", 'protected "yes": true or false'),
    ("protected", "True", 'protected "True": true or false'),
    ("min_ram", "2147483648", 'min_ram "2147483648": a whole number from 0 to 2147483647'),
    ("min_ram", "-1", 'min_ram "-1": a whole number from 0 to 2147483647'),
    ("min_disk", "01", 'min_disk "01": a whole number from 0 to 2147483647'),
    ("min_disk", "1.5", 'min_disk "1.5": a whole number from 0 to 2147483647'),
    ("container_format", "tarball",
     'container_format "tarball": one of ami, ari, aki, bare, ovf, ova, docker, compressed'),
    ("disk_format", "img",
     'disk_format "img": one of ami, ari, aki, vhd, vhdx, vmdk, raw, qcow2, vdi, iso, ploop'),
    ("container_format", "ovf",
     "container_format: can change only while the image is queued (its status is active)"),
    ("disk_format", "raw",
     "disk_format: can change only while the image is queued (its status is active)"),
    ("ramdisk_id", UBUNTU1, "ramdisk_id: applies only when disk_format is ami (it is qcow2)"),
    ("kernel_id", UBUNTU1, "kernel_id: applies only when disk_format is ami (it is qcow2)"),
    ("name", "x" * 256, 'name "%s...": at most 255 characters (this one has 256)' % ("x" * 64)),
    ("os_version", "12\x01", 'os_version "12\\x01": control characters are not allowed (tab is)'),
])
def test_refused_standard_property(mount, attr, value, line):
    before = mount.store_snapshot()
    assert read(mount.image("error")) == ""
    want = "EPERM" if "queued" in line else "EINVAL"
    assert put(mount, attr, value + "\n") == want
    assert mount.store_snapshot() == before
    assert read(mount.image("error")) == line + "\n"
    assert line in mount.log()


def test_format_changes_while_queued(imount):
    before = imount.doc("images", QUEUED)
    assert put(imount, "disk_format", "raw\n", QUEUED) == 0
    assert put(imount, "container_format", "ovf\n", QUEUED) == 0
    after = imount.doc("images", QUEUED)
    assert after == changed(before, after, disk_format="raw", container_format="ovf")


def test_kernel_and_ramdisk_of_an_ami_image(imount):
    before = imount.doc("images", AMI)
    assert read(imount.image("kernel_id", image=AMI)) == KERNEL + "\n"
    assert put(imount, "ramdisk_id", DEBIAN + "\n", AMI) == 0
    after = imount.doc("images", AMI)
    assert after == changed(before, after, ramdisk_id=DEBIAN)
    snap = imount.store_snapshot()
    assert put(imount, "kernel_id", "not-a-uuid\n", AMI) == "EINVAL"
    assert read(imount.image("error", image=AMI)) == 'kernel_id "not-a-uuid": an image id (UUID)\n'
    assert imount.store_snapshot() == snap
    assert sh(": > kernel_id", cwd=imount.image(image=AMI)).returncode == 0
    after2 = imount.doc("images", AMI)
    assert after2 == changed(after, after2, kernel_id=None)
    assert read(imount.image("kernel_id", image=AMI)) == ""


def test_empty_os_version_removes_the_key(mount):
    before = mount.doc("images", DEBIAN)
    r = sh(": > os_version", cwd=mount.image())
    assert r.returncode == 0 and r.stderr == ""
    after = mount.doc("images", DEBIAN)
    assert "os_version" not in after
    assert after == changed(before, after, os_version=None)
    assert read(mount.image("os_version")) == ""
    assert os.stat(mount.image("os_version")).st_size == 0
    # removing what is not there changes nothing: the document is not rewritten
    ino = os.stat(os.path.join(mount.state, "images", DEBIAN + ".json")).st_ino
    assert sh(": > os_version", cwd=mount.image()).returncode == 0
    assert sh("echo > os_distro; : > os_distro", cwd=mount.image()).returncode == 0
    assert mount.doc("images", DEBIAN) == changed(after, mount.doc("images", DEBIAN),
                                                 os_distro=None)
    ino2 = os.stat(os.path.join(mount.state, "images", DEBIAN + ".json")).st_ino
    assert sh(": > os_version; : > ramdisk_id", cwd=mount.image()).returncode == 0
    assert os.stat(os.path.join(mount.state, "images", DEBIAN + ".json")).st_ino == ino2 != ino


def test_removal_by_a_tool_that_closes_once(mount):
    # Python closes once: the removal happens at the last close, very soon
    before = mount.doc("images", DEBIAN)
    assert write_fd(mount.image("os_version")) == [0]
    assert wait_until(lambda: "os_version" not in mount.doc("images", DEBIAN))
    after = mount.doc("images", DEBIAN)
    assert after == changed(before, after, os_version=None)


@pytest.mark.parametrize("attr", ["name", "protected", "min_ram", "min_disk",
                                  "container_format", "disk_format"])
def test_required_properties_cannot_be_emptied(mount, attr):
    before = mount.store_snapshot()
    line = "%s: truncated and closed without a value; it cannot be empty, nothing changed\n" % attr
    assert sh(": > %s" % attr, cwd=mount.image()).returncode == 0   # bash ignores close
    assert mount.store_snapshot() == before
    assert read(mount.image("error")) == line
    assert write_fd(mount.image(attr), b"\x01\n")[0] == "EINVAL"   # another error line
    assert read(mount.image("error")) != line
    assert write_fd(mount.image(attr)) == ["EINVAL"]   # a tool that checks close
    # its error line is recorded at RELEASE, which the kernel sends after
    # close(2) returned: wait for it before the next write
    assert wait_until(lambda: read(mount.image("error")) == line)
    assert write_fd(mount.image(attr), b"\n") == ["EINVAL", 0]
    assert read(mount.image("error")) == "%s: cannot be removed; write a value\n" % attr
    assert mount.store_snapshot() == before


def test_tags_one_a_line(mount):
    before = mount.doc("images", DEBIAN)
    # a shell writes one line per write(2): still one change
    r = sh(r"printf 'stable\nlts\n\nstable\nbookworm\n' > tags", cwd=mount.image())
    assert r.returncode == 0, r.stderr
    after = mount.doc("images", DEBIAN)
    assert after == changed(before, after, tags=["stable", "lts", "bookworm"])
    assert read(mount.image("tags")) == "stable\nlts\nbookworm\n"
    # CRLF lines, and no final newline
    assert sh(r"printf 'a\r\nb' > tags", cwd=mount.image()).returncode == 0
    assert mount.doc("images", DEBIAN)["tags"] == ["a", "b"]
    # an empty file: no tags
    assert sh("echo > tags", cwd=mount.image()).returncode == 0
    assert mount.doc("images", DEBIAN)["tags"] == []
    assert read(mount.image("tags")) == ""


def test_bad_tag_line_fails_the_shells_write(mount):
    before = mount.store_snapshot()
    r = sh(r"printf 'ok\nb\001d\nlater\n' > tags", cwd=mount.image())
    assert r.returncode == 1
    assert "write error: Invalid argument" in r.stderr
    assert mount.store_snapshot() == before
    assert read(mount.image("error")) == 'tag "b\\x01d": control characters are not allowed (tab is)\n'


def test_tag_quota(mount):
    before = mount.store_snapshot()
    many = "".join("t%d\n" % i for i in range(129)).encode()
    assert write_fd(mount.image("tags"), many) == ["EDQUOT", 0]
    assert read(mount.image("error")) == "tags: 129 tags; Glance allows at most 128\n"
    assert mount.store_snapshot() == before
    # from a shell, a line at a time: the 129th line's write fails
    r = sh("for i in $(seq 0 128); do echo t$i; done > tags", cwd=mount.image())
    assert r.returncode == 1
    assert r.stderr == "bash: line 1: echo: write error: Disk quota exceeded\n"
    assert mount.store_snapshot() == before
    r = sh("for i in $(seq 0 127); do /bin/echo t$i; done > tags", cwd=mount.image())
    assert r.returncode == 0, r.stderr
    assert mount.doc("images", DEBIAN)["tags"] == ["t%d" % i for i in range(128)]
    assert write_fd(mount.image("tags"), many[:-5]) == [len(many) - 5, 0]
    assert mount.doc("images", DEBIAN)["tags"] == ["t%d" % i for i in range(128)]


# ---- custom properties ----

def test_property_add_replace_remove(mount):
    props = mount.image("properties")
    assert os.listdir(props) == ["com.acme.owner"]
    assert read(os.path.join(props, "com.acme.owner")) == "platform\n"
    d0 = mount.doc("images", DEBIAN)
    assert sh("echo blue > com.acme.color", cwd=props).returncode == 0
    d1 = mount.doc("images", DEBIAN)
    assert d1 == changed(d0, d1, **{"com.acme.color": "blue"})
    assert sorted(os.listdir(props)) == ["com.acme.color", "com.acme.owner"]
    assert read(os.path.join(props, "com.acme.color")) == "blue\n"
    assert sh("echo green > com.acme.color", cwd=props).returncode == 0
    d2 = mount.doc("images", DEBIAN)
    assert d2 == changed(d1, d2, **{"com.acme.color": "green"})
    assert sh("rm com.acme.color", cwd=props).returncode == 0
    d3 = mount.doc("images", DEBIAN)
    assert d3 == changed(d2, d3, **{"com.acme.color": None})
    assert os.listdir(props) == ["com.acme.owner"]
    assert oserror(os.stat, os.path.join(props, "com.acme.color")) == errno.ENOENT
    assert json.loads(read(mount.image("image.json"))) == d3


@pytest.mark.parametrize("key", ["com.rackspace.x", "com.rackspace", "org.openstack.y",
                                 "os_glance_z"])
def test_forbidden_prefixes(mount, key):
    props = mount.image("properties")
    before = mount.store_snapshot()
    assert read(mount.image("error")) == ""
    r = sh("echo v > %s" % key, cwd=props)
    assert r.returncode == 1
    assert r.stderr == "bash: line 1: %s: Operation not permitted\n" % key
    assert oserror(os.open, os.path.join(props, key), os.O_WRONLY | os.O_CREAT) == errno.EPERM
    assert mount.store_snapshot() == before
    assert os.listdir(props) == ["com.acme.owner"]
    assert read(mount.image("error")) == (
        'property "%s": keys starting with com.rackspace, org.openstack or os_glance are '
        "reserved\n" % key)


def test_property_key_length(mount):
    props = mount.image("properties")
    before = mount.doc("images", DEBIAN)
    k255 = "k" * 255
    assert sh("echo v > %s" % k255, cwd=props).returncode == 0
    after = mount.doc("images", DEBIAN)
    assert after == changed(before, after, **{k255: "v"})
    snap = mount.store_snapshot()
    # 256 bytes: the daemon refuses it; over 1024 the kernel refuses first
    for n in (256, 1000, 1025, 4000):
        assert oserror(os.open, os.path.join(props, "k" * n), os.O_WRONLY | os.O_CREAT) == \
            errno.ENAMETOOLONG, n
    r = sh("echo v > %s" % ("k" * 256), cwd=props)
    assert r.returncode == 1 and "File name too long" in r.stderr
    assert mount.store_snapshot() == snap


def test_property_value_length(mount):
    before = mount.doc("images", DEBIAN)
    # 255 characters (510 bytes of UTF-8) is the limit
    assert put(mount, "properties/com.acme.v", "é" * 255 + "\n") == 0
    after = mount.doc("images", DEBIAN)
    assert after == changed(before, after, **{"com.acme.v": "é" * 255})
    snap = mount.store_snapshot()
    assert put(mount, "properties/com.acme.v", "é" * 256 + "\n") == "EINVAL"
    assert read(mount.image("error")) == \
        'com.acme.v "%s...": at most 255 characters (this one has 256)\n' % ("é" * 32)
    assert mount.store_snapshot() == snap
    assert sorted(os.listdir(mount.image("properties"))) == ["com.acme.owner", "com.acme.v"]


def test_attribute_names_are_not_properties(mount):
    props = mount.image("properties")
    before = mount.store_snapshot()
    assert oserror(os.open, os.path.join(props, "os_distro"), os.O_WRONLY | os.O_CREAT) == \
        errno.EINVAL
    assert read(mount.image("error")) == ('property "os_distro": an image attribute, not a custom '
                                         "property; write the image's os_distro file\n")
    assert mount.store_snapshot() == before


def test_scratch_names_in_properties_are_not_keys(mount):
    props = mount.image("properties")
    before = mount.store_snapshot()
    for name in (".k.swp", "k~", "#k#", "tmpabcdefgh"):
        with open(os.path.join(props, name), "w") as f:
            f.write("v\n")
    assert mount.store_snapshot() == before
    for name in (".k.swp", "k~", "#k#", "tmpabcdefgh"):
        os.unlink(os.path.join(props, name))
    assert os.listdir(props) == ["com.acme.owner"]


def test_refused_new_property_leaves_no_file(mount):
    props = mount.image("properties")
    before = mount.store_snapshot()
    r = sh(r"printf 'b\001d\n' > com.acme.new", cwd=props)
    assert r.returncode == 1
    assert mount.store_snapshot() == before
    assert os.listdir(props) == ["com.acme.owner"]
    # and never fills the directory's 64 scratch slots
    for i in range(70):
        assert write_fd(os.path.join(props, "com.acme.n%d" % i), b"\x01\n",
                        flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC) == ["EINVAL", 0]
    assert put(mount, "properties/com.acme.ok", "fine\n") == 0
    assert sorted(os.listdir(props)) == ["com.acme.ok", "com.acme.owner"]


def test_property_quota(mount):
    props = mount.image("properties")
    # os_distro, os_version and com.acme.owner count: 125 more fit
    for i in range(125):
        with open(os.path.join(props, "q%03d" % i), "w") as f:
            f.write("v\n")
    doc = mount.doc("images", DEBIAN)
    assert sum(k.startswith("q") for k in doc) == 125
    snap = mount.store_snapshot()
    line = "q125: the image already has 128 properties, Glance's limit\n"
    with pytest.raises(OSError) as e:
        with open(os.path.join(props, "q125"), "w") as f:   # Python retries at close
            f.write("v\n")
    assert e.value.errno == errno.EDQUOT
    assert read(mount.image("error")) == line
    r = sh("echo v > q126", cwd=props)
    assert r.returncode == 1 and "Disk quota exceeded" in r.stderr
    assert mount.store_snapshot() == snap
    # replacing an existing one is no new property
    assert put(mount, "properties/q000", "w\n") == 0
    assert mount.doc("images", DEBIAN)["q000"] == "w"
    assert len(os.listdir(props)) == 126
    # a new standard property counts too
    snap = mount.store_snapshot()
    assert put(mount, "os_distro", "debian\n") == 0   # present: no new one
    assert mount.store_snapshot()["images/%s.json" % DEBIAN]["os_distro"] == "debian"


# ---- by-name ----

def test_by_name_links_only_unique_names(mount):
    byname = mount.path("images", "by-name")
    assert os.listdir(byname) == ["Debian 12"]
    assert os.readlink(os.path.join(byname, "Debian 12")) == "../" + DEBIAN
    assert read(os.path.join(byname, "Debian 12", "name")) == "Debian 12\n"
    assert sorted(os.listdir(mount.path("images"))) == sorted(
        [UBUNTU1, UBUNTU2, DEBIAN, "by-name"])
    # one Ubuntu renamed: both names are unique now
    assert sh("echo 'Ubuntu 24.04 LTS' > name", cwd=mount.image(image=UBUNTU2)).returncode == 0
    assert sorted(os.listdir(byname)) == ["Debian 12", "Ubuntu 24.04", "Ubuntu 24.04 LTS"]
    assert os.readlink(os.path.join(byname, "Ubuntu 24.04")) == "../" + UBUNTU1
    assert os.readlink(os.path.join(byname, "Ubuntu 24.04 LTS")) == "../" + UBUNTU2
    # and a clash again: the link goes, also from the kernel's cache
    assert sh("echo 'Debian 12' > name", cwd=mount.image(image=UBUNTU1)).returncode == 0
    assert sorted(os.listdir(byname)) == ["Ubuntu 24.04 LTS"]
    assert wait_until(lambda: oserror(os.lstat, os.path.join(byname, "Debian 12")) ==
                      errno.ENOENT)
    # a name that comes to point at another image
    assert sh("echo 'Debian 12 old' > name", cwd=mount.image()).returncode == 0
    assert sorted(os.listdir(byname)) == ["Debian 12", "Debian 12 old", "Ubuntu 24.04 LTS"]
    assert wait_until(lambda: os.readlink(os.path.join(byname, "Debian 12")) == "../" + UBUNTU1)
    assert read(os.path.join(byname, "Debian 12", "id")) == UBUNTU1 + "\n"
    assert read(os.path.join(byname, "Debian 12 old", "id")) == DEBIAN + "\n"


def test_image_names_with_slashes_in_by_name(make_mount, tmp_path):
    d = tmp_path / "s"
    shutil.copytree(DEMO_STORE, d)
    p = d / "images" / (DEBIAN + ".json")
    doc = json.loads(p.read_text())
    doc["name"] = "../../etc/passwd"
    p.write_text(json.dumps(doc))
    m = make_mount(store=str(d))
    byname = m.path("images", "by-name")
    assert os.listdir(byname) == ["..%2F..%2Fetc%2Fpasswd"]
    assert os.readlink(os.path.join(byname, "..%2F..%2Fetc%2Fpasswd")) == "../" + DEBIAN
    assert read(os.path.join(byname, "..%2F..%2Fetc%2Fpasswd", "name")) == "../../etc/passwd\n"
