"""copy_collection against real servers: Milvus Lite both sides, and the Milvus 2.3 standalone
as a source. Target collections are made here with plain pymilvus (the plan builds them in
production)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pymilvus import DataType

from console.clusters.lite_process import start_lite, stop_process
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyCanceled, CopyError
from migrations_app.engine.filters import pk_after_filter
from migrations_app.engine.model import CopyProgress
from migrations_app.engine.options import DEFAULTS, SILENT, Options
from tests.engine.calls import Calls
from tests.milvus import MilvusClient

DIM = 8
FIELDS = ["pk", "vector", "title", "category"]
MIXED_FIELDS = [*FIELDS, "n", "label", "doc", "tags"]
HOSTILE = ['a"b', "c'd", "e\\f", "日本語", 'x\\"y', "z\n", "\\", '"', "é'\"\\", "tab\tend", "ünï"]
REPO = Path(__file__).resolve().parents[2]


# --- helpers -------------------------------------------------------------------------------


def make_collection(
    client: MilvusClient,
    name: str,
    *,
    varchar_pk: bool = False,
    dynamic: bool = True,
    mixed: bool = False,
    auto_id: bool = False,
    partition_key: bool = False,
    title_length: int = 64,
    partitions: tuple[str, ...] = (),
) -> None:
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=dynamic)
    if varchar_pk:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("title", DataType.VARCHAR, max_length=title_length)
    schema.add_field("category", DataType.INT64, is_partition_key=partition_key)
    if mixed:
        schema.add_field("n", DataType.INT32, nullable=True)
        schema.add_field("label", DataType.VARCHAR, max_length=16, default_value="none")
        schema.add_field("doc", DataType.JSON, nullable=True)
        schema.add_field(
            "tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True
        )
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    extra = {"num_partitions": 4} if partition_key else {}
    client.create_collection(name, schema=schema, index_params=index, **extra)
    for partition in partitions:
        client.create_partition(name, partition)


def make_rows(count: int, *, start: int = 0, keys=None, mixed: bool = False, dynamic: bool = True):
    rows = []
    for i in range(start, start + count):
        row = {
            "pk": keys[i] if keys is not None else i,
            "vector": [float(i % 97) / (j + 1) for j in range(DIM)],
            "title": f"title {i} ü\"'\\",
            "category": i % 5,
        }
        if mixed:
            row["n"] = i if i % 3 else None
            row["label"] = None if i % 4 == 0 else f"l{i}"  # None → the default value
            row["doc"] = {"i": i, "nested": {"list": [i, "x"]}} if i % 2 else None
            row["tags"] = [i, i + 1] if i % 5 else None
        if dynamic:
            row["color"] = ["red", "green", "blue"][i % 3]
            row["extra"] = {"deep": {"i": i}} if i % 2 else [i]
        rows.append(row)
    return rows


def read_all(client: MilvusClient, name: str, *, varchar_pk=False, partition=None) -> list[dict]:
    """Every row of a (small) collection in primary-key order."""
    rows = client.query(
        name,
        filter=pk_after_filter("pk", None, varchar_pk),
        output_fields=["*"],
        partition_names=[partition] if partition else None,
        limit=16_384,
    )
    return sorted((dict(row) for row in rows), key=lambda row: row["pk"])


def pks(client: MilvusClient, name: str, *, varchar_pk=False, partition=None) -> list:
    rows = client.query(
        name,
        filter=pk_after_filter("pk", None, varchar_pk),
        output_fields=["pk"],
        partition_names=[partition] if partition else None,
        limit=16_384,
    )
    return sorted(row["pk"] for row in rows)


def run_copy(source, target, *, checkpoint=None, options=DEFAULTS, observer=SILENT, **overrides):
    arguments = dict(
        source_collection="src",
        target_collection="dst",
        pk_field="pk",
        pk_is_varchar=False,
        read_fields=FIELDS,
        dynamic=True,
        partitions=None,
    )
    arguments.update(overrides)
    return copy_collection(
        source,
        target,
        CopyScope(**arguments),
        checkpoint=checkpoint,
        options=options,
        observer=observer,
    )


@pytest.fixture
def pair(lite_factory):
    """Two empty Milvus Lite servers: (source client, target client)."""
    source = MilvusClient(lite_factory().uri)
    target = MilvusClient(lite_factory().uri)
    yield source, target
    source.close()
    target.close()


# --- round trips ---------------------------------------------------------------------------


def test_it_copies_a_mixed_collection_row_for_row(pair):
    source, target = pair
    make_collection(source, "src", mixed=True)
    make_collection(target, "dst", mixed=True)
    source.insert("src", make_rows(300, mixed=True))
    progress: list[CopyProgress] = []

    result = run_copy(
        source, target, read_fields=MIXED_FIELDS, observer=Calls(on_progress=progress.append)
    )

    copied = read_all(target, "dst")
    assert copied == read_all(source, "src")
    assert len(copied) == result.rows == 300
    by_pk = {row["pk"]: row for row in copied}
    assert by_pk[3]["n"] is None and by_pk[4]["n"] == 4
    assert by_pk[4]["label"] == "none" and by_pk[5]["label"] == "l5"
    assert by_pk[2]["doc"] is None and by_pk[3]["doc"] == {"i": 3, "nested": {"list": [3, "x"]}}
    assert by_pk[5]["tags"] is None and by_pk[6]["tags"] == [6, 7]
    assert by_pk[7]["extra"] == {"deep": {"i": 7}} and by_pk[7]["color"] == "green"
    assert progress[-1].rows == 300 and progress[-1].bytes == result.bytes > 0


def test_it_copies_a_collection_larger_than_many_batches(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(2_000))
    checkpoints: list[dict] = []

    result = run_copy(
        source,
        target,
        options=Options(batch_bytes=8_000),
        observer=Calls(on_checkpoint=checkpoints.append),
    )

    assert pks(target, "dst") == list(range(2_000))
    assert result.rows == 2_000
    assert len(checkpoints) >= 15  # small batches really were small
    lasts = [c["partitions"]["*"] for c in checkpoints if c["partitions"].get("*") is not None]
    assert lasts == sorted(lasts) and lasts[-1] == 1_999
    assert checkpoints[-1]["done_partitions"] == ["*"]
    json.dumps(checkpoints[-1])  # a checkpoint is JSON-safe


def test_it_keeps_every_batch_under_the_byte_budget(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(1_000))
    sizes: list[int] = []
    previous = [0]

    def record(progress: CopyProgress) -> None:
        sizes.append(progress.bytes - previous[0])
        previous[0] = progress.bytes

    run_copy(
        source, target, options=Options(batch_bytes=20_000), observer=Calls(on_progress=record)
    )

    assert len(sizes) > 5
    # Pages are sized from what rows weigh, so none goes far past the budget.
    assert max(sizes) <= 2 * 20_000


def test_it_splits_a_32768_dim_collection_into_requests_of_bounded_size(pair):
    source, target = pair
    dim = 32_768  # 128 KiB per vector: 200 rows would make a 26 MB request at once
    for client, name in ((source, "src"), (target, "dst")):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        client.create_collection(name, schema=schema)
    for start in range(0, 200, 50):
        source.insert("src", [{"pk": i, "vector": [i / 7] * dim} for i in range(start, start + 50)])
    sizes: list[int] = []
    previous = [0]

    def record(progress: CopyProgress) -> None:
        sizes.append(progress.bytes - previous[0])
        previous[0] = progress.bytes

    result = run_copy(
        source,
        target,
        read_fields=["pk", "vector"],
        dynamic=False,
        options=Options(batch_bytes=4 * 1024 * 1024),
        observer=Calls(on_progress=record),
    )

    assert result.rows == 200 and pks(target, "dst") == list(range(200))
    assert len(sizes) >= 6
    assert max(sizes) <= 4.5 * 1024 * 1024
    row = target.query("dst", filter="pk == 199", output_fields=["vector"])[0]
    assert len(row["vector"]) == dim and row["vector"][0] == pytest.approx(199 / 7)


def test_it_copies_explicit_partitions_including_an_empty_one(pair):
    source, target = pair
    partitions = ("p_one", "p_empty", "p_two")
    make_collection(source, "src", partitions=partitions)
    make_collection(target, "dst", partitions=partitions)
    source.insert("src", make_rows(50), partition_name="_default")
    source.insert("src", make_rows(70, start=50), partition_name="p_one")
    source.insert("src", make_rows(30, start=120), partition_name="p_two")

    result = run_copy(
        source, target, partitions=["_default", *partitions], options=Options(batch_bytes=3_000)
    )

    assert pks(target, "dst", partition="_default") == list(range(50))
    assert pks(target, "dst", partition="p_one") == list(range(50, 120))
    assert pks(target, "dst", partition="p_empty") == []
    assert pks(target, "dst", partition="p_two") == list(range(120, 150))
    assert result.partition_rows == {"_default": 50, "p_one": 70, "p_empty": 0, "p_two": 30}
    assert read_all(target, "dst") == read_all(source, "src")


def test_it_copies_a_partition_key_collection_as_a_whole(pair):
    source, target = pair
    make_collection(source, "src", partition_key=True)
    make_collection(target, "dst", partition_key=True)
    source.insert("src", make_rows(400))

    result = run_copy(source, target, partitions=None, options=Options(batch_bytes=5_000))

    assert read_all(target, "dst") == read_all(source, "src")
    assert result.partition_rows == {"*": 400}


def test_it_keeps_the_keys_of_an_auto_id_collection(pair):
    source, target = pair
    make_collection(source, "src", auto_id=True)
    make_collection(target, "dst", auto_id=False)
    rows = make_rows(100)
    for row in rows:
        del row["pk"]
    source.insert("src", rows)

    run_copy(source, target)

    assert read_all(target, "dst") == read_all(source, "src")


def test_it_copies_varchar_keys_with_hostile_characters(pair):
    source, target = pair
    make_collection(source, "src", varchar_pk=True)
    make_collection(target, "dst", varchar_pk=True)
    # Every key carries a hostile part, and pages of a few rows put them at page boundaries,
    # where they end up inside the `pk > "..."` filter of the next page.
    keys = [f"{i:03d}{HOSTILE[i % len(HOSTILE)]}" for i in range(120)] + HOSTILE
    source.insert("src", make_rows(len(keys), keys=keys))

    run_copy(source, target, pk_is_varchar=True, options=Options(batch_bytes=600))

    assert pks(target, "dst", varchar_pk=True) == sorted(keys)
    assert read_all(target, "dst", varchar_pk=True) == read_all(source, "src", varchar_pk=True)


def test_it_writes_filters_that_match_hostile_keys_exactly(lite_server):
    client = MilvusClient(lite_server.uri)
    make_collection(client, "src", varchar_pk=True)
    client.insert("src", make_rows(len(HOSTILE), keys=HOSTILE))

    for key in HOSTILE:
        found = client.query("src", filter=pk_after_filter("pk", key, True), output_fields=["pk"])
        assert sorted(row["pk"] for row in found) == sorted(k for k in HOSTILE if k > key), key


def test_it_drops_dynamic_keys_when_dynamic_is_off(pair):
    source, target = pair
    make_collection(source, "src", dynamic=True)
    make_collection(target, "dst", dynamic=False)
    source.insert("src", make_rows(40))

    run_copy(source, target, dynamic=False)

    copied = read_all(target, "dst")
    assert [row["pk"] for row in copied] == list(range(40))
    assert all(set(row) == set(FIELDS) for row in copied)


def test_it_leaves_dynamic_keys_out_of_a_dynamic_target_when_asked(pair):
    source, target = pair
    make_collection(source, "src", dynamic=True)
    make_collection(target, "dst", dynamic=True)
    source.insert("src", make_rows(40))

    run_copy(source, target, dynamic=False)

    assert all("color" not in row for row in read_all(target, "dst"))
    # With dynamic on, the same copy carries them.
    make_collection(target, "dst2", dynamic=True)
    run_copy(source, target, target_collection="dst2", dynamic=True)
    assert read_all(target, "dst2") == read_all(source, "src")


# --- cancel, resume, retry -----------------------------------------------------------------


def test_it_stops_within_one_batch_when_canceled(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(1_000))
    checkpoints: list[dict] = []

    with pytest.raises(CopyCanceled) as raised:
        run_copy(
            source,
            target,
            options=Options(batch_bytes=5_000),
            observer=Calls(
                on_checkpoint=checkpoints.append, should_cancel=lambda: len(checkpoints) >= 2
            ),
        )

    checkpoint = raised.value.checkpoint
    assert checkpoint == checkpoints[1]
    written = pks(target, "dst")
    assert 0 < len(written) == checkpoint["rows"] < 1_000
    assert written == list(range(checkpoint["partitions"]["*"] + 1))


def test_it_resumes_after_a_killed_process_without_duplicates_or_loss(pair, tmp_path):
    source, target = pair
    make_collection(source, "src", varchar_pk=True)
    make_collection(target, "dst", varchar_pk=True)
    keys = [f"k{i:05d}{HOSTILE[i % len(HOSTILE)]}" for i in range(3_000)]
    source.insert("src", make_rows(len(keys), keys=keys))
    checkpoint_file = tmp_path / "checkpoint.json"

    child = _start_copy_child(source, target, checkpoint_file, save_every=2, hold_after=1_000)
    try:
        _wait_for_rows(checkpoint_file, child, at_least=1_000)
        # Kill it while the target holds a batch its saved checkpoint does not count (the
        # child holds there).
        deadline = time.monotonic() + 30
        while len(pks(target, "dst", varchar_pk=True)) <= _saved_rows(checkpoint_file):
            assert time.monotonic() < deadline, "the child never wrote past its checkpoint"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    checkpoint = json.loads(checkpoint_file.read_text())
    assert checkpoint["rows"] < len(keys), "the child finished before it was killed"
    # The child saved every other checkpoint only, like a caller whose last save was lost.
    assert len(pks(target, "dst", varchar_pk=True)) > checkpoint["rows"]

    resumed = _start_copy_child(source, target, checkpoint_file, save_every=1, resume=True)
    assert resumed.wait(120) == 0, resumed.stderr.read()

    assert pks(target, "dst", varchar_pk=True) == sorted(keys)
    final = json.loads(checkpoint_file.read_text())
    assert final["rows"] == len(keys)
    assert target.query("dst", filter="", output_fields=["count(*)"])[0]["count(*)"] == len(keys)


def _start_copy_child(
    source, target, checkpoint_file: Path, *, save_every: int, resume=False, hold_after: int = 0
):
    """The copy in a child process saving every `save_every`-th checkpoint; once `hold_after`
    rows are saved (0: never), it stops at the next unsaved one until it is killed."""
    script = """
import json, os, signal, sys
from tests.milvus import MilvusClient
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.options import Options
from tests.engine.calls import Calls
source_uri, target_uri, path, save_every, resume, hold_after = sys.argv[1:7]
seen, saved = [0], [0]
def save(checkpoint):
    seen[0] += 1
    if seen[0] % int(save_every):
        if saved[0] >= int(hold_after):
            signal.pause()  # the target is ahead of the saved checkpoint: wait to be killed
        return
    with open(path + ".tmp", "w") as f:
        json.dump(checkpoint, f)
    os.replace(path + ".tmp", path)
    saved[0] = checkpoint["rows"]
copy_collection(
    MilvusClient(source_uri), MilvusClient(target_uri),
    CopyScope("src", "dst", "pk", True, ["pk", "vector", "title", "category"], dynamic=True),
    checkpoint=json.load(open(path)) if resume == "1" else None,
    options=Options(batch_bytes=3_000), observer=Calls(on_checkpoint=save))
"""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            _uri(source),
            _uri(target),
            str(checkpoint_file),
            str(save_every),
            "1" if resume else "0",
            str(hold_after or 10**9),
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )


def _saved_rows(path: Path) -> int:
    return json.loads(path.read_text())["rows"]


def _uri(client: MilvusClient) -> str:
    return client._config.uri  # the URI the test's client was made with


def _wait_for_rows(path: Path, child: subprocess.Popen, at_least: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, child.stderr.read()
        if path.exists():
            checkpoint = json.loads(path.read_text())
            if checkpoint["rows"] >= at_least:
                return checkpoint
        time.sleep(0.01)
    raise AssertionError("the child copy made no progress")


def test_it_retries_while_the_target_restarts(lite_factory, fresh_lite_factory):
    source = MilvusClient(lite_factory().uri)
    target_server = fresh_lite_factory()
    target = MilvusClient(target_server.uri)
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(1_000))
    restarted = []

    def bounce_target_once(checkpoint: dict) -> None:
        # Stop the target between two batches and bring it back on the same port and data:
        # the next insert, sent at once, meets UNAVAILABLE and must be retried, not fail. The
        # outage is the new process's start-up (start_lite returns once it listens: seconds).
        if restarted or checkpoint["rows"] < 200:
            return
        stop_process(target_server.proc)

        def restart():
            target_server.proc = start_lite(
                target_server.data_dir, target_server.port, target_server.data_dir / "restart.log"
            )
            restarted.append(True)

        threading.Thread(target=restart, daemon=True).start()

    retries = []
    result = run_copy(
        source,
        target,
        options=Options(batch_bytes=10_000),
        observer=Calls(on_checkpoint=bounce_target_once, on_retry=retries.append),
    )

    assert restarted
    assert result.rows == 1_000
    # The back-off was told as it happened, on this thread, and its end too.
    notes = [n for n in retries if n is not None]
    assert notes and retries[-1] is None
    first = notes[0]
    assert (first.role, first.attempt, first.attempts) == ("target", 1, DEFAULTS.retry.attempts)
    assert first.what.startswith("writing into target collection 'dst'")
    assert first.reason.startswith("UNAVAILABLE")
    assert first.delay == DEFAULTS.retry.first_delay
    target.load_collection("dst")  # a restarted Milvus Lite comes back with it released
    assert pks(target, "dst") == list(range(1_000))


# --- clear failures ------------------------------------------------------------------------


def test_it_reports_a_missing_target_collection(pair):
    source, target = pair
    make_collection(source, "src")

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, target_collection="not_there")

    assert raised.value.message == "target collection 'not_there' does not exist"


def test_it_reports_a_missing_source_collection(pair):
    source, target = pair
    make_collection(target, "dst")

    with pytest.raises(CopyError) as raised:
        run_copy(source, target)

    assert raised.value.message == "source collection 'src' does not exist"


def test_it_reports_a_missing_target_partition(pair):
    source, target = pair
    make_collection(source, "src", partitions=("p1",))
    make_collection(target, "dst")

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, partitions=["_default", "p1"])

    assert raised.value.message == "target collection 'dst' has no partition 'p1'"


def test_it_stops_with_the_reason_when_the_target_refuses_rows(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst", title_length=5)  # titles are longer than 5 characters
    source.insert("src", make_rows(10))

    with pytest.raises(CopyError) as raised:
        run_copy(source, target)

    message = raised.value.message
    assert message.startswith("writing into target collection 'dst' failed: ")
    assert "title" in message or "length" in message
    assert pks(target, "dst") == []


def test_it_rejects_a_checkpoint_of_another_copy(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    checkpoint = {"partitions": {"p9": 5}, "done_partitions": [], "rows": 5}

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, checkpoint=checkpoint)

    assert raised.value.message == (
        "the checkpoint to resume from names partitions this copy does not have: 'p9'"
    )


def test_it_rejects_a_malformed_checkpoint(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, checkpoint={"rows": 5})

    assert raised.value.message == (
        "the checkpoint to resume from is malformed: KeyError('partitions')"
    )


def test_it_rejects_a_batch_size_that_is_not_positive(pair):
    source, target = pair

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, options=Options(batch_bytes=0))

    assert raised.value.message == "batch_bytes must be positive, got 0"


def test_it_checks_the_primary_key_against_the_source_schema(pair):
    source, target = pair
    make_collection(source, "src", varchar_pk=True)
    make_collection(target, "dst", varchar_pk=True)

    with pytest.raises(CopyError) as wrong_type:
        run_copy(source, target, pk_is_varchar=False)
    with pytest.raises(CopyError) as wrong_name:
        run_copy(source, target, pk_field="title", read_fields=["title", "pk"], pk_is_varchar=True)

    assert wrong_type.value.message == "the primary key 'pk' of source collection 'src' is VARCHAR"
    assert (
        wrong_name.value.message
        == "the primary key of source collection 'src' is 'pk', not 'title'"
    )


def test_it_requires_the_primary_key_among_the_read_fields(pair):
    source, target = pair

    with pytest.raises(CopyError) as raised:
        run_copy(source, target, read_fields=["vector", "title"])

    assert raised.value.message == "read_fields must include the primary key field 'pk'"


# --- Milvus 2.3 standalone as the source ---------------------------------------------------


@pytest.mark.standalone
def test_it_copies_from_a_milvus_standalone(standalone, lite_server):
    source = MilvusClient(standalone.uri, token=standalone.token)
    target = MilvusClient(lite_server.uri)
    name = f"copy_src_{os.getpid()}"
    source.drop_collection(name)
    make_collection(source, name, partitions=("p1",))
    make_collection(target, "dst", partitions=("p1",))
    try:
        # More rows than one query may return there (16,384), in two partitions.
        for start in range(0, 18_000, 6_000):
            source.insert(name, make_rows(6_000, start=start), partition_name="_default")
        source.insert(name, make_rows(500, start=18_000), partition_name="p1")
        source.flush(name)
        source.load_collection(name)

        result = run_copy(source, target, source_collection=name, partitions=["_default", "p1"])

        assert result.partition_rows == {"_default": 18_000, "p1": 500}
        assert pks(target, "dst", partition="p1") == list(range(18_000, 18_500))
        copied = target.query("dst", filter="pk in [0, 7, 17999]", output_fields=["*"])
        original = source.query(name, filter="pk in [0, 7, 17999]", output_fields=["*"])
        assert sorted(map(dict, copied), key=lambda r: r["pk"]) == sorted(
            map(dict, original), key=lambda r: r["pk"]
        )
        assert target.query("dst", filter="", output_fields=["count(*)"])[0]["count(*)"] == 18_500
    finally:
        source.drop_collection(name)


def test_it_paces_every_batch_and_keeps_batches_to_the_row_limit(pair):
    """A speed cap: batches of at most `batch_rows`, each asked `pace` before it is written
    and held back as long as it answers, cancel-aware."""
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(1_000))
    asked: list[tuple[int, int]] = []
    written: list[int] = []

    def pace(rows: int, size: int) -> float:
        asked.append((rows, size))
        return 0.3 if len(asked) == 2 else 0.0

    started = time.monotonic()
    result = run_copy(
        source,
        target,
        options=Options(batch_rows=120),
        observer=Calls(pace=pace, on_progress=lambda p: written.append(p.rows)),
    )

    assert pks(target, "dst") == list(range(1_000)) and result.rows == 1_000
    assert max(rows for rows, _ in asked) == 120 and sum(rows for rows, _ in asked) == 1_000
    assert all(size > 0 for _, size in asked) and len(written) == len(asked)
    assert time.monotonic() - started >= 0.3  # the second batch waited


def test_it_stops_a_paced_wait_when_canceled(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")
    source.insert("src", make_rows(200))
    paced = threading.Event()

    def pace(rows: int, size: int) -> float:
        paced.set()
        return 60.0

    started = time.monotonic()
    with pytest.raises(CopyCanceled):
        run_copy(source, target, observer=Calls(pace=pace, should_cancel=paced.is_set))

    assert paced.is_set() and time.monotonic() - started < 10
    assert pks(target, "dst") == []


def test_it_refuses_a_batch_row_limit_below_one(pair):
    source, target = pair
    make_collection(source, "src")
    make_collection(target, "dst")

    with pytest.raises(CopyError, match="batch_rows must be positive, got 0"):
        run_copy(source, target, options=Options(batch_rows=0))
