"""Sessions end after SESSION_IDLE_TIMEOUT seconds without activity (console.middleware):
requests renew them, polls do not, and an htmx request that finds no logged-in user is sent
to the login page with HX-Redirect instead of getting the login page swapped into the page.

Time passes by editing the session's stored last activity, never by sleeping."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from console import throttle
from console.middleware import SESSION_LAST_ACTIVITY
from jobs.models import Job
from tests.conftest import PASSWORD

TIMEOUT = 600
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_CONSOLE_POLL": "1"}


@pytest.fixture(autouse=True)
def short_timeout(settings):
    settings.SESSION_IDLE_TIMEOUT = TIMEOUT


def idle_for(client: Client, seconds: int) -> int:
    """Make the session's last activity `seconds` ago; returns that time."""
    session = client.session
    session[SESSION_LAST_ACTIVITY] = then = int(time.time()) - seconds
    session.save()
    return then


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_starts_the_clock_at_login(client, owner):
    throttle.reset(owner.email, "127.0.0.1")
    before = int(time.time())
    client.post(reverse("login"), {"email": owner.email, "password": PASSWORD})
    assert client.session[SESSION_LAST_ACTIVITY] >= before


def test_it_logs_out_a_session_idle_for_longer_than_the_timeout(owner_client):
    idle_for(owner_client, TIMEOUT + 1)

    response = owner_client.get(reverse("clusters"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/clusters/"
    assert not logged_in(owner_client)
    page = owner_client.get(response["Location"]).content.decode()
    assert "You were logged out after 600 seconds without activity." in page


def test_it_keeps_and_renews_a_session_used_within_the_timeout(owner_client):
    then = idle_for(owner_client, TIMEOUT - 10)

    assert owner_client.get(reverse("clusters")).status_code == 200

    assert logged_in(owner_client)
    assert owner_client.session[SESSION_LAST_ACTIVITY] >= then + TIMEOUT - 10
    # Renewed: the same wait again is no longer too long.
    idle_for(owner_client, TIMEOUT - 10)
    assert owner_client.get(reverse("clusters")).status_code == 200


def test_a_poll_does_not_renew_the_session(owner_client, project):
    job = Job.objects.create(project=project, source_name="src", target_name="dst")
    then = idle_for(owner_client, TIMEOUT - 10)

    assert owner_client.get(reverse("job_row", args=[job.pk]), **POLL).status_code == 200

    assert owner_client.session[SESSION_LAST_ACTIVITY] == then
    idle_for(owner_client, TIMEOUT + 1)
    owner_client.get(reverse("job_row", args=[job.pk]), **POLL)
    assert not logged_in(owner_client)


def test_it_sends_an_expired_htmx_request_to_the_login_page(owner_client, project):
    job = Job.objects.create(project=project, source_name="src", target_name="dst")
    idle_for(owner_client, TIMEOUT + 1)

    response = owner_client.get(
        reverse("job_row", args=[job.pk]),
        HTTP_HX_CURRENT_URL="http://testserver/jobs/?project=" + project.pk,
        **POLL,
    )

    # htmx follows HX-Redirect with a full page load; nothing is swapped into the row.
    assert response.status_code == 200
    assert response["HX-Redirect"] == (f"/login/?next=%2Fjobs%2F%3Fproject%3D{project.pk}&ended=1")
    assert response.content == b""
    assert not logged_in(owner_client)


def test_it_sends_any_htmx_request_without_a_login_to_the_login_page(client, project):
    job = Job.objects.create(project=project, source_name="src", target_name="dst")
    response = client.get(
        reverse("job_row", args=[job.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/jobs/{job.pk}/",
    )
    assert response["HX-Redirect"] == f"/login/?next=%2Fjobs%2F{job.pk}%2F&ended=1"
    # Without htmx it stays Django's own redirect.
    plain = client.get(reverse("job_row", args=[job.pk]))
    assert plain.status_code == 302 and "HX-Redirect" not in plain
