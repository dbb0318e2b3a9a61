"""REST v2 migration endpoints (migrations_app/api.py) up to the job they create: the same
service and refusals as the wizard, strict bodies, every error as {"code", "message"}.

The job runs in tests/test_api_end_to_end.py (with a real Celery worker)."""

from __future__ import annotations

import json
import logging

import pytest

from console import throttle
from console.clusters.lite_process import free_port
from console.models import Cluster
from jobs.models import Job, JobCollection
from tests.engine.sample_data import create_simple
from tests.jobs_support import fill, local_cluster
from tests.milvus import MilvusClient

TO_EXISTING = "/v2/migrations/toExisting"
TO_NEW = "/v2/migrations/toNewDedicated"


@pytest.fixture(scope="module")
def source_server(lite_pool):
    with lite_pool.lend() as server:
        fill(server, "docs", 40, dynamic=True)
        fill(server, "notes", 10, varchar_pk=True)
        yield server


@pytest.fixture(scope="module")
def target_server(lite_pool):
    """Already holds a `docs` collection: migrating `docs` without a new name is a 409."""
    with lite_pool.lend() as server:
        fill(server, "docs", 1)
        yield server


@pytest.fixture
def source(project, source_server) -> Cluster:
    return local_cluster(project, source_server, "src", plan=Cluster.Plan.SERVERLESS)


@pytest.fixture
def target(project, target_server) -> Cluster:
    return local_cluster(project, target_server, "dst", plan=Cluster.Plan.DEDICATED)


def _body(source_id: str, target_id: str, collections=None, **db) -> dict:
    entry = {"dbName": "default", **db}
    if collections is not None:
        entry["collections"] = collections
    return {
        "source": {"clusterId": source_id},
        "destination": {"clusterId": target_id},
        "dbCollections": [entry],
    }


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] != 0
    assert "Traceback" not in body["message"]
    return body["message"]


# --- success ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "admin"])
def test_it_starts_a_migration_into_an_existing_cluster(request, persona, api_as, source, target):
    api = api_as(request.getfixturevalue(persona))
    body = _body(
        source.pk,
        target.pk,
        [
            {
                "collectionName": "docs",
                "targetCollectionName": "docs_v2",
                "description": "copied by the API",
                "enableDynamicField": False,
                "partitionKey": "",
            },
            {"collectionName": "notes"},
        ],
        destDbName="default",
    )
    body["loadAfterMigration"] = True

    response = api.post(TO_EXISTING, body)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["code"] == 0 and set(data["data"]) == {"jobId"}
    job = Job.objects.get(pk=data["data"]["jobId"])
    assert job.status == Job.Status.PENDING and job.load_after
    assert (job.source_cluster, job.target_cluster) == (source, target)
    assert job.created_by == request.getfixturevalue(persona)
    docs, notes = job.collections.all()
    assert (docs.source_name, docs.target_name, docs.target_db) == ("docs", "docs_v2", "default")
    assert docs.choices["description"] == "copied by the API"
    assert docs.choices["enable_dynamic_field"] is False
    assert docs.total_entities == 40
    assert (notes.target_name, notes.status) == ("notes", JobCollection.Status.PENDING)


def test_it_migrates_every_collection_when_none_are_listed(owner, api_as, project, source):
    # Another row for the same local server (an external row could not point at it: typed
    # endpoints never reach the console's local clusters).
    empty = Cluster.objects.create(
        project=project,
        name="empty",
        plan=Cluster.Plan.SERVERLESS,
        kind=Cluster.Kind.LOCAL,
        uri=source.uri,
        port=source.port,
        status=Cluster.Status.RUNNING,
    )
    # The same server as source and target: the databases differ (created on the target).
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": empty.pk},
        "dbCollections": [{"destDbName": "copy"}],
    }

    response = api_as(owner).post(TO_EXISTING, body)

    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert (job.source_db, job.target_db) == ("default", "copy")
    assert sorted(c.source_name for c in job.collections.all()) == ["docs", "notes"]


# --- several databases, or every one ------------------------------------------------------


@pytest.fixture
def two_databases(lite_factory, project):
    """A source with `docs` and `notes` in default and `orders` in `sales`; an empty target."""
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 12)
    fill(source_server, "notes", 3, varchar_pk=True)
    client = MilvusClient(uri=source_server.uri)
    client.create_database("sales")
    client.close()
    client = MilvusClient(uri=source_server.uri, db_name="sales")
    create_simple(client, "orders", rows=7)
    client.close()
    source = local_cluster(project, source_server, "multi", plan=Cluster.Plan.SERVERLESS)
    target = local_cluster(project, target_server, "landing", plan=Cluster.Plan.DEDICATED)
    return source, target, target_server


def _target_databases(server) -> list[str]:
    client = MilvusClient(uri=server.uri)
    try:
        return sorted(client.list_databases())
    finally:
        client.close()


def test_it_migrates_several_databases_in_one_job(owner, api_as, two_databases):
    source, target, _ = two_databases
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": target.pk},
        "dbCollections": [
            {"dbName": "default", "collections": [{"collectionName": "docs"}]},
            {"dbName": "sales", "destDbName": "sales_copy"},
        ],
        "loadAfterMigration": True,
    }

    response = api_as(owner).post(TO_EXISTING, body)

    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert job.load_after is True
    assert (job.source_db, job.target_db) == ("", "")
    assert "several databases" in job.description
    pairs = [
        (c.source_db, c.source_name, c.target_db, c.target_name) for c in job.collections.all()
    ]
    assert pairs == [
        ("default", "docs", "default", "docs"),
        ("sales", "orders", "sales_copy", "orders"),
    ]
    data = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]
    assert data["source"]["dbName"] is None and data["destination"]["dbName"] is None
    assert [c["targetDb"] for c in data["collections"]] == ["default", "sales_copy"]


def test_it_migrates_every_database_when_db_collections_is_omitted(owner, api_as, two_databases):
    source, target, _ = two_databases
    body = {"source": {"clusterId": source.pk}, "destination": {"clusterId": target.pk}}

    response = api_as(owner).post(TO_EXISTING, body)

    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["data"]["jobId"])
    pairs = sorted((c.source_db, c.source_name, c.target_db) for c in job.collections.all())
    assert pairs == [
        ("default", "docs", "default"),
        ("default", "notes", "default"),
        ("sales", "orders", "sales"),
    ]
    assert [c.total_entities for c in job.collections.order_by("source_name")] == [12, 3, 7]


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        (
            [{"dbName": "default"}, {"dbName": "ghost"}],
            "database ghost does not exist on the source (cluster multi)",
        ),
        (
            [{"dbName": "sales", "destDbName": "9lives"}],
            "target database name '9lives' is invalid",
        ),
        (
            [{"dbName": "sales"}, {"dbName": " sales", "destDbName": "other"}],
            "source database sales is listed more than once",
        ),
        (
            [
                {
                    "dbName": "default",
                    "destDbName": "merged",
                    "collections": [{"collectionName": "docs"}],
                },
                {
                    "dbName": "sales",
                    "destDbName": "merged",
                    "collections": [{"collectionName": "orders", "targetCollectionName": "docs"}],
                },
            ],
            "target collection docs in database merged is chosen more than once in this "
            "request (for default.docs, sales.orders)",
        ),
    ],
)
def test_it_refuses_a_bad_database_choice_and_creates_nothing(
    owner, api_as, two_databases, entries, named
):
    source, target, target_server = two_databases
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": target.pk},
        "dbCollections": entries,
    }

    message = _error(api_as(owner).post(TO_EXISTING, body), 400)

    assert named in message
    assert not Job.objects.exists()
    assert _target_databases(target_server) == ["default"]


def test_it_creates_a_dedicated_cluster_and_a_job_waiting_for_it(owner, api_as, project, source):
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterName": "fresh-one", "projectId": project.pk},
        "dbCollections": [{"collections": [{"collectionName": "docs"}]}],
    }

    response = api_as(owner).post(TO_NEW, body)

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == {"clusterId", "jobId"}
    cluster = Cluster.objects.get(pk=data["clusterId"])
    assert (cluster.name, cluster.plan, cluster.kind, cluster.project) == (
        "fresh-one",
        Cluster.Plan.DEDICATED,
        Cluster.Kind.LOCAL,
        project,
    )
    job = Job.objects.get(pk=data["jobId"])
    assert job.target_cluster == cluster and job.target_is_new
    assert job.status == Job.Status.PENDING


# --- refusals: the service's, with its message ------------------------------------------------


def test_it_refuses_a_read_only_member(viewer, api_as, source, target):
    message = _error(api_as(viewer).post(TO_EXISTING, _body(source.pk, target.pk)), 403)

    assert "Project Admin" in message
    assert not Job.objects.exists()


SOURCE_REFUSAL = (
    "Only Organization Owners and Project Admins can migrate data out of cluster src in "
    "project Default Project."
)


def test_it_refuses_a_source_in_a_project_where_the_user_only_watches(
    attacker, api_as, other_project, source, target_server
):
    # Issue 15: Read-Only in the source's project, Project Admin of the target's.
    target = local_cluster(other_project, target_server, "theirs")

    response = api_as(attacker).post(TO_EXISTING, _body(source.pk, target.pk))

    assert _error(response, 403) == SOURCE_REFUSAL
    assert not Job.objects.exists() and not JobCollection.objects.exists()


def test_it_refuses_the_same_source_into_a_new_cluster(attacker, api_as, other_project, source):
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterName": "exfil", "projectId": other_project.pk},
        "dbCollections": [{}],
    }

    assert _error(api_as(attacker).post(TO_NEW, body), 403) == SOURCE_REFUSAL
    assert not Job.objects.exists() and not Cluster.objects.filter(name="exfil").exists()


def test_it_answers_404_for_a_source_in_a_project_the_user_is_no_member_of(
    admin, api_as, other_project, source_server, target
):
    hidden = local_cluster(other_project, source_server, "hidden")

    message = _error(api_as(admin).post(TO_EXISTING, _body(hidden.pk, target.pk)), 404)

    assert message == f"cluster {hidden.pk} not found"
    assert not Job.objects.exists()


def test_it_hides_another_organizations_clusters(outsider, api_as, source, target):
    response = api_as(outsider).post(TO_EXISTING, _body(source.pk, target.pk))

    message = _error(response, 404)
    assert target.pk in message and "dst" not in message


def test_it_hides_another_organizations_project_for_a_new_cluster(outsider, api_as, project):
    body = {
        "source": {"clusterId": "in01-0000000000000000"},
        "destination": {"clusterName": "mine", "projectId": project.pk},
        "dbCollections": [{}],
    }

    _error(api_as(outsider).post(TO_NEW, body), 404)
    assert not Cluster.objects.filter(name="mine").exists()


def test_it_refuses_a_target_name_that_is_taken(owner, api_as, source, target):
    body = _body(source.pk, target.pk, [{"collectionName": "docs"}])

    message = _error(api_as(owner).post(TO_EXISTING, body), 409)

    assert "docs" in message and "already exists" in message
    assert not Job.objects.exists()


def test_it_refuses_a_new_cluster_name_that_is_taken(owner, api_as, project, source, target):
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterName": target.name, "projectId": project.pk},
        "dbCollections": [{}],
    }

    _error(api_as(owner).post(TO_NEW, body), 409)
    assert Cluster.objects.count() == 2


def test_it_reports_every_collection_problem_at_once(owner, api_as, source, target):
    body = _body(
        source.pk,
        target.pk,
        [{"collectionName": "missing"}, {"collectionName": "notes", "targetCollectionName": "9x"}],
    )

    message = _error(api_as(owner).post(TO_EXISTING, body), 400)

    assert message.startswith("2 problems") and "missing" in message and "9x" in message


def test_it_refuses_a_database_the_source_does_not_have(owner, api_as, source, target):
    message = _error(
        api_as(owner).post(TO_EXISTING, _body(source.pk, target.pk, dbName="nope")), 400
    )

    assert "nope" in message


def test_it_answers_503_for_a_cluster_that_cannot_be_reached(owner, api_as, project, target):
    down = Cluster.objects.create(
        project=project,
        name="down",
        plan=Cluster.Plan.SERVERLESS,
        kind=Cluster.Kind.LOCAL,
        uri="http://127.0.0.1:9",
        port=9,
        status=Cluster.Status.RUNNING,
    )

    message = _error(api_as(owner).post(TO_EXISTING, _body(down.pk, target.pk)), 503)

    assert "cannot be reached" in message


@pytest.mark.parametrize(
    ("source_plan", "target_plan"),
    [
        ("FREE", "FREE"),
        ("FREE", "SERVERLESS"),
        ("SERVERLESS", "FREE"),
        ("DEDICATED", "FREE"),
        ("DEDICATED", "SERVERLESS"),
    ],
)
def test_it_refuses_each_forbidden_plan_pair(
    owner, api_as, project, source_server, target_server, source_plan, target_plan
):
    src = local_cluster(project, source_server, "s", plan=source_plan)
    dst = local_cluster(project, target_server, "t", plan=target_plan)

    message = _error(api_as(owner).post(TO_EXISTING, _body(src.pk, dst.pk)), 400)

    from console.plans import target_refusal

    assert target_refusal(source_plan, target_plan) in message
    assert not Job.objects.exists()


def test_it_refuses_a_free_target_for_another_organizations_source(
    owner, api_as, project, target_server
):
    free = local_cluster(project, target_server, "free", plan=Cluster.Plan.FREE)
    body = {
        "source": {"endpoint": "http://127.0.0.1:19530", "apiKey": "k"},
        "destination": {"clusterId": free.pk},
        "dbCollections": [{}],
    }

    message = _error(api_as(owner).post(TO_EXISTING, body), 400)

    assert "Free cluster cannot be a migration target" in message


# --- connections to typed endpoints count against the user's limit ------------------------


@pytest.fixture
def counted(attacker, settings):
    settings.CONNECTION_TEST_LIMIT = 2
    throttle.reset_connection_tests(attacker.pk)
    yield
    throttle.reset_connection_tests(attacker.pk)


def _from_endpoint(uri: str, target_id: str) -> dict:
    return {
        "source": {"endpoint": uri, "apiKey": "k"},
        "destination": {"clusterId": target_id},
        "dbCollections": [{"dbName": "default"}],
    }


def test_it_counts_connections_to_an_endpoint_source(
    attacker, api_as, other_project, target_server, counted, settings
):
    """Issue 15: a source endpoint was connected to uncounted, and the answers (cannot be
    reached, not a Milvus server, no answer) made the API a port scanner."""
    dst = local_cluster(other_project, target_server, "dst")  # local: its reads do not count
    api = api_as(attacker)
    for _ in range(2):
        body = _from_endpoint(f"http://127.0.0.1:{free_port()}", dst.pk)
        assert "the source cannot be reached" in _error(api.post(TO_EXISTING, body), 503)

    body = _from_endpoint(f"http://127.0.0.1:{free_port()}", dst.pk)
    refused = api.post(TO_EXISTING, body)
    assert _error(refused, 429) == throttle.TOO_MANY_CONNECTION_TESTS
    assert refused["Retry-After"] == str(settings.CONNECTION_TEST_WINDOW)
    body = {
        "source": {"endpoint": f"http://127.0.0.1:{free_port()}", "apiKey": "k"},
        "destination": {"clusterName": "copy", "projectId": other_project.pk},
        "dbCollections": [{"dbName": "default"}],
    }
    assert _error(api.post(TO_NEW, body), 429) == throttle.TOO_MANY_CONNECTION_TESTS
    assert not Job.objects.exists()
    assert not Cluster.objects.filter(name="copy").exists()


def test_it_counts_connections_to_an_external_target(
    attacker, api_as, other_project, source_server, target_server, counted
):
    src = local_cluster(other_project, source_server, "src", plan=Cluster.Plan.SERVERLESS)
    dst = local_cluster(other_project, target_server, "ext")
    Cluster.objects.filter(pk=dst.pk).update(kind=Cluster.Kind.EXTERNAL, port=None)
    api = api_as(attacker)
    body = _body(src.pk, dst.pk, [{"collectionName": "notes"}])
    for _ in range(2):
        # Checked against the target, which holds no `notes`: a job is created each time.
        assert api.post(TO_EXISTING, body).status_code == 200
    assert _error(api.post(TO_EXISTING, body), 429) == throttle.TOO_MANY_CONNECTION_TESTS
    assert Job.objects.count() == 2


# --- malformed bodies: 400/422 naming the field --------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        (lambda b: b.update(extra=1), 422, "extra: is not a known field"),
        (lambda b: b["source"].update(port=1), 422, "source.port: is not a known field"),
        (
            lambda b: b["dbCollections"][0]["collections"][0].update(shards=2),
            422,
            "dbCollections[0].collections[0].shards: is not a known field",
        ),
        (lambda b: b.pop("source"), 422, "source: is required"),
        (lambda b: b.pop("destination"), 422, "destination: is required"),
        (lambda b: b["destination"].pop("clusterId"), 422, "destination.clusterId: is required"),
        (lambda b: b.update(loadAfterMigration="yes"), 422, "loadAfterMigration:"),
        (
            lambda b: b["dbCollections"][0]["collections"][0].update(enableDynamicField="true"),
            422,
            "dbCollections[0].collections[0].enableDynamicField:",
        ),
        (
            lambda b: b["dbCollections"][0]["collections"][0].update(collectionName=5),
            422,
            "dbCollections[0].collections[0].collectionName:",
        ),
        (lambda b: b["source"].update(clusterId=["x"]), 422, "source.clusterId:"),
        (
            lambda b: b["source"].update(endpoint="http://h:1"),
            422,
            "give either clusterId or endpoint",
        ),
        (lambda b: b.update(source={}), 422, "source: give clusterId, or endpoint"),
        (
            lambda b: b.update(source={"endpoint": "http://h:1", "username": "u"}),
            422,
            "source: endpoint needs apiKey, or username and password",
        ),
        (lambda b: b.update(dbCollections=[]), 422, "dbCollections:"),
        (
            lambda b: b["dbCollections"][0].update(collections=[]),
            422,
            "dbCollections[0].collections:",
        ),
        (lambda b: b["destination"].update(clusterId="in01-\u0000"), 422, "destination.clusterId:"),
    ],
)
def test_it_names_the_field_of_a_malformed_body(owner, api_as, change, status, named):
    body = _body("in01-aaaaaaaaaaaaaaaa", "in01-bbbbbbbbbbbbbbbb", [{"collectionName": "docs"}])
    change(body)

    message = _error(api_as(owner).post(TO_EXISTING, body), status)

    assert named in message


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ("{not json", 400, "not valid JSON"),
        ('{"loadAfterMigration": NaN}', 400, "not valid JSON"),
        ("", 400, "must be a JSON object"),
        ("[]", 400, "must be a JSON object"),
        ('"text"', 400, "must be a JSON object"),
        (b"\xff\xfe", 400, "not valid JSON"),
    ],
)
def test_it_refuses_a_body_that_is_not_one_json_object(owner, api_as, raw, status, message):
    response = api_as(owner).post(TO_EXISTING, raw=raw)

    assert message in _error(response, status)


def test_it_refuses_an_oversized_body(owner, api_as, settings):
    body = _body("in01-aaaaaaaaaaaaaaaa", "in01-bbbbbbbbbbbbbbbb")
    body["dbCollections"][0]["collections"] = [
        {"collectionName": "c", "description": "x" * 4000} for _ in range(300)
    ]
    raw = json.dumps(body)
    assert len(raw) > settings.API_MAX_BODY_BYTES

    message = _error(api_as(owner).post(TO_EXISTING, raw=raw), 413)

    assert "larger than" in message


def test_it_needs_a_key_before_it_reads_a_body(db, client):
    response = client.post(TO_EXISTING, "{}", content_type="application/json")

    _error(response, 401)


# --- another organization's source: the real Milvus standalone with authorization on ------
# Last in the module: the standalone takes ~20 s to start the first time, and Milvus Lite
# servers drop gRPC channels left idle that long ("too many pings").


@pytest.fixture(scope="module")
def standalone_source(standalone):
    client = MilvusClient(uri=standalone.uri, token=standalone.token)
    name = "api_src_docs"
    if name in client.list_collections():
        client.drop_collection(name)
    create_simple(client, name, rows=25)
    client.flush(name)  # Milvus 2.3 counts only flushed rows
    client.close()
    return name


@pytest.mark.standalone
@pytest.mark.parametrize("auth", ["apiKey", "username"])
def test_it_starts_a_migration_from_another_organization(
    auth, owner, api_as, target, standalone, standalone_source, caplog
):
    caplog.set_level(logging.DEBUG)
    user, password = standalone.token.split(":")
    credentials = (
        {"apiKey": standalone.token}
        if auth == "apiKey"
        else {"username": user, "password": password}
    )
    body = {
        "source": {"endpoint": standalone.uri, **credentials},
        "destination": {"clusterId": target.pk},
        "dbCollections": [{"collections": [{"collectionName": standalone_source}]}],
    }

    api = api_as(owner)
    response = api.post(TO_EXISTING, body)

    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert job.source_cluster is None and job.source_name == f"127.0.0.1:{standalone.port}"
    # What the worker connects with: the same token either way (the run itself, with an
    # apiKey, is in tests/test_api_end_to_end.py).
    assert job.source_connection().pymilvus_token == standalone.token
    assert job.collections.get().total_entities == 25
    # The credentials are kept encrypted and never shown again.
    assert password not in job.source_connection_enc
    assert f'"{password}"' not in response.content.decode()
    for shown in (api.get(f"/v2/jobs/{job.pk}"), api.get("/v2/jobs")):
        assert password not in shown.content.decode()
        assert standalone.token not in shown.content.decode()
    assert standalone.token not in caplog.text
    assert all(password not in e.message for e in job.events.all())


@pytest.mark.standalone
def test_it_refuses_wrong_credentials_for_another_organization(
    owner, api_as, target, standalone, standalone_source, caplog
):
    wrong = "root:not-the-password-42"
    body = {
        "source": {"endpoint": standalone.uri, "apiKey": wrong},
        "destination": {"clusterId": target.pk},
        "dbCollections": [{}],
    }

    response = api_as(owner).post(TO_EXISTING, body)

    message = _error(response, 400)
    assert message.startswith("the source refused the connection: authentication failed on ")
    assert "not-the-password-42" not in message and "not-the-password-42" not in caplog.text
    assert not Job.objects.exists()
