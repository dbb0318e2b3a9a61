"""In Chromium: log in through the form, open Clusters, open a running local cluster's detail page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright
from pymilvus import DataType, MilvusClient

from console import throttle
from console.models import Cluster
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROWS = 123


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls pytest-django makes
    # at teardown would otherwise be refused as "async unsafe".
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def running_cluster(lite_factory, project, owner):
    """A LOCAL cluster whose Milvus Lite server runs, holding one collection of ROWS rows."""
    server = lite_factory()
    client = MilvusClient(uri=server.uri)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection("e2e_articles", schema=schema, index_params=index)
    client.insert("e2e_articles", [{"id": i, "vector": [i / ROWS] * 8} for i in range(ROWS)])
    client.flush("e2e_articles")
    client.close()
    return Cluster.objects.create(
        project=project,
        name="e2e-local",
        plan=Cluster.Plan.SERVERLESS,
        kind=Cluster.Kind.LOCAL,
        uri=server.uri,
        port=server.port,
        status=Cluster.Status.RUNNING,
        created_by=owner,
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_logs_in_and_shows_a_clusters_collections(
    live_server, browser_page, owner, running_cluster
):
    throttle.reset(owner.email, "127.0.0.1")
    page = browser_page
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/clusters/"))
    nav = page.get_by_role("complementary", name="Main")
    for name in ("Clusters", "API Keys"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="e2e-local")
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text(running_cluster.uri)

    row.get_by_role("link", name="e2e-local").click()
    expect(page).to_have_url(re.compile(rf"/clusters/{running_cluster.pk}/$"))
    expect(page.get_by_role("heading", name="e2e-local", level=1)).to_be_visible()
    collection = page.get_by_role("heading", name=re.compile(r"^e2e_articles"), level=3)
    expect(collection).to_contain_text(f"{ROWS} entities")
    expect(page.get_by_role("table", name="Fields of e2e_articles")).to_contain_text("vector")
