"""manage.py jobs list | show [--json] | cancel | retry, and the source credentials verify,
repair and retry take again."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job, JobCollection
from jobs.serializers import job_data
from tests.jobrows import job_clusters

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def job(project, owner) -> Job:
    job = Job.objects.create(
        project=project,
        created_by=owner,
        source_name="src",
        target_name="dst",
        status=Job.Status.FAILED,
        reason="1 of 1 collection(s) failed — default.docs: boom",
        **job_clusters(project),
    )
    JobCollection.objects.create(
        job=job,
        source_db="default",
        source_name="docs",
        target_db="default",
        target_name="docs",
        status=JobCollection.Status.FAILED,
        total_entities=10,
        migrated_entities=4,
        checkpoint={"rows": 4},
    )
    return job


def test_it_lists_jobs_filtered_by_project_and_status(job, project, other_project, owner):
    newer = Job.objects.create(
        project=other_project, created_by=owner, source_name="a", target_name="b"
    )
    assert [line.split()[0] for line in run("list")] == [newer.pk, job.pk]
    assert [line.split()[0] for line in run("list", "--project", project.pk)] == [job.pk]
    assert [line.split()[0] for line in run("list", "--status", "failed")] == [job.pk]
    assert run("list", "--status", "PENDING", "--project", project.pk) == []


def test_it_refuses_an_unknown_status(job):
    with pytest.raises(CommandError, match="unknown status 'DONE'"):
        run("list", "--status", "done")


def test_it_shows_the_api_object_as_json(job):
    data = json.loads("\n".join(run("show", job.pk, "--json")))
    assert data == job_data(job)
    assert data["collections"][0]["migratedEntities"] == 4
    assert data["startTime"] is None


def test_it_shows_a_job_for_people(job):
    lines = run("show", job.pk)
    assert lines[0].startswith(f"{job.pk}  FAILED")
    assert lines[1] == f"reason: {job.reason}"
    assert "default.docs → default.docs  FAILED  4/10" in lines[2]


def test_it_retries_a_failed_job_and_keeps_the_checkpoint(job, owner):
    assert run("retry", job.pk, "--as", owner.email)[-1] == f"job {job.pk} is PENDING"
    collection = job.collections.get()
    assert collection.status == JobCollection.Status.PENDING
    assert collection.checkpoint == {"rows": 4} and collection.attempt == 1


def test_it_cancels_a_pending_job(job, admin):
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING)
    assert run("cancel", job.pk, "--as", admin.email)[-1] == f"job {job.pk} is CANCELED"


def test_it_refuses_cancel_of_a_final_job_and_retry_of_a_pending_one(job, owner):
    with pytest.raises(CommandError, match="only Pending and In Progress jobs can be canceled"):
        run("cancel", job.pk, "--as", owner.email)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING)
    with pytest.raises(CommandError, match="only Failed jobs can be retried"):
        run("retry", job.pk, "--as", owner.email)


def test_it_refuses_watchers_and_outsiders(job, viewer, outsider):
    with pytest.raises(
        CommandError, match="Only Organization Owners and Project Admins can retry jobs in project"
    ):
        run("retry", job.pk, "--as", viewer.email)
    with pytest.raises(CommandError, match=f"job {job.pk} does not exist"):
        run("retry", job.pk, "--as", outsider.email)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--token", "k"], "--token, --username and --password go with --source-uri"),
        (["--source-uri", "http://192.0.2.9:19530"], "--source-uri needs --token, or --username"),
        (
            ["--source-uri", "http://192.0.2.9:19530", "--token", "k", "--username", "u"],
            "give either --token or --username and --password, not both",
        ),
        (
            ["--source-uri", "http://192.0.2.9:19530", "--username", "u"],
            "--source-uri needs --token, or --username and --password",
        ),
    ],
)
@pytest.mark.parametrize("action", ["retry", "verify", "repair"])
def test_it_refuses_source_credentials_given_by_halves(job, owner, action, flags, message):
    before = Job.objects.count()

    with pytest.raises(CommandError) as error:
        run(action, job.pk, "--as", owner.email, *flags)

    assert message in str(error.value)
    assert Job.objects.count() == before
    assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED


def test_it_refuses_source_credentials_for_a_job_reading_a_cluster_of_the_organization(job, owner):
    with pytest.raises(CommandError, match="takes no source credentials"):
        run(
            "verify",
            job.pk,
            "--as",
            owner.email,
            "--source-uri",
            "http://192.0.2.9:1",
            "--token",
            "k",
        )
    assert not Job.objects.filter(type=Job.Type.VERIFICATION).exists()
