"""View Details' polled body (/jobs/<id>/live/, htmx): 200 while the job runs, 286 with the
final body once it is final."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job, JobCollection
from tests.jobrows import make_job

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(job: Job) -> str:
    return reverse("job_live", args=[job.pk])


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "writer_client", "viewer_client"]
)
def test_it_keeps_polling_while_the_job_runs(request, persona, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS, progress=12)
    JobCollection.objects.filter(job=job).update(
        status=JobCollection.Status.COPYING, total_entities=100, migrated_entities=12
    )

    response = request.getfixturevalue(persona).get(_url(job), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-body" data-status="IN_PROGRESS"')
    assert f'hx-get="{_url(job)}" hx-trigger="every 2s"' in html
    # 12 rows copied, none verified yet: 12 of the 200 rows of work.
    assert '<progress id="overall-progress" max="100" value="6">' in html
    assert "Copied 12 of 100 rows" in html
    assert "<!doctype html>" not in html
    assert "Error Log" not in html  # the log polls on its own


@pytest.mark.parametrize("status", Job.FINAL_STATES)
def test_it_stops_polling_with_the_final_body(viewer_client, project, status):
    job = make_job(project, status=status, reason="it broke" if status == "FAILED" else "")

    response = viewer_client.get(_url(job), **HTMX)

    assert response.status_code == 286
    html = response.content.decode()
    assert f'data-status="{status}">{Job.Status(status).label}</span>' in html
    assert "hx-trigger" not in html
    assert ("it broke" in html) == (status == "FAILED")


def test_it_shows_retry_once_the_job_failed(owner_client, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    assert ">Retry</button>" not in owner_client.get(_url(job), **HTMX).content.decode()

    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, reason="source went away")

    html = owner_client.get(_url(job), **HTMX).content.decode()
    assert ">Retry</button>" in html
    assert (
        f'<input type="hidden" name="next" value="{reverse("job_detail", args=[job.pk])}">' in html
    )


def test_it_redirects_a_plain_request_to_view_details(viewer_client, project):
    job = make_job(project)
    response = viewer_client.get(_url(job))
    assert response.status_code == 302
    assert response.url == reverse("job_detail", args=[job.pk])


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, project):
    job = make_job(project)
    assert request.getfixturevalue(persona).get(_url(job), **HTMX).status_code == 404
