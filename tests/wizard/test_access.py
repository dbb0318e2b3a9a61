"""Role and tenancy of the wizard: read-only members see why they cannot start one and get 403
on every step; outsiders guessing cluster, project or draft ids get 404; a draft is its owner's
alone; abandoned drafts expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.models import Cluster
from jobs.models import Job
from migrations_app.models import WizardDraft
from tests.conftest import _client_for
from tests.wizard.helpers import cluster_on, fill_source, schema_post, walk_current_to_schema

CURRENT_STEPS = ["start/", "target/", "collections/", "schema/"]
STEPS = [*CURRENT_STEPS, "connect/", "source/"]


@pytest.fixture
def clusters(project, lite_factory):
    server = lite_factory()
    fill_source(server.uri)
    return (
        cluster_on(project, server, "src", Cluster.Plan.SERVERLESS),
        cluster_on(project, lite_factory(), "dst", Cluster.Plan.DEDICATED),
    )


def test_it_shows_both_entries_to_owners_and_admins(owner_client, project_admin_client):
    for client in (owner_client, project_admin_client):
        html = client.get(reverse("migrations")).content.decode()
        assert f'href="{reverse("wizard_current")}">In Current Organization</a>' in html
        assert f'href="{reverse("wizard_other")}">In Other Organization</a>' in html


def test_it_shows_a_read_only_member_why_not(viewer_client):
    response = viewer_client.get(reverse("migrations"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'disabled aria-describedby="why-current">In Current Organization</button>' in html
    assert 'disabled aria-describedby="why-other">In Other Organization</button>' in html
    assert (
        "Only Organization Owners and Project Admins can start a migration in project "
        "Default Project." in html
    )


def test_it_answers_403_to_a_read_only_member_posting_the_first_steps(viewer_client, clusters):
    source, target = clusters
    for url, data in (
        (
            reverse("wizard_current"),
            {
                "source_cluster": source.pk,
                "source_db": "default",
                "migrate_to": "existing",
                "migration_type": "offline",
            },
        ),
        (reverse("wizard_other"), {"uri": source.uri, "auth": "API_KEY", "api_key": "k"}),
    ):
        assert viewer_client.post(url, data).status_code == 403
        assert viewer_client.get(url).status_code == 403
    assert not WizardDraft.objects.exists()


def test_it_answers_403_on_every_later_step_once_the_user_is_read_only(
    admin, project_admin_client, clusters, project
):
    source, target = clusters
    base = walk_current_to_schema(project_admin_client, source, target, ["docs"])
    admin.project_memberships.update(role="PROJECT_READ_ONLY")

    for step in CURRENT_STEPS:
        assert project_admin_client.get(base + step).status_code == 403, step
        assert project_admin_client.post(base + step, {"action": "next"}).status_code == 403
    response = project_admin_client.post(base + "schema/", schema_post("migrate", ["docs"]))
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_it_hides_another_users_draft(owner, owner_client, admin, clusters):
    source, target = clusters
    base = walk_current_to_schema(owner_client, source, target, ["docs"])
    other = _client_for(admin)  # a Project Admin of the same project, still not the owner

    for step in STEPS + ["schema/review/", "schema/name/?index=0", "target/clusters/"]:
        assert other.get(base + step).status_code == 404, step
    response = other.post(base + "schema/", schema_post("migrate", ["docs"]))
    assert response.status_code == 404
    assert not Job.objects.exists()
    assert WizardDraft.objects.get().user == owner


def test_it_answers_404_to_outsiders_guessing_ids(outsider_client, owner_client, clusters, project):
    source, target = clusters
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    assert outsider_client.get(base + "schema/").status_code == 404
    response = outsider_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    assert response.status_code == 404
    assert (
        outsider_client.get(
            reverse("wizard_source_databases") + f"?source_cluster={source.pk}"
        ).status_code
        == 404
    )
    assert WizardDraft.objects.count() == 1  # the owner's only


def test_it_answers_404_to_a_target_project_or_cluster_of_another_organization(
    owner_client, outsider, clusters, lite_factory
):
    source, _ = clusters
    foreign_project = outsider.memberships.get().organization.projects.get()
    foreign = cluster_on(foreign_project, lite_factory(), "theirs", Cluster.Plan.DEDICATED)
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = response["Location"].removesuffix("target/")

    assert (
        owner_client.post(
            base + "target/", {"target_project": foreign_project.pk, "target_cluster": ""}
        ).status_code
        == 404
    )
    assert (
        owner_client.post(
            base + "target/", {"target_project": source.project_id, "target_cluster": foreign.pk}
        ).status_code
        == 404
    )
    assert "target_cluster_id" not in WizardDraft.objects.get().data


def test_it_expires_abandoned_drafts(owner_client, clusters):
    source, target = clusters
    base = walk_current_to_schema(owner_client, source, target, ["docs"])
    WizardDraft.objects.update(updated_at=timezone.now() - timedelta(hours=25))

    assert owner_client.get(base + "schema/").status_code == 404
    owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    assert WizardDraft.objects.count() == 1  # the old one is gone, the new one is live
    assert WizardDraft.objects.live().count() == 1


def test_it_needs_csrf_on_every_step(owner, clusters):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    source, _ = clusters
    response = client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )

    assert response.status_code == 403
    assert not WizardDraft.objects.exists()


# --- the source is a manage right (issue 15) -----------------------------------------------

SOURCE_REFUSAL = (
    "Only Organization Owners and Project Admins can migrate data out of cluster src in "
    "project Default Project."
)


def test_it_lists_a_source_the_user_only_watches_disabled_with_the_reason(
    attacker_client, clusters, other_project, lite_factory
):
    source, _ = clusters
    theirs = cluster_on(other_project, lite_factory(), "theirs", Cluster.Plan.DEDICATED)

    html = attacker_client.get(reverse("wizard_current")).content.decode()

    assert f'<option value="{source.pk}" disabled>src (Serverless) — not available: ' in html
    assert f"<strong>src</strong> (Serverless) cannot be chosen: {SOURCE_REFUSAL}" in html
    assert f'<option value="{theirs.pk}" selected>theirs (Dedicated)</option>' in html
    databases = reverse("wizard_source_databases") + f"?source_cluster={source.pk}"
    assert attacker_client.get(databases).status_code == 403


def test_it_refuses_a_source_the_user_only_watches_posted_anyway(
    attacker_client, clusters, other_project, lite_factory
):
    source, _ = clusters
    cluster_on(other_project, lite_factory(), "theirs", Cluster.Plan.DEDICATED)
    form = {
        "source_cluster": source.pk,
        "source_db": "default",
        "migrate_to": "existing",
        "migration_type": "offline",
    }

    response = attacker_client.post(reverse("wizard_current"), form)

    assert response.status_code == 400
    assert f'<p class="field-error" role="alert">{SOURCE_REFUSAL}</p>' in response.content.decode()
    assert not WizardDraft.objects.exists() and not Job.objects.exists()


def test_it_refuses_to_migrate_once_the_user_only_watches_the_source(
    admin, project_admin_client, clusters, other_project, lite_factory
):
    # Project Admin of both projects walks S → T, then becomes Read-Only in S.
    source, _ = clusters
    admin.project_memberships.create(project=other_project, role="PROJECT_ADMIN")
    theirs = cluster_on(other_project, lite_factory(), "theirs", Cluster.Plan.DEDICATED)
    base = walk_current_to_schema(project_admin_client, source, theirs, ["docs"])
    admin.project_memberships.filter(project=source.project).update(role="PROJECT_READ_ONLY")

    response = project_admin_client.post(base + "schema/", schema_post("migrate", ["docs"]))

    assert response.status_code == 403
    assert SOURCE_REFUSAL in response.content.decode()
    assert not Job.objects.exists()
    collections = project_admin_client.get(base + "collections/")
    assert collections["Location"] == base + "start/"
    assert SOURCE_REFUSAL in project_admin_client.get(base + "start/").content.decode()
