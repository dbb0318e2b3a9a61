"""engine.rpc: which statuses are retried, which answers count as too large, and waits that
end within a poll interval of a cancel."""

from __future__ import annotations

import threading
import time

import pytest
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from migrations_app.engine.errors import CopyCanceled, CopyError
from migrations_app.engine.options import DEFAULTS, Options, RetrySchedule
from migrations_app.engine.rpc import (
    CancelFlag,
    RpcChannel,
    is_too_large,
    is_transient_status,
    pause,
    wait_for,
)
from tests.milvus import MilvusClient
from tests.servers import start_lite_server


def test_it_retries_statuses_the_server_marks_retriable_or_rate_limited():
    assert is_transient_status(common_pb2.Status(code=65535, reason="busy", retriable=True))
    assert is_transient_status(common_pb2.Status(code=8, reason="rate limit exceeded"))
    assert is_transient_status(common_pb2.Status(error_code=common_pb2.RateLimit))
    assert not is_transient_status(common_pb2.Status(code=100, reason="collection not found"))


def test_it_knows_the_ways_servers_refuse_an_answer_for_its_size():
    assert is_too_large("worker(1) query failed: query results exceed the limit size : ...")
    assert is_too_large("query results exceed the maxOutputSize Limit 104857600")
    assert is_too_large("Received message larger than max (70000000 vs. 67108864)")
    assert not is_too_large("collection not loaded")


def test_it_ends_a_back_off_wait_soon_after_a_cancel():
    canceled_at = time.monotonic() + 0.3
    started = time.monotonic()

    with pytest.raises(CopyCanceled) as raised:
        pause(30, lambda: time.monotonic() > canceled_at, "writing into 'dst'")

    assert time.monotonic() - started < 0.3 + 2 * DEFAULTS.cancel_poll
    assert raised.value.message == "writing into 'dst' canceled"


def test_it_abandons_a_blocking_call_on_cancel_and_passes_results_and_errors_on():
    release = threading.Event()
    canceled_at = time.monotonic() + 0.3

    with pytest.raises(CopyCanceled):
        wait_for(release.wait, lambda: time.monotonic() > canceled_at, "flush of dst")
    release.set()

    assert wait_for(lambda: 42, lambda: False, "x") == 42
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 / 0, lambda: False, "x")


def test_it_asks_should_cancel_at_most_twice_a_second_while_waiting():
    asked = []
    flag = CancelFlag(lambda: asked.append(1) or False, every=0.5)

    for _ in range(100):
        flag()
    flag.now()

    assert len(asked) == 2


def test_it_retries_on_the_schedule_its_options_give_then_says_why_it_stopped(tmp_path):
    server = start_lite_server(tmp_path)
    client = MilvusClient(uri=server.uri)
    schedule = RetrySchedule(attempts=3, first_delay=0.1, max_delay=0.2)
    channel = RpcChannel(client, "target", options=Options(retry=schedule))
    assert channel.call("asking the version", "GetVersion", milvus_pb2.GetVersionRequest())
    server.stop()
    started = time.monotonic()

    try:
        with pytest.raises(CopyError) as raised:
            channel.call("asking the version", "GetVersion", milvus_pb2.GetVersionRequest())
    finally:
        client.close()

    # Two waits, 0.1 s then 0.2 s: the default schedule would wait about 35 s.
    assert 0.3 <= time.monotonic() - started < 5
    assert raised.value.message.startswith(
        "asking the version failed on the target: still failing after 3 attempts (UNAVAILABLE"
    )
