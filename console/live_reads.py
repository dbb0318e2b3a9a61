"""Live reads of a Milvus for the pages (the Clusters pages and the migration wizard): thin glue
over the engine's connect/catalog that never raises and never lets a credential out.

Every function here returns a result object carrying either the figures or `error`, a clear
message (the engine's: cannot reach, authentication failed, not a Milvus server, endpoint not
allowed, database does not exist) already passed through console.redaction.redact with the
connection's secrets, so a page can show it as it is. No view opens a client itself.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from console.clients import local_cluster_ports, open_client
from console.connections import Connection
from console.models import Cluster
from console.redaction import redact
from migrations_app.engine import catalog
from migrations_app.engine.connect import on_database, server_info
from migrations_app.engine.errors import DatabaseNotFound, EngineError
from migrations_app.engine.model import CollectionInfo

log = logging.getLogger("console.live_reads")

# Pages read clusters live: keep a dead cluster from holding a page for long.
PAGE_TIMEOUT = 3.0
# One collection's description, read apart from its page: its calls scan rows on some servers.
COLLECTION_TIMEOUT = 20.0


@dataclass
class ServerCheck:
    """A connection test: version, databases and their collection counts, or `error`."""

    ok: bool
    version: str = ""
    databases: list[str] = field(default_factory=list)
    collections: dict[str, int] = field(default_factory=dict)
    error: str = ""

    @property
    def collection_count(self) -> int:
        return sum(self.collections.values())


@dataclass
class PartitionCount:
    name: str
    entity_count: int


@dataclass
class DatabaseCatalog:
    """A database and the names of its collections (each read apart: `read_collection`)."""

    name: str
    collections: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ClusterCatalog:
    """What a cluster page shows at once: version, databases, their collections' names."""

    ok: bool
    version: str = ""
    databases: list[DatabaseCatalog] = field(default_factory=list)
    error: str = ""


@dataclass
class CollectionRead:
    """One collection described (fields, indexes, entity count, load state) with its explicit
    partitions' entity counts (none for a partition-key collection: Milvus manages those)."""

    ok: bool
    info: CollectionInfo | None = None
    partitions: list[PartitionCount] = field(default_factory=list)
    error: str = ""


def _failure(exc: Exception, secrets: list[str]) -> str:
    if isinstance(exc, EngineError):
        return redact(exc.message, secrets)
    # Not one of the engine's clear messages: say what kind of failure it was, without a
    # traceback and without anything that could echo a credential back.
    log.warning(
        "unexpected %s while reading a cluster: %s", type(exc).__name__, redact(str(exc), secrets)
    )
    return redact(f"the server answered with an error: {exc}", secrets)[:300]


def check_cluster(
    connection: Connection,
    timeout: float = PAGE_TIMEOUT,
    reserved_ports: frozenset[int] | None = None,
) -> ServerCheck:
    """Connect and report version, databases and collections per database. Never raises.

    From a worker thread, pass `reserved_ports` (console.clients.local_cluster_ports(),
    read in the calling thread).
    """
    secrets = connection.secrets()
    try:
        client = open_client(connection, timeout=timeout, reserved_ports=reserved_ports)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        return ServerCheck(ok=False, error=_failure(exc, secrets))
    try:
        info = server_info(client)
        collections: dict[str, int] = {}
        for db in info.databases:
            with on_database(client, db) as db_client:
                collections[db] = len(catalog.list_collections(db_client))
        return ServerCheck(
            ok=True, version=info.version, databases=list(info.databases), collections=collections
        )
    except Exception as exc:  # noqa: BLE001
        return ServerCheck(ok=False, error=_failure(exc, secrets))
    finally:
        client.close()


def server_version(connection: Connection, timeout: float = PAGE_TIMEOUT) -> ServerCheck:
    """Connect and report the server's version and databases only (the check before a
    cluster is registered). Never raises."""
    secrets = connection.secrets()
    try:
        client = open_client(connection, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        return ServerCheck(ok=False, error=_failure(exc, secrets))
    try:
        info = server_info(client)
        return ServerCheck(ok=True, version=info.version, databases=list(info.databases))
    except Exception as exc:  # noqa: BLE001
        return ServerCheck(ok=False, error=_failure(exc, secrets))
    finally:
        client.close()


def check_clusters(
    clusters: list[Cluster], timeout: float = PAGE_TIMEOUT
) -> dict[str, ServerCheck]:
    """Check several clusters at once (the Clusters page), in parallel: {cluster id: check}.

    Clusters without a URI are skipped; the caller decides which statuses are worth a call.
    """
    targets = [c for c in clusters if c.uri]
    if not targets:
        return {}
    # Decrypt and read the database in this thread; the workers only talk to Milvus.
    jobs = [(c.pk, c.connection()) for c in targets]
    reserved = local_cluster_ports()
    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        futures = {pk: pool.submit(check_cluster, conn, timeout, reserved) for pk, conn in jobs}
        return {pk: future.result() for pk, future in futures.items()}


def partition_counts(client, collection: CollectionInfo) -> list[PartitionCount]:
    """Entity count of each explicit partition, from the partition statistics.

    Not `count(*)` with partition_names: Milvus Lite ignores partition_names there (DESIGN §9).
    Like the collection's entity_count, deleted rows may be counted until compaction.
    """
    return [
        PartitionCount(
            name, int(client.get_partition_stats(collection.name, name).get("row_count", 0))
        )
        for name in collection.partitions
    ]


def read_catalog(cluster: Cluster, timeout: float = PAGE_TIMEOUT) -> ClusterCatalog:
    """Every database of the cluster with its collections' names. Never raises.

    Names only: describing a collection costs a few calls whose time grows with its rows on
    some servers (Milvus Lite counts rows for its statistics and index descriptions: ~2 s for
    300,000 rows), so the page asks for each collection apart (`read_collection`)."""
    connection = cluster.connection()
    secrets = connection.secrets()
    try:
        client = open_client(connection, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return ClusterCatalog(ok=False, error=_failure(exc, secrets))
    try:
        info = server_info(client)
        result = ClusterCatalog(ok=True, version=info.version)
        # "default" first, the way Milvus tools list databases.
        for db in sorted(info.databases, key=lambda name: (name != "default", name)):
            entry = DatabaseCatalog(name=db)
            try:
                with on_database(client, db) as db_client:
                    entry.collections = catalog.list_collections(db_client)
            except Exception as exc:  # noqa: BLE001 - one bad database must not hide the rest
                entry.error = _failure(exc, secrets)
            result.databases.append(entry)
        return result
    except Exception as exc:  # noqa: BLE001
        return ClusterCatalog(ok=False, error=_failure(exc, secrets))
    finally:
        client.close()


def read_collection(
    cluster: Cluster, db: str, name: str, timeout: float = COLLECTION_TIMEOUT
) -> CollectionRead:
    """Collection `name` of database `db`, described, with its partitions. Never raises."""
    connection = cluster.connection()
    secrets = connection.secrets()
    try:
        client = open_client(connection, db_name=db, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return CollectionRead(ok=False, error=_failure(exc, secrets))
    try:
        info = catalog.describe_collection(client, name)
        return CollectionRead(ok=True, info=info, partitions=partition_counts(client, info))
    except Exception as exc:  # noqa: BLE001
        return CollectionRead(ok=False, error=_failure(exc, secrets))
    finally:
        client.close()


# --- the migration wizard's reads ----------------------------------------------------------


@dataclass
class SourceListing:
    """A source's databases or one database's collections (described), or `error`."""

    ok: bool
    databases: list[str] = field(default_factory=list)
    collections: list[CollectionInfo] = field(default_factory=list)
    error: str = ""


def _step_message(exc: Exception, secrets: list[str]) -> str:
    """`_failure` as a wizard step shows it: a sentence."""
    text = _failure(exc, secrets)
    return text[:1].upper() + text[1:]


def list_databases(connection: Connection, timeout: float = PAGE_TIMEOUT) -> SourceListing:
    """The source's databases ("default" first), or the reason they cannot be read."""
    secrets = connection.secrets()
    try:
        client = open_client(connection, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message on the step
        return SourceListing(ok=False, error=_step_message(exc, secrets))
    try:
        names = catalog.list_databases(client)
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_step_message(exc, secrets))
    finally:
        client.close()
    return SourceListing(ok=True, databases=sorted(names, key=lambda n: (n != "default", n)))


def list_collections(
    connection: Connection, db: str, timeout: float = PAGE_TIMEOUT
) -> SourceListing:
    """Every collection of database `db`, described (entity counts, fields), or the reason."""
    secrets = connection.secrets()
    try:
        client = open_client(connection, db_name=db, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_step_message(exc, secrets))
    try:
        infos = [catalog.describe_collection(client, n) for n in catalog.list_collections(client)]
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_step_message(exc, secrets))
    finally:
        client.close()
    return SourceListing(ok=True, collections=infos)


def collection_names(
    connection: Connection, db: str, timeout: float = PAGE_TIMEOUT
) -> tuple[set[str], str]:
    """Names of the collections in database `db`: (names, "") or (empty, why they are unknown).

    A database that does not exist holds no names (a migration creates it): (empty, "").
    """
    try:
        client = open_client(connection, db_name=db, timeout=timeout)
    except DatabaseNotFound:
        return set(), ""
    except Exception as exc:  # noqa: BLE001
        return set(), f"cannot check the target: {_failure(exc, connection.secrets())}"
    try:
        return set(catalog.list_collections(client)), ""
    except Exception as exc:  # noqa: BLE001
        return set(), f"cannot check the target: {_failure(exc, connection.secrets())}"
    finally:
        client.close()
