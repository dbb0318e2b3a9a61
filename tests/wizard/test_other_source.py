"""Select Source and Target (In Other Organization) against a Milvus Lite endpoint typed by
hand: the collections follow the Source Database (htmx), an unknown database is a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.milvus import MilvusClient
from tests.wizard.helpers import draft_url_of, fill_source


@pytest.fixture
def endpoint(lite_server) -> str:
    fill_source(lite_server.uri)
    client = MilvusClient(uri=lite_server.uri)
    client.create_database("second")
    client.close()
    client = MilvusClient(uri=lite_server.uri, db_name="second")
    client.create_collection("only_here", dimension=4)
    client.close()
    return lite_server.uri


def test_it_lists_the_collections_of_the_chosen_database(owner_client, endpoint):
    base = draft_url_of(
        owner_client.post(reverse("wizard_other"), {"uri": endpoint, "auth": "API_KEY"})
    )

    page = owner_client.get(base + "source/").content.decode()
    assert '<option value="default" selected>default</option>' in page
    assert '<option value="second">second</option>' in page
    assert ">docs</label>" in page and ">only_here</label>" not in page

    fragment = owner_client.get(
        base + "source/collections/", {"source_db": "second"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert ">only_here</label>" in fragment and ">docs</label>" not in fragment
    assert "0 entities" in fragment

    missing = owner_client.get(base + "source/collections/", {"source_db": "nope"})
    assert missing.status_code == 404
