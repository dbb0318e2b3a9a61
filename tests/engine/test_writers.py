"""Several writers in one copy (engine/writers.py, `Options.writers`): every key arrives once,
the digests are the same as one writer's, checkpoints move only over batches written in order,
and a copy stopped with batches in flight (a dying worker, a cancel, a lost lease) resumes
exactly — on Milvus Lite and on the Milvus 2.3 standalone, where a duplicate would show."""

from __future__ import annotations

import os
import threading
import time

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyCanceled, CopyError, LeaseLost
from migrations_app.engine.fence import FencedClient
from migrations_app.engine.finalize import finalize
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.reader import Page
from migrations_app.engine.readers import Reader
from migrations_app.engine.rpc import CancelFlag, RpcChannel
from migrations_app.engine.target import create_target
from migrations_app.engine.verify import verify
from migrations_app.engine.writers import BatchWriter, WritePool
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple, vector
from tests.engine.test_cancel import CancelAfter, Hang, measured
from tests.engine.test_resume import (
    FIELDS,
    WorkerDied,
    all_keys,
    drop,
    load_for_reading,
    stored_rows,
)

ROWS = 3_000
STANDALONE_ROWS = 1_500  # on make test's critical path: small
W3 = Options(batch_bytes=20_000, writers=3)


@pytest.fixture
def milvus(standalone):
    client = connect(standalone.uri, token=standalone.token)
    yield client
    client.close()


def planned(source, target, name: str):
    info = describe_collection(source, name)
    spec = require_ok(plan(info, SchemaChoices(), target))
    create_target(target, spec)
    return info, spec


def scope(name: str, partitions=None) -> CopyScope:
    return CopyScope(name, name, "pk", False, FIELDS, partitions=partitions)


class Recorder:
    """Keeps what a caller keeps: every checkpoint and the last write intent, and checks that
    each checkpoint moves forward over whole batches, never past the last intent."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.checkpoints: list[dict] = []
        self.intent: dict = {}
        self.stop_after = stop_after

    def stop(self) -> None:
        raise WorkerDied

    def on_write_intent(self, intent: dict) -> None:
        self.intent = intent

    def on_checkpoint(self, checkpoint: dict) -> None:
        if self.checkpoints:
            assert checkpoint["rows"] >= self.checkpoints[-1]["rows"]
        stream = self.intent.get("stream")
        if stream is not None and stream not in checkpoint["done_partitions"]:
            assert checkpoint["partitions"][stream] <= self.intent["last_pk"]
        self.checkpoints.append(checkpoint)
        if self.stop_after is not None and len(self.checkpoints) == self.stop_after:
            self.stop()

    def calls(self, **more) -> Calls:
        return Calls(on_write_intent=self.on_write_intent, on_checkpoint=self.on_checkpoint, **more)


def test_it_copies_every_key_once_with_three_writers_and_the_digests_verify(pair):
    source, target = pair
    create_simple(source, "w", rows=ROWS)
    info, spec = planned(source, target, "w")
    recorder = Recorder()

    result = copy_collection(
        source, target, CopyScope.of(spec), options=W3, observer=recorder.calls()
    )

    finalize(target, spec, options=Options(load=True))
    assert result.rows == ROWS and len(recorder.checkpoints) > 10
    assert all_keys(target, "w", False) == list(range(ROWS))
    assert stored_rows(target, "w") == ROWS
    report = verify(source, target, info, spec, copy_digests=result.digests)
    assert report.verified, report.summary()
    target.drop_collection("w")
    create_target(target, spec)
    one = copy_collection(source, target, CopyScope.of(spec), options=Options(batch_bytes=20_000))
    assert one.digests == result.digests


def test_it_writes_each_partition_whole_before_the_next(pair):
    source, target = pair
    create_simple(source, "parts", rows=1_000, partitions=("p1",))
    extra = [
        {"pk": i, "vec": vector(i), "title": f"title {i}", "category": 1}
        for i in range(1_000, 1_800)
    ]
    source.insert("parts", extra, partition_name="p1")
    create_simple(target, "parts", partitions=("p1",))
    recorder = Recorder()

    result = copy_collection(
        source,
        target,
        scope("parts", ["_default", "p1"]),
        options=W3,
        observer=recorder.calls(),
    )

    assert result.partition_rows == {"_default": 1_000, "p1": 800}
    assert all_keys(target, "parts", False) == list(range(1_800))


@pytest.mark.parametrize("stop", ["worker dies", "cancel", "lease lost"])
def test_it_resumes_a_copy_stopped_with_batches_in_flight(pair, stop):
    source, target = pair
    create_simple(source, "stopped", rows=ROWS)
    create_simple(target, "stopped")
    recorder = Recorder(stop_after=None if stop == "cancel" else 6)
    left = [60.0]
    if stop == "lease lost":
        recorder.stop = lambda: left.__setitem__(0, 0.0)  # the lease ends; the copy goes on
    fenced = FencedClient(target, lambda: left[0], call_timeout=30, wait_timeout=30)
    observer = recorder.calls(
        should_cancel=lambda: stop == "cancel" and len(recorder.checkpoints) >= 6
    )
    expected = {"worker dies": WorkerDied, "cancel": CopyCanceled, "lease lost": LeaseLost}[stop]

    with pytest.raises(expected):
        copy_collection(source, fenced, scope("stopped"), options=W3, observer=observer)

    written = stored_rows(target, "stopped")
    saved = recorder.checkpoints[-1]
    assert 0 < saved["rows"] < ROWS and written >= saved["rows"]
    result = copy_collection(
        source, target, scope("stopped"), checkpoint=saved, write_intent=recorder.intent, options=W3
    )
    assert result.rows == ROWS and result.resumed_rows == saved["rows"]
    assert all_keys(target, "stopped", False) == list(range(ROWS))
    assert stored_rows(target, "stopped") == ROWS


def test_it_cancels_promptly_while_the_writes_hang(lite_factory, fresh_lite_factory):
    target_server = fresh_lite_factory()
    source, target = connect(lite_factory().uri), connect(target_server.uri)
    create_simple(source, "hang", rows=1_000)
    create_simple(target, "hang", index=False)
    hang = Hang(target_server)
    cancel = CancelAfter(1.0)

    def freeze_target(checkpoint: dict) -> None:
        if not hang.frozen:
            hang.freeze()  # the writes in flight and the next ones get no answer
            cancel.start()

    try:
        with measured(cancel) as raised:
            copy_collection(
                source,
                target,
                scope("hang"),
                options=W3,
                observer=Calls(on_checkpoint=freeze_target, should_cancel=cancel),
            )
    finally:
        hang.release()

    assert raised.value.checkpoint["rows"] > 0
    # The copy waited for its writers: none outlives it.
    assert not [t for t in threading.enumerate() if t.name.startswith("copy-writer")]


class FirstPageLate(BatchWriter):
    """A real writer whose write of the page starting at key 0 waits for `gate` first, so the
    pages after it are written before it."""

    def __init__(self, dst: RpcChannel, gate: threading.Event) -> None:
        super().__init__(dst, "late", "pk", False)
        self.gate = gate

    def write(self, page: Page, partition: str | None, rewrite: bool = False) -> None:
        if page.first_pk == 0:
            assert self.gate.wait(30)
        super().write(page, partition, rewrite)


def pages_of(source, name: str) -> list[Page]:
    reader = Reader(
        RpcChannel(source, "source"),
        collection=name,
        pk_field="pk",
        pk_is_varchar=False,
        output_fields=FIELDS,
        row_bytes=100,
        batch_bytes=8_000,
        work=[("*", None)],
    )
    reader.start()
    pages = []
    while (item := reader.get(None)) is not None:
        if isinstance(item, Page):
            pages.append(item)
    reader.stop()
    return pages


def test_it_acknowledges_pages_in_read_order_when_they_are_written_out_of_it(pair):
    source, target = pair
    create_simple(source, "late", rows=300)
    create_simple(target, "late")
    first, second, third = pages_of(source, "late")[:3]
    gate = threading.Event()
    pool = WritePool(FirstPageLate(RpcChannel(target, "target"), gate), 3, CancelFlag(None))
    try:
        for page in (first, second, third):
            assert pool.wait_for_room() == []
            pool.submit(page, None, False)
        later = second.rows + third.rows
        deadline = time.monotonic() + 30
        while stored_rows(target, "late") < later:  # the two later pages are written
            assert time.monotonic() < deadline, "the later pages were never written"
            time.sleep(0.05)

        assert pool.acked() == []  # ... but not acknowledged before the first one

        gate.set()
        acked = pool.drain()
    finally:
        gate.set()
        pool.close()
    assert [sent.page.first_pk for sent in acked] == [0, second.first_pk, third.first_pk]
    assert stored_rows(target, "late") == first.rows + later


def test_it_fails_the_copy_with_the_writers_error(pair):
    source, target = pair
    create_simple(source, "bad", rows=1_000)
    # The target's vectors are twice as long as the source's: the server refuses the rows.
    schema = target.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=16)
    schema.add_field("title", DataType.VARCHAR, max_length=100)
    schema.add_field("category", DataType.INT64)
    target.create_collection("bad", schema=schema)
    errors = []
    for writers in (1, 3):
        with pytest.raises(CopyError) as failed:
            copy_collection(
                source,
                target,
                scope("bad"),
                options=Options(batch_bytes=20_000, writers=writers),
            )
        errors.append(failed.value)

    assert errors[0].message == errors[1].message
    assert errors[1].message.startswith("writing into target collection 'bad' failed: ")
    assert errors[1].checkpoint["rows"] == 0


@pytest.mark.standalone
def test_it_resumes_three_writers_into_the_standalone_without_duplicates(pair, milvus):
    source, _ = pair
    name = f"writers_{os.getpid()}"
    drop(milvus, name)
    create_simple(source, name, rows=STANDALONE_ROWS)
    create_simple(milvus, name, index=False)
    recorder = Recorder(stop_after=6)
    try:
        with pytest.raises(WorkerDied):
            copy_collection(source, milvus, scope(name), options=W3, observer=recorder.calls())
        saved = recorder.checkpoints[2]  # the caller's later saves were lost; its intent was not
        assert recorder.intent["last_pk"] >= recorder.checkpoints[-1]["partitions"]["*"]

        result = copy_collection(
            source,
            milvus,
            scope(name),
            checkpoint=saved,
            write_intent=recorder.intent,
            options=W3,
        )

        load_for_reading(milvus, name)()
        assert result.rows == STANDALONE_ROWS and result.resumed_rows == saved["rows"]
        assert result.upserted_rows >= recorder.checkpoints[-1]["rows"] - saved["rows"]
        assert stored_rows(milvus, name) == STANDALONE_ROWS
        assert all_keys(milvus, name, False) == list(range(STANDALONE_ROWS))
    finally:
        drop(milvus, name)
        drop(source, name)
