"""Faults during a job, each ending in a verified target or a clear FAILED with nothing lost:
the worker SIGKILLed mid-copy (into Milvus Lite and into the Milvus standalone), the source
server stopped mid-copy and back, or gone for good."""

from __future__ import annotations

import re
import secrets
import time

import pytest
from django.urls import reverse

from console.clusters.lite_process import port_open, start_lite
from console.models import Cluster
from jobs import lifecycle
from jobs.models import Job, JobCollection
from jobs.progress import retrying_text
from migrations_app import service
from tests.jobs_support import (
    count,
    fill,
    local_cluster,
    settle_index_files,
    start_copy,
    wait_for,
)
from tests.milvus import MilvusClient

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 30_000


# Short leases (jobs/lease.py): a killed worker's collection is taken over 3 + 5 s after its
# last renewal instead of 60 + 300 s.
SMALL_BATCHES = {
    "MIGRATION_BATCH_BYTES": "20000",
    "MIGRATION_STALE_AFTER": "3",
    "MIGRATION_CALL_TIMEOUT": "5",
}
# The engine's back-off, short: a source gone for good fails the job in about a second instead of
# the default schedule's ~35 s (the deadlines below hold for the default one too).
SHORT_BACK_OFF = {
    **SMALL_BATCHES,
    "MIGRATION_RETRY_ATTEMPTS": "4",
    "MIGRATION_RETRY_FIRST_DELAY": "0.1",
    "MIGRATION_RETRY_MAX_DELAY": "0.5",
}


@pytest.fixture
def worker_env():
    return SMALL_BATCHES


def _source(project, server):
    fill(server, "big", ROWS)
    return local_cluster(project, server, "src", plan="DEDICATED"), server


@pytest.fixture
def source(project, lite_factory):
    return _source(project, lite_factory())


@pytest.fixture
def stoppable_source(project, fresh_lite_factory):
    """A source on a server of the test's own: the test stops it. Flushed, and its index files
    written, first: Milvus Lite writes them in the background after a flush, not atomically,
    and a server stopped in the middle of one cannot load the collection again (seen once: a
    truncated .idx) — a Lite hazard, not what these tests are about."""
    server = fresh_lite_factory()
    made = _source(project, server)
    settle_index_files(server)
    return made


@pytest.fixture
def lite_target(project, lite_factory):
    server = lite_factory()
    return local_cluster(project, server, "dst", plan="DEDICATED"), server


def _wait_rows(job: Job, rows: int, worker, timeout: float = 60) -> JobCollection:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = job.collections.get()
        if c.migrated_entities >= rows and c.status == JobCollection.Status.COPYING:
            return c
        time.sleep(0.1)
    raise AssertionError(f"copy did not reach {rows} rows\n{worker.logs()[-2000:]}")


def _reap_until_resumed(job: Job, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lifecycle.reap()["resumed"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"the reaper never resumed {job.pk}: {job.collections.get().status}")


def _kill_and_resume(job: Job, worker, settings) -> JobCollection:
    settings.MIGRATION_STALE_AFTER = 3
    settings.MIGRATION_CALL_TIMEOUT = 5
    before = _wait_rows(job, 3000, worker)
    worker.kill()
    worker.start()
    _reap_until_resumed(job)
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    collection = job.collections.get()
    assert collection.attempt == before.attempt + 1
    assert collection.resumes == before.resumes + 1
    assert collection.report["target_count"] == ROWS
    assert collection.report["duplicate_keys"] == 0
    messages = [e.message for e in job.events.all()]
    assert any("stopped responding; resuming from the checkpoint" in m for m in messages)
    return collection


def test_it_resumes_into_milvus_lite_after_the_worker_is_killed(
    owner, source, lite_target, own_worker, settings
):
    source_cluster, _ = source
    target, target_server = lite_target
    job = start_copy(owner, source_cluster, target)
    _kill_and_resume(job, own_worker, settings)
    assert count(target_server, "big") == ROWS


@pytest.mark.standalone
def test_it_resumes_into_the_milvus_standalone_after_the_worker_is_killed(
    owner, project, source, standalone, own_worker, settings
):
    source_cluster, _ = source
    target = Cluster(
        project=project,
        name="standalone",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri=standalone.uri,
        status=Cluster.Status.RUNNING,
    )
    target.set_credentials(username="root", password="Milvus")
    target.save()
    name = f"big_{secrets.token_hex(4)}"
    job = start_copy(owner, source_cluster, target, target_name=name)
    try:
        _kill_and_resume(job, own_worker, settings)
        client = MilvusClient(uri=standalone.uri, token=standalone.token)
        client.load_collection(name)  # the job leaves it released (no "load after")
        rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        assert rows[0]["count(*)"] == ROWS
    finally:
        client = MilvusClient(uri=standalone.uri, token=standalone.token)
        client.drop_collection(name)
        client.close()


def test_it_succeeds_when_the_source_comes_back_within_the_retry_window(
    owner, stoppable_source, lite_target, job_worker
):
    source_cluster, server = stoppable_source
    target, target_server = lite_target
    job = start_copy(owner, source_cluster, target)
    _wait_rows(job, 3000, job_worker)
    server.stop()  # returns once the process has exited: the source is down mid-copy
    assert not port_open(server.port)
    assert job.collections.get().migrated_entities < ROWS
    # While it is down, the collection says it is being retried, in the words people read.
    retrying = _wait_retrying(job, job_worker)
    assert retrying["role"] == "source"
    assert re.fullmatch(
        r"retrying: .+ on the source: UNAVAILABLE.* \(attempt \d+ of 8, next in \d+ s\)",
        retrying_text(retrying),
    ), retrying_text(retrying)
    server.proc = start_lite(
        server.data_dir, server.port, log_path=server.data_dir.parent / "again.log"
    )
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target_server, "big") == ROWS
    assert job.collections.get().retrying is None  # nothing waits any more
    assert job.events.filter(level="WARNING", message__contains="retrying: ").exists()


def _watch_verification(job: Job, worker, timeout: float = 180) -> list[tuple[str, int, int]]:
    """(collection status, rows verified, job progress) as often as they can be read, until
    the job is final."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # One statement: the collection's figures and the job's bar as of the same moment.
        c_status, rows, progress, status = JobCollection.objects.values_list(
            "status", "verified_entities", "job__progress", "job__status"
        ).get(job=job)
        seen.append((c_status, rows, progress))
        if status in Job.FINAL_STATES:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the job did not end\n{worker.logs()[-2000:]}")


def _wait_retrying(job: Job, worker, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        retrying = job.collections.get().retrying
        if retrying:
            return retrying
        time.sleep(0.05)
    raise AssertionError(f"no retry was shown\n{worker.logs()[-2000:]}")


@pytest.mark.parametrize("worker_env", [SHORT_BACK_OFF], ids=["short-back-off"])
def test_it_fails_naming_the_source_when_it_does_not_come_back(
    owner, stoppable_source, lite_target, job_worker
):
    source_cluster, server = stoppable_source
    target, target_server = lite_target
    job = start_copy(owner, source_cluster, target)
    _wait_rows(job, 3000, job_worker)
    server.stop()
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.FAILED
    assert "source" in job.reason
    collection = job.collections.get()
    # What was copied is kept with its checkpoint: Retry goes on from there.
    assert collection.checkpoint and collection.checkpoint["rows"] >= 3000
    assert count(target_server, "big") >= 3000


@pytest.mark.parametrize("worker_env", [SHORT_BACK_OFF], ids=["short-back-off"])
def test_a_retry_keeps_its_progress_and_view_details_lists_every_run(
    owner, owner_client, stoppable_source, lite_target, job_worker
):
    source_cluster, server = stoppable_source
    target, _ = lite_target
    job = start_copy(owner, source_cluster, target)
    _wait_rows(job, 3000, job_worker)
    server.stop()
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.FAILED
    first_start = job.started_at
    copied = job.collections.get().migrated_entities
    server.proc = start_lite(
        server.data_dir, server.port, log_path=server.data_dir.parent / "again.log"
    )

    with job_worker.paused():
        job = service.retry_job(owner, job)
        # The bar holds the rows already copied (half of the work is the verification).
        assert job.progress == copied * 100 // (2 * ROWS) > 0
        html = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
        assert f'value="{job.progress}">' in html
        assert f"Copied {copied:,} of {ROWS:,} rows" in html
    seen = _watch_verification(job, job_worker)
    job.refresh_from_db()

    assert job.status == Job.Status.SUCCESSFUL, job.reason
    # The verification had its own figures while it ran, and the bar followed them: past the
    # copy's half, under 100 until the end.
    verifying = [(rows, progress) for status, rows, progress in seen if status == "VERIFYING"]
    assert any(0 < rows < ROWS for rows, _ in verifying), seen
    assert all(50 <= progress < 100 for rows, progress in verifying if rows), seen
    assert job.started_at == first_start  # the job's start, not the last run's
    runs = list(job.runs.all())
    assert [run.status for run in runs] == [Job.Status.FAILED, Job.Status.SUCCESSFUL]
    assert runs[0].started_at == first_start and "source" in runs[0].reason
    assert runs[0].ended_at <= runs[1].started_at and runs[1].ended_at == job.ended_at
    html = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    table = html[
        html.index('aria-label="Runs"') : html.index("</table>", html.index('aria-label="Runs"'))
    ]
    assert table.count("<tr>") == 3  # the head and two runs
    assert ">Failed</span>" in table and ">Successful</span>" in table
    assert "in 2 runs" in html
    collection = job.collections.get()
    assert collection.verified_entities == collection.total_entities == ROWS
