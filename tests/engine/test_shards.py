"""Key-range shards on Milvus Lite: the split at quantiles of a keys-only scan, one range's copy
copying exactly its keys, and every range copied then finished = a verified collection."""

from __future__ import annotations

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.errors import CopyCanceled
from migrations_app.engine.migrate import (
    ShardPolicy,
    Split,
    copy_key_range,
    finish_collection,
    migrate_collection,
)
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Observer, Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.shards import KeyRange, ranges_of, shard_count, split_uppers
from tests.engine.sample_data import create_simple, vector
from tests.milvus import MilvusClient


def keys_of(client: MilvusClient, name: str, pk: str = "pk") -> list:
    rows = client.query(
        name, filter="", output_fields=[pk], limit=16_000, consistency_level="Strong"
    )
    return sorted(row[pk] for row in rows)


def create_keys(client: MilvusClient, name: str, keys: list, varchar: bool = False) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    if varchar:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=100)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    if keys:
        client.insert(name, [{"pk": k, "vec": vector(i)} for i, k in enumerate(keys)])


def split(client, name, rows, shards, varchar=False):
    return split_uppers(client, name, "pk", varchar, rows=rows, shards=shards)


def test_shard_count_is_one_per_shard_rows_capped():
    assert shard_count(0, 2_000, 16) == 1
    assert shard_count(2_000, 2_000, 16) == 1
    assert shard_count(2_001, 2_000, 16) == 2
    assert shard_count(9_000, 2_000, 16) == 5
    assert shard_count(10**8, 2_000_000, 16) == 16
    with pytest.raises(ValueError, match="shard_rows must be positive, got 0"):
        shard_count(10, 0, 16)


def test_split_of_int64_keys_at_quantiles_even_when_skewed(pair):
    source, _ = pair
    # 300 small keys, then 700 keys far away: quantiles follow the rows, not the key values.
    keys = list(range(-150, 150)) + [10**15 + 3 * i for i in range(700)]
    create_keys(source, "skewed", keys)
    create_keys(source, "empty", [])
    create_keys(source, "one", [42])

    uppers = split(source, "skewed", 1000, 4)

    assert uppers == [keys[249], keys[499], keys[749]]
    assert split(source, "empty", 0, 4) == []
    assert split(source, "one", 1, 4) == []
    # A count larger than the keys found (rows deleted since): fewer ranges, none empty.
    assert split(source, "skewed", 1600, 4) == [keys[399], keys[799]]
    assert split(source, "skewed", 4000, 4) == []
    assert ranges_of([5, 9]) == [KeyRange(None, 5), KeyRange(5, 9), KeyRange(9, None)]


def test_split_of_varchar_keys_in_the_servers_string_order(pair):
    source, _ = pair
    keys = [f"k{i}" for i in range(500)] + ['q"uote\\', "Z", "é", ""]
    create_keys(source, "strings", keys, varchar=True)
    ordered = keys_of(source, "strings")

    uppers = split(source, "strings", len(keys), 3, varchar=True)

    assert uppers == [ordered[167], ordered[335]]


def planned(source, target, name):
    info = describe_collection(source, name)
    return info, require_ok(plan(info, SchemaChoices(), target, source_client=source))


@pytest.mark.parametrize("varchar", [False, True])
def test_ranges_copied_one_by_one_then_finished_hold_every_key_once(pair, varchar):
    source, target = pair
    rows = create_simple(source, "big", rows=900, varchar_pk=varchar)
    info, spec = planned(source, target, "big")
    options = Options(load=True, batch_rows=100)
    if varchar:  # a source that was not loaded: loaded for the copy, released at the end
        source.release_collection("big")

    split_result = migrate_collection(
        source,
        target,
        info,
        spec,
        shards=ShardPolicy(shard_rows=200, max_shards=4),
        options=options,
    )

    assert isinstance(split_result, Split)
    assert split_result.source_count == 900
    assert split_result.source_loaded_here is varchar
    ranges = split_result.ranges
    assert len(ranges) == 4
    assert keys_of(target, "big") == []
    parts, total = [], 0
    all_keys = sorted(row["pk"] for row in rows)
    for key_range in ranges:
        before = set(keys_of(target, "big"))
        result = copy_key_range(source, target, info, spec, key_range, options=options)
        added = sorted(set(keys_of(target, "big")) - before)
        expected = [
            k
            for k in all_keys
            if (key_range.after is None or k > key_range.after)
            and (key_range.upto is None or k <= key_range.upto)
        ]
        assert added == expected and result.rows == len(expected)
        parts.append((key_range, result.digests))
        total += result.rows
    assert total == 900

    report = finish_collection(
        source,
        target,
        info,
        spec,
        parts,
        copied_rows=total,
        source_count_at_start=900,
        release_source=split_result.source_loaded_here,
        options=options,
    )

    assert report.verified, report.summary()
    assert (report.source_count, report.target_count, report.duplicate_keys) == (900, 900, 0)
    assert report.source_changed is False
    state = source.get_load_state("big")["state"]
    assert getattr(state, "name", str(state)) == ("NotLoad" if varchar else "Loaded")


def test_a_range_resumed_from_its_checkpoint_goes_on_inside_the_range(pair):
    source, target = pair
    create_simple(source, "resumed", rows=600)
    info, spec = planned(source, target, "resumed")
    options = Options(load=True, batch_rows=50)
    split_result = migrate_collection(
        source,
        target,
        info,
        spec,
        shards=ShardPolicy(shard_rows=200, max_shards=8),
        options=options,
    )
    middle = split_result.ranges[1]

    class Observe(Observer):
        def __init__(self):
            self.checkpoints = []

        def on_checkpoint(self, checkpoint):
            self.checkpoints.append(checkpoint)

        def should_cancel(self):
            return len(self.checkpoints) >= 2

    first = Observe()
    with pytest.raises(CopyCanceled) as stopped:
        copy_key_range(source, target, info, spec, middle, options=options, observer=first)
    assert stopped.value.checkpoint["rows"] == 100

    result = copy_key_range(
        source,
        target,
        info,
        spec,
        middle,
        checkpoint=stopped.value.checkpoint,
        write_intent={},
        options=options,
    )

    assert result.rows == 200 and result.resumed_rows == 100
    assert keys_of(target, "resumed") == list(range(200, 400))
