"""In Current Organization, Migrate to New Cluster: the name is asked and checked (live and on
Next); Migrate creates the Dedicated local cluster and a job that waits for it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import Cluster
from jobs.models import Job, JobCollection
from tests.wizard.helpers import cluster_on, draft_url_of, fill_source, schema_post


@pytest.fixture
def source(project, lite_factory) -> Cluster:
    server = lite_factory()
    fill_source(server.uri)
    return cluster_on(project, server, "src", Cluster.Plan.DEDICATED)


def _start_new(client, source) -> str:
    response = client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "new",
            "migration_type": "offline",
        },
    )
    return draft_url_of(response)


def test_it_asks_a_name_and_checks_it_live(owner_client, source, project):
    base = _start_new(owner_client, source)

    page = owner_client.get(base + "target/").content.decode()
    assert ">Cluster Name</label>" in page and ">Target Project</label>" in page
    assert ">Target Cluster</label>" not in page

    taken = owner_client.get(
        base + "target/cluster-name/", {"target_project": project.pk, "cluster_name": "src"}
    ).content.decode()
    bad = owner_client.get(
        base + "target/cluster-name/", {"target_project": project.pk, "cluster_name": "no way"}
    ).content.decode()
    free = owner_client.get(
        base + "target/cluster-name/", {"target_project": project.pk, "cluster_name": "fresh-1"}
    ).content.decode()

    assert "A cluster named &#x27;src&#x27; already exists in project Default Project" in taken
    assert "is not allowed: use letters, digits, hyphens and underscores" in bad
    assert "fresh-1 is free in project Default Project." in free


def test_it_refuses_a_taken_name_on_next(owner_client, source, project):
    base = _start_new(owner_client, source)

    response = owner_client.post(
        base + "target/", {"target_project": project.pk, "cluster_name": "SRC"}
    )

    assert response.status_code == 400
    assert "already exists in project Default Project" in response.content.decode()
    assert Cluster.objects.count() == 1


def test_it_creates_the_cluster_and_a_waiting_job_on_migrate(owner_client, source, project):
    base = _start_new(owner_client, source)
    response = owner_client.post(
        base + "target/", {"target_project": project.pk, "cluster_name": "fresh-1"}
    )
    assert response["Location"] == base + "collections/"
    owner_client.post(base + "collections/", {"collections": ["docs"]})

    page = owner_client.get(base + "schema/").content.decode()
    assert "new cluster fresh-1" in page
    response = owner_client.post(
        base + "schema/", schema_post("migrate", ["docs"], c0_dynamic_field="on")
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert response["Location"].endswith(f"&highlight={job.pk}")
    created = Cluster.objects.get(name="fresh-1")
    assert created.plan == Cluster.Plan.DEDICATED and created.kind == Cluster.Kind.LOCAL
    assert created.status == Cluster.Status.CREATING
    assert job.target_cluster == created and job.target_is_new
    assert JobCollection.objects.get(job=job).target_name == "docs"


def test_it_creates_nothing_when_the_schema_is_refused(owner_client, source, project):
    base = _start_new(owner_client, source)
    owner_client.post(base + "target/", {"target_project": project.pk, "cluster_name": "fresh-2"})
    owner_client.post(base + "collections/", {"collections": ["docs", "items"]})

    response = owner_client.post(
        base + "schema/",
        schema_post("migrate", ["twice", "twice"], c1_partition_key="category"),
    )

    assert response.status_code == 400
    assert "is chosen more than once in this request" in response.content.decode()
    assert not Job.objects.exists()
    assert not Cluster.objects.filter(name="fresh-2").exists()
