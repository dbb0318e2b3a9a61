"""View Details' polled log (/jobs/<id>/log/, htmx): keeps its level and order, 286 once the
job is final."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from tests.jobrows import add_event, make_job

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(job: Job) -> str:
    return reverse("job_log", args=[job.pk])


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_keeps_polling_with_the_same_filter(request, persona, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    add_event(job, "copying docs", ago=5)
    add_event(job, "slow page", "WARNING", ago=3)
    add_event(job, "retrying", "WARNING", ago=1)

    response = request.getfixturevalue(persona).get(
        _url(job), {"level": "WARNING", "order": "newest"}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-log"')
    assert f'hx-get="{_url(job)}?level=WARNING&amp;order=newest" hx-trigger="every 2s"' in html
    assert "copying docs" not in html
    assert html.index("retrying") < html.index("slow page")


def test_it_shows_new_lines_as_they_come(viewer_client, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    assert "No log lines yet." in viewer_client.get(_url(job), **HTMX).content.decode()

    add_event(job, "docs: copied 1,000 rows")

    assert "docs: copied 1,000 rows" in viewer_client.get(_url(job), **HTMX).content.decode()


def test_it_polls_a_few_seconds_past_the_end_for_the_last_line(viewer_client, project):
    job = make_job(project, status=Job.Status.FAILED, ended_at=timezone.now())

    response = viewer_client.get(_url(job), **HTMX)

    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.content.decode()


def test_it_stops_polling_once_the_job_is_final(viewer_client, project):
    job = make_job(
        project, status=Job.Status.FAILED, ended_at=timezone.now() - timedelta(seconds=6)
    )
    add_event(job, "job failed: source unreachable", "ERROR")

    response = viewer_client.get(_url(job), **HTMX)

    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html
    assert 'id="first-error"' in html


def test_it_redirects_a_plain_request_to_view_details(viewer_client, project):
    job = make_job(project)
    response = viewer_client.get(_url(job))
    assert response.status_code == 302
    assert response.url == reverse("job_detail", args=[job.pk])


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, project):
    job = make_job(project)
    assert request.getfixturevalue(persona).get(_url(job), **HTMX).status_code == 404
