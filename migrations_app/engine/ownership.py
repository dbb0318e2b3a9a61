"""Which migration created a target collection: a collection property, the owner's mark.

The target is created with the property `console.job` = the owner (a job id) and the mark is
read back after creation (Milvus 2.3 answers an identical CreateCollection twice with success,
so a run that lost a race would otherwise take another's collection for its own). A resume
writes only into, and a cancel drops only, a collection that carries its own owner's mark.
Milvus Lite and Milvus 2.3 standalone both keep collection properties given at creation (and
set later with alter_collection_properties).

Discard (a failed or canceled job's leftovers) finds and drops only collections carrying the
job's mark: `find_owned`, `drop_owned`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import on_database
from .errors import CollectionNotFound, NotOwned
from .model import TargetSpec

OWNER_PROPERTY = "console.job"


def owner_properties(owner: str | None) -> dict[str, str]:
    return {OWNER_PROPERTY: owner} if owner else {}


def mark_of(client: MilvusClient, name: str) -> str | None:
    """The owner mark of collection `name` of the client's database (None: no mark)."""
    properties = client.describe_collection(name).get("properties") or {}
    return properties.get(OWNER_PROPERTY) or None


def mark_in(target_client: MilvusClient, db: str, name: str) -> str | None:
    """The owner mark of collection `name` of database `db`; CollectionNotFound when there is
    no such collection (or database)."""
    if db not in set(target_client.list_databases()):
        raise CollectionNotFound(f"database {db} does not exist")
    with on_database(target_client, db) as client:
        if not client.has_collection(name):
            raise CollectionNotFound(f"collection {name} does not exist in database {db}")
        return mark_of(client, name)


def exists_and_owned(target_client: MilvusClient, spec: TargetSpec, owner: str) -> bool:
    """Whether the target collection of `spec` exists and carries `owner`'s mark."""
    with on_database(target_client, spec.db) as client:
        try:
            exists = client.has_collection(spec.name)
        except MilvusException:
            return False  # its database does not exist (yet): nothing of ours is there
        return exists and mark_of(client, spec.name) == owner


def require_owned(target_client: MilvusClient, spec: TargetSpec, owner: str) -> None:
    """NotOwned unless the target collection of `spec` carries `owner`'s mark (a missing
    collection passes: the caller's own checks say it is gone)."""
    with on_database(target_client, spec.db) as client:
        if not client.has_collection(spec.name):
            return
        mark = mark_of(client, spec.name)
    if mark != owner:
        raise NotOwned(not_owned_message(spec, mark))


def not_owned_message(spec: TargetSpec, mark: str | None) -> str:
    who = f"job {mark}" if mark else "something other than this console (it has no job mark)"
    return (
        f"target collection {spec.name} in database {spec.db} was created by {who}, not by "
        "this job: the migration does not write into or drop a collection it did not create "
        "(drop or rename it, or migrate to another name)"
    )


@dataclass
class OwnedCollection:
    """A collection found carrying an owner's mark, with its rows counted when it was found."""

    db: str
    name: str
    rows: int


def find_owned(
    target_client: MilvusClient, names: list[tuple[str, str]], owner: str
) -> list[OwnedCollection]:
    """Those of the collections `names` ((database, name) pairs) that exist and carry `owner`'s
    mark, in the order given, each with its row count. A database that does not exist holds
    none. Raises MilvusException when the target fails to answer."""
    found = []
    databases = set(target_client.list_databases())
    for db, name in names:
        if db not in databases:
            continue
        with on_database(target_client, db) as client:
            if client.has_collection(name) and mark_of(client, name) == owner:
                found.append(OwnedCollection(db, name, row_count(client, name)))
    return found


def drop_owned(target_client: MilvusClient, db: str, name: str, owner: str) -> bool:
    """Drop collection `name` of database `db` if it (still) carries `owner`'s mark; whether
    it was dropped (False: gone already, or not the owner's)."""
    with on_database(target_client, db) as client:
        if not client.has_collection(name) or mark_of(client, name) != owner:
            return False
        client.drop_collection(name)
        return True


def row_count(client: MilvusClient, name: str) -> int:
    """Rows of collection `name` of the client's database: exact (a strong count) where the
    server answers one without the collection loaded (Milvus Lite), else the statistics
    (which count rows deleted but not yet compacted)."""
    try:
        answer = client.query(
            name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(answer[0]["count(*)"])
    except MilvusException:
        return int(client.get_collection_stats(name).get("row_count", 0))


def require_repairable(target_client: MilvusClient, spec: TargetSpec, owner: str) -> None:
    """NotOwned unless the target collection of `spec` carries the mark of migration `owner`:
    a Repair writes only into a collection its migration created."""
    with on_database(target_client, spec.db) as client:
        mark = mark_of(client, spec.name)
    if mark != owner:
        who = f"job {mark}" if mark else "something other than this console (it has no job mark)"
        raise NotOwned(
            f"target collection {spec.name} in database {spec.db} was created by {who}, not "
            f"by migration {owner}: Repair writes only into a collection its migration created, "
            "so nothing was written"
        )
