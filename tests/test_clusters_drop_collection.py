"""Drop Collection on the cluster page (console/collection_drops.py): Project Admins and
Organization Owners only, confirmed by typing the name, refused while a job that has not
finished owns the collection, logged as a cluster event shown on the cluster page. Against a
real Milvus Lite server."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import Cluster, ClusterEvent
from jobs.models import Job, JobCollection
from migrations_app.engine.ownership import OWNER_PROPERTY
from tests.jobs_support import count, fill, local_cluster
from tests.milvus import MilvusClient

pytestmark = pytest.mark.django_db

ROWS = 21


@pytest.fixture
def cluster(project, lite_server):
    fill(lite_server, "docs", ROWS)
    fill(lite_server, "keep", 3)
    cluster = local_cluster(project, lite_server, "acme-dst")
    cluster.server = lite_server
    return cluster


def drop_url(cluster: Cluster, name: str = "docs", db: str = "default") -> str:
    return reverse("cluster_collection_drop", args=[cluster.pk, db, name])


def card_url(cluster: Cluster, name: str = "docs") -> str:
    return reverse("cluster_collection", args=[cluster.pk, "default", name])


def owned_by(cluster: Cluster, job: Job, name: str = "docs") -> None:
    client = MilvusClient(uri=cluster.server.uri)
    client.alter_collection_properties(name, {OWNER_PROPERTY: job.pk})
    client.close()


def test_the_card_offers_drop_collection_to_a_manager(project_admin_client, cluster):
    card = project_admin_client.get(card_url(cluster), HTTP_HX_REQUEST="true").content.decode()
    assert f'href="{drop_url(cluster)}"' in card
    assert ">Drop Collection</a>" in card


def test_the_card_shows_a_viewer_why_not(viewer_client, cluster):
    card = viewer_client.get(card_url(cluster), HTTP_HX_REQUEST="true").content.decode()
    assert drop_url(cluster) not in card
    assert "disabled" in card
    assert (
        "Only Organization Owners and Project Admins can drop collections in project "
        "Default Project."
    ) in card


def test_it_asks_for_the_name(project_admin_client, cluster):
    page = project_admin_client.get(drop_url(cluster)).content.decode()
    assert "Type <code>docs</code> to confirm" in page
    assert count(cluster.server, "docs") == ROWS


def test_a_wrong_name_drops_nothing(project_admin_client, cluster):
    for typed in ("doc", "DOCS", "keep", ""):
        response = project_admin_client.post(drop_url(cluster), {"confirm_name": typed})
        assert response.status_code == 400
        errors = response.context["form"].errors["confirm_name"]
        expected = (
            "This field is required." if not typed else "Type docs to confirm: nothing was dropped."
        )
        assert errors == [expected]
    assert count(cluster.server, "docs") == ROWS
    assert not ClusterEvent.objects.exists()


def test_it_drops_the_collection_and_logs_it(project_admin_client, admin, cluster):
    response = project_admin_client.post(drop_url(cluster), {"confirm_name": "docs"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("cluster_detail", args=[cluster.pk])
    page = response.content.decode()
    assert f"Collection docs of database default dropped ({ROWS} rows)." in page
    assert count(cluster.server, "docs") == -1
    assert count(cluster.server, "keep") == 3
    event = ClusterEvent.objects.get()
    assert (event.cluster, event.user) == (cluster, admin)
    assert (
        event.message == f"{admin.email} dropped collection docs of database default ({ROWS} rows)"
    )
    assert event.message in page  # the cluster page's Events


def test_an_owner_may_drop_too(owner_client, cluster):
    owner_client.post(drop_url(cluster), {"confirm_name": "docs"})
    assert count(cluster.server, "docs") == -1


def test_a_viewer_gets_403_and_nothing_is_dropped(viewer_client, writer_client, cluster):
    for client in (viewer_client, writer_client):
        assert client.get(drop_url(cluster)).status_code == 403
        assert client.post(drop_url(cluster), {"confirm_name": "docs"}).status_code == 403
    assert count(cluster.server, "docs") == ROWS


def test_an_outsider_gets_404(outsider_client, cluster):
    assert outsider_client.post(drop_url(cluster), {"confirm_name": "docs"}).status_code == 404
    assert count(cluster.server, "docs") == ROWS


@pytest.mark.parametrize(
    "status", [Job.Status.IN_PROGRESS, Job.Status.PENDING, Job.Status.CANCELING]
)
def test_a_collection_an_unfinished_job_writes_is_refused(
    project_admin_client, project, cluster, status
):
    job = Job.objects.create(
        project=project, status=status, source_name="s", target_cluster=cluster, target_name="t"
    )
    owned_by(cluster, job)

    response = project_admin_client.post(drop_url(cluster), {"confirm_name": "docs"})

    assert response.status_code == 409
    assert response.context["form"].non_field_errors() == [
        f"Collection docs in database default is being written by job {job.pk}, which is "
        f"{job.get_status_display()}: cancel the job or wait until it ends, then drop it "
        "(nothing was dropped)."
    ]
    assert count(cluster.server, "docs") == ROWS
    assert not ClusterEvent.objects.exists()


def test_a_collection_of_a_finished_job_may_be_dropped_and_its_log_says_so(
    project_admin_client, admin, project, cluster
):
    job = Job.objects.create(
        project=project,
        status=Job.Status.FAILED,
        source_name="s",
        target_cluster=cluster,
        target_name="t",
    )
    incomplete = JobCollection.objects.create(
        job=job,
        source_db="default",
        source_name="docs",
        target_db="default",
        target_name="docs",
        status=JobCollection.Status.FAILED,
        target_state=JobCollection.TargetState.CREATED,
        checkpoint={"rows": ROWS},
        migrated_entities=ROWS,
    )
    owned_by(cluster, job)

    project_admin_client.post(drop_url(cluster), {"confirm_name": "docs"})

    assert count(cluster.server, "docs") == -1
    incomplete.refresh_from_db()
    assert incomplete.target_state == JobCollection.TargetState.DISCARDED
    assert (incomplete.checkpoint, incomplete.migrated_entities) == (None, 0)
    assert list(job.events.values_list("message", flat=True)) == [
        f"target collection default.docs was dropped by {admin.email} on the page of cluster "
        "acme-dst"
    ]


def test_a_missing_collection_says_so(project_admin_client, cluster):
    response = project_admin_client.post(drop_url(cluster, "gone"), {"confirm_name": "gone"})
    assert response.status_code == 404
    assert response.context["form"].non_field_errors() == [
        "Collection gone does not exist in database default on cluster acme-dst."
    ]
    response = project_admin_client.post(
        drop_url(cluster, "docs", db="nodb"), {"confirm_name": "docs"}
    )
    assert response.context["form"].non_field_errors() == [
        "Database nodb does not exist on cluster acme-dst."
    ]
    assert count(cluster.server, "docs") == ROWS


def test_an_unreachable_cluster_drops_nothing(project_admin_client, project, cluster):
    from console.clusters.lite_process import free_port

    port = free_port()
    Cluster.objects.filter(pk=cluster.pk).update(uri=f"http://127.0.0.1:{port}", port=port)

    response = project_admin_client.post(drop_url(cluster), {"confirm_name": "docs"})

    assert response.status_code == 503
    [message] = response.context["form"].non_field_errors()
    assert message.startswith(f"Cluster acme-dst cannot be reached: cannot reach 127.0.0.1:{port}")
    assert message.endswith("(nothing was dropped).")
    assert count(cluster.server, "docs") == ROWS


def test_a_stopped_cluster_drops_nothing(project_admin_client, cluster):
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.STOPPED)
    response = project_admin_client.post(drop_url(cluster), {"confirm_name": "docs"})
    assert response.status_code == 503
    assert response.context["form"].non_field_errors() == [
        "Cluster acme-dst is stopped: it must be running to drop a collection (nothing was "
        "dropped)."
    ]


def test_the_cluster_page_says_when_there_are_no_events(owner_client, cluster):
    page = owner_client.get(reverse("cluster_detail", args=[cluster.pk])).content.decode()
    assert "No events yet. Dropped collections are listed here." in page
