"""Who may use the wizard, and the one way a step loads its draft.

Every step view starts with `wizard_project(request)` (a new flow) or `load_draft(request, id)`
(any later step): 404 for a draft that is not the user's (or expired), 403 for a user who may
not start a migration in the draft's organization. They run on GET and POST alike, so a
permission lost mid-way stops the wizard at the next click.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from console.access import (
    current_project,
    managed_projects,
    refusal,
    visible_clusters,
    visible_projects,
)
from console.models import Cluster, Organization, Project, User
from migrations_app.models import WizardDraft
from migrations_app.service import ACTION_START

# The draft's data key of the speed cap typed in Configure Schema ({"max_rows_per_second",
# "max_mb_per_second"}, None for no cap).
SPEED_CAP = "speed_cap"


def target_projects(user: User, organization: Organization) -> QuerySet[Project]:
    """Projects of the organization the user may migrate into."""
    return managed_projects(user).filter(organization=organization).order_by("name")


def source_clusters(user: User, organization: Organization) -> QuerySet[Cluster]:
    """Clusters of the organization the user may read: the In Current Organization sources."""
    return visible_clusters(user).filter(project__organization=organization).order_by("name")


def may_start(user: User, organization: Organization) -> bool:
    return target_projects(user, organization).exists()


def wizard_project(request: HttpRequest) -> Project:
    """The project (and so the organization) a new wizard runs in; 404/403 as above."""
    project = current_project(request)
    if project is None:
        raise Http404("No project")
    if not may_start(request.user, project.organization):
        raise PermissionDenied(refusal(project, ACTION_START))
    return project


def load_draft(request: HttpRequest, draft_id: uuid.UUID, flow: str | None = None) -> WizardDraft:
    """The user's own live draft, else 404; 403 when the user may no longer migrate there."""
    draft = (
        WizardDraft.objects.live()
        .filter(pk=draft_id, user=request.user)
        .select_related("project", "project__organization")
        .first()
    )
    if draft is None or (flow is not None and draft.flow != flow):
        raise Http404("No such draft")
    if not may_start(request.user, draft.project.organization):
        raise PermissionDenied(refusal(draft.project, ACTION_START))
    return draft


def new_draft(user: User, project: Project, flow: str) -> WizardDraft:
    """A fresh draft; drafts abandoned longer than the TTL go at the same time."""
    WizardDraft.objects.expired().delete()
    return WizardDraft(user=user, project=project, flow=flow, data={})


def require_visible(request: HttpRequest, cluster_ids=(), project_ids=()) -> None:
    """An id the user may not see at all is a 404, never a form error that confirms it."""
    user = request.user
    for cluster_id in filter(None, cluster_ids):
        if not visible_clusters(user).filter(pk=cluster_id).exists():
            raise Http404("No such cluster")
    for project_id in filter(None, project_ids):
        if not visible_projects(user).filter(pk=project_id).exists():
            raise Http404("No such project")
