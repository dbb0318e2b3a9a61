"""Every state change of a job: enqueue, start, dispatch, settle, cancel, retry, fail, reap.

Whether a job may start now (running slots, fair order) is jobs.slots' decision; another
organization's credentials leave a job here, when it no longer needs them.

The Job row is the truth (never Celery's result store). Every transition is a conditional
update, so the tasks, the reaper, Cancel and Retry can race without doing anything twice:
whoever updates 0 rows lost and does nothing. Callers above (migrations_app.service: rights,
refusals) call in here; nothing here calls up.

Tasks are sent by name (`RUN_JOB`, `RUN_COLLECTION`), not by importing jobs.tasks: the tasks
call this module, so importing them here would make the two import each other.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.dispatch import receiver
from django.utils import timezone

from console.celery import app
from console.models import Cluster, User
from console.signals import collection_dropped
from jobs import slots
from jobs.events import log_event
from jobs.models import Job, JobCollection, JobRange, JobRun
from jobs.progress import job_percent

log = logging.getLogger("jobs")

C = JobCollection.Status

# The Celery names of the tasks in jobs/tasks.py.
RUN_JOB = "jobs.run_job"
RUN_COLLECTION = "jobs.run_collection"
RUN_RANGE = "jobs.run_range"
REAP = "jobs.reap"
NOTIFY_END = "jobs.notify_end"


def enqueue(job_id: str) -> None:
    """Send the job's task to the broker with the id stored on the row.

    A broker that is down does not lose the job: it stays PENDING and the reaper sends it again.
    """
    job = Job.objects.filter(pk=job_id).only("task_id").first()
    if job is None:
        return
    try:
        app.send_task(RUN_JOB, args=[job_id], task_id=job.task_id or None)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the reaper retries
        log.warning("job %s: could not reach the broker, the reaper will retry: %s", job_id, exc)


def _ended(job_id: str) -> None:
    """The job just became final (SUCCESSFUL, FAILED or CANCELED): once that is committed, its
    creator and its project's webhook are told (jobs.notify). Every final transition below
    calls this, and only after its conditional update won."""

    def send() -> None:
        try:
            app.send_task(NOTIFY_END, args=[job_id])
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds
            log.warning("job %s: could not queue the notifications of its end: %s", job_id, exc)

    transaction.on_commit(send)


def keep_waiting(job_id: str) -> None:
    """A PENDING job waiting for its new cluster is alive: the reaper leaves it alone."""
    Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(heartbeat_at=timezone.now())


def start(job_id: str) -> bool:
    """PENDING → IN_PROGRESS when a running slot is free for it and it is its turn (see
    jobs.slots); False when it waits PENDING for a free slot ("waiting for a free slot"), or
    someone else started, canceled or finished it. Waiting jobs whose turn came are started
    and sent too."""
    started = slots.request(job_id)
    _send_started([pk for pk in started if pk != job_id])
    return job_id in started


def fill_slots() -> list[str]:
    """Start (and send) the waiting jobs whose turn came: call whenever a slot may have freed
    (a job ended, the reaper's round)."""
    started = slots.fill()
    _send_started(started)
    return started


def _send_started(job_ids: list[str]) -> None:
    for job in Job.objects.filter(pk__in=job_ids):
        log_event(job, "job started: a running slot is free")
        enqueue(job.pk)


def _remove_source_credentials(jobs, why: str) -> int:
    """Another organization's credentials leave the final jobs of `jobs` (conditional on the
    status read, so a Retry racing this keeps them); how many jobs lost them."""
    removed = 0
    for job in jobs.filter(status__in=Job.FINAL_STATES).exclude(source_connection_enc=""):
        with transaction.atomic():  # the removal and its line in the log, together
            if (
                Job.objects.filter(pk=job.pk, status=job.status)
                .exclude(source_connection_enc="")
                .update(source_connection_enc="", source_credentials_removed_at=timezone.now())
            ):
                log_event(job, f"the source's credentials were removed from the job: {why}")
                removed += 1
    return removed


def remove_expired_credentials() -> int:
    """FAILED jobs keep another organization's credentials MIGRATION_CREDENTIAL_RETENTION
    seconds (for Retry); then they go, and a Retry asks for them again."""
    retention = settings.MIGRATION_CREDENTIAL_RETENTION
    cutoff = timezone.now() - timedelta(seconds=retention)
    days = retention / 86400
    kept = f"{days:g} day(s)" if days >= 1 else f"{retention} s"
    return _remove_source_credentials(
        Job.objects.filter(status=Job.Status.FAILED, ended_at__lt=cutoff),
        f"they are kept {kept} after a job fails; a Retry asks for them again",
    )


def dispatch(job_id: str) -> int:
    """Send tasks for PENDING collections while fewer than the cap are running; how many sent.

    MIGRATION_PARALLEL_COLLECTIONS caps the collections of one job copied at once. Of a job
    being canceled, only the collections whose target it created are sent: their run drops it.
    """
    job = Job.objects.filter(pk=job_id).only("status").first()
    if job is None or job.status not in (Job.Status.IN_PROGRESS, Job.Status.CANCELING):
        return 0
    mine = JobCollection.objects.filter(job_id=job_id)
    running = mine.filter(
        Q(status__in=JobCollection.ACTIVE_STATES) | Q(status=C.PENDING, queued_at__isnull=False)
    ).count()
    waiting = mine.filter(status=C.PENDING, queued_at__isnull=True)
    if job.status == Job.Status.CANCELING:
        waiting = waiting.exclude(target_state=JobCollection.TargetState.NONE)
    sent = 0
    for collection in waiting.order_by("position"):
        if running >= settings.MIGRATION_PARALLEL_COLLECTIONS:
            break
        claimed = JobCollection.objects.filter(
            pk=collection.pk, status=C.PENDING, queued_at__isnull=True
        ).update(queued_at=timezone.now())
        if not claimed:
            continue
        try:
            app.send_task(RUN_COLLECTION, args=[collection.pk, collection.attempt])
        except Exception as exc:  # noqa: BLE001 - the reaper sends it again
            log.warning("job %s: could not queue collection %s: %s", job_id, collection.pk, exc)
        running += 1
        sent += 1
    return sent


def settle(job_id: str) -> str | None:
    """Once every collection is final, give the job its final status; the status, or None.

    CANCELING → CANCELED; SUCCESSFUL only when every collection is DONE and VERIFIED; otherwise
    FAILED with a reason made of the collections' own. Pending collections of a job being
    canceled are canceled here (they never started).
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_final:
        return None
    collections = JobCollection.objects.filter(job_id=job_id)
    now = timezone.now()
    if job.status == Job.Status.CANCELING:
        _cancel_pending_collections(job_id, now, keep_created=True)
    if collections.exclude(status__in=JobCollection.FINAL_STATES).exists():
        return None
    rows = list(collections)
    update_progress(job_id)
    if job.status == Job.Status.CANCELING:
        final, reason = Job.Status.CANCELED, "canceled"
        if job.canceled_by_id:
            reason = f"canceled by {job.canceled_by.email}"
    elif all(c.status == C.DONE and c.verification == c.Verification.VERIFIED for c in rows):
        final, reason = Job.Status.SUCCESSFUL, ""
    else:
        final, reason = Job.Status.FAILED, failure_reason(rows)
    changes = {"status": final, "ended_at": now, "reason": reason}
    if final == Job.Status.SUCCESSFUL:
        changes["progress"] = 100
    level = "INFO" if final == Job.Status.SUCCESSFUL else "ERROR"
    if final == Job.Status.CANCELED:
        level = "WARNING"
    summary = {
        Job.Status.SUCCESSFUL: "job successful: every collection copied and verified",
        Job.Status.CANCELED: "job canceled",
        Job.Status.FAILED: f"job failed: {reason}",
    }[final]
    with transaction.atomic():  # no moment where the job is final with credentials it ended
        if not Job.objects.filter(pk=job_id, status=job.status).update(**changes):
            return None  # someone else moved it meanwhile (e.g. Cancel): they settle it
        _end_run(job_id, now, final, reason)
        log_event(job, summary, level=level)
        if final != Job.Status.FAILED:  # a FAILED job keeps them for Retry (until the reaper)
            _remove_source_credentials(Job.objects.filter(pk=job_id), "the job ended")
        _ended(job_id)
    fill_slots()  # its slot is free
    return final


def _end_run(job_id: str, now: datetime, status: str, reason: str) -> None:
    """The job's open run (JobRun) ends with the job's final status."""
    JobRun.objects.filter(job_id=job_id, ended_at__isnull=True).update(
        ended_at=now, status=status, reason=reason
    )


def claim(collection: JobCollection, attempt: int) -> bool:
    """PENDING (this attempt) → CREATING: the caller's task runs the collection now.

    False when another task claimed it first or a newer attempt superseded this one.
    """
    now = timezone.now()
    return bool(
        JobCollection.objects.filter(pk=collection.pk, status=C.PENDING, attempt=attempt).update(
            status=C.CREATING,
            started_at=collection.started_at or now,
            heartbeat_at=now,
            # The lease starts here (the run renews it at once): an earlier attempt's expired
            # lease must not make the reaper take this run over before it began.
            lease_expires_at=now + timedelta(seconds=settings.MIGRATION_STALE_AFTER),
            queued_at=None,
        )
    )


# --- key ranges (jobs/range_run.py) ---------------------------------------------------------


def dispatch_ranges(collection_id: int) -> int:
    """Send a task for each PENDING key range of the collection not sent yet; how many sent.
    Every range is sent at once: the workers' concurrency is the limit."""
    sent = 0
    waiting = JobRange.objects.filter(
        collection_id=collection_id, status=JobRange.Status.PENDING, queued_at__isnull=True
    )
    for key_range in waiting.order_by("position"):
        if not JobRange.objects.filter(
            pk=key_range.pk, status=JobRange.Status.PENDING, queued_at__isnull=True
        ).update(queued_at=timezone.now()):
            continue
        try:
            app.send_task(RUN_RANGE, args=[key_range.pk, key_range.attempt])
        except Exception as exc:  # noqa: BLE001 - the reaper sends it again
            log.warning("could not queue key range %s: %s", key_range.pk, exc)
        sent += 1
    return sent


def claim_range(key_range: JobRange, attempt: int, worker: str) -> bool:
    """PENDING (this attempt) → COPYING by `worker`; False when another task claimed it first
    or a newer attempt superseded this one."""
    now = timezone.now()
    return bool(
        JobRange.objects.filter(
            pk=key_range.pk, status=JobRange.Status.PENDING, attempt=attempt
        ).update(
            status=JobRange.Status.COPYING,
            worker=worker,
            started_at=key_range.started_at or now,
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=settings.MIGRATION_STALE_AFTER),
            queued_at=None,
        )
    )


def sum_range_rows(collection_id: int) -> int:
    """The collection's rows copied and copy rate: the sums of its ranges' (written on the
    collection; the rate of the ranges copying now). Returns the rows."""
    sums = JobRange.objects.filter(collection_id=collection_id).aggregate(
        rows=Sum("rows"), rate=Sum("rows_per_s", filter=Q(status=JobRange.Status.COPYING))
    )
    total = sums["rows"] or 0
    JobCollection.objects.filter(pk=collection_id).update(
        migrated_entities=total, rows_per_s=round(sums["rate"] or 0, 1)
    )
    return total


def range_ended(collection_id: int) -> None:
    """A key range became final. Once all of the collection's are, the collection goes on,
    exactly once (a conditional update on its attempt): FAILED with the first failed range's
    reason; otherwise back to PENDING with a new attempt, so that its next run finishes it
    (flush, indexes, load, verification) or, for a job being canceled, drops its target."""
    ranges = JobRange.objects.filter(collection_id=collection_id)
    if ranges.exclude(status__in=JobRange.FINAL_STATES).exists():
        return
    collection = JobCollection.objects.select_related("job").filter(pk=collection_id).first()
    if collection is None or collection.status != C.COPYING:
        return
    job = collection.job
    rows = sum_range_rows(collection_id)
    mine = JobCollection.objects.filter(
        pk=collection_id, status=C.COPYING, attempt=collection.attempt
    )
    failed = ranges.filter(status=JobRange.Status.FAILED).order_by("position").first()
    if failed is not None and job.status != Job.Status.CANCELING:
        error = f"key range {failed.position + 1} of {ranges.count()} failed: {failed.error}"
        if mine.update(status=C.FAILED, ended_at=timezone.now(), error=error, rows_per_s=0):
            log_event(
                job, f"{collection.source_name}: {error}", level="ERROR", collection=collection
            )
    elif mine.update(status=C.PENDING, attempt=collection.attempt + 1, queued_at=None):
        if job.status == Job.Status.IN_PROGRESS:
            log_event(
                job,
                f"{collection.source_name}: every key range copied ({rows} rows); "
                "building indexes and verifying",
                collection=collection,
            )
    dispatch(job.pk)
    settle(job.pk)


def fail_pending(job: Job, reason: str) -> None:
    """PENDING → FAILED before anything ran (e.g. its new cluster never started)."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.FAILED, reason=reason, ended_at=now
    ):
        _end_run(job.pk, now, Job.Status.FAILED, reason)
        JobCollection.objects.filter(job=job, status=C.PENDING).update(
            status=C.FAILED, error=reason
        )
        log_event(job, f"job failed: {reason}", level="ERROR")
        _ended(job.pk)


def cancel(job: Job, by: User) -> bool:
    """PENDING → CANCELED at once; IN PROGRESS → CANCELING (the copy stops within a batch).

    False when the job is neither (final, or being canceled already). Rights are the caller's.
    """
    now = timezone.now()
    with transaction.atomic():
        canceled = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
            status=Job.Status.CANCELED, ended_at=now, canceled_by=by, reason="canceled"
        )
        if canceled:
            _end_run(job.pk, now, Job.Status.CANCELED, "canceled")
            _cancel_pending_collections(job.pk, now)
            log_event(job, f"canceled by {by.email} before it started", level="WARNING")
            _remove_source_credentials(Job.objects.filter(pk=job.pk), "the job ended")
            _ended(job.pk)
    if canceled:
        _revoke(job)
        return True
    if Job.objects.filter(pk=job.pk, status=Job.Status.IN_PROGRESS).update(
        status=Job.Status.CANCELING, canceled_by=by
    ):
        log_event(job, f"cancel requested by {by.email}", level="WARNING")
        if not settle(job.pk):  # nothing running (all collections final or pending): done now
            dispatch(job.pk)  # collections waiting with a target of this job: drop it
        return True
    return False


def _cancel_pending_collections(job_id: str, now: datetime, keep_created: bool = False) -> None:
    """Collections of a canceled job that never started are canceled, not run. With
    `keep_created`, those whose target this job created stay PENDING: their run drops it."""
    pending = JobCollection.objects.filter(job_id=job_id, status=C.PENDING)
    if keep_created:
        pending = pending.filter(target_state=JobCollection.TargetState.NONE)
    pending.update(status=C.CANCELED, ended_at=now)


def _revoke(job: Job) -> None:
    if job.task_id:
        try:
            app.control.revoke(job.task_id)
        except Exception as exc:  # noqa: BLE001 - the row says CANCELED; the task checks it
            log.warning("job %s: revoke failed: %s", job.pk, exc)


def retry(job: Job, by: User, source_connection_enc: str = "") -> bool:
    """FAILED → PENDING: the unfinished collections run again from their checkpoints (each
    with a new attempt number); enqueued after commit. False unless the job FAILED (and, for
    a job that read another organization's credentials, still holds them).

    `source_connection_enc`: another organization's credentials given again, after the
    reaper removed them."""
    with transaction.atomic():
        failed = Job.objects.filter(pk=job.pk, status=Job.Status.FAILED)
        changes = {}
        if source_connection_enc:
            changes = {"source_connection_enc": source_connection_enc}
        elif job.source_connection_enc:
            failed = failed.exclude(source_connection_enc="")  # removed meanwhile: refused
        updated = failed.update(
            status=Job.Status.PENDING,
            reason="",
            ended_at=None,
            waiting_since=None,
            task_id=str(uuid.uuid4()),
            **changes,
        )
        if not updated:
            return False
        again = JobCollection.objects.filter(job=job).exclude(status=C.DONE)
        count = again.count()
        for collection in again:
            JobCollection.objects.filter(pk=collection.pk).update(
                status=C.PENDING,
                error="",
                verification=JobCollection.Verification.PENDING,
                queued_at=None,
                attempt=collection.attempt + 1,
                resumes=0,  # a Retry starts a new budget of resumes after lost workers
                ended_at=None,
                # Copied rows stay (the copy resumes from its checkpoint); the verification
                # runs again from the start.
                verified_entities=0,
                rows_per_s=0,
                retrying=None,
            )
        # The same figures as the rows shown: a resumed copy keeps its share of the bar.
        Job.objects.filter(pk=job.pk).update(progress=_percent(job.pk))
        log_event(job, f"retried by {by.email}: {count} unfinished collection(s) run again")
        transaction.on_commit(lambda: enqueue(job.pk))
    return True


def mark_discarded(job: Job, collections: list[JobCollection], by: User, summary: str) -> None:
    """The target collections of `collections` were dropped by Discard: they hold nothing of
    the copy any more, so their checkpoints go (a Retry creates and copies them again from
    the start) and the log says who dropped what."""
    _forget_targets(collections)
    log_event(
        job,
        f"incomplete collection(s) discarded by {by.email}: {summary} dropped from the target "
        f"{job.target_name}",
        level="WARNING",
    )


def _forget_targets(collections) -> None:
    # Key ranges copied into the dropped target are gone with it: a Retry splits again.
    JobRange.objects.filter(collection__in=[c.pk for c in collections]).delete()
    JobCollection.objects.filter(pk__in=[c.pk for c in collections]).update(
        target_state=JobCollection.TargetState.DISCARDED,
        checkpoint=None,
        write_intent=None,
        migrated_entities=0,
        rows_per_s=0,
    )


@receiver(collection_dropped, sender=Cluster, dispatch_uid="jobs.target_dropped_by_hand")
def note_a_target_dropped_by_hand(
    sender, cluster: Cluster, db: str, name: str, mark: str | None, user: User, **kwargs
) -> None:
    """A collection a (finished) job created was dropped on the cluster page: its log says
    so, and an unfinished collection of it is treated as discarded."""
    job = Job.objects.filter(pk=mark).first() if mark else None
    if job is None:
        return
    mine = JobCollection.objects.filter(job=job, target_db=db, target_name=name)
    _forget_targets(mine.exclude(status=C.DONE))
    log_event(
        job,
        f"target collection {db}.{name} was dropped by {user.email} on the page of cluster "
        f"{cluster.name}",
        level="WARNING",
    )


def failure_reason(rows: list[JobCollection]) -> str:
    """One line a person can act on: which collections failed and why."""
    failed = [c for c in rows if c.status != C.DONE or c.verification != c.Verification.VERIFIED]
    parts = []
    for c in failed[:3]:
        why = c.error or (
            "verification found differences" if c.verification == c.Verification.MISMATCH else ""
        )
        parts.append(f"{c.source_db}.{c.source_name}: {why or c.get_status_display().lower()}")
    more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    return f"{len(failed)} of {len(rows)} collection(s) failed — " + "; ".join(parts) + more


def update_progress(job_id: str) -> None:
    """Job progress 0–99 from its collections' rows copied and verified (jobs.progress; 100 is
    set only with SUCCESSFUL)."""
    Job.objects.filter(pk=job_id).exclude(status__in=Job.FINAL_STATES).update(
        progress=_percent(job_id), heartbeat_at=timezone.now()
    )


def _percent(job_id: str) -> int:
    job = Job.objects.only("status", "type").get(pk=job_id)
    fields = ("status", "total_entities", "migrated_entities", "verified_entities", "rows_per_s")
    return job_percent(job, JobCollection.objects.filter(job_id=job_id).only(*fields))


# --- the reaper --------------------------------------------------------------------------


def reap() -> dict[str, int]:
    """Find work whose worker vanished and resume it; fail what cannot go on. Run by beat.

    - a collection running (CREATING…VERIFYING) whose lease expired more than
      MIGRATION_CALL_TIMEOUT seconds ago (any Milvus call its run sent is over by then) goes
      back to PENDING with a new attempt number — the old run's lease is then lost for good, and
      its task's late redelivery does nothing — and is sent again: it resumes from its checkpoint
      and write intent. After MIGRATION_MAX_RESUMES such resumes it fails, with the reason
      (queue waits and Retries are not resumes). A collection of a job being canceled is sent
      again too, to drop the incomplete target it created.
    - a collection queued but not picked up for MIGRATION_STALE_AFTER seconds (the message was
      lost, e.g. Redis restarted) is sent again;
    - a PENDING job whose task never ran is sent again;
    - an IN PROGRESS or CANCELING job with nothing running is dispatched or settled;
    - waiting jobs whose turn came start (a lost wake-up never strands them);
    - FAILED jobs past MIGRATION_CREDENTIAL_RETENTION lose another organization's credentials.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MIGRATION_STALE_AFTER)
    expired = Q(lease_expires_at__lt=now - timedelta(seconds=settings.MIGRATION_CALL_TIMEOUT)) | Q(
        lease_expires_at__isnull=True,
        heartbeat_at__lt=stale,  # a run from before leases
    )
    counts = {"resumed": 0, "failed": 0, "requeued": 0, "jobs": 0}
    dead = JobCollection.objects.filter(expired, status__in=JobCollection.ACTIVE_STATES).exclude(
        # Copied as key ranges: each range has its own lease (reaped below).
        pk__in=JobRange.objects.values("collection_id"),
        status=C.COPYING,
    )
    for collection in dead.select_related("job"):
        same = JobCollection.objects.filter(
            expired, pk=collection.pk, status=collection.status, attempt=collection.attempt
        )
        resumes = collection.resumes + 1
        canceling = collection.job.status == Job.Status.CANCELING
        if resumes > settings.MIGRATION_MAX_RESUMES and not canceling:
            if same.update(
                status=C.FAILED,
                attempt=collection.attempt + 1,  # the old run, should it wake, changes nothing
                ended_at=timezone.now(),
                error=f"the worker copying it stopped responding {resumes} times",
            ):
                log_event(
                    collection.job,
                    f"{collection.source_name}: the worker stopped responding again; giving up "
                    f"after {resumes} times",
                    level="ERROR",
                    collection=collection,
                )
                counts["failed"] += 1
                settle(collection.job_id)
            continue
        if same.update(
            status=C.PENDING, attempt=collection.attempt + 1, resumes=resumes, queued_at=None
        ):
            rows = (collection.checkpoint or {}).get("rows", 0)
            then = (
                "dropping the incomplete target it created"
                if canceling
                else f"resuming from the checkpoint ({rows} rows)"
            )
            log_event(
                collection.job,
                f"{collection.source_name}: the worker copying it stopped responding; {then}",
                level="WARNING",
                collection=collection,
            )
            counts["resumed"] += 1
            dispatch(collection.job_id)

    lost = JobCollection.objects.filter(status=C.PENDING, queued_at__lt=stale).filter(
        Q(job__status=Job.Status.IN_PROGRESS)
        | Q(job__status=Job.Status.CANCELING, target_state__in=["CREATING", "CREATED"])
    )
    for collection in lost:
        if JobCollection.objects.filter(
            pk=collection.pk, status=C.PENDING, attempt=collection.attempt
        ).update(attempt=collection.attempt + 1, queued_at=None):
            counts["requeued"] += 1
            dispatch(collection.job_id)

    _reap_ranges(now, expired, stale, counts)

    # A job waiting for a running slot is started by fill_slots below, not by its message.
    pending = Job.objects.filter(
        status=Job.Status.PENDING, created_at__lt=stale, waiting_since__isnull=True
    )
    for job in pending:
        if job.heartbeat_at is None or job.heartbeat_at < stale:
            Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
                heartbeat_at=timezone.now()
            )
            enqueue(job.pk)
            counts["jobs"] += 1
    for job in Job.objects.filter(
        status__in=(Job.Status.IN_PROGRESS, Job.Status.CANCELING), heartbeat_at__lt=stale
    ):
        if not settle(job.pk):
            dispatch(job.pk)
    counts["started"] = len(fill_slots())
    counts["credentials_removed"] = remove_expired_credentials()
    return counts


def _reap_ranges(now: datetime, expired: Q, stale: datetime, counts: dict[str, int]) -> None:
    """The reaper's work on key ranges, as on collections: a range whose lease expired is sent
    again with a new attempt (resuming from its checkpoint; failed after MIGRATION_MAX_RESUMES),
    a range queued but never picked up is sent again, ranges never sent are sent."""
    dead = JobRange.objects.filter(expired, status=JobRange.Status.COPYING)
    for key_range in dead.select_related("collection__job"):
        collection = key_range.collection
        same = JobRange.objects.filter(
            expired, pk=key_range.pk, status=key_range.status, attempt=key_range.attempt
        )
        resumes = key_range.resumes + 1
        canceling = collection.job.status == Job.Status.CANCELING
        what = f"{collection.source_name}: key range {key_range.position + 1}"
        if resumes > settings.MIGRATION_MAX_RESUMES and not canceling:
            if same.update(
                status=JobRange.Status.FAILED,
                attempt=key_range.attempt + 1,
                ended_at=timezone.now(),
                rows_per_s=0,
                error=f"the worker copying it stopped responding {resumes} times",
            ):
                log_event(
                    collection.job,
                    f"{what}: the worker stopped responding again; giving up after {resumes} times",
                    level="ERROR",
                    collection=collection,
                )
                counts["failed"] += 1
                range_ended(collection.pk)
            continue
        if same.update(
            status=JobRange.Status.PENDING,
            attempt=key_range.attempt + 1,
            resumes=resumes,
            queued_at=None,
            rows_per_s=0,
        ):
            rows = (key_range.checkpoint or {}).get("rows", 0)
            log_event(
                collection.job,
                f"{what}: the worker copying it ({key_range.worker}) stopped responding; "
                f"resuming from its checkpoint ({rows} rows)",
                level="WARNING",
                collection=collection,
            )
            counts["resumed"] += 1
            dispatch_ranges(collection.pk)
    lost = JobRange.objects.filter(status=JobRange.Status.PENDING, queued_at__lt=stale)
    for key_range in lost:
        if JobRange.objects.filter(
            pk=key_range.pk, status=JobRange.Status.PENDING, attempt=key_range.attempt
        ).update(attempt=key_range.attempt + 1, queued_at=None):
            counts["requeued"] += 1
            dispatch_ranges(key_range.collection_id)
    unsent = JobRange.objects.filter(
        status=JobRange.Status.PENDING, queued_at__isnull=True, collection__status=C.COPYING
    )
    for collection_id in set(unsent.values_list("collection_id", flat=True)):
        counts["requeued"] += dispatch_ranges(collection_id)
