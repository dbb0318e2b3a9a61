"""The Migrations page: the two entries, usable by Organization Owners and Project Admins."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.access import current_project, refusal
from migrations_app.service import ACTION_START
from migrations_app.wizard.drafts import may_start


@login_required
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    if project is None:
        raise Http404("No project")
    allowed = may_start(request.user, project.organization)
    return render(
        request,
        "migrations/landing.html",
        {
            "project": project,
            "allowed": allowed,
            "reason": "" if allowed else refusal(project, ACTION_START),
        },
    )
