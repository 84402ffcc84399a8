"""mkdir and rmdir of environments and apps (README, "Making and deleting
objects"): on the local store they make and mark deleted documents; on the
apps API, which has no endpoint for either, they are EPERM and send
nothing."""
import errno
import json
import os

from conftest import oserror, read, sh
from test_api import Env, app_path
from test_events import events, read_lines

COMPANY = "770e8400-e29b-41d4-a716-446655440002"


def docs(m, kind):
    """{name: document} of one kind in the store, deleted ones included."""
    out = {}
    folder = os.path.join(m.state, kind)
    for f in os.listdir(folder):
        if f.endswith(".json") and not f.startswith("."):
            with open(os.path.join(folder, f)) as fh:
                d = json.load(fh)
            out.setdefault(d.get("name"), []).append(d)
    return out


def test_mkdir_makes_an_environment_and_an_app(mount):
    fd = os.open(events(mount), os.O_RDONLY)
    try:
        os.mkdir(mount.path("environments", "qa"))
        (qa,) = docs(mount, "environments")["qa"]
        assert qa["isDeleted"] is False and qa["version"] == 1
        assert qa["companyIdRef"] == COMPANY     # the environments' common one
        assert "qa" in os.listdir(mount.path("environments"))
        assert read(mount.path("environments", "qa", "name")) == "qa\n"
        assert os.listdir(mount.path("environments", "qa", "apps")) == []

        os.mkdir(mount.path("environments", "qa", "apps", "svc"))
        (svc,) = docs(mount, "apps")["svc"]
        assert svc["envIdRef"] == qa["id"] and svc["companyIdRef"] == COMPANY
        assert "source" not in svc                # its image comes with ref
        assert os.listdir(mount.path("environments", "qa", "apps")) == ["svc"]
        assert read(app_path(mount, "ref", envname="qa", app="svc")) == ""

        # the first write of ref gives it its image: one change
        assert sh("echo nginx:1.25-alpine > %s" % app_path(mount, "ref", envname="qa",
                                                           app="svc")).returncode == 0
        (svc,) = docs(mount, "apps")["svc"]
        assert svc["source"]["image"] == {"name": "nginx", "tag": "1.25-alpine"}
        assert svc["version"] == 2
        assert read(app_path(mount, "tag", envname="qa", app="svc")) == "1.25-alpine\n"

        lines = read_lines(fd, 7)
        assert lines[0]["path"] == "environments/qa" and lines[0]["old"] is None
        assert lines[0]["new"] == qa["id"] and lines[0]["origin"] == "mount"
        assert lines[1]["path"] == "environments/qa/apps/svc" and lines[1]["new"] == svc["id"]
        assert {(l["path"], l["old"], l["new"]) for l in lines[2:]} == {
            ("environments/qa/apps/svc/image", None, "nginx"),
            ("environments/qa/apps/svc/tag", None, "1.25-alpine"),
            ("environments/qa/apps/svc/ref", None, "nginx:1.25-alpine"),
            ("environments/qa/apps/svc/version", "1", "2"),
            # the writer of ref becomes the app's modifiedBy
            ("environments/qa/apps/svc/modified_by", None, "root")}
    finally:
        os.close(fd)
    assert "deployfs: mkdir environments/qa: made" in mount.log()


def test_rmdir_marks_deleted_and_an_environment_must_be_empty(mount):
    os.mkdir(mount.path("environments", "qa"))
    os.mkdir(mount.path("environments", "qa", "apps", "svc"))
    before = mount.store_snapshot()
    # an environment with apps stays, and nothing changes
    assert oserror(os.rmdir, mount.path("environments", "qa")) == errno.ENOTEMPTY
    assert mount.store_snapshot() == before
    assert "rmdir environments/qa: it still has apps: rmdir them first" in mount.log()

    os.rmdir(mount.path("environments", "qa", "apps", "svc"))
    (svc,) = docs(mount, "apps")["svc"]
    assert svc["isDeleted"] is True and svc["version"] == 2   # marked, not removed
    assert os.listdir(mount.path("environments", "qa", "apps")) == []
    assert not os.path.exists(app_path(mount, envname="qa", app="svc"))

    os.rmdir(mount.path("environments", "qa"))
    (qa,) = docs(mount, "environments")["qa"]
    assert qa["isDeleted"] is True
    assert "qa" not in os.listdir(mount.path("environments"))
    # the name is free again: a new object, with a new id
    os.mkdir(mount.path("environments", "qa"))
    assert len(docs(mount, "environments")["qa"]) == 2


def test_mkdir_refusals_change_nothing(mount):
    before = mount.store_snapshot()
    assert oserror(os.mkdir, mount.path("environments", "prod")) == errno.EEXIST
    assert oserror(os.mkdir, mount.path("environments", "prod", "apps", "web")) == errno.EEXIST
    assert oserror(os.mkdir, mount.path("environments", "a\x01b")) == errno.EINVAL
    assert oserror(os.mkdir, mount.path("environments", "prod", "apps", "x\ny")) == errno.EINVAL
    assert oserror(os.mkdir, mount.path("environments", "prod", "x")) == errno.EACCES
    assert oserror(os.rmdir, mount.path("environments", "nope")) == errno.ENOENT
    assert mount.store_snapshot() == before
    assert 'app name "x\\x0ay": control characters are not allowed' in mount.log()


def test_apps_api_has_no_endpoint_for_them(tmp_path):
    e = Env(tmp_path)
    e.start_api()
    try:
        m = e.mount()
        e.api.clear_requests()
        assert oserror(os.mkdir, m.path("environments", "qa")) == errno.EPERM
        assert oserror(os.mkdir, m.path("environments", "prod", "apps", "svc")) == errno.EPERM
        assert oserror(os.rmdir, app_path(m)) == errno.EPERM
        assert oserror(os.rmdir, m.path("environments", "staging")) == errno.EPERM
        # asked nothing of the server: it has no endpoint for these
        assert [r for r in e.api.requests() if r["method"] != "GET"] == []
        assert "web" in os.listdir(m.path("environments", "prod", "apps"))
        log = m.log()
        assert ("deployfs: mkdir environments/qa: the apps API has no endpoint to create "
                "environments; do it there") in log
        assert ("deployfs: rmdir environments/prod/apps/web: the apps API has no endpoint to "
                "delete apps; do it there") in log
    finally:
        for m in e.mounts:
            m.stop()
        e.api.stop()
