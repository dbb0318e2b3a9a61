"""In Other Organization through the Django test client: Connect to Data Source (the real
Milvus standalone, authorization on) → Select Source and Target → Configure Schema → Migrate."""

from __future__ import annotations

import http.server
import threading

import pytest
from django.urls import reverse

from console.clusters.lite_process import free_port
from console.connections import Connection
from console.models import Cluster
from jobs.models import Job, JobCollection
from migrations_app.models import WizardDraft
from tests.milvus import MilvusClient
from tests.servers import STANDALONE_PASSWORD, STANDALONE_USER
from tests.wizard.helpers import cluster_on, draft_url_of, drop_source, fill_source, schema_post

pytestmark = pytest.mark.standalone

PREFIX = "wzo_"
DOCS, ITEMS = f"{PREFIX}docs", f"{PREFIX}items"


@pytest.fixture(scope="module")
def filled(standalone):
    fill_source(standalone.uri, standalone.token, prefix=PREFIX)
    yield standalone
    drop_source(standalone.uri, standalone.token, PREFIX)


@pytest.fixture
def target_server(lite_factory):
    return lite_factory()


@pytest.fixture
def target(project, target_server) -> Cluster:
    return cluster_on(project, target_server, "dst", Cluster.Plan.SERVERLESS)


def _connect(client, uri, **auth):
    data = {"uri": uri, "auth": "USER_PASSWORD" if "username" in auth else "API_KEY", **auth}
    return client.post(reverse("wizard_other"), data)


def test_it_shows_the_connect_step_with_the_design_words(owner_client):
    html = owner_client.get(reverse("wizard_other")).content.decode()

    assert "<h1>Connect to Data Source</h1>" in html
    for label in ("Endpoint", "API Key", "Username", "Password"):
        assert f">{label}</label>" in html
    assert "<legend>Authentication</legend>" in html and "Username and Password" in html


@pytest.mark.parametrize("auth", ["username", "token"])
def test_it_migrates_from_the_standalone_to_a_pending_job(owner_client, filled, target, auth):
    credentials = (
        {"username": STANDALONE_USER, "password": STANDALONE_PASSWORD}
        if auth == "username"
        else {"api_key": filled.token}
    )
    response = _connect(owner_client, filled.uri, **credentials)
    base = draft_url_of(response)
    assert response["Location"] == base + "source/"

    draft = WizardDraft.objects.get()
    assert (
        STANDALONE_PASSWORD not in str(draft.data)
        and STANDALONE_PASSWORD not in draft.connection_enc
    )
    page = owner_client.get(base + "source/").content.decode()
    assert "<h1>Select Source and Target</h1>" in page
    assert f">{DOCS}</label>" in page and "12 entities" in page
    for label in ("Source Database", "Target Project", "Target Cluster", "Target Database"):
        assert f">{label}</label>" in page
    assert "Load after migration</label>" in page
    assert filled.token not in page and f'value="{STANDALONE_PASSWORD}"' not in page

    response = owner_client.post(
        base + "source/",
        {
            "source_db": "default",
            "collections": [DOCS, ITEMS],
            "target_project": target.project_id,
            "target_cluster": target.pk,
            "target_db": "from_elsewhere",
            "load_after": "on",
        },
    )
    assert response["Location"] == base + "schema/"
    page = owner_client.get(base + "schema/").content.decode()
    assert f"<legend>{DOCS}</legend>" in page and "<h1>Configure Schema</h1>" in page
    assert "database <code>from_elsewhere</code>, loaded after migration" in page

    response = owner_client.post(
        base + "schema/",
        schema_post(
            "migrate",
            ["renamed_docs", ITEMS],
            c0_description="from elsewhere",
            c0_dynamic_field="on",
            c1_partition_key="category",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get()
    assert response["Location"].endswith(f"&highlight={job.pk}")
    assert job.source_cluster is None and job.target_cluster == target
    assert (job.target_db, job.load_after) == ("from_elsewhere", True)
    kept = Connection.decrypt(job.source_connection_enc)
    assert kept.pymilvus_token == filled.token
    names = list(JobCollection.objects.filter(job=job).values_list("source_name", "target_name"))
    assert names == [(DOCS, "renamed_docs"), (ITEMS, ITEMS)]
    # Nothing of the draft is kept but the job it became: no endpoint, no credentials.
    draft = WizardDraft.objects.get()
    assert (draft.data, draft.connection_enc) == ({"used_for_job": job.pk}, "")


def test_it_keeps_the_stored_password_when_going_back(owner_client, filled, target):
    base = draft_url_of(
        _connect(owner_client, filled.uri, username=STANDALONE_USER, password=STANDALONE_PASSWORD)
    )

    page = owner_client.get(base + "connect/").content.decode()
    assert f'value="{STANDALONE_PASSWORD}"' not in page and filled.uri in page
    response = owner_client.post(
        base + "connect/", {"uri": filled.uri, "auth": "USER_PASSWORD", "username": "root"}
    )

    assert response["Location"] == base + "source/"


# --- bad input: a clear message on Connect to Data Source, nothing created ----------------


@pytest.fixture
def http_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_it_says_authentication_failed_for_wrong_credentials(owner_client, filled):
    response = _connect(owner_client, filled.uri, username="root", password="wrong-password")

    html = response.content.decode()
    assert response.status_code == 400
    assert "<h1>Connect to Data Source</h1>" in html
    assert "Authentication failed" in html
    assert "wrong-password" not in html
    assert not WizardDraft.objects.exists() and not Job.objects.exists()


def test_it_says_an_unreachable_endpoint_cannot_be_reached(owner_client):
    response = _connect(owner_client, f"http://127.0.0.1:{free_port()}", api_key="k")

    assert response.status_code == 400
    assert "Cannot reach 127.0.0.1:" in response.content.decode()
    assert not WizardDraft.objects.exists()


def test_it_says_a_port_that_is_not_milvus_is_not_milvus(owner_client, http_server):
    port = http_server.server_address[1]

    response = _connect(owner_client, f"http://127.0.0.1:{port}", api_key="k")

    assert response.status_code == 400
    assert f"127.0.0.1:{port} is not a Milvus server" in response.content.decode()
    assert not WizardDraft.objects.exists()


def test_it_refuses_an_endpoint_that_is_not_allowed(owner_client):
    response = _connect(owner_client, "http://169.254.169.254:19530", api_key="k")

    html = response.content.decode()
    assert response.status_code == 400
    assert "is a cloud metadata service and is not allowed" in html or "link-local" in html
    assert not WizardDraft.objects.exists()


def test_it_refuses_an_empty_selection_and_a_free_target(
    owner_client, filled, project, lite_factory
):
    free = cluster_on(project, lite_factory(), "free", Cluster.Plan.FREE)
    base = draft_url_of(_connect(owner_client, filled.uri, api_key=filled.token))

    page = owner_client.get(base + "source/").content.decode()
    assert f'value="{free.pk}" disabled' in page

    response = owner_client.post(
        base + "source/",
        {"source_db": "default", "target_project": project.pk, "target_cluster": free.pk},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose at least one collection to migrate." in html
    assert "a Free cluster cannot be a migration target" in html
    assert not Job.objects.exists()
    assert MilvusClient(uri=free.uri).list_collections() == []
