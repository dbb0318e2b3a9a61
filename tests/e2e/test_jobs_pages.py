"""In Chromium: a job started from the CLI and run by a real Celery worker — its row on the Jobs
page goes Pending → In Progress → Successful without a reload; View Details shows the progress
bars, the verification figures and the log. Cancel through the page's dialog, a watcher's
disabled Cancel, the copy button."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from console import throttle
from jobs.models import Job
from tests.conftest import PASSWORD
from tests.jobs_support import fill, local_cluster, wait_for

ROWS = 20_000
SHOTS = "/tmp/jobsui-e2e"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records every status the job's row shows: htmx replaces the <tr> on each poll, so watch the
# table body for new rows and note the status of the one we follow.
WATCH_ROW = """
(jobId) => {
  window.__seen = [];
  window.__loadedOnce = true;
  const note = () => {
    const row = document.getElementById("job-" + jobId);
    const status = row && row.dataset.status;
    if (status && window.__seen[window.__seen.length - 1] !== status) window.__seen.push(status);
  };
  note();
  new MutationObserver(note).observe(document.querySelector("tbody"), {childList: true, subtree: true});
}
"""


@pytest.fixture
def worker_env():
    # Small batches: the copy takes several seconds, long enough to be seen In Progress.
    return {"MIGRATION_BATCH_BYTES": "20000"}


@pytest.fixture
def viewport():
    return {"width": 1360, "height": 900}


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "articles", ROWS)
    source = local_cluster(project, source_server, "src", plan="DEDICATED")
    target = local_cluster(project, target_server, "dst", plan="DEDICATED")
    return source, target


def _start_from_cli(user, source, target) -> Job:
    out = io.StringIO()
    call_command(
        "start_migration",
        "--as",
        user.email,
        "--source",
        source.pk,
        "--target",
        target.pk,
        "--collection",
        "articles",
        stdout=out,
    )
    return Job.objects.get(pk=out.getvalue().strip().splitlines()[-1])


def _log_in(page, live_server, user) -> None:
    throttle.reset(user.email, "127.0.0.1")
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()


def test_it_shows_a_real_job_go_from_pending_to_successful_without_a_reload(
    live_server, browser_page, owner, pair, job_worker
):
    source, target = pair
    page = browser_page
    job_worker.pause()  # the job waits, Pending, until the worker takes jobs again
    job = _start_from_cli(owner, source, target)

    _log_in(page, live_server, owner)
    page.get_by_role("complementary", name="Main").get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    table = page.get_by_role("table", name="Jobs")
    for header in (
        "Description & Type",
        "Status",
        "Job ID",
        "Start Time & End Time",
        "Created By",
        "Actions",
    ):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    row = table.get_by_role("row").filter(has_text=job.pk)
    expect(row).to_contain_text("Pending")
    expect(row).to_contain_text(owner.email)
    expect(row).to_contain_text("Migrate src (default) to dst")
    page.evaluate(WATCH_ROW, job.pk)

    job_worker.resume()
    expect(row.locator(".badge")).to_have_text("In Progress", timeout=60_000)
    page.screenshot(path=f"{SHOTS}-jobs-in-progress.png", full_page=True)
    expect(row.locator(".badge")).to_have_text("Successful", timeout=120_000)
    # No reload happened: the marker set on the loaded page is still there.
    assert page.evaluate("window.__loadedOnce") is True
    assert page.evaluate("window.__seen") == ["PENDING", "IN_PROGRESS", "SUCCESSFUL"]
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    page.screenshot(path=f"{SHOTS}-jobs-successful.png", full_page=True)

    row.get_by_role("link", name="View Details").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{job.pk}/$"))
    overall = page.get_by_role("progressbar", name="Overall progress")
    expect(overall).to_have_attribute("value", "100")
    collection = page.get_by_role("progressbar", name="Progress of articles")
    expect(collection).to_have_attribute("value", "100")
    collections = page.get_by_role("table", name="Collections")
    expect(collections).to_contain_text("Verified")
    expect(collections).to_contain_text(f"Source count{ROWS:,}")
    expect(collections).to_contain_text(f"Target count{ROWS:,}")
    expect(collections).to_contain_text("Rows compared")
    expect(collections).to_contain_text("Copying")  # a phase with its duration
    log = page.get_by_role("table", name="Log")
    expect(log).to_contain_text("job started")
    expect(log).to_contain_text("job successful: every collection copied and verified")
    page.screenshot(path=f"{SHOTS}-details.png", full_page=True)

    page.get_by_label("Level").select_option("WARNING")
    expect(page).to_have_url(re.compile(r"level=WARNING"))
    expect(page.locator("#job-log")).not_to_contain_text("job started")


def test_it_cancels_a_running_job_through_the_dialog(
    live_server, browser_page, owner, pair, job_worker
):
    source, target = pair
    page = browser_page
    job = _start_from_cli(owner, source, target)
    wait_for(job, Job.Status.IN_PROGRESS, worker=job_worker)

    _log_in(page, live_server, owner)
    page.goto(live_server.url + "/jobs/")
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job.pk)
    expect(row.locator(".badge")).to_have_text("In Progress")

    # Keep Job closes the dialog and changes nothing.
    row.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep Job").click()
    expect(dialog).to_be_hidden()
    job.refresh_from_db()
    assert job.status == Job.Status.IN_PROGRESS

    row.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(job.pk)
    page.screenshot(path=f"{SHOTS}-cancel-dialog.png")
    dialog.get_by_role("button", name="Cancel Job").click()

    expect(page.get_by_role("status").filter(has_text=job.pk)).to_be_visible()
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job.pk)
    expect(row.locator(".badge")).to_have_text("Canceled", timeout=60_000)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert job.canceled_by == owner
    page.screenshot(path=f"{SHOTS}-canceled.png", full_page=True)


def test_it_shows_a_watcher_why_cancel_is_not_theirs(live_server, browser_page, viewer, project):
    from tests.jobrows import make_job

    job = make_job(project, status=Job.Status.IN_PROGRESS)
    page = browser_page

    _log_in(page, live_server, viewer)
    page.goto(live_server.url + "/jobs/")
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job.pk)
    cancel = row.get_by_role("button", name="Cancel", exact=True)
    expect(cancel).to_be_disabled()
    expect(cancel).to_have_accessible_description(
        "Only Organization Owners and Project Admins can cancel jobs in project Default Project."
    )
    cancel.click(force=True)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_it_copies_a_job_id(live_server, browser_page, viewer, project):
    from tests.jobrows import make_job

    job = make_job(project, status=Job.Status.SUCCESSFUL)
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    _log_in(page, live_server, viewer)
    page.goto(live_server.url + "/jobs/")
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job.pk)
    copy = row.get_by_role("button", name=f"Copy job ID {job.pk}")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == job.pk
