"""engine.repair: only the differing key ranges are re-copied (foreign keys deleted, the
source's rows upserted), then the collection is verified again. Real Milvus Lite servers; the
copies are damaged with plain pymilvus calls."""

from __future__ import annotations

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.finalize import finalize
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.repair import repair_collection
from migrations_app.engine.target import create_target
from migrations_app.engine.verify import verify
from tests.engine.sample_data import create_simple, vector
from tests.engine.test_verify import _next_float32

OPTIONS = Options(range_rows=200, load=True)


def _copied(source, target, name: str, rows: int):
    create_simple(source, name, rows=rows, dynamic=True)
    info = describe_collection(source, name)
    spec = require_ok(plan(info, SchemaChoices(), target))
    create_target(target, spec)
    copy_collection(source, target, CopyScope.of(spec), options=OPTIONS)
    finalize(target, spec, options=OPTIONS)
    return info, spec


def test_it_re_copies_only_the_differing_ranges_and_ends_identical(pair):
    source, target = pair
    info, spec = _copied(source, target, "damaged", 1_000)
    moved = vector(10)
    moved[0] = _next_float32(moved[0])
    target.upsert(
        "damaged",
        [{"pk": 10, "vec": moved, "title": "title 10", "category": 2, "color": "red"}],
    )
    target.delete("damaged", ids=[500])
    target.insert("damaged", [{"pk": 5_000, "vec": vector(1), "title": "x", "category": 0}])
    before = verify(source, target, info, spec, options=OPTIONS)

    result = repair_collection(source, target, info, spec, options=OPTIONS)

    assert not before.verified and before.first_differing_keys == [10, 500, 5_000]
    assert result.report.verified, result.report.summary()
    assert result.ranges == before.ranges_differing == 3
    assert result.deleted == 1  # key 5000, which the source lacks
    assert result.upserted < 1_000  # only the differing ranges, not the collection
    got = target.query("damaged", ids=[10], output_fields=["vec"])[0]["vec"]
    assert [float(x) for x in got] == vector(10)


def test_it_writes_nothing_when_nothing_differs(pair):
    source, target = pair
    info, spec = _copied(source, target, "intact", 300)

    result = repair_collection(source, target, info, spec, options=OPTIONS)

    assert (result.ranges, result.upserted, result.deleted) == (0, 0, 0)
    assert result.report.verified, result.report.summary()
