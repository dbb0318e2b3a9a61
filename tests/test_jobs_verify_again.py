"""Verify Again: a VERIFICATION job linked to its migration compares source and target as they
are now (every row), from the API, the CLI and View Details; and the refusals: a job still
running (409), a read-only member (403), a source collection gone or a target unreachable (a
clear message, no job)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from jobs.models import Job, JobCollection
from migrations_app import service
from tests.engine.sample_data import vector
from tests.jobs_support import count, fill, local_cluster, wait_for
from tests.milvus import MilvusClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrated(owner, project, lite_factory, job_worker):
    """A SUCCESSFUL migration of "docs" (1,500 rows): (job, source server, target server)."""
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 1_500, dynamic=True)
    source = local_cluster(project, source_server, "src", plan="SERVERLESS")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    job = service.start_migration(
        owner,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("docs", target_name="docs_copy")],
        ),
    )
    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    return job, source_server, target_server


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["message"]


def test_it_verifies_a_migration_again_and_finds_a_change_made_since(
    owner, api_as, migrated, job_worker
):
    migration, _, target_server = migrated

    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify")

    assert response.status_code == 200, response.content
    verification = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert (verification.type, verification.verifies_id) == ("VERIFICATION", migration.pk)
    verification = wait_for(verification, *Job.FINAL_STATES, worker=job_worker)
    assert verification.status == Job.Status.SUCCESSFUL, verification.reason
    data = api_as(owner).get(f"/v2/jobs/{verification.pk}").json()["data"]
    assert (data["type"], data["verifies"]) == ("VERIFICATION", migration.pk)
    (collection,) = data["collections"]
    assert collection["verification"] == "VERIFIED"
    assert collection["verificationDetails"]["rowsCompared"] == 1_500
    assert collection["verificationDetails"]["sourceChanged"] is False
    assert [phase["name"] for phase in collection["phases"]] == ["Verifying"]

    # A row changed on the target since the migration: the CLI's Verify Again finds it.
    target = MilvusClient(target_server.uri)
    target.upsert("docs_copy", [{"pk": 321, "vec": vector(1), "title": "x", "category": 1}])
    target.close()
    out = StringIO()
    call_command("jobs", "verify", migration.pk, "--as", owner.email, stdout=out)
    again = Job.objects.get(pk=out.getvalue().strip().splitlines()[-1])
    again = wait_for(again, *Job.FINAL_STATES, worker=job_worker)

    assert again.status == Job.Status.FAILED
    c = again.collections.get()
    assert c.verification == JobCollection.Verification.MISMATCH
    assert c.report["first_differing_keys"] == [321]
    assert "row pk=321: field vec differs" in c.report["mismatches"]
    assert c.report["rows_compared"] == 1_500
    assert migration.collections.get().verification == JobCollection.Verification.VERIFIED


def test_verify_again_says_when_the_source_changed_since_the_migration(
    owner, api_as, migrated, job_worker
):
    migration, source_server, _ = migrated
    source = MilvusClient(source_server.uri)
    source.upsert("docs", [{"pk": 777, "vec": vector(5), "title": "new", "category": 2}])
    source.flush("docs")
    source.close()

    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify")
    verification = wait_for(
        Job.objects.get(pk=response.json()["data"]["jobId"]), *Job.FINAL_STATES, worker=job_worker
    )

    assert verification.status == Job.Status.FAILED
    data = api_as(owner).get(f"/v2/jobs/{verification.pk}").json()["data"]
    details = data["collections"][0]["verificationDetails"]
    assert details["sourceChanged"] is True
    assert details["firstDifferingKeys"] == [777]
    report = verification.collections.get().report
    assert report["mismatches"][0] == (
        "the source changed since the migration: 1 of the 1 differing key ranges hold other "
        "rows on the source now than the copy read"
    )


def test_it_shows_verify_again_on_view_details_to_managers(owner_client, viewer_client, migrated):
    migration, _, _ = migrated
    url = reverse("job_detail", args=[migration.pk])

    html = owner_client.get(url).content.decode()
    refused = viewer_client.get(url).content.decode()
    response = owner_client.post(reverse("job_verify", args=[migration.pk]))

    assert f'action="{reverse("job_verify", args=[migration.pk])}"' in html
    assert ">Verify Again</button>" in html
    assert reverse("job_verify", args=[migration.pk]) not in refused
    assert 'aria-disabled="true"' in refused and "Verify Again</button>" in refused
    verification = Job.objects.get(verifies=migration)
    assert response.status_code == 302
    assert response["Location"] == reverse("job_detail", args=[verification.pk])
    detail = owner_client.get(response["Location"]).content.decode()
    assert f"migration {migration.pk}" in detail
    assert "Verify " in detail


@pytest.mark.parametrize("status", [Job.Status.PENDING, Job.Status.IN_PROGRESS])
def test_it_refuses_to_verify_a_job_that_has_not_finished(owner, api_as, project, status):
    job = Job.objects.create(project=project, status=status, source_name="s", target_name="t")

    message = _error(api_as(owner).post(f"/v2/jobs/{job.pk}/verify"), 409)

    label = Job.Status(status).label
    assert f"job {job.pk} is {label}: only a finished job can be verified again" in message
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()


def test_it_refuses_verify_again_to_a_read_only_member(viewer, api_as, project):
    job = Job.objects.create(
        project=project, status=Job.Status.SUCCESSFUL, source_name="s", target_name="t"
    )

    message = _error(api_as(viewer).post(f"/v2/jobs/{job.pk}/verify"), 403)

    assert "Only Organization Owners and Project Admins can verify jobs again" in message
    with pytest.raises(CommandError, match="can verify jobs again"):
        call_command("jobs", "verify", job.pk, "--as", viewer.email, stdout=StringIO())
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()


def test_it_says_when_the_source_collection_is_gone_and_creates_nothing(owner, api_as, migrated):
    migration, source_server, _ = migrated
    source = MilvusClient(source_server.uri)
    source.drop_collection("docs")
    source.close()

    message = _error(api_as(owner).post(f"/v2/jobs/{migration.pk}/verify"), 409)

    assert "the source collection default.docs no longer exists" in message
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()


def test_it_says_when_the_target_cannot_be_reached_and_creates_nothing(owner, api_as, migrated):
    migration, _, _ = migrated
    target = migration.target_cluster
    target.uri = "http://127.0.0.1:9"  # nothing listens there
    target.port = 9
    target.save()

    message = _error(api_as(owner).post(f"/v2/jobs/{migration.pk}/verify"), 503)

    assert message.startswith("the target cannot be reached")
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()


def test_it_says_there_is_nothing_to_verify_when_nothing_was_copied(owner, api_as, project):
    job = Job.objects.create(
        project=project, status=Job.Status.FAILED, source_name="s", target_name="t"
    )
    JobCollection.objects.create(
        job=job, source_db="default", source_name="a", target_db="default", target_name="a"
    )

    message = _error(api_as(owner).post(f"/v2/jobs/{job.pk}/verify"), 409)

    assert f"no collection of job {job.pk} was copied: there is nothing to verify" in message


# --- Repair ------------------------------------------------------------------------------


def test_it_repairs_only_what_differs_and_ends_successful_when_identical(
    owner, owner_client, api_as, migrated, job_worker
):
    migration, _, target_server = migrated
    target = MilvusClient(target_server.uri)
    target.upsert("docs_copy", [{"pk": 42, "vec": vector(7), "title": "x", "category": 1}])
    target.delete("docs_copy", ids=[1_200])
    target.insert("docs_copy", [{"pk": 99_999, "vec": vector(3), "title": "y", "category": 0}])
    target.close()
    out = StringIO()
    call_command("jobs", "verify", migration.pk, "--as", owner.email, stdout=out)
    check = wait_for(
        Job.objects.get(pk=out.getvalue().split()[-1]), *Job.FINAL_STATES, worker=job_worker
    )
    assert check.status == Job.Status.FAILED
    html = owner_client.get(reverse("job_detail", args=[check.pk])).content.decode()
    assert f'action="{reverse("job_repair", args=[check.pk])}"' in html

    response = api_as(owner).post(f"/v2/jobs/{check.pk}/repair")

    assert response.status_code == 200, response.content
    repair = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert (repair.type, repair.verifies_id) == ("REPAIR", migration.pk)
    repair = wait_for(repair, *Job.FINAL_STATES, worker=job_worker)
    assert repair.status == Job.Status.SUCCESSFUL, repair.reason
    c = repair.collections.get()
    assert c.verification == JobCollection.Verification.VERIFIED
    assert c.report["rows_compared"] == 1_500
    notes = [e.message for e in repair.events.all()]
    assert any("1 rows the source lacks deleted" in note for note in notes), notes
    # Nothing differs any more: a second Repair says so and creates nothing.
    message = _error(api_as(owner).post(f"/v2/jobs/{repair.pk}/repair"), 409)
    assert f"nothing to repair: no verification of job {repair.pk} found differences" in message
    assert Job.objects.filter(type=Job.Type.REPAIR).count() == 1


def test_it_refuses_to_repair_a_target_its_migration_did_not_create(
    owner, api_as, migrated, job_worker
):
    migration, _, target_server = migrated
    # The migration's target was dropped and a collection of the same name made by someone
    # else, without the migration's mark; a Verify Again finds it differs.
    target = MilvusClient(target_server.uri)
    target.drop_collection("docs_copy")
    target.close()
    fill(target_server, "docs_copy", 100, dynamic=True)
    response = api_as(owner).post(f"/v2/jobs/{migration.pk}/verify")
    check = wait_for(
        Job.objects.get(pk=response.json()["data"]["jobId"]), *Job.FINAL_STATES, worker=job_worker
    )
    assert check.collections.get().verification == JobCollection.Verification.MISMATCH

    message = _error(api_as(owner).post(f"/v2/jobs/{check.pk}/repair"), 409)

    assert message == (
        "the target collection default.docs_copy was created by something else (it has no job "
        f"mark), not by migration {migration.pk}: Repair writes only into a collection its "
        "migration created"
    )
    assert not Job.objects.filter(type=Job.Type.REPAIR).exists()
    assert count(target_server, "docs_copy") == 100  # nothing written


def test_it_refuses_repair_with_nothing_to_repair(owner, api_as, migrated):
    migration, _, _ = migrated

    message = _error(api_as(owner).post(f"/v2/jobs/{migration.pk}/repair"), 409)

    assert f"nothing to repair: no verification of job {migration.pk} found differences" in (
        message
    )
    with pytest.raises(CommandError, match="nothing to repair"):
        call_command("jobs", "repair", migration.pk, "--as", owner.email, stdout=StringIO())
    assert not Job.objects.filter(type=Job.Type.REPAIR).exists()


@pytest.mark.parametrize("status", [Job.Status.PENDING, Job.Status.IN_PROGRESS])
def test_it_refuses_to_repair_a_job_that_has_not_finished(owner, api_as, project, status):
    job = Job.objects.create(project=project, status=status, source_name="s", target_name="t")

    message = _error(api_as(owner).post(f"/v2/jobs/{job.pk}/repair"), 409)

    label = Job.Status(status).label
    assert f"job {job.pk} is {label}: only a finished job can be repaired" in message


def test_it_refuses_repair_to_a_read_only_member(viewer, api_as, project):
    job = Job.objects.create(
        project=project, status=Job.Status.FAILED, source_name="s", target_name="t"
    )

    message = _error(api_as(viewer).post(f"/v2/jobs/{job.pk}/repair"), 403)

    assert "Only Organization Owners and Project Admins can repair jobs" in message
