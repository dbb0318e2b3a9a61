"""Project Settings page: the webhook (set with a secret shown once, refused URLs with their
reason, removed) and its delivery log; Owners and Project Admins only."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from console.models import Project, WebhookDelivery
from console.webhook_delivery import Event, deliver
from console.webhooks import signing_secret
from tests.webhook_receiver import start_receiver, stop_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(project):
    return reverse("project_settings", args=[project.pk])


@pytest.fixture(autouse=True)
def public_name(resolver):
    """hooks.example.com answers a public address (the machine has no DNS of its own)."""
    resolver.answers["hooks.example.com"] = [["93.184.216.34"]]


@pytest.fixture
def receiver():
    receiver = start_receiver(answers=[500])
    yield receiver
    stop_receiver(receiver)


def secret_on(page: str) -> str:
    found = re.search(r'id="webhook-secret">([^<]+)<', page)
    return found[1] if found else ""


def error_on(page: str) -> str:
    found = re.search(r'<p class="field-error" role="alert">([^<]+)</p>', page)
    return found[1].replace("&#x27;", "'") if found else ""


def test_it_sets_the_webhook_and_shows_its_secret_once(project_admin_client, project, url, admin):
    response = project_admin_client.post(url, {"url": "https://hooks.example.com/jobs?t=1"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = secret_on(response.content.decode())
    assert secret.startswith("whsec_") and len(secret) > 40
    project.refresh_from_db()
    assert project.webhook_url == "https://hooks.example.com/jobs?t=1"
    assert project.webhook_set_by == admin
    assert signing_secret(project) == secret
    assert secret not in project.webhook_secret_enc  # stored encrypted
    again = project_admin_client.get(url)
    assert again["Cache-Control"] == "no-store"
    assert "https://hooks.example.com/jobs?t=1" in again.content.decode()
    assert secret not in again.content.decode()
    # Saving again makes a new secret.
    second = secret_on(
        project_admin_client.post(url, {"url": project.webhook_url}).content.decode()
    )
    assert second and second != secret


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "This field is required."),
        ("hooks.example.com/jobs", "Webhook URL 'hooks.example.com/jobs' has no scheme"),
        (
            "ftp://hooks.example.com/jobs",
            "Webhook URL scheme 'ftp' is not allowed: use http or https",
        ),
        ("tcp://hooks.example.com:19530", "Webhook URL scheme 'tcp' is not allowed"),
        (
            "https://user:pw@hooks.example.com/",
            "Webhook URL must not contain a user name or password",
        ),
        ("https://hooks.example.com:99999/", "has an invalid port"),
        ("http://169.254.169.254/latest", "is a cloud metadata service and is not allowed"),
        ("http://[fe80::1]/", "is a link-local address and is not allowed"),
        ("https://nowhere.invalid/hook", "Webhook URL: host nowhere.invalid cannot be resolved"),
        ("https://hooks.example.com/#top", "must not have a #fragment"),
    ],
)
def test_it_refuses_a_bad_url_with_its_reason(project_admin_client, project, url, typed, message):
    response = project_admin_client.post(url, {"url": typed})
    assert response.status_code == 400
    assert message in error_on(response.content.decode())
    project.refresh_from_db()
    assert project.webhook_url == "" and project.webhook_secret_enc == ""
    assert 'id="webhook-secret"' not in response.content.decode()


def test_it_refuses_a_private_address_unless_the_setting_allows_it(
    project_admin_client, project, url, settings
):
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = False
    for typed in ("http://10.1.2.3/hook", "http://127.0.0.1:8080/hook"):
        response = project_admin_client.post(url, {"url": typed})
        assert response.status_code == 400
        assert "private endpoints are not allowed here" in error_on(response.content.decode())
    project.refresh_from_db()
    assert project.webhook_url == ""
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = True
    assert project_admin_client.post(url, {"url": "http://10.1.2.3/hook"}).status_code == 200


def test_it_refuses_the_consoles_own_services(project_admin_client, project, url, settings):
    redis_port = int(re.search(r":(\d+)/", settings.REDIS_URL)[1])
    response = project_admin_client.post(url, {"url": f"http://127.0.0.1:{redis_port}/"})
    assert response.status_code == 400
    assert "is the console's own Redis" in error_on(response.content.decode())
    response = project_admin_client.post(url, {"url": "http://localhost:8000/hook"})
    assert "is the console's own web server" in error_on(response.content.decode())
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_it_refuses_read_only_members_and_hides_from_outsiders(
    viewer_client, writer_client, outsider_client, owner_client, project, url
):
    for client in (viewer_client, writer_client):
        assert client.get(url).status_code == 403
        assert client.post(url, {"url": "https://hooks.example.com/"}).status_code == 403
        remove = reverse("project_webhook_remove", args=[project.pk])
        assert client.post(remove).status_code == 403
    assert outsider_client.get(url).status_code == 404
    assert owner_client.get(url).status_code == 200
    project.refresh_from_db()
    assert project.webhook_url == ""


def test_it_links_the_page_for_managers_only(project_admin_client, viewer_client, url):
    assert f'href="{url}"' in project_admin_client.get(reverse("api_keys")).content.decode()
    assert "Project Settings" not in viewer_client.get(reverse("api_keys")).content.decode()


def test_it_removes_the_webhook(project_admin_client, project, url):
    project_admin_client.post(url, {"url": "https://hooks.example.com/"})
    response = project_admin_client.post(
        reverse("project_webhook_remove", args=[project.pk]), follow=True
    )
    assert "Webhook removed." in response.content.decode()
    project.refresh_from_db()
    assert (project.webhook_url, project.webhook_secret_enc) == ("", "")


def test_it_shows_the_delivery_log(project_admin_client, project, url, receiver, admin):
    project_admin_client.post(url, {"url": receiver.url("/hook")})
    project = Project.objects.get(pk=project.pk)
    event = Event(project.pk, "job-0123456789abcdefghij", "FAILED", str(uuid.uuid4()), b"{}")
    assert deliver(event, 1, 4).retry  # a real POST, answered 500
    page = project_admin_client.get(url).content.decode()
    (line,) = WebhookDelivery.objects.filter(project=project)
    assert line.status_code == 500 and not line.delivered
    assert 'href="/jobs/job-0123456789abcdefghij/"' in page
    assert "1 of 4" in page
    assert "HTTP 500" in page
