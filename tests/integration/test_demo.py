"""contrib/demo.sh api as a person runs it: the demo data through the local
apps API, a write through the mount reaching the server, and
`contrib/demo.sh stop` (told neither the mode nor DEPLOYFS_DEMO) leaving
nothing running or mounted.
"""
import json
import os
import stat
import subprocess
import urllib.request

from conftest import TOP, read, sh, wait_until
from registry import pid_alive

DEMO_SH = os.path.join(TOP, "contrib", "demo.sh")
LAST = "/tmp/deployfs-demo.last"  # where demo.sh records the last demo started


def demo(*args, env=None, timeout=300):
    return subprocess.run([DEMO_SH, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def daemons_on(mnt):
    """pids of processes whose command line names mnt (the daemon)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and pid_alive(int(p), mnt):
            out.append(int(p))
    return out


def test_demo_api_then_stop(tmp_path):
    saved = read(LAST) if os.path.exists(LAST) else None
    d = os.path.realpath(str(tmp_path / "demo"))
    mnt = os.path.join(d, "mnt")
    env = dict(os.environ, DEPLOYFS_DEMO=d, DEPLOYFS_DEMO_NO_DEPS="1")
    started = False
    try:
        r = demo("api", env=env)
        started = True
        assert r.returncode == 0, r.stdout + r.stderr
        assert "deployfs is mounted on %s" % mnt in r.stdout
        # the stop command names the folder this demo used
        assert "\nStop it with: DEPLOYFS_DEMO=%s %s stop\n" % (d, DEMO_SH) in r.stdout
        assert "\nIts log: %s/deployfs.log\n" % d in r.stdout
        assert mounted(mnt)
        api_dir = os.path.join(d, "api")
        token = read(os.path.join(api_dir, "token")).strip()
        for f in ("token", "tokens.json"):
            assert stat.S_IMODE(os.stat(os.path.join(api_dir, f)).st_mode) == 0o600, f
        api_pid = int(read(os.path.join(api_dir, "pid")))
        port = int(read(os.path.join(api_dir, "port")))
        with open(os.path.join(d, "registry", "registry.json")) as f:
            reg_pid = json.load(f)["pid"]
        (daemon,) = daemons_on(mnt)
        with open("/proc/%d/cmdline" % daemon, "rb") as f:
            cmdline = f.read()
        assert b"api=http://127.0.0.1:%d/api/v1" % port in cmdline
        assert b"api_token_file=" in cmdline and b"registry_check=strict" in cmdline
        assert token.encode() not in cmdline

        web = os.path.join(mnt, "environments", "prod", "apps", "web")
        w = sh("echo 1.27-alpine > %s/tag" % web)
        assert w.returncode == 0, w.stderr + read(os.path.join(web, "error"))
        assert read(os.path.join(web, "tag")) == "1.27-alpine\n"
        assert read(os.path.join(web, "digest")).startswith("sha256:")
        with urllib.request.urlopen("http://127.0.0.1:%d/_admin/state" % port, timeout=10) as f:
            state = json.load(f)
        apps = [a for a in state["apps"].values() if a["name"] == "web" and
                state["environments"][a["envIdRef"]]["name"] == "prod"]
        assert [a["source"]["image"] for a in apps] == [{"name": "nginx", "tag": "1.27-alpine"}]
        # the server's own check saw the same registry (not the internet)
        w = sh("echo 9.9 > %s/tag" % web)
        assert w.returncode == 1
        assert "not found in registry docker.io" in read(os.path.join(web, "error"))
        # and its line is in the demo's log, whatever the machine's syslog
        assert wait_until(lambda: "/tag: image nginx:9.9 not found in registry docker.io"
                          in read(os.path.join(d, "deployfs.log")))

        # stop: neither the mode nor DEPLOYFS_DEMO repeated
        plain = {k: v for k, v in os.environ.items() if k != "DEPLOYFS_DEMO"}
        r = demo("stop", env=plain, timeout=60)
        started = False
        assert r.returncode == 0, r.stdout + r.stderr
        assert not mounted(mnt)
        assert wait_until(lambda: not daemons_on(mnt), timeout=10), daemons_on(mnt)
        assert not pid_alive(api_pid, "apps_api.py")
        assert not pid_alive(reg_pid, "docker-registry")
        assert not os.path.exists(LAST) or read(LAST).strip() != d
    finally:
        if started:
            demo("stop", env=env, timeout=60)
        if saved is not None and not os.path.exists(LAST):
            with open(LAST, "w") as f:
                f.write(saved)


def test_demo_glance_then_stop(tmp_path):
    """contrib/demo.sh glance: the demo's images from a real Glance on
    loopback, a property written through the mount reaching it, and stop
    leaving no Glance behind."""
    saved = read(LAST) if os.path.exists(LAST) else None
    d = os.path.realpath(str(tmp_path / "demo"))
    mnt = os.path.join(d, "mnt")
    env = dict(os.environ, DEPLOYFS_DEMO=d, DEPLOYFS_DEMO_NO_DEPS="1")
    debian = "e7db3b45-8db7-47ad-8109-3fb55c2c24fd"
    started = False
    try:
        r = demo("glance", env=env)
        started = True
        assert r.returncode == 0, r.stdout + r.stderr
        assert mounted(mnt)
        with open(os.path.join(d, "glance", "glance.json")) as f:
            info = json.load(f)
        glance_pid, url = info["pid"], info["url"]
        assert sorted(os.listdir(os.path.join(mnt, "images"))) == [
            "a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002",
            "by-name", debian]
        img = os.path.join(mnt, "images", debian)
        assert read(os.path.join(img, "name")) == "Debian 12\n"
        w = sh("echo 12.9 > %s/os_version" % img)
        assert w.returncode == 0, w.stderr + read(os.path.join(img, "error"))
        req = urllib.request.Request(url + "/v2/images/" + debian,
                                     headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as f:
            assert json.load(f)["os_version"] == "12.9"
        # apps still come from the demo store
        assert read(os.path.join(mnt, "environments", "prod", "apps", "web", "tag")) == \
            "1.25-alpine\n"

        # the stop command it printed, run as printed, by another shell
        # that has no DEPLOYFS_DEMO, after another demo folder was recorded
        (stop,) = [l[len("Stop it with: "):] for l in r.stdout.splitlines()
                   if l.startswith("Stop it with: ")]
        assert stop == "DEPLOYFS_DEMO=%s %s stop" % (d, DEMO_SH)
        with open(LAST, "w") as f:
            f.write("/tmp/deployfs-demo-elsewhere\n")
        r = subprocess.run(["sh", "-c", stop], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL,
                           env={k: v for k, v in os.environ.items() if k != "DEPLOYFS_DEMO"})
        started = False
        assert r.returncode == 0, r.stdout + r.stderr
        assert not mounted(mnt)
        assert wait_until(lambda: not daemons_on(mnt), timeout=10), daemons_on(mnt)
        assert not pid_alive(glance_pid, "glance-api")
        assert "deployfs demo stopped (%s)" % d in r.stdout
        os.unlink(LAST)
    finally:
        if started:
            demo("stop", env=env, timeout=60)
        if saved is not None and not os.path.exists(LAST):
            with open(LAST, "w") as f:
                f.write(saved)


def test_demo_installs_build_and_runtime_only():
    """contrib/demo.sh asks install-deps.sh for the build and runtime set;
    the tests' tools (compilers for sanitizers, valgrind, editors, ...) are
    only in --tests, which contrib/test.sh asks for."""
    def listed(*args):
        r = subprocess.run([os.path.join(TOP, "contrib", "install-deps.sh"), "--list", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return set(r.stdout.split())

    demo_set = listed()
    assert {"build-essential", "libfuse3-dev", "fuse3", "docker-registry", "python3"} <= demo_set
    tests_only = {"clang", "valgrind", "emacs-nox", "vim", "nano", "python3-pytest", "lintian",
                  "skopeo", "glance-api", "golang-docker-credential-helpers"}
    assert not demo_set & tests_only
    assert tests_only - {"glance-api"} <= listed("--tests")
    assert listed("--glance") == demo_set | {"glance-api"}
    with open(DEMO_SH) as f:
        calls = [l.strip() for l in f if "install-deps.sh" in l and not l.lstrip().startswith("#")]
    assert calls and all("--tests" not in c for c in calls), calls
    with open(os.path.join(TOP, "contrib", "test.sh")) as f:
        assert "contrib/install-deps.sh --tests --glance\n" in f.read()
