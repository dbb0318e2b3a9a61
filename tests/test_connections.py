"""The connection seam (console/connections.py, console/clients.py): one value for where and as
whom, one way to open a client, secrets never in its text, idle connections that stay healthy."""

from __future__ import annotations

import time

import pytest

from console.clients import open_client
from console.connections import Connection
from console.models import Cluster
from migrations_app.engine.errors import EndpointRejected

IDLE_SECONDS = 100


def test_it_never_shows_a_secret_in_its_text():
    connection = Connection("http://db.example:19530", username="svc", password="S3cret-pass!")
    assert "S3cret" not in repr(connection) and "S3cret" not in str(connection)
    assert connection.auth == "USER_PASSWORD"
    assert connection.pymilvus_token == "svc:S3cret-pass!"
    assert "svc:S3cret-pass!" in connection.secrets()


@pytest.mark.django_db
def test_it_round_trips_encrypted():
    connection = Connection("https://x.example:443", token="tok-abcdef")
    text = connection.encrypt()
    assert "tok-abcdef" not in text
    assert Connection.decrypt(text) == connection
    assert Connection.decrypt("") is None


@pytest.mark.django_db
def test_it_comes_from_a_cluster_typed_only_when_external(project):
    external = Cluster(
        project=project,
        name="e",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri="http://h:19530",
    )
    external.set_credentials(token="tok-123456")
    local = Cluster(
        project=project,
        name="l",
        plan="DEDICATED",
        kind=Cluster.Kind.LOCAL,
        uri="http://127.0.0.1:1",
    )
    assert external.connection() == Connection("http://h:19530", token="tok-123456", typed=True)
    assert local.connection().typed is False


def test_it_refuses_a_typed_metadata_endpoint_before_connecting():
    with pytest.raises(EndpointRejected, match="cloud metadata"):
        open_client(Connection("http://169.254.169.254:80"))


def test_it_stays_healthy_after_a_long_idle(fresh_lite_factory, capfd):
    """Milvus Lite answers pymilvus' default keepalive pings (every 10 s, idle or not) with
    GOAWAY too_many_pings (gRPC logs it on stderr); pymilvus' pooled channel then failed its
    next connect ("not a Milvus server") between 40 and 100 s after the last request (measured:
    the second round of pings). One client, kept open across the idle: its channel must idle
    without being sent away and answer after. The only long idle of the suite: nothing
    shorter shows the second round of pings.

    A server of its own: channels other tests left open to pooled servers still ping them with
    pymilvus' defaults and are sent away in this process too, so only lines naming this
    server's port count."""
    lite_server = fresh_lite_factory()
    client = open_client(Connection(lite_server.uri, typed=False))
    try:
        assert client.list_collections() == []
        time.sleep(IDLE_SECONDS)
        assert client.list_collections() == []
    finally:
        client.close()
    ours = f"127.0.0.1:{lite_server.port}"
    sent_away = [
        line
        for line in capfd.readouterr().err.splitlines()
        if "too_many_pings" in line and ours in line
    ]
    assert sent_away == []
