#!/usr/bin/env python3
"""The quick start's apps API: tests/tools/apps_api.py on 127.0.0.1, seeded
from the demo store, its registry check sent to the demo's registry.

    python3 contrib/demo_api.py start DIR REGISTRY_URL   # prints the API's URL
    python3 contrib/demo_api.py stop DIR

`start` makes a random token, writes the server's tokens file
(DIR/tokens.json) and deployfs's token file (DIR/token), both mode 0600,
starts the server in its own session with --registry-mirror docker.io,
ghcr.io and registry.acme.example = REGISTRY_URL (so its own check of a
PATCH works offline too), records its pid in DIR/pid and prints its base
URL. Its state is DIR/state.json, its log DIR/apps-api.log. `stop` ends
it by that pid (SIGTERM, then SIGKILL), never a pid another program took.
"""
import os
import secrets
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "tools"))

from apps_api_client import DEMO_STORE, AppsApi  # noqa: E402
from registry import stop_pid  # noqa: E402

MIRRORED = ("docker.io", "ghcr.io", "registry.acme.example")


def start(directory, registry_url):
    os.umask(0o077)  # the tokens file and the token file: 0600
    os.makedirs(directory, exist_ok=True)
    token = secrets.token_hex(24)
    args = []
    for host in MIRRORED:
        args += ["--registry-mirror", f"{host}={registry_url}"]
    api = AppsApi(directory, seed=DEMO_STORE, tokens={token: {"user": "demo", "twofa": True}},
                  args=args)
    for path in (api.tokens_path, api.state_path):
        if os.path.exists(path):
            os.unlink(path)
    with open(os.path.join(directory, "token.tmp"), "w") as f:
        f.write(token + "\n")
    os.replace(os.path.join(directory, "token.tmp"), os.path.join(directory, "token"))
    api.start()
    with open(os.path.join(directory, "pid.tmp"), "w") as f:
        f.write(f"{api.proc.pid}\n")
    os.replace(os.path.join(directory, "pid.tmp"), os.path.join(directory, "pid"))
    api.proc = None  # it outlives this command; `stop DIR` ends it by pid
    return api.url


def stop(directory):
    try:
        with open(os.path.join(directory, "pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    stop_pid(pid, "apps_api.py")
    os.unlink(os.path.join(directory, "pid"))


def main(argv):
    if argv[:1] == ["start"] and len(argv) == 3:
        print(start(argv[1], argv[2]))
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
