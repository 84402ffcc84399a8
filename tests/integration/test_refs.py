"""References between store objects: an app whose environment or registry
does not exist is logged (README, The local store), never dropped silently."""
import json
import os
import shutil

from conftest import DEMO_STORE, WEB, Mount, read, wait_until

GONE_ENV = "660e8400-e29b-41d4-a716-4466554400ff"
GONE_REG = "880e8400-e29b-41d4-a716-4466554400ff"


def store_with(tmp_path, fn):
    state = str(tmp_path / "state")
    shutil.copytree(DEMO_STORE, state)
    path = os.path.join(state, "apps", WEB + ".json")
    with open(path) as f:
        doc = json.load(f)
    fn(doc)
    with open(path, "w") as f:
        json.dump(doc, f)
    return state


def test_an_app_of_a_missing_environment_is_logged_at_mount(tmp_path):
    state = store_with(tmp_path, lambda d: d.update(envIdRef=GONE_ENV))
    m = Mount(tmp_path, state=state).start()
    try:
        assert sorted(os.listdir(m.path("environments", "prod", "apps"))) == ["api", "worker"]
        assert ('app %s: its environment (envIdRef "%s") does not exist; the app is not shown'
                % (WEB, GONE_ENV)) in m.log()
    finally:
        m.stop()


def test_an_edit_that_moves_an_app_to_a_missing_environment_is_logged(mount):
    path = os.path.join(mount.state, "apps", WEB + ".json")
    doc = mount.doc("apps", WEB)
    doc["envIdRef"] = GONE_ENV
    with open(path + ".new", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".new", path)
    line = 'app %s: its environment (envIdRef "%s") does not exist' % (WEB, GONE_ENV)
    assert wait_until(lambda: line in mount.log())
    assert "web" not in os.listdir(mount.path("environments", "prod", "apps"))


def test_an_app_naming_a_missing_registry_is_logged_and_shown(tmp_path):
    def fn(d):
        d["source"]["containerRegistryConfigIdRef"] = GONE_REG
    state = store_with(tmp_path, fn)
    m = Mount(tmp_path, state=state).start()
    try:
        assert read(m.app("registry")) == GONE_REG + "\n"
        assert ('app %s: its registry (containerRegistryConfigIdRef "%s") does not exist'
                % (WEB, GONE_REG)) in m.log()
    finally:
        m.stop()
