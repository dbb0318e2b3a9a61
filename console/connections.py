"""Where and as whom: the one value every page, service, task and endpoint connects with.

A `Connection` is an endpoint plus an API key or a username and password. A Cluster row gives
one (`Cluster.connection()`); an *In Other Organization* job keeps its own, encrypted on the job
row. `open_client()` is the only way the console opens a Milvus client, so the endpoint rules of
DESIGN §8 and the redaction of credentials happen in one place.

A typed endpoint is resolved once per use, every address checked, and the connection opened to
that checked address (migrations_app.engine.endpoints.Target): a name that answers a public address
when it is registered and 127.0.0.1 later is refused on the later use, never connected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Container
from dataclasses import asdict, dataclass

import psutil
from django.conf import settings
from pymilvus import MilvusClient

from console.crypto import decrypt_json, encrypt_json
from migrations_app.engine import endpoints
from migrations_app.engine.connect import connect
from migrations_app.engine.endpoints import IPAddress, Target, parse_endpoint
from migrations_app.engine.errors import EndpointRejected

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Connection:
    """An endpoint and the credentials to use there (at most one of token / username).

    `typed` marks an endpoint a person typed (an external cluster, another organization's
    source): it is checked against the endpoint rules every time it is used, because what a
    host name resolves to can change after it was first accepted.
    """

    uri: str
    token: str = ""
    username: str = ""
    password: str = ""
    typed: bool = True

    def __repr__(self) -> str:  # never let a credential into a traceback or a log line
        return f"Connection(uri={self.uri!r}, auth={self.auth!r}, typed={self.typed})"

    __str__ = __repr__

    @property
    def auth(self) -> str:
        if self.token:
            return "API_KEY"
        if self.username:
            return "USER_PASSWORD"
        return "NONE"

    @property
    def pymilvus_token(self) -> str | None:
        """What pymilvus takes as `token`: the API key, "user:password", or None."""
        if self.token:
            return self.token
        if self.username:
            return f"{self.username}:{self.password}"
        return None

    def secrets(self) -> list[str]:
        """Every secret string of this connection, for redaction."""
        found = [s for s in (self.token, self.password) if s]
        if self.username and self.password:
            found.append(f"{self.username}:{self.password}")
        return found

    @property
    def address(self) -> str:
        """host:port, for people (no scheme, no credentials)."""
        try:
            return parse_endpoint(self.uri).address
        except EndpointRejected:
            return self.uri

    def encrypt(self) -> str:
        """The whole connection as Fernet ciphertext, for a database column."""
        return encrypt_json(asdict(self))

    @classmethod
    def decrypt(cls, text: str) -> Connection | None:
        data = decrypt_json(text)
        if not data or not data.get("uri"):
            return None
        known = {k: data[k] for k in ("uri", "token", "username", "password", "typed") if k in data}
        return cls(**known)

    def with_uri(self, uri: str) -> Connection:
        return Connection(uri, self.token, self.username, self.password, self.typed)


def resolve_host(host: str, port: int) -> list[str]:
    """How typed host names are resolved; a test may replace it with a function of its own
    (a name that answers differently on each lookup)."""
    return endpoints.resolve_host(host, port)


def local_cluster_ports() -> frozenset[int]:
    """Ports of every local cluster the console runs, in any project (Milvus Lite has no
    authentication, so a typed endpoint must never reach one)."""
    from console.models import Cluster

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


def resolve(connection: Connection, reserved_ports: Container[int] | None = None) -> Target:
    """The typed connection's endpoint checked and pinned to one address, or EndpointRejected.

    DESIGN §8: schemes, global-cluster hosts, metadata and link-local addresses refused; this
    host's local-cluster ports refused by any spelling; private addresses only when
    MIGRATION_ALLOW_PRIVATE_ENDPOINTS is on. Decided without connecting.

    `reserved_ports` is `local_cluster_ports()`, read here unless the caller read it already:
    callers that connect from worker threads read it first in their own thread (a thread's
    database connection would not see the caller's transaction, and would be left open).
    """
    if reserved_ports is None:
        reserved_ports = _LocalClusterPorts()
    return endpoints.resolve_endpoint(
        connection.uri,
        settings.MIGRATION_ALLOW_PRIVATE_ENDPOINTS,
        reserved_ports=reserved_ports,
        own_addresses=host_addresses(),
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
