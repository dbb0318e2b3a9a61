"""Job rows for view tests, made with the ORM (our own models; real jobs come from the service
and a real worker in the e2e tests)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from console.models import Cluster
from jobs.models import Job, JobCollection, JobEvent

FINAL = {Job.Status.SUCCESSFUL, Job.Status.FAILED, Job.Status.CANCELED}


def make_job(
    project,
    created_by=None,
    *,
    status: str = Job.Status.IN_PROGRESS,
    collections: tuple[str, ...] = ("docs",),
    ago: timedelta = timedelta(0),
    **fields,
) -> Job:
    """A job with one JobCollection per name; started unless PENDING, ended when final."""
    # Created a minute before `ago`: a final job (42 s long) then ended in the past.
    now = timezone.now() - ago - timedelta(minutes=1)
    started = None if status == Job.Status.PENDING else now
    values = {
        "project": project,
        "created_by": created_by,
        "status": status,
        "source_name": "prod",
        "source_db": "default",
        "target_name": "staging",
        "target_db": "default",
        "created_at": now,
        "started_at": started,
        "ended_at": now + timedelta(seconds=42) if status in FINAL else None,
        "progress": 100 if status == Job.Status.SUCCESSFUL else 0,
    }
    values.update(fields)
    job = Job.objects.create(**values)
    JobCollection.objects.bulk_create(
        JobCollection(
            job=job,
            position=i,
            source_db="default",
            source_name=name,
            target_db="default",
            target_name=name,
        )
        for i, name in enumerate(collections)
    )
    job.index_for_search()
    return job


def add_event(job: Job, message: str, level: str = "INFO", ago: float = 0, collection=None):
    return JobEvent.objects.create(
        job=job,
        level=level,
        message=message,
        collection=collection,
        at=timezone.now() - timedelta(seconds=ago),
    )


def job_clusters(project, source_project=None) -> dict:
    """RUNNING local cluster rows `prod` (the source, in `source_project` or `project`) and
    `staging` (the target), as make_job's fields: Retry re-checks both (it never connects)."""

    def row(where, name: str) -> Cluster:
        cluster, _ = Cluster.objects.get_or_create(
            project=where,
            name=name,
            defaults={
                "plan": Cluster.Plan.DEDICATED,
                "kind": Cluster.Kind.LOCAL,
                "uri": "http://127.0.0.1:1",
                "status": Cluster.Status.RUNNING,
            },
        )
        return cluster

    return {
        "source_cluster": row(source_project or project, "prod"),
        "target_cluster": row(project, "staging"),
    }
