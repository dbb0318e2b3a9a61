"""Browser fixtures: one Chromium for the browser tests, a new context (cookies, storage,
permissions, viewport of its own) for each test."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright
from pymilvus import DataType

from console.models import Cluster
from tests.milvus import MilvusClient

CHROMIUM = "/usr/bin/chromium"  # Debian's: the tests never download a browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNNING_CLUSTER_ROWS = 123


@pytest.fixture(scope="package")
def browser():
    """Chromium, launched once for the tests of this package. Package-scoped rather than
    session-scoped: while Playwright's sync API is open its event loop runs in this thread,
    which Django takes for async code; the tests outside this package keep Django's check."""
    with pytest.MonkeyPatch.context() as patch:
        # The ORM calls of these tests and of pytest-django's teardown, refused otherwise as
        # "async unsafe".
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def viewport() -> dict | None:
    """The page's viewport; None is Playwright's default (1280×720). A module overrides it."""
    return None


@pytest.fixture
def page_timeout() -> int:
    """Milliseconds a page action or expectation waits by default. A module overrides it."""
    return 15_000


@pytest.fixture
def browser_page(browser, viewport, page_timeout):
    context = browser.new_context(viewport=viewport) if viewport else browser.new_context()
    page = context.new_page()
    page.set_default_timeout(page_timeout)
    yield page
    context.close()


@pytest.fixture
def running_cluster(lite_factory, project, owner):
    """A LOCAL cluster whose Milvus Lite server runs, holding one collection of
    RUNNING_CLUSTER_ROWS rows."""
    server = lite_factory()
    client = MilvusClient(uri=server.uri)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection("e2e_articles", schema=schema, index_params=index)
    rows = RUNNING_CLUSTER_ROWS
    client.insert("e2e_articles", [{"id": i, "vector": [i / rows] * 8} for i in range(rows)])
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
