"""In Chromium: a page that refreshes itself (the Jobs page's live rows, View Details) whose
session ends — logged out in another tab of the same browser — goes to the login page, which
says the session ended; logging in there returns to the page. Nothing of the login page is
ever pasted into the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console import throttle
from console.middleware import SESSION_ENDED
from jobs.models import Job, JobCollection
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pending_job(project, owner) -> Job:
    """A job that stays Pending (no worker takes it): its row and View Details keep polling."""
    job = Job.objects.create(
        project=project, created_by=owner, source_name="src", target_name="dst"
    )
    JobCollection.objects.create(
        job=job, source_db="default", source_name="docs", target_db="default", target_name="docs"
    )
    return job


def _log_in(page, user) -> None:
    throttle.reset(user.email, "127.0.0.1")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _log_out_in_another_tab(page, live_server) -> None:
    other = page.context.new_page()
    other.goto(live_server.url + "/clusters/")
    other.get_by_label(re.compile("Account menu")).click()
    other.get_by_role("button", name="Log out").click()
    expect(other.get_by_role("button", name="Log in")).to_be_visible()
    other.close()


@pytest.mark.parametrize("where", ["jobs", "detail"])
def test_a_live_page_goes_to_the_login_page_and_back(
    live_server, browser_page, owner, project, pending_job, where
):
    page = browser_page
    path = f"/jobs/?project={project.pk}" if where == "jobs" else f"/jobs/{pending_job.pk}/"
    page.goto(live_server.url + "/login/")
    _log_in(page, owner)
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()
    page.goto(live_server.url + path)
    expect(page.locator(f"#job-{pending_job.pk}, #job-body").first).to_be_visible()

    _log_out_in_another_tab(page, live_server)

    # The next poll (every 2 s) takes the page to the login page.
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("status")).to_have_text(SESSION_ENDED)
    assert page.url.startswith(live_server.url + "/login/?next=")
    assert page.locator("main#content").count() == 0  # a whole page, nothing swapped into one

    _log_in(page, owner)
    expect(page).to_have_url(live_server.url + path)
    if where == "jobs":
        expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
        expect(page.get_by_role("table", name="Jobs")).to_contain_text(pending_job.pk)
    else:
        expect(page.locator("#job-body")).to_be_visible()
    expect(page.get_by_text(SESSION_ENDED)).to_have_count(0)
