"""In Chromium, from the Migrations page to a SUCCESSFUL job whose targets match the source row
for row, using only the design's words: In Current Organization to an existing and to a new
cluster; In Other Organization from the real Milvus standalone with a username and password,
one collection renamed with a description (the API Key choice up to the source's collections)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from console import throttle
from console.clusters.supervisor import Supervisor
from console.models import Cluster
from jobs.models import Job
from tests.conftest import PASSWORD
from tests.jobs_support import wait_for
from tests.milvus import MilvusClient
from tests.servers import STANDALONE_PASSWORD, STANDALONE_USER
from tests.wizard.helpers import cluster_on, drop_source, fill_source

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def viewport():
    return {"width": 420, "height": 900}


@pytest.fixture
def page_timeout():
    return 20_000


def rows(uri: str, name: str, token: str = "", key: str = "id") -> list[dict]:
    client = MilvusClient(uri=uri, token=token)
    try:
        client.load_collection(name)
        found = client.query(
            name,
            filter=f"{key} != ''" if key == "sku" else f"{key} >= 0",
            output_fields=["*"],
            limit=16_000,
            consistency_level="Strong",
        )
    finally:
        client.close()
    for row in found:
        for field, value in list(row.items()):
            if isinstance(value, list):
                row[field] = [round(float(v), 6) for v in value]
    return sorted(found, key=lambda r: r[key])


def choose(page, label: str, value: str, refreshes: str) -> None:
    """Pick an option of a select whose change makes htmx refresh the next field; wait for it."""
    page.wait_for_load_state("load")  # htmx binds its triggers once the page has loaded
    with page.expect_response(lambda r: refreshes in r.url):
        page.get_by_label(label).select_option(value)
    # The response event comes with the headers; htmx swaps the field in once the body is read,
    # and a choice made before that swap is lost with the replaced element.
    # (A locator, not wait_for_function: the pages' Content-Security-Policy refuses eval.)
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def log_in(page, base_url: str, user) -> None:
    throttle.reset(user.email, "127.0.0.1")
    page.goto(base_url + "/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/clusters/"))


def open_migrations(page) -> None:
    page.get_by_role("complementary", name="Main").get_by_role("link", name="Migrations").click()
    expect(page.get_by_role("heading", name="Migrations", level=1)).to_be_visible()


def migrated_job(page, worker) -> Job:
    """The job Migrate created, once SUCCESSFUL; the browser is on the Jobs page with it."""
    expect(page).to_have_url(re.compile(r"/jobs/\?project=proj-[^&]+&highlight=job-[a-z0-9]{20}"))
    job_id = re.search(r"highlight=(job-[a-z0-9]{20})", page.url).group(1)
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text=f"Migration job {job_id} created")
    ).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=job_id)).to_be_visible()
    job = wait_for(Job.objects.get(pk=job_id), *Job.FINAL_STATES, timeout=180, worker=worker)
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    return job


def configure(page, collection: str, *, name: str | None = None, description: str = "") -> None:
    section = page.get_by_role("group", name=collection, exact=True)
    if name is not None:
        section.get_by_label("Target Collection Name").fill(name)
        expect(section.get_by_text(f"{name} is free in database default")).to_be_visible()
    if description:
        section.get_by_label("Description").fill(description)


@pytest.fixture
def same_org(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill_source(source_server.uri)
    source = cluster_on(project, source_server, "src", Cluster.Plan.SERVERLESS)
    target = cluster_on(project, target_server, "dst", Cluster.Plan.DEDICATED)
    return source, target


def test_it_keeps_a_source_database_picked_while_the_list_is_refreshed(
    live_server, browser_page, owner, project, lite_factory
):
    servers = {name: lite_factory() for name in ("a-src", "b-src", "c-src")}
    for name in ("a-src", "b-src"):
        client = MilvusClient(uri=servers[name].uri)
        if "analytics" not in client.list_databases():
            client.create_database("analytics")
        client.close()
    clusters = {n: cluster_on(project, s, n, Cluster.Plan.DEDICATED) for n, s in servers.items()}
    page = browser_page
    log_in(page, live_server.url, owner)
    open_migrations(page)
    page.get_by_role("link", name="In Current Organization").click()
    page.wait_for_load_state("load")
    database = page.get_by_label("Source Database")
    expect(database.locator("option")).to_have_text(["default", "analytics"])
    held = []
    # Each cluster's list is held until the test answers it: the pick happens meanwhile.
    page.route("**/current/databases/**", lambda route: held.append(route))

    for cluster, outcome in (("b-src", "kept"), ("c-src", "not there")):
        page.get_by_label("Source Cluster").select_option(clusters[cluster].pk)
        for _ in range(100):
            if held:
                break
            page.wait_for_timeout(100)
        database.select_option("analytics")  # while the new list is on its way
        with page.expect_response(lambda r: "current/databases/" in r.url):
            held.pop().continue_()
        expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
        if outcome == "kept":
            expect(database).to_have_value("analytics")
        else:
            expect(database).to_have_value("default")
            expect(
                page.get_by_text("Database analytics is not in the chosen cluster: pick one")
            ).to_be_visible()
    page.unroute("**/current/databases/**")


def test_it_migrates_in_the_current_organization_to_an_existing_cluster(
    live_server, browser_page, owner, project, same_org, lite_factory, job_worker
):
    source, target = same_org
    cluster_on(project, lite_factory(), "free-one", Cluster.Plan.FREE)
    page = browser_page
    log_in(page, live_server.url, owner)
    open_migrations(page)

    page.get_by_role("link", name="In Current Organization").click()
    choose(page, "Source Cluster", source.pk, "current/databases/")
    expect(page.get_by_label("Source Database")).to_have_value("default")
    page.screenshot(path="/tmp/wizard-start-420.png", full_page=True)
    expect(
        page.get_by_role("group", name="Migrate to").get_by_label("Existing Cluster")
    ).to_be_checked()
    page.get_by_label("Offline Migration").check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Select Target")).to_be_visible()
    choose(page, "Target Project", project.pk, "target/clusters/")
    free = page.get_by_label("Target Cluster").locator("option", has_text="free-one")
    expect(free).to_be_disabled()
    expect(free).to_contain_text("a Free cluster cannot be a migration target")
    page.get_by_label("Target Cluster").select_option(target.pk)
    page.screenshot(path="/tmp/wizard-target-420.png", full_page=True)
    page.get_by_role("button", name="Next").click()

    page.get_by_label("docs", exact=True).check()
    page.get_by_label("items", exact=True).check()
    page.screenshot(path="/tmp/wizard-collections-420.png", full_page=True)
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Configure Schema")).to_be_visible()
    expect(page.get_by_text("No problems found")).to_be_visible()
    configure(page, "docs", name="docs_copy", description="copied by the wizard")
    docs = page.get_by_role("group", name="docs", exact=True)
    docs.get_by_role("button", name="Advanced Settings").click()
    expect(docs.get_by_label("Dynamic Field")).to_be_checked()
    expect(
        page.get_by_role("group", name="items", exact=True).get_by_label("Partition Key")
    ).to_have_value("category")
    page.screenshot(path="/tmp/wizard-schema-420.png", full_page=True)
    page.get_by_role("button", name="Check only").click()
    expect(page.get_by_text("No problems found: 2 collections ready to migrate.")).to_be_visible()
    page.get_by_role("button", name="Migrate").click()

    job = migrated_job(page, job_worker)
    assert rows(target.uri, "docs_copy") == rows(source.uri, "docs")
    assert rows(target.uri, "items", key="sku") == rows(source.uri, "items", key="sku")
    # Milvus Lite (the target here) does not keep collection descriptions: the job's spec does.
    spec = job.collections.get(source_name="docs").spec
    assert spec["description"] == "copied by the wizard"


def test_it_migrates_into_a_target_database_of_choice_and_loads_it(
    live_server, browser_page, owner, project, same_org, job_worker
):
    source, target = same_org
    client = MilvusClient(uri=target.uri)
    client.create_database("archive")
    client.close()
    page = browser_page
    log_in(page, live_server.url, owner)
    open_migrations(page)
    page.get_by_role("link", name="In Current Organization").click()
    choose(page, "Source Cluster", source.pk, "current/databases/")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Select Target")).to_be_visible()
    choose(page, "Target Cluster", target.pk, "target/databases/")
    expect(page.get_by_text("Databases of dst:")).to_contain_text("archive")
    database = page.get_by_label("Target Database")
    expect(database).to_have_attribute("placeholder", "default")
    database.fill("9 lives")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_contain_text("Target database name '9 lives' is invalid")
    expect(page.get_by_label("Load after migration")).not_to_be_checked()

    page.get_by_label("Target Database").fill("wizard_db")
    page.get_by_label("Load after migration").check()
    page.screenshot(path="/tmp/wizard-target-database-420.png", full_page=True)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("docs", exact=True).check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_text("database wizard_db, loaded after migration")).to_be_visible()
    section = page.get_by_role("group", name="docs", exact=True)
    section.get_by_label("Target Collection Name").fill("docs_in_db")
    expect(section.get_by_text("docs_in_db is free in database wizard_db")).to_be_visible()
    page.get_by_role("button", name="Migrate").click()

    job = migrated_job(page, job_worker)
    assert (job.target_db, job.load_after) == ("wizard_db", True)
    client = MilvusClient(uri=target.uri, db_name="wizard_db")
    try:
        assert client.list_collections() == ["docs_in_db"]
        assert client.get_load_state("docs_in_db")["state"].name == "Loaded"
        copied = client.query(
            "docs_in_db", filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
    finally:
        client.close()
    assert copied[0]["count(*)"] == len(rows(source.uri, "docs"))


def test_it_migrates_in_the_current_organization_to_a_new_cluster(
    live_server, browser_page, owner, project, lite_factory, job_worker, tmp_path, settings
):
    source_server = lite_factory()
    fill_source(source_server.uri)
    source = cluster_on(
        project, source_server, "src", Cluster.Plan.DEDICATED, Cluster.Kind.EXTERNAL
    )
    page = browser_page
    log_in(page, live_server.url, owner)
    open_migrations(page)

    page.get_by_role("link", name="In Current Organization").click()
    choose(page, "Source Cluster", source.pk, "current/databases/")
    expect(page.get_by_label("Source Database")).to_have_value("default")
    page.get_by_label("New Cluster").check()
    page.get_by_role("button", name="Next").click()

    page.get_by_label("Cluster Name").fill("src")
    expect(page.get_by_text("already exists in project Default Project")).to_be_visible()
    page.get_by_label("Cluster Name").fill("wizard-new")
    expect(page.get_by_text("wizard-new is free in project Default Project.")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("docs", exact=True).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Configure Schema")).to_be_visible()
    page.get_by_role("button", name="Migrate").click()
    expect(page).to_have_url(re.compile(r"highlight=job-"))

    # The cluster supervisor (runclusters) starts the new local cluster; the job waits for it.
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    supervisor = Supervisor(settings.CLUSTERS_DIR)
    try:
        created = Cluster.objects.get(name="wizard-new")
        deadline = time.monotonic() + 60
        while created.status != Cluster.Status.RUNNING and time.monotonic() < deadline:
            supervisor.reconcile_once()
            created.refresh_from_db()
        assert created.plan == Cluster.Plan.DEDICATED
        migrated_job(page, job_worker)
        assert rows(created.uri, "docs") == rows(source.uri, "docs")
    finally:
        supervisor.stop_all()


@pytest.fixture
def standalone_source(standalone):
    fill_source(standalone.uri, standalone.token, prefix="wze_")
    yield standalone
    drop_source(standalone.uri, standalone.token, "wze_")


def connect_to_another_organization(page, base_url: str, user, source, auth: str) -> None:
    """Log in and pass Connect to Data Source with `auth`: wrong credentials first (refused in
    the page), then the right ones; the browser ends on Select Source and Target."""
    log_in(page, base_url, user)
    open_migrations(page)
    page.get_by_role("link", name="In Other Organization").click()
    expect(page.get_by_role("heading", name="Connect to Data Source")).to_be_visible()
    page.get_by_label("Endpoint").fill(source.uri)
    page.get_by_role("group", name="Authentication").get_by_role("radio", name=auth).check()
    if auth == "API Key":
        page.get_by_label("API Key", exact=True).last.fill("wrong:credentials")
    else:
        page.get_by_label("Username", exact=True).fill(STANDALONE_USER)
        page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert").filter(has_text="Authentication failed")).to_be_visible()
    page.screenshot(path=f"/tmp/wizard-connect-420-{auth[:3]}.png", full_page=True)
    expect(page.get_by_role("heading", name="Connect to Data Source")).to_be_visible()
    if auth == "API Key":
        page.get_by_label("API Key", exact=True).last.fill(source.token)
    else:
        page.get_by_label("Password", exact=True).fill(STANDALONE_PASSWORD)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Select Source and Target")).to_be_visible()


@pytest.mark.standalone
def test_it_connects_to_another_organization_with_an_api_key(
    live_server, browser_page, owner, standalone_source
):
    """The API Key choice of the page, up to the source's collections. From there the path is
    the one the username-and-password test below runs to a verified copy; the job an API key
    makes is checked in tests/wizard/test_other_flow.py."""
    page = browser_page
    connect_to_another_organization(page, live_server.url, owner, standalone_source, "API Key")

    expect(page.get_by_label("Source Database")).to_have_value("default")
    expect(page.get_by_label("wze_docs", exact=True)).to_be_visible()
    expect(page.get_by_label("wze_items", exact=True)).to_be_visible()


@pytest.mark.standalone
def test_it_migrates_from_another_organization(
    live_server, browser_page, owner, project, lite_factory, standalone_source, job_worker
):
    """With a username and password, from the connect step to a verified copy."""
    auth = "Username and Password"
    target_server = lite_factory()
    target = cluster_on(project, target_server, "dst", Cluster.Plan.SERVERLESS)
    page = browser_page
    connect_to_another_organization(page, live_server.url, owner, standalone_source, auth)

    expect(page.get_by_label("Source Database")).to_have_value("default")
    page.get_by_label("wze_docs", exact=True).check()
    page.get_by_label("wze_items", exact=True).check()
    choose(page, "Target Project", project.pk, "target/clusters/")
    page.get_by_label("Target Cluster").select_option(target.pk)
    page.screenshot(path=f"/tmp/wizard-source-420-{auth[:3]}.png", full_page=True)
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Configure Schema")).to_be_visible()
    configure(page, "wze_docs", name="renamed_docs", description="from another organization")
    page.get_by_role("button", name="Migrate").click()

    job = migrated_job(page, job_worker)
    source_uri, token = standalone_source.uri, standalone_source.token
    assert rows(target.uri, "renamed_docs") == rows(source_uri, "wze_docs", token)
    assert rows(target.uri, "wze_items", key="sku") == rows(source_uri, "wze_items", token, "sku")
    spec = job.collections.get(source_name="wze_docs").spec
    assert spec["description"] == "from another organization"
