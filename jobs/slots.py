"""Running slots: how many jobs run at once, and whose job starts next.

A job holds a slot from PENDING → IN_PROGRESS until it is final (IN_PROGRESS and CANCELING
hold one). RUNNING_JOBS_PER_ORG caps one organization's, RUNNING_JOBS_TOTAL the console's (the
workers' concurrency: beyond it, started jobs would only queue in the broker in arrival order,
where one tenant's burst holds every worker). A job that is ready to start when no slot is
free for it waits PENDING with `waiting_since` set and the reason "waiting for a free slot".
Whenever a slot may have freed, `fill` starts waiting jobs in fair order: the organization
running the fewest jobs first, then the job waiting longest.

Race safety: every decision runs in one transaction under one lock (a PostgreSQL advisory
lock; on SQLite the IMMEDIATE transaction holds the write lock), so two workers taking or
freeing slots at the same moment cannot both take the last one. The transition itself is a
conditional update (PENDING only): a Cancel that got there first wins.

jobs.lifecycle calls in here (and sends the tasks of the jobs started); nothing here calls up.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.events import log_event
from jobs.models import Job, JobRun

WAITING_FOR_SLOT = "waiting for a free slot"
# pg_advisory_xact_lock's key for slot decisions: any constant no other code uses.
_LOCK_KEY = 0x15B_5107


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def running_by_organization() -> Counter:
    """{organization id: jobs holding a slot}."""
    rows = Job.objects.filter(status__in=Job.RUNNING_STATES).values_list(
        "project__organization_id", flat=True
    )
    return Counter(rows)


def _why_waiting(organization_id: str, running: Counter) -> str:
    mine, total = running[organization_id], sum(running.values())
    if mine >= settings.RUNNING_JOBS_PER_ORG:
        why = (
            f"this organization runs {mine} job(s), the most it may run at once "
            f"({settings.RUNNING_JOBS_PER_ORG})"
        )
    elif total >= settings.RUNNING_JOBS_TOTAL:
        why = f"all {settings.RUNNING_JOBS_TOTAL} running slots of the console are busy"
    else:
        why = "jobs that waited longer go first"
    return f"{WAITING_FOR_SLOT}: {why}"


def request(job_id: str) -> list[str]:
    """A PENDING job ready to run joins the queue (keeping its place if it is in it) and the
    queue is served: the ids of the jobs now IN_PROGRESS (see `fill`). The job is among them
    when a slot was free and it was its turn; else it waits, its reason saying why."""
    with transaction.atomic():
        _lock()
        now = timezone.now()
        job = (
            Job.objects.filter(pk=job_id, status=Job.Status.PENDING)
            .select_related("project")
            .first()
        )
        if job is None:
            return []
        if job.waiting_since is None:
            Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
                waiting_since=now, heartbeat_at=now
            )
        started = _fill(now)
        if job_id not in started:
            reason = _why_waiting(job.project.organization_id, running_by_organization())
            Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
                reason=reason, heartbeat_at=now
            )
            if job.waiting_since is None:
                log_event(job, reason)
    return started


def fill() -> list[str]:
    """Start the waiting jobs whose turn it is while slots are free; their ids (in the order
    started). The caller sends their tasks."""
    with transaction.atomic():
        _lock()
        return _fill(timezone.now())


def _fill(now: datetime) -> list[str]:
    running = running_by_organization()
    total = sum(running.values())
    waiting = list(
        Job.objects.filter(status=Job.Status.PENDING, waiting_since__isnull=False)
        .order_by("waiting_since", "created_at", "pk")
        .values_list("pk", "project__organization_id")
    )
    started = []
    while waiting and total < settings.RUNNING_JOBS_TOTAL:
        # Fair across organizations: the fewest running first; within that, the longest wait
        # (the list's order, kept by min() on equal counts).
        turns = [
            (running[org], index)
            for index, (_, org) in enumerate(waiting)
            if running[org] < settings.RUNNING_JOBS_PER_ORG
        ]
        if not turns:
            break
        _, index = min(turns)
        job_id, org = waiting.pop(index)
        if Job.objects.filter(pk=job_id, status=Job.Status.PENDING).update(
            status=Job.Status.IN_PROGRESS,
            # The job's start is its first run's: a Retry starts another run, not another job.
            started_at=Coalesce("started_at", Value(now, output_field=DateTimeField())),
            heartbeat_at=now,
            waiting_since=None,
            reason="",
        ):
            JobRun.objects.create(job_id=job_id, started_at=now)
            running[org] += 1
            total += 1
            started.append(job_id)
    return started
