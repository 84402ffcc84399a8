"""make deb: a Debian package from a staged DESTDIR, stripped, with its
debug symbols split, Depends from dpkg-shlibdeps, and no lintian error."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import TOP

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb") or
                                not shutil.which("dpkg-shlibdeps"),
                                reason="not a Debian machine")


def run(*cmd, cwd=None, timeout=300):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def debs():
    for f in glob.glob(os.path.join(TOP, "build", "deployfs*.deb")):
        os.unlink(f)
    r = run("make", "-s", "-C", TOP, "deb")
    assert r.returncode == 0, r.stdout + r.stderr
    arch = run("dpkg", "--print-architecture").stdout.strip()
    main = os.path.join(TOP, "build", "deployfs_0.1.0-1_%s.deb" % arch)
    dbg = os.path.join(TOP, "build", "deployfs-dbgsym_0.1.0-1_%s.deb" % arch)
    assert os.path.exists(main) and os.path.exists(dbg)
    return main, dbg


def test_contents(debs):
    main, dbg = debs
    listing = run("dpkg-deb", "-c", main).stdout
    paths = sorted(l.split()[-1].lstrip(".") for l in listing.splitlines()
                   if not l.startswith("d"))
    for p in ("/usr/bin/deployfs", "/usr/share/man/man8/deployfs.8.gz",
              "/lib/systemd/system/deployfs@.service", "/usr/share/doc/deployfs/README.md.gz",
              "/usr/share/doc/deployfs/copyright", "/usr/share/doc/deployfs/changelog.Debian.gz",
              "/usr/share/doc/deployfs/examples/demo-store/apps/"
              "550e8400-e29b-41d4-a716-446655440000.json"):
        assert p in paths, p
    for line in listing.splitlines():
        assert " root/root " in line, line
    assert "/usr/lib/debug/.build-id/" in run("dpkg-deb", "-c", dbg).stdout
    ctl = run("dpkg-deb", "-f", main, "Depends").stdout.strip()
    deps = [d.split()[0] for d in ctl.split(", ")]
    # libssl3: libcrypto (SHA-256, base64), which libcurl4 pulls in anyway
    assert sorted(deps) == ["fuse3", "libc6", "libcurl4", "libfuse3-3", "libjansson4",
                            "libssl3"], ctl
    # the docker credential helpers the registry check runs (credsStore)
    assert run("dpkg-deb", "-f", main, "Suggests").stdout.strip() == \
        "golang-docker-credential-helpers"


def test_stripped_with_debug_split(debs, tmp_path):
    main, dbg = debs
    assert run("dpkg-deb", "-x", main, str(tmp_path / "m")).returncode == 0
    assert run("dpkg-deb", "-x", dbg, str(tmp_path / "d")).returncode == 0
    b = tmp_path / "m/usr/bin/deployfs"
    sections = run("readelf", "-S", "-W", str(b)).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    assert ".gnu_debuglink" in sections
    bid = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", str(b)).stdout).group(1)
    debug = tmp_path / "d/usr/lib/debug/.build-id" / bid[:2] / (bid[2:] + ".debug")
    assert ".debug_info" in run("readelf", "-S", "-W", str(debug)).stdout
    # the stripped binary runs
    r = run(str(b), "--version")
    assert r.returncode == 0 and r.stdout.startswith("deployfs 0.1.0\n")


@pytest.mark.skipif(not shutil.which("lintian"), reason="lintian is not installed")
def test_lintian_no_error(debs):
    r = run("lintian", "--no-tag-display-limit", *debs)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert errors == [], r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
