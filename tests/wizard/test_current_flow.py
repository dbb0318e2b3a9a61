"""In Current Organization, through the Django test client against real Milvus Lite servers:
Select Source → Select Target → Select Collections → Configure Schema → Check only / Migrate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import Cluster
from jobs.models import Job, JobCollection
from migrations_app.models import WizardDraft
from tests.milvus import MilvusClient
from tests.wizard.helpers import (
    DOCS_ROWS,
    cluster_on,
    draft_url_of,
    fill_source,
    schema_post,
    walk_current_to_schema,
)

Plan = Cluster.Plan


@pytest.fixture
def source(project, lite_factory) -> Cluster:
    server = lite_factory()
    fill_source(server.uri)
    return cluster_on(project, server, "src", Plan.SERVERLESS)


@pytest.fixture
def target_server(lite_factory):
    return lite_factory()


@pytest.fixture
def target(project, target_server) -> Cluster:
    return cluster_on(project, target_server, "dst", Plan.DEDICATED)


def test_it_shows_the_first_dialog_with_the_source_clusters_and_databases(owner_client, source):
    response = owner_client.get(reverse("wizard_current"))

    html = response.content.decode()
    assert response.status_code == 200
    for label in ("Source Cluster", "Source Database", "Migrate to", "Migration Type"):
        assert f">{label}</" in html
    for radio in ("Existing Cluster", "New Cluster", "Offline Migration"):
        assert radio in html
    assert f'value="{source.pk}"' in html
    assert '<option value="default"' in html
    assert not WizardDraft.objects.exists()  # a draft exists only after Next


def test_it_walks_to_a_pending_job_and_lands_on_the_jobs_page(owner_client, owner, source, target):
    base = walk_current_to_schema(owner_client, source, target, ["docs", "items"])

    page = owner_client.get(base + "schema/").content.decode()
    assert "<legend>docs</legend>" in page and "<legend>items</legend>" in page
    assert "Target Collection Name" in page and "Advanced Settings" in page
    assert '<option value="category" selected>category</option>' in page

    form = schema_post(
        "migrate",
        ["docs_v2", "items"],
        c0_description="renamed",
        c0_dynamic_field="on",
        c1_partition_key="category",
    )
    response = owner_client.post(base + "schema/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/?project={job.project_id}&highlight={job.pk}"
    assert job.status == Job.Status.PENDING
    assert job.created_by == owner and job.source_cluster == source and job.target_cluster == target
    rows = list(JobCollection.objects.filter(job=job).order_by("position"))
    assert [(r.source_name, r.target_name) for r in rows] == [
        ("docs", "docs_v2"),
        ("items", "items"),
    ]
    assert rows[0].choices["description"] == "renamed"
    assert rows[0].total_entities == DOCS_ROWS
    # State cleared at the end: the draft keeps only which job it became (for Back).
    assert WizardDraft.objects.get().data == {"used_for_job": job.pk}

    # The browser's Back to any step (or a step's htmx request) lands on the job.
    for step in ("schema/", "collections/", "target/", "start/"):
        back = owner_client.get(base + step)
        assert back.status_code == 302, (step, back.status_code)
        assert back["Location"] == f"/jobs/{job.pk}/"
    name_check = owner_client.get(base + "schema/name/?index=0", headers={"HX-Request": "true"})
    assert name_check["HX-Redirect"] == f"/jobs/{job.pk}/"
    # Migrate again from a page left open: no second job.
    again = owner_client.post(base + "schema/", form)
    assert again["Location"] == f"/jobs/{job.pk}/" and Job.objects.count() == 1


def test_it_checks_only_and_creates_nothing(owner_client, source, target, target_server):
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    response = owner_client.post(base + "schema/", schema_post("check", ["docs"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "No problems found" in html
    # dynamic field left unticked: the dropped dynamic data is a warning, shown before Migrate
    assert "dynamic" in html.lower()
    assert not Job.objects.exists()
    assert MilvusClient(uri=target_server.uri).list_collections() == []


def test_it_warns_that_the_milvus_lite_target_drops_a_typed_description(
    owner_client, source, target
):
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    typed = owner_client.post(base + "schema/", schema_post("check", ["docs"], c0_description="x"))
    empty = owner_client.post(base + "schema/", schema_post("check", ["docs"]))

    warning = "does not keep descriptions: the collection&#x27;s description &quot;x&quot; will"
    assert typed.status_code == 200
    html = typed.content.decode()
    warnings = html[html.index('<div class="warning">') :]
    assert "docs: Milvus Lite " in warnings and warning in warnings
    assert "does not keep descriptions" not in empty.content.decode()


def test_it_keeps_the_choices_on_back_and_reload(owner_client, source, target):
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    response = owner_client.post(
        base + "schema/", schema_post("back", ["kept_name"], c0_description="kept text")
    )
    assert response["Location"] == base + "collections/"
    collections = owner_client.get(base + "collections/").content.decode()
    assert 'value="docs" id="coll-1" aria-describedby="coll-1-count" checked' in collections
    page = owner_client.get(base + "schema/").content.decode()
    assert 'value="kept_name"' in page and "kept text" in page
    start = owner_client.get(base + "start/").content.decode()
    assert f'value="{source.pk}" selected' in start


def test_it_migrates_into_a_new_target_database_and_loads_after(
    owner_client, source, target, target_server
):
    MilvusClient(uri=target_server.uri).create_database("archive")
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)
    page = owner_client.get(base + "target/").content.decode()
    assert ">Target Database</label>" in page and "Load after migration</label>" in page
    suggestions = owner_client.get(
        base + "target/databases/", {"target_cluster": target.pk}, headers={"HX-Request": "true"}
    ).content.decode()
    assert '<option value="archive">' in suggestions and "Databases of dst:" in suggestions

    base = walk_current_to_schema(
        owner_client, source, target, ["docs"], target_db="fresh_db", load_after="on"
    )
    schema = owner_client.get(base + "schema/").content.decode()
    assert "database <code>fresh_db</code>, loaded after migration" in schema
    response = owner_client.post(base + "schema/", schema_post("migrate", ["docs"]))

    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert (job.target_db, job.load_after) == ("fresh_db", True)
    assert job.collections.get().target_db == "fresh_db"
    # created by the job, not by the wizard
    assert "fresh_db" not in MilvusClient(uri=target_server.uri).list_databases()


def test_it_refuses_an_invalid_target_database_name_on_the_target_step(
    owner_client, source, target
):
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)

    response = owner_client.post(
        base + "target/",
        {"target_project": target.project_id, "target_cluster": target.pk, "target_db": "9-x"},
    )

    assert response.status_code == 400
    assert "Target database name &#x27;9-x&#x27; is invalid" in response.content.decode()
    assert "target_db" not in WizardDraft.objects.get().data


# --- bad input: a clear message on its step, nothing created ------------------------------

FORBIDDEN_CELLS = [
    (Plan.FREE, Plan.FREE, "a Free cluster cannot be a migration target"),
    (Plan.FREE, Plan.SERVERLESS, "upgrade it to Serverless instead"),
    (Plan.SERVERLESS, Plan.FREE, "a Free cluster cannot be a migration target"),
    (Plan.DEDICATED, Plan.FREE, "a Free cluster cannot be a migration target"),
    (Plan.DEDICATED, Plan.SERVERLESS, "a Dedicated cluster can only migrate to a Dedicated"),
]


@pytest.mark.parametrize(("source_plan", "target_plan", "reason"), FORBIDDEN_CELLS)
def test_it_refuses_each_forbidden_plan_pair_on_the_target_step(
    owner_client, project, lite_factory, source_plan, target_plan, reason
):
    server = lite_factory()
    fill_source(server.uri)
    src = cluster_on(project, server, "src", source_plan)
    refused = cluster_on(project, lite_factory(), "refused", target_plan)
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": src.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)

    page = owner_client.get(base + "target/").content.decode()
    assert f'value="{refused.pk}" disabled' in page
    assert reason in page

    response = owner_client.post(
        base + "target/", {"target_project": project.pk, "target_cluster": refused.pk}
    )

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert "target_cluster_id" not in WizardDraft.objects.get().data
    assert not Job.objects.exists()


def test_it_refuses_an_empty_selection_on_the_collections_step(owner_client, source, target):
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)
    owner_client.post(
        base + "target/", {"target_project": target.project_id, "target_cluster": target.pk}
    )

    page = owner_client.get(base + "collections/").content.decode()
    assert '<label for="coll-1">docs</label>' in page
    assert f"{DOCS_ROWS} entities" in page

    response = owner_client.post(base + "collections/", {"action": "next"})

    assert response.status_code == 400
    assert "Choose at least one collection to migrate." in response.content.decode()
    assert not Job.objects.exists()


def test_it_shows_a_name_taken_on_the_target_on_its_collection(
    owner_client, source, target, target_server
):
    taken = MilvusClient(uri=target_server.uri)
    taken.create_collection("docs", dimension=4)
    taken.close()
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    for action in ("check", "migrate"):
        response = owner_client.post(base + "schema/", schema_post(action, ["docs"]))

        html = response.content.decode()
        assert response.status_code == 400
        assert "docs: collection docs already exists in database default of the target" in html
    assert not Job.objects.exists()
    assert MilvusClient(uri=target_server.uri).list_collections() == ["docs"]


def test_it_shows_a_name_repeated_within_the_request(owner_client, source, target):
    base = walk_current_to_schema(owner_client, source, target, ["docs", "items"])

    response = owner_client.post(
        base + "schema/", schema_post("migrate", ["same", "same"], c1_partition_key="category")
    )

    html = response.content.decode()
    assert response.status_code == 400
    # One error, one message: under the first collection it names, counted once below.
    assert html.count("is chosen more than once in this request") == 1
    fieldset = html[html.index("<legend>docs</legend>") : html.index("<legend>items</legend>")]
    assert "is chosen more than once in this request" in fieldset
    assert (
        "1 problem</strong> must be fixed before Migrate (shown at their collections above)."
        in html
    )
    assert not Job.objects.exists()


def test_it_shows_an_invalid_name(owner_client, source, target):
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    response = owner_client.post(base + "schema/", schema_post("migrate", ["1-bad name"]))

    assert response.status_code == 400
    assert "is invalid: use letters, digits and underscores" in response.content.decode()
    assert not Job.objects.exists()


def test_it_sends_a_refusal_about_the_target_back_to_the_target_step(owner_client, source, target):
    base = walk_current_to_schema(owner_client, source, target, ["docs"])
    Cluster.objects.filter(pk=target.pk).update(status=Cluster.Status.STOPPED)

    response = owner_client.post(base + "schema/", schema_post("migrate", ["docs"]))

    assert response.status_code == 302 and response["Location"] == base + "target/"
    page = owner_client.get(base + "target/").content.decode()
    assert "target cluster dst is stopped: it must be running to receive a migration" in page
    assert f'value="{target.pk}" disabled' in page
    assert not Job.objects.exists()


def test_it_lists_the_clusters_of_the_chosen_target_project(
    owner_client, source, target, other_project, lite_factory
):
    elsewhere = cluster_on(other_project, lite_factory(), "analytics-dst", Plan.DEDICATED)
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)

    html = owner_client.get(
        base + "target/clusters/", {"target_project": other_project.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()

    assert f'value="{elsewhere.pk}"' in html and f'value="{target.pk}"' not in html
    response = owner_client.post(
        base + "target/", {"target_project": other_project.pk, "target_cluster": elsewhere.pk}
    )
    assert response["Location"] == base + "collections/"
    assert WizardDraft.objects.get().data["target_project_id"] == other_project.pk
