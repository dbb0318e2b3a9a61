"""In Chromium: a greyed button tells why it cannot be used on click and on tap, not only on
hover (its title) — the watcher's Cancel on the Jobs page (a row polled by htmx) and Retry on
View Details."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console import throttle
from jobs.models import Job
from tests.conftest import PASSWORD
from tests.jobrows import make_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CANCEL_WHY = (
    "Only Organization Owners and Project Admins can cancel jobs in project Default Project."
)
RETRY_WHY = "Only Organization Owners and Project Admins can retry jobs in project Default Project."


def _log_in(page, live_server, user) -> None:
    throttle.reset(user.email, "127.0.0.1")
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()


def test_it_shows_why_cancel_is_not_theirs_on_click(live_server, browser_page, viewer, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)
    page = browser_page
    _log_in(page, live_server, viewer)
    page.goto(live_server.url + "/jobs/")
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job.pk)
    cancel = row.get_by_role("button", name="Cancel", exact=True)
    reason = page.get_by_text(CANCEL_WHY)
    expect(reason).to_be_hidden()

    # force: Playwright waits for an aria-disabled button to be enabled; a person clicks anyway.
    cancel.click(force=True)

    expect(reason).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)  # no confirmation: nothing to confirm
    # The row is polled (htmx swaps it every 2 s): the reason, outside the row, stays open.
    with page.expect_response(lambda r: f"/jobs/{job.pk}/row/" in r.url):
        pass
    expect(reason).to_be_visible()
    page.keyboard.press("Escape")
    expect(reason).to_be_hidden()


def test_it_shows_why_on_tap(live_server, browser, viewer, project):
    failed = make_job(project, status=Job.Status.FAILED)
    context = browser.new_context(viewport={"width": 420, "height": 900}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _log_in(page, live_server, viewer)
        page.goto(f"{live_server.url}/jobs/{failed.pk}/")
        reason = page.get_by_text(RETRY_WHY)
        expect(reason).to_be_hidden()

        page.get_by_role("button", name="Retry", exact=True).tap(force=True)

        expect(reason).to_be_visible()
        expect(page.get_by_role("button", name="Retry", exact=True)).to_have_accessible_description(
            RETRY_WHY
        )
    finally:
        context.close()
