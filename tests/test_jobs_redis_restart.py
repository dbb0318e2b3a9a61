"""Redis restarted mid-job: the broker forgets its queues, the job does not. The job is
started with the real CLI and run by a real worker, both on a Redis of the test's own."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from console.clusters.lite_process import free_port, port_open
from jobs.models import Job
from tests.jobs_support import count, fill, local_cluster, wait_for
from tests.workers import ROOT, database_url, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

# What the worker logs when its broker connection drops (celery/worker/consumer/consumer.py).
LOST_BROKER = "consumer: Connection to broker lost"


class _Redis:
    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.tmp_path = tmp_path
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis(tmp_path):
    server = _Redis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def worker_env(redis):
    # The reaper runs in the worker (sent by beat): what it finds stale is its business.
    return {
        "REDIS_URL": redis.url,
        "MIGRATION_BATCH_BYTES": "20000",
        "MIGRATION_STALE_AFTER": "4",
        "MIGRATION_CALL_TIMEOUT": "5",
    }


@pytest.fixture
def beat(redis, tmp_path):
    """Celery beat on the test's Redis, sending the reaper every second (production: 30 s)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "beat",
            "--loglevel",
            "info",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        cwd=ROOT,
        env={
            **_env(),
            "REDIS_URL": redis.url,
            "DATABASE_URL": database_url(),
            "MIGRATION_REAPER_EVERY": "1",
            "MIGRATION_HEARTBEAT": "1",  # shorter than the lease (settings refuse otherwise)
            "MIGRATION_STALE_AFTER": "4",
            "MIGRATION_CALL_TIMEOUT": "5",
        },
        stdout=(tmp_path / "beat.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


def test_it_finishes_the_job_when_redis_restarts_mid_copy(
    owner, project, lite_factory, redis, own_worker, beat
):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "first", 30_000)
    fill(source_server, "second", 2_000)
    source = local_cluster(project, source_server, "src", plan="DEDICATED")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    job = _start_with_cli(owner, source, target, redis)
    deadline = time.monotonic() + 60
    while job.collections.get(source_name="first").migrated_entities < 3000:
        assert time.monotonic() < deadline, own_worker.logs()[-2000:]
        time.sleep(0.1)
    lost = own_worker.logs().count(LOST_BROKER)
    redis.stop()
    # Redis comes back only once the worker has seen it gone.
    wait_until(
        lambda: own_worker.logs().count(LOST_BROKER) > lost,
        60,
        lambda: f"the worker never noticed Redis stopped:\n{own_worker.tail()}",
    )
    redis.start()
    job = wait_for(job, *Job.FINAL_STATES, timeout=180, worker=own_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target_server, "first") == 30_000
    assert count(target_server, "second") == 2_000


def test_it_sends_a_job_again_when_redis_lost_it_before_any_worker_saw_it(
    owner, project, lite_factory, redis, own_worker, beat, worker_env
):
    """The job's message is gone (Redis restarted while no worker was up): beat's reaper
    finds the PENDING job and sends it again."""
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 1_000)
    source = local_cluster(project, source_server, "src", plan="DEDICATED")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    own_worker.stop()
    job = _start_with_cli(owner, source, target, redis)
    redis.stop()
    redis.start()  # empty: the job's message is lost
    own_worker.start()
    job = wait_for(job, *Job.FINAL_STATES, timeout=120, worker=own_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target_server, "docs") == 1_000


def _start_with_cli(owner, source, target, redis) -> Job:
    """`manage.py start_migration` in its own process, on the test's Redis and database."""
    started = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "start_migration",
            "--as",
            owner.email,
            "--source",
            source.pk,
            "--target",
            target.pk,
        ],
        cwd=ROOT,
        env={**_env(), "REDIS_URL": redis.url, "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        check=True,
    )
    return Job.objects.get(pk=started.stdout.splitlines()[-1])


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
