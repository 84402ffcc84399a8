"""The local store shared (README, "The local store"): changes made outside
the daemon appear in the mount, several daemons share one store without
losing an update, and no crash leaves a torn document.
"""
import copy
import json
import os
import random
import signal
import threading
import time

import pytest

from conftest import DEBIAN, PROD, WEB, WORKER, oserror, read, sh, umount, wait_until, write_fd

API = "550e8400-e29b-41d4-a716-446655440100"


def edit(mount, kind, oid, fn, how="rename"):
    """Change a document as a person or another tool would: fn(doc) edits
    it; written in place, or to a temp file renamed over it."""
    path = os.path.join(mount.state, kind, oid + ".json")
    with open(path) as f:
        doc = json.load(f)
    fn(doc)
    text = json.dumps(doc, indent=2)
    if how == "inplace":
        with open(path, "w") as f:
            f.write(text)
    else:
        tmp = os.path.join(mount.state, kind, ".edit.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
    return doc


def set_tag(tag):
    def fn(doc):
        doc["source"]["image"]["tag"] = tag
        doc["version"] += 1
    return fn


@pytest.mark.parametrize("how", ["inplace", "rename"])
def test_outside_edit_appears(mount, how):
    tag, version, ref = mount.app("tag"), mount.app("version"), mount.app("ref")
    # the kernel has the old content cached
    assert read(tag) == "1.25-alpine\n" and read(version) == "2\n"
    assert os.stat(tag).st_size == 12
    edit(mount, "apps", WEB, set_tag("1.27.3-bookworm"), how)
    assert wait_until(lambda: read(tag) == "1.27.3-bookworm\n"), read(tag)
    assert os.stat(tag).st_size == 16
    assert read(version) == "3\n"
    assert read(ref) == "nginx:1.27.3-bookworm\n"
    assert json.loads(read(mount.app("app.json"))) == mount.doc("apps", WEB)
    assert read(mount.app("error")) == ""


def test_outside_edit_clears_the_error(mount):
    sh('echo "bad value" > tag', cwd=mount.app())
    assert read(mount.app("error")) != ""
    edit(mount, "apps", WEB, set_tag("1.28"))
    assert wait_until(lambda: read(mount.app("error")) == "")


def test_outside_image_edit_and_property_listing(mount):
    props = mount.image("properties")
    assert os.listdir(props) == ["com.acme.owner"]

    def fn(doc):
        doc["com.acme.team"] = "infra"
        del doc["com.acme.owner"]
        doc["os_version"] = "12.9"
    edit(mount, "images", DEBIAN, fn)
    assert wait_until(lambda: os.listdir(props) == ["com.acme.team"]), os.listdir(props)
    assert read(os.path.join(props, "com.acme.team")) == "infra\n"
    assert wait_until(lambda: oserror(os.stat, os.path.join(props, "com.acme.owner")) == 2)
    assert read(mount.image("os_version")) == "12.9\n"


def test_new_removed_and_renamed_apps(mount):
    apps = mount.path("environments", "prod", "apps")
    assert sorted(os.listdir(apps)) == ["api", "web", "worker"]
    assert read(os.path.join(apps, "api", "id")) == API + "\n"
    new = "550e8400-e29b-41d4-a716-4466554409ff"
    doc = mount.doc("apps", WEB)
    doc.update(id=new, name="cron", hostname="cron-1")
    with open(os.path.join(mount.state, "apps", ".new.tmp"), "w") as f:
        json.dump(doc, f)
    os.rename(os.path.join(mount.state, "apps", ".new.tmp"),
              os.path.join(mount.state, "apps", new + ".json"))
    assert wait_until(lambda: sorted(os.listdir(apps)) == ["api", "cron", "web", "worker"])
    assert read(os.path.join(apps, "cron", "hostname")) == "cron-1\n"
    assert read(os.path.join(apps, "cron", "id")) == new + "\n"
    # removed
    os.unlink(os.path.join(mount.state, "apps", API + ".json"))
    assert wait_until(lambda: sorted(os.listdir(apps)) == ["cron", "web", "worker"])
    assert wait_until(lambda: oserror(os.stat, os.path.join(apps, "api")) == 2)
    # renamed
    edit(mount, "apps", WORKER, lambda d: d.update(name="queue"))
    assert wait_until(lambda: sorted(os.listdir(apps)) == ["cron", "queue", "web"])
    assert wait_until(lambda: oserror(os.stat, os.path.join(apps, "worker")) == 2)
    assert read(os.path.join(apps, "queue", "id")) == WORKER + "\n"
    # deleted by the API's flag
    edit(mount, "apps", new, lambda d: d.update(isDeleted=True))
    assert wait_until(lambda: sorted(os.listdir(apps)) == ["queue", "web"])
    # an environment
    envs = mount.path("environments")
    edit(mount, "environments", PROD, lambda d: d.update(name="production"))
    assert wait_until(lambda: sorted(os.listdir(envs)) == ["production", "staging"])
    assert read(os.path.join(envs, "production", "apps", "web", "tag")) == "1.25-alpine\n"


def test_broken_edit_keeps_the_last_good_version(mount):
    path = os.path.join(mount.state, "apps", WEB + ".json")
    assert read(mount.app("tag")) == "1.25-alpine\n"
    with open(path, "w") as f:
        f.write('{"id": "x", "source": {"image": {"tag": "half')
    assert wait_until(lambda: "keeping the last good version" in mount.log())
    assert ("apps/%s.json: not a JSON object" % WEB) in mount.log()
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert sorted(os.listdir(mount.path("environments", "prod", "apps"))) == ["api", "web", "worker"]
    # a write now cannot be applied to the document: EIO, and error says why
    assert write_fd(mount.app("tag"), b"1.26\n") == ["EIO", 0]
    assert read(mount.app("error")).startswith("store apps/%s.json: not a JSON object" % WEB)
    with open(path) as f:
        assert f.read().endswith('"half')
    # the person finishes the edit
    doc = {"id": WEB, "name": "web", "envIdRef": PROD, "source": {"image": {"name": "nginx",
           "tag": "1.29"}}, "version": 9}
    with open(path, "w") as f:
        json.dump(doc, f)
    assert wait_until(lambda: read(mount.app("tag")) == "1.29\n")
    assert read(mount.app("version")) == "9\n"
    assert sh("echo 1.30 > tag", cwd=mount.app()).returncode == 0
    assert mount.doc("apps", WEB) == dict(doc, source={"image": {"name": "nginx", "tag": "1.30"}},
                                          version=10, modifiedBy="root")


def test_a_document_cannot_claim_another_id(mount):
    edit(mount, "apps", WEB, lambda d: d.update(id=API))
    time.sleep(0.2)
    assert read(mount.app("id")) == WEB + "\n"
    assert read(mount.app("id", app="api")) == API + "\n"


def test_second_daemon_sees_the_first_ones_writes(mount, make_mount):
    m2 = make_mount(state=mount.state, sub="second")
    assert read(m2.app("tag")) == "1.25-alpine\n"
    assert sh("echo 1.26 > tag", cwd=mount.app()).returncode == 0
    assert wait_until(lambda: read(m2.app("tag")) == "1.26\n"), read(m2.app("tag"))
    assert read(m2.app("version")) == "3\n"
    assert sh("echo ghcr.io/acme/web > image", cwd=m2.app()).returncode == 0
    assert wait_until(lambda: read(mount.app("ref")) == "ghcr.io/acme/web:1.26\n")
    assert sh("echo 12.9 > os_version", cwd=m2.image()).returncode == 0
    assert wait_until(lambda: read(mount.image("os_version")) == "12.9\n")
    assert mount.doc("apps", WEB)["version"] == 4


def writer(path, values, errors):
    for v in values:
        r = write_fd(path, v.encode() + b"\n")
        if r != [len(v) + 1, 0]:
            errors.append((path, v, r))


def run_all(jobs):
    errors = []
    threads = [threading.Thread(target=writer, args=(p, vs, errors)) for p, vs in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_threads_one_app_lose_nothing(mount):
    before = mount.doc("apps", WEB)
    run_all([(mount.app("tag"), ["t%d" % i for i in range(50)]),
             (mount.app("image"), ["repo/i%d" % i for i in range(50)])])
    after = mount.doc("apps", WEB)
    assert after["version"] == before["version"] + 100
    assert after["source"]["image"] == {"name": "repo/i49", "tag": "t49"}


def test_two_daemons_one_app_lose_nothing(mount, make_mount):
    m2 = make_mount(state=mount.state, sub="second")
    before = mount.doc("apps", WORKER)
    run_all([(mount.app("tag", app="worker"), ["t%d" % i for i in range(50)]),
             (m2.app("image", app="worker"), ["repo/i%d" % i for i in range(50)])])
    after = mount.doc("apps", WORKER)
    assert after["version"] == before["version"] + 100
    want = copy.deepcopy(before)
    want["source"]["image"] = {"name": "repo/i49", "tag": "t49"}
    want["version"] += 100
    want["modifiedBy"] = "root"   # the writer
    assert after == want
    assert wait_until(lambda: read(m2.app("ref", app="worker")) == "repo/i49:t49\n")
    assert read(mount.app("ref", app="worker")) == "repo/i49:t49\n"


def test_two_daemons_two_apps_and_an_image(mount, make_mount):
    m2 = make_mount(state=mount.state, sub="second")
    before = mount.store_snapshot()
    run_all([(mount.app("tag"), ["a%d" % i for i in range(50)]),
             (m2.app("tag"), ["b%d" % i for i in range(50)]),
             (mount.app("tag", app="api"), ["c%d" % i for i in range(50)]),
             (m2.image("properties", "com.acme.owner"), ["o%d" % i for i in range(50)]),
             (mount.image("os_version"), ["v%d" % i for i in range(50)])])
    after = mount.store_snapshot()
    web, api = "apps/%s.json" % WEB, "apps/%s.json" % API
    assert after[web]["version"] == before[web]["version"] + 100
    assert after[web]["source"]["image"]["tag"] in ("a49", "b49")
    assert after[api]["version"] == before[api]["version"] + 50
    assert after[api]["source"]["image"]["tag"] == "c49"
    img = after["images/%s.json" % DEBIAN]
    assert img["com.acme.owner"] == "o49" and img["os_version"] == "v49"


def all_documents_parse(state):
    for kind in ("apps", "environments", "images", "registries"):
        for name in os.listdir(os.path.join(state, kind)):
            assert name.startswith(".") or name.endswith(".json"), name
            if name.startswith("."):
                continue
            with open(os.path.join(state, kind, name)) as f:
                doc = json.load(f)       # never torn
            assert doc["id"] + ".json" == name


def test_sigkill_never_tears_a_document(mount, make_mount):
    """Kill the daemon at random instants of a stream of writes: every
    document is old or new, never torn, and the store mounts again."""
    rng = random.Random(1234)
    m = mount
    last = 0
    for round in range(5):
        stop = threading.Event()

        def loop(path=m.app("tag")):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    write_fd(path, b"k%d\n" % i)
                except OSError:
                    return

        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.05 + rng.random() * 0.2)
        assert m.kill(signal.SIGKILL) == -signal.SIGKILL
        stop.set()
        umount(m.mnt)
        t.join(10)
        assert not t.is_alive()
        all_documents_parse(m.state)
        doc = m.doc("apps", WEB)
        assert doc["version"] >= last
        last = doc["version"]
        m = make_mount(state=mount.state, sub="r%d" % round)
        assert read(m.app("version")) == "%d\n" % last
        assert read(m.app("tag")) == doc["source"]["image"]["tag"] + "\n"
    assert last > 2
