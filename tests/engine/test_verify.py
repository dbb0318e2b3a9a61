"""engine.verify: counts per collection and partition, sampled field-by-field comparison,
duplicate keys, writes during the migration. The copies are made by the engine itself and then
damaged with plain pymilvus calls, so each check has to find something real."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.finalize import finalize
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.rpc import RpcChannel
from migrations_app.engine.target import create_target
from migrations_app.engine.verify import count_rows, same, sample_keys, verify
from tests.engine.sample_data import create_simple, scalar_row, schema_with_every_scalar, vector
from tests.milvus import MilvusClient


def copied(source: MilvusClient, target: MilvusClient, name: str, **choices):
    """Plan, create, copy and finalize `name` with the engine; returns (info, spec)."""
    info = describe_collection(source, name)
    spec = require_ok(plan(info, SchemaChoices(**choices), target))
    create_target(target, spec)
    copy_collection(source, target, CopyScope.of(spec))
    finalize(target, spec, options=Options(load=True))  # verify reads loaded collections
    return info, spec


def test_it_verifies_an_exact_copy(pair):
    source, target = pair
    source.create_collection("exact", schema=schema_with_every_scalar())
    source.insert("exact", [scalar_row(i) for i in range(25)])
    info, spec = copied(source, target, "exact")

    report = verify(source, target, info, spec, source_count_at_start=25)

    assert report.verified, report.summary()
    assert report.status == "VERIFIED"
    assert (report.source_count, report.target_count, report.sampled_rows) == (25, 25, 25)
    assert report.mismatches == [] and report.messages == []


def test_it_finds_a_changed_field_value(pair):
    source, target = pair
    source.create_collection("changed", schema=schema_with_every_scalar())
    source.insert("changed", [scalar_row(i) for i in range(10)])
    info, spec = copied(source, target, "changed")
    damaged = scalar_row(4) | {"doc": {"i": 4, "nested": {"list": [], "ok": False}}, "f64": 0.5}
    target.upsert("changed", [damaged])

    report = verify(source, target, info, spec)

    assert not report.verified
    assert report.status == "MISMATCH"
    assert any(
        m.startswith("row id=4: field f64 differs (source 1.3333") for m in report.mismatches
    )
    assert any(m.startswith("row id=4: field doc differs") for m in report.mismatches)
    assert "MISMATCH: default.changed → default.changed" in report.summary()


def test_it_finds_a_changed_vector(pair):
    source, target = pair
    create_simple(source, "vectors", rows=10)
    info, spec = copied(source, target, "vectors")
    target.upsert("vectors", [{"pk": 7, "vec": vector(8), "title": "title 7", "category": 3}])

    report = verify(source, target, info, spec)

    assert [m.split(" (")[0] for m in report.mismatches] == ["row pk=7: field vec differs"]


def test_it_finds_missing_rows_in_the_collection_and_the_partition(pair):
    source, target = pair
    create_simple(source, "lossy", partitions=("p",))
    source.insert(
        "lossy",
        [{"pk": i, "vec": vector(i), "title": "t", "category": 1} for i in range(12)],
        partition_name="p",
    )
    source.insert("lossy", [{"pk": 50, "vec": vector(50), "title": "t", "category": 1}])
    info, spec = copied(source, target, "lossy")
    target.delete("lossy", ids=[3, 4])

    report = verify(source, target, info, spec)

    assert not report.verified
    assert "entity count differs: source 13, target 11" in report.mismatches
    assert "partition p: source 12 rows, target 10" in report.mismatches
    assert report.partitions["_default"] == {"source": 1, "target": 1}
    assert "row pk=3 is missing on the target" in report.mismatches


def test_it_reports_writes_during_the_migration(pair):
    source, target = pair
    create_simple(source, "busy", rows=8)
    info, spec = copied(source, target, "busy")
    source.insert("busy", [{"pk": 100, "vec": vector(1), "title": "late", "category": 0}])

    report = verify(source, target, info, spec, source_count_at_start=8)

    assert (
        "writes happened during the migration: the source had 8 rows at the start and 9 at the end"
    ) in report.messages
    assert "entity count differs: source 9, target 8" in report.mismatches


def test_it_compares_dynamic_keys(pair):
    source, target = pair
    create_simple(source, "dyn_compare", rows=6, dynamic=True)
    info, spec = copied(source, target, "dyn_compare")
    target.upsert(
        "dyn_compare",
        [
            {
                "pk": 2,
                "vec": vector(2),
                "title": "title 2",
                "category": 2,
                "color": "green",
                "meta": {"i": 2, "tags": ["t", 2]},
            }
        ],
    )

    report = verify(source, target, info, spec)

    assert len(report.mismatches) == 1
    assert report.mismatches[0].startswith("row pk=2: dynamic fields differ")


def test_it_counts_a_partition_on_milvus_lite_without_trusting_count_star(pair):
    source, _ = pair
    create_simple(source, "lite_parts", partitions=("small",))
    source.insert(
        "lite_parts", [{"pk": i, "vec": vector(i), "title": "t", "category": 1} for i in range(30)]
    )
    source.insert(
        "lite_parts",
        [{"pk": 100 + i, "vec": vector(i), "title": "t", "category": 1} for i in range(4)],
        partition_name="small",
    )

    whole = count_rows(source, "lite_parts", pk="pk", lite=True)
    small = count_rows(source, "lite_parts", pk="pk", partition="small", lite=True)
    star = source.query(
        "lite_parts", filter="", output_fields=["count(*)"], partition_names=["small"]
    )[0]["count(*)"]

    assert (whole, small) == (34, 4)
    assert star == 34  # the quirk this works around


@pytest.mark.standalone
def test_it_finds_duplicate_keys_on_a_milvus_target(pair, standalone):
    source, _ = pair
    create_simple(source, "dupes", rows=20)
    milvus = connect(standalone.uri, token=standalone.token)
    try:
        if milvus.has_collection("dupes_h3"):
            milvus.drop_collection("dupes_h3")
        info, spec = copied(source, milvus, "dupes", target_name="dupes_h3")
        # A second insert of existing keys stores them twice on Milvus (no upsert semantics).
        milvus.insert(
            "dupes_h3",
            [
                {"pk": i, "vec": vector(i), "title": f"title {i}", "category": i % 4}
                for i in (1, 2, 3)
            ],
        )
        milvus.load_collection("dupes_h3")
        report = verify(source, milvus, info, spec)
        milvus.drop_collection("dupes_h3")
    finally:
        milvus.close()

    assert report.duplicate_keys == 3
    assert "3 duplicate primary keys on the target (23 rows, 20 distinct keys)" in report.mismatches
    assert "entity count differs: source 20, target 23" in report.mismatches


HOSTILE = ['a"b', "e\\f", "\\", '"', 'x\\"y', "z\n", "日本語", "é'\"\\"]


def test_it_verifies_varchar_keys_with_quotes_and_backslashes(pair):
    source, target = pair
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    source.create_collection("hostile_keys", schema=schema)
    source.insert(
        "hostile_keys", [{"pk": k, "vec": vector(i), "title": k} for i, k in enumerate(HOSTILE)]
    )
    info, spec = copied(source, target, "hostile_keys")

    exact = verify(source, target, info, spec)
    key = 'x\\"y'
    target.upsert(
        "hostile_keys", [{"pk": key, "vec": vector(HOSTILE.index(key)), "title": "changed"}]
    )
    damaged = verify(source, target, info, spec)

    assert exact.verified, exact.summary()
    assert exact.sampled_rows == len(HOSTILE)
    assert damaged.mismatches == [
        "row pk=\"x\\\\\\\"y\": field title differs (source 'x\\\\\"y', target 'changed')"
    ]


def test_it_verifies_int64_extreme_keys(pair):
    source, target = pair
    keys = [-(2**63), -1, 0, 2**63 - 1]
    create_simple(source, "extremes")
    source.insert(
        "extremes",
        [{"pk": k, "vec": vector(i), "title": "t", "category": 1} for i, k in enumerate(keys)],
    )
    info, spec = copied(source, target, "extremes")

    report = verify(source, target, info, spec)

    assert report.verified, report.summary()
    assert (report.target_count, report.sampled_rows) == (4, 4)


def test_it_reports_keys_found_on_one_side_only(pair):
    source, target = pair
    create_simple(source, "one_side", rows=40)
    info, spec = copied(source, target, "one_side")
    target.delete("one_side", ids=[5])
    target.insert("one_side", [{"pk": 1000, "vec": vector(1), "title": "stray", "category": 0}])

    report = verify(source, target, info, spec)

    assert not report.verified
    assert "row pk=5 is missing on the target" in report.mismatches
    assert "row pk=1000 is on the target but not on the source" in report.mismatches
    assert report.source_count == report.target_count == 40  # counts alone would miss it


def test_it_samples_keys_across_the_whole_key_range(pair):
    source, _ = pair
    create_simple(source, "wide", rows=2_000)
    channel = RpcChannel(source, "source")

    distinct, sample = sample_keys(channel, "wide", "pk", False, 20, random.Random(7))

    assert distinct == 2_000 and len(sample) == 20 == len(set(sample))
    assert sample == sorted(sample)
    assert sample[0] < 400 and sample[-1] > 1_600  # not just the first keys
    quarters = {key // 500 for key in sample}
    assert quarters == {0, 1, 2, 3}


def test_it_compares_values_the_way_milvus_returns_them():
    assert same(0.1, 0.10000000149011612)  # float32 read back as a double
    assert not same(0.1, 0.1001)
    assert same([1.0, 2.0], np.array([1.0, 2.0], dtype=np.float32))
    assert same({3: 0.5, 10: 0.25}, {"3": 0.5, "10": 0.25})  # sparse index keys
    assert not same({3: 0.5}, {4: 0.5})
    assert same({"a": [1, {"b": 2.5}]}, {"a": [1, {"b": 2.5}]})
    assert not same({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert same([b"\x01\x02"], [b"\x01\x02"])
    assert not same([b"\x01\x02"], [b"\x01\x03"])
    assert same(None, None) and not same(None, 0)
    assert not same(True, 1)
    assert same(float("nan"), float("nan"))
