"""Cluster detail (/clusters/<id>/): facts and, per database, each collection's entity count,
fields and indexes read live; never a credential."""

from __future__ import annotations

import re
import secrets

import pytest
from django.urls import reverse
from pymilvus import DataType

from console.clusters.lite_process import HOST, free_port
from console.models import Cluster
from tests.milvus import MilvusClient


@pytest.fixture
def served(lite_server):
    """A Milvus Lite with `docs` in default and a partition-key collection in `catalog`."""
    client = MilvusClient(uri=lite_server.uri)
    client.create_collection("docs", dimension=8)
    client.insert("docs", [{"id": i, "vector": [i / 10] * 8} for i in range(12)])
    client.create_database("catalog")
    client.close()
    client = MilvusClient(uri=lite_server.uri, db_name="catalog")
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("sku", DataType.VARCHAR, is_primary=True, max_length=40)
    schema.add_field("category", DataType.VARCHAR, max_length=24, is_partition_key=True)
    schema.add_field("note", DataType.VARCHAR, max_length=200, nullable=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=16)
    index = client.prepare_index_params()
    index.add_index(
        "embedding", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 40}
    )
    client.create_collection("items", schema=schema, index_params=index)
    client.insert(
        "items",
        [
            {"sku": f"s{i}", "category": "c", "note": None, "embedding": [0.5] * 16}
            for i in range(3)
        ],
    )
    client.close()
    return lite_server


@pytest.fixture
def cluster(project, served) -> Cluster:
    cluster = Cluster(
        project=project,
        name="prod",
        plan=Cluster.Plan.SERVERLESS,
        kind=Cluster.Kind.EXTERNAL,
        uri=served.uri,
        status=Cluster.Status.RUNNING,
    )
    # Milvus Lite ignores tokens: a key is stored only to prove it never shows.
    cluster.set_credentials(token=f"sk-{secrets.token_hex(12)}")
    cluster.save()
    return cluster


def _url(cluster: Cluster) -> str:
    return reverse("cluster_detail", args=[cluster.pk])


CARD = re.compile(
    r'<article class="collection" aria-busy="true" hx-get="([^"]+)".*?</article>', re.S
)


def _cards(client, html: str) -> str:
    """The page as a browser shows it once htmx has fetched every collection's card."""
    return CARD.sub(lambda m: client.get(m.group(1)).content.decode(), html)


def _page(client, cluster: Cluster) -> str:
    return _cards(client, client.get(_url(cluster)).content.decode())


def _section(html: str, title: str) -> str:
    start = html.index(title)
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client", "viewer_client"])
def test_it_shows_each_collection_with_count_fields_and_indexes(request, persona, cluster, served):
    client = request.getfixturevalue(persona)
    response = client.get(_url(cluster))

    assert response.status_code == 200
    html = _cards(client, response.content.decode())
    catalog = _section(html, "Database <code>catalog</code>")
    milvus = MilvusClient(uri=served.uri, db_name="catalog")
    stats = milvus.get_collection_stats("items")
    index = milvus.describe_index("items", "embedding")
    milvus.close()
    count = int(stats["row_count"])
    entities = f"{count:,} entit{'y' if count == 1 else 'ies'}"
    assert f'items <span class="muted">· {entities}</span>' in catalog
    assert '<td data-label="Field" class="cell-title"><code>sku</code></td>' in catalog
    assert '<td data-label="Type">VARCHAR</td>' in catalog and "max_length 40" in catalog
    assert "partition key" in catalog
    assert "dim 16" in catalog and '<td data-label="Type">FLOAT_VECTOR</td>' in catalog
    assert (
        f'<td data-label="Index Type">{index["index_type"]}</td>'
        f'<td data-label="Metric">{index["metric_type"]}</td>'
    ) in catalog
    default = _section(html, "Database <code>default</code>")
    assert 'docs <span class="muted">· 12 entities</span>' in default


def test_it_shows_primary_key_and_nullable_per_field(owner_client, cluster):
    html = _page(owner_client, cluster)
    items = _section(html, "Database <code>catalog</code>")
    sku = items[items.index("<code>sku</code>") :]
    sku = sku[: sku.index("</tr>")]
    note = items[items.index("<code>note</code>") :]
    note = note[: note.index("</tr>")]
    assert '<td data-label="Primary Key">Yes</td>' in sku
    assert sku.endswith('<td data-label="Nullable"><span class="muted">No</span></td>\n      ')
    assert note.endswith('<td data-label="Nullable">Yes</td>\n      ')


def test_it_shows_each_collections_partitions_with_counts_and_its_load_state(owner_client, cluster):
    milvus = MilvusClient(uri=cluster.uri)
    milvus.create_partition("docs", "p2024")
    milvus.insert(
        "docs", [{"id": 100 + i, "vector": [0.3] * 8} for i in range(5)], partition_name="p2024"
    )
    milvus.release_collection("docs")
    milvus.close()

    html = _page(owner_client, cluster)

    default = _section(html, "Database <code>default</code>")
    parts = default[default.index('aria-label="Partitions of docs"') :]
    parts = parts[: parts.index("</table>")]
    assert '<code>_default</code></td><td data-label="Entities" class="num">12</td>' in parts
    assert '<code>p2024</code></td><td data-label="Entities" class="num">5</td>' in parts
    assert "<dt>Partitions</dt>\n    <dd>2</dd>" in default
    assert 'data-load-state="NotLoad">Not loaded</span>' in default
    items = _section(html, "Database <code>catalog</code>")
    assert 'data-load-state="Loaded">Loaded</span>' in items
    assert "managed by Milvus by partition key <code>category</code>" in items
    assert 'aria-label="Partitions of items"' not in items


def test_it_shows_the_facts_but_never_the_credentials(owner_client, cluster):
    html = owner_client.get(_url(cluster)).content.decode()
    facts = _section(html, "<h2>Cluster</h2>")
    assert f"<code>{cluster.pk}</code>" in facts
    assert "Serverless" in facts and "External" in facts
    assert f"<code>{cluster.uri}</code>" in facts
    assert 'data-status="RUNNING"' in facts
    assert "milvus_lite-" in facts
    assert "API Key" in facts
    assert cluster.credentials["token"] not in html


def test_it_says_why_a_read_only_member_cannot_delete_the_cluster(viewer_client, project):
    stopped = Cluster.objects.create(
        project=project, name="old", uri="http://127.0.0.1:1", status=Cluster.Status.STOPPED
    )
    html = viewer_client.get(_url(stopped)).content.decode()
    assert reverse("cluster_delete", args=[stopped.pk]) not in html
    assert 'disabled aria-describedby="why-delete">Delete Cluster</button>' in html
    assert (
        "Only Organization Owners and Project Admins can delete clusters in project "
        "Default Project." in html
    )


def test_it_answers_404_to_outsiders(outsider_client, cluster):
    assert outsider_client.get(_url(cluster)).status_code == 404


def test_it_answers_404_for_an_unknown_cluster(owner_client, db):
    response = owner_client.get(reverse("cluster_detail", args=["in01-0123456789abcdef"]))
    assert response.status_code == 404


def test_it_offers_delete_only_to_owners_and_admins(
    owner_client, project_admin_client, viewer_client, cluster
):
    delete = reverse("cluster_delete", args=[cluster.pk])
    assert delete in owner_client.get(_url(cluster)).content.decode()
    assert delete in project_admin_client.get(_url(cluster)).content.decode()
    assert delete not in viewer_client.get(_url(cluster)).content.decode()


def test_it_explains_an_unreachable_cluster(owner_client, project):
    port = free_port()
    dead = Cluster.objects.create(
        project=project,
        name="gone",
        plan="FREE",
        kind=Cluster.Kind.EXTERNAL,
        uri=f"http://{HOST}:{port}",
        status=Cluster.Status.RUNNING,
    )

    response = owner_client.get(_url(dead))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="UNREACHABLE"' in html
    assert f"Cannot read this cluster: cannot reach {HOST}:{port}" in html


def test_it_reads_a_cluster_with_authorization_on(owner_client, project, standalone):
    name = f"detail_{secrets.token_hex(4)}"
    milvus = MilvusClient(uri=standalone.uri, token=standalone.token)
    milvus.create_collection(name, dimension=4)
    try:
        cluster = Cluster(
            project=project,
            name="secured",
            plan="DEDICATED",
            kind=Cluster.Kind.EXTERNAL,
            uri=standalone.uri,
            status=Cluster.Status.RUNNING,
        )
        cluster.set_credentials(token=standalone.token)
        cluster.save()

        html = _page(owner_client, cluster)

        assert f'{name} <span class="muted">· 0 entities' in html
        assert milvus.get_server_version() in html
        assert standalone.token not in html
    finally:
        milvus.drop_collection(name)
        milvus.close()


def test_it_polls_while_the_cluster_is_being_created(owner_client, project):
    creating = Cluster.objects.create(
        project=project, name="new", plan="FREE", kind=Cluster.Kind.LOCAL, port=free_port()
    )

    html = owner_client.get(_url(creating)).content.decode()

    assert f'hx-get="{reverse("cluster_status", args=[creating.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert 'data-status="CREATING"' in html


def test_it_does_not_poll_a_running_cluster(owner_client, cluster):
    assert 'hx-trigger="every 2s"' not in owner_client.get(_url(cluster)).content.decode()


def test_it_checks_a_stored_endpoint_again_on_every_view(
    outsider_client, globex_project, local_cluster, resolver
):
    """Registered while its name answered a public address; the name now answers 127.0.0.1,
    where the port is one of the console's local clusters. The page refuses, never reads it."""
    resolver.answers["rebind.attacker.example"] = [["127.0.0.1"]]
    stored = Cluster.objects.create(
        project=globex_project,
        name="rebound",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri=f"http://rebind.attacker.example:{local_cluster.port}",
        status=Cluster.Status.RUNNING,
    )

    for page in (_url(stored), f"{reverse('clusters')}?project={globex_project.pk}"):
        html = outsider_client.get(page).content.decode()
        assert "is the console&#x27;s own host on a port it keeps for its local clusters" in html
        assert "payroll" not in html
    assert resolver.lookups == ["rebind.attacker.example"] * 2


def test_it_answers_at_once_and_reads_each_collection_apart(owner_client, cluster):
    """The page lists the collections by name; each card is its own request (htmx, on load),
    so a collection whose description scans rows never holds the page."""
    html = owner_client.get(_url(cluster)).content.decode()

    cards = CARD.findall(html)
    assert cards == [
        reverse("cluster_collection", args=[cluster.pk, "default", "docs"]),
        reverse("cluster_collection", args=[cluster.pk, "catalog", "items"]),
    ]
    assert "entities" not in html
    assert 'hx-trigger="load"' in html


def test_it_says_why_a_collection_cannot_be_read(owner_client, cluster):
    url = reverse("cluster_collection", args=[cluster.pk, "default", "vanished"])
    html = owner_client.get(url).content.decode()
    assert (
        "Cannot read collection vanished: collection vanished does not exist in database default"
        in html
    )


def test_it_answers_404_to_outsiders_asking_for_a_collection(outsider_client, cluster):
    url = reverse("cluster_collection", args=[cluster.pk, "default", "docs"])
    assert outsider_client.get(url).status_code == 404
