"""What a Milvus server can do, found by asking it — never by reading its version string.

A version string is a label: the PyPI `milvus` 2.3.0 build reports "v2.2-testing-20230824-…"
and has databases, JSON fields and Upsert. Each capability is found with a call that changes
nothing, once per client (cached for the client's life):

- **Connect.** pymilvus' MilvusClient calls it first; Milvus before 2.2.9 lacks it (gRPC
  UNIMPLEMENTED), and connect.py refuses such a server as too old by name. Every server the
  engine talks to therefore has what 2.2.9 brought: JSON fields (2.2.8), dynamic fields,
  partition keys — the JSON and dynamic-field "probe" is the Connect call itself.
- **databases**: ListDatabases is answered (an error status such as a denied privilege still
  says the call exists; UNIMPLEMENTED says it does not).
- **upsert**: an Upsert of no rows into a collection name that cannot exist is answered with an
  error status, or with UNIMPLEMENTED where the server has no Upsert (Milvus 2.2.x).
- **count(*)**: needs a collection to ask, so it is found at the first count
  (`learn_count`): Milvus 2.2 answers `count(*)` with "query expression is empty" (and with a
  filter, with rows).

`floor` is the oldest Milvus release that has everything probed (2.3.0 with Upsert, else
2.2.9): support.py's per-release table is read at max(reported release, floor), so a build that
under-reports is taken for what it has; features after 2.3 (which no probe here tells apart,
and which PyPI's `milvus` cannot run) follow the reported release.
"""

from __future__ import annotations

import re
import threading
import uuid
import weakref
from dataclasses import dataclass, replace

import grpc
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2

Version = tuple[int, int, int]

CONNECT_SINCE: Version = (2, 2, 9)  # the first release with the Connect call
UPSERT_SINCE: Version = (2, 3, 0)  # the first release with Upsert (and count(*))
PROBE_TIMEOUT = 10.0
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Capabilities:
    """One server as probed. `reported` is the version string it gives (shown, never trusted);
    `release` the (major, minor, patch) support.py's table is read at; `count` is None until a
    count found out."""

    kind: str  # "milvus_lite" or "milvus"
    reported: str
    release: Version
    databases: bool
    upsert: bool
    count: bool | None = None

    @property
    def is_lite(self) -> bool:
        return self.kind == "milvus_lite"

    @property
    def label(self) -> str:
        """How messages name the server: "Milvus 2.2.16", "Milvus Lite 3.2.2"."""
        name = "Milvus Lite" if self.is_lite else "Milvus"
        return f"{name} {'.'.join(str(part) for part in self.release)}"


def parse_version(version: str) -> tuple[str, Version]:
    """("milvus_lite-3.2.2" → ("milvus_lite", (3, 2, 2)); "v2.3.5-lite" → ("milvus", (2, 3, 5))).

    Only names and messages use it (and the release table past what is probed). The `milvus`
    PyPI standalone calls itself "v2.3.5-lite" yet is a full Milvus 2.3.5 server, so only the
    "milvus_lite" prefix marks Milvus Lite.
    """
    kind = "milvus_lite" if version.lower().startswith("milvus_lite") else "milvus"
    match = _VERSION.search(version)
    if not match:
        return kind, (0, 0, 0)
    major, minor, patch = match.groups()
    return kind, (int(major), int(minor), int(patch or 0))


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def capabilities(client: MilvusClient) -> Capabilities:
    """The probed capabilities of the server behind `client` (probed once per client)."""
    key = _underlying(client)
    with _cache_lock:
        known = _cache.get(key)
    if known is not None:
        return known
    found = _probe(client)
    with _cache_lock:
        return _cache.setdefault(key, found)


def learn_count(client: MilvusClient, has_count: bool) -> None:
    """Record what a count found: whether `count(*)` exists on this client's server."""
    key = _underlying(client)
    with _cache_lock:
        known = _cache.get(key)
        if known is not None and known.count is None:
            _cache[key] = replace(known, count=has_count)


def _underlying(client: MilvusClient) -> MilvusClient:
    # A fenced client (fence.FencedClient) wraps the MilvusClient whose channel is probed.
    return getattr(client, "unwrapped", client)


def _probe(client: MilvusClient) -> Capabilities:
    reported = client.get_server_version()
    kind, release = parse_version(reported)
    if kind == "milvus_lite":
        # Milvus Lite implements the whole API it answers for (support.py lists its limits).
        return Capabilities(kind, reported, release, databases=True, upsert=True, count=True)
    databases = _answers(client, "ListDatabases", milvus_pb2.ListDatabasesRequest())
    upsert = _answers(
        client,
        "Upsert",
        # A name no collection has: the server can only refuse it, or not know the call.
        milvus_pb2.UpsertRequest(collection_name=f"console_probe_{uuid.uuid4().hex}"),
    )
    floor = UPSERT_SINCE if upsert else CONNECT_SINCE
    return Capabilities(
        kind,
        reported,
        max(release, floor),
        databases=databases,
        upsert=upsert,
    )


def _answers(client: MilvusClient, method: str, request) -> bool:
    """Whether the server implements gRPC `method` (any answer or error status but
    UNIMPLEMENTED; a failure that says nothing counts as implemented, to be found by use)."""
    handler = client._get_connection()
    metadata = client._generate_call_context().to_grpc_metadata()
    try:
        getattr(handler._stub, method)(request, timeout=PROBE_TIMEOUT, metadata=metadata)
    except grpc.RpcError as error:
        return error.code() != grpc.StatusCode.UNIMPLEMENTED
    return True
