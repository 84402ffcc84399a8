#!/usr/bin/env python3
"""The quick start's registry: Debian's docker-registry on 127.0.0.1, seeded
offline with the demo apps' images, so registry_check=strict works with no
internet.

    python3 contrib/demo_registry.py start DIR   # prints the registry's URL
    python3 contrib/demo_registry.py stop DIR

The demo mounts with registry_mirror=docker.io=URL (and ghcr.io,
registry.acme.example), so `echo 1.27-alpine > tag` is checked here, and
`echo 9.9 > tag` is refused as not found.
"""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "tools"))

from registry import Registry, stop_dir  # noqa: E402
from seed_registry import Client, push_image, push_list  # noqa: E402

# (repository as the registry stores it, tag, kind) for every demo app,
# and a newer tag of each to deploy. docker.io/nginx is library/nginx.
IMAGES = [
    ("library/nginx", "1.25-alpine", "oci"),
    ("library/nginx", "1.26-alpine", "oci-index"),
    ("library/nginx", "1.27-alpine", "docker-list"),
    ("acme/api", "v2.0.0", "docker"),
    ("acme/api", "v2.1.0", "oci"),
    ("acme/worker", "2024.11", "docker"),
    ("acme/worker", "2024.12", "oci"),
]


def seed(url):
    c = Client(url)
    for repo, tag, kind in IMAGES:
        if kind in ("oci-index", "docker-list"):
            push_list(c, repo, tag, kind == "docker-list")
        else:
            push_image(c, repo, tag, f"{repo}:{tag}", "amd64", kind == "docker")


def main(argv):
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "stop":
        stop_dir(argv[1])   # by the pids recorded at start
        return 0
    reg = Registry(argv[1]).start()
    try:
        seed(reg.url)
    except Exception:
        reg.stop()
        raise
    reg.proc = None   # it outlives this command; `stop DIR` ends it by pid
    print(reg.url)
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
