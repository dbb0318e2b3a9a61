"""Delete a cluster (/clusters/<id>/delete/): owners and admins, typed confirmation; the
supervisor then stops a local cluster's server and removes its data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console import services
from console.clusters import provisioner
from console.clusters.lite_process import port_open
from console.clusters.supervisor import Supervisor
from console.models import Cluster


@pytest.fixture
def external(project) -> Cluster:
    cluster = Cluster(
        project=project,
        name="remote",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri="http://127.0.0.1:19530",
        status=Cluster.Status.UNREACHABLE,
    )
    cluster.set_credentials(username="svc", password="Delete-Me-Secret-123")
    cluster.save()
    return cluster


def _url(cluster: Cluster) -> str:
    return reverse("cluster_delete", args=[cluster.pk])


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_asks_for_confirmation(request, persona, external):
    response = request.getfixturevalue(persona).get(_url(external))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Type <code>{external.name}</code> to confirm" in html
    assert "Delete-Me-Secret-123" not in html


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_deletes_an_external_cluster(request, persona, external, project):
    response = request.getfixturevalue(persona).post(
        _url(external), {"confirm_name": external.name}
    )
    assert response.status_code == 302
    assert response.url == f"{reverse('clusters')}?project={project.pk}"
    assert not Cluster.objects.filter(pk=external.pk).exists()


def test_it_keeps_the_cluster_when_the_name_is_not_typed(owner_client, external):
    response = owner_client.post(_url(external), {"confirm_name": "something else"})
    assert response.status_code == 400
    assert f"Type {external.name} to confirm." in response.content.decode()
    assert Cluster.objects.filter(pk=external.pk).exists()


def test_it_forbids_read_only_members(viewer_client, external):
    assert viewer_client.get(_url(external)).status_code == 403
    assert viewer_client.post(_url(external), {"confirm_name": external.name}).status_code == 403
    assert Cluster.objects.filter(pk=external.pk).exists()


def test_it_answers_404_to_outsiders(outsider_client, external):
    assert outsider_client.get(_url(external)).status_code == 404
    assert outsider_client.post(_url(external), {"confirm_name": external.name}).status_code == 404
    assert Cluster.objects.filter(pk=external.pk).exists()


def test_it_stops_and_removes_a_local_cluster_through_the_supervisor(
    owner_client, project, settings, tmp_path
):
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    cluster = services.create_local_cluster(project, "scratch", "FREE")
    supervisor = Supervisor(settings.CLUSTERS_DIR)
    try:
        supervisor.reconcile_once()
        cluster.refresh_from_db()
        directory = provisioner.data_dir(settings.CLUSTERS_DIR, cluster.pk)
        pid = provisioner.read_record(directory).pid
        assert port_open(cluster.port)

        response = owner_client.post(_url(cluster), {"confirm_name": "scratch"}, follow=True)

        assert (
            "Cluster scratch deleted. The supervisor stops its server and removes its data."
            in response.content.decode()
        )
        report = supervisor.reconcile_once()
        assert report.removed == [cluster.pk]
        assert not provisioner.serves(pid, directory)
        assert not port_open(cluster.port)
        assert not directory.exists()
    finally:
        supervisor.stop_all()


@pytest.mark.parametrize("status", ["PENDING", "IN_PROGRESS", "CANCELING"])
def test_it_refuses_while_an_unfinished_job_uses_the_cluster(owner_client, owner, external, status):
    from jobs.models import Job

    job = Job.objects.create(
        project=external.project,
        created_by=owner,
        status=status,
        target_cluster=external,
        source_name="src",
        target_name=external.name,
    )
    response = owner_client.post(_url(external), {"confirm_name": external.name})
    assert response.status_code == 409
    assert f"cluster remote is used by job {job.pk}" in response.content.decode()
    assert Cluster.objects.filter(pk=external.pk).exists()


def test_it_deletes_once_the_job_using_it_is_final(owner_client, owner, external):
    from jobs.models import Job

    Job.objects.create(
        project=external.project,
        created_by=owner,
        status=Job.Status.SUCCESSFUL,
        source_cluster=external,
        source_name=external.name,
        target_name="dst",
    )
    response = owner_client.post(_url(external), {"confirm_name": external.name})
    assert response.status_code == 302
    assert not Cluster.objects.filter(pk=external.pk).exists()
