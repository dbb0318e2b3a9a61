"""Celery tasks: run a job (fan out one task per collection), copy one collection, reap, and
tell people when a job ended (e-mail, webhook).

Tasks receive primary keys only and read everything from the database: the Job row is the
truth. They are `acks_late` with prefetch 1 (settings), so a worker that dies mid-task leaves
its message to be redelivered; the reaper does not wait for that (the visibility timeout is
hours): a collection whose heartbeat stops is resumed from its checkpoint on another worker.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from console.webhook_delivery import deliver
from jobs import lifecycle, notify
from jobs.collection_run import CollectionRun
from jobs.events import log_event
from jobs.models import Job, JobCollection, JobRange
from jobs.range_run import RangeRun

log = logging.getLogger("jobs")


@shared_task(name=lifecycle.RUN_JOB, acks_late=True, ignore_result=True)
def run_job(job_id: str) -> None:
    """Start the job (PENDING → IN PROGRESS) and send its first collections to the workers.

    A job into a *New Cluster* waits here (re-sent every few seconds) until the cluster runs.
    """
    job = Job.objects.select_related("target_cluster").filter(pk=job_id).first()
    if job is None or job.is_final:
        return
    if job.status == Job.Status.PENDING:
        target = job.target_cluster
        if target is None:
            lifecycle.fail_pending(job, "the target cluster was deleted before the job started")
            return
        if target.status == target.Status.CREATING:
            waited = timezone.now() - job.created_at
            if waited < timedelta(seconds=settings.MIGRATION_NEW_CLUSTER_WAIT):
                lifecycle.keep_waiting(job.pk)
                run_job.apply_async(args=[job_id], countdown=2)
                return
            lifecycle.fail_pending(
                job,
                f"the new cluster {target.name} did not start within "
                f"{settings.MIGRATION_NEW_CLUSTER_WAIT} s: check the cluster supervisor",
            )
            return
        if not lifecycle.start(job_id):
            return
        log_event(job, "job started")
    lifecycle.dispatch(job_id)
    lifecycle.settle(job_id)


@shared_task(name=lifecycle.RUN_COLLECTION, acks_late=True, ignore_result=True)
def run_collection(collection_id: int, attempt: int) -> None:
    """Copy, index and verify one collection, then send the job's next one and settle it.

    Runs only if the collection is still PENDING with this attempt number: a redelivered or
    superseded message does nothing.
    """
    collection = (
        JobCollection.objects.select_related("job", "job__target_cluster", "job__source_cluster")
        .filter(pk=collection_id)
        .first()
    )
    if collection is None:
        return
    job = collection.job
    # A job being canceled still runs a collection whose target it created: the run sees the
    # cancel first thing and drops that incomplete target (its worker died before it could).
    cleanup = job.status == Job.Status.CANCELING and bool(collection.target_state)
    if job.status != Job.Status.IN_PROGRESS and not cleanup:
        lifecycle.settle(job.pk)
        return
    if not lifecycle.claim(collection, attempt):
        return
    collection.refresh_from_db()
    owned = True
    try:
        owned = CollectionRun(collection).run()
    finally:
        # A run that lost its lease leaves the job to the run that took over.
        if owned:
            lifecycle.dispatch(job.pk)
            lifecycle.settle(job.pk)


@shared_task(name=lifecycle.RUN_RANGE, bind=True, acks_late=True, ignore_result=True)
def run_range(self, range_id: int, attempt: int) -> None:
    """Copy one key range of a collection copied as several (jobs/range_run.py), then let the
    collection go on if it was the last one (lifecycle.range_ended).

    Runs only if the range is still PENDING with this attempt number. A range of a job that is
    no longer in progress (being canceled) is canceled without copying."""
    key_range = (
        JobRange.objects.select_related(
            "collection", "collection__job", "collection__job__target_cluster"
        )
        .filter(pk=range_id)
        .first()
    )
    if key_range is None:
        return
    collection = key_range.collection
    if collection.job.status != Job.Status.IN_PROGRESS:
        JobRange.objects.filter(
            pk=range_id, status=JobRange.Status.PENDING, attempt=attempt
        ).update(status=JobRange.Status.CANCELED, ended_at=timezone.now(), queued_at=None)
        lifecycle.range_ended(collection.pk)
        return
    worker = f"{self.request.hostname or 'worker'}:{os.getpid()}"
    if not lifecycle.claim_range(key_range, attempt, worker):
        return
    key_range.refresh_from_db()
    if RangeRun(key_range).run():
        lifecycle.range_ended(collection.pk)


@shared_task(name=lifecycle.REAP, ignore_result=True)
def reap() -> dict[str, int]:
    """Resume or fail work whose worker vanished (see lifecycle.reap); run by Celery beat."""
    counts = lifecycle.reap()
    if any(counts.values()):
        log.info("reaper: %s", counts)
    return counts


DELIVER_WEBHOOK = "jobs.deliver_webhook"


@shared_task(name=lifecycle.NOTIFY_END, acks_late=True, ignore_result=True)
def notify_end(job_id: str) -> None:
    """A job ended (queued by jobs.lifecycle after commit): mail its creator, then send its
    project's webhook the job (first attempt)."""
    event = notify.job_ended(job_id)
    if event is not None:
        deliver_webhook.delay(notify.event_args(event), 1)


@shared_task(name=DELIVER_WEBHOOK, acks_late=True, ignore_result=True)
def deliver_webhook(event: dict, attempt: int) -> None:
    """One attempt to POST a job's end to its project's webhook; a failed one is tried again
    after notify.retry_delay, WEBHOOK_ATTEMPTS attempts in all."""
    attempts = settings.WEBHOOK_ATTEMPTS
    outcome = deliver(notify.event_from(event), attempt, attempts)
    if outcome.retry and attempt < attempts:
        deliver_webhook.apply_async(
            args=[event, attempt + 1], countdown=notify.retry_delay(attempt)
        )
