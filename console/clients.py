"""Opening a Milvus client from a Connection: the one way the console connects.

`open_client()` is the only way the console opens a Milvus client, so the endpoint rules of
DESIGN §8 and the redaction of credentials happen in one place.

A typed endpoint is resolved once per use, every address checked, and the connection opened to
that checked address (migrations_app.engine.endpoints.Target): a name that answers a public address
when it is registered and 127.0.0.1 later is refused on the later use, never connected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Container
from urllib.parse import urlsplit

import psutil
from django.conf import settings
from pymilvus import MilvusClient

from console.connections import Connection
from console.models import Cluster
from migrations_app.engine import endpoints
from migrations_app.engine.connect import connect
from migrations_app.engine.endpoints import (
    Endpoint,
    HttpUrl,
    IPAddress,
    OwnService,
    Target,
    parse_endpoint,
)
from migrations_app.engine.errors import EndpointRejected

DEFAULT_TIMEOUT = 5.0


def resolve_host(host: str, port: int) -> list[str]:
    """How typed host names are resolved; a test may replace it with a function of its own
    (a name that answers differently on each lookup)."""
    return endpoints.resolve_host(host, port)


def local_cluster_ports() -> frozenset[int]:
    """Ports of every local cluster the console runs, in any project (Milvus Lite has no
    authentication, so a typed endpoint must never reach one)."""
    ports = Cluster.objects.filter(kind=Cluster.Kind.LOCAL, port__isnull=False)
    return frozenset(ports.values_list("port", flat=True))


class _LocalClusterPorts:
    """`local_cluster_ports()`, read from the database only when asked: only endpoints on this
    host are asked about, so every other endpoint is checked without a query."""

    def __init__(self) -> None:
        self._ports: frozenset[int] | None = None

    def __contains__(self, port: object) -> bool:
        if self._ports is None:
            self._ports = local_cluster_ports()
        return port in self._ports


def host_addresses() -> frozenset[IPAddress]:
    """The addresses of this machine's interfaces (loopback ones are refused by kind)."""
    found = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            try:
                found.add(ipaddress.ip_address(entry.address.split("%")[0]))
            except ValueError:
                continue  # a MAC address
    return frozenset(found)


# Ports the console's database listens on when DATABASE_URL names none.
_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306}
_REDIS_PORT = 6379


def _own_service(name: str, host: str, port: int) -> OwnService | None:
    """The service at host:port, its host resolved; None when it cannot be (the console
    itself could not reach it then either)."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve_host(host, port)]
        except (OSError, UnicodeError, ValueError):
            return None
    return OwnService(name=name, port=port, addresses=frozenset(addresses))


def own_services() -> list[OwnService]:
    """The console's own servers a typed endpoint must never reach (DESIGN §8): the Redis of
    REDIS_URL (broker, cache, rate-limit counters), the database of DATABASE_URL and the web
    server (WEB_PORTS, on this host). Unix-socket Redis and SQLite have no port to protect."""
    found = []
    redis = urlsplit(settings.REDIS_URL)
    if redis.scheme in ("redis", "rediss"):
        try:
            port = redis.port or _REDIS_PORT
        except ValueError:
            port = None  # a URL the console cannot use either
        if port is not None:
            found.append(_own_service("Redis", redis.hostname or "localhost", port))
    database = settings.DATABASES["default"]
    vendor = next((v for v in _DATABASE_PORTS if v in database.get("ENGINE", "")), None)
    host = str(database.get("HOST") or "")
    if vendor is not None and host and not host.startswith("/"):
        port = int(database.get("PORT") or _DATABASE_PORTS[vendor])
        found.append(_own_service("database", host, port))
    loopback = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})
    found.extend(OwnService("web server", port, loopback) for port in settings.WEB_PORTS)
    return [service for service in found if service is not None]


def resolve(connection: Connection, reserved_ports: Container[int] | None = None) -> Target:
    """The typed connection's endpoint checked and pinned to one address, or EndpointRejected.

    DESIGN §8: schemes, global-cluster hosts, metadata and link-local addresses refused; this
    host's local-cluster ports refused by any spelling, and the console's own Redis, database
    and web server (`own_services`) whatever private endpoints allow; private addresses only when
    MIGRATION_ALLOW_PRIVATE_ENDPOINTS is on. Decided without connecting.

    `reserved_ports` is `local_cluster_ports()`, read here unless the caller read it already:
    callers that connect from worker threads read it first in their own thread (a thread's
    database connection would not see the caller's transaction, and would be left open).
    """
    return _resolve(connection.uri, reserved_ports)


def resolve_url(url: HttpUrl) -> Target:
    """A web URL's host and port (a project's webhook) checked and pinned to one address by
    the rules of `resolve`, or EndpointRejected: POST to the returned address and only there."""
    return _resolve(url.endpoint, None)


def _resolve(where: str | Endpoint, reserved_ports: Container[int] | None) -> Target:
    if reserved_ports is None:
        reserved_ports = _LocalClusterPorts()
    return endpoints.resolve_endpoint(
        where,
        settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS,
        reserved_ports=reserved_ports,
        own_addresses=host_addresses(),
        own_services=own_services(),
        resolver=resolve_host,
    )


def check_endpoint(connection: Connection) -> Connection:
    """The connection with its endpoint normalised, or EndpointRejected with the reason.

    For validating input early (a form field, an API body). It checks only: connecting goes
    through `open_client`, which resolves and checks again and connects to what it checked.
    The console's own local clusters are trusted.
    """
    if not connection.typed:
        return connection
    return connection.with_uri(resolve(connection).uri)


def open_client(
    connection: Connection,
    *,
    db_name: str = "default",
    timeout: float = DEFAULT_TIMEOUT,
    reserved_ports: Container[int] | None = None,
) -> MilvusClient:
    """A MilvusClient on `db_name`, or an EngineError whose message names no credential.

    A typed endpoint is checked on every call (what its name resolves to may have changed since
    it was stored) and the client connects to the address that was checked. `reserved_ports`:
    see `resolve`. The caller closes the client.
    """
    where: str | Target = (
        resolve(connection, reserved_ports) if connection.typed else connection.uri
    )
    return connect(
        where,
        token=connection.pymilvus_token,
        db_name=db_name,
        timeout=timeout,
    )


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same(a: Endpoint, b: Endpoint) -> bool:
    return a.port == b.port and (a.host == b.host or _is_loopback(a.host) and _is_loopback(b.host))


def same_server(uri: str, other: str) -> bool:
    """Whether two endpoints name one server as written: the same port, and the same host or
    both loopback. Decided without resolving; False when either does not parse."""
    try:
        return _same(parse_endpoint(uri), parse_endpoint(other))
    except EndpointRejected:
        return False
