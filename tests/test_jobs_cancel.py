"""Cancel: PENDING → CANCELED at once; IN PROGRESS → CANCELING → CANCELED within seconds with
the incomplete target dropped; a second click and a finished job are refused."""

from __future__ import annotations

import time

import pytest

from console.errors import Conflict
from jobs.models import Job, JobCollection
from migrations_app import service
from tests.jobs_support import count, fill, local_cluster, start_copy, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 40_000


@pytest.fixture
def worker_env():
    # Small batches: the copy of ROWS takes many seconds, so a cancel lands mid-copy.
    return {"MIGRATION_BATCH_BYTES": "20000"}


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "big", ROWS)
    source = local_cluster(project, source_server, "src", plan="DEDICATED")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    return source, target, target_server


def _wait_copying(job: Job, worker, timeout: float = 60) -> JobCollection:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = job.collections.get()
        if c.status == JobCollection.Status.COPYING and c.migrated_entities > 0:
            return c
        time.sleep(0.1)
    raise AssertionError(f"never copying: {job.collections.get().status}\n{worker.logs()[-2000:]}")


def test_it_cancels_a_pending_job_at_once_and_never_runs_it(owner, pair, job_worker):
    source, target, target_server = pair
    with job_worker.paused():  # the job's task waits in the queue: the job stays PENDING
        job = start_copy(owner, source, target)
        job = service.cancel_job(owner, job)
        assert job.status == Job.Status.CANCELED and job.ended_at
        assert job.collections.get().status == JobCollection.Status.CANCELED
    # The worker heard the revoke and, once it takes the task from the queue, drops it unrun.
    job_worker.wait_for_log(f"Discarding revoked task: jobs.run_job[{job.task_id}]")
    assert f"Task jobs.run_job[{job.task_id}] succeeded" not in job_worker.logs()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert count(target_server, "big") == -1
    assert "canceled by owner@acme.test before it started" in [e.message for e in job.events.all()]


def test_it_cancels_during_the_copy_and_drops_the_incomplete_target(owner, pair, job_worker):
    source, target, target_server = pair
    job = start_copy(owner, source, target)
    copying = _wait_copying(job, job_worker)
    assert copying.migrated_entities < ROWS
    job = service.cancel_job(owner, job)
    assert job.status == Job.Status.CANCELING
    clicked = time.monotonic()
    job = wait_for(job, Job.Status.CANCELED, timeout=30, worker=job_worker)
    assert time.monotonic() - clicked < 10
    assert job.collections.get().status == JobCollection.Status.CANCELED
    assert count(target_server, "big") == -1  # nothing left behind
    assert not job.can_discard  # so View Details offers no Discard
    job_worker.wait_idle()
    assert count(target_server, "big") == -1  # and nothing written after CANCELED
    messages = [e.message for e in job.events.all()]
    assert "cancel requested by owner@acme.test" in messages
    assert any("incomplete target collection" in m for m in messages)
    assert job.reason == "canceled by owner@acme.test"


def test_it_refuses_a_second_cancel_and_a_cancel_of_a_final_job(owner, pair, job_worker):
    source, target, _ = pair
    job = start_copy(owner, source, target)
    _wait_copying(job, job_worker)
    service.cancel_job(owner, job)
    with pytest.raises(Conflict) as second:
        service.cancel_job(owner, job)
    assert "only Pending and In Progress jobs can be canceled" in second.value.message
    job = wait_for(job, Job.Status.CANCELED, timeout=30, worker=job_worker)
    with pytest.raises(Conflict) as final:
        service.cancel_job(owner, job)
    assert f"job {job.pk} is Canceled" in final.value.message
