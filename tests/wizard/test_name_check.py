"""The live Target Collection Name check (htmx) and the findings shown before Migrate."""

from __future__ import annotations

import pytest

from console.models import Cluster
from tests.milvus import MilvusClient
from tests.wizard.helpers import cluster_on, fill_source, schema_post, walk_current_to_schema


@pytest.fixture
def walked(owner_client, project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill_source(source_server.uri)
    taken = MilvusClient(uri=target_server.uri)
    taken.create_collection("docs", dimension=4)
    taken.create_collection("docs_2", dimension=4)
    taken.close()
    source = cluster_on(project, source_server, "src", Cluster.Plan.SERVERLESS)
    target = cluster_on(project, target_server, "dst", Cluster.Plan.DEDICATED)
    return walk_current_to_schema(owner_client, source, target, ["docs", "items"])


def _check(client, base, index, names):
    params = {"index": index}
    params.update({f"c{i}-target_name": n for i, n in enumerate(names)})
    response = client.get(base + "schema/name/", params, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_it_explains_a_taken_name_and_suggests_a_free_one(owner_client, walked):
    html = _check(owner_client, walked, 0, ["docs", "items"])

    assert "Collection docs already exists in database default of the target." in html
    assert "A free name: <code>docs_3</code>" in html


def test_it_flags_a_name_repeated_within_the_migration(owner_client, walked):
    html = _check(owner_client, walked, 1, ["fresh", "fresh"])

    assert (
        "Target collection fresh in database default is chosen more than once in this request "
        "(for default.docs, default.items)." in html
    )
    assert "A free name: <code>fresh_2</code>" in html


def test_it_flags_an_invalid_name(owner_client, walked):
    html = _check(owner_client, walked, 0, ["9lives", "items"])

    assert "Target collection name &#x27;9lives&#x27; is invalid" in html


def test_it_confirms_a_free_name(owner_client, walked):
    html = _check(owner_client, walked, 0, ["docs_v2", "items"])

    assert "docs_v2 is free in database default of the cluster dst." in html


def test_it_lists_problems_and_warnings_before_migrate(owner_client, walked):
    # Saved choices (Back saves them): dynamic field off for docs, partition key kept on items.
    owner_client.post(
        walked + "schema/",
        schema_post("back", ["docs", "items"], c1_partition_key="category"),
    )
    response = owner_client.get(walked + "schema/review/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "docs: collection docs already exists in database default of the target" in html
    assert "Warning" in html
    assert "docs: " in html.split("Warning")[1] and "dynamic" in html.split("Warning")[1]
