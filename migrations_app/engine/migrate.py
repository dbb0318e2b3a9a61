"""Migrate one collection: plan check → create target → copy → finalize → verify.

This is what a Celery task (one per collection), the CLI and the tests call. It holds no state
of its own: progress and checkpoints go to the caller's callbacks, so a task that dies can be
run again with the last checkpoint and goes on where the copy stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import on_database, server_kind
from .copy import (
    DEFAULT_BATCH_BYTES,
    CopyProgress,
    CopyResult,
    copy_collection,
    initial_checkpoint,
)
from .errors import CopyCanceled, MigrateError, PlanError
from .finalize import finalize
from .model import CollectionInfo, TargetSpec, VerifyReport
from .plan import choices_of, create_target, drop_target, plan
from .verify import count_rows, verify


def migrate_collection(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    *,
    checkpoint: dict | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
    on_progress: Callable[[CopyProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    on_source_count: Callable[[int], None] | None = None,
    load: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    sample_rows: int = 100,
    source_count_at_start: int | None = None,
) -> VerifyReport:
    """Copy `source_info` into the target collection `spec` and return the verification.

    Without `checkpoint` the spec is planned again against the target (PlanError if anything
    changed, e.g. the name was taken meanwhile) and the target is created; with one, the target
    must still exist and the copy resumes after the checkpoint. The clients may be bound to any
    database. The source is flushed first (its rows do not change; reads get faster) and
    loaded if it was not (and released again at the end). `on_note` receives what a person should read in the job log (indexes rebuilt
    differently, source loaded for reading, ...).

    `source_count_at_start`: the source's row count when the migration first started; a
    resumed run passes the first run's figure (the report's `source_count_at_start`) so that
    writes made in between are still noticed. None: counted now.

    Raises CopyCanceled when `should_cancel` says so (the incomplete target collection is
    dropped first), CopyError when the copy fails (the target is kept: resume from the error's
    checkpoint), and PlanError/CreateError/FinalizeError/VerifyError/MigrateError with the reason.
    """

    def note(text: str) -> None:
        if on_note is not None:
            on_note(text)

    def phase(name: str) -> None:
        if on_phase is not None:
            on_phase(name)

    resuming = checkpoint is not None
    check = plan(source_info, choices_of(spec), target_client, resuming=resuming)
    if check.problems:
        raise PlanError(check.problems)

    source_kind, _ = server_kind(source_client)
    with on_database(source_client, source_info.db) as src:
        loaded_here = _ensure_loaded(src, source_info.name, "source", note)
        _flush_quietly(src, source_info.name)
        try:
            count_at_start = source_count_at_start
            if count_at_start is None:
                count_at_start = count_rows(
                    src, source_info.name, pk=spec.primary_field, lite=source_kind == "milvus_lite"
                )
            if on_source_count is not None:
                on_source_count(count_at_start)
            phase("CREATING")
            if not resuming:
                create_target(target_client, spec)
                if on_checkpoint is not None:
                    on_checkpoint(initial_checkpoint(spec))
            phase("COPYING")
            with on_database(target_client, spec.db) as dst:
                try:
                    result = copy_planned(
                        src,
                        dst,
                        source_info.name,
                        spec,
                        checkpoint=checkpoint,
                        batch_bytes=batch_bytes,
                        on_checkpoint=on_checkpoint,
                        on_progress=on_progress,
                        should_cancel=should_cancel,
                    )
                except CopyCanceled:
                    drop_target(target_client, spec)
                    note(f"copy canceled: incomplete target collection {spec.name} dropped")
                    raise
                phase("INDEXING")
                for text in finalize(dst, spec, load=load):
                    note(text)
                target_loaded_here = _ensure_loaded(dst, spec.name, "target", note)
                phase("VERIFYING")
                try:
                    return verify(
                        src,
                        dst,
                        source_info,
                        spec,
                        source_count_at_start=count_at_start,
                        sample_rows=sample_rows,
                        copied_rows=result.rows,
                    )
                finally:
                    if target_loaded_here and not load:
                        dst.release_collection(spec.name)
        finally:
            if loaded_here:
                # Leave the source as it was found: it was loaded only to be read.
                src.release_collection(source_info.name)


def _flush_quietly(client: MilvusClient, name: str) -> None:
    """Flush the source before reading it: its data does not change, and Milvus Lite answers
    every query with a scan of the rows not yet flushed (measured at 100,000 rows: the copy
    took 23 s unflushed, 9 s flushed). A role that may not flush just reads more slowly."""
    try:
        client.flush(name)
    except MilvusException:
        pass


def _ensure_loaded(client: MilvusClient, name: str, role: str, note) -> bool:
    """Load collection `name` if it is not; True when this call loaded it."""
    state = client.get_load_state(name).get("state")
    if getattr(state, "name", str(state)) == "Loaded":
        return False
    try:
        client.load_collection(name)
    except MilvusException as exc:
        raise MigrateError(
            f"the {role} collection {name} is not loaded and cannot be loaded: {exc.message}"
        ) from None
    note(f"{role} collection {name} loaded for the migration")
    return True


def copy_planned(
    source: MilvusClient, target: MilvusClient, source_name: str, spec: TargetSpec, **options
) -> CopyResult:
    """copy_collection with everything the plan decided taken from `spec`; `options` are
    copy_collection's own (checkpoint, batch_bytes, callbacks). Clients are bound to the
    source and target databases already."""
    return copy_collection(
        source,
        target,
        source_collection=source_name,
        target_collection=spec.name,
        pk_field=spec.primary_field,
        pk_is_varchar=spec.pk_is_varchar,
        read_fields=list(spec.read_fields),
        dynamic=spec.copy_dynamic,
        partitions=spec.copy_partitions,
        **options,
    )
