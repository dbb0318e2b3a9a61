"""A project's webhook: the URL its job ends are POSTed to, and the secret that signs them.

Set by an Organization Owner or a Project Admin (the caller checks, through console.access)
from the project settings page, the REST API (`PUT /v2/projects/{projectId}/webhook`) or
`manage.py set_webhook`. Every setting of a URL makes a new signing secret: it is returned to
the caller once, to show once, and stored only encrypted (console.crypto); nothing reads it
back out but the delivery (console.webhook_delivery), which signs with it.

The URL is a typed endpoint (DESIGN §8): http or https only, and its host and port pass the
rules every typed endpoint passes (console.clients) — checked when it is set and again,
resolved afresh, before every delivery.
"""

from __future__ import annotations

import secrets

from console.clients import resolve_url
from console.crypto import decrypt_json, encrypt_json
from console.errors import Invalid
from console.models import Project, User
from migrations_app.engine.endpoints import parse_http_url
from migrations_app.engine.errors import EndpointRejected

URL_MAX_LENGTH = Project._meta.get_field("webhook_url").max_length
SECRET_PREFIX = "whsec_"


def check_url(url: str) -> str:
    """The URL as it will be stored (stripped), or Invalid naming what is wrong with it."""
    text = (url or "").strip()
    if len(text) > URL_MAX_LENGTH:
        raise Invalid(
            f"Webhook URL is {len(text)} characters long; at most {URL_MAX_LENGTH} are allowed",
            field="url",
        )
    try:
        resolve_url(parse_http_url(text))
    except EndpointRejected as exc:
        raise Invalid(about_url(exc.message), field="url") from None
    return text


def about_url(message: str) -> str:
    """An endpoint rule's message as said of the webhook URL."""
    if message.startswith("URL"):
        return "Webhook " + message
    return f"Webhook URL: {message}"


def set_webhook(project: Project, url: str, by: User | None) -> str:
    """Point the project's webhook at `url` with a new signing secret; the secret (show it
    once: it is never shown again). Invalid when the URL is refused; nothing changes then.

    `by` is whose connection limit the deliveries count against (None: an operator's command).
    """
    text = check_url(url)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    Project.objects.filter(pk=project.pk).update(
        webhook_url=text,
        webhook_secret_enc=encrypt_json({"secret": secret}),
        webhook_set_by=by,
    )
    project.refresh_from_db(fields=["webhook_url", "webhook_secret_enc", "webhook_set_by"])
    return secret


def clear_webhook(project: Project) -> bool:
    """Remove the project's webhook (URL and secret); whether there was one. Deliveries
    waiting for a retry find none and stop; the delivery log stays."""
    had = bool(project.webhook_url)
    Project.objects.filter(pk=project.pk).update(
        webhook_url="", webhook_secret_enc="", webhook_set_by=None
    )
    project.refresh_from_db(fields=["webhook_url", "webhook_secret_enc", "webhook_set_by"])
    return had


def signing_secret(project: Project) -> str:
    """The project's signing secret, decrypted: for signing a delivery, never for showing."""
    return decrypt_json(project.webhook_secret_enc).get("secret", "")
