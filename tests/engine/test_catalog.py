"""engine.catalog: databases, collections and full collection descriptions from real servers."""

from __future__ import annotations

import json

import pytest
from pymilvus import DataType, Function, FunctionType

from migrations_app.engine.catalog import describe_collection, list_collections, list_databases
from migrations_app.engine.connect import connect
from migrations_app.engine.errors import CollectionNotFound
from migrations_app.engine.model import CollectionInfo
from tests.engine.sample_data import create_simple
from tests.milvus import MilvusClient


@pytest.fixture
def lite(lite_server):
    client = connect(lite_server.uri)
    yield client
    client.close()


def make_rich(client: MilvusClient) -> None:
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(
        "body",
        DataType.VARCHAR,
        max_length=1000,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
        enable_match=True,
    )
    schema.add_field("cat", DataType.VARCHAR, max_length=64, is_partition_key=True)
    schema.add_field("n", DataType.INT32, nullable=True)
    schema.add_field("d", DataType.DOUBLE, default_value=1.5)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT16, max_capacity=8)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm",
            function_type=FunctionType.BM25,
            input_field_names=["body"],
            output_field_names=["sp"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="COSINE", params={"M": 8})
    index.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("rich", schema=schema, index_params=index)
    client.insert(
        "rich", [{"body": f"text {i}", "cat": "a", "tags": [i], "v": [0.1] * 8} for i in range(5)]
    )


def test_it_describes_every_part_of_a_collection(lite):
    make_rich(lite)

    info = describe_collection(lite, "rich")

    assert (info.db, info.name, info.primary_field, info.auto_id) == ("default", "rich", "id", True)
    assert info.enable_dynamic_field
    assert info.partition_key == "cat" and info.partitions == [] and info.num_partitions >= 1
    body, n, d, tags, v, sp = (info.field(x) for x in ("body", "n", "d", "tags", "v", "sp"))
    assert (body.dtype, body.max_length, body.enable_analyzer, body.enable_match) == (
        "VARCHAR",
        1000,
        True,
        True,
    )
    assert body.analyzer_params == {"tokenizer": "standard", "filter": ["lowercase"]}
    assert n.nullable and not d.nullable and d.default_value == 1.5
    assert (tags.dtype, tags.element_type, tags.max_capacity) == ("ARRAY", "INT16", 8)
    assert (v.dtype, v.dim, v.is_vector) == ("FLOAT_VECTOR", 8, True)
    assert sp.is_function_output and sp.dtype == "SPARSE_FLOAT_VECTOR"
    assert [
        (f.name, f.type, f.input_field_names, f.output_field_names) for f in info.functions
    ] == [("bm", "BM25", ["body"], ["sp"])]
    assert sorted((i.field_name, i.index_type, i.metric_type) for i in info.indexes) == [
        ("sp", "SPARSE_INVERTED_INDEX", "BM25"),
        ("v", "HNSW", "COSINE"),
    ]
    assert info.entity_count == 5
    assert info.load_state == "Loaded"
    assert info.copied_fields == ["id", "body", "cat", "n", "d", "tags", "v"]


def test_it_round_trips_a_description_through_json(lite):
    make_rich(lite)
    info = describe_collection(lite, "rich")

    stored = json.loads(json.dumps(info.to_dict()))

    assert CollectionInfo.from_dict(stored) == info


def test_it_lists_explicit_partitions(lite):
    create_simple(lite, "parts", rows=3, partitions=("x", "y"))

    info = describe_collection(lite, "parts")

    assert sorted(info.partitions) == ["_default", "x", "y"]
    assert info.partition_key is None and info.num_partitions is None


def test_it_lists_databases_and_collections(lite, lite_server):
    lite.create_database("second")
    other = connect(lite_server.uri, db_name="second")
    try:
        create_simple(other, "only_here")
        create_simple(lite, "b_default")
        create_simple(lite, "a_default")

        assert list_databases(lite) == ["default", "second"]
        assert list_collections(lite) == ["a_default", "b_default"]
        assert list_collections(other) == ["only_here"]
        assert describe_collection(other, "only_here").db == "second"
    finally:
        other.close()


def test_it_reports_a_missing_collection(lite):
    with pytest.raises(CollectionNotFound) as caught:
        describe_collection(lite, "nowhere")

    assert caught.value.message == "collection nowhere does not exist in database default"


@pytest.mark.standalone
def test_it_describes_a_milvus_collection_with_index_parameters(standalone):
    client = connect(standalone.uri, token=standalone.token)
    try:
        if client.has_collection("catalog_h3"):
            client.drop_collection("catalog_h3")
        create_simple(client, "catalog_h3", rows=4, description="described", partition_key=True)
        info = describe_collection(client, "catalog_h3")
        client.drop_collection("catalog_h3")
    finally:
        client.close()

    assert info.description == "described"
    assert info.partition_key == "category" and info.num_partitions == 4
    assert [(i.index_type, i.metric_type, i.params) for i in info.indexes] == [
        ("IVF_FLAT", "IP", {"nlist": 8})
    ]
    assert info.consistency_level == "Bounded"
