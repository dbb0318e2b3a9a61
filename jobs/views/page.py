"""The Jobs page (/jobs/): a project's jobs, newest first, or every project's jobs of an
organization for its Owners (?scope=org). Unfinished rows poll their own fragment
(/jobs/<id>/row/) and stop (286) once final.

The page costs the same number of queries whatever the number of jobs: the page's jobs come with
their creator (select_related), their collections (one query, attach_collections) and, in the
organization view, their project (one prefetch). bench/jobs_page.py measures it.
"""

from __future__ import annotations

from typing import NamedTuple

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import HTMX_STOP_POLLING

from console.access import can_manage, owns_organization, project_from_request, refusal
from console.models import Project
from jobs.access import get_job_for, hide_sources
from jobs.forms import JobFilterForm
from jobs.models import Job, JobCollection
from migrations_app.service import ACTION_CANCEL

PAGE_SIZE = 20


class RowCollection(NamedTuple):
    source_db: str
    source_name: str
    target_db: str
    target_name: str
    retrying: dict | None  # JobCollection.retrying: what jobs_tags.retrying reads


# The Job fields a row reads (jobs_tags.job_row, hide_sources): a row loads no others. A field
# read but left out here costs one query per row, which tests/test_jobs_list.py's query count
# would show.
ROW_FIELDS = (
    "id",
    "type",
    "project_id",
    "status",
    "progress",
    "source_cluster_id",
    "source_name",
    "source_db",
    "target_name",
    "created_at",
    "started_at",
    "ended_at",
    "waiting_since",
    "created_by__email",
)


def with_row_data(jobs: QuerySet[Job], *, with_project: bool = False) -> QuerySet[Job]:
    """What a row shows beyond the Job itself, fetched for the whole page at once (the
    collections then, by attach_collections).

    Newest first by `created_at` alone, which the (project, created_at) index answers: adding
    the primary key as a tie-breaker (the model's ordering) makes SQLite sort every job of the
    project. The project comes by prefetch, not a join, for the same reason: with the join
    SQLite's planner starts from the (small) project table and sorts again. Only the fields a
    row reads are loaded (ROW_FIELDS).
    """
    jobs = jobs.order_by("-created_at").select_related("created_by").only(*ROW_FIELDS)
    return jobs.prefetch_related("project") if with_project else jobs


def attach_collections(jobs: list[Job]) -> None:
    """Set `row_collections` on each job (what jobs_tags.collections_line names): one query
    for the page, plain rows rather than a related manager per job (bench/jobs_page.py)."""
    by_job: dict[str, list[RowCollection]] = {job.pk: [] for job in jobs}
    rows = (
        JobCollection.objects.filter(job_id__in=list(by_job))
        .order_by("job_id", "position", "pk")
        .values_list("job_id", "source_db", "source_name", "target_db", "target_name", "retrying")
    )
    for job_id, *names in rows:
        by_job[job_id].append(RowCollection(*names))
    for job in jobs:
        job.row_collections = by_job[job.pk]


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    project = project_from_request(request)
    org_scope = request.GET.get("scope") == "org"
    is_owner = owns_organization(request.user, project.organization)
    if org_scope and not is_owner:
        raise PermissionDenied("Only Organization Owners can see the jobs of every project.")
    form = JobFilterForm(request.GET)
    form.is_valid()
    # The valid filters apply; an invalid one is left out and its error shown (form.errors).
    filters = form.cleaned_data

    # `project` is one the user may see (project_from_request), and an Owner sees every project
    # of the organization: filtering on it directly, rather than through visible_jobs()'s
    # subquery, lets the database walk the (project, created_at) index instead of sorting
    # every job of the project.
    if org_scope:
        projects = Project.objects.filter(organization_id=project.organization_id)
        jobs = Job.objects.filter(project__in=projects.values("pk"))
    else:
        jobs = Job.objects.filter(project=project)
    if filters.get("status"):
        jobs = jobs.filter(status=filters["status"])
    jobs = jobs.search(filters.get("q", ""))
    page = Paginator(with_row_data(jobs, with_project=org_scope), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = list(page.object_list)
    attach_collections(page.object_list)
    hide_sources(request.user, page.object_list)

    # Pagination links keep the filters: everything but the page number.
    query = request.GET.copy()
    query.pop("page", None)
    query["project"] = project.pk
    return render(
        request,
        "jobs/list.html",
        {
            "project": project,
            "form": form,
            "page": page,
            "org_scope": org_scope,
            "is_owner": is_owner,
            "filtered": bool(request.GET.get("status") or request.GET.get("q")),
            "query": query.urlencode(),
            # Organization view: only Owners get there, and they manage every project.
            "can_manage": org_scope or can_manage(request.user, project),
            # Shown (title + aria-describedby) on the disabled Cancel button of watchers.
            "cancel_why": refusal(project, ACTION_CANCEL),
            # The job a wizard or a form just created (?highlight=<job id>): marked in its row.
            "highlight": request.GET.get("highlight", ""),
        },
    )


@login_required
@require_GET
def job_row(request: HttpRequest, job_id: str) -> HttpResponse:
    """htmx poll of one unfinished row: the row again, 286 once the job is final (htmx swaps
    the final row in and stops polling)."""
    job = get_job_for(request.user, job_id)
    if not request.htmx:
        return redirect("job_detail", job_id=job.pk)
    # The Project column is there only in the organization view, which only Owners have.
    org_scope = request.GET.get("scope") == "org" and owns_organization(
        request.user, job.project.organization
    )
    job = with_row_data(Job.objects.filter(pk=job.pk), with_project=org_scope).get()
    attach_collections([job])
    hide_sources(request.user, [job])
    context = {
        "job": job,
        "org_scope": org_scope,
        "can_manage": can_manage(request.user, job.project),
        "cancel_why": refusal(job.project, ACTION_CANCEL),
        "highlight": request.GET.get("highlight", ""),
    }
    status = HTMX_STOP_POLLING if job.is_final else 200
    return render(request, "jobs/list.html#job-row", context, status=status)
