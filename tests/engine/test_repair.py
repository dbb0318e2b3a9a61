"""engine.repair: only the differing key ranges are re-copied (foreign keys deleted, the
source's rows upserted), then the collection is verified again. Real Milvus Lite servers; the
copies are damaged with plain pymilvus calls."""

from __future__ import annotations

import bisect

import pytest

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.digest import CopyDigests
from migrations_app.engine.errors import NotOwned
from migrations_app.engine.finalize import finalize
from migrations_app.engine.migrate import verify_collection
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


def test_a_repair_refuses_a_target_its_migration_did_not_create_and_writes_nothing(pair):
    source, target = pair
    create_simple(source, "theirs", rows=500, dynamic=True)
    info = describe_collection(source, "theirs")
    spec = require_ok(plan(info, SchemaChoices(), target))
    create_target(target, spec, "job-another")  # made (and marked) by another migration
    copy_collection(source, target, CopyScope.of(spec), options=OPTIONS)
    finalize(target, spec, options=OPTIONS)
    target.delete("theirs", ids=[7])

    with pytest.raises(NotOwned) as refused:
        verify_collection(source, target, info, spec, repair=True, owner="job-mine")

    assert refused.value.message == (
        "target collection theirs in database default was created by job job-another, not by "
        "migration job-mine: Repair writes only into a collection its migration created, so "
        "nothing was written"
    )
    assert target.query("theirs", ids=[7]) == []  # the deleted row was not written back
    # Its own migration's mark lets the same repair through.
    report = verify_collection(source, target, info, spec, repair=True, owner="job-another")
    assert report.verified, report.summary()


def test_a_repair_refuses_a_target_without_any_mark(pair):
    source, target = pair
    info, spec = _copied(source, target, "unmarked", 200)
    target.delete("unmarked", ids=[3])

    with pytest.raises(NotOwned, match="created by something other than this console"):
        verify_collection(source, target, info, spec, repair=True, owner="job-mine")

    assert target.query("unmarked", ids=[3]) == []


def test_a_repair_with_the_copy_digests_uses_its_ranges_and_says_the_source_changed(pair):
    source, target = pair
    create_simple(source, "drifted", rows=1_000, dynamic=True)
    info = describe_collection(source, "drifted")
    spec = require_ok(plan(info, SchemaChoices(), target))
    create_target(target, spec)
    digests = copy_collection(source, target, CopyScope.of(spec), options=OPTIONS).digests
    finalize(target, spec, options=OPTIONS)
    # After the migration the source changes one row.
    source.upsert("drifted", [{"pk": 450, "vec": vector(9), "title": "new", "category": 1}])
    source.flush("drifted")
    ranges = CopyDigests(saved=digests).sums("*")  # the copy's ranges close at page ends
    holding = bisect.bisect_left(ranges.uppers, 450)

    result = repair_collection(source, target, info, spec, copy_digests=digests, options=OPTIONS)

    # That range only, with the copy's bounds (not a fresh scan's ranges of exactly 200).
    assert (result.ranges, result.upserted) == (1, ranges.rows[holding])
    report = result.report
    assert report.verified, report.summary()
    assert report.source_changed is True
    assert report.messages[0] == (
        "the source changed since the migration, but the target holds the same rows as the "
        "source now"
    )
    got = target.query("drifted", ids=[450], output_fields=["title"])[0]["title"]
    assert got == "new"
