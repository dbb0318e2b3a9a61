"""Register an external cluster (/clusters/register/) against the real Milvus standalone with
authorization on: the connection is tested before anything is stored, credentials are stored
only encrypted and never shown, logged or echoed."""

from __future__ import annotations

import http.server
import logging
import secrets
import threading

import grpc
import pytest
from django.db import connection
from django.urls import reverse
from pymilvus import MilvusException

from console.clusters.lite_process import HOST, free_port
from console.models import Cluster
from tests.conftest import SPELLINGS_OF_THIS_HOST
from tests.milvus import MilvusClient
from tests.workers import wait_until

URL = reverse("cluster_register")


@pytest.fixture(scope="module")
def milvus_user(standalone):
    """A user of the standalone with a password found nowhere else (so a leak is visible)."""
    name, password = f"mmc_{secrets.token_hex(4)}", f"Pw-{secrets.token_hex(12)}"
    root = MilvusClient(uri=standalone.uri, token=standalone.token)
    root.create_user(name, password)
    root.grant_role(name, "admin")
    # Milvus 2.3 proxies learn a grant from their privilege cache a moment later: until then the
    # new user's ListDatabases is denied. Wait for it, so a test starts with a usable user.
    wait_until(
        lambda: _can_list_databases(standalone.uri, name, password),
        timeout=30,
        why=lambda: f"the grant of admin to {name} never reached the standalone's proxy",
    )
    yield name, password
    root.drop_user(name)
    root.close()


@pytest.fixture
def not_milvus():
    """A plain HTTP server: reachable, but it does not speak Milvus."""
    server = http.server.ThreadingHTTPServer((HOST, 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _url(project) -> str:
    return f"{URL}?project={project.pk}"


def _api_key(name: str, uri: str, token: str, plan: str = "DEDICATED") -> dict:
    return {"name": name, "plan": plan, "uri": uri, "auth": "API_KEY", "api_key": token}


def _user_password(name: str, uri: str, user: str, password: str) -> dict:
    return {
        "name": name,
        "plan": "SERVERLESS",
        "uri": uri,
        "auth": "USER_PASSWORD",
        "username": user,
        "password": password,
    }


def _can_list_databases(uri: str, user: str, password: str) -> bool:
    client = MilvusClient(uri=uri, token=f"{user}:{password}")
    try:
        client.list_databases()
        return True
    except (MilvusException, grpc.RpcError):  # the denial comes as a raw gRPC error
        return False
    finally:
        client.close()


def _form_errors(response) -> str:
    """What the page said instead of registering (the reason a test failed)."""
    context = response.context or {}
    form, result = context.get("form"), context.get("result")
    said = result.error if result is not None else ""
    return f"{response.status_code}: {form.errors if form else response.content[:500]!r} {said}"


def _raw_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Cluster._meta.db_table}")
        return repr(cursor.fetchall())


# --- personas ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_shows_the_form_to_owners_and_admins(request, persona, project):
    response = request.getfixturevalue(persona).get(_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Cluster Name", "Plan", "URI", "API Key", "Username", "Password"):
        assert f">{label}</label>" in html
    assert "<legend>Authentication</legend>" in html
    assert "Username and Password</label>" in html
    assert ">Test connection</button>" in html


def test_it_forbids_read_only_members(viewer_client, project):
    assert viewer_client.get(_url(project)).status_code == 403
    response = viewer_client.post(_url(project), _api_key("x", f"http://{HOST}:19530", "k"))
    assert response.status_code == 403
    assert not Cluster.objects.exists()


def test_it_answers_404_to_outsiders(outsider_client, project):
    assert outsider_client.get(_url(project)).status_code == 404
    response = outsider_client.post(_url(project), _api_key("x", f"http://{HOST}:19530", "k"))
    assert response.status_code == 404
    assert not Cluster.objects.exists()


# --- registering ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "project_admin_client"])
def test_it_registers_a_cluster_with_an_api_key_as_running(request, persona, project, standalone):
    client = request.getfixturevalue(persona)

    response = client.post(_url(project), _api_key("prod", standalone.uri, standalone.token))

    assert response.status_code == 302, _form_errors(response)
    cluster = Cluster.objects.get(project=project, name="prod")
    assert response.url == reverse("cluster_detail", args=[cluster.pk])
    assert cluster.kind == Cluster.Kind.EXTERNAL
    assert cluster.status == Cluster.Status.RUNNING
    assert cluster.plan == Cluster.Plan.DEDICATED
    assert cluster.uri == standalone.uri
    assert cluster.auth == Cluster.Auth.API_KEY
    assert cluster.token == standalone.token
    milvus = MilvusClient(uri=standalone.uri, token=standalone.token)
    assert cluster.server_version == milvus.get_server_version()
    milvus.close()


def test_it_registers_a_cluster_with_username_and_password_and_never_shows_them(
    owner_client, project, standalone, milvus_user, caplog
):
    user, password = milvus_user
    caplog.set_level(logging.DEBUG)

    response = owner_client.post(
        _url(project), _user_password("prod", standalone.uri, user, password), follow=True
    )

    assert response.redirect_chain, _form_errors(response)
    cluster = Cluster.objects.get(project=project, name="prod")
    assert cluster.status == Cluster.Status.RUNNING
    assert cluster.credentials == {"username": user, "password": password}
    assert password not in cluster.credentials_enc
    assert password not in _raw_rows()
    assert password not in response.content.decode()
    for url in (
        reverse("clusters"),
        reverse("cluster_detail", args=[cluster.pk]),
        reverse("cluster_delete", args=[cluster.pk]),
    ):
        assert password not in owner_client.get(url).content.decode()
    assert password not in caplog.text


def test_it_never_stores_the_api_key_in_clear(owner_client, project, standalone):
    owner_client.post(_url(project), _api_key("prod", standalone.uri, standalone.token))

    cluster = Cluster.objects.get(project=project, name="prod")
    assert standalone.token not in cluster.credentials_enc
    assert standalone.token not in _raw_rows()
    for url in (reverse("clusters"), reverse("cluster_detail", args=[cluster.pk])):
        assert standalone.token not in owner_client.get(url).content.decode()


# --- failures create nothing -------------------------------------------------------------


def test_it_reports_a_wrong_password_and_creates_nothing(
    owner_client, project, standalone, milvus_user, caplog
):
    user, password = milvus_user
    wrong = password + "-wrong"
    caplog.set_level(logging.DEBUG)

    response = owner_client.post(_url(project), _user_password("prod", standalone.uri, user, wrong))

    assert response.status_code == 400
    html = response.content.decode()
    assert "authentication failed" in html
    assert wrong not in html
    assert wrong not in caplog.text
    assert not Cluster.objects.exists()


def test_it_reports_a_wrong_api_key_and_creates_nothing(owner_client, project, standalone):
    wrong = f"root:Nope-{secrets.token_hex(6)}"

    response = owner_client.post(_url(project), _api_key("prod", standalone.uri, wrong))

    html = response.content.decode()
    assert response.status_code == 400
    assert "authentication failed" in html
    assert wrong not in html
    assert not Cluster.objects.exists()


def test_it_reports_a_closed_port_and_creates_nothing(owner_client, project, db):
    port = free_port()

    response = owner_client.post(_url(project), _api_key("prod", f"http://{HOST}:{port}", ""))

    assert response.status_code == 400
    assert f"cannot reach {HOST}:{port}" in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_reports_a_server_that_is_not_milvus_and_creates_nothing(
    owner_client, project, not_milvus
):
    response = owner_client.post(_url(project), _api_key("prod", not_milvus, ""))

    assert response.status_code == 400
    assert "is not a Milvus server" in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_says_a_failed_connection_once_in_the_words_of_test_connection(
    owner_client, project, db
):
    port = free_port()
    data = _api_key("prod", f"http://{HOST}:{port}", "")
    registered = owner_client.post(_url(project), data).content.decode()
    tested = owner_client.post(
        reverse("cluster_test_connection") + f"?project={project.pk}",
        data,
        HTTP_HX_REQUEST="true",
    ).content.decode()

    message = f"Connection failed: cannot reach {HOST}:{port}"
    assert registered.count(f"cannot reach {HOST}:{port}") == 1
    assert message in registered and message in tested
    # In the place Test connection puts it, not at the top of the form.
    assert registered.index('id="connection-result"') < registered.index(message)
    assert not Cluster.objects.exists()


def test_it_shows_a_field_error_only_next_to_its_field(owner_client, project, db):
    html = owner_client.post(_url(project), _api_key("prod", "ftp://x", "")).content.decode()
    assert html.count("scheme &#x27;ftp&#x27; is not allowed") == 1


def test_it_tells_that_the_endpoint_is_a_local_cluster_of_the_project(owner_client, project, db):
    port = free_port()
    Cluster.objects.create(
        project=project,
        name="mine",
        kind=Cluster.Kind.LOCAL,
        uri=f"http://{HOST}:{port}",
        port=port,
    )
    data = _api_key("again", f"http://localhost:{port}", "")
    message = (
        f"localhost:{port} is mine, a local cluster of this project that the console already runs"
    )
    response = owner_client.post(_url(project), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Cluster.objects.count() == 1
    tested = owner_client.post(
        reverse("cluster_test_connection") + f"?project={project.pk}",
        data,
        HTTP_HX_REQUEST="true",
    )
    assert message in tested.content.decode()


def test_it_refuses_a_duplicate_name_in_the_project(owner_client, project, standalone):
    existing = Cluster.objects.create(
        project=project, name="prod", plan="FREE", kind=Cluster.Kind.LOCAL
    )

    response = owner_client.post(_url(project), _api_key("Prod", standalone.uri, standalone.token))

    assert response.status_code == 400
    assert "A cluster named &#x27;Prod&#x27; already exists in project Default Project." in (
        response.content.decode()
    )
    assert list(Cluster.objects.all()) == [existing]


def test_it_allows_the_same_name_in_another_project(owner_client, other_project, standalone):
    response = owner_client.post(
        _url(other_project), _api_key("prod", standalone.uri, standalone.token)
    )
    assert response.status_code == 302
    assert Cluster.objects.get(name="prod").project == other_project


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://example.com:21", "Endpoint scheme &#x27;ftp&#x27; is not allowed"),
        ("http://169.254.169.254:80", "is a cloud metadata service and is not allowed"),
        ("127.0.0.1:19530", "has no scheme"),
        ("", "This field is required."),
    ],
)
def test_it_refuses_a_bad_endpoint(owner_client, project, uri, message):
    response = owner_client.post(_url(project), _api_key("prod", uri, ""))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_refuses_private_endpoints_when_they_are_not_allowed(
    owner_client, project, settings, standalone
):
    settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS = False
    response = owner_client.post(_url(project), _api_key("prod", standalone.uri, standalone.token))
    assert response.status_code == 400
    assert "is a loopback address; private endpoints are not allowed here" in (
        response.content.decode()
    )
    assert not Cluster.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"username": "", "password": "pw"}, "username", "Enter the username, or choose API Key."),
        ({"username": "root", "password": ""}, "password", "Enter the password of this user."),
    ],
)
def test_it_requires_username_and_password_together(owner_client, project, data, field, message):
    form = {**_user_password("prod", f"http://{HOST}:19530", "", ""), **data}
    response = owner_client.post(_url(project), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Cluster.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("-bad", "is not allowed: use letters, digits, hyphens and underscores"),
        ("with space", "is not allowed: use letters, digits, hyphens and underscores"),
        ("x" * 65, "Ensure this value has at most 64 characters"),
    ],
)
def test_it_refuses_a_bad_name(owner_client, project, name, message, db):
    response = owner_client.post(_url(project), _api_key(name, f"http://{HOST}:19530", ""))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Cluster.objects.exists()


def test_it_refuses_an_unknown_plan(owner_client, project, db):
    form = {**_api_key("prod", f"http://{HOST}:19530", ""), "plan": "ENTERPRISE"}
    response = owner_client.post(_url(project), form)
    assert response.status_code == 400
    assert "Select a valid choice. ENTERPRISE is not one of the available choices." in (
        response.content.decode()
    )


def test_it_does_not_render_a_typed_secret_back_after_an_error(owner_client, project, db):
    secret = f"key-{secrets.token_hex(8)}"
    response = owner_client.post(_url(project), _api_key("-bad", f"http://{HOST}:19530", secret))
    assert response.status_code == 400
    assert secret not in response.content.decode()


# --- typed endpoints never reach the console's own clusters (issue 7) -----------------------


def test_it_never_registers_another_organizations_local_cluster_by_any_spelling(
    outsider_client, globex_project, local_cluster, caplog
):
    caplog.set_level(logging.INFO)
    url = f"{URL}?project={globex_project.pk}"
    for i, spelling in enumerate(SPELLINGS_OF_THIS_HOST):
        uri = spelling.format(port=local_cluster.port)
        response = outsider_client.post(url, _api_key(f"stolen-{i}", uri, ""))
        html = response.content.decode()
        assert response.status_code == 400, uri
        assert "is the console&#x27;s own host on a port it keeps for its local clusters" in html
        assert "payroll" not in html
    assert list(Cluster.objects.all()) == [local_cluster]
    assert "payroll" not in caplog.text


def test_it_refuses_a_name_that_answers_the_local_cluster_after_a_public_address(
    outsider_client, globex_project, local_cluster, resolver
):
    """The form's check sees a public address; the connection's own lookup sees 127.0.0.1 on
    the local cluster's port and is refused: nothing is registered."""
    resolver.answers["rebind.attacker.example"] = [["93.184.216.34"], ["127.0.0.1"]]
    uri = f"http://rebind.attacker.example:{local_cluster.port}"
    response = outsider_client.post(
        f"{URL}?project={globex_project.pk}", _api_key("stolen", uri, "")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert (
        f"endpoint rebind.attacker.example:{local_cluster.port} is the console&#x27;s own host"
    ) in html
    assert list(Cluster.objects.all()) == [local_cluster]


def test_it_refuses_a_global_cluster_host_and_creates_nothing(owner_client, project, db):
    response = owner_client.post(
        _url(project), _api_key("global", "https://in01-x.global-cluster.example.com", "key")
    )
    assert response.status_code == 400
    assert "is a global-cluster endpoint, which is not supported" in response.content.decode()
    assert not Cluster.objects.exists()
