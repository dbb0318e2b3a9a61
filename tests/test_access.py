"""console.access: who sees and manages which project and cluster."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from console.access import (
    can_manage,
    get_cluster_for,
    get_project_for,
    managed_projects,
    visible_projects,
)
from console.models import Cluster


@pytest.fixture
def cluster(project):
    return Cluster.objects.create(
        project=project,
        name="c1",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri="http://127.0.0.1:1",
    )


def test_it_lets_the_owner_see_and_manage_every_project_of_the_org(owner, project, other_project):
    assert set(visible_projects(owner)) == {project, other_project}
    assert set(managed_projects(owner)) == {project, other_project}


def test_it_limits_a_project_admin_to_their_project(admin, project, other_project):
    assert list(visible_projects(admin)) == [project]
    assert can_manage(admin, project)
    assert not can_manage(admin, other_project)


def test_it_lets_a_viewer_watch_but_not_manage(viewer, project):
    assert get_project_for(viewer, project.pk) == project
    with pytest.raises(PermissionDenied):
        get_project_for(viewer, project.pk, write=True)


def test_it_hides_another_organizations_project_as_404(outsider, project, cluster):
    with pytest.raises(Http404):
        get_project_for(outsider, project.pk)
    with pytest.raises(Http404):
        get_cluster_for(outsider, cluster.pk)


def test_it_hides_unknown_ids_as_404(owner):
    with pytest.raises(Http404):
        get_project_for(owner, "proj-doesnotexist")


def test_it_refuses_cluster_writes_to_a_viewer(viewer, cluster):
    assert get_cluster_for(viewer, cluster.pk) == cluster
    with pytest.raises(PermissionDenied):
        get_cluster_for(viewer, cluster.pk, write=True)


def test_it_lets_the_admin_manage_the_cluster(admin, cluster):
    assert get_cluster_for(admin, cluster.pk, write=True) == cluster


def test_it_ignores_a_project_role_without_membership_of_the_organization(
    admin, project, cluster, owner, project_admin_client
):
    """Someone removed from the organization keeps nothing through a project role left behind."""
    from django.urls import reverse

    from console.models import Membership

    Membership.objects.filter(user=admin, organization=project.organization).delete()

    assert list(visible_projects(admin)) == [] and list(managed_projects(admin)) == []
    assert not can_manage(admin, project)
    with pytest.raises(Http404):
        get_project_for(admin, project.pk)
    with pytest.raises(Http404):
        get_cluster_for(admin, cluster.pk)
    response = project_admin_client.get(reverse("cluster_detail", args=[cluster.pk]))
    assert response.status_code == 404
    # The owner still sees the whole organization.
    assert set(visible_projects(owner)) == {project}
