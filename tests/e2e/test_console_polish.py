"""In Chromium, what a new user trips over (issue 10): the project switcher on a detail page,
the user menu, the API key's copy button and delete dialog, and the layout at 1366 and 420 px
with a 64-character cluster name. Screenshots are kept in var/test-artifacts/."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from console.models import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = settings.VAR_DIR / "test-artifacts"
LONG_NAME = "q" + "uarterly-embeddings-" * 3 + "x" * 3  # 64 characters, no space to wrap at
assert len(LONG_NAME) == 64


def _log_in(page, live_server, user) -> None:
    """Log the browser in with a real session of `user` (the login form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _right_edge(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def _stopped(project, name: str, port: int = 1) -> Cluster:
    # STOPPED: the pages show it without contacting a server.
    return Cluster.objects.create(
        project=project,
        name=name,
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri=f"http://203.0.113.10:{port}",
        status=Cluster.Status.STOPPED,
    )


def test_it_lands_on_the_chosen_projects_clusters_when_switching_on_a_detail_page(
    live_server, browser_page, owner, project, other_project
):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 800})
    cluster = _stopped(project, "old-project-cluster")
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")
    expect(page.get_by_role("link", name="Delete Cluster")).to_be_visible()

    page.get_by_label("Project").select_option(label="Analytics")

    expect(page).to_have_url(re.compile(r"/clusters/$"))
    expect(page.get_by_label("Project")).to_have_value(other_project.pk)
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()
    expect(page.locator("#content")).to_contain_text("Analytics")
    expect(page.locator("#content")).not_to_contain_text("old-project-cluster")
    expect(page.get_by_role("link", name="Delete Cluster")).to_have_count(0)


def test_it_closes_the_user_menu_on_an_outside_click_and_on_escape(
    live_server, browser_page, owner
):
    page = browser_page
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/api-keys/")
    summary = page.locator("details.user-menu > summary")
    log_out = page.get_by_role("button", name="Log out")
    expect(summary).to_have_accessible_name(f"Account menu of {owner.email}")
    expect(summary.locator(".caret")).to_be_visible()
    expect(log_out).to_be_hidden()

    summary.click()
    expect(log_out).to_be_visible()
    page.get_by_role("heading", name="API Keys", level=1).click()
    expect(log_out).to_be_hidden()

    summary.click()
    expect(log_out).to_be_visible()
    page.keyboard.press("Escape")
    expect(log_out).to_be_hidden()
    expect(summary).to_be_focused()

    summary.click()
    log_out.click()
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    _screenshot(page, "logged-out")


def test_it_copies_a_new_key_and_confirms_its_deletion(live_server, browser_page, owner):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/api-keys/")
    page.get_by_label("Key Name").fill("deploy")
    page.get_by_role("button", name="Create API Key").click()

    _screenshot(page, "api-key-created")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("mmc_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.goto(f"{live_server.url}/api-keys/")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once, in the answer to the POST

    page.get_by_role("link", name="Delete deploy").click()
    dialog = page.get_by_role("dialog", name="Delete API key “deploy”?")
    expect(dialog).to_be_visible()
    _screenshot(page, "api-key-delete-dialog")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("cell", name="deploy", exact=True)).to_be_visible()

    page.get_by_role("link", name="Delete deploy").click()
    dialog.get_by_role("button", name="Delete API Key").click()
    expect(page.get_by_role("status")).to_contain_text("API key 'deploy' deleted.")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()


def test_it_keeps_status_endpoint_and_counts_in_view_beside_a_64_character_name(
    live_server, browser_page, owner, project
):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 800})
    _stopped(project, LONG_NAME)
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/clusters/")
    _screenshot(page, "clusters-1366-long-name")

    table = page.get_by_role("table", name="Clusters of Default Project")
    for header in ("Status", "Endpoint", "Databases", "Collections"):
        cell = table.get_by_role("columnheader", name=header)
        expect(cell).to_be_in_viewport(ratio=1)
        assert _right_edge(cell) <= 1366
    name = table.get_by_role("link", name=LONG_NAME)
    expect(name).to_have_attribute("title", LONG_NAME)  # the full name as a tooltip


def test_it_shows_clusters_as_cards_with_status_first_at_420px(
    live_server, browser_page, owner, project
):
    page = browser_page
    page.set_viewport_size({"width": 420, "height": 900})
    _stopped(project, LONG_NAME)
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/clusters/")
    _screenshot(page, "clusters-420")

    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    row = page.get_by_role("row").filter(has_text="203.0.113.10")
    status = row.locator("td.cell-status")
    name = row.locator("td.cell-title")
    expect(status).to_contain_text("Stopped")
    for cell in (name, status, row.get_by_text("203.0.113.10:1"), row.locator("td").last):
        expect(cell).to_be_in_viewport()
        assert _right_edge(cell) <= 420
    # Name first, status right under it, before the id, plan and kind.
    assert name.bounding_box()["y"] < status.bounding_box()["y"]
    assert status.bounding_box()["y"] < row.locator("td", has_text="in01-").bounding_box()["y"]


def test_it_shows_every_column_of_a_detail_table_at_420px(
    live_server, browser_page, owner, running_cluster
):
    page = browser_page
    page.set_viewport_size({"width": 420, "height": 900})
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/clusters/{running_cluster.pk}/")
    fields = page.get_by_role("table", name="Fields of e2e_articles")
    expect(fields).to_contain_text("FLOAT_VECTOR")
    _screenshot(page, "cluster-detail-420")

    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    for cell in fields.locator("td").all():
        assert _right_edge(cell) <= 420
    expect(fields).to_contain_text("Nullable")  # the last column's label, on every card
    expect(page.get_by_role("table", name="Partitions of e2e_articles")).to_contain_text("123")


def test_it_refuses_a_read_only_member_in_the_layout_with_the_reason(
    live_server, browser_page, viewer, project
):
    page = browser_page
    _log_in(page, live_server, viewer)
    page.goto(f"{live_server.url}/clusters/")
    create = page.get_by_role("button", name="Create Cluster")
    expect(create).to_be_disabled()
    expect(create).to_have_accessible_description(
        "Only Organization Owners and Project Admins can create or register clusters in "
        "project Default Project."
    )
    _screenshot(page, "clusters-viewer")

    response = page.goto(f"{live_server.url}/clusters/create/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You cannot do this here")).to_be_visible()
    expect(
        page.get_by_role("complementary", name="Main").get_by_role("link", name="Clusters")
    ).to_be_visible()
    expect(page.locator("#content")).to_contain_text(
        "Only Organization Owners and Project Admins can create clusters in project Default Project."
    )
    _screenshot(page, "403-viewer-create")
