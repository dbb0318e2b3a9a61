"""Capabilities are asked of the server once per connection (engine/capabilities.py); the
version matrix (test_versions.py) probes each Milvus release."""

from __future__ import annotations

from migrations_app.engine.capabilities import capabilities, parse_version
from migrations_app.engine.connect import connect, server_info
from migrations_app.engine.counting import count_rows, has_count
from migrations_app.engine.support import Support
from tests.engine.sample_data import create_simple


def test_it_probes_milvus_lite_once_per_connection(lite_server):
    first = connect(lite_server.uri)
    second = connect(lite_server.uri)
    try:
        probed = capabilities(first)

        assert probed.kind == "milvus_lite" and probed.is_lite
        assert (probed.databases, probed.upsert, probed.count) == (True, True, True)
        assert probed.release == parse_version(probed.reported)[1]
        assert capabilities(first) is probed  # cached for this connection
        assert capabilities(second) is not probed  # another connection asks again
        assert server_info(first).version_tuple == probed.release
        assert Support.of(first).label == probed.label
    finally:
        first.close()
        second.close()


def test_it_counts_with_count_where_the_server_has_it(lite_server):
    client = connect(lite_server.uri)
    try:
        create_simple(client, "counted", rows=37)

        assert has_count(client, "counted", "pk", False)
        assert count_rows(client, "counted", pk="pk") == 37
    finally:
        client.close()
