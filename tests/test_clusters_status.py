"""Status poll of a cluster being created (/clusters/<id>/status/, htmx): 200 while CREATING,
286 with the live body once the supervisor has it running."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console import services
from console.clusters.supervisor import Supervisor
from console.models import Cluster

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def supervisor(tmp_path, settings, db):
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    sup = Supervisor(settings.CLUSTERS_DIR)
    yield sup
    sup.stop_all()


@pytest.fixture
def creating(project) -> Cluster:
    return services.create_local_cluster(project, "fresh", "SERVERLESS")


def _url(cluster: Cluster) -> str:
    return reverse("cluster_status", args=[cluster.pk])


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client", "viewer_client"])
def test_it_keeps_polling_while_creating(request, persona, creating):
    response = request.getfixturevalue(persona).get(_url(creating), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="cluster-body"')
    assert 'hx-trigger="every 2s"' in html
    assert 'data-status="CREATING"' in html
    assert "<!doctype html>" not in html


def test_it_stops_polling_with_the_live_body_once_running(owner_client, creating, supervisor):
    supervisor.reconcile_once()

    response = owner_client.get(_url(creating), **HTMX)

    assert response.status_code == 286
    html = response.content.decode()
    assert 'data-status="RUNNING"' in html
    assert "hx-trigger" not in html
    assert "Database <code>default</code>" in html


def test_it_stops_polling_when_the_server_cannot_start(
    owner_client, creating, supervisor, settings
):
    settings.CLUSTERS_DIR.mkdir(parents=True)
    (settings.CLUSTERS_DIR / creating.pk).write_text("in the way")
    supervisor.reconcile_once()

    response = owner_client.get(_url(creating), **HTMX)

    assert response.status_code == 286
    assert 'data-status="STOPPED"' in response.content.decode()
    assert "could not start milvus-lite" in response.content.decode()


def test_it_redirects_a_plain_request_to_the_detail_page(owner_client, creating):
    response = owner_client.get(_url(creating))
    assert response.status_code == 302
    assert response.url == reverse("cluster_detail", args=[creating.pk])


def test_it_answers_404_to_outsiders(outsider_client, creating):
    assert outsider_client.get(_url(creating), **HTMX).status_code == 404


def test_it_drops_the_being_created_notice_once_the_cluster_runs(owner_client, project, supervisor):
    created = owner_client.post(
        reverse("cluster_create") + f"?project={project.pk}", {"name": "fresh", "plan": "FREE"}
    )
    page = owner_client.get(created.url).content.decode()
    notice = 'Cluster <span class="wrap-anywhere">fresh</span> is being created.'
    # Only inside the polled body, which htmx replaces: not as a flash message above it.
    assert page.count("is being created") == 1
    assert page.index('id="cluster-body"') < page.index(notice)
    cluster = Cluster.objects.get(name="fresh")

    supervisor.reconcile_once()
    response = owner_client.get(_url(cluster), **HTMX)

    assert response.status_code == 286
    assert "is being created" not in response.content.decode()
    assert "is being created" not in owner_client.get(created.url).content.decode()
