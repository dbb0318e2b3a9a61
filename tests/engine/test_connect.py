"""engine.connect: clear messages for each way a connection fails; a checked Target is
connected to at its checked address only (the rules themselves: test_endpoints.py)."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from pymilvus import DataType

from console.clusters.lite_process import free_port
from migrations_app.engine.capabilities import parse_version
from migrations_app.engine.connect import connect, on_database, server_info
from migrations_app.engine.endpoints import resolve_endpoint
from migrations_app.engine.errors import (
    AuthenticationFailed,
    CannotReach,
    DatabaseNotFound,
    NotMilvus,
)
from tests.milvus import MilvusClient


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


def test_it_tells_lite_from_the_milvus_standalone_by_version():
    assert parse_version("milvus_lite-3.2.2") == ("milvus_lite", (3, 2, 2))
    # The `milvus` package calls itself "-lite" but is a full Milvus server.
    assert parse_version("v2.3.5-lite") == ("milvus", (2, 3, 5))
    assert parse_version("Zilliz Cloud Vector Database(Compatible with Milvus 2.5)") == (
        "milvus",
        (2, 5, 0),
    )


# --- typed endpoints: connecting to the checked address only ------------------------------


def test_it_connects_to_the_address_it_checked(lite_server):
    """A DNS-rebinding name: the check sees 127.0.0.1, any later lookup an unroutable address.
    The connection must use the checked answer, and never look the name up again (the name
    does not exist outside this resolver, so a lookup by gRPC would fail too)."""
    lookups = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["203.0.113.7"]

    target = resolve_endpoint(f"http://rebind.invalid:{lite_server.port}", True, resolver=rebinding)
    assert target.uri == f"http://rebind.invalid:{lite_server.port}"
    assert target.pinned_uri == f"http://127.0.0.1:{lite_server.port}"
    client = connect(target, timeout=3)
    try:
        client.create_database("pinned")
        with on_database(client, "pinned") as other:  # a second client: same pinned address
            assert other.list_collections() == []
        assert "pinned" in server_info(client).databases
    finally:
        client.close()
    assert lookups == ["rebind.invalid"]


def test_it_reports_a_pinned_target_by_its_host_name():
    target = resolve_endpoint("http://closed.invalid:1", True, resolver=lambda h, p: ["127.0.0.1"])
    with pytest.raises(CannotReach) as caught:
        connect(target, timeout=1)
    assert caught.value.message.startswith("cannot reach closed.invalid:1")


def test_it_keeps_the_host_name_for_tls():
    target = resolve_endpoint(
        "https://milvus.example.com",
        False,
        resolver=lambda h, p: ["2606:4700::1111", "93.184.216.34"],
    )
    # IPv4 preferred (pymilvus cannot address IPv6 literals); TLS still checks the name.
    assert target.pinned_uri == "https://93.184.216.34:443"
    assert target.server_name == "milvus.example.com"
    assert resolve_endpoint("https://93.184.216.34", False).server_name == ""
