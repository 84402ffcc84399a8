#!/usr/bin/python3
"""tests/bench/genstore.py - a local store of N objects in the shapes of
examples/demo-store, for tests/bench/scale and the scale test.

    genstore.py DIR N [--seed S]
    genstore.py --count N [--seed S]     only print what DIR N would hold

DIR must not exist. The store holds 100 environments, 3 registries, and
the rest split 60/40 between apps and images (N = 100,000: 59,940 apps
and 39,960 images, spread evenly over the environments). Every document
is written as the demo's are (JSON, 2-space indent). The same N and seed
give the same store, ids included.

Names repeat on purpose, as real ones do: in each environment every 50th
app shares the name of the app before it (both get an "@<id>" suffix in
the mount), and every 20th image shares its name with the one before it
(neither is in images/by-name/).

It prints one JSON line: {"environments": E, "apps": A, "images": I,
"registries": R, "objects": N, "files": F}, F being the files a full walk
of the mount finds (.deployfs is not listed; value files, app.json/image.json/error, symlinks,
properties; what tests/bench/scale and tests/integration/test_scale.py
compare with). Debian's python3 only.
"""
import json
import os
import random
import sys
import uuid

ENVS = 100
REGISTRIES = 3
COMPANY = "770e8400-e29b-41d4-a716-446655440002"
IMAGE_NAMES = ["nginx", "ghcr.io/acme/api", "registry.acme.example/acme/worker",
               "redis", "postgres"]
OS = [("ubuntu", "24.04", "Ubuntu 24.04"), ("debian", "12", "Debian 12"),
      ("alpine", "3.20", "Alpine 3.20")]

# Files per object directory in the mount (README, "The tree"): an
# environment's id and name; an app's 18 files plus resources/{cpu,memory,
# storage}; an image's 23 files plus its custom properties; a registry's 6.
FILES_ENV = 2
FILES_APP = 18 + 3
FILES_IMAGE = 23
FILES_REG = 6
FILES_META = 0          # .deployfs is not listed: a walk never meets it


def counts(n):
    rest = max(n - ENVS - REGISTRIES, 0)
    apps = rest * 6 // 10
    return ENVS, apps, rest - apps, REGISTRIES


def write(path, doc):
    if path.startswith("\0"):       # --count: nothing written
        return
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def main():
    args = sys.argv[1:]
    seed = 1
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2 or not args[1].isdigit():
        sys.exit(__doc__)
    root, n = args[0], int(args[1])
    count_only = root == "--count"
    if count_only:
        root = "\0"
    rnd = random.Random(seed)

    def new_id():
        return str(uuid.UUID(int=rnd.getrandbits(128), version=4))

    n_env, n_app, n_img, n_reg = counts(n)
    if not count_only:
        os.makedirs(root, mode=0o700)
        for d in ("environments", "apps", "images", "registries"):
            os.mkdir(os.path.join(root, d))

    files = FILES_META
    regs = []
    for i in range(n_reg):
        rid = new_id()
        regs.append(rid)
        write(os.path.join(root, "registries", rid + ".json"), {
            "id": rid, "name": f"registry-{i}", "url": f"registry{i}.acme.example",
            "username": "deploy", "companyIdRef": COMPANY})
        files += FILES_REG

    envs = []
    for i in range(n_env):
        eid = new_id()
        envs.append(eid)
        write(os.path.join(root, "environments", eid + ".json"), {
            "id": eid, "name": f"env-{i:03d}", "companyIdRef": COMPANY,
            "resourceQuota": {"cpu": 8000, "memory": 16384, "storage": 102400},
            "resourceUsage": {"cpu": 2000, "memory": 1024, "storage": 20480},
            "isDeleted": False, "createdBy": "user-123", "modifiedBy": "user-123",
            "version": 1})
        files += FILES_ENV

    per_env = [0] * n_env
    for i in range(n_app):
        aid = new_id()
        e = i % n_env
        j = per_env[e]
        per_env[e] += 1
        # every 50th app of an environment repeats the previous name
        name = f"app-{j - 1 if j % 50 == 49 else j:05d}"
        src = {"image": {"name": IMAGE_NAMES[i % len(IMAGE_NAMES)],
                         "tag": f"1.{i % 30}.{i % 7}"}}
        if i % 10 == 0:
            src["containerRegistryConfigIdRef"] = regs[i % len(regs)]
        write(os.path.join(root, "apps", aid + ".json"), {
            "id": aid, "name": name, "envIdRef": envs[e], "companyIdRef": COMPANY,
            "source": src,
            "resources": {"cpu": 250 * (1 + i % 4), "memory": 256 * (1 + i % 8),
                          "storage": 10240},
            "hostname": f"{name}-{aid[:6]}", "port": 8000 + i % 1000,
            "isDeleted": False, "createdBy": "user-123", "modifiedBy": "user-456",
            "version": 1 + i % 5})
        files += FILES_APP

    for i in range(n_img):
        iid = new_id()
        k = i - 1 if i % 20 == 19 else i
        distro, ver, label = OS[k % len(OS)]
        doc = {
            "os_distro": distro, "os_version": ver, "name": f"{label} build {k}",
            "disk_format": "qcow2" if i % 2 else "raw", "container_format": "bare",
            "visibility": "shared", "size": 1073741824, "virtual_size": None,
            "status": "active", "checksum": "d41d8cd98f00b204e9800998ecf8427e",
            "protected": False, "min_ram": 512, "min_disk": 10, "owner": None,
            "os_hidden": False, "os_hash_algo": "sha512", "os_hash_value": None,
            "id": iid, "created_at": "2026-11-01T10:00:00Z",
            "updated_at": "2026-11-01T10:00:00Z", "tags": ["base"],
            "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file",
            "schema": "/v2/schemas/image"}
        files += FILES_IMAGE
        if i % 3 == 0:
            doc["com.acme.owner"] = "platform"
            files += 1
        write(os.path.join(root, "images", iid + ".json"), doc)
    # images/by-name/: one symlink per name that no other image has
    files += sum(1 for i in range(n_img)
                 if i % 20 != 19 and not (i + 1 < n_img and (i + 1) % 20 == 19))

    print(json.dumps({"environments": n_env, "apps": n_app, "images": n_img,
                      "registries": n_reg, "objects": n_env + n_app + n_img + n_reg,
                      "files": files}))


if __name__ == "__main__":
    main()
