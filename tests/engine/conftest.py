"""Engine fixtures: one source and one target Milvus Lite server per test module."""

from __future__ import annotations

import pytest

from migrations_app.engine.connect import connect
from tests.servers import start_lite_server


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    source = start_lite_server(tmp_path_factory.mktemp("source"))
    target = start_lite_server(tmp_path_factory.mktemp("target"))
    yield source, target
    source.stop()
    target.stop()


@pytest.fixture
def pair(servers):
    source = connect(servers[0].uri)
    target = connect(servers[1].uri)
    yield source, target
    source.close()
    target.close()
