"""Header data for every page: the org/project switcher and what the user may do there."""

from __future__ import annotations

from django.http import HttpRequest

from console.access import can_manage, visible_projects
from console.models import Project

SESSION_PROJECT = "console:current_project"


def current_project(request: HttpRequest) -> Project | None:
    """The project chosen in the header switcher.

    Falls back to the first project made in the user's first organization (its "Default
    Project"), not the alphabetically first one, so an owner starts where the clusters are.
    """
    if not request.user.is_authenticated:
        return None
    projects = visible_projects(request.user)
    chosen = request.session.get(SESSION_PROJECT)
    project = projects.filter(pk=chosen).first() if chosen else None
    return project or projects.order_by("organization__name", "created_at", "pk").first()


def tenancy(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    project = current_project(request)
    return {
        "current_project": project,
        "switcher_projects": list(
            visible_projects(request.user).order_by("organization__name", "name")
        ),
        "can_manage_current": bool(project and can_manage(request.user, project)),
    }
