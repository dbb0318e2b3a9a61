"""Endpoint policy (design §8): parse a user-typed URL, resolve it once, check every address.

`parse_endpoint()` splits `scheme://host[:port]`; `resolve_endpoint()` guards URLs typed by
users: it resolves the host once, checks every address, and returns a `Target` pinned to the
checked address. `connect.connect(target)` connects to that address and nothing else (no second
lookup for DNS rebinding to exploit), keeping the host name for TLS. Nothing here connects.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection, Container
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import EndpointRejected

DEFAULT_PORT = 19530
DEFAULT_TLS_PORT = 443
SCHEMES = ("http", "https", "tcp")
# Web URLs the console POSTs to (a project's webhook): http and https only, on their own ports.
HTTP_DEFAULT_PORTS = {"http": 80, "https": 443}

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
class HttpUrl:
    """A web URL split for a request: where to connect (`endpoint`) and what to ask for
    (`target`: the path and query, at least "/")."""

    endpoint: Endpoint
    target: str

    @property
    def url(self) -> str:
        """The URL normalised (scheme and host in lower case, the port always written)."""
        return f"{self.endpoint.uri}{self.target}"


def parse_http_url(url: str) -> HttpUrl:
    """Split `http(s)://host[:port][/path][?query]` or raise EndpointRejected.

    The same host rules as `parse_endpoint` (no credentials in the URL, no global-cluster
    hosts), a path and a query allowed, a fragment refused (it never reaches a server). A
    missing port means 80 (443 for https).
    """
    text = (url or "").strip()
    if not text:
        raise EndpointRejected("URL is empty: give one such as https://example.com/hook")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise EndpointRejected("URL must not contain spaces or control characters")
    if "://" not in text:
        raise EndpointRejected(f"URL {text!r} has no scheme: write http:// or https:// first")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_DEFAULT_PORTS:
        raise EndpointRejected(f"URL scheme {parts.scheme!r} is not allowed: use http or https")
    if parts.username is not None or parts.password is not None:
        raise EndpointRejected("URL must not contain a user name or password")
    if parts.fragment or text.endswith("#"):
        raise EndpointRejected(f"URL {text!r} must not have a #fragment")
    host = parts.hostname
    if not host:
        raise EndpointRejected(f"URL {text!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise EndpointRejected(f"URL {text!r} has an invalid port") from None
    if port == 0:
        raise EndpointRejected(f"URL {text!r} has an invalid port")
    host = host.lower()
    if GLOBAL_CLUSTER_MARK in host:
        raise EndpointRejected(f"host {host} is a global-cluster host, which is not supported")
    endpoint = Endpoint(scheme=scheme, host=host, port=port or HTTP_DEFAULT_PORTS[scheme])
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HttpUrl(endpoint=endpoint, target=target)


@dataclass(frozen=True)
class OwnService:
    """A server the console itself uses (its Redis, its database, its web server): a typed
    endpoint must never reach it, whatever private endpoints are allowed.

    `addresses` are what the service's host resolves to. When one of them is this host, the
    port is the service's on every address of this host (a server bound to all interfaces
    answers on each), as the local-cluster ports are; otherwise only on those addresses.
    """

    name: str
    port: int
    addresses: frozenset[IPAddress]


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
    uri: str | Endpoint,
    allow_private: bool,
    *,
    reserved_ports: Container[int] = (),
    own_addresses: Collection[IPAddress] = (),
    own_services: Collection[OwnService] = (),
    resolver: Resolver | None = None,
) -> Target:
    """Check a user-typed endpoint and pin it to one checked address, or raise EndpointRejected.

    The host is resolved once; every address it resolves to must pass, and the target keeps
    the first one (IPv4 preferred), so the address checked is the address connected to.

    Refused always: other schemes, global-cluster hosts, cloud metadata hosts and addresses,
    link-local, multicast, unspecified and reserved addresses, and `reserved_ports` (the
    console's own unauthenticated servers) on this host — loopback, or one of
    `own_addresses` — whatever the spelling of the address, and the host and port of each of
    `own_services` (the console's Redis, database and web server). Refused unless `allow_private`:
    loopback and private addresses (IPv6 forms that wrap one included). These messages are
    decided without connecting, so they say nothing about whether a port is open.
    `reserved_ports` is asked only about addresses of this host (it may be a lazy lookup).
    `uri` may come parsed already (`parse_http_url(...).endpoint` for a web URL).
    """
    endpoint = uri if isinstance(uri, Endpoint) else parse_endpoint(uri)
    if endpoint.host.rstrip(".") in METADATA_HOSTS:
        raise EndpointRejected(
            f"endpoint {endpoint.host} is a cloud metadata service and is not allowed"
        )
    addresses = _resolve(endpoint, resolver or resolve_host)
    own = {_unwrap(a) for a in own_addresses}
    for address in addresses:
        _check_own_service(endpoint, _unwrap(address), own_services, own)
        _check_address(endpoint, address, allow_private, reserved_ports, own)
    pinned = sorted(addresses, key=lambda a: _unwrap(a).version)[0]
    return Target(endpoint=endpoint, address=_unwrap(pinned))


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


def _check_own_service(
    endpoint: Endpoint, address: IPAddress, services: Collection[OwnService], own: set[IPAddress]
) -> None:
    for service in services:
        if service.port != endpoint.port:
            continue
        addresses = {_unwrap(a) for a in service.addresses}
        here = any(_is_this_host(a, own) for a in addresses)
        if address in addresses or (here and _is_this_host(address, own)):
            raise EndpointRejected(
                f"endpoint {endpoint.address} is the console's own {service.name}; typed "
                "endpoints may never reach the console's own services"
            )


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
