"""tests/lite_pool.py: a pooled Milvus Lite server comes back empty, cannot be stopped, and one
that a test froze or killed anyway is caught and replaced. A pool of its own here, so the
session's pool is never harmed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.lite_pool import LitePool
from tests.milvus import MilvusClient


@pytest.fixture
def pool(tmp_path):
    pool = LitePool(tmp_path)
    yield pool
    pool.close()


def _server_of(pool: LitePool, pooled):
    return pool.busy[pooled.port]


def _wait_until_signalled(server, timeout: float = 10) -> None:
    """Signals land asynchronously: wait until the process shows it (stopped or gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return
        stat = Path(f"/proc/{server.proc.pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.01)
    raise AssertionError("the signal never landed")


def test_it_hands_a_server_back_empty_whatever_the_last_test_left(pool):
    first = pool.acquire()
    client = MilvusClient(uri=first.uri)
    client.create_collection("left", dimension=4)
    client.insert("left", [{"id": 1, "vector": [0.1] * 4}])
    client.create_partition("left", "part")
    client.create_alias("left", "alias_left")
    client.create_database("sales")
    sales = MilvusClient(uri=first.uri, db_name="sales")
    sales.create_collection("orders", dimension=4)
    sales.close()
    pool.release(first)

    again = pool.acquire()

    assert again.port == first.port  # the same server, not a new one
    assert client.list_databases() == ["default"]
    assert client.list_collections() == []
    assert client.list_aliases()["aliases"] == []
    client.create_collection("left", dimension=4)  # the name is free again, data gone
    rows = client.query("left", filter="", output_fields=["count(*)"], consistency_level="Strong")
    assert rows[0]["count(*)"] == 0
    client.close()
    pool.release(again)


def test_it_refuses_to_stop_a_pooled_server(pool):
    pooled = pool.acquire()

    with pytest.raises(RuntimeError, match="fresh_lite_factory"):
        pooled.stop()

    assert not hasattr(pooled, "proc")  # nothing to signal either
    assert _server_of(pool, pooled).answers()
    pool.release(pooled)


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL])
def test_it_fails_the_test_and_replaces_a_server_it_froze_or_killed(pool, sig):
    pooled = pool.acquire()
    server = _server_of(pool, pooled)
    os.killpg(server.proc.pid, sig)
    _wait_until_signalled(server)

    with pytest.raises(AssertionError, match="stopped, frozen or killed"):
        pool.release(pooled)

    assert server.proc.poll() is not None  # stopped for good, not left frozen
    assert pool.idle == []
    replacement = pool.acquire()
    assert replacement.port != pooled.port
    assert MilvusClient(uri=replacement.uri).list_collections() == []
    pool.release(replacement)
