"""Retry (/jobs/<id>/retry/, POST): a FAILED job runs its unfinished collections again. Only
Organization Owners and Project Admins; a refusal becomes a flash message."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from console import throttle
from console.connections import Connection
from console.models import Cluster
from jobs.models import Job, JobCollection, JobEvent
from tests.jobrows import job_clusters, make_job


def _url(job: Job) -> str:
    return reverse("job_retry", args=[job.pk])


@pytest.fixture
def failed(project) -> Job:
    job = make_job(
        project,
        status=Job.Status.FAILED,
        collections=("docs", "users"),
        reason="docs: boom",
        **job_clusters(project),
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


# --- Retry re-runs the checks of a new migration (issue 15) -------------------------------


def _retry_refused(client, job: Job) -> str:
    """Post Retry; the job must stay as it was; the (last) flash message."""
    before = list(job.collections.values_list("status", "attempt"))
    response = client.post(_url(job), {"next": reverse("job_detail", args=[job.pk])})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.reason == "docs: boom"
    assert list(job.collections.values_list("status", "attempt")) == before
    assert not JobEvent.objects.filter(job=job, message__startswith="retried by").exists()
    return [m.message for m in get_messages(response.wsgi_request)][-1]


def test_it_refuses_a_creator_who_lost_the_right_to_take_the_source_out(
    attacker, attacker_client, project, other_project
):
    # Made while the attacker was Project Admin of both; now Read-Only in the source's project.
    job = make_job(
        other_project,
        attacker,
        status=Job.Status.FAILED,
        reason="docs: boom",
        **job_clusters(other_project, source_project=project),
    )

    assert _retry_refused(attacker_client, job) == (
        "Only Organization Owners and Project Admins can migrate data out of cluster prod in "
        "project Default Project."
    )


def test_it_refuses_a_source_the_user_may_no_longer_see(
    project_admin_client, project, other_project
):
    # The job is in the admin's project; its source is in one they are no member of.
    job = make_job(
        project,
        status=Job.Status.FAILED,
        reason="docs: boom",
        **job_clusters(project, source_project=other_project),
    )

    message = _retry_refused(project_admin_client, job)

    assert message.startswith(f"job {job.pk} reads a cluster of another project, which you may")
    assert job.source_cluster_id not in message and "prod" not in message


def test_it_refuses_a_target_that_no_longer_takes_the_source(owner_client, failed):
    Cluster.objects.filter(pk=failed.target_cluster_id).update(plan=Cluster.Plan.SERVERLESS)

    assert _retry_refused(owner_client, failed) == (
        "a Dedicated cluster can only migrate to a Dedicated cluster (cluster prod → cluster "
        "staging)"
    )


def test_it_refuses_a_stopped_target_and_a_deleted_one(owner_client, failed):
    Cluster.objects.filter(pk=failed.target_cluster_id).update(status=Cluster.Status.STOPPED)
    assert _retry_refused(owner_client, failed) == (
        "target cluster staging is stopped: it must be running to receive a migration"
    )
    Cluster.objects.filter(pk=failed.target_cluster_id).delete()
    failed.refresh_from_db()
    assert _retry_refused(owner_client, failed) == (
        f"the target cluster of job {failed.pk} (staging) was deleted: start a new migration"
    )


def test_it_refuses_an_endpoint_the_rules_now_refuse(owner_client, project, settings):
    # Another organization's source, accepted when the job was made; the rules changed since.
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = False
    job = make_job(
        project,
        status=Job.Status.FAILED,
        reason="docs: boom",
        source_name="10.1.2.3:19530",
        source_connection_enc=Connection("http://10.1.2.3:19530", token="secret-key").encrypt(),
        target_cluster=job_clusters(project)["target_cluster"],
    )

    message = _retry_refused(owner_client, job)

    assert message.startswith("the source endpoint is not allowed: ")
    assert "private endpoints are not allowed here" in message and "secret-key" not in message


def test_it_counts_a_retry_against_the_users_connections(owner, owner_client, project, settings):
    """A retried job connects to its typed source again: the Retry counts like a new check."""
    settings.CONNECTION_TEST_LIMIT = 1
    throttle.reset_connection_tests(owner.pk)
    try:
        assert throttle.allow_connection_test(owner.pk)  # the limit used up elsewhere
        job = make_job(
            project,
            status=Job.Status.FAILED,
            reason="docs: boom",
            source_name="203.0.113.7:19530",
            source_connection_enc=Connection("http://203.0.113.7:19530", token="k").encrypt(),
            target_cluster=job_clusters(project)["target_cluster"],
        )
        assert _retry_refused(owner_client, job) == throttle.TOO_MANY_CONNECTION_TESTS
    finally:
        throttle.reset_connection_tests(owner.pk)
