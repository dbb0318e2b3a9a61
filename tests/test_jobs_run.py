"""A migration job end to end: service → Celery worker → engine → SUCCESSFUL, with its log,
phases and verification written on the rows."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobCollection
from migrations_app import service
from tests.jobs_support import count, fill, local_cluster, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 3000, dynamic=True)
    fill(source_server, "notes", 500, varchar_pk=True)
    source = local_cluster(project, source_server, "src", plan="SERVERLESS")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    return source, target, source_server, target_server


def test_it_runs_a_job_to_successful_with_verified_collections(owner, pair, job_worker):
    source, target, _, target_server = pair
    job = service.start_migration(
        owner,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[
                service.CollectionChoice("docs", target_name="docs_v2", description="copy"),
                service.CollectionChoice("notes"),
            ],
        ),
    )
    assert job.status == Job.Status.PENDING and job.task_id
    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert job.progress == 100 and job.started_at and job.ended_at
    assert count(target_server, "docs_v2") == 3000
    assert count(target_server, "notes") == 500
    for c in job.collections.all():
        assert c.status == JobCollection.Status.DONE
        assert c.verification == JobCollection.Verification.VERIFIED
        assert c.migrated_entities == c.total_entities
        assert c.verified_entities == c.total_entities  # the verification's own figure
        assert c.retrying is None
        assert c.report["target_count"] == c.total_entities
        assert c.source_count_at_start == c.total_entities
        # In the order they ran (PostgreSQL's jsonb keeps no key order: sort by start time).
        ran = sorted(c.phases, key=lambda phase: c.phases[phase]["start"])
        assert ran == ["CREATING", "COPYING", "INDEXING", "VERIFYING"]
        assert all("end" in times for times in c.phases.values())
    (run,) = job.runs.all()
    assert (run.started_at, run.ended_at, run.status) == (
        job.started_at,
        job.ended_at,
        Job.Status.SUCCESSFUL,
    )
    messages = [e.message for e in job.events.all()]
    assert messages[0].startswith("job created by owner@acme.test")
    assert "job started" in messages
    assert messages[-1] == "job successful: every collection copied and verified"


def test_it_fails_the_job_with_a_reason_when_the_source_collection_vanished(
    owner, pair, job_worker
):
    source, target, source_server, _ = pair
    from tests.milvus import MilvusClient

    # Planned while it existed, dropped before the worker reads it: a source that vanished.
    with job_worker.paused():
        job = service.start_migration(
            owner,
            service.MigrationRequest(
                source_cluster_id=source.pk,
                target_cluster_id=target.pk,
                collections=[service.CollectionChoice("notes")],
            ),
        )
        client = MilvusClient(uri=source_server.uri)
        client.drop_collection("notes")
        client.close()
        job.refresh_from_db()
        assert job.status == Job.Status.PENDING
    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)
    assert job.status == Job.Status.FAILED
    assert "notes" in job.reason
    collection = job.collections.get()
    assert collection.status == JobCollection.Status.FAILED and collection.error
    assert job.events.filter(level="ERROR").exists()
