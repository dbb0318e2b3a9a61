"""engine.reader: pages in strictly increasing key order, sized in bytes with a ramp-up, read
again smaller when too large, and key scans with the engine's own filters."""

from __future__ import annotations

import pytest

from migrations_app.engine.copy import CopyProgress, copy_collection
from migrations_app.engine.errors import CopyError
from migrations_app.engine.reader import (
    RAMP_UP_FACTOR,
    RAMP_UP_START,
    PageSizer,
    check_page_order,
    scan_keys,
)
from migrations_app.engine.rpc import Endpoint
from tests.engine.sample_data import create_simple


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

    copy_collection(
        source,
        target,
        source_collection="ramp",
        target_collection="ramp",
        pk_field="pk",
        pk_is_varchar=False,
        read_fields=["pk", "vec", "title", "category"],
        dynamic=False,
        partitions=None,
        batch_bytes=64_000,
        on_progress=record,
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
    endpoint = Endpoint(source, "source")

    everything = [k for keys in scan_keys(endpoint, "scan", "pk", False) for k in keys]
    after = [k for keys in scan_keys(endpoint, "scan", "pk", False, after=449) for k in keys]

    assert everything == list(range(500))
    assert after == list(range(450, 500))
