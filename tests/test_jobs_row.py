"""One polled row of the Jobs page (/jobs/<id>/row/, htmx): 200 while the job runs, 286 with
the final row once it is final."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobCollection
from jobs.progress import retry_state
from tests.jobrows import make_job

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(job: Job, **params) -> str:
    url = reverse("job_row", args=[job.pk])
    return url + ("?scope=org" if params.get("org") else "")


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_keeps_polling_an_unfinished_row(request, persona, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS, progress=37)

    response = request.getfixturevalue(persona).get(_url(job), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job.pk}" data-status="IN_PROGRESS"')
    assert 'hx-trigger="every 2s"' in html
    assert 'data-status="IN_PROGRESS">In Progress</span>' in html
    assert "37%" in html
    assert "<!doctype html>" not in html


def test_it_says_when_a_collection_is_being_retried(viewer_client, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS, progress=4)
    reason = "reading 'docs' on the source: UNAVAILABLE: connection refused"
    JobCollection.objects.filter(job=job).update(
        status=JobCollection.Status.COPYING,
        retrying=retry_state("source", reason, 2, 8, 30.0, timezone.now()),
    )

    html = viewer_client.get(_url(job), **HTMX).content.decode()

    assert f"retrying: {reason} (attempt 2 of 8, next in " in html.replace("&#x27;", "'")
    detail = viewer_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f"docs: retrying: {reason} (attempt 2 of 8, next in" in detail.replace("&#x27;", "'")


@pytest.mark.parametrize("status", Job.FINAL_STATES)
def test_it_stops_polling_with_the_final_row(viewer_client, project, status):
    job = make_job(project, status=status)

    response = viewer_client.get(_url(job), **HTMX)

    assert response.status_code == 286
    html = response.content.decode()
    assert f'data-status="{status}">{Job.Status(status).label}</span>' in html
    assert "hx-trigger" not in html
    assert ">Cancel</button>" not in html


def test_it_follows_the_job_from_pending_to_successful(viewer_client, project):
    job = make_job(project, status=Job.Status.PENDING)
    seen = []
    for status in (Job.Status.PENDING, Job.Status.IN_PROGRESS, Job.Status.SUCCESSFUL):
        Job.objects.filter(pk=job.pk).update(status=status)
        response = viewer_client.get(_url(job), **HTMX)
        seen.append((response.status_code, Job.Status(status).label in response.content.decode()))
    assert seen == [(200, True), (200, True), (286, True)]


def test_it_gives_managers_the_cancel_button_and_watchers_the_reason(
    owner_client, viewer_client, project
):
    job = make_job(project, status=Job.Status.PENDING)

    assert f'data-cancel-job="{job.pk}"' in owner_client.get(_url(job), **HTMX).content.decode()
    html = viewer_client.get(_url(job), **HTMX).content.decode()
    assert 'aria-disabled="true"' in html and "data-cancel-job" not in html


def test_it_keeps_the_project_column_in_the_owners_organization_view(
    owner_client, viewer_client, project
):
    job = make_job(project)

    html = owner_client.get(_url(job, org=True), **HTMX).content.decode()
    assert '<td data-label="Project">Default Project</td>' in html
    assert f'hx-get="{_url(job, org=True)}"' in html
    # Only owners have that view: anyone else gets the plain row.
    html = viewer_client.get(_url(job, org=True), **HTMX).content.decode()
    assert 'data-label="Project"' not in html


def test_it_redirects_a_plain_request_to_view_details(viewer_client, project):
    job = make_job(project)
    response = viewer_client.get(_url(job))
    assert response.status_code == 302
    assert response.url == reverse("job_detail", args=[job.pk])


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, project):
    job = make_job(project)
    assert request.getfixturevalue(persona).get(_url(job), **HTMX).status_code == 404
