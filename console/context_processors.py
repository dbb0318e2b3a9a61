"""Header data for every page: the org/project switcher and what the user may do there."""

from __future__ import annotations

from django.http import HttpRequest

from console.access import can_manage, shown_project, visible_projects


def tenancy(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    project = shown_project(request)
    return {
        "current_project": project,
        "switcher_projects": list(
            visible_projects(request.user).order_by("organization__name", "name")
        ),
        "can_manage_current": bool(project and can_manage(request.user, project)),
    }
