"""Test connection (htmx POST /clusters/test-connection/): the server's version, databases and
collection count, or the clear reason it failed; never the secret."""

from __future__ import annotations

import http.server
import logging
import re
import secrets
import threading

import pytest
from django.urls import reverse

from console import throttle
from console.clusters.lite_process import HOST, free_port
from console.models import Cluster
from tests.conftest import SPELLINGS_OF_THIS_HOST
from tests.milvus import MilvusClient

URL = reverse("cluster_test_connection")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(project) -> str:
    return f"{URL}?project={project.pk}"


def _post(client, project, **data):
    form = {"uri": "", "auth": "API_KEY", "api_key": "", "username": "", "password": ""}
    form.update(data)
    return client.post(_url(project), form, **HTMX)


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_reports_version_databases_and_collections(request, persona, project, standalone):
    name = f"tc_{secrets.token_hex(4)}"
    milvus = MilvusClient(uri=standalone.uri, token=standalone.token)
    milvus.create_collection(name, dimension=4)
    try:
        response = _post(
            request.getfixturevalue(persona), project, uri=standalone.uri, api_key=standalone.token
        )

        databases = sorted(milvus.list_databases())
        collections = len(milvus.list_collections())  # the standalone has only "default"
        version = milvus.get_server_version()
    finally:
        milvus.drop_collection(name)
        milvus.close()
    assert response.status_code == 200
    html = response.content.decode()
    assert "<!doctype html>" not in html
    assert "<strong>Connected.</strong>" in html
    assert f"Milvus {version}" in html
    assert f"{len(databases)} database" in html and f"({', '.join(databases)})" in html
    assert f"{collections} collection" in html
    assert standalone.token not in html
    assert response["Cache-Control"] == "no-store"


def test_it_counts_the_collections_of_every_database(owner_client, project, lite_server):
    milvus = MilvusClient(uri=lite_server.uri)
    milvus.create_collection("a", dimension=4)
    milvus.create_database("second")
    milvus.close()
    milvus = MilvusClient(uri=lite_server.uri, db_name="second")
    milvus.create_collection("b", dimension=4)
    milvus.create_collection("c", dimension=4)
    milvus.close()

    html = _post(owner_client, project, uri=lite_server.uri).content.decode()

    assert "2 databases (default, second) · 3 collections" in html


def test_it_reports_a_wrong_password_without_echoing_it(owner_client, project, standalone):
    wrong = f"Wrong-{secrets.token_hex(8)}"

    response = _post(
        owner_client,
        project,
        uri=standalone.uri,
        auth="USER_PASSWORD",
        username="root",
        password=wrong,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Connection failed: authentication failed" in html
    assert wrong not in html


def test_it_reports_a_wrong_api_key_without_echoing_it(owner_client, project, standalone):
    wrong = f"root:Wrong-{secrets.token_hex(8)}"
    html = _post(owner_client, project, uri=standalone.uri, api_key=wrong).content.decode()
    assert "Connection failed: authentication failed" in html
    assert wrong not in html


def test_it_reports_a_closed_port(owner_client, project, db):
    port = free_port()
    html = _post(owner_client, project, uri=f"http://{HOST}:{port}").content.decode()
    assert f"Connection failed: cannot reach {HOST}:{port}" in html


def test_it_reports_a_server_that_is_not_milvus(owner_client, project):
    server = http.server.ThreadingHTTPServer((HOST, 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        html = _post(
            owner_client, project, uri=f"http://{HOST}:{server.server_address[1]}"
        ).content.decode()
    finally:
        server.shutdown()
        server.server_close()
    assert f"{HOST}:{server.server_address[1]} is not a Milvus server" in html


def test_it_reports_a_bad_endpoint_without_connecting(owner_client, project, db):
    html = _post(owner_client, project, uri="gopher://example.com:70").content.decode()
    assert "URI: Endpoint scheme &#x27;gopher&#x27; is not allowed" in html


def test_it_reports_a_missing_username(owner_client, project, db):
    html = _post(
        owner_client, project, uri=f"http://{HOST}:19530", auth="USER_PASSWORD", password="pw"
    ).content.decode()
    assert "Username: Enter the username, or choose API Key." in html


def test_it_forbids_read_only_members(viewer_client, project, db):
    response = _post(viewer_client, project, uri=f"http://{HOST}:{free_port()}")
    assert response.status_code == 403


def test_it_answers_404_to_outsiders(outsider_client, project):
    response = _post(outsider_client, project, uri=f"http://{HOST}:{free_port()}")
    assert response.status_code == 404


def test_it_only_accepts_post(owner_client, project):
    assert owner_client.get(_url(project)).status_code == 405


def test_it_requires_the_csrf_token(owner, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = _post(client, project, uri=f"http://{HOST}:{free_port()}")
    assert response.status_code == 403
    assert not Cluster.objects.exists()


# --- typed endpoints never reach the console's own clusters (issue 7) -----------------------

REFUSED_LOCAL = "is the console&#x27;s own host on a port it keeps for its local clusters"


def _refusal(html: str) -> str:
    """The one message line of the result, without the address."""
    match = re.search(r"<p>(.*?)</p>", html, re.S)
    assert match, html
    return match.group(1)


def test_it_never_reaches_another_organizations_local_cluster_by_any_spelling(
    outsider_client, globex_project, local_cluster, caplog
):
    caplog.set_level(logging.INFO)
    for spelling in SPELLINGS_OF_THIS_HOST:
        uri = spelling.format(port=local_cluster.port)
        html = _post(outsider_client, globex_project, uri=uri).content.decode()
        assert REFUSED_LOCAL in html, (uri, html)
        assert "Connected." not in html and "payroll" not in html
    assert not Cluster.objects.exclude(pk=local_cluster.pk).exists()
    assert "payroll" not in caplog.text


@pytest.mark.parametrize("allow_private", [True, False])
def test_it_refuses_a_local_cluster_whatever_the_private_endpoint_setting(
    outsider_client, globex_project, owner_client, project, local_cluster, settings, allow_private
):
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = allow_private
    for uri in (local_cluster.uri, f"http://localhost:{local_cluster.port}"):
        html = _post(outsider_client, globex_project, uri=uri).content.decode()
        assert REFUSED_LOCAL in html and "Connected." not in html and "payroll" not in html
        # Its own project is told which of its clusters that is, and is not connected either.
        html = _post(owner_client, project, uri=uri).content.decode()
        assert "is acme-local, a local cluster of this project" in html
        assert "Connected." not in html and "payroll" not in html


def test_it_answers_alike_for_open_and_closed_local_cluster_ports(
    outsider_client, globex_project, local_cluster, project
):
    """A refused address is refused before connecting: nothing tells a listening port from a
    closed one."""
    closed = Cluster.objects.create(
        project=project, name="stopped", plan="FREE", kind=Cluster.Kind.LOCAL, port=free_port()
    )
    answers = [
        _refusal(
            _post(outsider_client, globex_project, uri=f"http://{HOST}:{c.port}").content.decode()
        )
        for c in (local_cluster, closed)
    ]
    assert answers[0].replace(str(local_cluster.port), "PORT") == answers[1].replace(
        str(closed.port), "PORT"
    )
    assert REFUSED_LOCAL in answers[0]


def test_it_refuses_a_name_that_answers_this_host_on_a_local_cluster_port(
    outsider_client, globex_project, local_cluster, resolver
):
    resolver.answers["milvus.attacker.example"] = [["93.184.216.34", "127.0.0.1"]]
    uri = f"http://milvus.attacker.example:{local_cluster.port}"
    html = _post(outsider_client, globex_project, uri=uri).content.decode()
    assert REFUSED_LOCAL in html and "payroll" not in html


def test_it_connects_where_it_checked_when_a_name_answers_differently_later(
    outsider_client, globex_project, local_cluster, resolver
):
    """DNS rebinding: public for the form's check and the connection's, 127.0.0.1 (the local
    cluster) on any later lookup. The connection goes to the public address it checked, so it
    never reads the cluster, and nothing (gRPC included) looks the name up again."""
    public = ["203.0.113.7"]
    resolver.answers["rebind.attacker.example"] = [public, public, ["127.0.0.1"]]
    uri = f"http://rebind.attacker.example:{local_cluster.port}"
    html = _post(outsider_client, globex_project, uri=uri).content.decode()
    assert f"Connection failed: cannot reach rebind.attacker.example:{local_cluster.port}" in html
    assert "Connected." not in html and "payroll" not in html
    assert resolver.lookups == ["rebind.attacker.example"] * 2


def test_it_refuses_a_global_cluster_host(owner_client, project, db):
    html = _post(
        owner_client, project, uri="https://in01-x.global-cluster.example.com:19530"
    ).content.decode()
    assert "is a global-cluster endpoint, which is not supported" in html
    assert "Connected." not in html


def test_it_limits_connection_tests_per_user(owner_client, owner, project, settings):
    settings.CONNECTION_TEST_LIMIT = 3
    throttle.reset_connection_tests(owner.pk)
    try:
        for _ in range(3):
            html = _post(owner_client, project, uri=f"http://{HOST}:{free_port()}").content.decode()
            assert "cannot reach" in html
        html = _post(owner_client, project, uri=f"http://{HOST}:{free_port()}").content.decode()
        assert throttle.TOO_MANY_CONNECTION_TESTS in html
        assert "cannot reach" not in html
        # Registering also opens a connection: it counts against the same limit.
        response = owner_client.post(
            f"{reverse('cluster_register')}?project={project.pk}",
            {
                "name": "x",
                "plan": "DEDICATED",
                "uri": f"http://{HOST}:{free_port()}",
                "auth": "API_KEY",
                "api_key": "",
            },
        )
        assert throttle.TOO_MANY_CONNECTION_TESTS in response.content.decode()
        assert not Cluster.objects.exists()
    finally:
        throttle.reset_connection_tests(owner.pk)
