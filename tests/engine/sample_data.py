"""Collections and rows for the engine tests (plan, catalog, verify, migrate, CLI).

Real pymilvus calls against the real servers of the fixtures; nothing here is mocked.
"""

from __future__ import annotations

import random

from pymilvus import DataType, Function, FunctionType

from tests.milvus import MilvusClient

DIM = 8
ARRAY_ELEMENTS = ("BOOL", "INT8", "INT16", "INT32", "INT64", "FLOAT", "DOUBLE", "VARCHAR")


def float32(value: float) -> float:
    """`value` as the float32 Milvus stores for a FLOAT field or vector component."""
    import struct

    return struct.unpack("f", struct.pack("f", value))[0]


def vector(seed: int, dim: int = DIM) -> list[float]:
    rng = random.Random(seed)
    return [float32(rng.uniform(-1, 1)) for _ in range(dim)]


def schema_with_every_scalar(*, dynamic: bool = False, nullable: bool = True):
    """INT64 key, every scalar type, nested JSON, one ARRAY per element type, a float vector;
    with `nullable`, a nullable field and a field with a default value too."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=dynamic)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("f32", DataType.FLOAT)
    schema.add_field("f64", DataType.DOUBLE)
    schema.add_field("text", DataType.VARCHAR, max_length=200)
    schema.add_field("doc", DataType.JSON)
    for element in ARRAY_ELEMENTS:
        extra = {"max_length": 30} if element == "VARCHAR" else {}
        schema.add_field(
            f"arr_{element.lower()}",
            DataType.ARRAY,
            element_type=DataType[element],
            max_capacity=5,
            **extra,
        )
    if nullable:
        schema.add_field("maybe", DataType.INT32, nullable=True)
        schema.add_field("label", DataType.VARCHAR, max_length=20, default_value="unset")
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    return schema


def scalar_row(i: int, *, nullable: bool = True) -> dict:
    row = {
        "id": i,
        "flag": i % 2 == 0,
        "i8": (i % 250) - 125,
        "i16": -30000 + i,
        "i32": 2_000_000_000 - i,
        "i64": -(2**62) + i,
        "f32": float32(i / 7),
        "f64": i / 3 + 1e-12,
        "text": f'row {i} ü "quoted" back\\slash',
        "doc": {"i": i, "nested": {"list": [1, 2.5, "x", None, {"deep": [i]}], "ok": True}},
        "arr_bool": [True, False][: i % 3],
        "arr_int8": [-3, 0, 7][: 1 + i % 3],
        "arr_int16": [300, -300],
        "arr_int32": [i, -i, 2_000_000],
        "arr_int64": [2**40 + i],
        "arr_float": [float32(0.5), float32(i / 9)],
        "arr_double": [1 / 3, i * 1.5],
        "arr_varchar": ["a", "ä'\"", str(i)],
        "vec": vector(i),
    }
    if nullable:
        row["maybe"] = None if i % 3 == 0 else i
        if i % 4:
            row["label"] = f"label{i}"  # otherwise the default value applies
    return row


def create_simple(
    client: MilvusClient,
    name: str,
    *,
    rows: int = 0,
    dynamic: bool = False,
    auto_id: bool = False,
    varchar_pk: bool = False,
    partition_key: bool = False,
    partitions: tuple[str, ...] = (),
    index: bool = True,
    description: str = "",
) -> list[dict]:
    """pk, a float vector, a title and a category; returns the rows inserted (with their keys)."""
    schema = MilvusClient.create_schema(
        auto_id=auto_id, enable_dynamic_field=dynamic, description=description
    )
    if varchar_pk:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=100)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("title", DataType.VARCHAR, max_length=100)
    schema.add_field("category", DataType.INT64, is_partition_key=partition_key)
    index_params = None
    if index:
        index_params = client.prepare_index_params()
        index_params.add_index("vec", index_type="IVF_FLAT", metric_type="IP", params={"nlist": 8})
    extra = {"num_partitions": 4} if partition_key else {}
    client.create_collection(
        name, schema=schema, index_params=index_params, description=description, **extra
    )
    for partition in partitions:
        client.create_partition(name, partition)
    data = [
        {"vec": vector(i), "title": f"title {i}", "category": i % 4}
        | ({} if auto_id else {"pk": f"key-{i}" if varchar_pk else i})
        | ({"color": ["red", "blue"][i % 2], "meta": {"i": i, "tags": ["t", i]}} if dynamic else {})
        for i in range(rows)
    ]
    if data:
        result = client.insert(name, data)
        if auto_id:
            for row, key in zip(data, result["ids"], strict=True):
                row["pk"] = key
    return data


def create_bm25(client: MilvusClient, name: str, texts: list[str]) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("body", DataType.VARCHAR, max_length=500, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="body_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["body"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": i, "body": text} for i, text in enumerate(texts)])


def read_rows(client: MilvusClient, name: str, pk: str = "id", **kwargs) -> dict:
    """Every row (all fields, dynamic keys included) keyed by primary key. Small collections."""
    rows = client.query(
        name, filter="", output_fields=["*"], limit=16_000, consistency_level="Strong", **kwargs
    )
    return {row[pk]: row for row in rows}
