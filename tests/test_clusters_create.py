"""Create a local cluster (/clusters/create/): a CREATING row on a free port that the
supervisor starts; the web process starts nothing itself."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.clusters import provisioner
from console.clusters.lite_process import HOST, port_open
from console.clusters.supervisor import Supervisor
from console.models import Cluster
from tests.milvus import MilvusClient

URL = reverse("cluster_create")


def _url(project) -> str:
    return f"{URL}?project={project.pk}"


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_shows_the_form_to_owners_and_admins(request, persona, project):
    response = request.getfixturevalue(persona).get(_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert ">Cluster Name</label>" in html and ">Plan</label>" in html


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_creates_a_local_cluster_in_creating_on_a_free_port(
    request, persona, project, settings, tmp_path
):
    settings.CLUSTERS_DIR = tmp_path / "clusters"

    response = request.getfixturevalue(persona).post(
        _url(project), {"name": "scratch", "plan": "FREE"}
    )

    cluster = Cluster.objects.get(project=project, name="scratch")
    assert response.status_code == 302
    assert response.url == reverse("cluster_detail", args=[cluster.pk])
    assert cluster.kind == Cluster.Kind.LOCAL
    assert cluster.status == Cluster.Status.CREATING
    assert cluster.plan == Cluster.Plan.FREE
    assert cluster.port and not port_open(cluster.port)
    # The web process starts no server: nothing exists on disk until the supervisor runs.
    assert not (settings.CLUSTERS_DIR / cluster.pk).exists()


def test_it_is_running_and_usable_after_one_supervisor_round(
    owner_client, project, settings, tmp_path
):
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    owner_client.post(_url(project), {"name": "scratch", "plan": "DEDICATED"})
    cluster = Cluster.objects.get(name="scratch")
    supervisor = Supervisor(settings.CLUSTERS_DIR)
    try:
        supervisor.reconcile_once()
        cluster.refresh_from_db()
        assert cluster.status == Cluster.Status.RUNNING
        assert cluster.uri == f"http://{HOST}:{cluster.port}"
        assert provisioner.data_dir(settings.CLUSTERS_DIR, cluster.pk).is_dir()
        milvus = MilvusClient(uri=cluster.uri)
        milvus.create_collection("docs", dimension=4)
        milvus.close()
        html = owner_client.get(reverse("cluster_detail", args=[cluster.pk])).content.decode()
        card = reverse("cluster_collection", args=[cluster.pk, "default", "docs"])
        assert f'hx-get="{card}"' in html
        html = owner_client.get(card).content.decode()
        assert 'docs <span class="muted">· 0 entities</span>' in html
    finally:
        supervisor.stop_all()


def test_it_forbids_read_only_members(viewer_client, project):
    assert viewer_client.get(_url(project)).status_code == 403
    assert viewer_client.post(_url(project), {"name": "x", "plan": "FREE"}).status_code == 403
    assert not Cluster.objects.exists()


def test_it_answers_404_to_outsiders(outsider_client, project):
    assert outsider_client.get(_url(project)).status_code == 404
    assert outsider_client.post(_url(project), {"name": "x", "plan": "FREE"}).status_code == 404
    assert not Cluster.objects.exists()


def test_it_refuses_a_duplicate_name(owner_client, project):
    Cluster.objects.create(project=project, name="scratch", plan="FREE", kind=Cluster.Kind.LOCAL)
    response = owner_client.post(_url(project), {"name": "SCRATCH", "plan": "FREE"})
    assert response.status_code == 400
    assert "A cluster named &#x27;SCRATCH&#x27; already exists in project Default Project." in (
        response.content.decode()
    )
    assert Cluster.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "plan": "FREE"}, "This field is required."),
        (
            {"name": "bad/name", "plan": "FREE"},
            "is not allowed: use letters, digits, hyphens and underscores",
        ),
        ({"name": "ok", "plan": "GOLD"}, "Select a valid choice. GOLD is not one of the available"),
        ({"name": "ok"}, "This field is required."),
    ],
)
def test_it_refuses_bad_input(owner_client, project, data, message):
    response = owner_client.post(_url(project), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Cluster.objects.exists()
