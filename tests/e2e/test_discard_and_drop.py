"""In Chromium: a failed job's View Details → Discard Incomplete Collections → the confirmation
lists the partial collection with its rows → discarded; a cluster page's Drop Collection,
refused for a wrong name, then done and listed under Events."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console import throttle
from jobs.models import Job, JobCollection
from migrations_app.engine.ownership import OWNER_PROPERTY
from tests.conftest import PASSWORD
from tests.jobs_support import count, fill, local_cluster
from tests.milvus import MilvusClient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROWS = 42


def _log_in(page, live_server, user) -> None:
    throttle.reset(user.email, "127.0.0.1")
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()


def test_a_failed_jobs_partial_collection_is_discarded(
    live_server, browser_page, owner, project, lite_server
):
    target = local_cluster(project, lite_server, "dst")
    job = Job.objects.create(
        project=project,
        created_by=owner,
        status=Job.Status.FAILED,
        source_name="src",
        target_cluster=target,
        target_name="dst",
        reason="1 of 1 collection(s) failed — default.partial: the source cannot be reached",
    )
    JobCollection.objects.create(
        job=job,
        source_db="default",
        source_name="partial",
        target_db="default",
        target_name="partial",
        status=JobCollection.Status.FAILED,
        target_state=JobCollection.TargetState.CREATED,
        total_entities=1000,
        migrated_entities=ROWS,
    )
    fill(lite_server, "partial", ROWS)
    client = MilvusClient(uri=lite_server.uri)
    client.alter_collection_properties("partial", {OWNER_PROPERTY: job.pk})
    client.close()
    page = browser_page
    _log_in(page, live_server, owner)

    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.get_by_role("link", name="Discard Incomplete Collections").click()

    expect(page.get_by_role("heading", name="Discard Incomplete Collections")).to_be_visible()
    table = page.get_by_role("table", name="Collections to discard")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("row").nth(1)).to_have_text(f"defaultpartial{ROWS}")
    page.get_by_role("button", name="Discard Incomplete Collections").click()

    expect(page.get_by_role("status").filter(has_text="Discarded from dst")).to_have_text(
        f"Discarded from dst: partial ({ROWS} rows)."
    )
    expect(page.get_by_role("link", name="Discard Incomplete Collections")).to_have_count(0)
    assert count(lite_server, "partial") == -1


def test_a_collection_is_dropped_from_the_cluster_page(
    live_server, browser_page, owner, project, lite_server
):
    fill(lite_server, "docs", ROWS)
    cluster = local_cluster(project, lite_server, "acme-dst")
    page = browser_page
    _log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")

    page.get_by_role("link", name="Drop Collection docs").click()
    field = page.get_by_label("Type docs to confirm")
    field.fill("doc")
    page.get_by_role("button", name="Drop Collection").click()
    expect(page.get_by_text("Type docs to confirm: nothing was dropped.")).to_be_visible()
    assert count(lite_server, "docs") == ROWS

    page.get_by_label("Type docs to confirm").fill("docs")
    page.get_by_role("button", name="Drop Collection").click()

    expect(page).to_have_url(f"{live_server.url}/clusters/{cluster.pk}/")
    expect(page.get_by_role("status").first).to_have_text(
        f"Collection docs of database default dropped ({ROWS} rows)."
    )
    events = page.get_by_role("table", name="Events")
    expect(events).to_contain_text(
        f"{owner.email} dropped collection docs of database default ({ROWS} rows)"
    )
    assert count(lite_server, "docs") == -1
