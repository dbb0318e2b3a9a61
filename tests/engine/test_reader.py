"""engine.reader: pages in strictly increasing key order, sized in bytes with a ramp-up, read
again smaller when too large, and key scans with the engine's own filters."""

from __future__ import annotations

import os

import pytest
from pymilvus import DataType

from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyError
from migrations_app.engine.model import CopyProgress
from migrations_app.engine.options import Options
from migrations_app.engine.reader import (
    MAX_REQUEST_BYTES,
    RAMP_UP_FACTOR,
    RAMP_UP_START,
    PageSizer,
    check_page_order,
    query_page,
    read_pages,
    scan_keys,
)
from migrations_app.engine.rpc import AnswerTooLarge, RpcChannel
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple, vector


def test_it_accepts_pages_that_continue_strictly_after_the_last_key():
    check_page_order([1, 2, 5], None, "src")
    check_page_order([6, 7], 5, "src")
    check_page_order(['a"', "a\\", "b"], "a", "src")
    check_page_order(["é", "日本"], "z", "src")  # code point order is UTF-8 byte order


@pytest.mark.parametrize(
    ("keys", "previous", "message"),
    [
        ([3, 2], None, "the server answered key 2 after key 3 in one page"),
        ([3, 3], None, "the server answered key 3 after key 3 in one page"),
        ([5, 6], 5, "the server answered key 5 after key 5; pages must continue"),
        ([4, 6], 5, "the server answered key 4 after key 5; pages must continue"),
        (["b", "a"], None, "the server answered key 'a' after key 'b' in one page"),
    ],
)
def test_it_stops_on_a_page_out_of_key_order(keys, previous, message):
    with pytest.raises(CopyError) as raised:
        check_page_order(keys, previous, "source collection 'src'")

    assert raised.value.message.startswith("reading source collection 'src': " + message)


def test_it_ramps_pages_up_gradually_and_halves_a_page_that_was_too_large():
    sizer = PageSizer(row_bytes=100, batch_bytes=1_600_000)
    limits = []
    for _ in range(7):
        limits.append(sizer.limit())
        sizer.accepted(limits[-1], limits[-1] * 100)
    assert limits == [1_000, 2_000, 4_000, 8_000, 16_000, 16_000, 16_000]
    assert limits[0] == 1_600_000 // RAMP_UP_START // 100 and RAMP_UP_FACTOR == 2

    sizer.too_large(16_000, "src")
    assert sizer.limit() == 8_000
    with pytest.raises(CopyError) as raised:
        sizer.too_large(1, "source collection 'src'")
    assert raised.value.message == (
        "reading source collection 'src': a single row is larger than the server answers"
    )


def test_it_ramps_up_the_pages_of_a_real_copy(pair):
    source, target = pair
    create_simple(source, "ramp", rows=3_000)
    create_simple(target, "ramp", index=False)
    pages: list[int] = []
    previous = [0]

    def record(progress: CopyProgress) -> None:
        pages.append(progress.rows - previous[0])
        previous[0] = progress.rows

    scope = CopyScope("ramp", "ramp", "pk", False, ["pk", "vec", "title", "category"])
    copy_collection(
        source,
        target,
        scope,
        options=Options(batch_bytes=64_000),
        observer=Calls(on_progress=record),
    )

    full = max(pages)
    assert sum(pages) == 3_000
    assert pages[0] <= full // 8  # a small first page...
    ramp = pages[: pages.index(full)]
    assert len(ramp) >= 3  # ...then several growing ones, not one jump
    assert all(b <= 2 * a + 1 for a, b in zip(ramp, ramp[1:] + [full]))  # noqa: B905


def test_it_scans_keys_in_order_after_a_given_key(pair):
    source, _ = pair
    create_simple(source, "scan", rows=500)
    channel = RpcChannel(source, "source")

    everything = [k for keys in scan_keys(channel, "scan", "pk", False) for k in keys]
    after = [k for keys in scan_keys(channel, "scan", "pk", False, after=449) for k in keys]

    assert everything == list(range(500))
    assert after == list(range(450, 500))


@pytest.mark.standalone
def test_it_reads_again_smaller_a_page_milvus_refuses_for_its_size(standalone):
    client = connect(standalone.uri, token=standalone.token)
    name = f"heavy_rows_{os.getpid()}"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("body", DataType.VARCHAR, max_length=65_535)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    rows = 1_700  # × 64 KB: an answer of ~110 MB, over maxOutputSize (100 MB by default)
    try:
        for start in range(0, rows, 200):
            client.insert(
                name,
                [
                    {"pk": i, "vec": vector(i), "body": f"{i:06d}" + "x" * 65_000}
                    for i in range(start, min(start + 200, rows))
                ],
            )
        client.flush(name)
        client.load_collection(name)
        channel = RpcChannel(client, "source")

        with pytest.raises(AnswerTooLarge) as refused:
            query_page(channel, "reading", name, "pk >= 0", ["pk", "body"], [], 16_384)
        # The sizer believes rows are tiny, so it asks for everything at once.
        sizer = PageSizer(row_bytes=100, batch_bytes=1024 * 1024 * 1024)
        sizer.budget = sizer.batch_bytes
        pages = list(
            read_pages(
                channel,
                sizer,
                collection=name,
                pk_field="pk",
                pk_is_varchar=False,
                output_fields=["pk", "body"],
                partition=None,
                after=None,
            )
        )
    finally:
        client.drop_collection(name)
        client.close()

    assert "exceed the limit size" in refused.value.reason  # Milvus 2.3's words for it
    keys = [k for _, page_keys, _ in pages for k in page_keys]
    assert keys == list(range(rows))
    assert max(size for _, _, size in pages) <= MAX_REQUEST_BYTES
    assert len(pages) >= 3
