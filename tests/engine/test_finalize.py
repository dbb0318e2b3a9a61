"""engine.finalize: indexes rebuilt on the target (same type and parameters, or a fallback,
with a note), unindexed vector fields indexed where the server needs it, load on request."""

from __future__ import annotations

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import connect
from migrations_app.engine.finalize import finalize
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.target import create_target
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple
from tests.milvus import MilvusClient


def created(source: MilvusClient, target: MilvusClient, name: str, **choices):
    info = describe_collection(source, name)
    result = plan(info, SchemaChoices(**choices), target)
    spec = require_ok(result)
    create_target(target, spec)
    return spec, result.warnings


def test_it_rebuilds_the_source_index_and_leaves_it_released(pair):
    source, target = pair
    create_simple(source, "idx", rows=10)
    spec, _ = created(source, target, "idx")

    notes = finalize(target, spec)

    assert notes == []
    info = describe_collection(target, "idx")
    assert [(i.field_name, i.index_type, i.metric_type) for i in info.indexes] == [
        ("vec", "IVF_FLAT", "IP")
    ]
    assert info.load_state == "NotLoad"


def test_it_loads_when_asked(pair):
    source, target = pair
    create_simple(source, "to_load", rows=10)
    spec, _ = created(source, target, "to_load")

    finalize(target, spec, options=Options(load=True))

    assert describe_collection(target, "to_load").load_state == "Loaded"


def test_it_indexes_an_unindexed_vector_field_before_loading(pair):
    source, target = pair
    create_simple(source, "bare", rows=5, index=False)
    spec, _ = created(source, target, "bare")
    heard = []

    notes = finalize(target, spec, options=Options(load=True), observer=Calls(on_note=heard.append))

    assert (
        notes
        == heard
        == [
            "vector field vec had no index on the source: AUTOINDEX with metric L2 built so the "
            "collection can be loaded"
        ]
    )
    assert [i.index_type for i in describe_collection(target, "bare").indexes] == ["AUTOINDEX"]


def test_it_does_not_index_an_unindexed_field_on_lite_unless_loading(pair):
    source, target = pair
    create_simple(source, "bare_lite", rows=5, index=False)
    spec, _ = created(source, target, "bare_lite")

    assert finalize(target, spec) == []
    assert describe_collection(target, "bare_lite").indexes == []


@pytest.mark.standalone
def test_it_keeps_index_parameters_and_skips_scalar_indexes_milvus_lacks(pair, standalone):
    source, _ = pair
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("year", DataType.INT64)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=8)
    index = source.prepare_index_params()
    index.add_index("vec", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 8})
    index.add_index("year", index_type="INVERTED")
    source.create_collection("params", schema=schema, index_params=index)
    milvus = connect(standalone.uri, token=standalone.token)
    try:
        if milvus.has_collection("params_h3"):
            milvus.drop_collection("params_h3")
        spec, warnings = created(source, milvus, "params", target_name="params_h3")
        # Milvus Lite does not report build parameters (the plan gives the documented
        # defaults): the parameters set here are the ones finalize must keep.
        spec.indexes[0].params = {"nlist": 8}
        finalize(milvus, spec, options=Options(load=True))
        info = describe_collection(milvus, "params_h3")
        milvus.drop_collection("params_h3")
    finally:
        milvus.close()

    assert (
        "scalar index INVERTED on field year is not available on Milvus 2.3.5: it will not be built"
    ) in warnings
    assert [(i.index_type, i.metric_type, i.params) for i in info.indexes] == [
        ("IVF_FLAT", "L2", {"nlist": 8})
    ]
    assert info.load_state == "Loaded"
