"""When a job ends, a real Celery worker POSTs it to the project's webhook (a receiver of the
test's own, checking the signature), retries a failing endpoint with back-off, logs every
attempt, and e-mails the job's creator (Django's file backend: the worker is another process)."""

from __future__ import annotations

import time
from email import message_from_string

import pytest

from console.models import WebhookDelivery
from console.webhooks import set_webhook
from migrations_app import service
from tests.jobs_support import fill, local_cluster, start_copy, wait_for
from tests.webhook_receiver import start_receiver, stop_receiver

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 3


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mail")


@pytest.fixture
def worker_env(mail_dir):
    return {
        "WEBHOOK_ATTEMPTS": str(ATTEMPTS),
        "WEBHOOK_RETRY_DELAY": "0.3",
        "WEBHOOK_TIMEOUT": "2",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "CONSOLE_URL": "https://console.example.test",
    }


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "big", 300)
    return local_cluster(project, source_server, "src"), local_cluster(
        project, target_server, "dst"
    )


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    stop_receiver(receiver)


def deliveries(project, count: int, timeout: float = 30) -> list[WebhookDelivery]:
    """The project's delivery log, oldest first, once it has `count` lines."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(WebhookDelivery.objects.filter(project=project).order_by("created_at", "pk"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def mails(mail_dir, job_id: str, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in mail_dir.iterdir():
            for text in path.read_text().split("-" * 79):
                if job_id in text:
                    found.append(message_from_string(text.strip()))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_it_posts_the_ended_job_signed_and_mails_its_creator(
    owner, project, pair, receiver, job_worker, api_as, mail_dir
):
    receiver.secret = set_webhook(project, receiver.url(), owner)
    job = wait_for(start_copy(owner, *pair), "SUCCESSFUL", worker=job_worker)

    (request,) = receiver.wait_for(1)
    assert request.signature_ok, request.headers
    assert request.headers["X-Signature"] == receiver.expected(request.body)
    assert request.headers["Content-Type"] == "application/json"
    assert request.path == "/hooks/jobs?src=console"
    # Exactly the object GET /v2/jobs/{jobId} answers with.
    answer = api_as(owner).get(f"/v2/jobs/{job.pk}").json()
    assert request.json() == answer["data"]
    assert request.json()["status"] == "SUCCESSFUL"

    (line,) = deliveries(project, 1)
    assert (line.job_id, line.job_status, line.attempt, line.attempts) == (
        job.pk,
        "SUCCESSFUL",
        1,
        ATTEMPTS,
    )
    assert line.status_code == 200 and line.delivered
    assert line.event_id == request.headers["X-Webhook-Id"]

    (mail,) = mails(mail_dir, job.pk)
    assert mail["To"] == owner.email
    assert mail["Subject"] == f"Migration job {job.pk}: Successful"
    text = mail.get_payload()
    assert f"View Details: https://console.example.test/jobs/{job.pk}/" in text
    assert "ended: Successful" in text
    assert "big → big (Done, 300 of 300 rows)" in text


def test_it_retries_a_failing_endpoint_with_back_off_and_logs_every_attempt(
    owner, project, pair, job_worker
):
    receiver = start_receiver(answers=[500, 503, 204])
    try:
        receiver.secret = set_webhook(project, receiver.url("/hook"), owner)
        job = wait_for(start_copy(owner, *pair), "SUCCESSFUL", worker=job_worker)
        lines = deliveries(project, 3)
        requests = receiver.wait_for(3)
    finally:
        stop_receiver(receiver)
    assert [(d.attempt, d.status_code, d.delivered) for d in lines] == [
        (1, 500, False),
        (2, 503, False),
        (3, 204, True),
    ]
    assert {d.job_id for d in lines} == {job.pk}
    # One delivery: the same event id and bytes on every attempt, each signed.
    assert len({r.headers["X-Webhook-Id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    assert all(r.signature_ok for r in requests)
    # Back-off: the second wait (0.6 s) is twice the first (0.3 s).
    first, second, third = (d.created_at for d in lines)
    assert (second - first).total_seconds() >= 0.3
    assert (third - second).total_seconds() >= 0.6


def test_it_gives_up_after_the_last_attempt_at_an_endpoint_that_refuses(
    owner, project, pair, job_worker
):
    closed = start_receiver()
    url = closed.url("/gone")
    stop_receiver(closed)  # nothing listens on that port any more
    set_webhook(project, url, owner)
    job = wait_for(start_copy(owner, *pair), "SUCCESSFUL", worker=job_worker)
    deliveries(project, ATTEMPTS)
    job_worker.wait_idle()
    lines = list(WebhookDelivery.objects.filter(project=project).order_by("attempt"))
    assert [(d.attempt, d.error, d.status_code) for d in lines] == [
        (n, "connection refused", None) for n in range(1, ATTEMPTS + 1)
    ]
    assert {d.job_id for d in lines} == {job.pk}


def test_it_tells_of_a_job_canceled_before_it_started(owner, project, pair, receiver, job_worker):
    receiver.secret = set_webhook(project, receiver.url(), owner)
    with job_worker.paused():
        job = start_copy(owner, *pair)
        service.cancel_job(owner, job)
    (request,) = receiver.wait_for(1)
    assert request.signature_ok
    assert request.json()["jobId"] == job.pk
    assert request.json()["status"] == "CANCELED"
    assert request.json()["reason"] == "canceled"


def test_it_sends_nothing_for_a_project_without_a_webhook(
    owner, project, pair, receiver, job_worker, mail_dir
):
    job = wait_for(start_copy(owner, *pair), "SUCCESSFUL", worker=job_worker)
    assert mails(mail_dir, job.pk)  # the creator is told all the same
    job_worker.wait_idle()
    assert receiver.requests == []
    assert not WebhookDelivery.objects.filter(project=project).exists()
