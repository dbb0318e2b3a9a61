"""REST v2 end to end with a real Celery worker: a migration started by the API runs to
SUCCESSFUL, is followed with GET /v2/jobs/{jobId} and listed by GET /v2/jobs; no secret shows
in any response, job event or log on the way."""

from __future__ import annotations

import logging
import time

import pytest

from console.clusters.supervisor import Supervisor
from console.models import Cluster
from jobs.models import Job
from tests.engine.sample_data import create_simple
from tests.jobs_support import count, fill, local_cluster
from tests.milvus import MilvusClient

pytestmark = pytest.mark.django_db(transaction=True)


def _follow(api, job_id: str, worker, timeout: float = 120) -> dict:
    """GET the job every half second until it is final; its data."""
    deadline = time.monotonic() + timeout
    data = {}
    while time.monotonic() < deadline:
        response = api.get(f"/v2/jobs/{job_id}")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        if data["status"] in Job.FINAL_STATES:
            return data
        time.sleep(0.5)
    raise AssertionError(f"job stayed {data.get('status')}\n{worker.logs()[-3000:]}")


def _no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text


@pytest.fixture
def pair(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 1500, dynamic=True)
    fill(source_server, "notes", 300, varchar_pk=True)
    source = local_cluster(project, source_server, "src", plan=Cluster.Plan.SERVERLESS)
    target = local_cluster(project, target_server, "dst", plan=Cluster.Plan.DEDICATED)
    return source, target, target_server


def test_it_migrates_to_an_existing_cluster_and_follows_the_job(
    owner, project, api_as, pair, job_worker, caplog
):
    source, target, target_server = pair
    api = api_as(owner)
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": target.pk},
        "dbCollections": [
            {
                "dbName": "default",
                "collections": [
                    {"collectionName": "docs", "targetCollectionName": "docs_v2"},
                    {"collectionName": "notes", "description": "by the API"},
                ],
            }
        ],
        "loadAfterMigration": True,
    }

    response = api.post("/v2/migrations/toExisting", body)
    assert response.status_code == 200, response.content
    job_id = response.json()["data"]["jobId"]
    data = _follow(api, job_id, job_worker)

    assert data["status"] == "SUCCESSFUL", data["reason"]
    assert data["progress"] == 100 and data["startTime"] and data["endTime"]
    assert [(c["targetCollection"], c["verification"]) for c in data["collections"]] == [
        ("docs_v2", "VERIFIED"),
        ("notes", "VERIFIED"),
    ]
    assert all(c["migratedEntities"] == c["totalEntities"] for c in data["collections"])
    assert (count(target_server, "docs_v2"), count(target_server, "notes")) == (1500, 300)
    listed = api.get(
        "/v2/jobs", projectId=project.pk, status="SUCCESSFUL", pageSize=1, currentPage=1
    ).json()["data"]
    assert listed["count"] == 1 and listed["records"] == [data]
    assert api.get("/v2/jobs", status="FAILED").json()["data"]["count"] == 0
    _no_secret(api.key, caplog.text, job_worker.logs(), str(data))


def test_it_migrates_to_a_new_dedicated_cluster_once_it_runs(
    owner, project, api_as, lite_factory, job_worker, tmp_path
):
    source_server = lite_factory()
    fill(source_server, "docs", 800)
    # External: the supervisor below starts LOCAL rows' servers itself, and leaves this one be.
    source = Cluster.objects.create(
        project=project,
        name="src",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri=source_server.uri,
        status=Cluster.Status.RUNNING,
    )
    api = api_as(owner)
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterName": "brand-new", "projectId": project.pk},
        "dbCollections": [{"collections": [{"collectionName": "docs"}]}],
    }

    response = api.post("/v2/migrations/toNewDedicated", body)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    cluster = Cluster.objects.get(pk=data["clusterId"])
    assert cluster.status == Cluster.Status.CREATING
    # The cluster supervisor (manage.py runclusters) starts the new local cluster.
    supervisor = Supervisor(tmp_path / "clusters")
    try:
        supervisor.reconcile_once()
        cluster.refresh_from_db()
        assert cluster.status == Cluster.Status.RUNNING, cluster.status_message
        job = _follow(api, data["jobId"], job_worker)
        assert job["status"] == "SUCCESSFUL", job["reason"]
        assert job["destination"]["clusterId"] == cluster.pk
        client = MilvusClient(uri=cluster.uri)
        assert client.list_collections() == ["docs"]
        client.close()
    finally:
        supervisor.stop_all()


@pytest.mark.standalone
def test_it_migrates_from_another_organization(
    owner, project, api_as, lite_factory, standalone, job_worker, caplog
):
    """With an apiKey. A username and password reach the same stored connection (checked up to
    the job in test_api_migrations); the wizard runs that way end to end (tests/e2e)."""
    caplog.set_level(logging.DEBUG)
    name = "api_e2e"
    client = MilvusClient(uri=standalone.uri, token=standalone.token)
    if name in client.list_collections():
        client.drop_collection(name)
    create_simple(client, name, rows=400)
    client.flush(name)
    client.close()
    target_server = lite_factory()
    target = local_cluster(project, target_server, "dst", plan=Cluster.Plan.SERVERLESS)
    _, password = standalone.token.split(":")
    api = api_as(owner)

    response = api.post(
        "/v2/migrations/toExisting",
        {
            "source": {"endpoint": standalone.uri, "apiKey": standalone.token},
            "destination": {"clusterId": target.pk},
            "dbCollections": [{"collections": [{"collectionName": name}]}],
        },
    )
    assert response.status_code == 200, response.content
    data = _follow(api, response.json()["data"]["jobId"], job_worker)

    assert data["status"] == "SUCCESSFUL", data["reason"]
    assert data["source"] == {"endpoint": f"127.0.0.1:{standalone.port}", "dbName": "default"}
    assert count(target_server, name) == 400
    job = Job.objects.get(pk=data["jobId"])
    events = "\n".join(e.message for e in job.events.all())
    listed = api.get("/v2/jobs").content.decode()
    _no_secret(standalone.token, caplog.text, job_worker.logs(), events, listed, str(data))
    _no_secret(f'"{password}"', listed, str(response.content))
    _no_secret(api.key, caplog.text, job_worker.logs())


def test_it_retries_a_failed_job_to_successful(owner, project, api_as, lite_factory, job_worker):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "notes", 200, varchar_pk=True)
    source = local_cluster(project, source_server, "src", plan=Cluster.Plan.SERVERLESS)
    target = local_cluster(project, target_server, "dst", plan=Cluster.Plan.SERVERLESS)
    api = api_as(owner)
    # Planned while the collection existed, dropped before the worker reads it: FAILED.
    with job_worker.paused():
        response = api.post(
            "/v2/migrations/toExisting",
            {
                "source": {"clusterId": source.pk},
                "destination": {"clusterId": target.pk},
                "dbCollections": [{"collections": [{"collectionName": "notes"}]}],
            },
        )
        job_id = response.json()["data"]["jobId"]
        client = MilvusClient(uri=source_server.uri)
        client.drop_collection("notes")
        client.close()
        assert api.get(f"/v2/jobs/{job_id}").json()["data"]["status"] == "PENDING"
    assert _follow(api, job_id, job_worker)["status"] == "FAILED"
    assert api.post(f"/v2/jobs/{job_id}/cancel").status_code == 409

    fill(source_server, "notes", 200, varchar_pk=True)
    with job_worker.paused():  # the answer is the job as the retry left it: PENDING
        retried = api.post(f"/v2/jobs/{job_id}/retry")

    assert retried.json() == {"code": 0, "data": {"jobId": job_id, "status": "PENDING"}}
    data = _follow(api, job_id, job_worker)
    assert data["status"] == "SUCCESSFUL", data["reason"]
    assert count(target_server, "notes") == 200
    assert api.post(f"/v2/jobs/{job_id}/retry").status_code == 409
