"""Ownership, fencing and write intent of a migration on real Milvus Lite servers: the target
carries the mark of the job that created it; a resume or a cancel touches only a target with its
own mark; a run whose lease ended neither writes nor drops; a resume with a write intent re-writes
only the batch in flight. (The same on the Milvus 2.3 standalone: tests/test_jobs_lease.py.)"""

from __future__ import annotations

import os

import pytest

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.checkpoint import initial_checkpoint
from migrations_app.engine.connect import connect
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import (
    CollectionNotFound,
    CopyCanceled,
    LeaseLost,
    NotOwned,
    PlanError,
)
from migrations_app.engine.fence import FencedClient
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import Options
from migrations_app.engine.ownership import (
    OWNER_PROPERTY,
    OwnedCollection,
    drop_owned,
    find_owned,
    mark_in,
)
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.target import drop_named
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple
from tests.engine.test_resume import FIELDS, all_keys, stored_rows

ROWS = 600
SMALL = Options(batch_bytes=6_000)


class WorkerDied(Exception):
    pass


def planned(source, target, name):
    info = describe_collection(source, name)
    return info, require_ok(plan(info, SchemaChoices(), target))


def properties(client, name) -> dict:
    return client.describe_collection(name).get("properties") or {}


def test_it_marks_the_target_with_the_job_that_created_it(pair):
    source, target = pair
    create_simple(source, "marked", rows=ROWS)
    info, spec = planned(source, target, "marked")

    report = migrate_collection(source, target, info, spec, owner="job-one", options=SMALL)

    assert report.verified, report.summary()
    assert properties(target, "marked")[OWNER_PROPERTY] == "job-one"


def test_it_resumes_a_target_created_just_before_the_worker_died(pair):
    source, target = pair
    create_simple(source, "early", rows=ROWS)
    info, spec = planned(source, target, "early")
    creating: list[bool] = []

    def die(checkpoint: dict) -> None:
        raise WorkerDied  # before the first checkpoint is saved anywhere

    with pytest.raises(WorkerDied):
        migrate_collection(
            source,
            target,
            info,
            spec,
            owner="job-early",
            options=SMALL,
            observer=Calls(on_checkpoint=die, on_creating_target=lambda: creating.append(True)),
        )
    assert creating == [True] and target.has_collection("early")

    # Without knowing it may have created it, the run finds the name taken...
    with pytest.raises(PlanError) as taken:
        migrate_collection(source, target, info, spec, owner="job-early", options=SMALL)
    assert "already exists" in taken.value.message
    # ...knowing it (recorded before the creation), it resumes into its own target.
    report = migrate_collection(
        source, target, info, spec, owner="job-early", maybe_created=True, options=SMALL
    )
    assert report.verified, report.summary()
    assert (report.target_count, report.duplicate_keys) == (ROWS, 0)


@pytest.mark.parametrize("mark", [None, "job-other"], ids=["unmarked", "another-job"])
def test_it_refuses_to_resume_into_a_collection_it_did_not_create(pair, mark):
    source, target = pair
    create_simple(source, "theirs", rows=ROWS)
    info, spec = planned(source, target, "theirs")
    create_simple(target, "theirs", rows=7)  # someone else's collection of that name
    if mark:
        target.alter_collection_properties("theirs", {OWNER_PROPERTY: mark})

    for maybe_created, checkpoint in [(False, initial_checkpoint()), (True, None)]:
        with pytest.raises((NotOwned, PlanError)) as refused:
            migrate_collection(
                source,
                target,
                info,
                spec,
                checkpoint=checkpoint,
                owner="job-mine",
                maybe_created=maybe_created,
                options=SMALL,
            )
        if checkpoint is not None:
            who = (
                f"job {mark}" if mark else "something other than this console (it has no job mark)"
            )
            assert refused.value.message.startswith(
                f"target collection theirs in database default was created by {who}, not by "
                "this job: the migration does not write into or drop a collection it did not "
                "create"
            )
        assert stored_rows(target, "theirs") == 7


def test_it_does_not_drop_on_cancel_a_collection_it_did_not_create(pair):
    source, target = pair
    create_simple(source, "keep", rows=ROWS)
    info, spec = planned(source, target, "keep")
    create_simple(target, "keep", rows=7)
    target.alter_collection_properties("keep", {OWNER_PROPERTY: "job-other"})

    with pytest.raises(CopyCanceled):
        migrate_collection(
            source,
            target,
            info,
            spec,
            checkpoint=initial_checkpoint(),
            owner="job-mine",
            observer=Calls(should_cancel=lambda: True),
        )
    assert stored_rows(target, "keep") == 7


def test_a_run_whose_lease_ended_neither_writes_nor_drops(pair):
    source, target = pair
    create_simple(source, "stale", rows=ROWS)
    info, spec = planned(source, target, "stale")
    left = [60.0]
    fenced_target = FencedClient(target, lambda: left[0], call_timeout=30, wait_timeout=60)
    written: list[dict] = []

    def checkpoint(saved: dict) -> None:
        written.append(saved)
        if saved["rows"] >= 100:
            left[0] = 0.0  # the reaper took the collection over

    with pytest.raises(LeaseLost):
        migrate_collection(
            source,
            fenced_target,
            info,
            spec,
            owner="job-stale",
            options=SMALL,
            observer=Calls(on_checkpoint=checkpoint, lease_left=lambda: left[0]),
        )
    rows = stored_rows(target, "stale")
    assert rows == written[-1]["rows"] < ROWS  # not one batch after the lease ended

    # A cancel seen by a run whose lease ended does not drop the collection either.
    with pytest.raises(LeaseLost):
        migrate_collection(
            source,
            fenced_target,
            info,
            spec,
            checkpoint=written[-1],
            owner="job-stale",
            observer=Calls(should_cancel=lambda: True, lease_left=lambda: left[0]),
        )
    with pytest.raises(LeaseLost):
        fenced_target.drop_collection("stale")
    assert target.has_collection("stale") and stored_rows(target, "stale") == rows


def test_a_resume_with_a_write_intent_rewrites_only_the_batch_in_flight(pair):
    source, target = pair
    create_simple(source, "intent", rows=ROWS)
    info, spec = planned(source, target, "intent")
    intents: list[dict] = []
    checkpoints: list[dict] = []

    def save(checkpoint: dict) -> None:
        checkpoints.append(checkpoint)
        if len(checkpoints) == 6:  # the creation's, then five batches written
            raise WorkerDied

    with pytest.raises(WorkerDied):
        migrate_collection(
            source,
            target,
            info,
            spec,
            owner="job-intent",
            options=SMALL,
            observer=Calls(on_checkpoint=save, on_write_intent=intents.append),
        )
    # The caller saved the checkpoint before the last batch together with its intent.
    saved, intent = checkpoints[-2], intents[-1]
    assert intent == {"stream": "*", "last_pk": checkpoints[-1]["partitions"]["*"]}

    scope = CopyScope("intent", "intent", "pk", False, FIELDS)
    result = copy_collection(
        source, target, scope, checkpoint=saved, write_intent=intent, options=SMALL
    )

    assert result.rows == ROWS
    # The batch in flight, re-read as the resumed run's own page (its size may differ a little):
    # nothing after it is upserted.
    in_flight = checkpoints[-1]["rows"] - saved["rows"]
    assert in_flight <= result.upserted_rows < 2 * in_flight
    assert all_keys(target, "intent", False) == all_keys(source, "intent", False)
    assert stored_rows(target, "intent") == ROWS


# --- Milvus 2.3 standalone: its new collection is not loaded, yet only the batch in flight is
# re-written; it keeps the owner mark too ----------------------------------------------------


@pytest.fixture
def milvus(standalone):
    client = connect(standalone.uri, token=standalone.token)
    yield client
    client.close()


@pytest.mark.standalone
def test_a_resume_into_an_unloaded_standalone_target_rewrites_at_most_one_batch(pair, milvus):
    source, _ = pair
    name = f"intent_{os.getpid()}"
    if milvus.has_collection(name):
        milvus.drop_collection(name)
    create_simple(source, name, rows=ROWS)
    info, spec = planned(source, milvus, name)
    intents: list[dict] = []
    checkpoints: list[dict] = []

    def save(checkpoint: dict) -> None:
        checkpoints.append(checkpoint)
        if len(checkpoints) == 6:
            raise WorkerDied

    try:
        with pytest.raises(WorkerDied):
            migrate_collection(
                source,
                milvus,
                info,
                spec,
                owner="job-standalone",
                options=SMALL,
                observer=Calls(on_checkpoint=save, on_write_intent=intents.append),
            )
        assert properties(milvus, name)[OWNER_PROPERTY] == "job-standalone"
        assert milvus.get_load_state(name)["state"].name == "NotLoad"
        saved = checkpoints[-2]

        result = copy_collection(
            source,
            milvus,
            CopyScope(name, name, "pk", False, FIELDS),
            checkpoint=saved,
            write_intent=intents[-1],
            options=SMALL,
        )

        in_flight = checkpoints[-1]["rows"] - saved["rows"]
        assert in_flight <= result.upserted_rows < 2 * in_flight  # not every remaining row
        assert result.rows == ROWS
        index = milvus.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="IP")
        milvus.create_index(name, index)
        milvus.load_collection(name)
        assert stored_rows(milvus, name) == ROWS  # count(*) counts every copy of a key
        assert all_keys(milvus, name, False) == all_keys(source, name, False)
    finally:
        if milvus.has_collection(name):
            milvus.drop_collection(name)


# --- Discard's look-up and drop (migrations_app/discard.py) -----------------------------------


def test_it_finds_only_collections_with_the_owners_mark_and_counts_their_rows(pair):
    _, target = pair
    create_simple(target, "mine", rows=17)
    create_simple(target, "unmarked", rows=3)
    create_simple(target, "others", rows=3)
    target.alter_collection_properties("mine", {OWNER_PROPERTY: "job-one"})
    target.alter_collection_properties("others", {OWNER_PROPERTY: "job-two"})
    asked = [("default", n) for n in ("others", "mine", "unmarked", "absent")]
    asked.append(("no_such_db", "mine"))

    found = find_owned(target, asked, "job-one")

    assert found == [OwnedCollection("default", "mine", 17)]


def test_it_drops_only_what_still_carries_the_mark(pair):
    _, target = pair
    create_simple(target, "mine", rows=5)
    create_simple(target, "others", rows=5)
    target.alter_collection_properties("mine", {OWNER_PROPERTY: "job-one"})
    target.alter_collection_properties("others", {OWNER_PROPERTY: "job-two"})

    assert drop_owned(target, "default", "others", "job-one") is False
    assert drop_owned(target, "default", "absent", "job-one") is False
    assert drop_owned(target, "default", "mine", "job-one") is True
    assert sorted(target.list_collections()) == ["others"]


def test_it_reads_a_mark_by_name_and_drops_by_name(pair):
    _, target = pair
    create_simple(target, "mine", rows=5)
    target.alter_collection_properties("mine", {OWNER_PROPERTY: "job-one"})
    create_simple(target, "plain", rows=5)

    assert mark_in(target, "default", "mine") == "job-one"
    assert mark_in(target, "default", "plain") is None
    with pytest.raises(CollectionNotFound) as missing:
        mark_in(target, "default", "absent")
    assert missing.value.message == "collection absent does not exist in database default"
    with pytest.raises(CollectionNotFound) as missing:
        mark_in(target, "nodb", "mine")
    assert missing.value.message == "database nodb does not exist"
    assert drop_named(target, "default", "plain") is True
    assert drop_named(target, "default", "plain") is False
    assert target.list_collections() == ["mine"]
