"""Engine fixtures: an empty source and an empty target Milvus Lite server per test, from the
session's pool (tests/conftest.py)."""

from __future__ import annotations

import pytest

from migrations_app.engine.connect import connect


@pytest.fixture
def servers(lite_factory):
    return lite_factory(), lite_factory()


@pytest.fixture
def pair(servers):
    source = connect(servers[0].uri)
    target = connect(servers[1].uri)
    yield source, target
    source.close()
    target.close()
