"""Open Milvus connections and turn every way that fails into one clear message.

`connect()` checks in the order a person would: is anything listening at host:port, does it
accept the credentials, does the database exist. pymilvus reports the first two the same way
("Fail connecting ... illegal connection params or server unavailable"), so the TCP port is
probed first and the gRPC status underneath pymilvus' exception is read for the rest.

`resolve_endpoint()` guards URLs typed by users (design §8): it resolves the host once, checks
every address, and returns a `Target` pinned to the checked address. `connect(target)` connects to
that address and nothing else (no second lookup for DNS rebinding to exploit), keeping the host
name for TLS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Container, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .errors import (
    AuthenticationFailed,
    CannotReach,
    ConnectError,
    DatabaseNotFound,
    EndpointRejected,
    NotMilvus,
)

DEFAULT_PORT = 19530
DEFAULT_TLS_PORT = 443
SCHEMES = ("http", "https", "tcp")

# pymilvus pings every 10 s even on an idle channel; gRPC servers (Milvus Lite's among them)
# allow one ping per 5 minutes without data by default and answer more with GOAWAY
# "too_many_pings", after which pymilvus' pooled channel fails its next connect as "not a
# Milvus server". Ping only while calls are open, and no more often than servers accept.
GRPC_OPTIONS = {
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_permit_without_calls": False,
}

# Cloud instance-metadata services: a request to them from the server can leak its credentials,
# so they are refused whatever MIGRATION_ALLOW_PRIVATE_ENDPOINTS says.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
    )
)


# pymilvus treats any URI containing this as a Zilliz global endpoint: it first GETs
# {uri}/global-cluster/topology over HTTP (following redirects, sending the token) and then
# opens gRPC to whatever address the answer names, past every check here. Refused outright.
GLOBAL_CLUSTER_MARK = "global-cluster"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, as strings. Replaceable (tests answer differently
# on each call to play a DNS-rebinding name).
Resolver = Callable[[str, int], list[str]]

# NAT64 (RFC 6052) wraps an IPv4 address in IPv6; the IPv4 inside is what is reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated site-local IPv6 (RFC 3879): private, though Python does not count it so.
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
# 6to4 (RFC 3056) wraps an IPv4 address: treated as private whatever that address is.
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    @property
    def address(self) -> str:
        """host:port as users write it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.address}"


def parse_endpoint(uri: str) -> Endpoint:
    """Split `scheme://host[:port]` (scheme http, https or tcp) or raise EndpointRejected.

    A missing port means 19530 (443 for https). Paths, queries and credentials inside the URL
    are refused: credentials belong in the token or username/password fields.
    """
    text = (uri or "").strip()
    if not text:
        raise EndpointRejected("endpoint is empty: give a URL such as http://host:19530")
    if "://" not in text:
        raise EndpointRejected(
            f"endpoint {text!r} has no scheme: write http://, https:// or tcp:// before host:port"
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise EndpointRejected(
            f"endpoint scheme {parts.scheme!r} is not allowed: use http, https or tcp"
        )
    if parts.username is not None or parts.password is not None:
        raise EndpointRejected(
            "endpoint must not contain credentials: give them as API key or username/password"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EndpointRejected(f"endpoint {text!r} must be scheme://host:port, without a path")
    host = parts.hostname
    if not host:
        raise EndpointRejected(f"endpoint {text!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise EndpointRejected(f"endpoint {text!r} has an invalid port") from None
    if port is None:
        port = DEFAULT_TLS_PORT if scheme == "https" else DEFAULT_PORT
    if port == 0:
        raise EndpointRejected(f"endpoint {text!r} has an invalid port")
    host = host.lower()
    if GLOBAL_CLUSTER_MARK in host:
        raise EndpointRejected(
            f"endpoint {host} is a global-cluster endpoint, which is not supported: give the "
            "address of the cluster itself"
        )
    return Endpoint(scheme=scheme, host=host, port=port)


@dataclass(frozen=True)
class Target:
    """A typed endpoint after its checks: connect to `address`, and only there.

    `endpoint` keeps the host name as the user wrote it (for messages, storage and TLS);
    `address` is the one resolved address every check passed for.
    """

    endpoint: Endpoint
    address: IPAddress

    @property
    def uri(self) -> str:
        """The endpoint normalised, with its host name: what is stored and shown."""
        return self.endpoint.uri

    @property
    def pinned_uri(self) -> str:
        """scheme://address:port: what the connection opens (no name left to resolve)."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.endpoint.scheme}://{host}:{self.endpoint.port}"

    @property
    def server_name(self) -> str:
        """The name TLS must verify: the host name, unless the user typed an address."""
        try:
            ipaddress.ip_address(self.endpoint.host)
        except ValueError:
            return self.endpoint.host
        return ""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo: also decimal/hex/octal IPv4 spellings)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def resolve_endpoint(
    uri: str,
    allow_private: bool,
    *,
    reserved_ports: Container[int] = (),
    own_addresses: Collection[IPAddress] = (),
    resolver: Resolver | None = None,
) -> Target:
    """Check a user-typed endpoint and pin it to one checked address, or raise EndpointRejected.

    The host is resolved once; every address it resolves to must pass, and the target keeps
    the first one (IPv4 preferred), so the address checked is the address connected to.

    Refused always: other schemes, global-cluster hosts, cloud metadata hosts and addresses,
    link-local, multicast, unspecified and reserved addresses, and `reserved_ports` (the
    console's own unauthenticated servers) on this host — loopback, or one of
    `own_addresses` — whatever the spelling of the address. Refused unless `allow_private`:
    loopback and private addresses (IPv6 forms that wrap one included). These messages are
    decided without connecting, so they say nothing about whether a port is open.
    `reserved_ports` is asked only about addresses of this host (it may be a lazy lookup).
    """
    endpoint = parse_endpoint(uri)
    if endpoint.host.rstrip(".") in METADATA_HOSTS:
        raise EndpointRejected(
            f"endpoint {endpoint.host} is a cloud metadata service and is not allowed"
        )
    addresses = _resolve(endpoint, resolver or resolve_host)
    own = {_unwrap(a) for a in own_addresses}
    for address in addresses:
        _check_address(endpoint, address, allow_private, reserved_ports, own)
    pinned = sorted(addresses, key=lambda a: _unwrap(a).version)[0]
    return Target(endpoint=endpoint, address=_unwrap(pinned))


def validate_endpoint(uri: str, allow_private: bool, **checks: Any) -> str:
    """`resolve_endpoint(...)`'s normalised `scheme://host:port`, for validating a form field.

    It only checks: whatever connects must connect through `resolve_endpoint`'s Target, which
    carries the address that was checked.
    """
    return resolve_endpoint(uri, allow_private, **checks).uri


def _resolve(endpoint: Endpoint, resolver: Resolver) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(endpoint.host)
    except ValueError:
        literal = None
    if literal is not None:
        return [literal]
    try:
        found = resolver(endpoint.host, endpoint.port)
    except (OSError, UnicodeError):
        raise EndpointRejected(f"host {endpoint.host} cannot be resolved") from None
    # Strip an IPv6 zone ("fe80::1%eth0") before parsing.
    addresses = [ipaddress.ip_address(str(a).split("%")[0]) for a in found]
    if not addresses:
        raise EndpointRejected(f"host {endpoint.host} cannot be resolved")
    return addresses


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address reaches; others unchanged."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _is_this_host(address: IPAddress, own: set[IPAddress]) -> bool:
    return address.is_loopback or address.is_unspecified or address in own


def _is_private(address: IPAddress) -> bool:
    if address.version == 6 and (address in _SITE_LOCAL or address in _SIX_TO_FOUR):
        return True
    return address.is_private or not address.is_global


def _check_address(
    endpoint: Endpoint,
    address: IPAddress,
    allow_private: bool,
    reserved_ports: Container[int],
    own: set[IPAddress],
) -> None:
    address = _unwrap(address)
    where = endpoint.host if str(address) == endpoint.host else f"{endpoint.host} ({address})"
    if address in METADATA_ADDRESSES:
        raise EndpointRejected(f"endpoint {where} is a cloud metadata service and is not allowed")
    if _is_this_host(address, own) and endpoint.port in reserved_ports:
        # Milvus Lite has no authentication: one of the console's own clusters must never be
        # reachable as a typed endpoint, whichever project it belongs to.
        raise EndpointRejected(
            f"endpoint {endpoint.address} is the console's own host on a port it keeps for "
            "its local clusters; it is not allowed"
        )
    if address.is_link_local:
        raise EndpointRejected(f"endpoint {where} is a link-local address and is not allowed")
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        raise EndpointRejected(f"endpoint {where} is not a usable host address")
    if not allow_private:
        if address.is_loopback:
            raise EndpointRejected(
                f"endpoint {where} is a loopback address; private endpoints are not allowed here"
            )
        if _is_private(address):
            raise EndpointRejected(
                f"endpoint {where} is a private address; private endpoints are not allowed here"
            )


# --- connecting ------------------------------------------------------------------------


def connect(
    where: str | Target,
    *,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    db_name: str = "default",
    timeout: float = 5.0,
) -> MilvusClient:
    """Open a MilvusClient on `db_name`, or raise a ConnectError subclass with a clear message.

    `where` is a Target from `resolve_endpoint` (typed endpoints: the connection goes to its
    checked address only, TLS still verifies the host name) or a URI the caller trusts (the
    console's own local clusters, the engine's command line), which gRPC resolves itself.
    Authentication is `token` (an API key or "user:password") or `user` + `password`.
    Raises EndpointRejected (malformed URI), CannotReach ("cannot reach host:port"),
    NotMilvus ("host:port is not a Milvus server"), AuthenticationFailed ("authentication
    failed"), DatabaseNotFound ("database X does not exist"). No message contains a credential.
    The caller closes the returned client.
    """
    if isinstance(where, Target):
        endpoint, uri, host = where.endpoint, where.pinned_uri, str(where.address)
        tls = {"server_name": where.server_name} if where.server_name else {}
    else:
        endpoint = parse_endpoint(where)
        uri, host, tls = endpoint.uri, endpoint.host, {}
    db_name = db_name or "default"
    _check_reachable(endpoint, host, timeout)

    if not token and user:
        token = f"{user}:{password or ''}"
    try:
        client = MilvusClient(
            uri=uri,
            token=token or "",
            db_name=db_name,
            timeout=timeout,
            grpc_options=GRPC_OPTIONS,
            # A channel of its own, closed with the client. pymilvus otherwise shares one
            # channel per address and token, made with the options of whichever client came
            # first in the process (and never closed): a client made elsewhere without
            # GRPC_OPTIONS would leave ours pinging every 10 s into GOAWAY too_many_pings.
            dedicated=True,
            **tls,
        )
    except MilvusException as exc:
        raise _translate_connect_failure(endpoint, exc) from None

    try:
        _check_database(client, endpoint, db_name)
    except BaseException:
        client.close()
        raise
    return client


def _check_reachable(endpoint: Endpoint, host: str, timeout: float) -> None:
    try:
        with socket.create_connection((host, endpoint.port), timeout=timeout):
            pass
    except socket.gaierror:
        raise CannotReach(
            f"cannot reach {endpoint.address}: host {endpoint.host} cannot be resolved"
        ) from None
    except TimeoutError:
        raise CannotReach(
            f"cannot reach {endpoint.address}: no answer within {timeout:g}s"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CannotReach(f"cannot reach {endpoint.address}: {reason.lower()}") from None


def _translate_connect_failure(endpoint: Endpoint, exc: MilvusException) -> ConnectError:
    """Read the gRPC status pymilvus hides behind "illegal connection params or unavailable"."""
    cause = exc.__cause__
    code = cause.code() if isinstance(cause, grpc.RpcError) else None
    details = (cause.details() or "") if isinstance(cause, grpc.RpcError) else ""
    if code == grpc.StatusCode.UNAUTHENTICATED or _mentions_auth(exc.message):
        return AuthenticationFailed(
            f"authentication failed on {endpoint.address}: check the API key or the "
            "username and password"
        )
    if "Tls handshake" in details or "SSL" in details:
        other = "http" if endpoint.scheme == "https" else "https"
        return NotMilvus(
            f"{endpoint.address} is not a Milvus server over {endpoint.scheme}: the TLS "
            f"handshake failed (try {other}://)"
        )
    if code == grpc.StatusCode.UNAVAILABLE and "refused" in details.lower():
        return CannotReach(f"cannot reach {endpoint.address}: connection refused")
    # Reachable over TCP yet no gRPC answer: an HTTP/1 server, a database, a random listener.
    return NotMilvus(
        f"{endpoint.address} is not a Milvus server: it accepts connections but does not "
        "answer the Milvus protocol"
    )


def _mentions_auth(message: str) -> bool:
    text = (message or "").lower()
    return "auth" in text or "password" in text or "credential" in text


def _check_database(client: MilvusClient, endpoint: Endpoint, db_name: str) -> None:
    # pymilvus sends the database name with every call and never checks it at connect time.
    try:
        databases = client.list_databases()
    except MilvusException:
        databases = None  # a role without the listing privilege: ask the database itself
    if databases is not None:
        if db_name not in databases:
            raise DatabaseNotFound(f"database {db_name} does not exist on {endpoint.address}")
        return
    try:
        client.list_collections()
    except MilvusException as exc:
        text = (exc.message or "").lower()
        if "database" in text and ("not exist" in text or "not found" in text):
            raise DatabaseNotFound(
                f"database {db_name} does not exist on {endpoint.address}"
            ) from None
        if _mentions_auth(exc.message) or "permission" in text or "privilege" in text:
            raise AuthenticationFailed(
                f"authentication failed on {endpoint.address}: the credentials may not read "
                f"database {db_name} ({exc.message})"
            ) from None
        raise ConnectError(
            f"{endpoint.address} refused listing database {db_name}: {exc.message}"
        ) from None


# --- what a server is --------------------------------------------------------------------

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass
class ServerInfo:
    """What the console's "Test connection" shows and what `plan` needs to know of a server.

    kind is "milvus_lite" or "milvus"; version_tuple is (major, minor, patch) of the Milvus (or
    Milvus Lite) release; collection_count counts the collections of the connected database.
    """

    version: str
    kind: str
    version_tuple: tuple[int, int, int]
    databases: list[str] = field(default_factory=list)
    db_name: str = "default"
    collection_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version_tuple"] = list(self.version_tuple)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerInfo:
        return cls(**{**data, "version_tuple": tuple(data["version_tuple"])})


def parse_version(version: str) -> tuple[str, tuple[int, int, int]]:
    """("milvus_lite-3.2.2" → ("milvus_lite", (3, 2, 2)); "v2.3.5-lite" → ("milvus", (2, 3, 5))).

    The `milvus` PyPI standalone calls itself "v2.3.5-lite" yet is a full Milvus 2.3.5 server,
    so only the "milvus_lite" prefix marks Milvus Lite.
    """
    kind = "milvus_lite" if version.lower().startswith("milvus_lite") else "milvus"
    match = _VERSION.search(version)
    if not match:
        return kind, (0, 0, 0)
    major, minor, patch = match.groups()
    return kind, (int(major), int(minor), int(patch or 0))


def current_database(client: MilvusClient) -> str:
    """The database every call of `client` goes to."""
    # pymilvus keeps it only in the client's connection config (no public accessor in 3.0).
    return getattr(getattr(client, "_config", None), "db_name", "") or "default"


def client_for_database(client: MilvusClient, db_name: str) -> MilvusClient:
    """A new client on the same server and credentials as `client`, bound to `db_name`.

    It has a channel of its own (see `connect`) and does not check that the database exists.
    The caller closes it.
    """
    config = client._config
    # The same URI (a pinned address for typed endpoints) and handler options (TLS server
    # name, gRPC options): nothing is resolved again.
    options = {"grpc_options": GRPC_OPTIONS, **config.get_handler_kwargs(), "dedicated": True}
    return MilvusClient(uri=config.uri, token=config.token, db_name=db_name, **options)


@contextmanager
def on_database(client: MilvusClient, db_name: str) -> Iterator[MilvusClient]:
    """`client` itself when it is bound to `db_name`, else a client for it closed at exit."""
    if current_database(client) == db_name:
        yield client
        return
    other = client_for_database(client, db_name)
    try:
        yield other
    finally:
        other.close()


def server_kind(client: MilvusClient) -> tuple[str, tuple[int, int, int]]:
    """("milvus_lite" | "milvus", (major, minor, patch)) of the server, in one call."""
    return parse_version(client.get_server_version())


def server_info(client: MilvusClient) -> ServerInfo:
    """Version, kind, databases and collection count of the server `client` is connected to."""
    version = client.get_server_version()
    kind, version_tuple = parse_version(version)
    try:
        databases = sorted(client.list_databases())
    except MilvusException:
        # Roles without the database-listing privilege still know their own database.
        databases = []
    db_name = current_database(client)
    return ServerInfo(
        version=version,
        kind=kind,
        version_tuple=version_tuple,
        databases=databases or [db_name],
        db_name=db_name,
        collection_count=len(client.list_collections()),
    )
