"""One run of one JobCollection: open both sides, call the engine, write what happens.

A CollectionRun is the engine's Observer: the engine reports on this thread (checkpoint,
write intent, progress, phase, notes) and asks `should_cancel` after every batch and in every
wait; this module turns those into conditional row updates — at most about once a second for
progress — and JobEvents. The engine's settings (batch size, retry schedule, call deadline) come
from Django settings (`engine_options`).

The run holds a lease (jobs/lease.py), renewed by a heartbeat thread: before every Milvus write
(the clients are wrapped in the engine's FencedClient) and every event it logs, the run checks
it; once lost, the engine raises LeaseLost and the run ends silently, leaving the target and the
job to the run that took over. Every row update is filtered on this run's attempt number, the
lease's fencing token.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.clients import open_client
from console.connections import Connection
from console.redaction import redact
from jobs import lifecycle, pace
from jobs.events import log_event
from jobs.lease import Heartbeat, Lease
from jobs.models import Job, JobCollection, JobRange
from jobs.pace import SpeedCap
from jobs.progress import retry_state, retrying_text
from migrations_app.engine.errors import (
    CopyCanceled,
    CopyError,
    EngineError,
    LeaseLost,
    MigrateError,
)
from migrations_app.engine.fence import FencedClient
from migrations_app.engine.migrate import (
    ShardPolicy,
    Split,
    finish_collection,
    migrate_collection,
    verify_collection,
)
from migrations_app.engine.model import (
    CollectionInfo,
    CopyProgress,
    RetryNote,
    SchemaChoices,
    TargetSpec,
    VerifyProgress,
)
from migrations_app.engine.options import DEFAULTS, Observer, Options, RetrySchedule
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.shards import KeyRange, merge_digests

log = logging.getLogger("jobs")

C = JobCollection.Status
PROGRESS_EVERY = 1.0  # seconds between progress/checkpoint writes
CANCEL_EVERY = 0.5  # seconds between reads of the job's status
RESUME_PAUSE = 2.0  # seconds before a copy interrupted by a server error resumes


def engine_options(load_after: bool, cap: SpeedCap | None = None) -> Options:
    """The engine's settings for a job's collection, from the console's settings; under a speed
    cap, batches of at most a second's worth of it (jobs/pace.py)."""
    batch_bytes = settings.MIGRATION_BATCH_BYTES or DEFAULTS.batch_bytes
    batch_rows, cap_bytes = cap.batch_limits() if cap else (None, None)
    return Options(
        batch_bytes=min(batch_bytes, cap_bytes) if cap_bytes else batch_bytes,
        batch_rows=batch_rows,
        load=load_after,
        writers=settings.MIGRATION_WRITERS,
        readers=settings.MIGRATION_READERS,
        call_timeout=float(settings.MIGRATION_CALL_TIMEOUT),
        retry=RetrySchedule(
            attempts=settings.MIGRATION_RETRY_ATTEMPTS,
            first_delay=settings.MIGRATION_RETRY_FIRST_DELAY,
            max_delay=settings.MIGRATION_RETRY_MAX_DELAY,
        ),
    )


def open_fenced(connection: Connection, db: str, role: str, name: str, lease_left) -> FencedClient:
    """A client of one side whose writes check the run's lease (`lease_left`) first."""
    try:
        client = open_client(connection, db_name=db, timeout=10)
    except EngineError as exc:
        raise MigrateError(f"the {role} ({name}) cannot be used: {exc.message}") from None
    options = engine_options(load_after=False)
    return FencedClient(
        client,
        lease_left,
        call_timeout=options.call_timeout,
        wait_timeout=options.wait_timeout,
    )


class CollectionRun(Observer):
    def __init__(self, collection: JobCollection) -> None:
        self.collection = collection
        self.job: Job = collection.job
        self.attempt = collection.attempt
        self.mine = JobCollection.objects.filter(pk=collection.pk, attempt=self.attempt)
        self.phases: dict[str, dict[str, str]] = dict(collection.phases or {})
        self.current_phase = ""
        self.last_write = 0.0
        self.pending_checkpoint: dict | None = None
        self.last_cancel_check = 0.0
        self.canceling = False
        self.secrets: list[str] = []
        self.lease = Lease(collection.pk, self.attempt, self.job.pk)
        self.write_intent = collection.write_intent
        self.batches = 0  # batches booked under the speed cap (pace)
        self.copied: int | None = None  # rows copied at the last on_progress

    # --- the run ------------------------------------------------------------------------

    def run(self) -> bool:
        """Run the collection to its final state; False when this run lost its lease (another
        run owns the collection: nothing more is done here)."""
        if not self.lease.renew():
            return False
        beat = Heartbeat(self.lease)
        beat.start()
        try:
            self._run()
        except LeaseLost as exc:
            log.warning(
                "job %s: collection %s lost its lease: %s", self.job.pk, self.collection.pk, exc
            )
            return False
        finally:
            beat.stop()
        return not self.lease.lost

    def _run(self) -> None:
        c = self.collection
        source_conn = self.job.source_connection()
        target_cluster = self.job.target_cluster
        if source_conn is None or target_cluster is None:
            gone = "source" if source_conn is None else "target"
            self._finish(C.FAILED, error=f"the {gone} cluster was deleted")
            return
        target_conn = target_cluster.connection()
        self.secrets = source_conn.secrets() + target_conn.secrets()
        if self.job.status == Job.Status.CANCELING:
            self.event("the job is being canceled: removing what this job created")
        elif c.ranges.exists():
            pass  # copied as key ranges: the ranges and their hand-over tell what happens
        elif c.checkpoint is not None:
            self.event(f"resuming from the checkpoint ({c.checkpoint.get('rows', 0)} rows)")
        else:
            self.event("started")
        try:
            self._run_with_resumes(source_conn, target_conn)
        except CopyCanceled as exc:
            self._save_checkpoint(getattr(exc, "checkpoint", None))
            self._finish(C.CANCELED)
            if self.job.type == Job.Type.VERIFICATION:
                self.event("canceled: nothing was written", level="WARNING")
            elif self.job.type == Job.Type.REPAIR:
                self.event("canceled: the key ranges repaired so far stay so", level="WARNING")
            else:
                self.event(
                    "canceled: the incomplete target collection was dropped", level="WARNING"
                )
        except CopyError as exc:
            self._save_checkpoint(exc.checkpoint)
            self._fail(exc.message)
        except LeaseLost:
            raise
        except EngineError as exc:
            self._fail(exc.message)
        except Exception as exc:  # noqa: BLE001 - the row must always get its final state
            log.exception("job %s: collection %s crashed", self.job.pk, c.pk)
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}")

    def _run_with_resumes(self, source_conn: Connection, target_conn: Connection) -> None:
        """Run the engine; when the copy stops on an error the engine could not retry away
        (a server restarted and came back with the collection released, a connection reset
        for longer than the engine's retries), resume from the checkpoint a few times."""
        c = self.collection
        for resume in range(settings.MIGRATION_COPY_RESUMES + 1):
            try:
                report = self._run_once(source_conn, target_conn)
            except CopyError as exc:
                self._save_checkpoint(exc.checkpoint)
                checkpoint = exc.checkpoint or c.checkpoint
                if resume == settings.MIGRATION_COPY_RESUMES or checkpoint is None:
                    raise
                c.checkpoint = checkpoint
                if self.should_cancel():
                    # Run once more: the engine sees the flag first thing and drops the
                    # incomplete target it created.
                    continue
                reason = redact(exc.message, self.secrets)
                self.event(
                    f"copy interrupted ({reason}); resuming from "
                    f"the checkpoint ({checkpoint.get('rows', 0)} rows)",
                    level="WARNING",
                )
                # Shown beside the collection until the resumed run starts (on_phase clears it).
                self.mine.update(
                    retrying=retry_state(
                        "copy",
                        f"copy interrupted, resuming from the checkpoint: {reason}",
                        resume + 1,
                        settings.MIGRATION_COPY_RESUMES,
                        RESUME_PAUSE,
                        timezone.now(),
                    )
                )
                time.sleep(RESUME_PAUSE)
                continue
            if isinstance(report, Split):
                self._split(report)
            elif report is not None:
                self._verified(report)
            return

    def _run_once(self, source_conn: Connection, target_conn: Connection):
        c = self.collection
        source = self._open(source_conn, c.source_db, "source", self.job.source_name)
        try:
            target = self._open(target_conn, "default", "target", self.job.target_name)
            try:
                info = CollectionInfo.from_dict(c.source_info)
                if self.job.type in (Job.Type.VERIFICATION, Job.Type.REPAIR):
                    # Verify Again compares and writes nothing; Repair re-copies the differing
                    # key ranges first. The spec is the migration's.
                    return verify_collection(
                        source,
                        target,
                        info,
                        TargetSpec.from_dict(c.spec),
                        repair=self.job.type == Job.Type.REPAIR,
                        owner=self.job.verifies_id,
                        copy_digests=self._migration_digests(),
                        options=engine_options(load_after=False, cap=self.job.speed_cap),
                        observer=self,
                    )
                spec = self._spec(info, source, target)
                ranges = list(c.ranges.order_by("position"))
                if ranges and self.job.status != Job.Status.CANCELING:
                    return self._after_split(ranges, source, target, info, spec)
                return migrate_collection(
                    source,
                    target,
                    info,
                    spec,
                    checkpoint=c.checkpoint,
                    write_intent=self.write_intent,
                    source_count_at_start=c.source_count_at_start,
                    # A row from before ownership marks (a checkpoint, no target state) resumes
                    # into its unmarked target as it always did.
                    owner=self.job.pk if c.checkpoint is None or c.target_state else None,
                    maybe_created=c.target_state == JobCollection.TargetState.CREATING,
                    shards=ShardPolicy(
                        settings.MIGRATION_SHARD_ROWS, settings.MIGRATION_MAX_SHARDS
                    ),
                    options=engine_options(self.job.load_after, self.job.speed_cap),
                    observer=self,
                )
            finally:
                target.close()
        finally:
            source.close()

    def _after_split(self, ranges: list[JobRange], source, target, info, spec):
        """A collection copied as key ranges: once every range is DONE, finish it (flush,
        indexes, load, verification with the ranges' digests merged); otherwise (a Retry) send
        the ranges that did not finish again, from their checkpoints, and return None."""
        c = self.collection
        if all(r.status == JobRange.Status.DONE for r in ranges):
            self.current_phase = C.COPYING  # its end is now
            parts = [
                (KeyRange(r.from_key, r.to_key), (r.checkpoint or {}).get("digests"))
                for r in ranges
            ]
            rows = sum(r.rows for r in ranges)
            # The collection's checkpoint holds the whole copy's digests, as an unsplit one's
            # does: Verify Again and Repair read them from there.
            self._fenced_update(
                checkpoint={**(c.checkpoint or {}), "rows": rows, "digests": merge_digests(parts)}
            )
            return finish_collection(
                source,
                target,
                info,
                spec,
                parts,
                copied_rows=rows,
                source_count_at_start=c.source_count_at_start,
                owner=self.job.pk,
                release_source=bool((c.checkpoint or {}).get("source_loaded_here")),
                options=engine_options(self.job.load_after, self.job.speed_cap),
                observer=self,
            )
        self.on_phase(C.COPYING)
        for r in ranges:
            if r.status != JobRange.Status.DONE:
                JobRange.objects.filter(pk=r.pk, attempt=r.attempt).update(
                    status=JobRange.Status.PENDING,
                    attempt=r.attempt + 1,
                    resumes=0,
                    error="",
                    queued_at=None,
                    ended_at=None,
                )
        unfinished = sum(r.status != JobRange.Status.DONE for r in ranges)
        self.event(f"{unfinished} unfinished key range(s) run again from their checkpoints")
        self._hand_over()
        return None

    def _split(self, split: Split) -> None:
        """The engine split the collection: one JobRange per key range, sent to the workers;
        this run ends and the last range to finish sends the collection on."""
        JobRange.objects.filter(collection_id=self.collection.pk).delete()  # an earlier split's
        JobRange.objects.bulk_create(
            JobRange(
                collection_id=self.collection.pk,
                position=index,
                from_key=key_range.after,
                to_key=key_range.upto,
            )
            for index, key_range in enumerate(split.ranges)
        )
        if split.source_loaded_here:
            # Kept with the collection's checkpoint: its finish releases the source again.
            checkpoint = {**(self.collection.checkpoint or {}), "source_loaded_here": True}
            self._fenced_update(checkpoint=checkpoint)
            self.collection.checkpoint = checkpoint
        self.on_phase(C.COPYING)
        self._hand_over()

    def _hand_over(self) -> None:
        """The ranges' own leases hold from now on: the collection's ends here."""
        self._fenced_update(
            lease_expires_at=None, migrated_entities=lifecycle.sum_range_rows(self.collection.pk)
        )
        self.lease.lost = True  # this run writes nothing more (the heartbeat stops renewing)
        lifecycle.dispatch_ranges(self.collection.pk)

    def _migration_digests(self) -> dict | None:
        """The digests the migration's copy of this collection kept (its checkpoint's), so a
        Verify Again or Repair can say whether the source changed since; None when unknown."""
        c = self.collection
        checkpoint = (
            JobCollection.objects.filter(
                job_id=self.job.verifies_id, source_db=c.source_db, source_name=c.source_name
            )
            .values_list("checkpoint", flat=True)
            .first()
        )
        return (checkpoint or {}).get("digests") or None

    def _open(self, connection: Connection, db: str, role: str, name: str):
        return open_fenced(connection, db, role, name, self.lease_left)

    def _spec(self, info: CollectionInfo, source, target) -> TargetSpec:
        """The spec planned at submit; a job into a new cluster plans it now, once."""
        c = self.collection
        if c.spec:
            return TargetSpec.from_dict(c.spec)
        choices = SchemaChoices.from_dict(c.choices)
        spec = require_ok(plan(info, choices, target, source_client=source))
        self.mine.update(spec=spec.to_dict(), target_name=spec.name)
        return spec

    def _verified(self, report) -> None:
        if report.verified:
            self._finish(
                C.DONE,
                verification=JobCollection.Verification.VERIFIED,
                report=report.to_dict(),
                migrated_entities=report.target_count,
                verified_entities=report.rows_compared,
            )
            self.event(report.summary())
        else:
            self._finish(
                C.FAILED,
                verification=JobCollection.Verification.MISMATCH,
                report=report.to_dict(),
                error=report.summary(),
                verified_entities=report.rows_compared,
            )
            self.event(report.summary(), level="ERROR")
        for message in report.messages:
            self.event(message, level="WARNING")

    def _fail(self, message: str) -> None:
        message = redact(message, self.secrets)
        self._finish(C.FAILED, error=message)
        self.event(f"failed: {message}", level="ERROR")

    def _finish(self, status: str, **changes) -> None:
        now = timezone.now()
        self._close_phase(now)
        self.mine.update(
            status=status, ended_at=now, phases=self.phases, retrying=None, rows_per_s=0, **changes
        )

    # --- the engine's Observer ------------------------------------------------------------

    def on_phase(self, phase: str) -> None:
        now = timezone.now()
        self._close_phase(now)
        changes: dict = {"status": phase, "heartbeat_at": now}
        changes["retrying"] = None  # a resumed run has started: nothing waits any more
        if self.current_phase == C.COPYING and self.copied is not None:
            # The copy's last figure, which the once-a-second writes may have skipped: the
            # bar must not fall short of the rows copied while the next phases run.
            changes["migrated_entities"] = self.copied
        if phase == C.VERIFYING:
            # The verification reads every row again, from the start, at its own rate.
            changes.update(verified_entities=0, rows_per_s=0)
            self.last_write = 0.0
        self.current_phase = phase
        self.phases[phase] = {"start": now.isoformat()}
        changes["phases"] = self.phases
        with transaction.atomic():  # the Jobs page never sees the figures without their bar
            self.mine.exclude(status__in=JobCollection.FINAL_STATES).update(**changes)
            if "migrated_entities" in changes:
                lifecycle.update_progress(self.job.pk)

    def _close_phase(self, now) -> None:
        if self.current_phase and self.current_phase in self.phases:
            self.phases[self.current_phase]["end"] = now.isoformat()

    def on_source_count(self, count: int) -> None:
        self.mine.filter(source_count_at_start__isnull=True).update(source_count_at_start=count)
        self.mine.update(total_entities=count)

    def on_creating_target(self) -> None:
        # Recorded before the collection exists: a run that dies between its creation and the
        # first checkpoint leaves a target the next run recognizes by its mark and resumes.
        self._fenced_update(target_state=JobCollection.TargetState.CREATING, write_intent={})
        self.write_intent = {}

    def on_target_dropped(self) -> None:
        # Nothing left to discard (View Details offers Discard only for what is left).
        self.mine.update(target_state=JobCollection.TargetState.DISCARDED)

    def on_checkpoint(self, checkpoint: dict) -> None:
        # The first checkpoint (0 rows, right after the target is created) is written at once:
        # from then on a run that dies resumes instead of finding its target name taken.
        if self.collection.checkpoint is None:
            self.collection.checkpoint = checkpoint
            self._fenced_update(
                checkpoint=checkpoint, target_state=JobCollection.TargetState.CREATED
            )
            return
        self.pending_checkpoint = checkpoint

    def on_write_intent(self, intent: dict) -> None:
        # Saved before the batch is written, with the checkpoint of every batch before it: a
        # resume re-writes only between the two (at most this one batch, on any target).
        changes: dict = {"write_intent": intent}
        if self.pending_checkpoint is not None:
            changes["checkpoint"] = self.pending_checkpoint
            self.pending_checkpoint = None
        self._fenced_update(**changes)
        self.write_intent = intent

    def _fenced_update(self, **changes) -> None:
        """Update this run's row; LeaseLost when another run took it over."""
        if not self.mine.update(**changes):
            self.lease.lost = True
            raise LeaseLost("another run took this collection over")

    def lease_left(self) -> float:
        return self.lease.left()

    def _save_checkpoint(self, checkpoint: dict | None) -> None:
        checkpoint = checkpoint or self.pending_checkpoint
        if checkpoint is not None:
            self.mine.update(checkpoint=checkpoint)
            self.pending_checkpoint = None

    def on_progress(self, progress: CopyProgress) -> None:
        self.copied = progress.rows
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY:
            return
        self.last_write = now
        changes = {
            "migrated_entities": progress.rows,
            "rows_per_s": round(progress.rows_per_s, 1),
            "heartbeat_at": timezone.now(),
        }
        if self.pending_checkpoint is not None:
            changes["checkpoint"] = self.pending_checkpoint
            self.pending_checkpoint = None
        with transaction.atomic():
            self.mine.update(**changes)
            lifecycle.update_progress(self.job.pk)

    def on_verify_progress(self, progress: VerifyProgress) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY:
            return
        self.last_write = now
        with transaction.atomic():
            self.mine.update(
                verified_entities=progress.rows,
                rows_per_s=round(progress.rows_per_s, 1),
                heartbeat_at=timezone.now(),
            )
            lifecycle.update_progress(self.job.pk)

    def on_retry(self, note: RetryNote | None) -> None:
        if note is None:
            self.mine.update(retrying=None)
            return
        reason = redact(f"{note.what} on the {note.role}: {note.reason}", self.secrets)
        now = timezone.now()
        state = retry_state(note.role, reason, note.attempt, note.attempts, note.delay, now)
        self.mine.update(retrying=state, heartbeat_at=now)
        self.event(retrying_text(state, now), level="WARNING")

    def pace(self, rows: int, size: int) -> float:
        """The job's speed cap as it is now (a Project Admin may change it while the job runs),
        booked in Redis across every collection of the job."""
        cap = Job.speed_cap_now(self.job.pk)
        if not cap:
            return 0.0
        self.batches += 1
        token = f"{self.collection.pk}-{self.attempt}-{self.batches}"
        return pace.book(self.job.pk, cap, rows, size, token)

    def should_cancel(self) -> bool:
        if not self.lease.held():
            raise LeaseLost("this run's lease ended: another run owns the collection")
        if self.canceling:
            return True
        now = time.monotonic()
        if now - self.last_cancel_check < CANCEL_EVERY:
            return False
        self.last_cancel_check = now
        status = Job.objects.filter(pk=self.job.pk).values_list("status", flat=True).first()
        self.canceling = status in (Job.Status.CANCELING, Job.Status.CANCELED, None)
        if self.canceling:
            # Write what was copied before the engine drops the incomplete target.
            self._save_checkpoint(None)
        return self.canceling

    def on_note(self, text: str) -> None:
        self.event(text)

    def event(self, message: str, *, level: str = "INFO") -> None:
        if not self.lease.held():
            # Superseded: the job's log belongs to the run that took over.
            log.warning("job %s: not logged (lease lost): %s", self.job.pk, message)
            return
        log_event(
            self.job,
            f"{self.collection.source_name}: {redact(message, self.secrets)}",
            level=level,
            collection=self.collection,
        )
