"""engine.connect: clear messages for each way a connection fails, endpoint validation."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from pymilvus import DataType, MilvusClient

from console.clusters.lite_process import free_port
from migrations_app.engine.connect import (
    connect,
    parse_version,
    server_info,
    validate_endpoint,
)
from migrations_app.engine.errors import (
    AuthenticationFailed,
    CannotReach,
    DatabaseNotFound,
    EndpointRejected,
    NotMilvus,
)


@pytest.fixture
def http_server():
    """A plain HTTP/1 server: something listens, but it is not Milvus."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_listener():
    """A TCP listener that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def test_it_connects_to_lite_and_reports_server_info(lite_server):
    client = connect(lite_server.uri)
    try:
        schema = MilvusClient.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
        client.create_collection("one", schema=schema)
        client.create_collection("two", schema=schema)
        client.create_database("other")
        info = server_info(client)
    finally:
        client.close()
    assert info.kind == "milvus_lite"
    assert info.version_tuple >= (3, 2, 0)
    assert info.databases == ["default", "other"]
    assert info.db_name == "default"
    assert info.collection_count == 2
    assert info.to_dict()["version"] == info.version


def test_it_connects_to_another_database(lite_server):
    admin = connect(lite_server.uri)
    admin.create_database("sales")
    admin.close()
    client = connect(lite_server.uri, db_name="sales")
    try:
        info = server_info(client)
    finally:
        client.close()
    assert info.db_name == "sales"
    assert info.collection_count == 0


@pytest.mark.standalone
def test_it_connects_to_standalone_with_the_right_token(standalone):
    client = connect(standalone.uri, token=standalone.token)
    try:
        info = server_info(client)
    finally:
        client.close()
    assert info.kind == "milvus"
    assert info.version_tuple[:2] == (2, 3)


@pytest.mark.standalone
def test_it_connects_to_standalone_with_username_and_password(standalone):
    user, password = standalone.token.split(":", 1)
    client = connect(standalone.uri, user=user, password=password)
    client.close()


@pytest.mark.standalone
def test_it_reports_authentication_failed_for_a_wrong_password(standalone):
    with pytest.raises(AuthenticationFailed) as caught:
        connect(standalone.uri, user="root", password="wrong-password")
    assert caught.value.message.startswith("authentication failed")
    assert "wrong-password" not in caught.value.message


@pytest.mark.standalone
def test_it_reports_authentication_failed_without_credentials(standalone):
    with pytest.raises(AuthenticationFailed) as caught:
        connect(standalone.uri)
    assert "authentication failed" in caught.value.message


@pytest.mark.standalone
def test_it_reports_a_missing_database_on_standalone(standalone):
    with pytest.raises(DatabaseNotFound) as caught:
        connect(standalone.uri, token=standalone.token, db_name="no_such_db")
    assert caught.value.message.startswith("database no_such_db does not exist")


def test_it_reports_a_missing_database_on_lite(lite_server):
    with pytest.raises(DatabaseNotFound) as caught:
        connect(lite_server.uri, db_name="archive")
    assert caught.value.message.startswith("database archive does not exist")


def test_it_reports_cannot_reach_for_a_closed_port():
    port = free_port()
    with pytest.raises(CannotReach) as caught:
        connect(f"http://127.0.0.1:{port}", timeout=2)
    assert caught.value.message.startswith(f"cannot reach 127.0.0.1:{port}")


def test_it_reports_cannot_reach_for_an_unknown_host():
    with pytest.raises(CannotReach) as caught:
        connect("http://no-such-host.invalid:19530", timeout=2)
    assert "cannot reach no-such-host.invalid:19530" in caught.value.message


def test_it_reports_not_milvus_for_an_http_server(http_server):
    port = http_server.server_address[1]
    with pytest.raises(NotMilvus) as caught:
        connect(f"http://127.0.0.1:{port}", timeout=2)
    assert caught.value.message.startswith(f"127.0.0.1:{port} is not a Milvus server")


def test_it_reports_not_milvus_for_a_silent_listener(silent_listener):
    port = silent_listener.getsockname()[1]
    with pytest.raises(NotMilvus) as caught:
        connect(f"http://127.0.0.1:{port}", timeout=1)
    assert f"127.0.0.1:{port} is not a Milvus server" in caught.value.message


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("", "endpoint is empty"),
        ("127.0.0.1:19530", "has no scheme"),
        ("ftp://example.com:21", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://root:Milvus@example.com:19530", "must not contain credentials"),
        ("http://example.com:19530/db", "without a path"),
        ("http://example.com:99999", "invalid port"),
        ("http://169.254.169.254", "cloud metadata service"),
        ("http://metadata.google.internal", "cloud metadata service"),
        ("http://[::ffff:169.254.169.254]:80", "cloud metadata service"),
        ("http://169.254.10.20:19530", "link-local"),
        ("http://[fe80::1]:19530", "link-local"),
        ("http://0.0.0.0:19530", "not a usable host address"),
    ],
)
def test_it_rejects_bad_endpoints_even_when_private_ones_are_allowed(uri, words):
    with pytest.raises(EndpointRejected) as caught:
        validate_endpoint(uri, allow_private=True)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://127.0.0.1:19530", "loopback address"),
        ("http://localhost:19530", "loopback address"),
        ("http://10.1.2.3:19530", "private address"),
        ("http://192.168.0.5", "private address"),
        ("tcp://172.16.0.1:19530", "private address"),
    ],
)
def test_it_rejects_private_endpoints_unless_allowed(uri, words):
    with pytest.raises(EndpointRejected) as caught:
        validate_endpoint(uri, allow_private=False)
    assert words in caught.value.message
    assert validate_endpoint(uri, allow_private=True).startswith(uri.split("://")[0] + "://")


def test_it_normalises_accepted_endpoints():
    assert validate_endpoint("https://8.8.8.8", allow_private=False) == "https://8.8.8.8:443"
    assert validate_endpoint("HTTP://8.8.4.4:19530/", allow_private=False) == "http://8.8.4.4:19530"
    assert validate_endpoint("tcp://127.0.0.1", allow_private=True) == "tcp://127.0.0.1:19530"


def test_it_rejects_an_unresolvable_host_name():
    with pytest.raises(EndpointRejected) as caught:
        validate_endpoint("http://no-such-host.invalid:19530", allow_private=True)
    assert "cannot be resolved" in caught.value.message


def test_it_tells_lite_from_the_milvus_standalone_by_version():
    assert parse_version("milvus_lite-3.2.2") == ("milvus_lite", (3, 2, 2))
    # The `milvus` package calls itself "-lite" but is a full Milvus server.
    assert parse_version("v2.3.5-lite") == ("milvus", (2, 3, 5))
    assert parse_version("Zilliz Cloud Vector Database(Compatible with Milvus 2.5)") == (
        "milvus",
        (2, 5, 0),
    )
