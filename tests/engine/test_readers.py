"""Several readers in one copy (engine/readers.py, `Options.readers`): chunks of the key order
read at once and handed over in key order, so every key arrives once, the digests and
checkpoints are one reader's, a source that changes meanwhile is still read exactly, and a copy
stopped with chunks in flight cancels promptly and resumes without duplicates (on the Milvus 2.3
standalone, where one would show)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyError
from migrations_app.engine.finalize import finalize
from migrations_app.engine.options import Options
from migrations_app.engine.readers import Chunk, chunks_of, in_order
from migrations_app.engine.verify import verify
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple, vector
from tests.engine.test_cancel import CancelAfter, Hang, measured
from tests.engine.test_resume import WorkerDied, all_keys, drop, load_for_reading, stored_rows
from tests.engine.test_writers import Recorder, planned, scope

ROWS = 3_000
K3 = Options(batch_bytes=20_000, readers=3)


def reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("copy-reader_")]


def test_it_cuts_scanned_keys_into_chunks_across_scan_pages():
    chunks = list(chunks_of([[1, 2, 3, 5, 8], [13, 21], [34]], after=None, rows=3))

    assert chunks == [Chunk(None, 3, 3), Chunk(3, 13, 3), Chunk(13, 34, 2)]
    assert list(chunks_of([["b", "c"]], after="a", rows=2)) == [Chunk("a", "c", 2)]
    assert list(chunks_of([[]], after=7, rows=2)) == []


def test_it_fetches_up_to_k_chunks_at_once_and_hands_them_over_in_order():
    running, most = [0], [0]
    lock = threading.Lock()

    def fetch(chunk: Chunk) -> list:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3 if chunk.upto % 3 == 1 else 0.05)  # some later chunks finish first
        with lock:
            running[0] -= 1
        return [chunk.upto, -chunk.upto]

    chunks = [Chunk(n - 1, n, 1) for n in range(1, 10)]
    started = time.monotonic()
    handed = list(in_order(fetch, chunks, readers=3))

    assert handed == [item for n in range(1, 10) for item in (n, -n)]
    assert most[0] == 3
    assert time.monotonic() - started < 9 * 0.3 * 2 / 3  # not one chunk after the other


def test_it_raises_a_failed_fetch_in_its_turn():
    def fetch(chunk: Chunk) -> list:
        if chunk.upto == 2:
            raise CopyError("reading source collection 'x' failed: gone")
        return [chunk.upto]

    handed = []
    with pytest.raises(CopyError, match="gone"):
        for item in in_order(fetch, [Chunk(n - 1, n, 1) for n in range(1, 6)], readers=3):
            handed.append(item)

    assert handed == [1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(readers=0), "readers must be at least 1, got 0"),
        (Options(writers=0), "writers must be at least 1, got 0"),
    ],
)
def test_it_refuses_fewer_than_one_reader_or_writer(pair, options, message):
    source, target = pair
    create_simple(source, "none", rows=10)
    create_simple(target, "none")

    with pytest.raises(CopyError) as refused:
        copy_collection(source, target, scope("none"), options=options)

    assert refused.value.message == message
    assert stored_rows(target, "none") == 0


def test_it_copies_every_key_once_with_three_readers_and_the_digests_verify(pair):
    source, target = pair
    create_simple(source, "r", rows=ROWS)
    info, spec = planned(source, target, "r")
    recorder = Recorder()
    seen_threads = []

    def checkpoint(saved: dict) -> None:
        recorder.on_checkpoint(saved)
        seen_threads.append(len(reading_threads()))

    result = copy_collection(
        source,
        target,
        CopyScope.of(spec),
        options=K3,
        observer=Calls(on_write_intent=recorder.on_write_intent, on_checkpoint=checkpoint),
    )

    finalize(target, spec, options=Options(load=True))
    assert result.rows == ROWS and len(recorder.checkpoints) >= 5  # chunks of ~420 rows
    assert max(seen_threads) >= 2  # chunks were read by more than one thread
    assert all_keys(target, "r", False) == list(range(ROWS))
    assert stored_rows(target, "r") == ROWS
    report = verify(source, target, info, spec, copy_digests=result.digests)
    assert report.verified, report.summary()
    target.drop_collection("r")
    create_target_again = planned(source, target, "r")[1]
    one = copy_collection(
        source, target, CopyScope.of(create_target_again), options=Options(batch_bytes=20_000)
    )
    assert one.digests == result.digests


def test_it_reads_each_partition_and_key_range_whole(pair):
    source, target = pair
    create_simple(source, "rparts", rows=1_000, partitions=("p1",))
    extra = [
        {"pk": i, "vec": vector(i), "title": f"title {i}", "category": 1}
        for i in range(1_000, 1_800)
    ]
    source.insert("rparts", extra, partition_name="p1")
    create_simple(target, "rparts", partitions=("p1",))
    ranged = CopyScope("rparts", "rparts", "pk", False, scope("rparts").read_fields)

    parts = copy_collection(
        source, target, scope("rparts", ["_default", "p1"]), options=K3
    ).partition_rows
    target.drop_collection("rparts")
    create_simple(target, "rparts")
    middle = CopyScope(**{**ranged.__dict__, "after": 499, "upto": 1_299})
    in_range = copy_collection(source, target, middle, options=K3)

    assert parts == {"_default": 1_000, "p1": 800}
    assert in_range.rows == 800
    assert all_keys(target, "rparts", False) == list(range(500, 1_300))


def test_it_reads_a_source_that_changes_after_the_key_scan_exactly(pair):
    """Rows inserted into chunks not read yet (more rows than the scan saw), deleted from them
    (fewer), and added past the scan's last key all end up as the source has them."""
    source, target = pair
    create_simple(source, "moving")
    source.insert("moving", [_row(k) for k in range(0, 2 * ROWS, 2)])  # even keys only
    create_simple(target, "moving")
    changed = []

    def change_ahead(saved: dict) -> None:
        if len(changed) == 0 and saved["rows"] > 0:
            # Far ahead of what is read: the chunks of the last fifth of the keys.
            source.insert("moving", [_row(k) for k in range(4_801, 5_400, 2)])
            source.delete("moving", filter="pk >= 5400 and pk < 5600")
            source.insert("moving", [_row(k) for k in range(6_000, 6_100)])
            changed.append(saved["rows"])

    result = copy_collection(
        source, target, scope("moving"), options=K3, observer=Calls(on_checkpoint=change_ahead)
    )

    expected = sorted(
        {
            *range(0, 5_400, 2),
            *range(4_801, 5_400, 2),
            *range(5_600, 6_000, 2),
            *range(6_000, 6_100),
        }
    )
    assert changed and changed[0] < 2_000
    assert all_keys(target, "moving", False) == expected
    assert result.rows == len(expected) == stored_rows(target, "moving")


def test_it_fails_with_the_reason_when_the_source_vanishes(pair):
    source, target = pair
    create_simple(source, "gone", rows=ROWS)
    create_simple(target, "gone")

    def drop_source(saved: dict) -> None:
        if saved["rows"] > 0 and source.has_collection("gone"):
            source.drop_collection("gone")

    with pytest.raises(CopyError) as failed:
        copy_collection(
            source, target, scope("gone"), options=K3, observer=Calls(on_checkpoint=drop_source)
        )

    assert failed.value.message.startswith("reading source collection 'gone'")
    assert "failed" in failed.value.message
    assert 0 < failed.value.checkpoint["rows"] < ROWS


def test_it_cancels_promptly_while_the_source_hangs(lite_factory, fresh_lite_factory):
    source_server = fresh_lite_factory()
    source, target = connect(source_server.uri), connect(lite_factory().uri)
    create_simple(source, "rhang", rows=ROWS)
    create_simple(target, "rhang", index=False)
    hang = Hang(source_server)
    cancel = CancelAfter(1.0)

    def freeze_source(checkpoint: dict) -> None:
        if not hang.frozen:
            hang.freeze()  # the chunks being read and the key scan get no answer
            cancel.start()

    try:
        with measured(cancel) as raised:
            copy_collection(
                source,
                target,
                scope("rhang"),
                options=K3,
                observer=Calls(on_checkpoint=freeze_source, should_cancel=cancel),
            )
        # The reading threads' queries are canceled too: none is left reading.
        deadline = time.monotonic() + 5
        while reading_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not reading_threads()
    finally:
        hang.release()

    assert raised.value.checkpoint["rows"] > 0


@pytest.mark.standalone
def test_it_resumes_three_readers_into_the_standalone_without_duplicates(pair, standalone):
    source, _ = pair
    milvus = connect(standalone.uri, token=standalone.token)
    name = f"readers_{os.getpid()}"
    drop(milvus, name)
    rows = 1_500  # on make test's critical path: small
    create_simple(source, name, rows=rows)
    create_simple(milvus, name, index=False)
    recorder = Recorder(stop_after=6)
    several = Options(batch_bytes=20_000, readers=3, writers=2)
    try:
        with pytest.raises(WorkerDied):
            copy_collection(source, milvus, scope(name), options=several, observer=recorder.calls())
        saved = recorder.checkpoints[2]  # the caller's later saves were lost; its intent was not

        result = copy_collection(
            source,
            milvus,
            scope(name),
            checkpoint=saved,
            write_intent=recorder.intent,
            options=several,
        )

        load_for_reading(milvus, name)()
        assert result.rows == rows and result.resumed_rows == saved["rows"]
        assert stored_rows(milvus, name) == rows
        assert all_keys(milvus, name, False) == list(range(rows))
    finally:
        drop(milvus, name)
        drop(source, name)
        milvus.close()


def _row(key: int) -> dict:
    return {"pk": key, "vec": vector(key), "title": f"title {key}", "category": key % 7}
