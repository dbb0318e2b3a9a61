"""Running slots (jobs/slots.py, issue 15): jobs beyond RUNNING_JOBS_PER_ORG / RUNNING_JOBS_TOTAL
wait PENDING ("waiting for a free slot"), shown on the Jobs page, View Details and the API, and
start by themselves when a slot frees; the next one is chosen fairly across organizations.

The jobs that hold the slots are rows In Progress (no task runs them): canceling one frees its
slot at a moment the test chooses. The waiting jobs are real ones, run by the real worker."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from console.celery import app
from jobs import lifecycle, slots
from jobs.models import Job
from migrations_app import service
from tests.jobrows import make_job
from tests.jobs_support import fill, local_cluster, wait_for
from tests.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# The worker and the test process decide with the same caps.
PER_ORG, TOTAL = 2, 2


@pytest.fixture
def worker_env():
    return {"RUNNING_JOBS_PER_ORG": str(PER_ORG), "RUNNING_JOBS_TOTAL": str(TOTAL)}


@pytest.fixture
def caps(settings):
    settings.RUNNING_JOBS_PER_ORG = PER_ORG
    settings.RUNNING_JOBS_TOTAL = TOTAL


@pytest.fixture
def acme_pair(project, lite_factory):
    source, target = lite_factory(), lite_factory()
    fill(source, "docs", 200)
    return local_cluster(project, source, "src", "SERVERLESS"), local_cluster(
        project, target, "dst"
    )


@pytest.fixture
def globex_pair(globex_project, lite_factory):
    source, target = lite_factory(), lite_factory()
    fill(source, "docs", 200)
    return (
        local_cluster(globex_project, source, "g-src", "SERVERLESS"),
        local_cluster(globex_project, target, "g-dst"),
    )


def _holder(project) -> Job:
    """A job holding a running slot (In Progress, its collection not sent to any worker)."""
    return make_job(project, status=Job.Status.IN_PROGRESS, heartbeat_at=timezone.now())


def _start(user, pair, target_name: str) -> Job:
    source, target = pair
    return service.start_migration(
        user,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("docs", target_name=target_name)],
        ),
    )


def _waiting(job: Job, worker) -> Job:
    """Until the worker ran the job's task and put it in the queue."""

    def queued():
        job.refresh_from_db()
        return job.is_waiting_for_slot and job.reason.startswith(slots.WAITING_FOR_SLOT)

    wait_until(queued, 60, lambda: f"{job.status} {job.reason!r}\n{worker.logs()[-3000:]}")
    return job


def test_it_waits_for_a_free_slot_and_starts_when_one_frees(
    owner, owner_client, api_as, project, acme_pair, caps, job_worker
):
    first, second = _holder(project), _holder(project)

    job = _waiting(_start(owner, acme_pair, "docs_a"), job_worker)

    reason = (
        "waiting for a free slot: this organization runs 2 job(s), the most it may run at once (2)"
    )
    data = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]
    assert (data["status"], data["reason"], data["startTime"]) == ("PENDING", reason, None)
    row = owner_client.get(reverse("job_row", args=[job.pk]), HTTP_HX_REQUEST="true")
    row = row.content.decode()
    assert "Pending" in row and "Waiting for a free slot" in row
    page = owner_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f"{reason[0].upper()}{reason[1:]}." in page
    assert "Waiting for a free slot</dd>" in page  # Current Phase
    assert job.events.filter(message=reason).count() == 1

    lifecycle.cancel(second, owner)  # its slot frees: the waiting job starts

    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert job.waiting_since is None and job.reason == ""
    assert job.events.filter(message="job started: a running slot is free").exists()
    first.refresh_from_db()
    assert first.status == Job.Status.IN_PROGRESS  # never touched


def test_it_gives_a_freed_slot_to_the_organization_running_fewest(
    owner, outsider, project, acme_pair, globex_pair, caps, job_worker
):
    first, second = _holder(project), _holder(project)
    acme = _waiting(_start(owner, acme_pair, "docs_a"), job_worker)
    globex = _waiting(_start(outsider, globex_pair, "docs_g"), job_worker)
    assert acme.waiting_since < globex.waiting_since
    assert globex.reason == ("waiting for a free slot: all 2 running slots of the console are busy")

    lifecycle.cancel(second, owner)

    # Acme runs one job, Globex none: Globex's starts although Acme's waited longer.
    globex.refresh_from_db()
    acme.refresh_from_db()
    assert globex.status == Job.Status.IN_PROGRESS
    assert acme.status == Job.Status.PENDING and acme.is_waiting_for_slot
    # When Globex's ends, its slot goes to the next in line.
    globex = wait_for(globex, *Job.FINAL_STATES, worker=job_worker)
    acme = wait_for(acme, *Job.FINAL_STATES, worker=job_worker)
    assert (globex.status, acme.status) == (Job.Status.SUCCESSFUL, Job.Status.SUCCESSFUL)
    assert acme.started_at >= globex.ended_at
    first.refresh_from_db()
    assert first.status == Job.Status.IN_PROGRESS


def test_the_reaper_starts_a_waiting_job_whose_wake_up_was_lost(
    owner, project, acme_pair, caps, job_worker
):
    first, second = _holder(project), _holder(project)
    job = _waiting(_start(owner, acme_pair, "docs_a"), job_worker)
    # A slot frees without anyone serving the queue (say the process died right after).
    Job.objects.filter(pk=second.pk).update(status=Job.Status.FAILED, ended_at=timezone.now())

    app.send_task(lifecycle.REAP)  # the task beat runs, on the real worker

    job = wait_for(job, *Job.FINAL_STATES, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert job.events.filter(message="job started: a running slot is free").exists()
    assert Job.objects.get(pk=first.pk).status == Job.Status.IN_PROGRESS


def test_it_orders_the_queue_fewest_running_first_then_longest_waiting(
    project, globex_project, settings
):
    settings.RUNNING_JOBS_PER_ORG, settings.RUNNING_JOBS_TOTAL = 3, 3
    now = timezone.now()
    _holder(project)
    a1, a2, a3 = (
        make_job(project, status=Job.Status.PENDING, waiting_since=now - timedelta(seconds=s))
        for s in (50, 40, 30)
    )
    g1 = make_job(globex_project, status=Job.Status.PENDING, waiting_since=now)
    not_ready = make_job(globex_project, status=Job.Status.PENDING)  # its task has not run

    # Acme runs 1, Globex 0: g1 first; then 1 each: the longest waiting, a1. The console is full.
    assert slots.fill() == [g1.pk, a1.pk]
    assert slots.fill() == []
    settings.RUNNING_JOBS_TOTAL = 10
    # Acme runs 2 (of 3), Globex 1: a2; then Acme is at its cap.
    assert slots.fill() == [a2.pk]
    for job in (a3, not_ready):
        job.refresh_from_db()
        assert job.status == Job.Status.PENDING
    assert slots.running_by_organization() == {
        project.organization_id: 3,
        globex_project.organization_id: 1,
    }


def test_it_never_starts_more_than_the_cap_when_many_ask_at_once(project, settings):
    settings.RUNNING_JOBS_PER_ORG, settings.RUNNING_JOBS_TOTAL = 2, 10
    jobs = [make_job(project, status=Job.Status.PENDING) for _ in range(6)]
    start = threading.Barrier(len(jobs))
    started: list[str] = []

    def ask(job: Job) -> None:
        try:
            start.wait()
            started.extend(slots.request(job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 2 and len(set(started)) == 2
    assert Job.objects.filter(status=Job.Status.IN_PROGRESS).count() == 2
    waiting = Job.objects.filter(status=Job.Status.PENDING)
    assert waiting.count() == 4
    assert all(
        job.is_waiting_for_slot and job.reason.startswith(slots.WAITING_FOR_SLOT) for job in waiting
    )
