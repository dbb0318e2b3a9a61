"""REST v2: GET / PUT / DELETE /v2/projects/{projectId}/webhook."""

from __future__ import annotations

import json

import pytest

from console.models import ApiKey, Project, WebhookDelivery
from console.webhooks import signing_secret
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def public_name(resolver):
    resolver.answers["hooks.example.com"] = [["93.184.216.34"]]


def call(api, method: str, path: str, body=None):
    kwargs = {"content_type": "application/json", **api._headers()}
    data = json.dumps(body) if body is not None else ""
    return getattr(api.client, method)(path, data, **kwargs)


def path(project) -> str:
    return f"/v2/projects/{project.pk}/webhook"


def test_it_sets_the_url_and_answers_the_secret_once(api_as, admin, project):
    api = api_as(admin)
    response = call(api, "put", path(project), {"url": "https://hooks.example.com/in"})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    data = response.json()["data"]
    assert data["projectId"] == project.pk
    assert data["url"] == "https://hooks.example.com/in"
    assert data["secret"] == signing_secret(Project.objects.get(pk=project.pk))
    described = api.get(path(project))
    assert described.status_code == 200
    assert described.json() == {
        "code": 0,
        "data": {"projectId": project.pk, "url": "https://hooks.example.com/in", "deliveries": []},
    }
    assert data["secret"] not in described.content.decode()


def test_it_lists_the_latest_deliveries(api_as, owner, project):
    Project.objects.filter(pk=project.pk).update(webhook_url="https://hooks.example.com/in")
    WebhookDelivery.objects.create(
        project=project,
        job_id="job-0123456789abcdefghij",
        job_status="FAILED",
        event_id="e1",
        attempt=2,
        attempts=4,
        url="https://hooks.example.com/in",
        error="connection refused",
    )
    (line,) = api_as(owner).get(path(project)).json()["data"]["deliveries"]
    assert line["jobId"] == "job-0123456789abcdefghij"
    assert (line["attempt"], line["attempts"], line["statusCode"]) == (2, 4, None)
    assert (line["error"], line["delivered"]) == ("connection refused", False)
    assert line["time"].endswith("Z")


def test_it_removes_the_webhook(api_as, owner, project):
    api = api_as(owner)
    call(api, "put", path(project), {"url": "https://hooks.example.com/in"})
    response = call(api, "put", path(project), {"url": ""})
    assert response.json()["data"] == {"projectId": project.pk, "url": None, "secret": None}
    call(api, "put", path(project), {"url": "https://hooks.example.com/in"})
    response = call(api, "delete", path(project))
    assert response.status_code == 200
    assert response.json()["data"]["url"] is None
    project.refresh_from_db()
    assert (project.webhook_url, project.webhook_secret_enc) == ("", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "gopher://hooks.example.com/",
            "Webhook URL scheme 'gopher' is not allowed: use http or https",
        ),
        ("not a url", "Webhook URL must not contain spaces or control characters"),
        ("http://169.254.169.254/", "is a cloud metadata service and is not allowed"),
    ],
)
def test_it_refuses_a_bad_url_with_400(api_as, admin, project, url, message):
    response = call(api_as(admin), "put", path(project), {"url": url})
    assert response.status_code == 400
    assert message in response.json()["message"]
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_it_refuses_a_private_address_when_the_setting_says_so(api_as, admin, project, settings):
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = False
    response = call(api_as(admin), "put", path(project), {"url": "http://192.168.1.20/hook"})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Webhook URL: endpoint 192.168.1.20 is a private address; private endpoints are not "
        "allowed here"
    )


def test_it_refuses_a_body_of_the_wrong_shape(api_as, admin, project):
    response = call(api_as(admin), "put", path(project), {"url": 5})
    assert response.status_code == 422
    response = call(api_as(admin), "put", path(project), {"url": "https://x.example", "x": 1})
    assert response.status_code == 422
    assert "x: is not a known field" in response.json()["message"]


def test_it_refuses_read_only_members_and_hides_from_outsiders(
    api_as, viewer, writer, outsider, project
):
    for user in (viewer, writer):
        api = api_as(user)
        response = api.get(path(project))
        assert response.status_code == 403
        assert "Only Organization Owners and Project Admins" in response.json()["message"]
        assert (
            call(api, "put", path(project), {"url": "https://hooks.example.com/"}).status_code
            == 403
        )
        assert call(api, "delete", path(project)).status_code == 403
    assert api_as(outsider).get(path(project)).status_code == 404
    assert api_as(outsider).get("/v2/projects/no such/webhook").status_code == 404
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_it_refuses_a_key_scoped_to_another_project(admin, owner, project, other_project):
    _, raw = ApiKey.issue(owner, "scoped", project=other_project)
    response = ApiClient(raw).get(path(project))
    assert response.status_code == 403
    assert "limited to project Analytics" in response.json()["message"]
