"""REST v2: a project's webhook (`GET`, `PUT`, `DELETE /v2/projects/{projectId}/webhook`).

Organization Owners and Project Admins only, reading as writing (the URL may carry a token of
the receiver's): any other member of the project gets 403, anyone else 404. `PUT` sets the URL
and answers with a new signing secret, the only time it is shown (`Cache-Control: no-store`);
`GET` never shows it. The rules for the URL are console.webhooks'.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from pydantic import StrictStr

from console.access import get_project_for
from console.api.base import ERRORS, StrictSchema, check_key_scope, ok
from console.models import Project, WebhookDelivery
from console.webhooks import URL_MAX_LENGTH, clear_webhook, set_webhook

router = Router(tags=["projects"])

PROJECT_ID_CHARS = re.compile(r"[A-Za-z0-9_-]{1,64}")
DELIVERIES_SHOWN = 20
ACTION = "change the project's settings"


class WebhookIn(StrictSchema):
    url: Annotated[StrictStr, Field(max_length=URL_MAX_LENGTH)] = Field(
        description='http(s) URL job ends are POSTed to; "" removes the webhook'
    )


class DeliveryOut(Schema):
    time: str = Field(description="ISO 8601 UTC")
    jobId: str
    jobStatus: str
    attempt: int
    attempts: int
    statusCode: int | None = Field(description="the HTTP status answered; null: no answer")
    error: str
    delivered: bool


class WebhookOut(Schema):
    projectId: str
    url: str | None = Field(description="null: no webhook")
    deliveries: list[DeliveryOut] = Field(description="the newest attempts first")


class WebhookResponse(Schema):
    code: int
    data: WebhookOut


class WebhookSet(Schema):
    projectId: str
    url: str | None
    secret: str | None = Field(
        description="the new signing secret (HMAC-SHA256 key of the X-Signature header), shown "
        "only in this answer; null when the webhook was removed"
    )


class WebhookSetResponse(Schema):
    code: int
    data: WebhookSet


def _project(request: HttpRequest, project_id: str) -> Project:
    if not PROJECT_ID_CHARS.fullmatch(project_id):
        raise Http404("No such project")
    project = get_project_for(request.auth, project_id, write=True, action=ACTION)
    check_key_scope(request, project)
    return project


def _delivery(d: WebhookDelivery) -> dict:
    return {
        "time": d.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "jobId": d.job_id,
        "jobStatus": d.job_status,
        "attempt": d.attempt,
        "attempts": d.attempts,
        "statusCode": d.status_code,
        "error": d.error,
        "delivered": d.delivered,
    }


@router.get(
    "/{projectId}/webhook",
    response={200: WebhookResponse, **ERRORS},
    operation_id="describeProjectWebhook",
    summary="The project's webhook URL and its latest deliveries (never the secret)",
)
def describe_webhook(request: HttpRequest, projectId: str):
    project = _project(request, projectId)
    deliveries = project.deliveries.all()[:DELIVERIES_SHOWN]
    return ok(
        {
            "projectId": project.pk,
            "url": project.webhook_url or None,
            "deliveries": [_delivery(d) for d in deliveries],
        }
    )


@router.put(
    "/{projectId}/webhook",
    response={200: WebhookSetResponse, **ERRORS},
    operation_id="setProjectWebhook",
    summary="Set the project's webhook URL with a new signing secret, shown once "
    '("url": "" removes it)',
)
def put_webhook(request: HttpRequest, projectId: str, body: WebhookIn, response: HttpResponse):
    project = _project(request, projectId)
    response["Cache-Control"] = "no-store"
    if not body.url.strip():
        clear_webhook(project)
        return ok({"projectId": project.pk, "url": None, "secret": None})
    secret = set_webhook(project, body.url, request.auth)
    return ok({"projectId": project.pk, "url": project.webhook_url, "secret": secret})


@router.delete(
    "/{projectId}/webhook",
    response={200: WebhookSetResponse, **ERRORS},
    operation_id="deleteProjectWebhook",
    summary="Remove the project's webhook",
)
def delete_webhook(request: HttpRequest, projectId: str):
    project = _project(request, projectId)
    clear_webhook(project)
    return ok({"projectId": project.pk, "url": None, "secret": None})
