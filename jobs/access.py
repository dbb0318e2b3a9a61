"""What may this user see or do with jobs: the console's tenancy rules (console.access) applied
to the Job rows. One call on the first line of every job view, endpoint and command."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from console.access import can_manage, refusal, visible_clusters, visible_projects
from console.models import Cluster, User
from jobs.models import OTHER_PROJECT_SOURCE, Job


def visible_jobs(user: User) -> QuerySet[Job]:
    """Jobs of every project the user may see (Organization Owners: their whole organization)."""
    return Job.objects.filter(project__in=visible_projects(user))


def get_job_for(user: User, job_id: str, write: bool = False, action: str = "do this") -> Job:
    """The job, or 404 when the user may not see it, or 403 for a cancel/retry by a watcher."""
    try:
        job = visible_jobs(user).select_related("project", "project__organization").get(pk=job_id)
    except Job.DoesNotExist:
        raise Http404("No such job") from None
    if write and not can_manage(user, job.project):
        raise PermissionDenied(refusal(job.project, action))
    hide_sources(user, [job])
    return job


def hide_sources(user: User | None, jobs: Iterable[Job]) -> None:
    """Mark the jobs whose source cluster `user` may not see (a cluster of a project they are
    no member of, migrated into one they are): pages and the API then name it
    OTHER_PROJECT_SOURCE, without its name, id or link. One query for all the jobs. `user`
    None (the CLI, run by an operator) hides nothing."""
    jobs = list(jobs)
    ids = {job.source_cluster_id for job in jobs if job.source_cluster_id}
    if user is None or not ids:
        return
    seen = set(visible_clusters(user).filter(pk__in=ids).values_list("pk", flat=True))
    for job in jobs:
        job.source_hidden = bool(job.source_cluster_id) and job.source_cluster_id not in seen


def hide_sources_of_other_projects(jobs: Iterable[Job]) -> None:
    """Mark the jobs whose source cluster is in another project than the job: what every
    member of the job's project may read (a project's webhook receives its jobs so)."""
    jobs = list(jobs)
    ids = {job.source_cluster_id for job in jobs if job.source_cluster_id}
    if not ids:
        return
    projects = dict(Cluster.objects.filter(pk__in=ids).values_list("pk", "project_id"))
    for job in jobs:
        job.source_hidden = (
            bool(job.source_cluster_id) and projects.get(job.source_cluster_id) != job.project_id
        )


def hide_source_in(job: Job, text: str) -> str:
    """`text` (a log line, the reason) with a hidden source cluster's name replaced: the job's
    log names its source as it was when the line was written."""
    if not job.source_hidden or not job.source_name:
        return text
    name = re.escape(job.source_name)
    # Cluster names are letters, digits, "-" and "_": match the whole name only.
    return re.sub(rf"(?:\bcluster )?(?<![\w-]){name}(?![\w-])", OTHER_PROJECT_SOURCE, text)
