"""REST API v2 authentication and limits (console/api): Bearer keys, the per-key rate limit,
the error envelope, no session cookies, the OpenAPI document."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from console.models import ApiKey
from jobs.models import Job
from tests.conftest import ApiClient


def _assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] != 0 and body["message"]
    return body


def test_it_refuses_a_request_without_a_key(db):
    response = ApiClient(None).get("/v2/jobs")

    body = _assert_error(response, 401)
    assert "Bearer" in body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer mmc_not-a-key", "Basic dXNlcjpwYXNz", "Bearer ", "mmc_x"]
)
def test_it_refuses_an_invalid_key(db, client, header, caplog):
    caplog.set_level(logging.DEBUG)

    response = client.get("/v2/jobs", HTTP_AUTHORIZATION=header)

    _assert_error(response, 401)
    secret = header.partition(" ")[2].strip() if " " in header else header
    if secret:
        assert secret.encode() not in response.content and secret not in caplog.text


def test_it_refuses_a_revoked_key_at_once(owner, owner_client):
    key, raw = ApiKey.issue(owner, "ci")
    api = ApiClient(raw)
    assert api.get("/v2/jobs").status_code == 200

    # Revoking is the API Keys page's Delete.
    owner_client.post(reverse("api_key_delete", args=[key.pk]))

    _assert_error(api.get("/v2/jobs"), 401)


def test_it_ignores_a_logged_in_session(owner_client):
    response = owner_client.get("/v2/jobs")

    _assert_error(response, 401)


def test_it_answers_posts_without_a_csrf_token(owner, api_as, project):
    job = Job.objects.create(project=project, source_name="a", target_name="b")

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/cancel")

    assert response.status_code == 200
    assert response.json() == {"code": 0, "data": {"jobId": job.pk, "status": "CANCELED"}}


def test_it_shows_when_a_key_was_last_used(owner, owner_client):
    _, raw = ApiKey.issue(owner, "nightly")
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert "Last Used" in page and "Never" in page

    ApiClient(raw).get("/v2/jobs")

    key = ApiKey.objects.get(name="nightly")
    assert key.last_used_at is not None
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert key.last_used_at.strftime("%Y-%m-%d %H:%M") in page
    assert raw not in page


def test_it_limits_requests_per_key_with_retry_after(owner, api_as, settings):
    settings.API_RATE_LIMIT = 2
    api, other = api_as(owner), api_as(owner)

    statuses = [api.get("/v2/jobs").status_code for _ in range(8)]

    assert statuses[:2] == [200, 200]
    assert 429 in statuses
    limited = api.get("/v2/jobs")
    while limited.status_code != 429:  # a new one-second window may have begun
        limited = api.get("/v2/jobs")
    body = _assert_error(limited, 429)
    assert "2 per second" in body["message"]
    assert int(limited["Retry-After"]) >= 1
    # Per key: another key of the same user is not limited.
    assert other.get("/v2/jobs").status_code == 200


def test_it_publishes_the_openapi_document(client):
    response = client.get(reverse("api-openapi"))

    assert response.status_code == 200
    doc = response.json()
    assert set(doc["paths"]) == {
        "/v2/migrations/toExisting",
        "/v2/migrations/toNewDedicated",
        "/v2/jobs",
        "/v2/jobs/{jobId}",
        "/v2/jobs/{jobId}/cancel",
        "/v2/jobs/{jobId}/retry",
        "/v2/jobs/{jobId}/verify",
        "/v2/jobs/{jobId}/repair",
        "/v2/jobs/{jobId}/discard",
        "/v2/jobs/{jobId}/speedCap",
        "/v2/projects/{projectId}/webhook",
    }
    assert doc["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    assert reverse("api-openapi") == "/v2/openapi.json"


def test_it_serves_the_docs_page_without_a_cdn(client):
    response = client.get("/v2/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn." not in html and "/static/ninja/" in html


def test_it_answers_unknown_paths_under_v2_with_the_error_envelope(owner, api_as):
    response = api_as(owner).get("/v2/nothing-here")

    _assert_error(response, 404)


def test_it_answers_a_wrong_method_with_the_error_envelope(owner, api_as):
    response = api_as(owner).get("/v2/migrations/toExisting")

    assert "POST" in _assert_error(response, 405)["message"]
    assert response["Allow"] == "POST"
