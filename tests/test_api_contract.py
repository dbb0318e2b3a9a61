"""The REST v2 contract, generated from /v2/openapi.json with schemathesis against the live app:
valid and invalid requests for every operation; no 5xx, and every response (status, content
type, headers, body) as the document says.

Bounded: a fixed number of examples per operation and mode (about 20 s in all here). Ids in
generated bodies are random, so most migrations end in a 404 or a refusal; the jobs in the
database give the read endpoints real records to check against the schema."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from console.models import ApiKey, Cluster
from jobs.models import Job, JobCollection

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(owner, project, lite_server):
    """Jobs in several states, on clusters of a real server, so lists and reads have records."""
    cluster = Cluster.objects.create(
        project=project,
        name="c",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri=lite_server.uri,
        status=Cluster.Status.RUNNING,
    )
    for status in (Job.Status.PENDING, Job.Status.FAILED, Job.Status.SUCCESSFUL):
        job = Job.objects.create(
            project=project,
            status=status,
            created_by=owner,
            source_cluster=cluster,
            source_name=cluster.name,
            target_cluster=cluster,
            target_name=cluster.name,
            target_db="copy",
        )
        JobCollection.objects.create(
            job=job, source_db="default", source_name="a", target_db="copy", target_name="a"
        )
    return cluster


# Every operation of the document, each fuzzed below.
OPERATIONS = {
    "POST /v2/migrations/toExisting",
    "POST /v2/migrations/toNewDedicated",
    "GET /v2/jobs/{jobId}",
    "GET /v2/jobs",
    "POST /v2/jobs/{jobId}/cancel",
    "POST /v2/jobs/{jobId}/retry",
    "POST /v2/jobs/{jobId}/speedCap",
    "POST /v2/jobs/{jobId}/verify",
    "POST /v2/jobs/{jobId}/repair",
    "GET /v2/projects/{projectId}/webhook",
    "PUT /v2/projects/{projectId}/webhook",
    "DELETE /v2/projects/{projectId}/webhook",
}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_it_keeps_to_its_openapi_document(live_server, owner, seeded, mode, settings_override):
    _, raw = ApiKey.issue(owner, "contract")
    document = requests.get(f"{live_server.url}/v2/openapi.json", timeout=10).json()
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"ApiKeyAuth": {"bearer": raw}}}})
    schema = schemathesis.openapi.from_dict(document, config=config)
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} == OPERATIONS

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call_and_validate(base_url=live_server.url, checks=checks, timeout=15)
            assert raw not in response.text

        run()


@pytest.fixture
def settings_override(settings):
    # Schemathesis sends as fast as it can: the rate limit is tested on its own.
    settings.API_RATE_LIMIT = 100_000
    return settings
