#!/usr/bin/env python3
"""Latency of the registry check against curl's bare keep-alive HEAD.

    python3 tests/bench/registry_latency.py [--rounds 7] [--checks 200]

Starts a local docker-registry (tests/tools/registry.py: plain http, and
token auth), seeds it, and in every round times, back to back:

  deployfs  N checks of one reference on one client (regcheck --repeat N:
            dfs_registry_check in a loop, connection and token reused),
  curl      N HEADs of the same manifest in one curl invocation (one
            connection, kept alive), with the same Accept header and, for
            token auth, a Bearer token fetched beforehand.

It prints the medians per check and the ratio deployfs/curl: the median
over rounds of the ratio within a round (both sides of a pair see the same
machine phase). The first check of a client (connection, TLS/http probe,
token) is shown apart and is not in the medians. Everything binds
127.0.0.1 and is stopped by pid at the end, also on failure or Ctrl-C.

Exit status: 0 when everything ran (a benchmark reports, it does not fail
CI); 1 when something could not run.

Environment: REGCHECK (default: build/tests/regcheck, built with make).
"""
import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

import registry as regtool  # noqa: E402
import seed_registry  # noqa: E402

REF = "demo/oci-index:1.0"


def regcheck_bin():
    path = os.environ.get("REGCHECK")
    if path:
        return path
    subprocess.run(["make", "-s", "-C", ROOT, "build/tests/regcheck"], check=True)
    return os.path.join(ROOT, "build", "tests", "regcheck")


def run_regcheck(binary, reg, n, creds_file, tmp):
    args = [binary, "--insecure", reg.host, "--repeat", str(n)]
    if reg.cacert:   # the token server's
        args += ["--cacert", reg.cacert]
    if creds_file:
        args += ["--creds-file", creds_file]
    p = subprocess.run(args + [f"{reg.host}/{REF}"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, DOCKER_CONFIG=tmp))
    if p.returncode != 0:
        raise RuntimeError(f"regcheck failed: {p.stdout} {p.stderr}")
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("checks ")][-1].split()
    stats = dict(zip(line[0::2], line[1::2]))
    return float(stats["median_us"]), float(stats["first_us"])


def bearer_token(reg):
    """What curl sends for token auth: a token for the scope, fetched once."""
    q = urllib.parse.urlencode({"service": regtool.SERVICE,
                                "scope": f"repository:{REF.split(':')[0]}:pull"})
    req = urllib.request.Request(f"{reg.token_url}?{q}")
    req.add_header("Authorization", "Basic " + __import__("base64").b64encode(
        b"alice:wonderland").decode())
    ctx = ssl.create_default_context(cafile=reg.cacert)
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        return json.load(r)["token"]


def run_curl(reg, n, token, tmp):
    name, tag = REF.split(":")
    url = f"{reg.url}/v2/{name}/manifests/{tag}"
    args = ["curl", "-s", "-I", "-w", "%{http_code} %{time_total}\n",
            "-H", "Accept: " + seed_registry.ACCEPT]
    if token:
        # a header file keeps the token out of the command line
        hfile = os.path.join(tmp, "curl-headers")
        with open(hfile, "w") as f:
            f.write(f"Authorization: Bearer {token}\n")
        os.chmod(hfile, 0o600)
        args += ["-H", "@" + hfile]
    for _ in range(n):
        args += ["-o", "/dev/null", url]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    rows = [ln.split() for ln in p.stdout.splitlines() if ln.strip()]
    if p.returncode != 0 or len(rows) != n or any(r[0] != "200" for r in rows):
        raise RuntimeError(f"curl failed: rc {p.returncode}, {p.stdout[-300:]} {p.stderr}")
    # the first one opens the connection: leave it out, as for regcheck
    return statistics.median(float(r[1]) * 1e6 for r in rows[1:])


def bench(binary, reg, label, rounds, n, creds_file, token, tmp):
    ours, theirs, ratios, firsts = [], [], [], []
    for i in range(rounds):
        # alternate who goes first, so neither always meets a warmer cache
        if i % 2 == 0:
            med, first = run_regcheck(binary, reg, n, creds_file, tmp)
            c = run_curl(reg, n, token, tmp)
        else:
            c = run_curl(reg, n, token, tmp)
            med, first = run_regcheck(binary, reg, n, creds_file, tmp)
        ours.append(med)
        theirs.append(c)
        firsts.append(first)
        ratios.append(med / c)
    print(f"{label:<12} deployfs check median {statistics.median(ours):8.1f} us   "
          f"curl keep-alive HEAD median {statistics.median(theirs):8.1f} us   "
          f"first check {statistics.median(firsts):8.1f} us")
    print(f"ratio registry check {label} deployfs/curl = {statistics.median(ratios):.2f}"
          f"  (rounds {rounds}, {n} checks each; per round "
          f"{min(ratios):.2f}..{max(ratios):.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--checks", type=int, default=200)
    a = ap.parse_args()
    if not 1 <= a.rounds <= 100 or not 2 <= a.checks <= 5000:
        ap.error("--rounds 1..100, --checks 2..5000")
    binary = regcheck_bin()
    regs = []
    with tempfile.TemporaryDirectory(prefix="deployfs-bench-registry-") as tmp:
        try:
            plain = regtool.Registry(os.path.join(tmp, "plain")).start()
            regs.append(plain)
            token = regtool.Registry(os.path.join(tmp, "token"), auth="token").start()
            regs.append(token)
            seed_registry.seed(plain.url)
            seed_registry.seed(token.url, user="alice", password="wonderland",
                               cacert=token.cacert)
            creds = os.path.join(tmp, "creds")
            with open(creds, "w") as f:
                f.write(f"url={token.host}\nusername=alice\npassword=wonderland\n")
            os.chmod(creds, 0o600)
            print(f"registry check latency, loopback docker-registry, reference {REF}")
            bench(binary, plain, "plain", a.rounds, a.checks, None, None, tmp)
            bench(binary, token, "token-auth", a.rounds, a.checks, creds,
                  bearer_token(token), tmp)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"registry_latency: {e}", file=sys.stderr)
            return 1
        finally:
            for r in regs:
                r.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
