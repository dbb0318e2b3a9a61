"""Carry a source collection's properties (TTL, mmap and the like) and aliases to its copy.

Run after the rows are in and the indexes built (a TTL set before the copy could expire rows
while they are written). A target that cannot take one of them gets a note, and the
verification then reports the difference: a collection is VERIFIED only when they agree.
"""

from __future__ import annotations

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .model import CollectionInfo, TargetSpec
from .options import SILENT, Observer

# The collection properties carried over and compared (others, such as a migration's own
# ownership mark, belong to one side only).
CARRIED_PROPERTIES = (
    "collection.ttl.seconds",
    "mmap.enabled",
    "collection.autocompaction.enabled",
    "partitionkey.isolation",
    "lazyload.enabled",
)


def carried_properties(properties: dict) -> dict:
    """The properties of `properties` a copy carries over."""
    return {key: properties[key] for key in CARRIED_PROPERTIES if key in properties}


def list_aliases(client: MilvusClient, collection: str) -> list[str]:
    """The aliases of `collection` in the client's database (none where they cannot be
    listed)."""
    try:
        answer = client.list_aliases(collection)
    except MilvusException:
        return []
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:
            return []
        # Milvus 2.2 has no ListAliases: its collection description names them.
        try:
            answer = client.describe_collection(collection)
        except MilvusException:
            return []
    return sorted(answer.get("aliases", []) if isinstance(answer, dict) else answer)


def carry_over(
    source: MilvusClient,
    target: MilvusClient,
    source_info: CollectionInfo,
    spec: TargetSpec,
    observer: Observer = SILENT,
) -> list[str]:
    """Set the source's carried properties on the target collection and create its aliases
    there; clients are bound to the source and target databases. Returns the notes (what the
    target refused), each also passed to `observer.on_note`."""
    notes: list[str] = []
    properties = carried_properties(source_info.properties)
    if properties:
        try:
            target.alter_collection_properties(spec.name, properties)
        except MilvusException as exc:
            notes.append(
                f"the target cannot take the properties {sorted(properties)} of "
                f"{source_info.name}: {exc.message}"
            )
    for alias in list_aliases(source, source_info.name):
        try:
            target.create_alias(spec.name, alias)
        except MilvusException as exc:
            notes.append(f"alias {alias} cannot be created on the target: {exc.message}")
    for note in notes:
        observer.on_note(note)
    return notes
