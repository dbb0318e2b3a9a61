"""manage.py start_migration: the service's rules from the command line; nothing is created on
bad input, and the job id is the last line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.clusters.lite_process import free_port
from console.models import Cluster
from jobs.models import Job, JobCollection
from tests.jobs_support import fill, local_cluster

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("start_migration", *args, stdout=out)
    return out.getvalue().splitlines()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as error:
        run(*args)
    assert not Job.objects.exists() and not JobCollection.objects.exists()
    return str(error.value)


@pytest.fixture(scope="module")
def servers(lite_pool):
    with lite_pool.lend() as source, lite_pool.lend() as target:
        fill(source, "docs", 20)
        fill(source, "notes", 5)
        fill(target, "taken", 1)
        yield source, target


@pytest.fixture
def clusters(project, servers):
    return (
        local_cluster(project, servers[0], "src", plan="SERVERLESS"),
        local_cluster(project, servers[1], "dst", plan="DEDICATED"),
    )


def test_it_starts_a_job_and_prints_its_id_last(owner, clusters):
    source, target = clusters
    lines = run(
        "--as",
        owner.email,
        "--source",
        source.pk,
        "--target",
        target.pk,
        "--collection",
        "docs=docs_v2",
        "--load",
    )
    job = Job.objects.get()
    assert lines[-1] == job.pk
    assert job.status == Job.Status.PENDING and job.load_after and job.created_by == owner
    collection = job.collections.get()
    assert (collection.source_name, collection.target_name) == ("docs", "docs_v2")
    assert collection.total_entities == 20
    assert collection.spec["name"] == "docs_v2"


def test_it_migrates_every_collection_of_the_database_without_collection(admin, clusters):
    source, target = clusters
    run("--as", admin.email, "--source", source.pk, "--target", target.pk)
    names = sorted(Job.objects.get().collections.values_list("source_name", flat=True))
    assert names == ["docs", "notes"]


def test_it_refuses_a_read_only_member(viewer, clusters):
    source, target = clusters
    message = refused("--as", viewer.email, "--source", source.pk, "--target", target.pk)
    assert (
        "Only Organization Owners and Project Admins can start a migration in project Default Project"
        in (message)
    )


def test_it_refuses_a_source_in_a_project_where_the_user_only_watches(
    attacker, other_project, clusters, servers
):
    source, _ = clusters
    theirs = local_cluster(other_project, servers[1], "theirs", plan="DEDICATED")

    message = refused("--as", attacker.email, "--source", source.pk, "--target", theirs.pk)

    assert message == (
        "Only Organization Owners and Project Admins can migrate data out of cluster src in "
        "project Default Project."
    )


def test_it_refuses_a_cluster_of_another_organization(outsider, clusters):
    source, target = clusters
    message = refused("--as", outsider.email, "--source", source.pk, "--target", target.pk)
    assert message == f"cluster {target.pk} not found"


@pytest.mark.parametrize(
    ("source_plan", "target_plan", "reason"),
    [
        ("FREE", "FREE", "a Free cluster cannot be a migration target"),
        ("SERVERLESS", "FREE", "a Free cluster cannot be a migration target"),
        ("DEDICATED", "FREE", "a Free cluster cannot be a migration target"),
        ("FREE", "SERVERLESS", "upgrade it to Serverless instead"),
        ("DEDICATED", "SERVERLESS", "a Dedicated cluster can only migrate to a Dedicated"),
    ],
)
def test_it_refuses_each_forbidden_plan_pair(owner, clusters, source_plan, target_plan, reason):
    source, target = clusters
    Cluster.objects.filter(pk=source.pk).update(plan=source_plan)
    Cluster.objects.filter(pk=target.pk).update(plan=target_plan)
    message = refused("--as", owner.email, "--source", source.pk, "--target", target.pk)
    assert reason in message


def test_it_refuses_a_database_that_does_not_exist(owner, clusters):
    source, target = clusters
    message = refused(
        "--as", owner.email, "--source", source.pk, "--target", target.pk, "--db", "nope"
    )
    assert message == "database nope does not exist on the source (cluster src)"


def test_it_reports_every_collection_problem_at_once(owner, clusters):
    source, target = clusters
    message = refused(
        "--as",
        owner.email,
        "--source",
        source.pk,
        "--target",
        target.pk,
        "--collection",
        "docs=taken",
        "--collection",
        "notes=9bad",
        "--collection",
        "ghost",
    )
    assert message.startswith("3 problems: ")
    assert "docs: collection taken already exists in database default of the target" in message
    assert "notes:" in message and "9bad" in message
    assert "collection ghost does not exist in database default of the source" in message


def test_it_refuses_the_same_target_name_twice(owner, clusters):
    source, target = clusters
    message = refused(
        "--as",
        owner.email,
        "--source",
        source.pk,
        "--target",
        target.pk,
        "--collection",
        "docs=same",
        "--collection",
        "notes=same",
    )
    assert "is chosen more than once in this request" in message


def test_it_says_when_the_source_cannot_be_reached(owner, project, clusters):
    _, target = clusters
    port = free_port()
    dead = Cluster.objects.create(
        project=project,
        name="dead",
        plan="DEDICATED",
        kind=Cluster.Kind.LOCAL,
        uri=f"http://127.0.0.1:{port}",
        port=port,
        status=Cluster.Status.RUNNING,
    )
    message = refused("--as", owner.email, "--source", dead.pk, "--target", target.pk)
    assert message.startswith(f"the source cannot be reached: cannot reach 127.0.0.1:{port}")


def test_it_refuses_an_unknown_user(clusters):
    source, target = clusters
    message = refused("--as", "nobody@x.test", "--source", source.pk, "--target", target.pk)
    assert message == "no active user with the email nobody@x.test"
