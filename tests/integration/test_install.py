"""make install: what it installs (DESTDIR), and the man page it ships."""
import os
import re
import subprocess

import pytest

from conftest import BIN, TOP


def make(*args, timeout=120):
    return subprocess.run(["make", "-s", "-C", TOP] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def installed(dest):
    out = []
    for root, dirs, files in os.walk(dest):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), dest))
    return sorted(out)


def test_make_install_destdir(tmp_path):
    dest = tmp_path / "stage"
    r = make("install", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    assert installed(dest) == ["usr/local/bin/deployfs",
                               "usr/local/lib/systemd/system/deployfs@.service",
                               "usr/local/share/man/man8/deployfs.8"]
    assert os.access(dest / "usr/local/bin/deployfs", os.X_OK)
    assert oct(os.stat(dest / "usr/local/share/man/man8/deployfs.8").st_mode & 0o777) == "0o644"
    r = make("uninstall", "DESTDIR=%s" % dest)
    assert r.returncode == 0, r.stderr
    assert installed(dest) == []


def man(*args):
    return subprocess.run(["man"] + list(args), capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))


def test_man_page_renders_without_warnings(tmp_path):
    page = os.path.join(TOP, "man", "deployfs.8")
    r = man("--warnings=all", "-l", page)
    assert r.returncode == 0
    assert r.stderr == ""
    text = r.stdout
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "THE TREE",
                    "WRITE SEMANTICS", "ERRORS", "FILES", "ENVIRONMENT", "LOGGING",
                    "EXAMPLES", "SEE ALSO"):
        assert re.search(r"^%s$" % section, text, re.M), section
    # every option --help lists is in the man page, with a default
    help_ = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    body = help_.split("Options")[1].split("Flags:")[0]
    names = re.findall(r"^    ([a-z_]+)", body, re.M)
    assert len(names) >= 20
    for n in names:
        assert re.search(r"\b%s\b" % n, text), n
    assert text.count("Default:") >= 15
    # the installed page is found by man under its MANPATH
    dest = tmp_path / "stage"
    assert make("install", "DESTDIR=%s" % dest).returncode == 0
    r = man("-M", str(dest / "usr/local/share/man"), "--warnings=all", "8", "deployfs")
    assert r.returncode == 0 and r.stderr == ""
    assert "deployfs - mount deployment state as files" in r.stdout
