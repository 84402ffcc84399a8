"""Correctness at 10,000 objects (tests/bench/genstore.py): every name
leads to its object, also after renames, deletions, additions and a move
made in the store while mounted; suffixes of duplicate names stay as they
were where nothing changed; a walk finds the files the store renders."""
import json
import os
import subprocess
import sys
import uuid

from conftest import TOP, wait_until

GENSTORE = os.path.join(TOP, "tests", "bench", "genstore.py")
N = 10000


def load(store, kind):
    out = {}
    d = os.path.join(store, kind)
    for f in os.listdir(d):
        if f.endswith(".json") and not f.startswith("."):
            with open(os.path.join(d, f)) as fh:
                out[f[:-5]] = json.load(fh)
    return out


def put(store, kind, doc):
    """Write a document as an editor does: a temp file renamed over it."""
    d = os.path.join(store, kind)
    tmp = os.path.join(d, ".test-scale.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.rename(tmp, os.path.join(d, doc["id"] + ".json"))


def expected_apps(store):
    """{mount-relative app directory: app id}, by the README's naming: a
    name several siblings share gets "@" and 8 characters of the id."""
    envs = load(store, "environments")
    by_env = {}
    for aid, a in load(store, "apps").items():
        by_env.setdefault(a["envIdRef"], []).append((a["name"], aid))
    out = {}
    for eid, apps in by_env.items():
        count = {}
        for name, _ in apps:
            count[name] = count.get(name, 0) + 1
        for name, aid in apps:
            shown = name if count[name] == 1 else f"{name}@{aid[:8]}"
            out[f"environments/{envs[eid]['name']}/apps/{shown}"] = aid
    return out


def expected_files(store):
    """The files a walk finds (.deployfs is not listed), counted as
    genstore.py counts them."""
    images = load(store, "images")
    names = {}
    for i in images.values():
        names[i["name"]] = names.get(i["name"], 0) + 1
    props = sum(1 for i in images.values() for k in i if k.startswith("com."))
    return (2 * len(load(store, "environments")) + 21 * len(load(store, "apps")) +
            23 * len(images) + props + sum(1 for c in names.values() if c == 1) +
            6 * len(load(store, "registries")))


def expected_byname(store):
    """{images/by-name entry: image id}: a link for each name one image has
    (these names are all safe: no escaping)."""
    by = {}
    for iid, i in load(store, "images").items():
        if i.get("name"):
            by.setdefault(i["name"], []).append(iid)
    return {name: ids[0] for name, ids in by.items() if len(ids) == 1}


def byname_listing(mnt):
    """{entry: image id}, or None while a change is being applied."""
    d = os.path.join(mnt, "images", "by-name")
    try:
        return {name: os.readlink(os.path.join(d, name))[3:] for name in os.listdir(d)}
    except OSError:
        return None


def walk_count(mnt):
    files = 0
    stack = [mnt]
    while stack:
        for e in os.scandir(stack.pop()):
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.path != os.path.join(mnt, ".deployfs", "events"):
                files += 1
    return files


def read_id(path):
    try:
        with open(os.path.join(path, "id")) as f:
            return f.read().strip()
    except OSError:
        return None


def test_scale_names_follow_the_store(tmp_path, make_mount):
    store = str(tmp_path / "gen")
    info = json.loads(subprocess.run([sys.executable, GENSTORE, store, str(N)], check=True,
                                     capture_output=True, text=True).stdout)
    assert expected_files(store) == info["files"]
    m = make_mount(state=store)
    mnt = m.mnt

    want = expected_apps(store)
    assert len(want) == info["apps"]
    # every app's directory, through the kernel (its entry cached from now on)
    for rel, aid in want.items():
        assert read_id(os.path.join(mnt, rel)) == aid, rel
    dups = {rel: aid for rel, aid in want.items() if "@" in rel}
    assert dups, "the generator makes duplicate names"

    apps = load(store, "apps")
    envs = sorted(load(store, "environments"))
    ids = sorted(apps)
    # renames: to a fresh name; onto a sibling's name (both get suffixes);
    # one of a duplicate pair away (its twin loses its suffix)
    for aid in ids[:20]:
        apps[aid]["name"] = apps[aid]["name"] + "-renamed"
        put(store, "apps", apps[aid])
    for a, b in zip(ids[20:30], ids[30:40]):
        if apps[a]["envIdRef"] != apps[b]["envIdRef"]:
            apps[a]["envIdRef"] = apps[b]["envIdRef"]      # a move, too
        apps[a]["name"] = apps[b]["name"]
        put(store, "apps", apps[a])
    dup_ids = sorted(dups.values())
    twin = dup_ids[0]
    apps[twin]["name"] = "unique-now"
    put(store, "apps", apps[twin])
    # deletions, of apps and of images
    for aid in ids[40:60]:
        os.unlink(os.path.join(store, "apps", aid + ".json"))
    for iid in sorted(load(store, "images"))[:5]:
        os.unlink(os.path.join(store, "images", iid + ".json"))
    # images renamed: to a fresh name; onto another's (neither keeps a
    # link); one of a pair that shared a name away (the other gets one)
    assert wait_until(lambda: byname_listing(mnt) == expected_byname(store), timeout=15)
    images = load(store, "images")
    by = {}
    for iid, i in images.items():
        by.setdefault(i["name"], []).append(iid)
    pair = sorted(ids for ids in by.values() if len(ids) == 2)[0]
    single = sorted(ids[0] for ids in by.values() if len(ids) == 1)
    renames = [(single[0], "renamed-image"), (single[1], images[single[2]]["name"]),
               (pair[0], "unpaired-image")]
    for iid, name in renames:
        images[iid]["name"] = name
        images[iid]["updated_at"] = "2026-12-01T00:00:00Z"
        put(store, "images", images[iid])
        # each seen alone: by-name/ follows one rename at a time
        assert wait_until(lambda: byname_listing(mnt) == expected_byname(store), timeout=15)
    # additions, one with a name its environment already has
    for i in range(20):
        aid = str(uuid.UUID(int=i + 1, version=4))
        doc = dict(apps[ids[100]], id=aid, envIdRef=envs[i % len(envs)],
                   name=f"added-{i}", version=1)
        if i == 0:
            doc["name"] = apps[ids[100]]["name"]
            doc["envIdRef"] = apps[ids[100]]["envIdRef"]
        put(store, "apps", doc)

    after = expected_apps(store)
    gone = set(want) - set(after)

    def settled():
        return (all(read_id(os.path.join(mnt, rel)) == aid for rel, aid in after.items()
                    if rel not in want or want[rel] != aid) and
                not any(os.path.exists(os.path.join(mnt, rel)) for rel in gone))
    assert wait_until(settled, timeout=15), "the mount does not show the store's changes"
    assert wait_until(lambda: byname_listing(mnt) == expected_byname(store), timeout=15)
    # every name, old ones included, leads to the right object
    for rel, aid in after.items():
        assert read_id(os.path.join(mnt, rel)) == aid, rel
    # suffixes of duplicates nothing touched stayed as they were
    for rel, aid in dups.items():
        if aid in apps and aid != twin and rel in after:
            assert after[rel] == aid
    kept = [rel for rel, aid in dups.items() if after.get(rel) == aid]
    assert len(kept) > len(dups) // 2
    # listings agree with the names, environment by environment
    listed = set()
    for env in os.listdir(os.path.join(mnt, "environments")):
        for app in os.listdir(os.path.join(mnt, "environments", env, "apps")):
            listed.add(f"environments/{env}/apps/{app}")
    assert listed == set(after)
    assert walk_count(mnt) == expected_files(store)


def test_scale_bounded_nodes_keep_files_right(tmp_path, make_mount):
    """max_nodes= at its least: past it the daemon lets nodes go while a
    walk goes on; every file still reads its object's value, a file held
    open keeps working, and a listing made while the store is still
    being read after the mount is whole."""
    store = str(tmp_path / "gen")
    subprocess.run([sys.executable, GENSTORE, store, str(N)], check=True,
                   capture_output=True, text=True)
    want = expected_apps(store)
    by_env = {}
    for rel in want:
        env = rel.split("/")[1]
        by_env[env] = by_env.get(env, 0) + 1
    m = make_mount(options="registry_check=off,max_nodes=1024", state=store)
    mnt = m.mnt
    # the first request in apps/ may come while the apps are being read:
    # it waits for them, and lists them all
    env = sorted(by_env)[-1]
    assert len(os.listdir(os.path.join(mnt, "environments", env, "apps"))) == by_env[env]

    rels = sorted(want)
    held = os.path.join(mnt, rels[0], "tag")
    fd = os.open(held, os.O_RDONLY)
    try:
        before = os.pread(fd, 4096, 0)
        # ~10 lookups per app, over 400 apps: four times max_nodes
        for rel in rels[1:401]:
            d = os.path.join(mnt, rel)
            for name in os.listdir(d):
                os.lstat(os.path.join(d, name))
            assert read_id(d) == want[rel], rel
        assert os.pread(fd, 4096, 0) == before
        # a write through the mount, seen through the fd held all along
        new = b"9.9.9-bounded"
        with open(held, "wb") as f:
            f.write(new + b"\n")
        assert os.pread(fd, 4096, 0) == new + b"\n"
    finally:
        os.close(fd)
    # the apps walked first, looked up again: the same objects
    for rel in rels[1:41]:
        assert read_id(os.path.join(mnt, rel)) == want[rel], rel
    assert json.load(open(os.path.join(store, "apps", want[rels[0]] + ".json")))[
        "source"]["image"]["tag"] == "9.9.9-bounded"
