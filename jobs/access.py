"""What may this user see or do with jobs: the console's tenancy rules (console.access) applied
to the Job rows. One call on the first line of every job view, endpoint and command."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from console.access import can_manage, refusal, visible_projects
from console.models import User
from jobs.models import Job


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
    return job
