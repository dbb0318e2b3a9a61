"""What may this user see or do? One call on the first line of every view and API endpoint.

Rules (DESIGN.md §4): Organization Owners see and manage every project of their organization;
Project Admins manage their project; every other project member may only watch. Anyone else
gets a 404, never a hint that the object exists. Queries start from what the user may see, so
an id from another organization can never load.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from console.models import Cluster, Membership, Organization, Project, ProjectMembership, User

# Project roles count only for members of the project's organization: a ProjectMembership left
# behind when someone leaves the organization (or made without one) opens nothing. Both
# conditions sit in one filter() so they share the organization-membership join (the same row).


def visible_projects(user: User) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(
            Q(memberships__user=user, organization__memberships__user=user)
            | Q(
                organization__memberships__user=user,
                organization__memberships__role=Membership.Role.ORG_OWNER,
            )
        )
        .select_related("organization")
        .distinct()
    )


def managed_projects(user: User) -> QuerySet[Project]:
    """Projects where the user may migrate, cancel, retry and register/create clusters."""
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(
            Q(
                memberships__user=user,
                memberships__role=ProjectMembership.Role.PROJECT_ADMIN,
                organization__memberships__user=user,
            )
            | Q(
                organization__memberships__user=user,
                organization__memberships__role=Membership.Role.ORG_OWNER,
            )
        )
        .select_related("organization")
        .distinct()
    )


def owns_organization(user: User, organization: Organization) -> bool:
    """Organization Owners see every project's jobs at once (the Jobs page's organization view)."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        user=user, organization=organization, role=Membership.Role.ORG_OWNER
    ).exists()


def can_manage(user: User, project: Project) -> bool:
    return managed_projects(user).filter(pk=project.pk).exists()


def refusal(project: Project, action: str = "do this") -> str:
    """The words of a refused write: who may do it, where. Shown on the 403 page and next to
    a disabled button (templates/console/_not_allowed.html), so both say the same thing."""
    return f"Only Organization Owners and Project Admins can {action} in project {project.name}."


def get_project_for(
    user: User, project_id: str, write: bool = False, action: str = "do this"
) -> Project:
    """The project, or 404 when the user is not a member, or 403 for a write by a watcher."""
    try:
        project = visible_projects(user).get(pk=project_id)
    except Project.DoesNotExist:
        raise Http404("No such project") from None
    if write and not can_manage(user, project):
        raise PermissionDenied(refusal(project, action))
    return project


def visible_clusters(user: User) -> QuerySet[Cluster]:
    return Cluster.objects.filter(project__in=visible_projects(user)).select_related(
        "project", "project__organization"
    )


def get_cluster_for(
    user: User, cluster_id: str, write: bool = False, action: str = "do this"
) -> Cluster:
    """The cluster, or 404 when the user may not see it, or 403 for a write by a watcher."""
    try:
        cluster = visible_clusters(user).get(pk=cluster_id)
    except Cluster.DoesNotExist:
        raise Http404("No such cluster") from None
    if write and not can_manage(user, cluster.project):
        raise PermissionDenied(refusal(cluster.project, action))
    return cluster


# --- the current project of a request -----------------------------------------------------

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


def project_from_request(
    request: HttpRequest, write: bool = False, action: str = "do this"
) -> Project:
    """The project named by `?project=`, else the header switcher's current project.

    404 when the user may not see it (or sees no project at all), 403 for a write by a
    watcher. `?project=` is read-only: the page shows that project (and names it in the
    header) but the switcher's choice stays as it was; only its POST form changes it.
    """
    project_id = request.GET.get("project", "")
    if not project_id:
        current = current_project(request)
        if current is None:
            raise Http404("No project")
        project_id = current.pk
    project = get_project_for(request.user, project_id, write=write, action=action)
    show_project(request, project)
    return project


# The project this response is about, set by show_project for the header (a request
# attribute, never the session: a GET must not change what later pages show).
_SHOWN_PROJECT = "console_shown_project"


def show_project(request: HttpRequest, project: Project) -> None:
    """Name `project` in this page's header switcher: a page about an object (a cluster, a
    job) or opened with `?project=` shows the object's own project, whatever was chosen."""
    setattr(request, _SHOWN_PROJECT, project)


def shown_project(request: HttpRequest) -> Project | None:
    """The project the header names: the page's own (show_project), else the current one."""
    return getattr(request, _SHOWN_PROJECT, None) or current_project(request)
