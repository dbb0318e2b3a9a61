"""engine.endpoints: which typed endpoints are refused, and why, before anything connects."""

from __future__ import annotations

import ipaddress

import pytest

from migrations_app.engine.connect import connect
from migrations_app.engine.endpoints import OwnService, resolve_endpoint
from migrations_app.engine.errors import EndpointRejected
from tests.conftest import SPELLINGS_OF_THIS_HOST


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
        resolve_endpoint(uri, allow_private=True)
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
        resolve_endpoint(uri, allow_private=False)
    assert words in caught.value.message
    assert resolve_endpoint(uri, allow_private=True).uri.startswith(uri.split("://")[0] + "://")


def test_it_normalises_accepted_endpoints():
    assert resolve_endpoint("https://8.8.8.8", False).uri == "https://8.8.8.8:443"
    assert resolve_endpoint("HTTP://8.8.4.4:19530/", False).uri == "http://8.8.4.4:19530"
    assert resolve_endpoint("tcp://127.0.0.1", True).uri == "tcp://127.0.0.1:19530"


def test_it_rejects_an_unresolvable_host_name():
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint("http://no-such-host.invalid:19530", allow_private=True)
    assert "cannot be resolved" in caught.value.message


# --- typed endpoints: the console's own ports, pinning, hidden connections -----------------

RESERVED = 45_678  # stands for a port of one of the console's local clusters


@pytest.mark.parametrize("spelling", SPELLINGS_OF_THIS_HOST)
def test_it_refuses_every_spelling_of_this_host_on_a_reserved_port(spelling):
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(spelling.format(port=RESERVED), True, reserved_ports={RESERVED})
    assert "the console's own host on a port it keeps for its local clusters" in (
        caught.value.message
    )


def test_it_refuses_a_reserved_port_on_an_address_of_this_machine():
    own = ipaddress.ip_address("192.0.2.10")
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(
            f"http://192.0.2.10:{RESERVED}", True, reserved_ports={RESERVED}, own_addresses=[own]
        )
    assert "console's own host" in caught.value.message
    # The same address on another port, and another address on that port, are not this rule's.
    assert resolve_endpoint(
        "http://192.0.2.10:19530", True, reserved_ports={RESERVED}, own_addresses=[own]
    )
    assert resolve_endpoint(f"http://192.0.2.11:{RESERVED}", True, reserved_ports={RESERVED})


def test_it_refuses_a_host_name_with_any_answer_on_this_host():
    def answers(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]  # one public answer does not excuse the other

    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(
            f"http://two-faced.example:{RESERVED}",
            True,
            reserved_ports={RESERVED},
            resolver=answers,
        )
    assert "two-faced.example:45678 is the console's own host" in caught.value.message


LOCAL_REDIS = OwnService("Redis", 6379, frozenset({ipaddress.ip_address("127.0.0.1")}))
REMOTE_DATABASE = OwnService("database", 5432, frozenset({ipaddress.ip_address("10.0.0.5")}))


@pytest.mark.parametrize("spelling", SPELLINGS_OF_THIS_HOST)
def test_it_refuses_every_spelling_of_this_host_on_a_service_port_on_this_host(spelling):
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(spelling.format(port=6379), True, own_services=[LOCAL_REDIS])
    assert "is the console's own Redis; typed endpoints may never reach the console's own " in (
        caught.value.message
    )


def test_it_refuses_a_remote_service_on_its_address_and_port_only():
    own = ipaddress.ip_address("192.0.2.10")
    services = [LOCAL_REDIS, REMOTE_DATABASE]
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint("http://10.0.0.5:5432", True, own_services=services)
    assert caught.value.message == (
        "endpoint 10.0.0.5:5432 is the console's own database; typed endpoints may never "
        "reach the console's own services"
    )
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(
            "http://db.example:5432",
            True,
            own_services=services,
            resolver=lambda host, port: ["::ffff:10.0.0.5"],
        )
    assert "db.example:5432 is the console's own database" in caught.value.message
    # An address of this machine on the Redis port (Redis bound to all interfaces answers).
    with pytest.raises(EndpointRejected):
        resolve_endpoint("http://192.0.2.10:6379", True, own_addresses=[own], own_services=services)
    # Not this rule's: the service's port elsewhere, its address on another port, this
    # host on the remote database's port.
    for uri in ("http://10.0.0.6:5432", "http://10.0.0.5:5433", "http://127.0.0.1:5432"):
        assert resolve_endpoint(uri, True, own_addresses=[own], own_services=services)


def test_it_refuses_a_service_even_without_private_endpoints_first():
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint("http://localhost:6379", False, own_services=[LOCAL_REDIS])
    assert "own Redis" in caught.value.message


def test_it_allows_this_host_on_other_ports_only_when_private_endpoints_are(lite_server):
    uri = f"http://localhost:{lite_server.port}"
    assert resolve_endpoint(uri, True, reserved_ports={RESERVED}).uri == uri
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(uri, False, reserved_ports={RESERVED})
    assert "loopback address; private endpoints are not allowed here" in caught.value.message


@pytest.mark.parametrize(
    "uri",
    [
        "http://[2002:c0a8:1::1]:19530",  # 6to4 around 192.168.0.1
        "http://[2002:808:808::1]:19530",  # 6to4, whatever it wraps
        "http://[fec0::1]:19530",  # site-local
        "http://[fd12:3456::1]:19530",  # unique local
        "http://[64:ff9b::10.0.0.1]:19530",  # NAT64 around a private address
        "http://100.64.0.1:19530",  # carrier-grade NAT
    ],
)
def test_it_treats_wrapped_and_site_local_ipv6_as_private(uri):
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(uri, False)
    assert "private endpoints are not allowed here" in caught.value.message


@pytest.mark.parametrize(
    "uri",
    [
        "https://in01-abc.global-cluster.zillizcloud.com:19530",
        "http://GLOBAL-CLUSTER.example:19530",
        "http://x-global-cluster-y:19530",
    ],
)
def test_it_refuses_global_cluster_hosts_before_any_connection(uri):
    with pytest.raises(EndpointRejected) as caught:
        resolve_endpoint(uri, True)
    assert "global-cluster endpoint, which is not supported" in caught.value.message
    # connect() refuses it too, even for a URI it would otherwise trust: pymilvus would fetch
    # a topology over HTTP and connect wherever it says.
    with pytest.raises(EndpointRejected):
        connect(uri, timeout=1)
