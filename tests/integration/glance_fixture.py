"""A real Glance (tests/tools/glance.py) for tests: import the fixtures
you use from this module (`from glance_fixture import glance_server`).

glance-api takes 2-4 s to start (and db_sync 2-3 s more, done once per
session and copied): the servers are session-scoped and shared, so a test
creates its own images and never counts on the others' being absent.
Each is stopped by pid at the end of the session, also when a test fails,
and dies with the test run if that is killed (PR_SET_PDEATHSIG).
Skipped when glance-api is not installed (contrib/install-deps.sh --glance).
"""
import pytest

import glance as glance_tool

SMALL = {"api_limit_max": 3, "property_quota": 4, "tag_quota": 4}


@pytest.fixture(scope="session")
def glance_db(tmp_path_factory):
    if not glance_tool.installed():
        pytest.skip("glance-api is not installed: contrib/install-deps.sh --glance")
    return glance_tool.synced_db(tmp_path_factory.mktemp("glance-db"))


def _serve(tmp_path_factory, name, db, **options):
    g = glance_tool.Glance(tmp_path_factory.mktemp(name), db_template=db, **options)
    try:
        yield g.start()
    finally:
        g.stop()


@pytest.fixture(scope="session")
def glance_server(tmp_path_factory, glance_db):
    """Glance with its defaults: pages of 25 (at most 1000), quotas 128."""
    yield from _serve(tmp_path_factory, "glance", glance_db)


@pytest.fixture(scope="session")
def glance_small(tmp_path_factory, glance_db):
    """Glance with api_limit_max 3 and quotas of 4 properties, 4 tags."""
    yield from _serve(tmp_path_factory, "glance-small", glance_db, **SMALL)
