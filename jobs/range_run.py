"""One run of one key range (JobRange) of a collection copied as several: the engine's Observer
for `copy_key_range`, as CollectionRun is for a whole collection.

The range holds its own lease (jobs/lease.py on the JobRange row, renewed by a heartbeat), its
own checkpoint and write intent, written with conditional updates on its attempt; its rows
copied are summed into the collection's figures. Cancel is the job's status, as for a
collection; the target is dropped once, by the collection's run, after every range stopped.
When the run ends, lifecycle.range_ended hands the collection on (finish, fail or drop).
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.redaction import redact
from jobs import lifecycle, pace
from jobs.collection_run import engine_options, open_fenced
from jobs.events import log_event
from jobs.lease import Heartbeat, Lease
from jobs.models import Job, JobCollection, JobRange
from migrations_app.engine.checkpoint import initial_checkpoint
from migrations_app.engine.errors import CopyCanceled, CopyError, EngineError, LeaseLost
from migrations_app.engine.migrate import copy_key_range
from migrations_app.engine.model import CollectionInfo, CopyProgress, TargetSpec
from migrations_app.engine.options import Observer
from migrations_app.engine.shards import KeyRange

log = logging.getLogger("jobs")

R = JobRange.Status
PROGRESS_EVERY = 1.0  # seconds between progress/checkpoint writes
CANCEL_EVERY = 0.5  # seconds between reads of the job's status
RESUME_PAUSE = 2.0  # seconds before a copy interrupted by a server error resumes


class RangeRun(Observer):
    def __init__(self, key_range: JobRange) -> None:
        self.range = key_range
        self.collection: JobCollection = key_range.collection
        self.job: Job = self.collection.job
        self.attempt = key_range.attempt
        self.mine = JobRange.objects.filter(pk=key_range.pk, attempt=self.attempt)
        self.lease = Lease(key_range.pk, self.attempt, self.job.pk, model=JobRange)
        self.checkpoint = key_range.checkpoint
        self.write_intent = key_range.write_intent
        self.pending_checkpoint: dict | None = None
        self.last_write = 0.0
        self.last_cancel_check = 0.0
        self.canceling = False
        self.secrets: list[str] = []
        self.batches = 0

    @property
    def label(self) -> str:
        total = JobRange.objects.filter(collection_id=self.collection.pk).count()
        return f"{self.collection.source_name}: key range {self.range.position + 1} of {total}"

    def run(self) -> bool:
        """Copy the range to its final state; False when this run lost its lease."""
        if not self.lease.renew():
            return False
        beat = Heartbeat(self.lease)
        beat.start()
        try:
            self._run()
        except LeaseLost as exc:
            log.warning("job %s: range %s lost its lease: %s", self.job.pk, self.range.pk, exc)
            return False
        finally:
            beat.stop()
        return not self.lease.lost

    def _run(self) -> None:
        source_conn = self.job.source_connection()
        target_cluster = self.job.target_cluster
        if source_conn is None or target_cluster is None:
            gone = "source" if source_conn is None else "target"
            self._finish(R.FAILED, error=f"the {gone} cluster was deleted")
            return
        target_conn = target_cluster.connection()
        self.secrets = source_conn.secrets() + target_conn.secrets()
        rows = (self.checkpoint or {}).get("rows", 0)
        self.event(f"resuming from its checkpoint ({rows} rows)" if self.checkpoint else "started")
        try:
            result = self._copy_with_resumes(source_conn, target_conn)
        except CopyCanceled as exc:
            self._save_checkpoint(getattr(exc, "checkpoint", None))
            self._finish(R.CANCELED)
            self.event("canceled", level="WARNING")
            return
        except CopyError as exc:
            self._save_checkpoint(exc.checkpoint)
            self._fail(exc.message)
            return
        except LeaseLost:
            raise
        except EngineError as exc:
            self._fail(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - the row must always get its final state
            log.exception("job %s: range %s crashed", self.job.pk, self.range.pk)
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}")
            return
        self._save_checkpoint(None)
        self._finish(R.DONE, rows=result.rows)
        self.event(f"copied {result.rows} rows")

    def _copy_with_resumes(self, source_conn, target_conn):
        for resume in range(settings.MIGRATION_COPY_RESUMES + 1):
            try:
                return self._copy_once(source_conn, target_conn)
            except CopyError as exc:
                self._save_checkpoint(exc.checkpoint)
                if resume == settings.MIGRATION_COPY_RESUMES or exc.checkpoint is None:
                    raise
                self.checkpoint = exc.checkpoint
                self.event(
                    f"copy interrupted ({redact(exc.message, self.secrets)}); resuming from "
                    f"its checkpoint ({exc.checkpoint.get('rows', 0)} rows)",
                    level="WARNING",
                )
                time.sleep(RESUME_PAUSE)
        raise AssertionError("unreachable")

    def _copy_once(self, source_conn, target_conn):
        c = self.collection
        source = open_fenced(
            source_conn, c.source_db, "source", self.job.source_name, self.lease_left
        )
        try:
            target = open_fenced(
                target_conn, "default", "target", self.job.target_name, self.lease_left
            )
            try:
                return copy_key_range(
                    source,
                    target,
                    CollectionInfo.from_dict(c.source_info),
                    TargetSpec.from_dict(c.spec),
                    KeyRange(after=self.range.from_key, upto=self.range.to_key),
                    checkpoint=self._resume_point(),
                    write_intent=self.write_intent,
                    owner=self.job.pk,
                    options=engine_options(self.job.load_after, self.job.speed_cap),
                    observer=self,
                )
            finally:
                target.close()
        finally:
            source.close()

    def _resume_point(self) -> dict | None:
        """The checkpoint to go on from. A run that died after saving its first write intent
        but before its first checkpoint may have written that batch: it resumes from the
        0-row checkpoint, so the batch is rewritten (upserted), not inserted twice."""
        if self.checkpoint is None and self.write_intent:
            return initial_checkpoint()
        return self.checkpoint

    def _fail(self, message: str) -> None:
        message = redact(message, self.secrets)
        self._finish(R.FAILED, error=message)
        self.event(f"failed: {message}", level="ERROR")

    def _finish(self, status: str, **changes) -> None:
        with transaction.atomic():  # the range's end and the collection's sums at once
            self.mine.update(status=status, ended_at=timezone.now(), rows_per_s=0, **changes)
            lifecycle.sum_range_rows(self.collection.pk)

    # --- the engine's Observer ------------------------------------------------------------

    def on_checkpoint(self, checkpoint: dict) -> None:
        if self.checkpoint is None:
            self.checkpoint = checkpoint
            self._fenced_update(checkpoint=checkpoint)
            return
        self.pending_checkpoint = checkpoint

    def on_write_intent(self, intent: dict) -> None:
        changes: dict = {"write_intent": intent}
        if self.pending_checkpoint is not None:
            changes["checkpoint"] = self.pending_checkpoint
            changes["rows"] = self.pending_checkpoint.get("rows", 0)
            self.pending_checkpoint = None
        self._fenced_update(**changes)
        self.write_intent = intent

    def _fenced_update(self, **changes) -> None:
        if not self.mine.update(**changes):
            self.lease.lost = True
            raise LeaseLost("another run took this key range over")

    def _save_checkpoint(self, checkpoint: dict | None) -> None:
        checkpoint = checkpoint or self.pending_checkpoint
        if checkpoint is not None:
            self.mine.update(checkpoint=checkpoint, rows=checkpoint.get("rows", 0))
            self.pending_checkpoint = None

    def lease_left(self) -> float:
        return self.lease.left()

    def on_progress(self, progress: CopyProgress) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY:
            return
        self.last_write = now
        changes: dict = {
            "rows": progress.rows,
            "rows_per_s": round(progress.rows_per_s, 1),
            "heartbeat_at": timezone.now(),
        }
        if self.pending_checkpoint is not None:
            changes["checkpoint"] = self.pending_checkpoint
            self.pending_checkpoint = None
        with transaction.atomic():  # the range's figures, the collection's sums and the bar
            self.mine.update(**changes)
            lifecycle.sum_range_rows(self.collection.pk)
            lifecycle.update_progress(self.job.pk)

    def pace(self, rows: int, size: int) -> float:
        """The job's speed cap, booked in Redis across every collection and range of the job."""
        cap = Job.speed_cap_now(self.job.pk)
        if not cap:
            return 0.0
        self.batches += 1
        token = f"range-{self.range.pk}-{self.attempt}-{self.batches}"
        return pace.book(self.job.pk, cap, rows, size, token)

    def should_cancel(self) -> bool:
        if not self.lease.held():
            raise LeaseLost("this run's lease ended: another run owns the key range")
        if self.canceling:
            return True
        now = time.monotonic()
        if now - self.last_cancel_check < CANCEL_EVERY:
            return False
        self.last_cancel_check = now
        status = Job.objects.filter(pk=self.job.pk).values_list("status", flat=True).first()
        self.canceling = status != Job.Status.IN_PROGRESS
        if self.canceling:
            self._save_checkpoint(None)
        return self.canceling

    def on_note(self, text: str) -> None:
        self.event(text)

    def event(self, message: str, *, level: str = "INFO") -> None:
        if not self.lease.held():
            log.warning("job %s: not logged (lease lost): %s", self.job.pk, message)
            return
        log_event(
            self.job,
            f"{self.label}: {redact(message, self.secrets)}",
            level=level,
            collection=self.collection,
        )
