"""Which migration created a target collection: a collection property, the owner's mark.

The target is created with the property `console.job` = the owner (a job id) and the mark is
read back after creation (Milvus 2.3 answers an identical CreateCollection twice with success,
so a run that lost a race would otherwise take another's collection for its own). A resume
writes only into, and a cancel drops only, a collection that carries its own owner's mark.
Milvus Lite and Milvus 2.3 standalone both keep collection properties given at creation (and
set later with alter_collection_properties).
"""

from __future__ import annotations

from pymilvus import MilvusClient

from .connect import on_database
from .errors import NotOwned
from .model import TargetSpec

OWNER_PROPERTY = "console.job"


def owner_properties(owner: str | None) -> dict[str, str]:
    return {OWNER_PROPERTY: owner} if owner else {}


def mark_of(client: MilvusClient, name: str) -> str | None:
    """The owner mark of collection `name` of the client's database (None: no mark)."""
    properties = client.describe_collection(name).get("properties") or {}
    return properties.get(OWNER_PROPERTY) or None


def exists_and_owned(target_client: MilvusClient, spec: TargetSpec, owner: str) -> bool:
    """Whether the target collection of `spec` exists and carries `owner`'s mark."""
    with on_database(target_client, spec.db) as client:
        return client.has_collection(spec.name) and mark_of(client, spec.name) == owner


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
