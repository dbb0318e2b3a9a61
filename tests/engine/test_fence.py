"""FencedClient on real Milvus Lite servers: every call has a deadline (a frozen server does not
hold a run forever), and once the lease ended no write leaves — rows, flush, load/release, drop —
while reads still answer."""

from __future__ import annotations

import time

import grpc
import pytest
from pymilvus.exceptions import MilvusException

from migrations_app.engine.connect import connect
from migrations_app.engine.errors import LeaseLost
from migrations_app.engine.fence import FencedClient
from tests.engine.sample_data import create_simple
from tests.engine.test_resume import stored_rows


@pytest.fixture
def frozen_server(fresh_lite_factory):
    server = fresh_lite_factory()
    client = connect(server.uri)
    create_simple(client, "c", rows=10)
    server.freeze()
    yield client
    server.thaw()
    client.close()


# Calls pymilvus always sends (describe_collection may be answered from its schema cache);
# list_collections takes its timeout through **kwargs only.
@pytest.mark.parametrize(
    "call", ["get_collection_stats", "flush", "release_collection", "list_collections"]
)
def test_every_call_has_a_deadline(frozen_server, call):
    fenced = FencedClient(frozen_server, lambda: None, call_timeout=1, wait_timeout=1)
    arguments = () if call == "list_collections" else ("c",)
    started = time.monotonic()
    # pymilvus raises its own exception, or gRPC's for some calls: either way, within deadline.
    with pytest.raises((MilvusException, grpc.RpcError)):
        getattr(fenced, call)(*arguments)
    assert time.monotonic() - started < 10  # pymilvus' own retries included


def test_no_write_leaves_once_the_lease_ended(lite_server):
    client = connect(lite_server.uri)
    rows = create_simple(client, "c", rows=10)
    left = [30.0]
    fenced = FencedClient(client, lambda: left[0], call_timeout=30, wait_timeout=60)
    fenced.upsert("c", [rows[0]])  # while the lease holds

    left[0] = 0.0
    for write in (
        lambda: fenced.insert("c", [{**rows[0], "pk": 10_000}]),
        lambda: fenced.flush("c"),
        lambda: fenced.release_collection("c"),
        lambda: fenced.drop_collection("c"),
    ):
        with pytest.raises(LeaseLost) as lost:
            write()
        assert "lease ended" in lost.value.message
    assert fenced.has_collection("c") and stored_rows(fenced, "c") == 10
    assert fenced.get_load_state("c")["state"].name == "Loaded"
    client.close()
