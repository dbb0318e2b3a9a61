"""Live reads of a migration source for the wizard's pages. Never raise; never leak a secret.

A page shows `error` as it is: the engine's clear message (cannot reach, authentication
failed, not a Milvus server, endpoint not allowed, database does not exist), redacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.clusters.connection import PAGE_TIMEOUT
from console.connections import Connection, open_client
from console.redaction import redact
from migrations_app.engine import catalog
from migrations_app.engine.errors import EngineError
from migrations_app.engine.model import CollectionInfo


@dataclass
class SourceListing:
    ok: bool
    databases: list[str] = field(default_factory=list)
    collections: list[CollectionInfo] = field(default_factory=list)
    error: str = ""


def _message(exc: Exception, connection: Connection) -> str:
    if isinstance(exc, EngineError):
        text = exc.message
    else:  # not one of the engine's messages: say so, briefly, without echoing anything typed
        text = f"the server answered with an error ({type(exc).__name__})"
    text = redact(text, connection.secrets())
    return text[:1].upper() + text[1:]


def list_databases(connection: Connection, timeout: float = PAGE_TIMEOUT) -> SourceListing:
    """The source's databases ("default" first), or the reason they cannot be read."""
    try:
        client = open_client(connection, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message on the step
        return SourceListing(ok=False, error=_message(exc, connection))
    try:
        names = catalog.list_databases(client)
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_message(exc, connection))
    finally:
        client.close()
    return SourceListing(ok=True, databases=sorted(names, key=lambda n: (n != "default", n)))


def list_collections(
    connection: Connection, db: str, timeout: float = PAGE_TIMEOUT
) -> SourceListing:
    """Every collection of database `db`, described (entity counts, fields), or the reason."""
    try:
        client = open_client(connection, db_name=db, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_message(exc, connection))
    try:
        infos = [catalog.describe_collection(client, n) for n in catalog.list_collections(client)]
    except Exception as exc:  # noqa: BLE001
        return SourceListing(ok=False, error=_message(exc, connection))
    finally:
        client.close()
    return SourceListing(ok=True, collections=infos)
