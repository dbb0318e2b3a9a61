"""Discard Incomplete Collections (migrations_app/discard.py) through View Details, the REST
API and the CLI, against a real Milvus Lite target.

The target holds what a failed migration leaves: an incomplete collection the job created
(its mark), a finished one it created, a collection of the same job's name plan that somebody
else made (no mark) and one another job created. Only the first may ever be dropped."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from console.models import Cluster
from jobs.models import Job, JobCollection, JobEvent
from migrations_app.engine.ownership import OWNER_PROPERTY
from tests.jobs_support import count, fill, local_cluster
from tests.milvus import MilvusClient

pytestmark = pytest.mark.django_db

PARTIAL_ROWS = 37
DONE_ROWS = 12
C = JobCollection.Status


def mark(server, name: str, owner: str) -> None:
    client = MilvusClient(uri=server.uri)
    try:
        client.alter_collection_properties(name, {OWNER_PROPERTY: owner})
    finally:
        client.close()


def add_collection(job: Job, name: str, status: str, target_state: str, **fields):
    return JobCollection.objects.create(
        job=job,
        source_db="default",
        source_name=name,
        target_db="default",
        target_name=name,
        status=status,
        target_state=target_state,
        total_entities=100,
        **fields,
    )


@pytest.fixture
def target_server(lite_server):
    return lite_server


@pytest.fixture
def failed(project, owner, target_server):
    """A FAILED migration and what it left on its target."""
    target = local_cluster(project, target_server, "dst")
    job = Job.objects.create(
        project=project,
        created_by=owner,
        status=Job.Status.FAILED,
        source_name="src",
        target_cluster=target,
        target_name=target.name,
        reason="1 of 4 collection(s) failed",
    )
    created = JobCollection.TargetState.CREATED
    partial = add_collection(
        job, "partial", C.FAILED, created, migrated_entities=PARTIAL_ROWS, checkpoint={"rows": 37}
    )
    add_collection(job, "finished", C.DONE, created, migrated_entities=100)
    add_collection(job, "theirs", C.FAILED, JobCollection.TargetState.NONE)
    add_collection(job, "other_job", C.CANCELED, created)
    fill(target_server, "partial", PARTIAL_ROWS)
    fill(target_server, "finished", DONE_ROWS)
    fill(target_server, "theirs", 5)
    fill(target_server, "other_job", 5)
    for name in ("partial", "finished"):
        mark(target_server, name, job.pk)
    mark(target_server, "other_job", "job-someoneelse0000000")
    job.partial = partial
    return job


def still_there(server) -> dict[str, int]:
    return {n: count(server, n) for n in ("partial", "finished", "theirs", "other_job")}


UNTOUCHED = {"partial": PARTIAL_ROWS, "finished": DONE_ROWS, "theirs": 5, "other_job": 5}


# --- View Details and its confirmation page ---------------------------------------------------


def test_view_details_offers_discard_for_a_failed_job(owner_client, failed):
    page = owner_client.get(reverse("job_detail", args=[failed.pk])).content.decode()
    assert "Discard Incomplete Collections" in page
    assert reverse("job_discard", args=[failed.pk]) in page


def test_view_details_offers_no_discard_while_running(owner_client, failed):
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.IN_PROGRESS)
    page = owner_client.get(reverse("job_detail", args=[failed.pk])).content.decode()
    assert "Discard Incomplete Collections" not in page


def test_view_details_offers_no_discard_when_the_job_created_nothing_unfinished(
    owner_client, failed
):
    unfinished = JobCollection.objects.filter(job=failed).exclude(status=C.DONE)
    unfinished.filter(target_state=JobCollection.TargetState.CREATED).update(
        target_state=JobCollection.TargetState.DISCARDED
    )
    page = owner_client.get(reverse("job_detail", args=[failed.pk])).content.decode()
    assert "Discard Incomplete Collections" not in page


def test_the_confirmation_lists_only_the_jobs_incomplete_collections(
    owner_client, failed, target_server
):
    response = owner_client.get(reverse("job_discard", args=[failed.pk]))

    assert response.status_code == 200
    leftovers = response.context["leftovers"]
    assert [(item.name, item.rows) for item in leftovers] == [("partial", PARTIAL_ROWS)]
    page = response.content.decode()
    assert '<td data-label="Collection">partial</td>' in page
    for other in ("finished", "theirs", "other_job"):
        assert f'data-label="Collection">{other}<' not in page
    assert still_there(target_server) == UNTOUCHED  # a GET changes nothing


def test_it_discards_drops_marks_and_logs(project_admin_client, admin, failed, target_server):
    response = project_admin_client.post(reverse("job_discard", args=[failed.pk]), follow=True)

    page = response.content.decode()
    assert f"Discarded from dst: partial ({PARTIAL_ROWS} rows)." in page
    assert still_there(target_server) == UNTOUCHED | {"partial": -1}
    partial = JobCollection.objects.get(pk=failed.partial.pk)
    assert partial.target_state == JobCollection.TargetState.DISCARDED
    assert partial.checkpoint is None and partial.migrated_entities == 0
    others = JobCollection.objects.filter(job=failed).exclude(pk=partial.pk)
    assert JobCollection.TargetState.DISCARDED not in {c.target_state for c in others}
    event = JobEvent.objects.filter(job=failed, message__contains="discarded").get()
    assert event.message == (
        f"incomplete collection(s) discarded by {admin.email}: default.partial "
        f"({PARTIAL_ROWS} rows) dropped from the target dst"
    )
    assert "Target discarded" in page
    # Once done there is nothing left to discard, and it says so.
    again = project_admin_client.get(reverse("job_discard", args=[failed.pk]))
    assert again.status_code == 409
    assert "Nothing to discard: job" in again.content.decode()


def test_a_viewer_may_not_discard(viewer_client, failed, target_server):
    page = viewer_client.get(reverse("job_detail", args=[failed.pk])).content.decode()
    assert "Only Organization Owners and Project Admins can discard incomplete collections" in page

    for method in ("get", "post"):
        response = getattr(viewer_client, method)(reverse("job_discard", args=[failed.pk]))
        assert response.status_code == 403
    assert still_there(target_server) == UNTOUCHED


def test_an_outsider_gets_404(outsider_client, failed):
    assert outsider_client.post(reverse("job_discard", args=[failed.pk])).status_code == 404


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (Job.Status.PENDING, "it has not finished: cancel it first, or wait until it ends"),
        (Job.Status.IN_PROGRESS, "it has not finished: cancel it first, or wait until it ends"),
        (Job.Status.CANCELING, "it has not finished: cancel it first, or wait until it ends"),
        (Job.Status.SUCCESSFUL, "its collections are complete"),
    ],
)
def test_a_job_in_another_state_is_refused_with_the_reason(
    owner_client, failed, target_server, status, why
):
    Job.objects.filter(pk=failed.pk).update(status=status)
    label = Job.Status(status).label

    response = owner_client.post(reverse("job_discard", args=[failed.pk]), follow=True)

    page = response.content.decode()
    assert (
        f"job {failed.pk} is {label}: only the incomplete collections of a Failed or Canceled "
        f"job can be discarded ({why})"
    ) in page
    assert still_there(target_server) == UNTOUCHED


def test_a_canceled_job_can_be_discarded(owner_client, failed, target_server):
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.CANCELED)
    owner_client.post(reverse("job_discard", args=[failed.pk]))
    assert count(target_server, "partial") == -1


def test_nothing_to_discard_says_so(owner_client, failed, target_server):
    JobCollection.objects.filter(pk=failed.partial.pk).update(status=C.DONE)

    response = owner_client.get(reverse("job_discard", args=[failed.pk]))

    assert response.status_code == 409
    assert (
        f"Nothing to discard: job {failed.pk} left no incomplete collection of its own on the "
        "target dst."
    ) in response.content.decode()


def test_a_collection_dropped_meanwhile_leaves_nothing_to_discard(
    owner_client, failed, target_server
):
    client = MilvusClient(uri=target_server.uri)
    client.drop_collection("partial")
    client.close()
    response = owner_client.post(reverse("job_discard", args=[failed.pk]), follow=True)
    assert "nothing to discard: job" in response.content.decode()


def test_an_unreachable_target_changes_nothing(owner_client, failed, target_server):
    from console.clusters.lite_process import free_port

    port = free_port()
    Cluster.objects.filter(pk=failed.target_cluster_id).update(
        uri=f"http://127.0.0.1:{port}", port=port
    )

    response = owner_client.post(reverse("job_discard", args=[failed.pk]), follow=True)

    page = response.content.decode()
    assert f"the target cluster dst cannot be reached: cannot reach 127.0.0.1:{port}" in page
    assert "(nothing was changed)" in page
    partial = JobCollection.objects.get(pk=failed.partial.pk)
    assert partial.target_state == JobCollection.TargetState.CREATED
    assert partial.checkpoint == {"rows": 37}
    assert not JobEvent.objects.filter(job=failed, message__contains="discarded").exists()


def test_a_verification_job_has_nothing_to_discard(owner_client, failed):
    check = Job.objects.create(
        project=failed.project,
        type=Job.Type.VERIFICATION,
        verifies=failed,
        status=Job.Status.FAILED,
        source_name="src",
        target_cluster=failed.target_cluster,
        target_name="dst",
    )
    response = owner_client.get(reverse("job_discard", args=[check.pk]))
    assert response.status_code == 409
    assert "which creates no collections" in response.content.decode()


# --- REST API ---------------------------------------------------------------------------------


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] != 0
    return body["message"]


def test_the_api_discards_in_the_zilliz_shape(api_as, owner, failed, target_server):
    response = api_as(owner).post(f"/v2/jobs/{failed.pk}/discard")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "code": 0,
        "data": {
            "jobId": failed.pk,
            "status": "FAILED",
            "discarded": [{"dbName": "default", "collectionName": "partial", "rows": PARTIAL_ROWS}],
        },
    }
    assert count(target_server, "partial") == -1
    message = _error(api_as(owner).post(f"/v2/jobs/{failed.pk}/discard"), 409)
    assert message.startswith(f"nothing to discard: job {failed.pk}")


def test_the_api_refuses_a_viewer_and_a_running_job(api_as, viewer, owner, failed, target_server):
    message = _error(api_as(viewer).post(f"/v2/jobs/{failed.pk}/discard"), 403)
    assert message == (
        "Only Organization Owners and Project Admins can discard incomplete collections in "
        "project Default Project."
    )
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.SUCCESSFUL)
    message = _error(api_as(owner).post(f"/v2/jobs/{failed.pk}/discard"), 409)
    assert "(its collections are complete)" in message
    assert still_there(target_server) == UNTOUCHED


def test_the_api_says_when_the_target_is_unreachable(api_as, owner, failed):
    from console.clusters.lite_process import free_port

    port = free_port()
    Cluster.objects.filter(pk=failed.target_cluster_id).update(uri=f"http://127.0.0.1:{port}")
    message = _error(api_as(owner).post(f"/v2/jobs/{failed.pk}/discard"), 503)
    assert message.startswith("the target cluster dst cannot be reached")
    assert message.endswith("(nothing was changed)")


def test_the_api_answers_404_for_an_unknown_job(api_as, owner):
    assert _error(api_as(owner).post("/v2/jobs/job-nosuchjob/discard"), 404)


# --- CLI ----------------------------------------------------------------------------------------


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue().splitlines()


def test_the_cli_discards(owner, failed, target_server):
    lines = run("discard", failed.pk, "--as", owner.email)
    assert lines == [
        f"dropped default.partial ({PARTIAL_ROWS} rows)",
        f"job {failed.pk}: 1 incomplete collection(s) discarded",
    ]
    assert count(target_server, "partial") == -1


def test_the_cli_refuses_with_the_reason(viewer, owner, failed, target_server):
    with pytest.raises(CommandError) as refused:
        run("discard", failed.pk, "--as", viewer.email)
    assert "Only Organization Owners and Project Admins can discard" in str(refused.value)
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.IN_PROGRESS)
    with pytest.raises(CommandError) as refused:
        run("discard", failed.pk, "--as", owner.email)
    assert f"job {failed.pk} is In Progress" in str(refused.value)
    with pytest.raises(CommandError) as refused:
        run("discard", "job-nosuchjob", "--as", owner.email)
    assert str(refused.value) == "job job-nosuchjob does not exist"
    assert still_there(target_server) == UNTOUCHED
