"""In Chromium: a Project Admin finds Project Settings in the navigation, sets the webhook (the
secret shown once, a refused URL's reason beside the field) and removes it through the dialog;
a Read-Only member has no such link."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.webhook_receiver import start_receiver, stop_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/jobs/")


def test_it_sets_and_removes_the_webhook(live_server, browser_page, admin, project):
    page = browser_page
    receiver = start_receiver()
    try:
        _log_in(page, live_server, admin)
        page.get_by_role("link", name="Project Settings").click()
        expect(page.get_by_role("heading", name="Project Settings")).to_be_visible()

        page.get_by_label("Webhook URL").fill("ftp://hooks.example.com/in")
        page.get_by_role("button", name="Save Webhook").click()
        expect(page.get_by_role("alert")).to_have_text(
            "Webhook URL scheme 'ftp' is not allowed: use http or https"
        )

        page.get_by_label("Webhook URL").fill(receiver.url("/in"))
        page.get_by_role("button", name="Save Webhook").click()
        secret = page.locator("#webhook-secret").inner_text()
        assert re.fullmatch(r"whsec_[\w-]{43}", secret)
        expect(page.get_by_text("Nothing delivered yet.")).to_be_visible()
        page.goto(page.url)  # the page again, by GET: the secret is not on it any more
        expect(page.locator("#webhook-secret")).to_have_count(0)

        page.get_by_role("button", name="Remove Webhook").click()
        dialog = page.get_by_role("dialog", name="Remove the webhook?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Remove Webhook").click()
        expect(page.get_by_role("status")).to_contain_text("Webhook removed.")
        project.refresh_from_db()
        assert project.webhook_url == ""
    finally:
        stop_receiver(receiver)


def test_it_offers_no_settings_to_a_read_only_member(live_server, browser_page, viewer):
    page = browser_page
    _log_in(page, live_server, viewer)
    expect(page.get_by_role("link", name="Jobs")).to_be_visible()
    expect(page.get_by_role("link", name="Project Settings")).to_have_count(0)
