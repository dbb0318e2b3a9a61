"""The version matrix: every Milvus release PyPI's `milvus` package has that the console works
with, as a source copied into Milvus Lite and compared row for row; 2.3.0 and 2.2.16 as targets;
2.2.8 refused by name. (PyPI has no `milvus` wheel of 2.4 or later: those cannot run here.)

The releases run one at a time in this test process (tests/servers.py StandaloneHost: their
embedded etcds share ports), after every other standalone test (tests/conftest.py), each
started once: the tests are written in release order, newest first, and 2.3.5 is the session's
own standalone. A release that cannot be had (tests/milvus_versions.py) skips its tests with the
reason, and `make test` names it in its summary.
"""

from __future__ import annotations

import os
import time

import pytest
from pymilvus import DataType

from migrations_app.engine.capabilities import capabilities
from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import client_for_database, connect
from migrations_app.engine.counting import count_rows, has_count
from migrations_app.engine.errors import ServerTooOld
from migrations_app.engine.filters import INT64_MAX
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from tests import milvus_versions
from tests.engine.calls import Calls
from tests.milvus import MilvusClient

ROWS = 1_200
DIM = 8
NAME = f"matrix_{os.getpid()}"


@pytest.fixture
def server(request, standalone_host):
    """The standalone of the release the test names (`@pytest.mark.parametrize("server",
    [...], indirect=True)`), started if another one runs."""
    version = request.param
    try:
        milvus_versions.obtain(version)
    except milvus_versions.Unavailable as error:
        pytest.skip(str(error))
    return standalone_host.run(version)


def releases(*versions: str):
    return pytest.mark.parametrize("server", versions, indirect=True)


@pytest.fixture
def lite(lite_server):
    client = connect(lite_server.uri)
    yield client
    client.close()


@pytest.fixture
def milvus(server):
    client = connect(server.uri, token=server.token)
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    yield client
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    client.close()


def schema(dynamic: bool = True):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=dynamic)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    schema.add_field("doc", DataType.JSON)
    return schema


def row(i: int) -> dict:
    return {
        "id": i * 7 - 5_000,  # negative keys too, not in insertion order below
        "vec": [((i * 31 + d) % 97) / 97.0 for d in range(DIM)],
        "title": f'title {i} "quoted" \\ back',
        "doc": {"i": i, "tags": ["a", i % 5], "nested": {"even": i % 2 == 0}},
        "colour": ["red", "green", "blue"][i % 3],  # dynamic
    }


def fill(client: MilvusClient, name: str, rows: list[dict]) -> None:
    """`rows` in two segments (a flush between), later keys first."""
    index = client.prepare_index_params()
    index.add_index("vec", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 16})
    client.create_collection(name, schema=schema(), index_params=index)
    half = len(rows) // 2
    client.insert(name, rows[half:])
    client.flush(name)
    client.insert(name, rows[:half])
    client.flush(name)


def every_row(client: MilvusClient, name: str) -> dict:
    """Every row with its dynamic keys, by key (a filter: Milvus 2.2 refuses an empty one)."""
    rows = client.query(
        name,
        filter=f"id <= {INT64_MAX}",
        # Named: Milvus 2.2 leaves vectors out of "*".
        output_fields=["id", "vec", "title", "doc", "colour"],
        limit=16_000,
        consistency_level="Strong",
    )
    return {r["id"]: dict(r) for r in rows}


def copy_into_lite(milvus: MilvusClient, lite: MilvusClient) -> None:
    rows = [row(i) for i in range(ROWS)]
    fill(milvus, NAME, rows)
    info = describe_collection(milvus, NAME)
    spec = require_ok(plan(info, SchemaChoices(), lite, source_client=milvus))

    report = migrate_collection(
        milvus, lite, info, spec, options=Options(batch_bytes=60_000, load=True)
    )

    assert report.verified, report.summary()
    assert (report.source_count, report.target_count) == (ROWS, ROWS)
    milvus.load_collection(NAME)  # the migration released the source again
    copied, original = every_row(lite, NAME), every_row(milvus, NAME)
    assert len(copied) == ROWS
    assert copied == original
    assert original[row(5)["id"]]["colour"] == "blue"


# --- 2.3.5: the session's standalone ----------------------------------------------------------


@releases("2.3.5")
def test_it_copies_milvus_2_3_5_into_lite_row_for_row(server, milvus, lite):
    copy_into_lite(milvus, lite)


@releases("2.3.5")
def test_it_probes_what_milvus_2_3_5_can_do(server, milvus):
    milvus.create_collection(NAME, dimension=DIM)

    probed = capabilities(milvus)

    assert (probed.reported, probed.release) == ("v2.3.5-lite", (2, 3, 5))
    assert (probed.databases, probed.upsert) == (True, True)
    assert has_count(milvus, NAME, "id", False)


HIDDEN = (
    "Milvus stores and counts a row keyed 9223372036854775807 (2**63-1) but no query returns it"
)


@releases("2.3.5")
def test_it_names_the_key_a_milvus_source_will_not_return(server, milvus, lite):
    fill(milvus, NAME, [row(i) for i in range(200)] + [row(200) | {"id": INT64_MAX}])
    info = describe_collection(milvus, NAME)
    spec = require_ok(plan(info, SchemaChoices(), lite))

    report = migrate_collection(milvus, lite, info, spec)

    assert not report.verified
    assert f"row id=9223372036854775807 of the source cannot be copied: {HIDDEN}" in (
        report.mismatches
    )
    assert report.target_count == 200


@releases("2.3.5")
def test_it_reports_no_duplicate_for_the_key_a_milvus_target_will_not_return(server, milvus, lite):
    lite.create_collection(NAME, schema=schema())
    lite.insert(NAME, [row(i) for i in range(200)] + [row(200) | {"id": INT64_MAX}])
    info = describe_collection(lite, NAME)
    spec = require_ok(plan(info, SchemaChoices(), milvus))

    report = migrate_collection(lite, milvus, info, spec, options=Options(load=True))

    assert (report.source_count, report.target_count, report.duplicate_keys) == (201, 201, 0)
    assert not [line for line in report.mismatches if "duplicate" in line]
    assert (
        f"row id=9223372036854775807 is stored on the target but cannot be verified: {HIDDEN}"
        in (report.mismatches)
    )


# --- 2.3.0: reports "v2.2-testing-…" ------------------------------------------------------------


@releases("2.3.0")
def test_it_copies_milvus_2_3_0_into_lite_row_for_row(server, milvus, lite):
    copy_into_lite(milvus, lite)


@releases("2.3.0")
def test_it_takes_milvus_2_3_0_for_what_it_has_not_what_it_reports(server, milvus):
    probed = capabilities(milvus)

    assert probed.reported.startswith("v2.2-testing-")
    assert probed.release == (2, 3, 0) and probed.label == "Milvus 2.3.0"
    assert (probed.databases, probed.upsert) == (True, True)


@releases("2.3.0")
def test_it_migrates_json_and_dynamic_fields_into_a_new_database_of_milvus_2_3_0(
    server, milvus, lite
):
    rows = [row(i) for i in range(300)]
    lite.create_collection(NAME, schema=schema())
    lite.insert(NAME, rows)
    info = describe_collection(lite, NAME)
    result = plan(info, SchemaChoices(target_db="db3"), milvus, source_client=lite)
    assert result.findings == []
    assert "database db3 does not exist on the target and will be created" in result.warnings

    report = migrate_collection(lite, milvus, info, require_ok(result), options=Options(load=True))

    assert report.verified, report.summary()
    db3 = client_for_database(milvus, "db3")
    try:
        assert describe_collection(db3, NAME).enable_dynamic_field
        assert every_row(db3, NAME) == every_row(lite, NAME)
        db3.drop_collection(NAME)
    finally:
        db3.close()


# --- 2.2.16: no count(*), no Upsert -------------------------------------------------------------


@releases("2.2.16")
def test_it_copies_milvus_2_2_16_into_lite_row_for_row_without_count(server, milvus, lite):
    copy_into_lite(milvus, lite)

    probed = capabilities(milvus)
    assert probed.reported == "v2.2.16-lite" and probed.release == (2, 2, 16)
    assert (probed.databases, probed.upsert, probed.count) == (True, False, False)


class WorkerDied(Exception):
    pass


@releases("2.2.16")
def test_a_resume_into_milvus_2_2_16_leaves_every_key_once(server, milvus, lite):
    rows = [row(i) for i in range(ROWS)]
    lite.create_collection(NAME, schema=schema())
    lite.insert(NAME, rows)
    info = describe_collection(lite, NAME)
    spec = require_ok(plan(info, SchemaChoices(), milvus))
    saved: list[dict] = []

    def die_after_four_batches(checkpoint: dict) -> None:
        saved.append(checkpoint)
        if len(saved) == 5:  # the creation's, then four batches
            raise WorkerDied

    with pytest.raises(WorkerDied):
        migrate_collection(
            lite,
            milvus,
            info,
            spec,
            options=Options(batch_bytes=20_000),
            observer=Calls(on_checkpoint=die_after_four_batches),
        )
    # The caller kept only the second batch's checkpoint: batches 3 and 4 are on the target
    # and are written again (their keys deleted, then inserted: 2.2 has no Upsert).
    written_before = saved[-1]["rows"]
    resumed_from = saved[2]
    assert 0 < resumed_from["rows"] < written_before
    milvus.flush(NAME)
    # Those rows are stored: inserted again without their keys deleted first, they would be
    # there twice.
    assert int(milvus.get_collection_stats(NAME)["row_count"]) == written_before

    report = migrate_collection(
        lite,
        milvus,
        info,
        spec,
        checkpoint=resumed_from,
        options=Options(batch_bytes=20_000, load=True),
    )

    assert report.verified, report.summary()
    assert (report.target_count, report.duplicate_keys) == (ROWS, 0)
    assert every_row(milvus, NAME) == every_row(lite, NAME)
    # Queries and the verification see each key once even when it is stored twice (queries
    # answer a key once; 2.2 has no count(*)). The statistics count every stored row, deleted
    # ones until compaction: compacted, they show each key stored once.
    assert stored_after_compaction(milvus, NAME, ROWS) == ROWS


def stored_after_compaction(client: MilvusClient, name: str, expected: int) -> int:
    """The rows the statistics count once compacted. A compaction applies the deletes of the
    segments its plan takes, which may leave some for the next, and a busy server may plan
    nothing for a while: compacted again until the count is `expected`, or it has not changed
    for 30 s of rounds (a key stored twice stays counted twice), or 2 minutes have passed."""
    deadline = time.monotonic() + 120
    last, changed_at = None, time.monotonic()
    while True:
        client.flush(name)
        job = client.compact(name)
        while client.get_compaction_state(job) != "Completed":
            assert time.monotonic() < deadline, "the compaction did not end within 2 minutes"
            time.sleep(0.5)
        stored = int(client.get_collection_stats(name)["row_count"])
        now = time.monotonic()
        if stored != last:
            last, changed_at = stored, now
        if stored == expected or now - changed_at > 30 or now > deadline:
            return stored
        time.sleep(1)


@releases("2.2.16")
def test_it_counts_rows_of_milvus_2_2_16_by_their_keys(server, milvus):
    fill(milvus, NAME, [row(i) for i in range(500)])
    milvus.load_collection(NAME)

    assert count_rows(milvus, NAME, pk="id") == 500
    assert not has_count(milvus, NAME, "id", False)


# --- 2.2.8: no Connect -----------------------------------------------------------------------


@releases("2.2.8")
def test_it_refuses_milvus_2_2_8_as_too_old_by_name(server):
    with pytest.raises(ServerTooOld) as raised:
        connect(server.uri, token=server.token)

    assert raised.value.message.startswith(
        "Milvus 2.2.8 is too old for this console: 2.2.9 or later is needed"
    )
    assert "not a Milvus server" not in raised.value.message
