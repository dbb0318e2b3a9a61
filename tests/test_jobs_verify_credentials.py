"""Verify Again and Repair of an In Other Organization migration: its source credentials left the
job when it ended (issue 15), so the request gives them again, as a Retry does (API body, CLI
flags, View Details' form). The source is the real Milvus standalone with authorization on, so
a wrong key is refused by the server itself; the target is Milvus Lite."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from console.connections import Connection
from jobs.models import Job, JobCollection
from migrations_app import service
from tests.engine.sample_data import create_simple
from tests.jobs_support import local_cluster, wait_for
from tests.milvus import MilvusClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.standalone]

ROWS = 400
WRONG = "root:not-the-password-42"


@pytest.fixture
def migrated(owner, project, lite_factory, standalone, job_worker):
    """A SUCCESSFUL migration of "verify_src" from the standalone (another organization's
    endpoint and key) into a Lite target: (job, target server). Its credentials are gone."""
    client = MilvusClient(uri=standalone.uri, token=standalone.token)
    if "verify_src" in client.list_collections():
        client.drop_collection("verify_src")
    create_simple(client, "verify_src", rows=ROWS)
    client.flush("verify_src")  # Milvus 2.3 counts only flushed rows
    client.close()
    target_server = lite_factory()
    target = local_cluster(project, target_server, "dst")
    job = service.start_migration(
        owner,
        service.MigrationRequest(
            source_connection=Connection(uri=standalone.uri, token=standalone.token),
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("verify_src", target_name="verify_copy")],
        ),
    )
    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker, timeout=180)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert job.source_credentials_removed
    return job, target_server


def _refusal(job: Job, what: str) -> str:
    when = f"{job.source_credentials_removed_at:%Y-%m-%d %H:%M}"
    return (
        f"the credentials of the source {job.source_name} were removed from job {job.pk} on "
        f"{when} UTC (another organization's credentials leave a job when it ends): give the "
        f"source's API key or username and password again {what}"
    )


def _stored(job: Job) -> str:
    return Job.objects.values_list("source_connection_enc", flat=True).get(pk=job.pk)


def test_verify_again_and_repair_ask_for_the_credentials_again(owner, api_as, migrated):
    migration, _ = migrated

    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify")
    assert response.status_code == 409
    assert response.json()["message"] == _refusal(migration, "to verify it again")
    with pytest.raises(CommandError) as error:
        call_command("jobs", "verify", migration.pk, "--as", owner.email, stdout=StringIO())
    assert str(error.value) == _refusal(migration, "to verify it again")
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()


def test_a_wrong_key_is_refused_with_the_reason_and_nothing_is_created(
    owner, api_as, standalone, migrated, caplog
):
    migration, _ = migrated
    body = {"source": {"endpoint": standalone.uri, "apiKey": WRONG}}

    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify", body)

    assert response.status_code == 400, response.content
    message = response.json()["message"]
    assert message.startswith("the source refused the connection: authentication failed on ")
    with pytest.raises(CommandError, match="authentication failed") as error:
        call_command(
            "jobs", "verify", migration.pk, "--as", owner.email,
            "--source-uri", standalone.uri, "--token", WRONG, stdout=StringIO(),
        )  # fmt: skip
    for shown in (message, str(error.value), caplog.text):
        assert "not-the-password-42" not in shown
    assert not Job.objects.exclude(pk=migration.pk).exists()
    assert _stored(migration) == ""


def test_it_refuses_credentials_for_another_endpoint(owner, api_as, migrated):
    migration, _ = migrated

    response = api_as(owner).post(
        f"/v2/jobs/{migration.pk}/verify",
        {"source": {"endpoint": "http://192.0.2.99:19530", "apiKey": "k"}},
    )

    assert response.status_code == 400
    assert response.json()["message"] == (
        f"the endpoint must be the job's source, {migration.source_name}: Verify Again "
        "compares the same source"
    )
    assert not Job.objects.exclude(pk=migration.pk).exists()


def test_verify_again_with_the_key_given_again_runs_and_the_key_leaves_at_its_end(
    owner, api_as, standalone, migrated, job_worker
):
    migration, _ = migrated
    body = {"source": {"endpoint": standalone.uri, "apiKey": standalone.token}}

    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify", body)

    assert response.status_code == 200, response.content
    assert standalone.token not in response.content.decode()
    verification = Job.objects.get(pk=response.json()["data"]["jobId"])
    kept = Connection.decrypt(_stored(verification))
    assert kept.token == standalone.token  # encrypted on the new job only
    assert standalone.token not in _stored(verification)
    assert _stored(migration) == ""
    verification = wait_for(verification, *Job.FINAL_STATES, worker=job_worker, timeout=180)
    assert verification.status == Job.Status.SUCCESSFUL, verification.reason
    data = api_as(owner).get(f"/v2/jobs/{verification.pk}").json()["data"]
    (collection,) = data["collections"]
    assert collection["verification"] == "VERIFIED"
    assert collection["verificationDetails"]["rowsCompared"] == ROWS
    assert collection["verificationDetails"]["sourceChanged"] is False
    assert _stored(verification) == ""  # gone when the job ended, as from every job
    assert verification.events.filter(
        message="the source's credentials were removed from the job: the job ended"
    ).exists()


def test_the_cli_and_the_page_form_give_them_for_verify_again_and_repair(
    owner, owner_client, viewer_client, standalone, migrated, job_worker
):
    migration, target_server = migrated
    target = MilvusClient(uri=target_server.uri)
    target.delete("verify_copy", ids=[5])
    target.close()
    user, password = standalone.token.split(":")

    out = StringIO()
    call_command(
        "jobs", "verify", migration.pk, "--as", owner.email,
        "--source-uri", standalone.uri, "--username", user, "--password", password, stdout=out,
    )  # fmt: skip
    assert password not in out.getvalue()
    check = Job.objects.get(pk=out.getvalue().split()[-1])
    check = wait_for(check, *Job.FINAL_STATES, worker=job_worker, timeout=180)
    assert check.status == Job.Status.FAILED
    assert check.collections.get().verification == JobCollection.Verification.MISMATCH

    detail = reverse("job_detail", args=[check.pk])
    page = owner_client.get(detail).content.decode()
    assert "Give them again to verify it again or repair it." in page
    for label in ("Endpoint", "API Key", "Username", "Password"):
        assert f">{label}</label>" in page
    assert f'formaction="{reverse("job_repair", args=[check.pk])}"' in page
    assert ">Repair</button>" in page and ">Verify Again</button>" in page
    refused = viewer_client.get(detail).content.decode()
    assert ">Endpoint</label>" not in refused
    assert "A Project Admin or Organization Owner can give them again" in refused

    response = owner_client.post(
        reverse("job_repair", args=[check.pk]),
        {
            "next": detail,
            "uri": standalone.uri,
            "auth": "USER_PASSWORD",
            "username": user,
            "password": password,
        },
    )

    assert response.status_code == 302, [m.message for m in get_messages(response.wsgi_request)]
    repair = Job.objects.get(type=Job.Type.REPAIR)
    assert response.url == reverse("job_detail", args=[repair.pk])
    repair = wait_for(repair, *Job.FINAL_STATES, worker=job_worker, timeout=180)
    assert repair.status == Job.Status.SUCCESSFUL, repair.reason
    assert repair.collections.get().verification == JobCollection.Verification.VERIFIED
    assert _stored(repair) == ""
