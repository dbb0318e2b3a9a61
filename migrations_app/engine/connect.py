"""Open Milvus connections and turn every way that fails into one clear message; what a server is.

`connect()` checks in the order a person would: is anything listening at host:port, does it
accept the credentials, does the database exist. pymilvus reports the first two the same way
("Fail connecting ... illegal connection params or server unavailable"), so the TCP port is
probed first and the gRPC status underneath pymilvus' exception is read for the rest.

Where to connect is decided by `endpoints` (a checked, pinned `Target`, or a trusted URI).
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

from .capabilities import CONNECT_SINCE, capabilities, parse_version
from .endpoints import Endpoint, Target, parse_endpoint
from .errors import (
    AuthenticationFailed,
    CannotReach,
    ConnectError,
    DatabaseNotFound,
    NotMilvus,
    ServerTooOld,
)

# pymilvus pings every 10 s even on an idle channel; gRPC servers (Milvus Lite's among them)
# allow one ping per 5 minutes without data by default and answer more with GOAWAY
# "too_many_pings", after which pymilvus' pooled channel fails its next connect as "not a
# Milvus server". Ping only while calls are open, and no more often than servers accept.
GRPC_OPTIONS = {
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_permit_without_calls": False,
}


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
        raise _translate_connect_failure(endpoint, exc, (uri, tls, token or "", timeout)) from None

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


def _translate_connect_failure(
    endpoint: Endpoint, exc: MilvusException, channel: tuple[str, dict, str, float]
) -> ConnectError:
    """Read the gRPC status pymilvus hides behind "illegal connection params or unavailable";
    `channel` is how to ask the server again: (uri, TLS options, token, timeout)."""
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
    # pymilvus' first call is Connect, which Milvus before 2.2.9 does not have (pymilvus then
    # reports the server unavailable): ask for it on a channel of our own.
    reported = _lacks_connect(*channel)
    if reported is not None:
        return _too_old(endpoint, reported)
    # Reachable over TCP yet no gRPC answer: an HTTP/1 server, a database, a random listener.
    return NotMilvus(
        f"{endpoint.address} is not a Milvus server: it accepts connections but does not "
        "answer the Milvus protocol"
    )


def _too_old(endpoint: Endpoint, reported: str) -> ServerTooOld:
    """ServerTooOld naming the release the server reports."""
    needed = ".".join(str(part) for part in CONNECT_SINCE)
    _, release = parse_version(reported)
    if release != (0, 0, 0):
        name = ".".join(str(part) for part in release)
        return ServerTooOld(
            f"Milvus {name} is too old for this console: {needed} or later is needed "
            f"({endpoint.address} reports {reported})"
        )
    return ServerTooOld(
        f"the Milvus server at {endpoint.address} is too old for this console (it has no "
        f"Connect call): {needed} or later is needed"
    )


def _lacks_connect(uri: str, tls: dict, token: str, timeout: float) -> str | None:
    """The version a Milvus server without the Connect call reports ("" when it does not say);
    None when the server has Connect or does not answer gRPC at all."""
    target = uri.split("://", 1)[-1].rstrip("/")
    if uri.startswith("https://"):
        options = []
        if tls.get("server_name"):
            options.append(("grpc.ssl_target_name_override", tls["server_name"]))
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
    else:
        channel = grpc.insecure_channel(target)
    metadata = [("authorization", base64.b64encode(token.encode()).decode())] if token else []
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    try:
        try:
            stub.Connect(milvus_pb2.ConnectRequest(), timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return None
        else:
            return None
        try:
            answer = stub.GetVersion(
                milvus_pb2.GetVersionRequest(), timeout=timeout, metadata=metadata
            )
        except grpc.RpcError:
            return ""
        return answer.version
    finally:
        channel.close()


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


@dataclass
class ServerInfo:
    """What the console's "Test connection" shows and what `plan` needs to know of a server.

    kind is "milvus_lite" or "milvus"; version is what the server reports; version_tuple is
    (major, minor, patch) of the release it has the capabilities of (capabilities.py: probed,
    not read from the version string); collection_count counts the collections of the
    connected database.
    """

    version: str
    kind: str
    version_tuple: tuple[int, int, int]
    databases: list[str] = field(default_factory=list)
    db_name: str = "default"
    collection_count: int = 0


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
    other = MilvusClient(uri=config.uri, token=config.token, db_name=db_name, **options)
    # A fenced client (fence.FencedClient) hands its lease and deadlines on to the new one.
    rewrap = getattr(client, "rewrap", None)
    return rewrap(other) if rewrap is not None else other


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


def server_info(client: MilvusClient) -> ServerInfo:
    """Version, kind, databases and collection count of the server `client` is connected to."""
    probed = capabilities(client)
    try:
        databases = sorted(client.list_databases())
    except MilvusException:
        # Roles without the database-listing privilege still know their own database.
        databases = []
    db_name = current_database(client)
    return ServerInfo(
        version=probed.reported,
        kind=probed.kind,
        version_tuple=probed.release,
        databases=databases or [db_name],
        db_name=db_name,
        collection_count=len(client.list_collections()),
    )
