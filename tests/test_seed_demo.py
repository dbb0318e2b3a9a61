"""manage.py seed_demo: the demo organization, users and local clusters with real data."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from pymilvus import DataType

from console.clusters import lite_process, provisioner
from console.management.commands import seed_demo
from console.models import Cluster, Membership, Organization, Project, ProjectMembership, User
from tests.milvus import MilvusClient


def seed(*args: str) -> list[str]:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def clusters_dir(settings, tmp_path):
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    return settings.CLUSTERS_DIR


@pytest.fixture
def serve(clusters_dir):
    """Start the real server of a demo cluster on its port and data directory, as runclusters does."""
    started = []

    def start(cluster: Cluster) -> MilvusClient:
        directory = provisioner.data_dir(clusters_dir, cluster.pk)
        database = provisioner.database_identity(connection.settings_dict)
        proc = provisioner.start_server(directory, cluster.pk, cluster.port, database)
        started.append(proc)
        lite_process.wait_ready(cluster.port, proc)
        return MilvusClient(uri=cluster.uri)

    yield start
    for proc in started:
        lite_process.stop_process(proc)


def count(client: MilvusClient, name: str, **kwargs) -> int:
    client.load_collection(name)
    return int(client.query(name, output_fields=["count(*)"], **kwargs)[0]["count(*)"])


@pytest.mark.django_db
def test_it_creates_the_demo_tenancy_with_working_logins(clusters_dir, client):
    lines = seed()
    org = Organization.objects.get(name="Demo Org")
    assert lines[-1] == org.pk
    assert sorted(org.projects.values_list("name", flat=True)) == ["Analytics", "Default Project"]
    default = Project.objects.get(organization=org, name="Default Project")
    roles = {
        "owner@demo.local": ("ORG_OWNER", None),
        "admin@demo.local": ("ORG_MEMBER", "PROJECT_ADMIN"),
        "viewer@demo.local": ("ORG_MEMBER", "PROJECT_READ_ONLY"),
    }
    text = "\n".join(lines)
    for email, (org_role, project_role) in roles.items():
        password = seed_demo.USERS[email][0]
        assert f"{email}" in text and password in text
        user = User.objects.get(email=email)
        assert Membership.objects.get(user=user, organization=org).role == org_role
        pm = ProjectMembership.objects.filter(user=user, project=default).first()
        assert (pm.role if pm else None) == project_role
        response = client.post("/login/", {"email": email, "password": password})
        assert response.status_code == 302, email
        client.post("/logout/")
    clusters = {c.name: c for c in Cluster.objects.filter(project=default)}
    assert {n: (c.plan, c.kind) for n, c in clusters.items()} == {
        "demo-free": ("FREE", "LOCAL"),
        "demo-serverless": ("SERVERLESS", "LOCAL"),
        "demo-dedicated": ("DEDICATED", "LOCAL"),
    }
    assert len({c.port for c in clusters.values()}) == 3
    # The temporary servers are gone: the supervisor starts the real ones.
    assert not any(lite_process.port_open(c.port) for c in clusters.values())


@pytest.mark.django_db
def test_it_loads_realistic_collections_into_the_local_clusters(clusters_dir, serve):
    seed()
    serverless = serve(Cluster.objects.get(name="demo-serverless"))
    assert sorted(serverless.list_databases()) == ["catalog", "default"]
    assert sorted(serverless.list_collections()) == ["articles", "keywords"]

    articles = serverless.describe_collection("articles")
    fields = {f["name"]: f for f in articles["fields"]}
    assert fields["embedding"]["type"] == DataType.FLOAT_VECTOR
    assert fields["embedding"]["params"]["dim"] == 384
    assert {"title", "category", "published"} <= set(fields)
    index = serverless.describe_index("articles", serverless.list_indexes("articles")[0])
    assert (index["index_type"], index["metric_type"]) == ("HNSW", "COSINE")
    assert count(serverless, "articles") == 3000
    hit = serverless.query("articles", filter="id == 1", output_fields=["embedding", "category"])[0]
    assert abs(np.linalg.norm(hit["embedding"]) - 1.0) < 1e-3
    same = serverless.search("articles", [hit["embedding"]], limit=5, output_fields=["category"])[0]
    assert same[0]["id"] == 1

    keywords = {f["name"]: f for f in serverless.describe_collection("keywords")["fields"]}
    assert keywords["sparse_embedding"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert count(serverless, "keywords") == 2000

    serverless.use_database("catalog")
    assert sorted(serverless.list_collections()) == ["products", "reviews"]
    products = serverless.describe_collection("products")
    assert products["enable_dynamic_field"] is True
    assert [f["name"] for f in products["fields"] if f.get("is_partition_key")] == ["category"]
    assert count(serverless, "products") == 4000
    row = serverless.query("products", filter='sku == "SKU-000001"', output_fields=["*"])[0]
    assert isinstance(row["price"], float) and isinstance(row["tags"], list)

    reviews = serverless.describe_collection("reviews")
    assert reviews["auto_id"] is True
    assert {"y2024", "y2025"} <= set(serverless.list_partitions("reviews"))
    total = count(serverless, "reviews")
    per_year = [
        len(
            serverless.query(
                "reviews",
                filter="review_id >= 0",
                output_fields=["year"],
                partition_names=[p],
                limit=16384,
            )
        )
        for p in ("y2024", "y2025")
    ]
    assert sum(per_year) == total == 2500 and min(per_year) > 0

    free = serve(Cluster.objects.get(name="demo-free"))
    assert free.list_collections() == ["faq"] and count(free, "faq") == 1000
    dedicated = serve(Cluster.objects.get(name="demo-dedicated"))
    assert dedicated.list_collections() == []


@pytest.mark.django_db
def test_it_moves_a_stopped_cluster_whose_port_another_program_took(clusters_dir, lite_server):
    seed()
    free = Cluster.objects.get(name="demo-free")
    Cluster.objects.filter(pk=free.pk).update(port=lite_server.port, uri=lite_server.uri)
    lines = seed()
    free.refresh_from_db()
    assert free.port != lite_server.port and free.uri == f"http://127.0.0.1:{free.port}"
    assert f"  cluster demo-free (Free): {free.pk} on {free.uri}" in lines
    assert MilvusClient(uri=lite_server.uri).list_collections() == []


@pytest.mark.django_db
def test_it_is_idempotent_and_repairs_a_partial_collection(clusters_dir, serve):
    seed()
    first = {c.name: (c.pk, c.port) for c in Cluster.objects.all()}
    owner = User.objects.get(email="owner@demo.local")
    owner.set_password("someone-changed-it")
    owner.save()

    # While the supervisor serves a cluster, the seed writes through that server.
    serverless = serve(Cluster.objects.get(name="demo-serverless"))
    serverless.delete("articles", filter="id <= 100")
    lines = seed("--force")  # DEBUG is off in the tests: resetting a password needs --force
    assert "  default.articles: 2900 rows, reloading" in lines
    assert "  default.keywords: 2000 rows (already seeded)" in lines
    assert count(serverless, "articles") == 3000
    assert sorted(serverless.list_collections()) == ["articles", "keywords"]
    assert lite_process.port_open(Cluster.objects.get(name="demo-serverless").port)

    assert {c.name: (c.pk, c.port) for c in Cluster.objects.all()} == first
    assert Organization.objects.filter(name="Demo Org").count() == 1
    assert User.objects.filter(email__endswith="@demo.local").count() == 3
    assert Membership.objects.count() == 3 and ProjectMembership.objects.count() == 2
    assert User.objects.get(email="owner@demo.local").check_password("demo-owner-pass")


def test_it_makes_the_same_rows_from_the_same_seed():
    def rows(make):
        return make(np.random.default_rng([seed_demo.SEED, 7]), 50)

    for make in (seed_demo._articles, seed_demo._products, seed_demo._keywords):
        assert rows(make) == rows(make)


@pytest.mark.django_db
def test_it_refuses_to_reset_a_changed_password_outside_debug(clusters_dir, settings):
    seed()
    owner = User.objects.get(email="owner@demo.local")
    owner.set_password("someone-changed-it")
    owner.save()
    clusters = sorted(Cluster.objects.values_list("pk", flat=True))

    assert settings.DEBUG is False
    with pytest.raises(CommandError) as caught:
        seed()
    assert str(caught.value) == (
        "owner@demo.local has a password of its own: seed_demo resets demo passwords only "
        "with DEBUG on, or when forced (--force)"
    )
    owner.refresh_from_db()
    assert owner.check_password("someone-changed-it")
    assert sorted(Cluster.objects.values_list("pk", flat=True)) == clusters

    settings.DEBUG = True  # `make run`
    seed()
    owner.refresh_from_db()
    assert owner.check_password("demo-owner-pass")
