"""Cancel (/jobs/<id>/cancel/): GET is the confirmation page (the dialog's fallback), POST asks
the service. Only Organization Owners and Project Admins; a refusal becomes a flash message."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from jobs.models import Job, JobCollection, JobEvent
from tests.jobrows import make_job

JOBS = reverse("jobs")


def _url(job: Job) -> str:
    return reverse("job_cancel", args=[job.pk])


def _flash(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_cancels_a_pending_job_at_once(request, persona, project):
    client = request.getfixturevalue(persona)
    job = make_job(project, status=Job.Status.PENDING)

    response = client.post(_url(job), {"next": f"{JOBS}?status=PENDING"})

    assert response.status_code == 302
    assert response.url == f"{JOBS}?status=PENDING"
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.collections.get().status == JobCollection.Status.CANCELED
    assert _flash(response) == [f"Job {job.pk} canceled."]
    user = response.wsgi_request.user
    assert JobEvent.objects.filter(
        job=job, message=f"canceled by {user.email} before it started"
    ).exists()


def test_it_asks_a_running_job_to_stop(owner_client, owner, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    JobCollection.objects.filter(job=job).update(status=JobCollection.Status.COPYING)

    response = owner_client.post(_url(job))

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELING
    assert job.canceled_by == owner
    assert _flash(response) == [f"Job {job.pk} is being canceled: it stops within seconds."]
    # No `next`: back to View Details.
    assert response.url == reverse("job_detail", args=[job.pk])


@pytest.mark.parametrize("status", [*Job.FINAL_STATES, Job.Status.CANCELING])
def test_it_says_why_a_job_cannot_be_canceled(owner_client, project, status):
    job = make_job(project, status=status)

    response = owner_client.post(_url(job), {"next": JOBS}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    label = Job.Status(status).label
    message = f"job {job.pk} is {label}: only Pending and In Progress jobs can be canceled"
    assert f'<p class="flash flash-error" role="status">{message}</p>' in html
    job.refresh_from_db()
    assert job.status == status


def test_it_tells_htmx_where_to_go_instead_of_redirecting(owner_client, project):
    job = make_job(project, status=Job.Status.PENDING)

    response = owner_client.post(
        _url(job),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{JOBS}?page=2",
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"http://testserver{JOBS}?page=2"


def test_it_never_sends_the_user_to_another_site(owner_client, project):
    job = make_job(project, status=Job.Status.PENDING)

    response = owner_client.post(
        _url(job), {"next": "https://evil.test/phish"}, HTTP_REFERER="https://evil.test/"
    )

    assert response.url == reverse("job_detail", args=[job.pk])


def test_it_confirms_on_a_page_without_scripts(project_admin_client, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)

    response = project_admin_client.get(_url(job), HTTP_REFERER=f"http://testserver{JOBS}")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<button type="submit" class="btn btn-danger">Cancel Job</button>' in html
    assert f'<input type="hidden" name="next" value="http://testserver{JOBS}">' in html
    job.refresh_from_db()
    assert job.status == Job.Status.IN_PROGRESS  # a GET changes nothing


@pytest.mark.parametrize("persona", ["viewer_client", "writer_client"])
def test_it_refuses_members_who_only_watch(request, persona, project):
    client = request.getfixturevalue(persona)
    job = make_job(project, status=Job.Status.IN_PROGRESS)

    assert client.post(_url(job)).status_code == 403
    assert client.get(_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.IN_PROGRESS


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, project):
    client = request.getfixturevalue(persona)
    job = make_job(project, status=Job.Status.PENDING)

    assert client.post(_url(job)).status_code == 404
    assert client.get(_url(job)).status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


def test_it_needs_the_csrf_token(owner, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    job = make_job(project, status=Job.Status.PENDING)

    assert client.post(_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING
