"""Key-range shards in jobs: a collection larger than MIGRATION_SHARD_ROWS copied as several
key ranges by real workers, each its own task; the ranges on the API and View Details; Cancel
mid-copy; a range whose source keys are deleted mid-copy."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobCollection, JobRange
from migrations_app import service
from tests.jobs_support import count, fill, local_cluster, wait_for
from tests.milvus import MilvusClient
from tests.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 9_000


@pytest.fixture
def worker_env():
    # 9,000 rows by ranges of 2,000 rows: 5 ranges; small batches, so a copy takes a while.
    return {"MIGRATION_SHARD_ROWS": "2000", "MIGRATION_BATCH_BYTES": "20000"}


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "big", ROWS)
    source = local_cluster(project, source_server, "src")
    target = local_cluster(project, target_server, "dst")
    return source, target, source_server, target_server


def start(owner, source, target, **cap) -> Job:
    return service.start_migration(
        owner,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("big")],
            **cap,
        ),
    )


def test_a_large_collection_is_copied_as_key_ranges_and_verified_once(
    owner, pair, job_worker, api_as, owner_client
):
    source, target, _, target_server = pair

    job = wait_for(start(owner, source, target), *Job.FINAL_STATES, worker=job_worker)

    assert job.status == Job.Status.SUCCESSFUL, job.reason
    c = job.collections.get()
    assert (c.status, c.verification) == (JobCollection.Status.DONE, "VERIFIED")
    assert c.report["target_count"] == ROWS and c.report["duplicate_keys"] == 0
    assert c.migrated_entities == ROWS and c.report["copied_rows"] == ROWS
    ranges = list(c.ranges.all())
    assert len(ranges) == 5
    assert [r.status for r in ranges] == ["DONE"] * 5
    assert sum(r.rows for r in ranges) == ROWS and all(r.rows > 0 for r in ranges)
    # Contiguous: each range starts after the previous one's last key; the ends are open.
    assert ranges[0].from_key is None and ranges[-1].to_key is None
    assert all(a.to_key == b.from_key for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(r.worker.startswith(job_worker.worker.hostname + ":") for r in ranges)
    assert count(target_server, "big") == ROWS
    ran = sorted(c.phases, key=lambda phase: c.phases[phase]["start"])
    assert ran == ["CREATING", "COPYING", "INDEXING", "VERIFYING"]
    assert all("end" in times for times in c.phases.values())
    # The whole copy's digests are on the collection, for Verify Again.
    assert c.checkpoint["rows"] == ROWS and c.checkpoint["digests"]["streams"]["*"]["closed"]

    answer = api_as(owner).get(f"/v2/jobs/{job.pk}")
    assert answer.status_code == 200
    shown = answer.json()["data"]["collections"][0]["ranges"]
    assert shown == [
        {
            "fromKey": r.from_key,
            "toKey": r.to_key,
            "rows": r.rows,
            "status": "DONE",
            "worker": r.worker,
        }
        for r in ranges
    ]
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'aria-label="Key ranges of big"' in page
    assert "copied as 5 key ranges" in page
    assert ranges[0].worker in page

    # Verify Again compares with the ranges' digests merged: nothing changed since.
    again = service.verify_again(owner, job)
    again = wait_for(again, *Job.FINAL_STATES, worker=job_worker)
    assert again.status == Job.Status.SUCCESSFUL, again.reason
    assert again.collections.get().report["source_changed"] is False


def test_cancel_during_a_sharded_copy_drops_the_target_once(owner, pair, job_worker, owner_client):
    source, target, _, target_server = pair
    job = start(owner, source, target, max_rows_per_second=1500)
    wait_until(
        lambda: JobRange.objects.filter(collection__job=job, rows__gt=0).exists(),
        60,
        lambda: f"no range copied anything\n{job_worker.logs()[-2000:]}",
    )
    # The collection's copy rate is the sum of its copying ranges' (View Details shows both).
    wait_until(
        lambda: JobCollection.objects.filter(job=job, rows_per_s__gt=0).exists(),
        60,
        lambda: f"the split collection shows no copy rate\n{job_worker.logs()[-2000:]}",
    )
    wait_until(
        lambda: "rows/s</span>" in owner_client.get(f"/jobs/{job.pk}/").content.decode(),
        60,
        lambda: "View Details shows no copying range's rate",
    )

    job = service.cancel_job(owner, job)

    job = wait_for(job, Job.Status.CANCELED, timeout=60, worker=job_worker)
    c = job.collections.get()
    assert c.status == JobCollection.Status.CANCELED
    assert count(target_server, "big") == -1
    statuses = set(c.ranges.values_list("status", flat=True))
    assert statuses <= {"CANCELED", "DONE"} and "CANCELED" in statuses
    messages = [e.message for e in job.events.all()]
    assert sum("incomplete target collection big dropped" in m for m in messages) == 1


def test_a_range_whose_source_keys_are_deleted_mid_copy_ends_as_source_changed(
    owner, pair, job_worker
):
    source, target, source_server, _ = pair
    job = start(owner, source, target, max_rows_per_second=1500)
    copying = wait_until(
        lambda: JobRange.objects.filter(
            collection__job=job, status="COPYING", rows__gt=0, rows__lt=1500
        ).first(),
        60,
        lambda: f"no range mid-copy\n{job_worker.logs()[-2000:]}",
    )
    low = -1 if copying.from_key is None else copying.from_key
    high = ROWS if copying.to_key is None else copying.to_key
    client = MilvusClient(uri=source_server.uri)
    try:
        client.delete("big", filter=f"pk > {low} and pk <= {high}")
    finally:
        client.close()

    job = wait_for(job, *Job.FINAL_STATES, timeout=90, worker=job_worker)

    assert job.status == Job.Status.FAILED
    c = job.collections.get()
    assert c.verification == JobCollection.Verification.MISMATCH
    assert "the source changed during the migration" in c.error
    assert c.report["source_changed"] is True
    assert JobRange.objects.get(pk=copying.pk).status == "DONE"


# --- a worker killed mid-range, on the Milvus standalone (duplicates show there) ------------

STALE, CALL = 3, 5
KILL_ROWS = 12_000
KILL_ENV = {
    "MIGRATION_SHARD_ROWS": "3000",
    "MIGRATION_BATCH_BYTES": "20000",
    "MIGRATION_STALE_AFTER": str(STALE),
    "MIGRATION_CALL_TIMEOUT": str(CALL),
}


@pytest.fixture
def two_workers(transactional_db, _worker_pool, tmp_path):
    """Two worker processes of the test's own (one task at a time each); the session's worker
    takes no job meanwhile."""
    from tests.workers import Worker

    with _worker_pool.paused():
        workers = [Worker(tmp_path / name, KILL_ENV, concurrency=1) for name in ("first", "second")]
        try:
            for worker in workers:
                worker.log_dir.mkdir()
                worker.start()
            yield workers
        finally:
            for worker in workers:
                worker.stop()


@pytest.mark.standalone
def test_a_range_of_a_killed_worker_is_resumed_by_the_other_with_every_key_once(
    owner, project, lite_factory, standalone, two_workers, settings
):
    import secrets

    from console.models import Cluster
    from jobs import lifecycle
    from migrations_app.engine.connect import connect

    settings.MIGRATION_STALE_AFTER = STALE
    settings.MIGRATION_CALL_TIMEOUT = CALL
    first, second = two_workers
    source_server = lite_factory()
    fill(source_server, "big", KILL_ROWS)
    source = local_cluster(project, source_server, "src")
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
    name = f"sharded_{secrets.token_hex(4)}"
    client = connect(standalone.uri, token=standalone.token)
    try:
        job = service.start_migration(
            owner,
            service.MigrationRequest(
                source_cluster_id=source.pk,
                target_cluster_id=target.pk,
                collections=[service.CollectionChoice("big", target_name=name)],
                max_rows_per_second=2000,
            ),
        )
        victim = wait_until(
            lambda: JobRange.objects.filter(
                collection__job=job,
                status="COPYING",
                rows__gt=0,
                worker__startswith=first.hostname + ":",
            ).first(),
            90,
            lambda: f"the first worker copied no range\n{first.tail()}\n{second.tail()}",
        )
        first.kill()  # mid-range: no cleanup, no ack
        wait_until(
            lambda: lifecycle.reap()["resumed"],
            60,
            lambda: f"never resumed: {list(JobRange.objects.values('status', 'worker'))}",
        )

        job = _reap_until(job, Job.FINAL_STATES, second)

        assert job.status == Job.Status.SUCCESSFUL, job.reason
        c = job.collections.get()
        assert len(c.ranges.all()) == 4
        resumed = JobRange.objects.get(pk=victim.pk)
        assert resumed.resumes == 1 and resumed.status == "DONE"
        assert resumed.worker.startswith(second.hostname + ":")
        assert (c.report["target_count"], c.report["duplicate_keys"]) == (KILL_ROWS, 0)
        client.load_collection(name)
        rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        assert rows[0]["count(*)"] == KILL_ROWS  # count(*) counts every stored copy of a key
        keys = set()
        for batch in _key_pages(client, name):
            assert keys.isdisjoint(batch)
            keys.update(batch)
        assert keys == set(range(KILL_ROWS))
    finally:
        if client.has_collection(name):
            client.drop_collection(name)
        client.close()


def _reap_until(job: Job, statuses, worker, timeout: float = 120) -> Job:
    """Run the reaper (beat does not run in tests) until the job reaches one of `statuses`:
    it also sends again the ranges the killed worker had taken from the queue."""
    from jobs import lifecycle

    def reached():
        lifecycle.reap()
        job.refresh_from_db()
        return job.status in statuses

    wait_until(reached, timeout, lambda: f"job stayed {job.status}\n{worker.tail()}")
    return job


def _key_pages(client, name: str):
    last = -1
    while True:
        rows = client.query(
            name,
            filter=f"pk > {last}",
            output_fields=["pk"],
            limit=5000,
            consistency_level="Strong",
        )
        if not rows:
            return
        keys = sorted(row["pk"] for row in rows)
        yield keys
        last = keys[-1]


def test_retry_after_a_range_failed_runs_only_the_unfinished_ranges(
    owner, project, lite_factory, two_workers, settings
):
    from jobs import lifecycle

    settings.MIGRATION_STALE_AFTER = STALE
    settings.MIGRATION_CALL_TIMEOUT = CALL
    settings.MIGRATION_MAX_RESUMES = 0  # a range whose worker dies fails at once
    first, second = two_workers
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "big", KILL_ROWS)
    source = local_cluster(project, source_server, "src")
    target = local_cluster(project, target_server, "dst")
    job = start(owner, source, target, max_rows_per_second=3000)
    wait_until(
        lambda: (
            JobRange.objects.filter(collection__job=job, status="DONE").exists()
            and JobRange.objects.filter(
                collection__job=job,
                status="COPYING",
                rows__gt=0,
                worker__startswith=first.hostname + ":",
            ).exists()
        ),
        90,
        lambda: f"never a range done and one copying\n{first.tail()}\n{second.tail()}",
    )
    first.kill()
    wait_until(
        lambda: lifecycle.reap()["failed"],
        60,
        lambda: f"never failed: {list(JobRange.objects.values('status', 'worker'))}",
    )
    job = _reap_until(job, [Job.Status.FAILED], second)
    assert "stopped responding" in job.reason
    done = {
        r.pk: (r.rows, r.worker, r.ended_at)
        for r in JobRange.objects.filter(collection__job=job, status="DONE")
    }
    failed = set(
        JobRange.objects.filter(collection__job=job, status="FAILED").values_list("pk", flat=True)
    )
    assert done and failed

    service.retry_job(owner, job)

    job = wait_for(job, *Job.FINAL_STATES, timeout=90, worker=second)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    ranges = {r.pk: r for r in JobRange.objects.filter(collection__job=job)}
    assert {pk: (r.rows, r.worker, r.ended_at) for pk, r in ranges.items() if pk in done} == done
    for pk in failed:
        assert ranges[pk].status == "DONE"
        assert ranges[pk].worker.startswith(second.hostname + ":")
    assert count(target_server, "big") == KILL_ROWS
