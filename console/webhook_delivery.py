"""One attempt to POST a body to a project's webhook, signed, and its line in the delivery log.

What is sent, when, and how often it is tried again is the caller's (jobs.notify, jobs.tasks);
here: the URL checked by the endpoint rules (resolved afresh: what a name answers may have
changed since it was set) and the connection opened to the one address that was checked, never
a second lookup; no redirect followed (a 3xx is a failed attempt, so an answer cannot send the
console somewhere the rules refuse); a short timeout on every socket operation; the answer's
status read and its body never. Each attempt counts against the connection limit of the user
who set the URL (DESIGN §8: a webhook is a typed endpoint).

The signature: `X-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body with the project's
signing secret. A receiver computes the same over the bytes it received and compares in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings

from console import throttle
from console.clients import resolve_url
from console.models import Project, WebhookDelivery
from console.webhooks import about_url, signing_secret
from migrations_app.engine.endpoints import HttpUrl, Target, parse_http_url
from migrations_app.engine.errors import EndpointRejected

log = logging.getLogger("console.webhooks")

USER_AGENT = "milvus-migration-console-webhook/1"
# Delivery log lines kept per project (the oldest go first).
LOG_KEEP = 200


def signature(secret: str, body: bytes) -> str:
    """The X-Signature header's value for `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """What one attempt to deliver says about the next: `delivered` (a 2xx answer), or
    whether trying again may help (`retry`)."""

    delivered: bool
    retry: bool


DONE = Delivery(delivered=True, retry=False)
FAILED = Delivery(delivered=False, retry=True)
NOTHING_TO_DO = Delivery(delivered=False, retry=False)


@dataclass(frozen=True)
class Event:
    """What is delivered: the job's end, as one body for every attempt (`event_id` is the
    same on each, in the X-Webhook-Id header)."""

    project_id: str
    job_id: str
    job_status: str
    event_id: str
    body: bytes


def deliver(event: Event, attempt: int, attempts: int) -> Delivery:
    """POST `event.body` to the project's webhook as it is set now (its current URL and
    secret), and log the attempt. NOTHING_TO_DO when the project has no webhook any more."""
    project = Project.objects.filter(pk=event.project_id).first()
    if project is None or not project.webhook_url:
        return NOTHING_TO_DO

    def record(status_code: int | None = None, error: str = "") -> None:
        WebhookDelivery.objects.create(
            project=project,
            job_id=event.job_id,
            job_status=event.job_status,
            event_id=event.event_id,
            attempt=attempt,
            attempts=attempts,
            url=project.webhook_url,
            status_code=status_code,
            error=error[:500],
        )
        _prune(project)
        log.info(
            "job %s: webhook of project %s, attempt %d of %d: %s",
            event.job_id,
            project.pk,
            attempt,
            attempts,
            f"HTTP {status_code}" if status_code is not None else error,
        )

    if project.webhook_set_by_id and not throttle.allow_connection_test(project.webhook_set_by_id):
        record(error="not sent: " + throttle.TOO_MANY_CONNECTION_TESTS)
        return FAILED
    try:
        url = parse_http_url(project.webhook_url)
        target = resolve_url(url)
    except EndpointRejected as exc:
        record(error="not sent: " + about_url(exc.message))
        return FAILED
    secret = signing_secret(project)
    if not secret:
        record(
            error="not sent: the signing secret cannot be read (FIELD_ENCRYPTION_KEY changed "
            "since it was made): set the webhook again"
        )
        return NOTHING_TO_DO
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": signature(secret, event.body),
        "X-Webhook-Id": event.event_id,
    }
    try:
        status = _post(target, url, event.body, headers, settings.WEBHOOK_TIMEOUT)
    except OSError as exc:
        record(error=_describe(exc))
        return FAILED
    except http.client.HTTPException as exc:
        record(error=f"the answer was not HTTP ({type(exc).__name__})")
        return FAILED
    if 200 <= status < 300:
        record(status_code=status)
        return DONE
    why = "redirects are not followed" if 300 <= status < 400 else ""
    record(status_code=status, error=why)
    return FAILED


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, verifying the certificate for the host name typed."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP to the address, nothing resolved
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def _post(target: Target, url: HttpUrl, body: bytes, headers: dict, timeout: float) -> int:
    """POST to `target.address` (the checked one) with the typed host in the Host header; the
    answer's status. The body of the answer is never read."""
    endpoint = url.endpoint
    address = str(target.address)
    if endpoint.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
            address, endpoint.port, endpoint.host, timeout
        )
    else:
        connection = http.client.HTTPConnection(address, endpoint.port, timeout=timeout)
    default = {"http": 80, "https": 443}[endpoint.scheme]
    host = endpoint.address if endpoint.port != default else endpoint.address.rsplit(":", 1)[0]
    try:
        connection.request("POST", url.target, body=body, headers={"Host": host, **headers})
        return connection.getresponse().status
    finally:
        connection.close()


def _describe(exc: OSError) -> str:
    """A socket error as the delivery log says it (no address the user did not type)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {settings.WEBHOOK_TIMEOUT:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    return exc.strerror or type(exc).__name__


def _prune(project: Project) -> None:
    older = WebhookDelivery.objects.filter(project=project).values_list("pk", flat=True)
    stale = list(older[LOG_KEEP : LOG_KEEP + 100])
    if stale:
        WebhookDelivery.objects.filter(pk__in=stale).delete()
