"""Sources, targets and walks through the wizard's steps, shared by the wizard's tests."""

from __future__ import annotations

import re

from django.urls import reverse
from pymilvus import DataType

from console.models import Cluster
from tests.milvus import MilvusClient

DOCS_ROWS = 12
ITEMS_ROWS = 3


def fill_source(uri: str, token: str | None = None, prefix: str = "") -> None:
    """`docs` (dynamic field on) and `items` (a VARCHAR partition key) in database default."""
    client = MilvusClient(uri=uri, token=token or "")
    docs, items = f"{prefix}docs", f"{prefix}items"
    for name in (docs, items):
        if client.has_collection(name):
            client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(docs, schema=schema, index_params=index)
    client.insert(
        docs,
        [{"id": i, "title": f"t{i}", "vector": [i / 10] * 8, "extra": i} for i in range(DOCS_ROWS)],
    )
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("sku", DataType.VARCHAR, is_primary=True, max_length=40)
    schema.add_field("category", DataType.VARCHAR, max_length=24, is_partition_key=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("embedding", index_type="FLAT", metric_type="L2")
    client.create_collection(items, schema=schema, index_params=index)
    client.insert(
        items,
        [{"sku": f"s{i}", "category": "c", "embedding": [0.5] * 4} for i in range(ITEMS_ROWS)],
    )
    client.flush(docs)
    client.flush(items)
    client.close()


def cluster_on(
    project, server, name: str, plan: str = Cluster.Plan.DEDICATED, kind: str = Cluster.Kind.LOCAL
) -> Cluster:
    """A running cluster row of `project` served by a real Milvus Lite `server`.

    EXTERNAL where the test runs the cluster supervisor, which would otherwise take the
    LOCAL row over (and serve it from its own, empty, data directory).
    """
    return Cluster.objects.create(
        project=project,
        name=name,
        plan=plan,
        kind=kind,
        uri=server.uri,
        port=server.port,
        status=Cluster.Status.RUNNING,
    )


def draft_url_of(response) -> str:
    """The /migrations/<draft>/ prefix of a redirect to a later step."""
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.match(r"^(/migrations/[0-9a-f-]{36}/)", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def walk_current_to_schema(
    client, source, target, collections, *, db="default", **target_step
) -> str:
    """Select Source → Select Target → Select Collections; returns the draft URL prefix.

    target_step: more fields of the target step (target_db="x", load_after="on")."""
    response = client.post(
        reverse("wizard_current"),
        {
            "source_cluster": source.pk,
            "source_db": db,
            "migrate_to": "existing",
            "migration_type": "offline",
        },
    )
    base = draft_url_of(response)
    assert response["Location"] == base + "target/"
    response = client.post(
        base + "target/",
        {"target_project": target.project_id, "target_cluster": target.pk, **target_step},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == base + "collections/"
    response = client.post(base + "collections/", {"collections": collections})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == base + "schema/"
    return base


def schema_post(action: str, names: list[str], **overrides) -> dict:
    """The Configure Schema form: per collection (prefix c<i>) its target name and settings.

    overrides: c0_target_name="x" style keys replace one value.
    """
    data = {"action": action}
    for i, name in enumerate(names):
        data[f"c{i}-target_name"] = name
        data[f"c{i}-description"] = ""
    for key, value in overrides.items():
        prefix, field = key.split("_", 1)
        data[f"{prefix}-{field}"] = value
    return data


def drop_source(uri: str, token: str, prefix: str) -> None:
    """Remove what fill_source made on a shared server (the session's standalone)."""
    client = MilvusClient(uri=uri, token=token)
    for name in (f"{prefix}docs", f"{prefix}items"):
        if client.has_collection(name):
            client.drop_collection(name)
    client.close()
