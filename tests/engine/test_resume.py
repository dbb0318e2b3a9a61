"""Resuming a copy or a migration after its worker died: no row lost, none duplicated, on
Milvus Lite and on the Milvus 2.3 standalone, whose freshly created target collection is not
loaded (so it can be neither queried nor deleted from by filter).

A dying run is simulated the way it really happens: the copy runs, the caller's last saved
checkpoints are lost, the worker dies in a callback, and rows past the saved checkpoint are in
the target (some written by the run itself, more added here as an unreported batch would be).
"""

from __future__ import annotations

import os

import pytest

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.checkpoint import initial_checkpoint
from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyError
from migrations_app.engine.filters import pk_after_filter, pk_in_filter
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple, vector
from tests.milvus import MilvusClient

ROWS = 600
FIELDS = ["pk", "vec", "title", "category"]


class WorkerDied(Exception):
    pass


def all_keys(client: MilvusClient, name: str, varchar: bool) -> list:
    rows = client.query(
        name,
        filter=pk_after_filter("pk", None, varchar),
        output_fields=["pk"],
        limit=16_384,
        consistency_level="Strong",
    )
    return sorted(row["pk"] for row in rows)


def stored_rows(client: MilvusClient, name: str) -> int:
    """Every stored row, duplicates included (count(*) counts each insert of a key)."""
    answer = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return answer[0]["count(*)"]


def copy(source, target, src_name, dst_name, varchar, partitions=None, **arguments):
    scope = CopyScope(src_name, dst_name, "pk", varchar, FIELDS, partitions=partitions)
    return copy_collection(source, target, scope, options=Options(batch_bytes=6_000), **arguments)


def crash_after_batches(
    source, target, src_name, dst_name, varchar, batches: int, partitions=None
) -> list[dict]:
    """Run a copy whose worker dies after `batches` batches; return every checkpoint reported."""
    checkpoints: list[dict] = []

    def save(checkpoint: dict) -> None:
        checkpoints.append(checkpoint)
        if len(checkpoints) == batches:
            raise WorkerDied

    with pytest.raises(WorkerDied):
        copy(
            source,
            target,
            src_name,
            dst_name,
            varchar,
            partitions,
            observer=Calls(on_checkpoint=save),
        )
    return checkpoints


def write_unreported_batch(source, target, src_name, dst_name, varchar, after, rows: int):
    """What a dying run's last, never checkpointed, batch leaves: the next source rows."""
    keys = all_keys(source, src_name, varchar)
    following = [k for k in keys if k > after][:rows]
    data = source.query(
        src_name, filter=pk_in_filter("pk", following, varchar), output_fields=FIELDS
    )
    target.insert(dst_name, [dict(row) for row in data])


def resume_exactly(
    source, target, src_name, dst_name, varchar, *, partitions=None, rows=ROWS, load_after=None
):
    """Crash, add an unreported batch, resume from an older checkpoint; check the result.
    With `partitions`, the crash happens in the first one (the unreported batch goes there)."""
    checkpoints = crash_after_batches(
        source, target, src_name, dst_name, varchar, batches=5, partitions=partitions
    )
    last_written = checkpoints[-1]["partitions"][partitions[0] if partitions else "*"]
    write_unreported_batch(source, target, src_name, dst_name, varchar, last_written, rows=25)
    saved = checkpoints[1]  # the caller's later saves were lost
    assert 0 < saved["rows"] < checkpoints[-1]["rows"]

    result = copy(source, target, src_name, dst_name, varchar, partitions, checkpoint=saved)

    if load_after is not None:
        load_after()
    assert result.rows == rows and result.resumed_rows == saved["rows"]
    assert result.upserted_rows >= checkpoints[-1]["rows"] - saved["rows"] + 25
    assert all_keys(target, dst_name, varchar) == all_keys(source, src_name, varchar)
    assert stored_rows(target, dst_name) == rows
    return result


# --- Milvus Lite ---------------------------------------------------------------------------


@pytest.mark.parametrize("varchar", [False, True])
def test_it_resumes_into_a_loaded_lite_target_without_duplicates(pair, varchar):
    source, target = pair
    name = f"loaded_{int(varchar)}"
    create_simple(source, name, rows=ROWS, varchar_pk=varchar)
    create_simple(target, name, varchar_pk=varchar, index=False)

    result = resume_exactly(source, target, name, name, varchar)

    # The target could be queried: only the uncertain range was upserted, the rest inserted.
    assert result.upserted_rows < ROWS - 100


def test_it_resumes_from_the_checkpoint_saved_at_creation(pair):
    source, target = pair
    create_simple(source, "from_zero", rows=ROWS)
    create_simple(target, "from_zero", index=False)
    crash_after_batches(source, target, "from_zero", "from_zero", False, batches=2)

    result = copy(source, target, "from_zero", "from_zero", False, checkpoint=initial_checkpoint())

    assert result.rows == ROWS and result.resumed_rows == 0
    assert stored_rows(target, "from_zero") == ROWS


def test_it_gives_every_copy_error_a_checkpoint(pair):
    source, target = pair
    create_simple(source, "refused", rows=20)
    with pytest.raises(CopyError) as missing:
        copy(source, target, "refused", "not_there", False)
    with pytest.raises(CopyError) as resumed:
        copy(source, target, "refused", "not_there", False, checkpoint=initial_checkpoint())

    assert missing.value.checkpoint == resumed.value.checkpoint == initial_checkpoint()


def test_it_gives_a_failed_migration_the_checkpoint_saved_at_creation(pair):
    source, target = pair
    create_simple(source, "vanished", rows=20)
    info, spec = planned(source, target, "vanished")

    def drop_target(checkpoint: dict) -> None:
        target.drop_collection("vanished")  # someone drops it before the first batch

    with pytest.raises(CopyError) as raised:
        migrate_collection(source, target, info, spec, observer=Calls(on_checkpoint=drop_target))

    assert raised.value.message == "target collection 'vanished' does not exist"
    assert raised.value.checkpoint == initial_checkpoint()


def planned(source, target, name):
    info = describe_collection(source, name)
    return info, require_ok(plan(info, SchemaChoices(), target))


def die_after_the_first_batch(source, target, info, spec):
    """A migration whose worker dies right after its first batch, before saving its
    checkpoint: only the checkpoint saved at creation (0 rows) survives."""
    saved: list[dict] = []
    phases: list[str] = []
    counts: list[int] = []

    def save(checkpoint: dict) -> None:
        if saved:
            raise WorkerDied
        saved.append(checkpoint)

    with pytest.raises(WorkerDied):
        migrate_collection(
            source,
            target,
            info,
            spec,
            options=Options(batch_bytes=6_000),
            observer=Calls(
                on_checkpoint=save, on_phase=phases.append, on_source_count=counts.append
            ),
        )
    assert phases == ["CREATING", "COPYING"]
    assert counts == [ROWS]
    assert saved == [initial_checkpoint()]
    return saved[0]


def test_it_resumes_a_migration_that_died_before_its_first_checkpoint(pair):
    source, target = pair
    create_simple(source, "died_early", rows=ROWS)
    info, spec = planned(source, target, "died_early")
    checkpoint = die_after_the_first_batch(source, target, info, spec)
    phases: list[str] = []

    report = migrate_collection(
        source, target, info, spec, checkpoint=checkpoint, observer=Calls(on_phase=phases.append)
    )

    assert phases == ["CREATING", "COPYING", "INDEXING", "VERIFYING"]
    assert report.verified, report.summary()
    assert (report.target_count, report.duplicate_keys) == (ROWS, 0)


# --- Milvus 2.3 standalone as the target: its new collection is not loaded ------------------


@pytest.fixture
def milvus(standalone):
    client = connect(standalone.uri, token=standalone.token)
    yield client
    client.close()


def drop(client: MilvusClient, name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)


def load_for_reading(client: MilvusClient, name: str):
    def load() -> None:
        index = client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="IP")
        client.create_index(name, index)
        client.load_collection(name)

    return load


@pytest.mark.standalone
@pytest.mark.parametrize("layout", ["int", "varchar", "partition_key", "partitions"])
def test_it_resumes_into_an_unloaded_standalone_collection(pair, milvus, layout):
    source, _ = pair
    name = f"resume_unloaded_{layout}_{os.getpid()}"
    varchar = layout == "varchar"
    keyed = layout == "partition_key"
    partitions = ["_default", "p1"] if layout == "partitions" else None
    drop(milvus, name)
    explicit = ("p1",) if partitions else ()
    create_simple(
        source, name, rows=ROWS, varchar_pk=varchar, partition_key=keyed, partitions=explicit
    )
    rows = ROWS
    if partitions:
        extra = [
            {"pk": i, "vec": vector(i), "title": f"title {i}", "category": i % 4}
            for i in range(ROWS, ROWS + 150)
        ]
        source.insert(name, extra, partition_name="p1")
        rows += len(extra)
    create_simple(
        milvus, name, varchar_pk=varchar, partition_key=keyed, partitions=explicit, index=False
    )
    try:
        assert milvus.get_load_state(name)["state"].name == "NotLoad"

        result = resume_exactly(
            source,
            milvus,
            name,
            name,
            varchar,
            partitions=partitions,
            rows=rows,
            load_after=load_for_reading(milvus, name),
        )

        assert result.upserted_rows == rows - result.resumed_rows
        if partitions:
            in_p1 = milvus.query(
                name,
                filter="",
                output_fields=["count(*)"],
                partition_names=["p1"],
                consistency_level="Strong",
            )
            assert in_p1[0]["count(*)"] == 150
    finally:
        drop(milvus, name)
        drop(source, name)


@pytest.mark.standalone
def test_it_resumes_a_migration_into_the_standalone_from_the_creation_checkpoint(pair, milvus):
    source, _ = pair
    name = f"died_early_{os.getpid()}"
    drop(milvus, name)
    create_simple(source, name, rows=ROWS)
    try:
        info, spec = planned(source, milvus, name)
        checkpoint = die_after_the_first_batch(source, milvus, info, spec)
        assert milvus.get_load_state(name)["state"].name == "NotLoad"

        report = migrate_collection(source, milvus, info, spec, checkpoint=checkpoint)

        assert report.verified, report.summary()
        assert (report.target_count, report.duplicate_keys) == (ROWS, 0)
    finally:
        drop(milvus, name)
