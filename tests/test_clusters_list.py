"""Clusters page (/clusters/): the project's clusters with live databases and collections."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.clusters.lite_process import HOST, free_port
from console.models import Cluster
from tests.milvus import MilvusClient

URL = reverse("clusters")


@pytest.fixture
def running(project, lite_server) -> Cluster:
    """A cluster row serving a real Milvus Lite with two databases and three collections."""
    client = MilvusClient(uri=lite_server.uri)
    client.create_collection("docs", dimension=8)
    client.create_database("catalog")
    client.use_database("catalog")
    client.create_collection("items", dimension=4)
    client.create_collection("users", dimension=4)
    client.close()
    return Cluster.objects.create(
        project=project,
        name="prod",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.LOCAL,
        uri=lite_server.uri,
        port=lite_server.port,
        status=Cluster.Status.RUNNING,
    )


def _row(html: str, cluster: Cluster) -> str:
    start = html.index(f"<code>{cluster.pk}</code>")
    return html[start : html.index("</tr>", start)]


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client", "viewer_client"])
def test_it_lists_the_projects_clusters_with_live_figures(request, persona, running):
    client = request.getfixturevalue(persona)

    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, running)
    assert 'data-status="RUNNING"' in row
    assert running.uri in row
    assert "Dedicated" in row and "Local" in row
    milvus = MilvusClient(uri=running.uri)
    databases = milvus.list_databases()
    collections = 0
    for db in databases:
        milvus.use_database(db)
        collections += len(milvus.list_collections())
    milvus.close()
    assert (
        f'<td data-label="Databases" class="num" title="{", ".join(databases)}">{len(databases)}</td>'
        in row
    )
    assert f'<td data-label="Collections" class="num">{collections}</td>' in row


def test_it_shows_register_and_create_buttons_to_owners_and_admins(
    owner_client, project_admin_client
):
    for client in (owner_client, project_admin_client):
        html = client.get(URL).content.decode()
        assert "Register Cluster" in html
        assert "Create Cluster" in html


def test_it_says_next_to_the_disabled_buttons_why_a_read_only_member_cannot_use_them(
    viewer_client,
):
    html = viewer_client.get(URL).content.decode()
    assert reverse("cluster_register") not in html and reverse("cluster_create") not in html
    for label in ("Register Cluster", "Create Cluster"):
        assert f'disabled aria-describedby="why-clusters-write">{label}</button>' in html
    assert (
        '<p class="why-not" id="why-clusters-write">Only Organization Owners and Project Admins '
        "can create or register clusters in project Default Project.</p>"
    ) in html


def test_it_answers_404_to_an_outsider_naming_the_project(outsider_client, project, running):
    response = outsider_client.get(URL, {"project": project.pk})
    assert response.status_code == 404


def test_it_shows_the_outsider_only_their_own_organization(outsider_client, running):
    response = outsider_client.get(URL)
    assert response.status_code == 200
    assert running.pk not in response.content.decode()


def test_it_shows_the_project_named_in_the_url_and_switches_to_it(
    owner_client, other_project, running
):
    elsewhere = Cluster.objects.create(
        project=other_project,
        name="analytics",
        plan=Cluster.Plan.SERVERLESS,
        kind=Cluster.Kind.LOCAL,
    )

    html = owner_client.get(URL, {"project": other_project.pk}).content.decode()

    assert elsewhere.pk in html and running.pk not in html
    assert f'<option value="{other_project.pk}" selected>' in html


def test_it_shows_an_unreachable_cluster_without_failing_the_page(owner_client, project, running):
    port = free_port()
    dead = Cluster.objects.create(
        project=project,
        name="gone",
        plan=Cluster.Plan.FREE,
        kind=Cluster.Kind.EXTERNAL,
        uri=f"http://{HOST}:{port}",
        status=Cluster.Status.RUNNING,
    )

    response = owner_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, dead)
    assert 'data-status="UNREACHABLE"' in row
    assert f"cannot reach {HOST}:{port}" in row
    assert 'data-status="RUNNING"' in _row(html, running)


def test_it_shows_a_cluster_being_created_without_contacting_it(owner_client, project):
    creating = Cluster.objects.create(
        project=project,
        name="new",
        plan=Cluster.Plan.FREE,
        kind=Cluster.Kind.LOCAL,
        port=free_port(),
    )

    row = _row(owner_client.get(URL).content.decode(), creating)

    assert 'data-status="CREATING"' in row
    assert "Creating" in row


def test_it_says_when_the_project_has_no_clusters(owner_client):
    assert "No clusters in this project yet." in owner_client.get(URL).content.decode()


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_shows_a_cluster_running_again_before_the_supervisor_notices(
    owner_client, project, lite_server
):
    back = Cluster.objects.create(
        project=project,
        name="back",
        plan=Cluster.Plan.FREE,
        kind=Cluster.Kind.EXTERNAL,
        uri=lite_server.uri,
        status=Cluster.Status.UNREACHABLE,
        status_message="was down",
    )

    row = _row(owner_client.get(URL).content.decode(), back)

    assert 'data-status="RUNNING"' in row
    assert "was down" not in row
