"""Project settings: the project's webhook (URL, signing secret, delivery log).

For Organization Owners and Project Admins only: anyone else who may see the project gets 403,
on GET as on POST (console.access). The signing secret is in the answer to the POST that made
it and nowhere else (not the session, never cached: `no-store`), as the API Keys page does with
a new key.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.access import get_project_for, show_project
from console.errors import ServiceError
from console.forms import WebhookForm
from console.models import Project
from console.webhooks import clear_webhook, set_webhook

ACTION = "change the project's settings"
DELIVERIES_SHOWN = 50


def _project(request: HttpRequest, project_id: str) -> Project:
    project = get_project_for(request.user, project_id, write=True, action=ACTION)
    show_project(request, project)
    return project


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, project_id: str) -> HttpResponse:
    project = _project(request, project_id)
    form = WebhookForm(request.POST or None, initial={"url": project.webhook_url})
    status, secret = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                secret = set_webhook(project, form.cleaned_data["url"], request.user)
            except ServiceError as exc:
                form.add_error("url", exc.message)
            else:
                status = 200
                form = WebhookForm(initial={"url": project.webhook_url})
    deliveries = project.deliveries.all()[:DELIVERIES_SHOWN]
    response = render(
        request,
        "console/project_settings.html",
        {"project": project, "form": form, "secret": secret, "deliveries": deliveries},
        status=status,
    )
    response["Cache-Control"] = "no-store"  # the page may show the signing secret once
    return response


@login_required
@require_POST
def project_webhook_remove(request: HttpRequest, project_id: str) -> HttpResponse:
    project = _project(request, project_id)
    if clear_webhook(project):
        messages.success(request, "Webhook removed. Jobs that end from now on are not sent.")
    return redirect("project_settings", project_id=project.pk)
