"""Quotas (issue 15): local clusters per organization, unfinished jobs per project. Refused by
the service, so the cluster pages, the wizard, the API, the CLI and Retry all say the same:
409 in the API, the message on the page, CommandError (a non-zero exit) in the CLI."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from console import services
from console.errors import Conflict
from console.models import Cluster
from jobs.models import Job
from migrations_app import service
from tests.jobrows import job_clusters, make_job
from tests.jobs_support import fill, local_cluster
from tests.wizard.helpers import draft_url_of, schema_post, walk_current_to_schema

pytestmark = pytest.mark.django_db

CLUSTERS_FULL = (
    "organization Acme has 2 local cluster(s), the most it may have (2): delete one of them "
    "before creating another"
)
JOBS_FULL = (
    "project Default Project has 1 unfinished job(s), the most it may have at once (1): wait "
    "until some of them end, or cancel some, then try again"
)


@pytest.fixture(scope="module")
def servers(lite_pool):
    with lite_pool.lend() as source, lite_pool.lend() as target:
        fill(source, "docs", 20)
        yield source, target


@pytest.fixture
def clusters(project, servers):
    return (
        local_cluster(project, servers[0], "src", plan="SERVERLESS"),
        local_cluster(project, servers[1], "dst", plan="DEDICATED"),
    )


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] != 0
    return body["message"]


# --- local clusters per organization ------------------------------------------------------------


def test_it_refuses_a_local_cluster_over_the_quota_on_the_page(
    owner_client, project, other_project, clusters, settings, tmp_path
):
    settings.CLUSTERS_DIR = tmp_path
    settings.LOCAL_CLUSTERS_PER_ORG = 2  # src and dst are Acme's two

    # Counted over the organization: another project of Acme is refused too.
    response = owner_client.post(
        f"{reverse('cluster_create')}?project={other_project.pk}",
        {"name": "one-more", "plan": "FREE"},
    )

    assert response.status_code == 400
    assert CLUSTERS_FULL in response.content.decode()
    assert not Cluster.objects.filter(name="one-more").exists()


def test_it_creates_a_local_cluster_under_the_quota(
    owner_client, project, clusters, settings, tmp_path
):
    settings.CLUSTERS_DIR = tmp_path
    settings.LOCAL_CLUSTERS_PER_ORG = 3

    response = owner_client.post(
        f"{reverse('cluster_create')}?project={project.pk}", {"name": "third", "plan": "FREE"}
    )

    assert response.status_code == 302
    assert Cluster.objects.filter(project=project, kind=Cluster.Kind.LOCAL).count() == 3


def test_it_counts_only_the_organizations_own_local_clusters(
    outsider, globex_project, clusters, settings
):
    settings.LOCAL_CLUSTERS_PER_ORG = 2  # Acme is full; Globex has none

    cluster = services.create_local_cluster(globex_project, "globex-one", "FREE")

    assert cluster.project == globex_project


def test_it_refuses_a_local_cluster_over_the_quota_in_the_cli(project, clusters, settings):
    settings.LOCAL_CLUSTERS_PER_ORG = 2

    with pytest.raises(CommandError) as error:
        call_command(
            "register_cluster",
            "--project",
            project.pk,
            "--name",
            "one-more",
            "--plan",
            "FREE",
            "--local",
            stdout=StringIO(),
        )

    assert str(error.value) == CLUSTERS_FULL
    assert not Cluster.objects.filter(name="one-more").exists()


def test_it_refuses_a_new_dedicated_cluster_over_the_quota_in_the_api(
    owner, api_as, project, clusters, settings
):
    settings.LOCAL_CLUSTERS_PER_ORG = 2
    body = {
        "source": {"clusterId": clusters[0].pk},
        "destination": {"clusterName": "fresh", "projectId": project.pk},
        "dbCollections": [{"dbName": "default", "collections": [{"collectionName": "docs"}]}],
    }

    assert _error(api_as(owner).post("/v2/migrations/toNewDedicated", body), 409) == CLUSTERS_FULL
    assert not Cluster.objects.filter(name="fresh").exists() and not Job.objects.exists()


def test_it_refuses_a_new_cluster_over_the_quota_in_the_wizard(
    owner_client, project, clusters, settings
):
    settings.LOCAL_CLUSTERS_PER_ORG = 2
    source = clusters[0]
    response = owner_client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": "default",
            "migrate_to": "new",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)

    # On the step where New Cluster is chosen...
    response = owner_client.post(
        base + "target/", {"target_project": project.pk, "cluster_name": "fresh"}
    )
    assert response.status_code == 400
    assert CLUSTERS_FULL in response.content.decode()

    # ...and at Migrate, should a cluster be created meanwhile: back on the target step.
    settings.LOCAL_CLUSTERS_PER_ORG = 3
    response = owner_client.post(
        base + "target/", {"target_project": project.pk, "cluster_name": "fresh"}
    )
    assert response["Location"] == base + "collections/"
    owner_client.post(base + "collections/", {"collections": ["docs"]})
    settings.LOCAL_CLUSTERS_PER_ORG = 2
    response = owner_client.post(base + "schema/", schema_post("migrate", ["docs"]))

    assert response.status_code == 302 and response["Location"] == base + "target/"
    assert CLUSTERS_FULL in owner_client.get(base + "target/").content.decode()
    assert not Cluster.objects.filter(name="fresh").exists() and not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_one_of_many_simultaneous_creations_take_the_last_place(project, settings):
    settings.LOCAL_CLUSTERS_PER_ORG = 1
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def create(n: int) -> None:
        try:
            start.wait()
            services.create_local_cluster(project, f"racer-{n}", "FREE")
            outcomes.append("created")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (
        sorted(outcomes)
        == ["created"]
        + [
            "organization Acme has 1 local cluster(s), the most it may have (1): delete one of "
            "them before creating another"
        ]
        * 3
    )
    assert Cluster.objects.filter(project=project).count() == 1


# --- unfinished jobs per project ----------------------------------------------------------------


@pytest.fixture
def full_project(project, settings):
    """One Pending job in a project that may hold one unfinished job."""
    settings.UNFINISHED_JOBS_PER_PROJECT = 1
    return make_job(project, status=Job.Status.PENDING)


def test_it_refuses_a_job_over_the_quota_in_the_api(owner, api_as, clusters, full_project):
    body = {
        "source": {"clusterId": clusters[0].pk},
        "destination": {"clusterId": clusters[1].pk},
        "dbCollections": [{"dbName": "default"}],
    }

    assert _error(api_as(owner).post("/v2/migrations/toExisting", body), 409) == JOBS_FULL
    assert Job.objects.count() == 1


def test_it_refuses_a_job_over_the_quota_in_the_cli(owner, clusters, full_project):
    source, target = clusters
    with pytest.raises(CommandError) as error:
        call_command(
            "start_migration",
            "--as",
            owner.email,
            "--source",
            source.pk,
            "--target",
            target.pk,
            stdout=StringIO(),
        )

    assert str(error.value) == JOBS_FULL
    assert Job.objects.count() == 1


def test_it_refuses_a_job_over_the_quota_in_the_wizard(owner_client, clusters, full_project):
    source, target = clusters
    base = walk_current_to_schema(owner_client, source, target, ["docs"])

    response = owner_client.post(base + "schema/", schema_post("migrate", ["docs"]))

    assert response.status_code == 400  # the wizard's answer to every refusal on this step
    assert JOBS_FULL in response.content.decode()
    assert Job.objects.count() == 1


def test_it_refuses_a_retry_over_the_quota(owner, owner_client, api_as, project, full_project):
    failed = make_job(project, status=Job.Status.FAILED, **job_clusters(project))

    message = _error(api_as(owner).post(f"/v2/jobs/{failed.pk}/retry"), 409)
    assert message == JOBS_FULL
    response = owner_client.post(reverse("job_retry", args=[failed.pk]), follow=True)
    assert JOBS_FULL in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Job.Status.FAILED

    # Once the Pending job ends, the Retry goes through.
    Job.objects.filter(pk=full_project.pk).update(status=Job.Status.CANCELED)
    response = api_as(owner).post(f"/v2/jobs/{failed.pk}/retry")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == Job.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_one_of_many_simultaneous_migrations_take_the_last_place(
    owner, project, clusters, settings
):
    settings.UNFINISHED_JOBS_PER_PROJECT = 1
    source, target = clusters
    outcomes: list[str] = []
    start = threading.Barrier(3)

    def migrate(n: int) -> None:
        request = service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            target_db=f"copy{n}",
            collections=[service.CollectionChoice("docs")],
        )
        try:
            start.wait()
            service.start_migration(owner, request)
            outcomes.append("created")
        except Conflict as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=migrate, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", JOBS_FULL, JOBS_FULL]
    assert Job.objects.filter(project=project).count() == 1


def test_it_counts_only_unfinished_jobs(owner, api_as, project, clusters, settings):
    settings.UNFINISHED_JOBS_PER_PROJECT = 1
    for status in Job.FINAL_STATES:
        make_job(project, status=status)
    body = {
        "source": {"clusterId": clusters[0].pk},
        "destination": {"clusterId": clusters[1].pk},
        "dbCollections": [{"dbName": "default", "destDbName": "copy"}],
    }

    response = api_as(owner).post("/v2/migrations/toExisting", body)

    assert response.status_code == 200, response.content
