"""Directory names from server-provided names (README, "The tree"):
duplicates get "@" and 8 characters of the id, unsafe names are escaped,
and no name can leave its directory.
"""
import json
import os
import shutil

import pytest

from conftest import DEMO_STORE, PROD, WEB, Mount, read, wait_until

# id -> name of apps crafted into prod
CRAFTED = {
    "a0000001-0000-4000-8000-000000000001": "web",            # a duplicate of the demo's web
    "a0000002-0000-4000-8000-000000000002": "../../etc",
    "a0000003-0000-4000-8000-000000000003": ".",
    "a0000004-0000-4000-8000-000000000004": "..",
    "a0000005-0000-4000-8000-000000000005": "a/b",
    "a0000006-0000-4000-8000-000000000006": "x" * 300,
    "a0000007-0000-4000-8000-000000000007": "100%/x",
    "a0000008-0000-4000-8000-000000000008": "Debian 12",
    "a0000009-0000-4000-8000-000000000009": "",
    "a000000a-0000-4000-8000-00000000000a": "100%",
    "a000000b-0000-4000-8000-00000000000b": "/",
    "a000000c-0000-4000-8000-00000000000c": "é" * 200,       # 400 bytes
}

EXPECTED = {
    "550e8400-e29b-41d4-a716-446655440000": "web@550e8400",
    "a0000001-0000-4000-8000-000000000001": "web@a0000001",
    "a0000002-0000-4000-8000-000000000002": "..%2F..%2Fetc",
    "a0000003-0000-4000-8000-000000000003": "%2E",
    "a0000004-0000-4000-8000-000000000004": "%2E%2E",
    "a0000005-0000-4000-8000-000000000005": "a%2Fb",
    "a0000006-0000-4000-8000-000000000006": "x" * 246 + "@a0000006",
    "a0000007-0000-4000-8000-000000000007": "100%25%2Fx",
    "a0000008-0000-4000-8000-000000000008": "Debian 12",
    "a0000009-0000-4000-8000-000000000009": "a0000009-0000-4000-8000-000000000009",
    "a000000a-0000-4000-8000-00000000000a": "100%",
    "a000000b-0000-4000-8000-00000000000b": "%2F",
    "a000000c-0000-4000-8000-00000000000c": "é" * 123 + "@a000000c",
    "550e8400-e29b-41d4-a716-446655440100": "api",
    "550e8400-e29b-41d4-a716-446655440200": "worker",
}


def craft(tmp_path, names, env=PROD):
    d = tmp_path / "crafted"
    shutil.copytree(DEMO_STORE, d)
    with open(os.path.join(DEMO_STORE, "apps", WEB + ".json")) as f:
        base = json.load(f)
    for oid, name in names.items():
        doc = dict(base, id=oid, name=name, envIdRef=env)
        with open(d / "apps" / (oid + ".json"), "w") as f:
            json.dump(doc, f)
    return str(d)


@pytest.fixture
def crafted(make_mount, tmp_path):
    return make_mount(store=craft(tmp_path, CRAFTED))


def test_names_are_escaped_and_suffixed(crafted):
    apps = crafted.path("environments", "prod", "apps")
    assert sorted(os.listdir(apps)) == sorted(EXPECTED.values())
    for oid, name in EXPECTED.items():
        assert len(name.encode()) <= 255
        assert read(os.path.join(apps, name, "id")) == oid + "\n", name
    # the staging web is alone in its directory: no suffix
    assert os.listdir(crafted.path("environments", "staging", "apps")) == ["web"]


def test_no_name_leaves_its_directory(crafted):
    apps = crafted.path("environments", "prod", "apps")
    for name in os.listdir(apps):
        p = os.path.join(apps, name)
        assert os.path.dirname(os.path.realpath(p)) == os.path.realpath(apps), name
        assert os.path.isdir(p)
        assert "/" not in name and name not in (".", "..")
    # what the crafted names would have reached, were they used raw
    assert not os.path.exists(os.path.join(apps, "..", "..", "etc", "tag"))
    assert sorted(os.listdir(crafted.path("environments", "prod"))) == ["apps", "id", "name"]
    assert sorted(os.listdir(crafted.path("environments"))) == ["prod", "staging"]
    # the names read back as the server gave them
    byname = {read(os.path.join(apps, n, "name")): n for n in os.listdir(apps)
              if read(os.path.join(apps, n, "id")).strip() in CRAFTED}
    assert byname["../../etc\n"] == "..%2F..%2Fetc"
    assert byname["\n"] == "a0000009-0000-4000-8000-000000000009"


def test_escaped_names_still_write(crafted):
    app = crafted.path("environments", "prod", "apps", "..%2F..%2Fetc")
    with open(os.path.join(app, "tag"), "w") as f:
        f.write("9.9\n")
    assert crafted.doc("apps", "a0000002-0000-4000-8000-000000000002")["source"]["image"]["tag"] \
        == "9.9"


def test_duplicate_environments(make_mount, tmp_path):
    d = tmp_path / "envs"
    shutil.copytree(DEMO_STORE, d)
    with open(os.path.join(DEMO_STORE, "environments", PROD + ".json")) as f:
        doc = json.load(f)
    doc["id"] = "660e8400-e29b-41d4-a716-4466554400ff"
    with open(d / "environments" / (doc["id"] + ".json"), "w") as f:
        json.dump(doc, f)
    m = make_mount(store=str(d))
    # the ids share their first 8 (and 16 and 32) characters: the whole id
    assert sorted(os.listdir(m.path("environments"))) == [
        "prod@660e8400-e29b-41d4-a716-446655440001",
        "prod@660e8400-e29b-41d4-a716-4466554400ff", "staging"]
    assert read(m.path("environments", "prod@660e8400-e29b-41d4-a716-446655440001", "id")) == \
        PROD + "\n"
    assert os.listdir(m.path("environments", "prod@660e8400-e29b-41d4-a716-4466554400ff",
                             "apps")) == []


def test_a_name_that_looks_like_a_suffix(make_mount, tmp_path):
    # an object literally named like another's suffixed name keeps its name
    names = {"a0000001-0000-4000-8000-000000000001": "web@550e8400"}
    m = make_mount(store=craft(tmp_path, names))
    apps = m.path("environments", "prod", "apps")
    listing = sorted(os.listdir(apps))
    assert len(listing) == len(set(listing)) == 4
    ids = sorted(read(os.path.join(apps, n, "id")).strip() for n in listing)
    assert ids == sorted(["a0000001-0000-4000-8000-000000000001", WEB,
                          "550e8400-e29b-41d4-a716-446655440100",
                          "550e8400-e29b-41d4-a716-446655440200"])
    assert read(os.path.join(apps, "web@550e8400", "id")) == "a0000001-0000-4000-8000-000000000001\n"


def test_names_of_objects_added_one_by_one_are_those_of_a_fresh_mount(mount):
    """The names are kept per directory and grown by one object at a time
    while that changes no other name; the result must be what a mount of
    the same store assigns."""
    with open(os.path.join(DEMO_STORE, "apps", WEB + ".json")) as f:
        base = json.load(f)
    apps = mount.path("environments", "prod", "apps")
    for oid, name in list(CRAFTED.items()) + [("a000000d-0000-4000-8000-00000000000d", "web@a0000001")]:
        doc = dict(base, id=oid, name=name, envIdRef=PROD)
        want = len(os.listdir(apps)) + 1
        tmp = os.path.join(mount.state, "apps", "." + oid + ".new")
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.rename(tmp, os.path.join(mount.state, "apps", oid + ".json"))
        assert wait_until(lambda: len(os.listdir(apps)) == want), (name, os.listdir(apps))
    listing = os.listdir(apps)
    assert len(listing) == len(set(listing)) == len(EXPECTED) + 1
    fresh = Mount(mount.tmp + "/fresh", state=mount.state).start()
    try:
        assert sorted(os.listdir(fresh.path("environments", "prod", "apps"))) == sorted(listing)
    finally:
        fresh.stop()
