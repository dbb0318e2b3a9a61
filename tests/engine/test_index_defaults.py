"""Index build parameters a source does not report (Milvus Lite reports none): a Milvus target
gets the same index type with the documented defaults, and the plan says so."""

from __future__ import annotations

import pytest
from pymilvus import DataType

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.connect import connect
from migrations_app.engine.index_defaults import default_params
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from tests.engine.calls import Calls
from tests.engine.sample_data import read_rows, vector
from tests.milvus import MilvusClient


def create_indexed(client: MilvusClient, name: str, index_type: str, metric: str, dim=8) -> None:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    # Lite takes the parameters and reports none of them back.
    index.add_index("vec", index_type=index_type, metric_type=metric, params={"nlist": 4})
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": i, "vec": vector(i, dim)} for i in range(40)])
    client.flush(name)


def test_documented_defaults_per_index_type():
    assert default_params("HNSW", 128) == {"M": 30, "efConstruction": 360}
    assert default_params("hnsw", None) == {"M": 30, "efConstruction": 360}
    for kind in ("IVF_FLAT", "IVF_SQ8", "SCANN", "BIN_IVF_FLAT"):
        assert default_params(kind, 128) == {"nlist": 128}
    # IVF_PQ's m has no documented default: D/2, or the largest divisor of D below it.
    assert default_params("IVF_PQ", 128) == {"nlist": 128, "m": 64, "nbits": 8}
    assert default_params("IVF_PQ", 9)["m"] == 3
    assert default_params("IVF_PQ", 7)["m"] == 1
    assert default_params("IVF_PQ", None) is None
    for kind in ("FLAT", "AUTOINDEX", "DISKANN", "SPARSE_INVERTED_INDEX"):
        assert default_params(kind, 128) is None


def test_a_lite_target_keeps_the_index_as_reported_without_a_warning(pair):
    source, target = pair
    create_indexed(source, "hnsw_lite", "HNSW", "COSINE")

    result = plan(describe_collection(source, "hnsw_lite"), SchemaChoices(), target)

    assert result.warnings == []
    assert [(i.index_type, i.metric_type, i.params) for i in result.spec.indexes] == [
        ("HNSW", "COSINE", {})
    ]


@pytest.mark.standalone
def test_a_milvus_target_gets_the_same_index_types_with_the_documented_defaults(pair, standalone):
    source, _ = pair
    cases = {
        "dflt_hnsw": ("HNSW", "COSINE", {"M": 30, "efConstruction": 360}),
        "dflt_ivf_flat": ("IVF_FLAT", "L2", {"nlist": 128}),
        "dflt_ivf_sq8": ("IVF_SQ8", "IP", {"nlist": 128}),
        "dflt_ivf_pq": ("IVF_PQ", "L2", {"nlist": 128, "m": 4, "nbits": 8}),
    }
    milvus = connect(standalone.uri, token=standalone.token)
    try:
        for name in cases:
            if milvus.has_collection(name):
                milvus.drop_collection(name)
        outcome = {}
        for name, (index_type, metric, _) in cases.items():
            create_indexed(source, name, index_type, metric)
            info = describe_collection(source, name)
            assert info.indexes[0].params == {}  # what Milvus Lite reports
            result = plan(info, SchemaChoices(), milvus)
            spec = require_ok(result)
            notes: list[str] = []
            report = migrate_collection(
                source,
                milvus,
                info,
                spec,
                options=Options(load=True),
                observer=Calls(on_note=notes.append),
            )
            built = describe_collection(milvus, name)
            outcome[name] = (result.warnings, notes, report, built, read_rows(milvus, name))
            milvus.drop_collection(name)
    finally:
        milvus.close()

    for name, (index_type, metric, params) in cases.items():
        warnings, notes, report, built, rows = outcome[name]
        assert report.verified, report.summary()
        assert rows == read_rows(source, name)
        assert [(i.index_type, i.metric_type, i.params) for i in built.indexes] == [
            (index_type, metric, params)
        ]
        shown = ", ".join(f"{key}={value}" for key, value in params.items())
        assert warnings == [
            f"index {index_type} on field vec: the source reports no build parameters; "
            f"{index_type} will be built with the defaults of the Milvus documentation ({shown})"
        ]
        # Built as planned: no refusal, no AUTOINDEX fallback.
        assert not [note for note in notes if "refused" in note or "AUTOINDEX" in note]
