"""Retry (/jobs/<id>/retry/, POST): a FAILED job runs its unfinished collections again. Only
Organization Owners and Project Admins; a refusal becomes a flash message."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from jobs.models import Job, JobCollection, JobEvent
from tests.jobrows import make_job


def _url(job: Job) -> str:
    return reverse("job_retry", args=[job.pk])


@pytest.fixture
def failed(project) -> Job:
    job = make_job(
        project, status=Job.Status.FAILED, collections=("docs", "users"), reason="docs: boom"
    )
    docs, users = job.collections.all()
    JobCollection.objects.filter(pk=docs.pk).update(
        status=JobCollection.Status.FAILED, error="boom", checkpoint={"rows": 500}
    )
    JobCollection.objects.filter(pk=users.pk).update(
        status=JobCollection.Status.DONE, verification=JobCollection.Verification.VERIFIED
    )
    return job


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_runs_the_unfinished_collections_again(request, persona, failed):
    client = request.getfixturevalue(persona)
    detail = reverse("job_detail", args=[failed.pk])

    response = client.post(_url(failed), {"next": detail})

    assert response.status_code == 302
    assert response.url == detail
    failed.refresh_from_db()
    assert failed.status == Job.Status.PENDING
    assert failed.reason == ""
    docs, users = failed.collections.all()
    assert (docs.status, docs.attempt, docs.checkpoint) == ("PENDING", 1, {"rows": 500})
    assert users.status == JobCollection.Status.DONE
    messages = [m.message for m in get_messages(response.wsgi_request)]
    assert messages == [
        f"Job {failed.pk} retried: its unfinished collections run again from their checkpoints."
    ]
    email = response.wsgi_request.user.email
    assert JobEvent.objects.filter(job=failed, message__startswith=f"retried by {email}").exists()


@pytest.mark.parametrize("status", [s for s in Job.Status.values if s != "FAILED"])
def test_it_says_why_a_job_cannot_be_retried(owner_client, project, status):
    job = make_job(project, status=status)
    detail = reverse("job_detail", args=[job.pk])

    response = owner_client.post(_url(job), {"next": detail}, follow=True)

    html = response.content.decode()
    label = Job.Status(status).label
    assert f"job {job.pk} is {label}: only Failed jobs can be retried</p>" in html
    job.refresh_from_db()
    assert job.status == status


@pytest.mark.parametrize("persona", ["viewer_client", "writer_client"])
def test_it_refuses_members_who_only_watch(request, persona, failed):
    assert request.getfixturevalue(persona).post(_url(failed)).status_code == 403
    failed.refresh_from_db()
    assert failed.status == Job.Status.FAILED


@pytest.mark.parametrize("persona", ["outsider_client", "member_client"])
def test_it_answers_404_to_anyone_outside_the_project(request, persona, failed):
    assert request.getfixturevalue(persona).post(_url(failed)).status_code == 404
    failed.refresh_from_db()
    assert failed.status == Job.Status.FAILED


def test_it_refuses_a_get(owner_client, failed):
    assert owner_client.get(_url(failed)).status_code == 405
