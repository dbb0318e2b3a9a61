"""In Chromium, under the console's Content-Security-Policy: the project switcher, the wizard
(htmx refreshes included) and the Jobs page's polling work, and the browser reports no
violation, neither as a `securitypolicyviolation` event nor on the console. A control test
shows that an inline script is refused and reported, so the silence means something. Also: an
idle session's next poll takes the whole page to the login page (SESSION_IDLE_TIMEOUT)."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from console.middleware import SESSION_LAST_ACTIVITY
from console.models import Cluster
from jobs.models import Job
from tests.e2e.test_wizard import choose, log_in, open_migrations
from tests.jobs_support import wait_for
from tests.wizard.helpers import cluster_on, fill_source

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Playwright's init scripts run through the DevTools protocol, not the page: the policy does
# not apply to them. Listening in the capture phase sees every violation of the document.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
  );
}, true);
"""


@pytest.fixture
def page(browser_page):
    """The browser page, recording violations; the test fails at the end if any was seen."""
    console = []
    browser_page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    browser_page.add_init_script(RECORD_VIOLATIONS)
    browser_page.csp_console = console
    return browser_page


def violations(page) -> list[str]:
    # Every page loaded keeps its own list; the last one is read (tests read it per page).
    return page.evaluate("window.__cspViolations") + page.csp_console


def test_the_switcher_wizard_and_jobs_page_work_without_a_violation(
    live_server, page, owner, project, other_project, lite_factory, job_worker
):
    source_server = lite_factory()
    fill_source(source_server.uri)
    source = cluster_on(project, source_server, "src", Cluster.Plan.SERVERLESS)
    target = cluster_on(project, lite_factory(), "dst", Cluster.Plan.DEDICATED)

    with page.expect_response(lambda r: r.url.endswith("/login/")) as login_page:
        log_in(page, live_server.url, owner)
    assert "script-src 'self'" in login_page.value.headers["content-security-policy"]
    assert violations(page) == []

    # The switcher submits its POST form on change, through console.js (no inline handler).
    with page.expect_response(
        lambda r: r.url.endswith("/switch-project/") and r.request.method == "POST"
    ):
        page.get_by_label("Project", exact=True).select_option(other_project.pk)
    expect(page.get_by_text(f"Milvus clusters of project {other_project.name}")).to_be_visible()
    expect(page.get_by_label("Project", exact=True)).to_have_value(other_project.pk)
    assert violations(page) == []
    page.get_by_label("Project", exact=True).select_option(project.pk)
    expect(page.get_by_label("Project", exact=True)).to_have_value(project.pk)

    open_migrations(page)
    page.get_by_role("link", name="In Current Organization").click()
    choose(page, "Source Cluster", source.pk, "current/databases/")  # an htmx refresh
    expect(page.get_by_label("Source Database")).to_have_value("default")
    page.get_by_label("Offline Migration").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Select Target")).to_be_visible()
    choose(page, "Target Project", project.pk, "target/clusters/")
    page.get_by_label("Target Cluster").select_option(target.pk)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("docs", exact=True).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Configure Schema")).to_be_visible()
    expect(page.get_by_text("No problems found")).to_be_visible()
    assert violations(page) == []
    page.get_by_role("button", name="Migrate").click()

    # The Jobs page: the new job's row polls (htmx) until it is final, without a reload.
    expect(page).to_have_url(re.compile(r"/jobs/\?project=proj-[^&]+&highlight=job-"))
    job_id = re.search(r"highlight=(job-[a-z0-9]{20})", page.url).group(1)
    row = page.get_by_role("table", name="Jobs").get_by_role("row").filter(has_text=job_id)
    page.evaluate("window.__loadedOnce = true")
    job = wait_for(Job.objects.get(pk=job_id), *Job.FINAL_STATES, timeout=180, worker=job_worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    expect(row.locator(".badge")).to_have_text("Successful", timeout=30_000)
    assert page.evaluate("window.__loadedOnce") is True
    # A ?project= link shows a project without switching to it.
    expect(page.get_by_label("Project", exact=True)).to_have_value(project.pk)
    assert violations(page) == []


def test_the_policy_refuses_an_inline_script_and_says_so(live_server, page, owner):
    log_in(page, live_server.url, owner)
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__inlineRan === undefined")
    assert any(v.startswith("script-src-elem blocked inline") for v in violations(page))


def test_the_api_docs_page_works_under_the_policy(live_server, page):
    page.goto(live_server.url + "/v2/docs")
    expect(page.get_by_text("Milvus Migration Console API").first).to_be_visible()
    assert violations(page) == []


def test_an_idle_sessions_poll_sends_the_page_to_the_login_page(
    live_server, page, owner, project, settings
):
    """The Jobs page's row polls without renewing the session; once it has been idle too long
    the next poll answers HX-Redirect and the whole page goes to the login page (nothing is
    swapped into the row)."""
    settings.SESSION_IDLE_TIMEOUT = 600
    job = Job.objects.create(project=project, source_name="src", target_name="dst")  # stays Pending
    log_in(page, live_server.url, owner)
    with page.expect_request(lambda r: r.url.endswith(f"/jobs/{job.pk}/row/")) as poll:
        page.goto(live_server.url + "/jobs/")
    assert poll.value.headers["x-console-poll"] == "1"  # merged with the body's CSRF header
    assert poll.value.headers["x-csrftoken"]

    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=cookie["value"])
    session[SESSION_LAST_ACTIVITY] = int(time.time()) - 601
    session.save()

    # The next poll (every 2 s) does it; a loaded machine may answer it slowly.
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fjobs%2F&ended=1$"), timeout=15_000)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Your session ended. Log in again.")
    expect(page.get_by_role("table", name="Jobs")).to_have_count(0)
    assert violations(page) == []
