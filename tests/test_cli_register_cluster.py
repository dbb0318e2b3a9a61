"""manage.py register_cluster: local clusters, and external ones after a real connection test."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.clusters.lite_process import free_port
from console.models import Cluster
from tests.conftest import SPELLINGS_OF_THIS_HOST
from tests.milvus import MilvusClient

# A user of our own on the shared standalone, with a password that cannot appear by chance in
# the output (root's password is "Milvus", which the version string "Milvus v2.3.5" contains).
USER, PASSWORD = "cli_register", "Cli-Secret-2468"


@pytest.fixture
def milvus_user(standalone):
    client = MilvusClient(uri=standalone.uri, token=standalone.token)
    if USER not in client.list_users():
        client.create_user(USER, PASSWORD)
        client.grant_role(USER, "admin")
    client.close()
    return USER, PASSWORD


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("register_cluster", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_it_creates_a_local_cluster_for_the_supervisor_to_start(project):
    lines = run("--project", project.pk, "--name", "local-one", "--plan", "dedicated", "--local")
    cluster = Cluster.objects.get(project=project, name="local-one")
    assert lines[-1] == cluster.pk
    assert (cluster.kind, cluster.plan, cluster.status) == ("LOCAL", "DEDICATED", "CREATING")
    assert cluster.uri == f"http://127.0.0.1:{cluster.port}"
    other = Cluster.objects.get(
        pk=run("--project", project.pk, "--name", "local-two", "--plan", "FREE", "--local")[-1]
    )
    assert other.port != cluster.port


@pytest.mark.django_db
@pytest.mark.standalone
def test_it_registers_a_milvus_with_the_right_api_key(project, standalone, milvus_user):
    token = f"{USER}:{PASSWORD}"
    lines = run(
        "--project",
        project.pk,
        "--name",
        "prod",
        "--plan",
        "SERVERLESS",
        "--uri",
        standalone.uri,
        "--token",
        token,
    )
    cluster = Cluster.objects.get(pk=lines[-1])
    assert (cluster.kind, cluster.status, cluster.auth) == ("EXTERNAL", "RUNNING", "API_KEY")
    assert "2.3.5" in cluster.server_version
    assert cluster.token == token
    assert PASSWORD not in cluster.credentials_enc
    assert PASSWORD not in "\n".join(lines)


@pytest.mark.django_db
@pytest.mark.standalone
def test_it_registers_a_milvus_with_username_and_password(project, standalone, milvus_user):
    lines = run(
        "--project",
        project.pk,
        "--name",
        "prod",
        "--plan",
        "DEDICATED",
        "--uri",
        standalone.uri,
        "--username",
        USER,
        "--password",
        PASSWORD,
    )
    cluster = Cluster.objects.get(pk=lines[-1])
    assert cluster.auth == "USER_PASSWORD"
    assert cluster.credentials == {"username": USER, "password": PASSWORD}
    assert PASSWORD not in cluster.credentials_enc
    assert PASSWORD not in "\n".join(lines)


@pytest.mark.django_db
@pytest.mark.standalone
def test_it_refuses_a_wrong_api_key_and_creates_nothing(project, standalone):
    with pytest.raises(CommandError, match="connection test failed: authentication failed") as err:
        run(
            "--project",
            project.pk,
            "--name",
            "prod",
            "--plan",
            "DEDICATED",
            "--uri",
            standalone.uri,
            "--token",
            "root:wrong-password",
        )
    assert "wrong-password" not in str(err.value)
    assert not Cluster.objects.exists()


@pytest.mark.django_db
@pytest.mark.standalone
def test_it_refuses_a_wrong_password_and_creates_nothing(project, standalone, milvus_user):
    with pytest.raises(CommandError, match="connection test failed: authentication failed") as err:
        run(
            "--project",
            project.pk,
            "--name",
            "prod",
            "--plan",
            "DEDICATED",
            "--uri",
            standalone.uri,
            "--username",
            USER,
            "--password",
            "Not-The-Password",
        )
    assert "Not-The-Password" not in str(err.value)
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_closed_port_and_creates_nothing(project):
    port = free_port()
    with pytest.raises(
        CommandError, match=f"connection test failed: cannot reach 127.0.0.1:{port}"
    ):
        run(
            "--project",
            project.pk,
            "--name",
            "gone",
            "--plan",
            "DEDICATED",
            "--uri",
            f"http://127.0.0.1:{port}",
        )
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_cloud_metadata_endpoint(project):
    with pytest.raises(CommandError, match="cloud metadata service and is not allowed"):
        run(
            "--project",
            project.pk,
            "--name",
            "meta",
            "--plan",
            "DEDICATED",
            "--uri",
            "http://169.254.169.254:80",
        )
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_it_registers_a_milvus_lite_server_without_credentials(project, lite_server):
    cluster = Cluster.objects.get(
        pk=run(
            "--project", project.pk, "--name", "lite", "--plan", "FREE", "--uri", lite_server.uri
        )[-1]
    )
    assert (cluster.status, cluster.auth, cluster.uri) == ("RUNNING", "NONE", lite_server.uri)
    assert cluster.server_version.startswith("milvus_lite")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--plan", "GOLD", "--local"],
            "unknown plan 'GOLD': use one of FREE, SERVERLESS, DEDICATED",
        ),
        (["--plan", "FREE"], "one of the arguments --local --uri is required"),
        (
            ["--plan", "FREE", "--local", "--uri", "http://127.0.0.1:19530"],
            "not allowed with argument",
        ),
        (["--plan", "FREE", "--local", "--token", "abc"], "--local clusters take no --token"),
        (["--plan", "FREE", "--uri", "ftp://example.com:21"], "scheme 'ftp' is not allowed"),
        (
            ["--plan", "FREE", "--uri", "http://127.0.0.1:1", "--token", "t", "--username", "u"],
            "either an API key or a username and password, not both (--token)",
        ),
        (
            ["--plan", "FREE", "--uri", "http://127.0.0.1:1", "--password", "p"],
            "a password needs a username",
        ),
    ],
)
def test_it_refuses_bad_arguments_and_creates_nothing(project, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("--project", project.pk, "--name", "c1", *args)
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_unknown_project_a_taken_name_and_a_bad_name(project):
    with pytest.raises(CommandError, match="project proj-missing does not exist"):
        run("--project", "proj-missing", "--name", "c1", "--plan", "FREE", "--local")
    run("--project", project.pk, "--name", "taken", "--plan", "FREE", "--local")
    with pytest.raises(CommandError, match="a cluster named 'TAKEN' already exists"):
        run("--project", project.pk, "--name", "TAKEN", "--plan", "FREE", "--local")
    with pytest.raises(CommandError, match="cluster name 'no spaces' is not allowed"):
        run("--project", project.pk, "--name", "no spaces", "--plan", "FREE", "--local")
    assert Cluster.objects.count() == 1


@pytest.mark.django_db
def test_it_never_registers_a_local_cluster_by_any_spelling(globex_project, local_cluster):
    for i, spelling in enumerate(SPELLINGS_OF_THIS_HOST):
        uri = spelling.format(port=local_cluster.port)
        with pytest.raises(CommandError) as caught:
            run(
                "--project",
                globex_project.pk,
                "--name",
                f"stolen-{i}",
                "--plan",
                "DEDICATED",
                "--uri",
                uri,
            )
        assert "is the console's own host on a port it keeps for its local clusters" in str(
            caught.value
        ), uri
    assert list(Cluster.objects.all()) == [local_cluster]


@pytest.mark.django_db
def test_it_refuses_a_global_cluster_host(project):
    with pytest.raises(CommandError, match="global-cluster endpoint, which is not supported"):
        run(
            "--project",
            project.pk,
            "--name",
            "g",
            "--plan",
            "DEDICATED",
            "--uri",
            "https://in01-x.global-cluster.example.com",
        )
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_it_reads_the_token_from_standard_input(project, lite_server):
    out = StringIO()
    call_command(
        "register_cluster",
        "--project",
        project.pk,
        "--name",
        "piped",
        "--plan",
        "DEDICATED",
        "--uri",
        lite_server.uri,
        "--token",
        "-",
        stdin=StringIO("piped-token-123\n"),
        stdout=out,
    )
    cluster = Cluster.objects.get(name="piped")
    assert cluster.connection().token == "piped-token-123"
    assert "piped-token-123" not in out.getvalue()


@pytest.mark.django_db
def test_it_reads_the_token_from_the_environment(project, lite_server, monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "env-token-456")
    run("--project", project.pk, "--name", "env", "--plan", "DEDICATED", "--uri", lite_server.uri)
    assert Cluster.objects.get(name="env").connection().token == "env-token-456"
