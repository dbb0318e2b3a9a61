"""One delivery attempt (console.webhook_delivery.deliver), in this process, against a receiver
of the test's own: the signature, the checked address, redirects, timeouts, refusals at delivery
time, the setter's connection limit; each attempt's line in the delivery log."""

from __future__ import annotations

import socket
import uuid

import pytest
from cryptography.fernet import Fernet

from console import throttle, webhook_delivery
from console.models import Project, WebhookDelivery
from console.webhook_delivery import Event, deliver
from console.webhooks import set_webhook
from tests.webhook_receiver import start_receiver, stop_receiver

pytestmark = pytest.mark.django_db

JOB = "job-0123456789abcdefghij"


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    stop_receiver(receiver)


def event(project, body: bytes = b'{"jobId":"job-0123456789abcdefghij"}') -> Event:
    return Event(project.pk, JOB, "SUCCESSFUL", str(uuid.uuid4()), body)


def log_of(project) -> list[tuple]:
    return list(
        WebhookDelivery.objects.filter(project=project)
        .order_by("pk")
        .values_list("attempt", "status_code", "error")
    )


def test_it_posts_the_signed_body_to_the_checked_address_with_the_typed_host(
    project, owner, receiver, resolver
):
    # The name is resolved once, when the attempt is made: the POST goes to that address,
    # and the Host header names what was typed.
    resolver.answers["hooks.example.com"] = [["127.0.0.1"]]
    receiver.secret = set_webhook(project, f"http://hooks.example.com:{receiver.port}/in", owner)
    sent = event(project)
    assert deliver(sent, 1, 4).delivered
    (request,) = receiver.requests
    assert request.signature_ok
    assert request.body == sent.body
    assert request.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert request.headers["X-Webhook-Id"] == sent.event_id
    assert request.path == "/in"
    assert log_of(project) == [(1, 200, "")]


def test_it_refuses_at_delivery_an_address_the_rules_refuse_now(
    project, owner, receiver, resolver, settings
):
    # Public when it was set, the metadata service when the job ended (DNS rebinding).
    resolver.answers["hooks.example.com"] = [["93.184.216.34"], ["169.254.169.254"]]
    set_webhook(project, "http://hooks.example.com/in", owner)
    outcome = deliver(event(project), 1, 4)
    assert not outcome.delivered and outcome.retry
    assert receiver.requests == []
    assert log_of(project) == [
        (
            1,
            None,
            "not sent: Webhook URL: endpoint hooks.example.com (169.254.169.254) is a cloud "
            "metadata service and is not allowed",
        )
    ]


def test_it_follows_no_redirect(project, owner, resolver):
    receiver = start_receiver(answers=[302])
    try:
        set_webhook(project, receiver.url("/in"), owner)
        assert deliver(event(project), 1, 4).retry
        assert len(receiver.requests) == 1
    finally:
        stop_receiver(receiver)
    assert log_of(project) == [(1, 302, "redirects are not followed")]


def test_it_gives_up_waiting_after_the_timeout(project, owner, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        set_webhook(project, f"http://127.0.0.1:{silent.getsockname()[1]}/in", owner)
        assert deliver(event(project), 2, 4).retry
    assert log_of(project) == [(2, None, "no answer within 0.5 s")]


def test_it_counts_against_the_connection_limit_of_who_set_it(project, owner, receiver, settings):
    settings.CONNECTION_TEST_LIMIT = 1
    throttle.reset_connection_tests(owner.pk)
    set_webhook(project, receiver.url(), owner)
    try:
        assert deliver(event(project), 1, 4).delivered
        assert deliver(event(project), 1, 4).retry
    finally:
        throttle.reset_connection_tests(owner.pk)
    assert len(receiver.requests) == 1
    assert log_of(project)[1] == (1, None, "not sent: " + throttle.TOO_MANY_CONNECTION_TESTS)


def test_it_does_nothing_once_the_webhook_is_removed(project, receiver):
    Project.objects.filter(pk=project.pk).update(webhook_url="")
    outcome = deliver(event(project), 2, 4)
    assert not outcome.delivered and not outcome.retry
    assert log_of(project) == []


def test_it_sends_nothing_unsigned(project, owner, receiver):
    set_webhook(project, receiver.url(), owner)
    # A secret made under another FIELD_ENCRYPTION_KEY cannot be read.
    other = Fernet(Fernet.generate_key()).encrypt(b'{"secret": "x"}').decode()
    Project.objects.filter(pk=project.pk).update(webhook_secret_enc=other)
    outcome = deliver(event(project), 1, 4)
    assert not outcome.delivered and not outcome.retry
    assert receiver.requests == []
    assert "the signing secret cannot be read" in log_of(project)[0][2]


def test_it_keeps_the_newest_lines_of_the_log(project, owner, receiver, monkeypatch):
    monkeypatch.setattr(webhook_delivery, "LOG_KEEP", 3)
    set_webhook(project, receiver.url(), owner)
    for attempt in range(1, 6):
        deliver(event(project), attempt, 9)
    assert [line[0] for line in log_of(project)] == [3, 4, 5]
