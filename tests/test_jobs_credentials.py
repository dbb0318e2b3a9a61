"""Another organization's credentials on a job (issue 15): removed when the job ends SUCCESSFUL
or CANCELED, and from a FAILED one by the reaper after MIGRATION_CREDENTIAL_RETENTION; a Retry
then asks for them again (409 with the reason; View Details offers a form to give them)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from console.celery import app
from console.clusters.lite_process import free_port
from console.connections import Connection
from jobs import lifecycle
from jobs.models import Job, JobEvent
from migrations_app import service
from tests.jobrows import job_clusters, make_job
from tests.jobs_support import count, fill, local_cluster, wait_for
from tests.workers import wait_until

REMOVED_EVENT = "the source's credentials were removed from the job: the job ended"


def _stored(job: Job) -> tuple[str, object]:
    """What the database holds, read back (not the instance's attributes)."""
    return Job.objects.values_list("source_connection_enc", "source_credentials_removed_at").get(
        pk=job.pk
    )


# --- at the end of a job: a real job from another organization's endpoint -------------------------


@pytest.fixture
def elsewhere(lite_factory):
    """A Milvus of "another organization": a Lite server the console has no cluster row for,
    reached by its typed endpoint and an API key."""
    server = lite_factory()
    fill(server, "docs", 300)
    return server


@pytest.fixture
def target(project, lite_factory):
    server = lite_factory()
    return local_cluster(project, server, "dst"), server


def _start(owner, elsewhere, target) -> Job:
    return service.start_migration(
        owner,
        service.MigrationRequest(
            source_connection=Connection(uri=elsewhere.uri, token="elsewhere-key-0123"),
            target_cluster_id=target[0].pk,
            collections=[service.CollectionChoice("docs")],
        ),
    )


@pytest.mark.django_db(transaction=True)
def test_it_removes_the_credentials_when_the_job_succeeds(owner, elsewhere, target, job_worker):
    job = _start(owner, elsewhere, target)
    assert Connection.decrypt(_stored(job)[0]).token == "elsewhere-key-0123"

    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)

    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target[1], "docs") == 300
    encrypted, removed_at = _stored(job)
    assert encrypted == "" and removed_at is not None
    assert job.events.filter(message=REMOVED_EVENT).count() == 1
    # What View Details and the API say of the source stays readable.
    assert job.source_name == elsewhere.uri.removeprefix("http://")


@pytest.mark.django_db(transaction=True)
def test_it_removes_the_credentials_when_a_pending_job_is_canceled(
    owner, elsewhere, target, job_worker
):
    with job_worker.paused():
        job = _start(owner, elsewhere, target)
        service.cancel_job(owner, job)

    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED
    encrypted, removed_at = _stored(job)
    assert encrypted == "" and removed_at is not None
    assert JobEvent.objects.filter(job=job, message=REMOVED_EVENT).exists()


@pytest.mark.django_db
def test_it_removes_the_credentials_when_a_running_job_is_canceled(owner, project):
    secret = Connection(uri="http://192.0.2.10:19530", token="running-key").encrypt()
    job = make_job(project, status=Job.Status.IN_PROGRESS, source_connection_enc=secret)

    service.cancel_job(owner, job)  # nothing runs: CANCELING → CANCELED at once

    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELED
    assert _stored(job)[0] == ""


# --- FAILED: kept for Retry, removed by the reaper after the retention ------------------------------


def _failed(project, ended_days_ago: float, port: int) -> Job:
    clusters = job_clusters(project)
    job = make_job(
        project,
        status=Job.Status.FAILED,
        reason="docs: boom",
        target_cluster=clusters["target_cluster"],
        target_name="staging",
        source_name=f"127.0.0.1:{port}",
        source_connection_enc=Connection(
            uri=f"http://127.0.0.1:{port}", token="failed-key-0123"
        ).encrypt(),
    )
    Job.objects.filter(pk=job.pk).update(ended_at=timezone.now() - timedelta(days=ended_days_ago))
    job.refresh_from_db()
    return job


@pytest.mark.django_db(transaction=True)
def test_the_reaper_removes_them_from_a_failed_job_after_the_retention(project, job_worker):
    old = _failed(project, ended_days_ago=8, port=free_port())
    recent = _failed(project, ended_days_ago=6, port=free_port())

    app.send_task(lifecycle.REAP)  # the task beat runs, on the real worker (7 days by default)

    wait_until(
        lambda: _stored(old)[0] == "",
        60,
        lambda: f"still there after the reaper ran\n{job_worker.logs()[-3000:]}",
    )
    assert _stored(old)[1] is not None
    assert Connection.decrypt(_stored(recent)[0]).token == "failed-key-0123"
    assert _stored(recent)[1] is None
    assert old.events.filter(
        message="the source's credentials were removed from the job: they are kept 7 day(s) "
        "after a job fails; a Retry asks for them again"
    ).exists()


@pytest.mark.django_db
def test_the_retention_is_a_setting(project, settings):
    settings.MIGRATION_CREDENTIAL_RETENTION = 3600
    job = _failed(project, ended_days_ago=0.1, port=free_port())  # 2.4 h ago

    assert lifecycle.remove_expired_credentials() == 1
    assert _stored(job)[0] == ""


# --- Retry after the removal ----------------------------------------------------------------------


@pytest.fixture
def wiped(project, settings):
    settings.MIGRATION_CREDENTIAL_RETENTION = 0
    job = _failed(project, ended_days_ago=1, port=free_port())
    assert lifecycle.remove_expired_credentials() == 1
    job.refresh_from_db()
    return job


def _reason(job: Job) -> str:
    when = f"{job.source_credentials_removed_at:%Y-%m-%d %H:%M}"
    return (
        f"the credentials of the source {job.source_name} were removed from job {job.pk} on "
        f"{when} UTC (another organization's credentials are kept only a while after a job "
        "fails): give the source's API key or username and password again to retry"
    )


@pytest.mark.django_db
def test_a_retry_without_them_is_refused_with_the_reason(owner, owner_client, api_as, wiped):
    response = api_as(owner).post(f"/v2/jobs/{wiped.pk}/retry")
    assert response.status_code == 409
    assert response.json()["message"] == _reason(wiped)

    with pytest.raises(CommandError) as error:
        call_command("jobs", "retry", wiped.pk, "--as", owner.email, stdout=StringIO())
    assert str(error.value) == _reason(wiped)

    response = owner_client.post(reverse("job_retry", args=[wiped.pk]))
    assert [m.message for m in get_messages(response.wsgi_request)] == [_reason(wiped)]
    assert Job.objects.get(pk=wiped.pk).status == Job.Status.FAILED


@pytest.mark.django_db
def test_view_details_says_so_and_asks_for_them(owner_client, viewer_client, wiped):
    page = owner_client.get(reverse("job_detail", args=[wiped.pk])).content.decode()

    assert "were removed from this job on" in page and "Give them again to retry." in page
    for label in ("Endpoint", "API Key", "Username", "Password"):
        assert f">{label}</label>" in page
    assert f'value="{wiped.source_name}"' in page
    assert "<legend>Authentication</legend>" in page
    assert page.count(">Retry</button>") == 1  # the form's; no Retry that can only be refused

    page = viewer_client.get(reverse("job_detail", args=[wiped.pk])).content.decode()
    assert "A Project Admin or Organization Owner can give them again to retry." in page
    assert ">Endpoint</label>" not in page


@pytest.mark.django_db
def test_a_retry_with_them_given_again_runs(owner, api_as, wiped):
    endpoint = f"http://{wiped.source_name}"

    response = api_as(owner).post(
        f"/v2/jobs/{wiped.pk}/retry", {"source": {"endpoint": endpoint, "apiKey": "new-key-456"}}
    )

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jobId": wiped.pk, "status": "PENDING"}
    kept = Connection.decrypt(_stored(wiped)[0])
    assert (kept.uri, kept.token) == (endpoint, "new-key-456")


@pytest.mark.django_db
def test_the_page_form_gives_them_again(owner_client, wiped):
    detail = reverse("job_detail", args=[wiped.pk])

    response = owner_client.post(
        reverse("job_retry", args=[wiped.pk]),
        {
            "next": detail,
            "uri": f"http://{wiped.source_name}",
            "auth": "USER_PASSWORD",
            "username": "reader",
            "password": "reader-pass-789",
        },
    )

    assert response.status_code == 302 and response.url == detail
    assert Job.objects.get(pk=wiped.pk).status == Job.Status.PENDING
    kept = Connection.decrypt(_stored(wiped)[0])
    assert (kept.username, kept.password) == ("reader", "reader-pass-789")


@pytest.mark.django_db
def test_it_refuses_credentials_for_another_endpoint(owner, api_as, wiped):
    response = api_as(owner).post(
        f"/v2/jobs/{wiped.pk}/retry",
        {"source": {"endpoint": "http://192.0.2.99:19530", "apiKey": "k"}},
    )

    assert response.status_code == 400
    assert response.json()["message"] == (
        f"the endpoint must be the job's source, {wiped.source_name}: a Retry continues the "
        "same copy"
    )
    assert _stored(wiped)[0] == ""


@pytest.mark.django_db
def test_it_refuses_credentials_for_a_job_reading_a_cluster_of_the_organization(
    owner, api_as, project
):
    job = make_job(project, status=Job.Status.FAILED, **job_clusters(project))

    response = api_as(owner).post(
        f"/v2/jobs/{job.pk}/retry", {"source": {"endpoint": "http://192.0.2.9:1", "apiKey": "k"}}
    )

    assert response.status_code == 400
    assert "takes no source credentials" in response.json()["message"]
