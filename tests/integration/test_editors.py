"""Saving value files with the real editors and tools, non-interactively
(README, "Writing values").

What each does to the value file, as strace shows it (kernel 6.18):
- nano 7.2: open(O_WRONLY|O_CREAT|O_TRUNC), write, fsync, close; a `.f.swp`
  lock file made with O_EXCL and unlinked on exit.
- emacs (batch): symlink `.#f` (its lock), open(O_WRONLY|O_CREAT|O_TRUNC),
  write (in two pieces split at its last edit), close, open(O_WRONLY) and
  close with no write, unlink `.#f`; no fsync.
- vim in place: open(O_WRONLY|O_CREAT), ftruncate(0), write, fsync,
  fchmod, close, setxattr(system.posix_acl_access); `.f.swp` and a `.f.swx`
  probe, and a file named `4913` to probe the directory.
- vim rename-style (backupcopy=no): unlink `f~`, rename(f, f~), open(f,
  O_WRONLY|O_CREAT) (a new inode), ftruncate(0), write, fsync, fchmod,
  close, setxattr, unlink `f~`.
- sed -i, perl -pi, Python tempfile + os.replace: a temp file written in
  the same directory and renamed over the value.

Each save makes exactly one change; a save of a bad value fails in the
editor and changes nothing; the scratch files they make beside the value
(swap files, backups, locks, temp files) never reach the store and are
gone from the directory when the editor is done.
"""
import copy
import os
import re
import subprocess
import time

import pytest

from conftest import DEBIAN, WEB, read, sh, wait_until

APP_FILES = ["app.json", "created_by", "digest", "drift", "error", "history", "history.json",
             "hostname", "id", "image", "modified_by", "name", "port", "ref", "registry",
             "resources", "rollback", "tag", "version"]
TAG_RULE = "tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

VIM_RENAME = "set backupcopy=no writebackup nobackup backupskip="


def tagged(doc, tag):
    d = copy.deepcopy(doc)
    d["source"]["image"]["tag"] = tag
    d["version"] += 1
    d["modifiedBy"] = "root"   # the writer
    return d


def assert_clean(mount):
    """No scratch file left in the app's directory, nothing but documents
    and dotfiles in the store."""
    assert sorted(os.listdir(mount.app())) == APP_FILES
    for kind in ("apps", "environments", "images", "registries"):
        for name in mount.store_files(kind):
            assert name.startswith(".") or re.fullmatch(r"[0-9a-f-]{36}\.json", name), name


def traced(cmd, cwd, tmp):
    """Run cmd (a list) under strace; returns (CompletedProcess, trace text)."""
    out = os.path.join(tmp, "strace.out")
    r = subprocess.run(["strace", "-f", "-o", out, "-e",
                        "trace=openat,rename,renameat,renameat2,unlink,unlinkat,write,fsync,"
                        "ftruncate,symlink,symlinkat,close"] + cmd,
                       cwd=cwd, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    with open(out) as f:
        # "1234 rename(a, b)      = 0" -> "rename(a, b) = 0"
        text = re.sub(r"^\d+ +", "", f.read(), flags=re.M)
        return r, re.sub(r"\) +=", ") =", text)


def vim(*cmds, extra=()):
    args = ["vim", "--clean", "-n", "-es"] + list(extra)
    for c in cmds:
        args += ["-c", c]
    return args + ["-c", "wq", "tag"]


# ---- vim ----

def test_vim_in_place(mount):
    before = mount.doc("apps", WEB)
    r, trace = traced(vim("%s/alpine/bookworm/"), mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    # in place: the file itself opened for writing, truncated, written, fsynced
    assert re.search(r'openat\(AT_FDCWD, "tag", O_WRONLY\|O_CREAT, 0644\) = (\d+)', trace)
    assert re.search(r'ftruncate\(\d+, 0\) += 0', trace)
    assert 'write(3, "1.25-bookworm\\n", 14) = 14' in trace
    assert re.search(r"fsync\(3\) += 0", trace)
    assert "rename(" not in trace
    assert mount.doc("apps", WEB) == tagged(before, "1.25-bookworm")
    assert read(mount.app("tag")) == "1.25-bookworm\n"
    assert_clean(mount)


def test_vim_rename_style(mount):
    before = mount.doc("apps", WEB)
    r, trace = traced(vim(VIM_RENAME, "%s/alpine/bookworm/"), mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    # really the rename-style save: tag becomes tag~, a new tag is written
    assert 'rename("tag", "tag~") = 0' in trace
    after_rename = trace[trace.index('rename("tag", "tag~")'):]
    assert re.search(r'openat\(AT_FDCWD, "tag", O_WRONLY\|O_CREAT, 0644\) = \d+', after_rename)
    assert 'unlink("tag~") = 0' in after_rename
    assert mount.doc("apps", WEB) == tagged(before, "1.25-bookworm")
    assert read(mount.app("tag")) == "1.25-bookworm\n"
    assert_clean(mount)


def test_vim_with_its_swap_file(mount):
    # without -n vim keeps .tag.swp beside the file while it edits
    before = mount.doc("apps", WEB)
    r, trace = traced(["vim", "--clean", "-es", "-c", "%s/alpine/bookworm/", "-c", "wq", "tag"],
                      mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    assert re.search(r'openat\(AT_FDCWD, "[^"]*\.tag\.swp", O_RDWR\|O_CREAT\|O_EXCL', trace)
    assert mount.doc("apps", WEB) == tagged(before, "1.25-bookworm")
    assert_clean(mount)


@pytest.mark.parametrize("style", [(), (VIM_RENAME,)], ids=["in-place", "rename"])
def test_vim_saving_a_bad_value_fails(mount, style):
    before = mount.store_snapshot()
    assert read(mount.app("error")) == ""
    r = subprocess.run(vim(*style, "%s/-alpine/ alpine/"), cwd=mount.app(),
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert mount.store_snapshot() == before
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("error")) == 'tag "1.25 alpine": %s\n' % TAG_RULE
    assert_clean(mount)


# ---- emacs ----

def emacs(expr, cwd, file="tag"):
    return subprocess.run(["emacs", "--batch", "-Q", file, "--eval", expr], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def replace(a, b):
    return '(progn (goto-char (point-min)) (replace-string "%s" "%s") (save-buffer))' % (a, b)


@pytest.mark.parametrize("old,new,tag", [
    ("alpine", "bookworm", "1.25-bookworm"),      # an edit at the end of the value
    ("a", "b", "1.25-blpine"),                     # an edit inside it
    ("1.25", "1.26", "1.26-alpine"),               # at its start
])
def test_emacs(mount, old, new, tag):
    before = mount.doc("apps", WEB)
    r, trace = traced(["emacs", "--batch", "-Q", "tag", "--eval", replace(old, new)],
                      mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    # emacs locks with a .#tag symlink beside the file, and writes up to
    # its gap and then the rest: two write(2)s for one value
    assert re.search(r'symlink(at)?\("[^"]+", (AT_FDCWD, )?"[^"]*\.#tag"\) = 0', trace)
    assert mount.doc("apps", WEB) == tagged(before, tag)
    assert read(mount.app("tag")) == tag + "\n"
    assert read(mount.app("error")) == ""
    assert_clean(mount)


def test_emacs_writes_in_pieces(mount):
    r, trace = traced(["emacs", "--batch", "-Q", "tag", "--eval", replace("a", "b")],
                      mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    fd = re.search(r'openat\(AT_FDCWD, "[^"]*/tag", O_WRONLY\|O_CREAT\|O_TRUNC\|O_CLOEXEC, 0666\) = (\d+)',
                   trace).group(1)
    writes = re.findall(r'write\(%s, "([^"]*)", \d+\) += \d+' % fd, trace)
    assert writes == ["1.25-b", "lpine\\n"]
    assert mount.doc("apps", WEB)["version"] == 3


@pytest.mark.parametrize("old", ["alpine", "-"])
def test_emacs_saving_a_bad_value_fails(mount, old):
    before = mount.store_snapshot()
    assert read(mount.app("error")) == ""
    r = emacs(replace(old, " x"), mount.app())
    assert r.returncode == 255
    assert '(file-error "Write error" "Invalid argument"' in r.stderr
    assert mount.store_snapshot() == before
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("error")).startswith('tag "1.25')
    assert_clean(mount)


# ---- nano, driven in tmux ----

class Tmux:
    def __init__(self, tmp):
        self.sock = "deployfs-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1e6))
        self.tmp = tmp

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), capture_output=True,
                              text=True, timeout=30, check=check)

    def start(self, cmd, cwd):
        self.run("new-session", "-d", "-x", "100", "-y", "24", "-c", cwd, cmd)

    def alive(self):
        return self.run("has-session", check=False).returncode == 0

    def screen(self):
        return self.run("capture-pane", "-p").stdout

    def keys(self, *keys):
        self.run("send-keys", *keys)

    def wait_screen(self, text, timeout=10):
        return wait_until(lambda: text in self.screen(), timeout)

    def kill(self):
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(str(tmp_path))
    yield t
    t.kill()


def nano_save(tmux, mount, keys, want):
    """Open tag in nano (with its .tag.swp lock), type keys, write out,
    wait for the message want, exit."""
    tmux.start("nano --ignorercfiles --locking tag", mount.app())
    assert tmux.wait_screen("1.25-alpine"), tmux.screen()
    assert wait_until(lambda: ".tag.swp" in os.listdir(mount.app())), os.listdir(mount.app())
    tmux.keys(*keys)
    tmux.keys("C-o")
    assert tmux.wait_screen("File Name to Write"), tmux.screen()
    tmux.keys("Enter")
    assert tmux.wait_screen(want), tmux.screen()
    tmux.keys("C-x")
    if want != "Wrote 1 line":
        assert tmux.wait_screen("Save modified buffer?"), tmux.screen()
        tmux.keys("n")
    assert wait_until(lambda: not tmux.alive(), 10)


def test_nano(mount, tmux):
    before = mount.doc("apps", WEB)
    nano_save(tmux, mount, ["End", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace",
                            "b", "u", "s", "t", "e", "r"], "Wrote 1 line")
    assert mount.doc("apps", WEB) == tagged(before, "1.25-buster")
    assert read(mount.app("tag")) == "1.25-buster\n"
    assert_clean(mount)


def test_nano_saving_a_bad_value_fails(mount, tmux):
    before = mount.store_snapshot()
    nano_save(tmux, mount, ["End", "Space", "x"], "Error writing tag: Invalid argument")
    assert mount.store_snapshot() == before
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("error")) == 'tag "1.25-alpine x": %s\n' % TAG_RULE
    assert_clean(mount)


# ---- sed, perl, Python's atomic replace ----

def py_replace(value):
    return ("import os, tempfile\n"
            "fd, p = tempfile.mkstemp(dir='.')\n"
            "os.write(fd, %r)\n"
            "os.fsync(fd); os.close(fd)\n"
            "try:\n"
            "    os.replace(p, 'tag')\n"
            "except OSError:\n"
            "    os.unlink(p)\n"
            "    raise\n" % value.encode())


TOOLS = {
    "sed": (["sed", "-i", "s/alpine/bookworm/", "tag"], r'rename\("\./sed\w{6}", "tag"\) = 0'),
    "perl": (["perl", "-pi", "-e", "s/alpine/bookworm/", "tag"],
             r'renameat\(\d+, "XX\w{6}", \d+, "tag"\) = 0'),
    "python": (["python3", "-c", py_replace("1.25-bookworm\n")],
               r'rename\("[^"]*/tmp\w{8}", "tag"\) = 0'),
}


@pytest.mark.parametrize("tool", TOOLS)
def test_atomic_replace_tools(mount, tool):
    cmd, renamed = TOOLS[tool]
    before = mount.doc("apps", WEB)
    r, trace = traced(cmd, mount.app(), mount.tmp)
    assert r.returncode == 0, r.stderr
    assert re.search(renamed, trace), trace[-2000:]   # a temp file renamed over tag
    assert mount.doc("apps", WEB) == tagged(before, "1.25-bookworm")
    assert read(mount.app("tag")) == "1.25-bookworm\n"
    assert read(mount.app("error")) == ""
    assert_clean(mount)


BAD = {
    "sed": (["sed", "-i", "s/-alpine/ x/", "tag"], 4, "sed: cannot rename ./sed"),
    "perl": (["perl", "-pi", "-e", "s/-alpine/ x/", "tag"], 22,   # errno EINVAL
             "Cannot complete in-place edit of tag: failed to rename work file"),
    "python": (["python3", "-c", py_replace("1.25 x\n")], 1,
               "OSError: [Errno 22] Invalid argument"),
}


@pytest.mark.parametrize("tool", BAD)
def test_atomic_replace_of_a_bad_value_fails(mount, tool):
    cmd, code, says = BAD[tool]
    before = mount.store_snapshot()
    assert read(mount.app("error")) == ""   # the kernel now caches its size: 0
    r = subprocess.run(cmd, cwd=mount.app(), capture_output=True, text=True, timeout=60)
    assert r.returncode == code
    assert says in r.stderr
    assert mount.store_snapshot() == before
    assert read(mount.app("tag")) == "1.25-alpine\n"
    assert read(mount.app("error")) == 'tag "1.25 x": %s\n' % TAG_RULE
    assert_clean(mount)


# ---- editors on other kinds of value ----

def test_editors_on_tags_one_a_line(mount):
    img = mount.image()
    doc = mount.doc("images", DEBIAN)

    def tags():
        return mount.doc("images", DEBIAN)["tags"]

    r = subprocess.run(["vim", "--clean", "-n", "-es", "-c", "normal Gostable", "-c", "wq",
                        "tags"], cwd=img, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert tags() == ["base", "stable"]
    r = subprocess.run(["vim", "--clean", "-n", "-es", "-c", VIM_RENAME, "-c", "normal Golts",
                        "-c", "wq", "tags"], cwd=img, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert tags() == ["base", "stable", "lts"]
    assert emacs(replace("stable", "testing"), img, "tags").returncode == 0
    assert tags() == ["base", "testing", "lts"]
    assert sh("sed -i '/base/d' tags", cwd=img).returncode == 0
    assert tags() == ["testing", "lts"]
    assert read(os.path.join(img, "tags")) == "testing\nlts\n"
    want = copy.deepcopy(doc)
    got = mount.doc("images", DEBIAN)
    want["tags"], want["updated_at"] = ["testing", "lts"], got["updated_at"]
    assert got == want
    # a bad tag (a control character) fails the save and changes nothing
    before = mount.store_snapshot()
    r = emacs(replace("lts", "l\\001s"), img, "tags")
    assert r.returncode == 255
    assert mount.store_snapshot() == before
    assert read(os.path.join(img, "error")) == 'tag "l\\x01s": control characters are not allowed (tab is)\n'


def test_editors_on_a_property(mount):
    props = mount.image("properties")

    def prop():
        return mount.doc("images", DEBIAN)["com.acme.owner"]

    assert subprocess.run(vim("%s/platform/infra/")[:-1] + ["com.acme.owner"], cwd=props,
                          capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL).returncode == 0
    assert prop() == "infra"
    assert subprocess.run(vim(VIM_RENAME, "%s/infra/sre/")[:-1] + ["com.acme.owner"], cwd=props,
                          capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL).returncode == 0
    assert prop() == "sre"
    assert emacs(replace("sre", "ops"), props, "com.acme.owner").returncode == 0
    assert prop() == "ops"
    assert sh("sed -i s/ops/dev/ com.acme.owner", cwd=props).returncode == 0
    assert prop() == "dev"
    # a new property by atomic replace, and by vim
    r = subprocess.run(["python3", "-c", py_replace("fresh\n").replace("'tag'", "'com.acme.new'")],
                       cwd=props, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert mount.doc("images", DEBIAN)["com.acme.new"] == "fresh"
    r = subprocess.run(["vim", "--clean", "-n", "-es", "-c", "normal ivalue", "-c", "wq",
                        "com.acme.vim"], cwd=props, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert mount.doc("images", DEBIAN)["com.acme.vim"] == "value"
    assert sorted(os.listdir(props)) == ["com.acme.new", "com.acme.owner", "com.acme.vim"]
    assert_clean(mount)
