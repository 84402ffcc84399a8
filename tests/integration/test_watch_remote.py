"""inotify for a change made on the apps API and seen by a poll (README,
inotify): the watcher gets IN_MODIFY and IN_CLOSE_WRITE, and the echo
that makes them sends nothing to the API."""
from conftest import WEB, read
from test_api import env  # noqa: F401  (the fixture: an apps API and its mounts)
from watch_helpers import Watcher, wait_for


def test_remote_change_reaches_watchers(env):  # noqa: F811
    m = env.mount(poll=0.2)
    app = m.path("environments", "prod", "apps", "web")
    w = Watcher(app, read_on="tag")
    try:
        s = env.api.state()
        s["apps"][WEB]["source"]["image"]["tag"] = "remote-1"
        s["apps"][WEB]["version"] += 1
        env.api.set_state(s)
        assert w.wait("tag", "CLOSE_WRITE"), w.lines()
        assert w.saw("tag", "MODIFY")
        assert wait_for(lambda: w.values and w.values[-1] == "remote-1\n"), w.values
        assert read(app + "/tag") == "remote-1\n"
    finally:
        w.stop()
    # the echo went through the mount and no further: no request but polls
    assert env.requests("PATCH") == [] and env.requests("POST") == []
    assert env.state("apps", WEB)["version"] == s["apps"][WEB]["version"]
