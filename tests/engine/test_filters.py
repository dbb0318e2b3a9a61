"""engine.filters: escaped key filters, and the INT64 extremes (the minimum cannot be written as
a literal on Milvus), checked against real servers."""

from __future__ import annotations

import os

import pytest
from pymilvus import DataType

from migrations_app.engine.connect import connect
from migrations_app.engine.filters import (
    INT64_MAX,
    INT64_MIN,
    pk_after_filter,
    pk_in_filter,
)
from tests.engine.sample_data import vector
from tests.milvus import MilvusClient

EXTREMES = [INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX]
HOSTILE = ['a"b', "e\\f", "\\", '"', 'x\\"y', "z\n", "日本語", "é'\"\\"]


def test_it_never_writes_the_int64_minimum_as_a_literal():
    assert pk_after_filter("pk", INT64_MIN, False) == "pk >= -9223372036854775807"
    assert pk_after_filter("pk", None, False) == "pk <= 9223372036854775807"
    assert pk_in_filter("pk", [INT64_MIN, 5], False) == "pk in [5] or pk < -9223372036854775807"
    assert pk_in_filter("pk", [INT64_MIN], False) == "pk < -9223372036854775807"
    assert pk_in_filter("k", ['a"b', "\\"], True) == 'k in ["a\\"b", "\\\\"]'


def make_keys_collection(client: MilvusClient, name: str, keys: list, varchar: bool) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    if varchar:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"pk": key, "vec": vector(i)} for i, key in enumerate(keys)])


def found(client: MilvusClient, name: str, expr: str) -> list:
    rows = client.query(name, filter=expr, output_fields=["pk"], consistency_level="Strong")
    return sorted(row["pk"] for row in rows)


def check_filters(client: MilvusClient, name: str, keys: list, varchar: bool) -> None:
    assert found(client, name, pk_after_filter("pk", None, varchar)) == sorted(keys)
    for key in keys:
        assert found(client, name, pk_after_filter("pk", key, varchar)) == sorted(
            k for k in keys if k > key
        ), key
        assert found(client, name, pk_in_filter("pk", [key], varchar)) == [key], key
    assert found(client, name, pk_in_filter("pk", keys, varchar)) == sorted(keys)


@pytest.mark.parametrize(("keys", "varchar"), [(EXTREMES, False), (HOSTILE, True)])
def test_it_matches_extreme_and_hostile_keys_exactly_on_milvus_lite(pair, keys, varchar):
    source, _ = pair
    name = f"filters_{int(varchar)}"
    make_keys_collection(source, name, keys, varchar)

    check_filters(source, name, keys, varchar)


@pytest.mark.standalone
@pytest.mark.parametrize(("keys", "varchar"), [(EXTREMES, False), (HOSTILE, True)])
def test_it_matches_extreme_and_hostile_keys_exactly_on_milvus(standalone, keys, varchar):
    client = connect(standalone.uri, token=standalone.token)
    name = f"filters_{int(varchar)}_{os.getpid()}"
    if client.has_collection(name):
        client.drop_collection(name)
    try:
        make_keys_collection(client, name, keys, varchar)
        client.load_collection(name)
        readable = keys
        if not varchar:
            # Milvus 2.3.5 quirk: a row keyed INT64_MAX is stored (count(*) has it) but no query
            # returns it, not even an empty filter; a copy from such a source comes up one row
            # short and verify reports the count mismatch.
            everything = client.query(
                name, filter="", output_fields=["pk"], limit=100, consistency_level="Strong"
            )
            assert INT64_MAX not in {row["pk"] for row in everything}
            count = client.query(
                name, filter="", output_fields=["count(*)"], consistency_level="Strong"
            )
            assert count[0]["count(*)"] == len(keys)
            readable = [k for k in keys if k != INT64_MAX]

        check_filters(client, name, readable, varchar)
    finally:
        client.drop_collection(name)
        client.close()
