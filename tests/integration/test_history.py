"""History, audit and rollback (README, "History, audit and rollback").

Real parts only: the loopback registry (Debian's docker-registry, seeded
offline), real bash, sed, cut, awk and jq, a second real daemon on the same
store, skopeo to move a tag, setpriv for a non-root writer.
"""
import errno
import json
import os
import re
import subprocess

import pytest

from conftest import DEBIAN, WEB, Mount, check_sanitizers, read, sh, wait_until, write_fd
from registry import Registry
from seed_registry import Client, push_image

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
COLUMNS = ["n", "time", "user", "uid", "command", "origin", "file", "old", "new", "digest"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info|warning) "
                      r"deployfs\[\d+\]: (.*)$", re.M)


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """library/nginx (docker.io's nginx) and library/moving, three tags each."""
    r = Registry(str(tmp_path_factory.mktemp("hreg"))).start()
    c = Client(r.url)
    r.digests = {}
    for repo in ("library/nginx", "library/moving"):
        for tag, arch in (("a1", "amd64"), ("b2", "arm64"), ("c3", "386")):
            r.digests[(repo, tag)] = push_image(c, repo, tag, "%s:%s" % (repo, tag), arch,
                                                False)["digest"]
    yield r
    r.stop()


def strict_mount(make_mount, reg, tmp_path, options=""):
    cfg = tmp_path / "docker-config"
    cfg.mkdir(exist_ok=True)
    env = dict(os.environ, DOCKER_CONFIG=str(cfg))
    return make_mount("registry_check=strict,registry_mirror=docker.io=%s%s" % (reg.url, options),
                      env=env)


def bash(cmd, path):
    """cmd in real bash with "$0" the path: (exit code, stderr)."""
    r = subprocess.run(["bash", "-c", cmd, path], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def history(path):
    """history as rows of its tab-separated columns, the time checked."""
    rows = []
    for line in read(path).splitlines():
        f = line.split("\t")
        assert len(f) == len(COLUMNS), line
        assert TIME.match(f[1]), line
        rows.append(dict(zip(COLUMNS, f)))
    return rows


def brief(rows, *keys):
    keys = keys or ("n", "user", "uid", "command", "origin", "file", "old", "new", "digest")
    return [tuple(r[k] for k in keys) for r in rows]


def journal(m, kind, oid):
    return os.path.join(m.state, ".journal", "%s-%s.log" % (kind, oid))


def test_history_of_writes_through_the_mount(make_mount, reg, tmp_path):
    m = strict_mount(make_mount, reg, tmp_path)
    nginx = lambda t: reg.digests[("library/nginx", t)]
    assert read(m.app("history")) == ""
    assert bash('echo a1 > "$0"', m.app("tag")) == (0, "")
    assert bash('echo nginx:b2 > "$0"', m.app("ref")) == (0, "")
    rows = history(m.app("history"))
    assert brief(rows) == [
        ("1", "root", "0", "bash", "mount", "ref", "nginx:1.25-alpine", "nginx:a1", nginx("a1")),
        ("2", "root", "0", "bash", "mount", "ref", "nginx:a1", "nginx:b2", nginx("b2")),
    ]
    # the JSON-lines twin holds the same, with null where a field is absent
    twin = [json.loads(l) for l in read(m.app("history.json")).splitlines()]
    assert [list(t) for t in twin] == [COLUMNS] * 2
    assert [(t["n"], t["uid"], t["new"], t["digest"]) for t in twin] == \
        [(1, 0, "nginx:a1", nginx("a1")), (2, 0, "nginx:b2", nginx("b2"))]
    assert [t["time"] for t in twin] == [r["time"] for r in rows]
    # cut, awk and jq read it as they are
    hp = m.app("history")
    assert sh("cut -f 9 %s" % hp).stdout == "nginx:a1\nnginx:b2\n"
    assert sh("awk -F'\\t' '$3 == \"root\" {print $1, $10}' %s" % hp).stdout == \
        "1 %s\n2 %s\n" % (nginx("a1"), nginx("b2"))
    assert sh("jq -r 'select(.n == 2) | .old' %s.json" % hp).stdout == "nginx:a1\n"
    # an image's history: its files, properties included
    assert bash('echo 12.5 > "$0"', m.image("os_version")) == (0, "")
    assert bash('echo team-b > "$0"', m.image("properties", "com.acme.owner")) == (0, "")
    assert brief(history(m.image("history")), "n", "file", "old", "new", "digest") == [
        ("1", "os_version", "12", "12.5", ""),
        ("2", "properties/com.acme.owner", "platform", "team-b", ""),
    ]
    # the digest survives a restart: the journal recorded it
    assert m.stop() == 0
    m3 = make_mount("registry_check=off", sub="again", state=m.state)
    assert read(m3.app("digest")) == nginx("b2") + "\n"
    assert brief(history(m3.app("history"))) == brief(rows)


def test_history_of_a_hand_edit_and_of_another_daemon(make_mount):
    m1 = make_mount(sub="one")
    m2 = make_mount(sub="two", state=m1.state)
    # the other daemon's write: recorded once, by the daemon that made it
    assert bash('echo 1.26 > "$0"', m2.app("tag")) == (0, "")
    # a person edits the store by hand: recorded once, by a daemon that saw it
    p = os.path.join(m1.state, "apps", WEB + ".json")
    with open(p) as f:
        doc = json.load(f)
    doc["source"]["image"]["tag"] = "by-hand"
    with open(p + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(p + ".tmp", p)
    want = [
        ("1", "root", "0", "bash", "mount", "ref", "nginx:1.25-alpine", "nginx:1.26", ""),
        ("2", "", "", "", "store", "ref", "nginx:1.26", "nginx:by-hand", ""),
    ]
    for m in (m1, m2):
        assert wait_until(lambda: len(history(m.app("history"))) == 2, 10)
        assert brief(history(m.app("history"))) == want
    # both daemons saw both changes, and the journal holds each once
    assert wait_until(lambda: "by-hand" in read(m1.app("ref")))
    with open(journal(m1, "apps", WEB)) as f:
        assert len(f.read().splitlines()) == 2
    assert read(m1.app("modified_by")) == "root\n"


def test_a_torn_journal_line_is_ignored(make_mount):
    m = make_mount()
    assert bash('echo 1.26 > "$0"', m.app("tag")) == (0, "")
    with open(journal(m, "apps", WEB), "a") as f:
        f.write('{"n":2,"time":"2026-12-02T00:00:00.000Z","file":"ref","new":"nginx:to')
    assert [r["n"] for r in history(m.app("history"))] == ["1"]
    assert bash('echo 1.27 > "$0"', m.app("tag")) == (0, "")
    assert brief(history(m.app("history")), "n", "old", "new") == [
        ("1", "nginx:1.25-alpine", "nginx:1.26"), ("2", "nginx:1.26", "nginx:1.27")]
    assert read(m.app("error")) == ""


def test_rollback_re_applies_an_entry(make_mount, reg, tmp_path):
    m = strict_mount(make_mount, reg, tmp_path)
    d = lambda t: reg.digests[("library/nginx", t)]
    for t in ("a1", "b2", "c3"):
        assert bash('echo %s > "$0"' % t, m.app("tag")) == (0, "")
    before = m.doc("apps", WEB)
    assert bash('echo 2 > "$0"', m.app("rollback")) == (0, "")
    after = m.doc("apps", WEB)
    # one change: the image of line 2, checked in the registry (the digest
    # it answered), one version
    assert after["source"]["image"] == {"name": "nginx", "tag": "b2"}
    assert after["version"] == before["version"] + 1
    assert read(m.app("digest")) == d("b2") + "\n"
    assert brief(history(m.app("history")))[-1] == \
        ("4", "root", "0", "bash", "mount", "ref", "nginx:c3", "nginx:b2", d("b2"))
    assert read(m.app("rollback")) == ""
    # lines that are not an image change, or do not exist: EINVAL, nothing changed
    snap = m.store_snapshot()
    assert bash('echo 9 > "$0"', m.app("rollback"))[0] == 1
    assert read(m.app("error")) == "rollback 9: history has no line 9\n"
    assert bash('echo x > "$0"', m.app("rollback"))[0] == 1
    assert read(m.app("error")).startswith('rollback "x": write the number of a line')
    assert m.store_snapshot() == snap


def test_rollback_refused_when_the_tag_has_moved(make_mount, reg, tmp_path):
    m = strict_mount(make_mount, reg, tmp_path)
    d = lambda t: reg.digests[("library/moving", t)]
    assert bash('echo moving:a1 > "$0"', m.app("ref")) == (0, "")
    assert bash('echo moving:b2 > "$0"', m.app("ref")) == (0, "")
    # moving:a1 is moved to c3's image in the registry
    r = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                        "docker://%s/library/moving:c3" % reg.host,
                        "docker://%s/library/moving:a1" % reg.host],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    snap = m.store_snapshot()
    rc, err = bash('echo 1 > "$0"', m.app("rollback"))
    assert rc == 1 and "Invalid argument" in err
    e = read(m.app("error"))
    assert e.startswith("rollback 1: ") and d("a1") in e and d("c3") in e
    # ref takes name:tag@digest from history, and refuses it the same way
    line1 = history(m.app("history"))[0]
    assert (line1["new"], line1["digest"]) == ("moving:a1", d("a1"))
    fd_result = write_fd(m.app("ref"), ("%s@%s\n" % (line1["new"], line1["digest"])).encode())
    assert fd_result[0] == "EINVAL"
    assert m.store_snapshot() == snap
    assert len(history(m.app("history"))) == 2


def test_modified_by_a_non_root_user_through_allow_other(public_dir):
    """uid 65534 (nobody) with CAP_DAC_OVERRIDE, so that the mount's
    default_permissions let it write a file the daemon's user owns."""
    m = Mount(public_dir, options="registry_check=off,allow_other").start()
    try:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=+dac_override", "--ambient-caps=+dac_override",
                            "sh", "-c", 'echo 1.26 > "$0"', m.app("tag")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert read(m.app("modified_by")) == "nobody\n"
        assert m.doc("apps", WEB)["modifiedBy"] == "nobody"
        assert brief(history(m.app("history")), "user", "uid", "command", "new") == \
            [("nobody", "65534", "sh", "nginx:1.26")]
        assert 'environments/prod/apps/web/tag: "1.25-alpine" -> "1.26" by nobody ' \
            '(uid 65534, sh)' in m.log()
    finally:
        assert m.stop() == 0
    check_sanitizers([m])


def test_the_audit_log_has_a_line_per_commit_and_per_refusal(make_mount, reg, tmp_path):
    logfile = tmp_path / "audit.log"
    m = strict_mount(make_mount, reg, tmp_path, ",log=%s" % logfile)
    assert bash('echo a1 > "$0"', m.app("tag")) == (0, "")
    assert bash('echo no-such > "$0"', m.app("tag"))[0] == 1
    assert bash('echo 12.5 > "$0"', m.image("os_version")) == (0, "")
    assert bash('echo pw-Secret-9 > "$0"', m.path("registries", "acme", "password")) == (0, "")
    got = [g for g in LOG_LINE.findall(logfile.read_text()) if not g[1].startswith("mounted ")]
    assert got == [
        ("info", 'environments/prod/apps/web/tag: "1.25-alpine" -> "a1" by root (uid 0, bash); '
                 'digest %s' % reg.digests[("library/nginx", "a1")]),
        ("warning", "environments/prod/apps/web/tag: image nginx:no-such not found in registry "
                    "docker.io (mirror %s) (refused; written by root (uid 0, bash))" % reg.host),
        ("info", 'images/%s/os_version: "12" -> "12.5" by root (uid 0, bash)' % DEBIAN),
        ("info", "registries/acme/password: changed (a secret: its value is never logged) "
                 "by root (uid 0, bash)"),
    ]
    assert "pw-Secret-9" not in logfile.read_text()


def test_append_and_sed_on_tags(make_mount):
    m = make_mount()
    tags = m.image("tags")
    assert read(tags) == "base\n"
    assert bash('echo t >> "$0"', tags) == (0, "")
    assert read(tags) == "base\nt\n"
    assert m.doc("images", DEBIAN)["tags"] == ["base", "t"]
    # an existing tag added again changes nothing in the list
    assert bash('echo base >> "$0"', tags) == (0, "")
    assert m.doc("images", DEBIAN)["tags"] == ["base", "t"]
    # a bad tag appended is refused at the shell's write, nothing changes
    rc, err = bash('printf "a\\tb\\x01\\n" >> "$0"', tags)
    assert rc == 1 and "Invalid argument" in err
    assert m.doc("images", DEBIAN)["tags"] == ["base", "t"]
    r = subprocess.run(["sed", "-i", "/^t$/d", tags], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert read(tags) == "base\n"
    assert m.doc("images", DEBIAN)["tags"] == ["base"]
    # a list's lines are one value: its line ends escaped as \n
    assert brief(history(m.image("history")), "n", "command", "file", "old", "new") == [
        ("1", "bash", "tags", "base", "base\\nt"),
        ("2", "bash", "tags", "base\\nt", "base\\nt"),
        ("3", "sed", "tags", "base\\nt", "base"),
    ]
