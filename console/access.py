"""What may this user see or do? One call on the first line of every view and API endpoint.

Rules (DESIGN.md §4): Organization Owners see and manage every project of their organization;
Project Admins manage their project; every other project member may only watch. Anyone else
gets a 404, never a hint that the object exists. Queries start from what the user may see, so
an id from another organization can never load.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from console.models import Cluster, Membership, Organization, Project, ProjectMembership, User


def visible_projects(user: User) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(
            Q(memberships__user=user)
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
            Q(memberships__user=user, memberships__role=ProjectMembership.Role.PROJECT_ADMIN)
            | Q(
                organization__memberships__user=user,
                organization__memberships__role=Membership.Role.ORG_OWNER,
            )
        )
        .select_related("organization")
        .distinct()
    )


def visible_organizations(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).distinct()


def can_manage(user: User, project: Project) -> bool:
    return managed_projects(user).filter(pk=project.pk).exists()


def get_project_for(user: User, project_id: str, write: bool = False) -> Project:
    """The project, or 404 when the user is not a member, or 403 for a write by a watcher."""
    try:
        project = visible_projects(user).get(pk=project_id)
    except Project.DoesNotExist:
        raise Http404("No such project") from None
    if write and not can_manage(user, project):
        raise PermissionDenied("Only an Organization Owner or a Project Admin may do this.")
    return project


def visible_clusters(user: User) -> QuerySet[Cluster]:
    return Cluster.objects.filter(project__in=visible_projects(user)).select_related(
        "project", "project__organization"
    )


def get_cluster_for(user: User, cluster_id: str, write: bool = False) -> Cluster:
    """The cluster, or 404 when the user may not see it, or 403 for a write by a watcher."""
    try:
        cluster = visible_clusters(user).get(pk=cluster_id)
    except Cluster.DoesNotExist:
        raise Http404("No such cluster") from None
    if write and not can_manage(user, cluster.project):
        raise PermissionDenied("Only an Organization Owner or a Project Admin may do this.")
    return cluster
