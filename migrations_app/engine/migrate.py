"""Migrate one collection: plan check → create target → copy → finalize → verify.

This is what a Celery task (one per collection), the CLI and the tests call. It holds no state
of its own: progress and checkpoints go to the caller's callbacks, so a task that dies can be
run again with the last checkpoint and goes on where the copy stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .carry import carry_over
from .checkpoint import initial_checkpoint
from .connect import on_database
from .copy import CopyResult, CopyScope, copy_collection
from .counting import count_rows
from .errors import CopyCanceled, MigrateError, PlanError
from .finalize import finalize
from .model import CollectionInfo, TargetSpec, VerifyReport
from .options import DEFAULTS, SILENT, Observer, Options
from .ownership import exists_and_owned, require_owned, require_repairable
from .plan import choices_of, plan
from .repair import repair_collection
from .rpc import CancelFlag, wait_for
from .shards import KeyRange, merge_digests, ranges_of, shard_count, split_uppers
from .target import create_target, drop_target
from .verify import SourceRead, verify

# The phases reported to `on_phase`, in order (JobCollection statuses of the same names).
CREATING, COPYING, INDEXING, VERIFYING = "CREATING", "COPYING", "INDEXING", "VERIFYING"


@dataclass(frozen=True)
class ShardPolicy:
    """When a collection is copied as key ranges (engine/shards.py): more than `shard_rows`
    rows, one range per `shard_rows` rows, at most `max_shards`."""

    shard_rows: int
    max_shards: int


@dataclass(frozen=True)
class Split:
    """What migrate_collection returns instead of a verification when it split the
    collection: the target is created and empty, `ranges` are to be copied (copy_key_range)
    and then finished (finish_collection)."""

    ranges: list[KeyRange]
    source_count: int
    # The source was loaded for the migration: finish_collection(release_source=True) releases
    # it again once the ranges are copied.
    source_loaded_here: bool = False


def migrate_collection(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    *,
    checkpoint: dict | None = None,
    write_intent: dict | None = None,
    source_count_at_start: int | None = None,
    owner: str | None = None,
    maybe_created: bool = False,
    shards: ShardPolicy | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport | Split:
    """Copy `source_info` into the target collection `spec` and return the verification.

    Without `checkpoint` the spec is planned again against the target (PlanError if anything
    changed, e.g. the name was taken meanwhile) and the target is created; with one, the target
    must still exist and the copy resumes after the checkpoint. The clients may be bound to any
    database. The source is flushed first (its rows do not change; reads get faster) and
    loaded if it was not (and released again at the end). `options` holds the settings (batch
    size, load at the end, retry schedule, ...).

    `observer`'s callbacks, all on the calling thread:
    - `on_phase(name)`: "CREATING" (before the plan check and the target's creation; also on a
      resume), "COPYING", "INDEXING" (finalize: flush, indexes, load), "VERIFYING".
    - `on_source_count(n)`: the source's row count at the start, as soon as it is known (the
      given `source_count_at_start` on a resume that passes one), so the caller can keep it.
    - `on_checkpoint(checkpoint)`: a JSON-safe dict to keep and pass back as `checkpoint` to
      resume; the first one (0 rows) right after the target is created, then after every
      written batch. Any of them resumes exactly.
    - `on_progress(CopyProgress)` after every written batch; `on_note(text)`: what a person
      should read in the job log (indexes rebuilt differently, source loaded for reading, ...).
    - `should_cancel()`: asked after every batch and, at most twice a second, while waiting in
      any phase (copy, retry back-off, flush, index build, load, verify).

    `source_count_at_start`: the source's row count when the migration first started; a
    resumed run passes the first run's figure so that writes made in between are still noticed.
    None: counted now.

    `write_intent`: the last intent the run being resumed reported (see copy_collection).
    `owner` (a job id): the target is created with its mark, and a resume writes into — a
    cancel drops — only a target that carries it (NotOwned otherwise: nothing is touched).
    `maybe_created`: a run of this migration was about to create the target and reported no
    checkpoint (`on_creating_target` came before its death): a target carrying `owner`'s mark is
    then resumed from the start instead of refused as taken.
    Writes stop with LeaseLost when `observer.lease_left()` says the caller's lease ended.

    `shards`: a collection with more rows than `shards.shard_rows`, whose copy has written
    nothing yet, is not copied here: the target is created, the source's keys are split into
    ranges (engine/shards.py) and Split is returned; the source stays loaded for the ranges'
    copies.

    Raises CopyCanceled when `should_cancel` says so, in any phase, within about a second (the
    target collection, which this migration created and which is then incomplete, is dropped
    first); CopyError when the copy fails (the target is kept: resume from the error's
    `checkpoint`, which is always set); PlanError/CreateError/FinalizeError/VerifyError/
    MigrateError with the reason.
    """
    run = _Run(source_info, spec, options, observer)
    observer.on_phase(CREATING)
    resuming = checkpoint is not None
    if not resuming and maybe_created and owner and exists_and_owned(target_client, spec, owner):
        # The run before created the target and died before its first checkpoint.
        resuming, checkpoint = True, initial_checkpoint()
        write_intent = write_intent or {}
    created = False
    try:
        run.check_cancel("before it started")
        if resuming and owner:
            require_owned(target_client, spec, owner)
        check = plan(source_info, choices_of(spec), target_client, resuming=resuming)
        if check.problems:
            raise PlanError(check.problems)
        with on_database(source_client, source_info.db) as src:
            loaded_here = run.ensure_loaded(src, source_info.name, "source")
            split = None
            try:
                _flush_quietly(src, source_info.name, run.cancel)
                count_at_start = source_count_at_start
                if count_at_start is None:
                    count_at_start = count_rows(
                        src,
                        source_info.name,
                        pk=spec.primary_field,
                        pk_is_varchar=spec.pk_is_varchar,
                        should_cancel=run.cancel,
                    )
                observer.on_source_count(count_at_start)
                run.check_cancel("before the target was created")
                if not resuming:
                    observer.on_creating_target()
                    create_target(target_client, spec, owner)
                    created = True
                    checkpoint = initial_checkpoint()
                    observer.on_checkpoint(checkpoint)
                if shards is not None and not (checkpoint or {}).get("rows"):
                    split = run.split(src, count_at_start, shards)
                    if split is not None:
                        return replace(split, source_loaded_here=loaded_here)
                # A fresh run's target was created just now and holds nothing: plain inserts.
                # Its 0-row checkpoint is for the run that resumes it.
                return run.copy_and_check(
                    src,
                    target_client,
                    checkpoint if resuming else None,
                    write_intent,
                    count_at_start,
                )
            finally:
                if loaded_here and split is None:
                    # Leave the source as it was found: it was loaded only to be read.
                    src.release_collection(source_info.name)
    except CopyCanceled:
        # The target is this migration's own (the plan refuses existing names): created by
        # this run or by the run being resumed, and incomplete.
        if (created or resuming) and drop_target(target_client, spec, owner):
            observer.on_target_dropped()
            observer.on_note(
                f"migration canceled: incomplete target collection {spec.name} dropped"
            )
        raise


def copy_key_range(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    key_range: KeyRange,
    *,
    checkpoint: dict | None = None,
    write_intent: dict | None = None,
    owner: str | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> CopyResult:
    """Copy one key range of a collection that migrate_collection split (Split) into its
    target, which must exist (and carry `owner`'s mark when given): copy_collection with the
    range in its scope; `checkpoint`/`write_intent` are the range's own (None: from the start
    of the range). Returns the CopyResult, whose digests finish_collection merges. Nothing is
    dropped on CopyCanceled: the collection's cancel drops the target once."""
    run = _Run(source_info, spec, options, observer)
    observer.on_phase(COPYING)
    run.check_cancel("before the range was copied")
    if owner:
        require_owned(target_client, spec, owner)
    with (
        on_database(source_client, source_info.db) as src,
        on_database(target_client, spec.db) as dst,
    ):
        # Loaded by the split; a source released meanwhile is loaded again (and left so).
        run.ensure_loaded(src, source_info.name, "source")
        scope = replace(CopyScope.of(spec), after=key_range.after, upto=key_range.upto)
        return copy_collection(
            src,
            dst,
            scope,
            checkpoint=checkpoint,
            write_intent=write_intent,
            options=options,
            observer=observer,
        )


def finish_collection(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    parts: list[tuple[KeyRange, dict | None]],
    *,
    copied_rows: int,
    source_count_at_start: int | None = None,
    owner: str | None = None,
    release_source: bool = False,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport:
    """After every key range of a split collection was copied: flush, indexes, carry-over,
    load and verify, as migrate_collection does after its copy, with the ranges' digests
    merged (`parts`: each range with its digests, in key order); `release_source`: release
    the source at the end (Split.source_loaded_here). CopyCanceled drops the target (the
    job's own) like a canceled migrate_collection."""
    run = _Run(source_info, spec, options, observer)
    try:
        run.check_cancel("before building indexes")
        if owner:
            require_owned(target_client, spec, owner)
        with (
            on_database(source_client, source_info.db) as src,
            on_database(target_client, spec.db) as dst,
        ):
            loaded_here = run.ensure_loaded(src, source_info.name, "source")
            try:
                digests = merge_digests(parts)
                return run.finish(src, dst, copied_rows, digests, source_count_at_start)
            finally:
                if loaded_here or release_source:
                    # Leave the source as it was found: it was loaded only to be read.
                    src.release_collection(source_info.name)
    except CopyCanceled:
        if drop_target(target_client, spec, owner):
            observer.on_target_dropped()
            observer.on_note(
                f"migration canceled: incomplete target collection {spec.name} dropped"
            )
        raise


def verify_collection(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    *,
    repair: bool = False,
    owner: str | None = None,
    copy_digests: dict | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport:
    """Verify Again: compare target collection `spec` with its source as they are now, every
    row, without writing anything; with `repair`, first re-copy the key ranges that differ
    (repair.repair_collection) and return the verification made after. Either side is loaded
    for the reading when it is not (and released again). `copy_digests`: the digests the
    migration's copy kept (its checkpoint's "digests"): the verification then says whether the
    source changed since the migration (report.source_changed). `owner` (the migration's job
    id): a repair writes only into a target carrying that mark (NotOwned otherwise, before
    anything is written). Raises VerifyError/MigrateError with the reason (a collection gone, a
    server unreachable), NotOwned, CopyError when a repair write fails, CopyCanceled when
    `observer.should_cancel` says so."""
    run = _Run(source_info, spec, options, observer)
    observer.on_phase(COPYING if repair else VERIFYING)
    for client, db, name, role in (
        (source_client, source_info.db, source_info.name, "source"),
        (target_client, spec.db, spec.name, "target"),
    ):
        with on_database(client, db) as bound:
            try:
                exists = bound.has_collection(name)
            except MilvusException as exc:
                raise MigrateError(f"the {role} cannot be read: {exc.message}") from None
            if not exists:
                raise MigrateError(f"the {role} collection {db}.{name} no longer exists")
    if repair and owner:
        require_repairable(target_client, spec, owner)
    with (
        on_database(source_client, source_info.db) as src,
        on_database(target_client, spec.db) as dst,
    ):
        source_loaded = run.ensure_loaded(src, source_info.name, "source")
        try:
            target_loaded = run.ensure_loaded(dst, spec.name, "target")
            try:
                if repair:
                    result = repair_collection(
                        src,
                        dst,
                        source_info,
                        spec,
                        copy_digests=copy_digests,
                        options=options,
                        observer=observer,
                    )
                    if not result.ranges:
                        observer.on_note("repair: every key range was identical, nothing written")
                    observer.on_phase(VERIFYING)
                    return result.report
                return verify(
                    src,
                    dst,
                    source_info,
                    spec,
                    copy_digests=copy_digests,
                    later=True,
                    options=options,
                    observer=observer,
                )
            finally:
                if target_loaded:
                    dst.release_collection(spec.name)
        finally:
            if source_loaded:
                src.release_collection(source_info.name)


class _Run:
    """One call of migrate_collection: its settings, observer and cancel flag."""

    def __init__(
        self, source_info: CollectionInfo, spec: TargetSpec, options: Options, observer: Observer
    ) -> None:
        self.source_info = source_info
        self.spec = spec
        self.options = options
        self.observer = observer
        self.cancel = CancelFlag(observer.should_cancel)

    def check_cancel(self, what: str) -> None:
        if self.cancel.now():
            raise CopyCanceled(f"migration of {self.source_info.name} canceled {what}")

    def copy_and_check(
        self,
        src: MilvusClient,
        target_client: MilvusClient,
        checkpoint,
        write_intent,
        count_at_start: int,
    ) -> VerifyReport:
        spec, observer, options = self.spec, self.observer, self.options
        with on_database(target_client, spec.db) as dst:
            observer.on_phase(COPYING)
            self.check_cancel("before the copy")
            scope = CopyScope.of(spec)
            result = copy_collection(
                src,
                dst,
                scope,
                checkpoint=checkpoint,
                write_intent=write_intent,
                options=options,
                observer=observer,
            )
            return self.finish(src, dst, result.rows, result.digests, count_at_start)

    def finish(
        self,
        src: MilvusClient,
        dst: MilvusClient,
        copied_rows: int,
        digests: dict | None,
        count_at_start: int | None,
    ) -> VerifyReport:
        """Flush, build indexes, carry over, load and verify the copied target (`dst` bound to
        its database) against the digests of the copy."""
        spec, observer, options = self.spec, self.observer, self.options
        # The source's side of the verification is read now, while the target builds its
        # indexes (the source server is idle then): verify reads only the target.
        ahead = None
        if digests is not None:
            ahead = SourceRead(src, self.source_info, spec, digests, options)
        try:
            observer.on_phase(INDEXING)
            self.check_cancel("before building indexes")
            finalize(dst, spec, options=options, observer=observer)
            carry_over(src, dst, self.source_info, spec, observer)
            observer.on_phase(VERIFYING)
            self.check_cancel("before verifying")
            target_loaded_here = self.ensure_loaded(dst, spec.name, "target")
            try:
                return verify(
                    src,
                    dst,
                    self.source_info,
                    spec,
                    source_count_at_start=count_at_start,
                    copied_rows=copied_rows,
                    copy_digests=digests,
                    source_read=ahead,
                    options=options,
                    observer=observer,
                )
            finally:
                if target_loaded_here and not options.load:
                    dst.release_collection(spec.name)
        finally:
            if ahead is not None:
                ahead.stop()

    def split(self, src: MilvusClient, count: int, policy: ShardPolicy) -> Split | None:
        """The collection's key ranges when it is large enough to be split, else None."""
        wanted = shard_count(count, policy.shard_rows, policy.max_shards)
        if wanted < 2:
            return None
        uppers = split_uppers(
            src,
            self.source_info.name,
            self.spec.primary_field,
            self.spec.pk_is_varchar,
            rows=count,
            shards=wanted,
            cancel=self.cancel,
        )
        if not uppers:
            return None
        ranges = ranges_of(uppers)
        self.observer.on_note(
            f"{count} rows: copied as {len(ranges)} key ranges of about "
            f"{count // len(ranges)} rows each"
        )
        return Split(ranges=ranges, source_count=count)

    def ensure_loaded(self, client: MilvusClient, name: str, role: str) -> bool:
        """Load collection `name` if it is not; True when this call loaded it."""
        state = client.get_load_state(name).get("state")
        if getattr(state, "name", str(state)) == "Loaded":
            return False
        try:
            wait_for(
                lambda: client.load_collection(name),
                self.cancel,
                f"load of {name}",
                self.options.cancel_poll,
            )
        except MilvusException as exc:
            raise MigrateError(
                f"the {role} collection {name} is not loaded and cannot be loaded: {exc.message}"
            ) from None
        self.observer.on_note(f"{role} collection {name} loaded for the migration")
        return True


def _flush_quietly(client: MilvusClient, name: str, cancel) -> None:
    """Flush the source before reading it: its data does not change, and Milvus Lite answers
    every query with a scan of the rows not yet flushed (measured at 100,000 rows: the copy
    took 23 s unflushed, 9 s flushed). A role that may not flush just reads more slowly."""
    try:
        wait_for(lambda: client.flush(name), cancel, f"flush of {name}")
    except MilvusException:
        pass
