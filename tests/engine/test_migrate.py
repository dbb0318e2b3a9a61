"""migrate_collection round trips: plan check → create → copy → finalize → verify, real servers.

Milvus Lite → Milvus Lite for most type families (one pair of servers for the module, one
collection per test), the Milvus 2.3 standalone (authorization on) as a source, and the
standalone into another of its own databases for the vector types Milvus Lite lacks.
"""

from __future__ import annotations

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import client_for_database, connect
from migrations_app.engine.errors import CopyCanceled, CopyError, PlanError
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices, TargetSpec
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from tests.engine.calls import Calls
from tests.engine.sample_data import (
    create_bm25,
    create_simple,
    read_rows,
    scalar_row,
    schema_with_every_scalar,
    vector,
)
from tests.milvus import MilvusClient


def planned(source: MilvusClient, target: MilvusClient, name: str, **choices) -> tuple:
    info = describe_collection(source, name)
    result = plan(info, SchemaChoices(**choices), target, source_client=source)
    return info, require_ok(result), result.warnings


def drop_if_exists(client: MilvusClient, name: str) -> None:
    # The standalone lives for the whole session: leave other tests' collections alone.
    if client.has_collection(name):
        client.drop_collection(name)


def migrate(source, target, name, **choices):
    info, spec, _ = planned(source, target, name, **choices)
    report = migrate_collection(source, target, info, spec, options=Options(load=True))
    return info, spec, report


def test_it_copies_every_scalar_array_json_and_float_vector_type_with_nulls_and_defaults(pair):
    source, target = pair
    source.create_collection("every_type", schema=schema_with_every_scalar())
    source.insert("every_type", [scalar_row(i) for i in range(60)])

    _, _, report = migrate(source, target, "every_type")

    assert report.verified, report.summary()
    assert (report.source_count, report.target_count, report.rows_compared) == (60, 60, 60)
    assert read_rows(target, "every_type") == read_rows(source, "every_type")
    copied = read_rows(target, "every_type")
    assert copied[3]["maybe"] is None and copied[4]["maybe"] == 4
    assert copied[0]["label"] == "unset"  # the default value, kept as stored
    target_info = describe_collection(target, "every_type")
    assert target_info.field("maybe").nullable
    assert target_info.field("label").default_value == "unset"


def test_it_copies_sparse_vectors(pair):
    source, target = pair
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    index = source.prepare_index_params()
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    source.create_collection("sparse", schema=schema, index_params=index)
    rows = [{"id": i, "sp": {i: 0.5, 1000 + i * 7: 1.25, 99_999: 0.125 * i}} for i in range(1, 40)]
    source.insert("sparse", rows)

    _, _, report = migrate(source, target, "sparse")

    assert report.verified, report.summary()
    copied = read_rows(target, "sparse")
    assert {k: dict(v["sp"]) for k, v in copied.items()} == {r["id"]: r["sp"] for r in rows}
    assert [i.index_type for i in describe_collection(target, "sparse").indexes] == [
        "SPARSE_INVERTED_INDEX"
    ]


def test_it_keeps_the_keys_of_an_auto_id_collection(pair):
    source, target = pair
    rows = create_simple(source, "auto_keys", rows=30, auto_id=True)

    info, spec, warnings = planned(source, target, "auto_keys")
    report = migrate_collection(source, target, info, spec, options=Options(load=True))

    assert any("auto_id" in w and "keeps the source's key values" in w for w in warnings)
    assert report.verified, report.summary()
    assert set(read_rows(target, "auto_keys", pk="pk")) == {row["pk"] for row in rows}
    assert not describe_collection(target, "auto_keys").auto_id


def test_it_copies_explicit_partitions_including_empty_ones(pair):
    source, target = pair
    create_simple(source, "parted", partitions=("north", "south", "empty"))
    source.insert(
        "parted",
        [{"pk": i, "vec": vector(i), "title": "n", "category": 1} for i in range(10)],
        partition_name="north",
    )
    source.insert(
        "parted",
        [{"pk": i, "vec": vector(i), "title": "s", "category": 2} for i in range(10, 25)],
        partition_name="south",
    )
    source.insert("parted", [{"pk": 99, "vec": vector(99), "title": "d", "category": 3}])

    _, _, report = migrate(source, target, "parted")

    assert report.verified, report.summary()
    assert report.partitions == {
        "_default": {"source": 1, "target": 1},
        "north": {"source": 10, "target": 10},
        "south": {"source": 15, "target": 15},
        "empty": {"source": 0, "target": 0},
    }
    assert sorted(target.list_partitions("parted")) == ["_default", "empty", "north", "south"]
    south = read_rows(target, "parted", pk="pk", partition_names=["south"])
    assert sorted(south) == list(range(10, 25))


def test_it_copies_a_partition_key_collection(pair):
    source, target = pair
    create_simple(source, "keyed", rows=40, partition_key=True)

    _, _, report = migrate(source, target, "keyed")

    assert report.verified, report.summary()
    info = describe_collection(target, "keyed")
    assert info.partition_key == "category"
    assert (
        target.query("keyed", filter="category == 2", output_fields=["count(*)"])[0]["count(*)"]
        == 10
    )


def test_it_sets_a_new_partition_key_instead_of_explicit_partitions(pair):
    source, target = pair
    create_simple(source, "to_key", rows=12, partitions=("old",))

    info, spec, warnings = planned(source, target, "to_key", partition_key="category")
    report = migrate_collection(source, target, info, spec)

    assert any(
        "partition key category replaces explicit partitions" in w and "old" in w for w in warnings
    )
    assert report.verified, report.summary()
    assert describe_collection(target, "to_key").partition_key == "category"


def test_it_carries_dynamic_fields_including_nested_json(pair):
    source, target = pair
    rows = create_simple(source, "dynamic", rows=20, dynamic=True)

    _, _, report = migrate(source, target, "dynamic")

    assert report.verified, report.summary()
    copied = read_rows(target, "dynamic", pk="pk")
    assert copied[5]["color"] == rows[5]["color"]
    assert copied[5]["meta"] == {"i": 5, "tags": ["t", 5]}


def test_it_drops_dynamic_keys_when_the_dynamic_field_is_turned_off(pair):
    source, target = pair
    create_simple(source, "undynamic", rows=10, dynamic=True)

    info, spec, warnings = planned(source, target, "undynamic", enable_dynamic_field=False)
    report = migrate_collection(source, target, info, spec, options=Options(load=True))

    assert "dynamic field off: 2 dynamic keys will be dropped" in " ".join(warnings)
    assert report.verified, report.summary()
    assert "color" not in read_rows(target, "undynamic", pk="pk")[3]
    assert not describe_collection(target, "undynamic").enable_dynamic_field


def test_it_copies_varchar_keys_with_quotes_backslashes_and_non_ascii(pair):
    source, target = pair
    keys = ['a"b', "c'd", "e\\f", "日本語", 'x\\"y', "z\n", "\\", '"', "tab\tend", "ünï", "plain"]
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=50)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    source.create_collection("hostile", schema=schema)
    source.insert("hostile", [{"key": k, "vec": vector(i)} for i, k in enumerate(keys)])

    _, _, report = migrate(source, target, "hostile")

    assert report.verified, report.summary()
    assert report.rows_compared == len(keys)
    assert sorted(read_rows(target, "hostile", pk="key")) == sorted(keys)


def test_it_copies_an_empty_collection(pair):
    source, target = pair
    create_simple(source, "empty_one", rows=0)

    _, _, report = migrate(source, target, "empty_one")

    assert report.verified, report.summary()
    assert (report.source_count, report.target_count) == (0, 0)
    assert target.has_collection("empty_one")


def test_it_copies_between_databases_creating_the_target_database(pair, servers):
    source, target = pair
    source.create_database("sales")
    sales = connect(servers[0].uri, db_name="sales")
    try:
        create_simple(sales, "orders", rows=15)
        create_simple(source, "orders", rows=3)  # same name in another database: not copied

        info, spec, warnings = planned(sales, target, "orders", target_db="archive")
        report = migrate_collection(sales, target, info, spec, options=Options(load=True))
    finally:
        sales.close()

    assert "database archive does not exist on the target and will be created" in warnings
    assert report.verified, report.summary()
    assert report.target == "archive.orders"
    archive = client_for_database(target, "archive")
    try:
        assert len(read_rows(archive, "orders", pk="pk")) == 15
    finally:
        archive.close()


def test_it_recreates_bm25_functions_without_copying_their_output(pair):
    source, target = pair
    create_bm25(source, "articles", ["milvus moves vectors", "cats sleep", "vectors of cats"])

    info, spec, _ = planned(source, target, "articles")
    report = migrate_collection(source, target, info, spec, options=Options(load=True))

    assert "sparse" not in spec.read_fields
    assert report.verified, report.summary()
    copied = describe_collection(target, "articles")
    assert [(f.name, f.type) for f in copied.functions] == [("body_bm25", "BM25")]
    hits = target.search(
        "articles", data=["vectors"], anns_field="sparse", limit=5, output_fields=["id"]
    )
    assert sorted(hit["id"] for hit in hits[0]) == [0, 2]


def test_it_copies_more_rows_than_several_batches(pair):
    source, target = pair
    create_simple(source, "batched", rows=600, dynamic=True)
    checkpoints = []

    info, spec, _ = planned(source, target, "batched")
    report = migrate_collection(
        source,
        target,
        info,
        spec,
        options=Options(batch_bytes=8_000),
        observer=Calls(on_checkpoint=checkpoints.append),
    )

    assert report.verified, report.summary()
    assert len(checkpoints) > 5
    assert checkpoints[-1]["rows"] == 600


def test_it_rebuilds_the_source_index_and_loads_when_asked(pair):
    source, target = pair
    create_simple(source, "indexed", rows=20)

    info, spec, _ = planned(source, target, "indexed")
    migrate_collection(source, target, info, spec, options=Options(load=True))

    copied = describe_collection(target, "indexed")
    assert [(i.field_name, i.index_type, i.metric_type) for i in copied.indexes] == [
        ("vec", "IVF_FLAT", "IP")
    ]
    assert copied.load_state == "Loaded"


def test_it_cancels_within_a_batch_and_drops_the_incomplete_target(pair):
    source, target = pair
    create_simple(source, "canceled", rows=300)
    info, spec, _ = planned(source, target, "canceled")
    written = []

    with pytest.raises(CopyCanceled) as caught:
        migrate_collection(
            source,
            target,
            info,
            spec,
            options=Options(batch_bytes=4_000),
            observer=Calls(on_progress=written.append, should_cancel=lambda: len(written) >= 2),
        )

    assert "canceled" in caught.value.message
    assert len(written) == 2
    assert not target.has_collection("canceled")


def test_it_resumes_from_a_checkpoint_after_a_failure(pair):
    source, target = pair
    create_simple(source, "resumed", rows=400)
    info, spec, _ = planned(source, target, "resumed")
    saved = []

    def crash_after_three(checkpoint):
        saved.append(checkpoint)
        if len(saved) == 3:
            raise CopyError("worker lost", checkpoint=checkpoint)

    with pytest.raises(CopyError):
        migrate_collection(
            source,
            target,
            info,
            spec,
            options=Options(batch_bytes=4_000),
            observer=Calls(on_checkpoint=crash_after_three),
        )
    assert 0 < saved[-1]["rows"] < 400

    report = migrate_collection(
        source, target, info, spec, checkpoint=saved[-1], options=Options(batch_bytes=4_000)
    )

    assert report.verified, report.summary()
    assert report.target_count == 400 and report.duplicate_keys == 0


def test_it_refuses_to_resume_when_the_target_collection_is_gone(pair):
    source, target = pair
    create_simple(source, "gone", rows=5)
    info, spec, _ = planned(source, target, "gone")

    with pytest.raises(PlanError) as caught:
        migrate_collection(source, target, info, spec, checkpoint={"rows": 1})

    assert "cannot resume: collection gone no longer exists" in caught.value.message


def test_it_refuses_to_start_when_the_target_name_was_taken_meanwhile(pair):
    source, target = pair
    create_simple(source, "taken", rows=5)
    info, spec, _ = planned(source, target, "taken")
    create_simple(target, "taken", rows=2)

    with pytest.raises(PlanError) as caught:
        migrate_collection(source, target, info, spec)

    assert "collection taken already exists in database default of the target" in (
        caught.value.message
    )
    assert target.query("taken", filter="", output_fields=["count(*)"])[0]["count(*)"] == 2


def test_it_serialises_the_spec_it_runs_from(pair):
    source, target = pair
    create_simple(source, "stored", rows=7, partitions=("p",))
    info, spec, _ = planned(source, target, "stored")

    # What Django stores and reloads for a Celery task.
    reloaded = TargetSpec.from_dict(spec.to_dict())
    report = migrate_collection(source, target, info.from_dict(info.to_dict()), reloaded)

    assert reloaded == spec
    assert report.verified, report.summary()


@pytest.mark.standalone
def test_it_copies_from_the_standalone_with_its_token(standalone, servers):
    source = connect(standalone.uri, token=standalone.token)
    target = connect(servers[1].uri)
    try:
        drop_if_exists(source, "from_milvus")
        rows = create_simple(
            source, "from_milvus", rows=50, dynamic=True, varchar_pk=True, partitions=("extra",)
        )
        source.insert(
            "from_milvus",
            [{"pk": "extra-1", "vec": vector(1), "title": "x", "category": 9}],
            partition_name="extra",
        )
        source.flush("from_milvus")

        _, spec, report = migrate(source, target, "from_milvus", target_name="from_milvus_23")
    finally:
        source.close()
        target.close()

    assert report.verified, report.summary()
    assert report.partitions["extra"] == {"source": 1, "target": 1}
    assert report.target_count == len(rows) + 1


@pytest.mark.standalone
def test_it_copies_binary_and_float16_vectors_between_standalone_databases(standalone):
    # Milvus Lite has neither type, and Milvus 2.3 allows one vector field per collection.
    source = connect(standalone.uri, token=standalone.token)
    try:
        copies = client_for_database(source, "copies")
        for name in ("binary", "half"):
            drop_if_exists(source, name)
            if "copies" in source.list_databases():
                drop_if_exists(copies, name)
        copies.close()
        for name, dtype, index, metric, make in (
            (
                "binary",
                DataType.BINARY_VECTOR,
                "BIN_IVF_FLAT",
                "HAMMING",
                lambda i: bytes([i % 256, (i * 7) % 256]),
            ),
            (
                "half",
                DataType.FLOAT16_VECTOR,
                "HNSW",
                "L2",
                lambda i: __import__("numpy").array(vector(i, 16), dtype="float16"),
            ),
        ):
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("v", dtype, dim=16)
            params = source.prepare_index_params()
            params.add_index(
                "v",
                index_type=index,
                metric_type=metric,
                params={"nlist": 4}
                if index.startswith("BIN_IVF")
                else {"M": 8, "efConstruction": 32},
            )
            source.create_collection(name, schema=schema, index_params=params)
            source.insert(name, [{"id": i, "v": make(i)} for i in range(30)])
            source.flush(name)

            _, spec, report = migrate(source, source, name, target_db="copies")

            assert report.verified, report.summary()
            copies = client_for_database(source, "copies")
            try:
                assert read_rows(copies, name) == read_rows(source, name)
                assert [
                    (i.index_type, i.metric_type) for i in describe_collection(copies, name).indexes
                ] == [(index, metric)]
            finally:
                copies.close()
    finally:
        source.close()
