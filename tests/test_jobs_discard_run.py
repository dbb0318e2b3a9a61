"""Discard on a job a real worker ran: the source goes away mid-copy, the job FAILS with part
of the rows on the target; Discard drops that partial collection; once the source is back, a
Retry creates the target again and copies every row from the start."""

from __future__ import annotations

import time

import pytest

from console.clusters.lite_process import start_lite
from jobs.models import Job, JobCollection
from migrations_app import discard, service
from tests.jobs_support import count, fill, local_cluster, settle_index_files, start_copy, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 30_000


@pytest.fixture
def worker_env():
    # Small batches (the copy is seen mid-way) and a short back-off (a source gone fails the
    # job in about a second).
    return {
        "MIGRATION_BATCH_BYTES": "20000",
        "MIGRATION_RETRY_ATTEMPTS": "4",
        "MIGRATION_RETRY_FIRST_DELAY": "0.1",
        "MIGRATION_RETRY_MAX_DELAY": "0.5",
    }


def _wait_rows(job: Job, rows: int, worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = job.collections.get()
        if c.migrated_entities >= rows and c.status == JobCollection.Status.COPYING:
            return
        time.sleep(0.1)
    raise AssertionError(f"copy did not reach {rows} rows\n{worker.logs()[-2000:]}")


def test_a_discarded_failed_job_retries_from_the_start(
    owner, project, fresh_lite_factory, lite_factory, job_worker
):
    source_server, target_server = fresh_lite_factory(), lite_factory()
    fill(source_server, "big", ROWS)
    settle_index_files(source_server)  # the test stops and restarts the source
    source = local_cluster(project, source_server, "src")
    target = local_cluster(project, target_server, "dst")
    job = start_copy(owner, source, target)
    _wait_rows(job, 3000, job_worker)
    source_server.stop()
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.FAILED, job.reason
    partial = count(target_server, "big")
    assert 0 < partial < ROWS

    [leftover] = discard.find_leftovers(owner, job)
    assert (leftover.db, leftover.name, leftover.rows) == ("default", "big", partial)
    dropped = discard.discard(owner, job)

    assert [(d.name, d.rows) for d in dropped] == [("big", partial)]
    assert count(target_server, "big") == -1
    collection = job.collections.get()
    assert collection.target_state == JobCollection.TargetState.DISCARDED
    assert collection.checkpoint is None

    source_server.proc = start_lite(
        source_server.data_dir,
        source_server.port,
        log_path=source_server.data_dir.parent / "again.log",
    )
    service.retry_job(owner, job)
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target_server, "big") == ROWS
    collection = job.collections.get()
    assert collection.target_state == JobCollection.TargetState.CREATED
    assert collection.report["target_count"] == ROWS
