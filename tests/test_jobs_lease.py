"""A collection run's lease (jobs/lease.py): a worker frozen mid-copy (SIGSTOP) is taken over
once its lease expired and, woken (SIGCONT), changes nothing — not the target, not the job, not
its log; Cancel while the worker is frozen drops the incomplete target on another worker; the
heartbeat outlives a database error; resumes after lost workers are counted apart from queue
waits and Retries."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sqlite3
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from console.models import Cluster
from jobs import lifecycle
from jobs.lease import Heartbeat, Lease
from jobs.models import Job, JobCollection
from migrations_app import service
from migrations_app.engine.connect import connect
from migrations_app.engine.ownership import OWNER_PROPERTY
from tests.jobrows import make_job
from tests.jobs_support import count, fill, local_cluster, start_copy, wait_for
from tests.workers import Worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 30_000
# Short leases: a frozen worker's collection is taken over STALE + CALL seconds after its last
# renewal (the worker renews every second).
STALE, CALL = 3, 5
LEASE_ENV = {
    "MIGRATION_BATCH_BYTES": "20000",
    "MIGRATION_STALE_AFTER": str(STALE),
    "MIGRATION_CALL_TIMEOUT": str(CALL),
}


@pytest.fixture
def worker_env():
    return LEASE_ENV


@pytest.fixture
def short_lease(settings):
    settings.MIGRATION_STALE_AFTER = STALE
    settings.MIGRATION_CALL_TIMEOUT = CALL
    settings.MIGRATION_HEARTBEAT = 1
    return settings


@pytest.fixture
def successor(tmp_path):
    """A second worker, started by the test once the first is frozen."""
    worker = Worker(tmp_path / "successor", LEASE_ENV)
    worker.log_dir.mkdir()
    yield worker
    worker.stop()


class Frozen:
    """SIGSTOP a worker's whole process group; SIGCONT it (also at the end of the test)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stopped = False

    def stop(self) -> None:
        os.killpg(self.worker.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def wake(self) -> None:
        if self.stopped:
            os.killpg(self.worker.proc.pid, signal.SIGCONT)
            self.stopped = False


@pytest.fixture
def frozen(own_worker):
    freezer = Frozen(own_worker)
    yield freezer
    freezer.wake()


def _wait_copying(job: Job, rows: int, worker, timeout: float = 90) -> JobCollection:
    return wait_until(
        lambda: job.collections.filter(
            status=JobCollection.Status.COPYING, migrated_entities__gte=rows
        ).first(),
        timeout,
        lambda: f"copy never reached {rows} rows\n{worker.tail()}",
    )


def _reap_until_taken_over(job: Job, timeout: float = 60) -> None:
    wait_until(
        lambda: lifecycle.reap()["resumed"],
        timeout,
        lambda: f"never taken over: {job.collections.values('status', 'lease_expires_at')}",
    )


def _snapshot(job: Job) -> tuple:
    job.refresh_from_db()
    c = job.collections.get()
    return (
        job.status,
        job.reason,
        job.progress,
        job.ended_at,
        job.heartbeat_at,
        c.status,
        c.attempt,
        c.checkpoint,
        c.write_intent,
        c.migrated_entities,
        list(job.events.values_list("pk", "message")),
    )


def _woken_run_gave_up(worker: Worker) -> None:
    """The woken worker's run noticed it lost its lease and ended its task."""
    wait_until(
        lambda: "lost its lease" in worker.logs() and not worker.busy(),
        60,
        lambda: f"the woken run did not give up:\n{worker.tail()}",
    )


@pytest.fixture
def source(project, lite_factory):
    server = lite_factory()
    fill(server, "big", ROWS)
    return local_cluster(project, server, "src")


@pytest.mark.standalone
def test_a_frozen_worker_woken_after_a_takeover_changes_nothing_on_the_standalone(
    owner, project, source, standalone, frozen, successor, short_lease
):
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
    name = f"fenced_{secrets.token_hex(4)}"
    # A channel of its own with quiet pings (as tests/milvus.py explains, on main).
    client = connect(standalone.uri, token=standalone.token)
    try:
        job = start_copy(owner, source, target, name)
        _wait_copying(job, 3000, frozen.worker)
        frozen.stop()  # mid-copy, its lease renewed a second ago at most
        successor.start()
        _reap_until_taken_over(job)
        job = wait_for(job, *Job.FINAL_STATES, timeout=240, worker=successor)
        assert job.status == Job.Status.SUCCESSFUL, job.reason
        collection = job.collections.get()
        assert (collection.resumes, collection.report["target_count"]) == (1, ROWS)
        # A resume into this unloaded target re-wrote only the batch in flight (its intent).
        assert collection.report["duplicate_keys"] == 0
        finished = _snapshot(job)

        frozen.wake()
        _woken_run_gave_up(frozen.worker)

        assert _snapshot(job) == finished  # status, row and log untouched
        assert client.describe_collection(name)["properties"][OWNER_PROPERTY] == job.pk
        client.load_collection(name)
        rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        assert rows[0]["count(*)"] == ROWS  # count(*) counts every stored copy of a key
    finally:
        client.drop_collection(name)
        client.close()


def test_cancel_while_the_worker_is_frozen_drops_the_target_and_the_woken_run_drops_nothing(
    owner, project, source, lite_factory, frozen, successor, short_lease
):
    target_server = lite_factory()
    target = local_cluster(project, target_server, "dst")
    job = start_copy(owner, source, target, "big")
    _wait_copying(job, 3000, frozen.worker)
    frozen.stop()
    job = service.cancel_job(owner, job)
    assert job.status == Job.Status.CANCELING
    successor.start()
    _reap_until_taken_over(job)
    job = wait_for(job, Job.Status.CANCELED, timeout=120, worker=successor)
    assert job.collections.get().status == JobCollection.Status.CANCELED
    assert count(target_server, "big") == -1  # the incomplete target is gone
    messages = [e.message for e in job.events.all()]
    assert (
        "big: the worker copying it stopped responding; dropping the incomplete target it "
        "created" in messages
    )
    assert any("incomplete target collection big dropped" in m for m in messages)

    fill(target_server, "big", 7)  # another job's collection of the same name, since
    finished = _snapshot(job)
    frozen.wake()
    _woken_run_gave_up(frozen.worker)

    assert count(target_server, "big") == 7  # neither dropped nor written into
    assert _snapshot(job) == finished


def test_the_heartbeat_renews_the_lease_again_after_a_database_error(project, short_lease, caplog):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    collection = job.collections.get()
    JobCollection.objects.filter(pk=collection.pk).update(status=JobCollection.Status.COPYING)
    lease = Lease(collection.pk, collection.attempt, job.pk)
    assert lease.renew()
    beat = Heartbeat(lease)
    caplog.set_level(logging.ERROR, logger="jobs")
    first = JobCollection.objects.get(pk=collection.pk).lease_expires_at
    beat.start()
    try:
        # The heartbeat's own connection is open (it renewed once) before the error.
        wait_until(
            lambda: JobCollection.objects.filter(
                pk=collection.pk, lease_expires_at__gt=first
            ).exists(),
            30,
            lambda: "the heartbeat never renewed the lease",
        )
        with _database_error():
            wait_until(
                lambda: "heartbeat failed" in caplog.text,
                60,
                lambda: "the heartbeat never hit the database error",
            )
            broken_at = timezone.now()
        wait_until(
            lambda: JobCollection.objects.filter(
                pk=collection.pk, lease_expires_at__gt=broken_at + timedelta(seconds=STALE)
            ).exists(),
            30,
            lambda: f"the heartbeat stopped after the error:\n{caplog.text}",
        )
        assert lease.held()
    finally:
        beat.stop()


def test_a_run_that_cannot_renew_its_lease_stops_itself(project, short_lease):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    collection = job.collections.get()
    rows = JobCollection.objects.filter(pk=collection.pk)
    rows.update(status=JobCollection.Status.COPYING)
    ask, answered, stop = threading.Event(), threading.Event(), threading.Event()
    answers: list = []

    def run() -> None:
        """The run's own thread: it checks its lease when asked (as before a write)."""
        lease = Lease(collection.pk, collection.attempt, job.pk)
        try:
            answers.append(lease.renew())
            answered.set()
            while ask.wait(60) and not stop.is_set():
                ask.clear()
                answers.append(lease.held())
                answered.set()
        finally:
            connection.close()

    def check() -> bool:
        answered.clear()
        ask.set()
        assert answered.wait(60), "the run never answered"
        return answers[-1]

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert answered.wait(30) and answers == [True]
        # No heartbeat: the lease runs out, and the database fails when the run checks it.
        wait_until(
            lambda: rows.filter(lease_expires_at__lt=timezone.now()).exists(),
            30,
            lambda: "the lease never expired",
        )
        with _database_error():
            assert check() is False  # cannot renew past its lease: the run stops
        assert check() is True  # the database is back and nobody took over: renewed again
        rows.update(attempt=collection.attempt + 1, lease_expires_at=None)  # taken over
        # Held until the end of its last renewal, then lost for good: the renewal finds
        # another attempt and changes nothing.
        wait_until(lambda: check() is False, 30, lambda: f"still held: {answers}")
        assert check() is False
        assert rows.get().lease_expires_at is None
    finally:
        stop.set()
        ask.set()
        thread.join(60)


class _database_error:
    """A real database error for every other connection: on PostgreSQL their sessions are
    terminated (the next query fails: connection closed); on SQLite the database is locked
    (the next write fails after the busy timeout) until the block ends."""

    def __enter__(self):
        self.lock = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        else:
            self.lock = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
            self.lock.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.rollback()
            self.lock.close()


def test_resumes_are_counted_apart_from_queue_waits_and_retries(
    owner, project, short_lease, job_worker
):
    short_lease.MIGRATION_MAX_RESUMES = 1
    long_ago = timezone.now() - timedelta(seconds=STALE + CALL + 60)
    with job_worker.paused():  # the tasks sent stay in the queue (dropped after the test)
        job = make_job(project, owner, status=Job.Status.IN_PROGRESS)
        rows = JobCollection.objects.filter(job=job)
        c = rows.get()

        # A lease that expired less than a call deadline ago is left alone.
        rows.update(
            status=JobCollection.Status.COPYING,
            lease_expires_at=timezone.now() - timedelta(seconds=1),
        )
        assert lifecycle.reap()["resumed"] == 0

        rows.update(lease_expires_at=long_ago)  # the worker died: resume 1 of 1
        assert lifecycle.reap()["resumed"] == 1
        c.refresh_from_db()
        assert (c.status, c.attempt, c.resumes) == (JobCollection.Status.PENDING, 1, 1)

        rows.update(queued_at=long_ago)  # its message was lost in the queue: no resume
        assert lifecycle.reap()["requeued"] == 1
        c.refresh_from_db()
        assert (c.attempt, c.resumes) == (2, 1)

        rows.update(status=JobCollection.Status.COPYING, lease_expires_at=long_ago)
        assert lifecycle.reap()["failed"] == 1  # the second lost worker is over the budget
        c.refresh_from_db()
        assert c.status == JobCollection.Status.FAILED
        assert c.error == "the worker copying it stopped responding 2 times"
        assert c.attempt == 3  # a run of attempt 2 that wakes up changes nothing

        job.refresh_from_db()
        assert job.status == Job.Status.FAILED
        assert lifecycle.retry(job, owner)
        c.refresh_from_db()
        assert (c.status, c.attempt, c.resumes) == (JobCollection.Status.PENDING, 4, 0)
