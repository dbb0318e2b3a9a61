"""In Chromium: log in through the form, open Clusters, open a running local cluster's detail page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console import throttle
from tests.conftest import PASSWORD
from tests.e2e.conftest import RUNNING_CLUSTER_ROWS


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
    expect(collection).to_contain_text(f"{RUNNING_CLUSTER_ROWS} entities")
    expect(page.get_by_role("table", name="Fields of e2e_articles")).to_contain_text("vector")
