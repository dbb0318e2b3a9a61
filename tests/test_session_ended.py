"""An htmx request without a valid session never gets a page to swap in (console.middleware):
whatever the endpoint (a polled job row, View Details' live parts, a wizard refresh, a cluster
card, a POST), it answers an empty 200 with HX-Redirect to the login page, `next` set to the
page the user was on (a path of this site only) and the login page saying the session ended.

Each way a session stops being valid is made for real: no session at all, logged out in
another tab (same cookie), the session row deleted, and the idle timeout."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from console import throttle
from console.middleware import SESSION_ENDED, SESSION_LAST_ACTIVITY
from console.models import Cluster
from jobs.models import Job
from tests.conftest import PASSWORD

ENDED_PAGE = "/jobs/?project={project}"


@pytest.fixture
def job(project):
    return Job.objects.create(project=project, source_name="src", target_name="dst")


@pytest.fixture
def cluster(project):
    return Cluster.objects.create(
        project=project,
        name="c1",
        plan=Cluster.Plan.DEDICATED,
        kind=Cluster.Kind.EXTERNAL,
        uri="http://127.0.0.1:9",
        status=Cluster.Status.CREATING,
    )


def htmx_endpoints(job: Job, cluster: Cluster) -> list[tuple[str, str]]:
    """(method, path) of every kind of htmx request the pages make."""
    draft = uuid.uuid4()
    return [
        ("get", reverse("job_row", args=[job.pk])),  # Jobs page, live rows
        ("get", reverse("job_live", args=[job.pk])),  # View Details, live body
        ("get", reverse("job_log", args=[job.pk])),  # View Details, live log
        ("get", reverse("cluster_status", args=[cluster.pk])),  # cluster being created
        ("get", reverse("cluster_collection", args=[cluster.pk, "default", "docs"])),  # card
        ("post", reverse("cluster_test_connection")),  # Register's Test connection
        ("get", reverse("wizard_source_databases") + "?source_cluster=" + cluster.pk),
        ("get", reverse("wizard_target_clusters", args=[draft])),
        ("get", reverse("wizard_cluster_name", args=[draft])),
        ("get", reverse("wizard_source_collections", args=[draft])),
        ("get", reverse("wizard_review", args=[draft])),
        ("get", reverse("wizard_name_check", args=[draft]) + "?index=0"),
    ]


def htmx(client: Client, method: str, path: str, page: str):
    return getattr(client, method)(
        path, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver" + page
    )


def assert_sent_to_login(response, page: str) -> None:
    assert response.status_code == 200, response.status_code
    assert response.content == b"", "nothing to swap in"
    location = urlsplit(response["HX-Redirect"])
    assert location.path == reverse("login")
    assert parse_qs(location.query) == {"next": [page], "ended": ["1"]}


def log_out_elsewhere(client: Client) -> None:
    """Log out from another tab: another client with the same cookies posts Log out."""
    other = Client()
    other.cookies = client.cookies
    assert other.post(reverse("logout")).status_code == 302


def delete_session(client: Client) -> None:
    Session.objects.filter(session_key=client.session.session_key).delete()


def idle(client: Client) -> None:
    session = client.session
    session[SESSION_LAST_ACTIVITY] = int(time.time()) - 10**6
    session.save()


@pytest.mark.parametrize(
    "end",
    [None, log_out_elsewhere, delete_session, idle],
    ids=["none", "logout", "deleted", "idle"],
)
def test_it_sends_every_htmx_endpoint_to_the_login_page(owner, project, job, cluster, end):
    page = ENDED_PAGE.format(project=project.pk)
    for method, path in htmx_endpoints(job, cluster):
        client = Client()
        if end is not None:
            client.force_login(owner)
            end(client)
        response = htmx(client, method, path, page)
        assert_sent_to_login(response, page), path


def test_a_live_session_still_gets_its_fragments(owner_client, project, job, cluster):
    response = htmx(owner_client, "get", reverse("job_row", args=[job.pk]), "/jobs/")
    assert response.status_code == 200 and "HX-Redirect" not in response
    assert f'id="job-{job.pk}"' in response.content.decode()


@pytest.mark.parametrize(
    "current",
    [
        "http://evil.example/jobs/",
        "https://testserver/jobs/",  # another scheme is another origin
        "http://testserver//evil.example/jobs/",
        "http://testserver/\\evil.example/",
        "javascript:alert(1)",
        "",
    ],
)
def test_next_is_only_ever_a_path_of_this_site(client, job, current):
    headers = {"HTTP_HX_REQUEST": "true"}
    if current:
        headers["HTTP_HX_CURRENT_URL"] = current
    response = client.get(reverse("job_row", args=[job.pk]), **headers)
    query = parse_qs(urlsplit(response["HX-Redirect"]).query)
    assert query["next"] == [reverse("clusters")]


def test_the_login_page_says_the_session_ended_and_returns_to_the_page(client, owner, project):
    page = ENDED_PAGE.format(project=project.pk)
    response = htmx(client, "get", reverse("jobs") + "row/x/", page)
    login_url = response["HX-Redirect"]

    shown = client.get(login_url).content.decode()
    assert SESSION_ENDED in shown
    assert f'name="next" value="{page}"' in shown.replace("&amp;", "&")

    throttle.reset(owner.email, "127.0.0.1")
    after = client.post(login_url, {"email": owner.email, "password": PASSWORD, "next": page})
    assert after.status_code == 302 and after["Location"] == page


def test_a_failed_login_there_shows_the_error_not_the_notice(client, owner, project):
    throttle.reset(owner.email, "127.0.0.1")
    url = reverse("login") + "?next=%2Fjobs%2F&ended=1"
    shown = client.post(url, {"email": owner.email, "password": "wrong"}).content.decode()
    assert "Incorrect email or password." in shown
    assert SESSION_ENDED not in shown


def test_the_plain_login_page_says_nothing_of_an_ended_session(client):
    assert SESSION_ENDED not in client.get(reverse("login") + "?next=/jobs/").content.decode()
