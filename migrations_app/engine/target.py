"""Create the target collection a plan specifies (all or nothing), drop it, build its schema."""

from __future__ import annotations

from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import client_for_database, current_database, on_database
from .errors import CreateError, NotOwned
from .model import FieldInfo, FunctionInfo, TargetSpec
from .names import name_taken
from .ownership import mark_of, not_owned_message, owner_properties


def create_target(target_client: MilvusClient, spec: TargetSpec, owner: str | None = None) -> bool:
    """Create the database (if missing), the collection, its partitions and functions.

    All or nothing: on any failure whatever this call created is dropped again and CreateError
    says what failed. A collection that already exists is never touched (CreateError; NotOwned
    when another created it between the look and the creation). With `owner` the collection
    carries its mark (ownership.py). No index is built here (rows are inserted faster without
    one): finalize builds them. Returns whether the database was created.
    """
    created_database = False
    try:
        databases = set(target_client.list_databases())
    except MilvusException:
        databases = None
    if databases is not None and spec.db not in databases:
        try:
            target_client.create_database(spec.db)
        except MilvusException as exc:
            raise CreateError(
                f"cannot create database {spec.db} on the target: {exc.message}"
            ) from None
        created_database = True

    client = target_client
    if current_database(target_client) != spec.db:
        client = client_for_database(target_client, spec.db)
    created_collection = False
    step = f"look for collection {spec.name}"
    try:
        if client.has_collection(spec.name):
            raise CreateError(name_taken(spec.name, spec.db).message)
        step = f"create collection {spec.name}"
        kwargs: dict = {"consistency_level": spec.consistency_level}
        if spec.num_shards:
            kwargs["num_shards"] = spec.num_shards
        if spec.partition_key and spec.num_partitions:
            kwargs["num_partitions"] = spec.num_partitions
        if owner:
            kwargs["properties"] = owner_properties(owner)
        client.create_collection(spec.name, schema=build_schema(spec), **kwargs)
        if owner:
            _check_mark(client, spec, owner)
        created_collection = True
        for partition in spec.partitions:
            if partition == "_default" or spec.partition_key:
                continue
            step = f"create partition {partition} of {spec.name}"
            client.create_partition(spec.name, partition)
    except (MilvusException, CreateError) as exc:
        _undo(client, target_client, spec, created_collection, created_database)
        if isinstance(exc, CreateError):
            raise
        raise CreateError(f"cannot {step} in database {spec.db}: {exc.message}") from None
    except BaseException:
        _undo(client, target_client, spec, created_collection, created_database)
        raise
    finally:
        if client is not target_client:
            client.close()
    return created_database


def _check_mark(client: MilvusClient, spec: TargetSpec, owner: str) -> None:
    mark = mark_of(client, spec.name)
    if mark is None:
        # A server that ignored the properties of the creation request: mark it now.
        client.alter_collection_properties(spec.name, owner_properties(owner))
        mark = mark_of(client, spec.name)
        if mark is None:
            client.drop_collection(spec.name)
            raise CreateError(
                f"the target does not keep collection properties: {spec.name} cannot carry "
                "the mark of the job that created it"
            )
    if mark != owner:
        # Created by another between our look and our creation (Milvus answers an identical
        # CreateCollection with success): not ours, left alone.
        raise NotOwned(not_owned_message(spec, mark))


def _undo(client, target_client, spec: TargetSpec, collection: bool, database: bool) -> None:
    # Best effort: the original error is what the user needs to see.
    try:
        if collection:
            client.drop_collection(spec.name)
        if database:
            target_client.drop_database(spec.db)
    except MilvusException:
        pass


def drop_target(target_client: MilvusClient, spec: TargetSpec, owner: str | None = None) -> bool:
    """Drop the target collection of `spec` (a canceled or failed copy's incomplete target);
    with `owner`, only if it carries that owner's mark. Whether it was dropped."""
    with on_database(target_client, spec.db) as client:
        if not client.has_collection(spec.name):
            return False
        if owner and mark_of(client, spec.name) != owner:
            return False
        client.drop_collection(spec.name)
        return True


def drop_named(target_client: MilvusClient, db: str, name: str) -> bool:
    """Drop collection `name` of database `db` (a person asked for it by name, with the
    console's own checks made); whether it existed."""
    with on_database(target_client, db) as client:
        if not client.has_collection(name):
            return False
        client.drop_collection(name)
        return True


def build_schema(spec: TargetSpec):
    """The pymilvus CollectionSchema of the target: auto_id off, functions re-declared."""
    schema = MilvusClient.create_schema(
        auto_id=False,
        enable_dynamic_field=spec.enable_dynamic_field,
        description=spec.description,
    )
    for field in spec.fields:
        schema.add_field(field.name, DataType[field.dtype], **_field_kwargs(field))
    for function in spec.functions:
        schema.add_function(_function(function))
    return schema


def _field_kwargs(field: FieldInfo) -> dict:
    kwargs: dict = {}
    if field.description:
        kwargs["description"] = field.description
    if field.is_primary:
        kwargs["is_primary"] = True
        kwargs["auto_id"] = False
    if field.dim is not None and field.dtype != "SPARSE_FLOAT_VECTOR":
        kwargs["dim"] = field.dim
    if field.max_length is not None:
        kwargs["max_length"] = field.max_length
    if field.element_type:
        kwargs["element_type"] = DataType[field.element_type]
    if field.max_capacity is not None:
        kwargs["max_capacity"] = field.max_capacity
    if field.nullable:
        kwargs["nullable"] = True
    if field.default_value is not None:
        kwargs["default_value"] = field.default_value
    if field.is_partition_key:
        kwargs["is_partition_key"] = True
    if field.is_clustering_key:
        kwargs["is_clustering_key"] = True
    if field.enable_analyzer:
        kwargs["enable_analyzer"] = True
        if field.analyzer_params:
            kwargs["analyzer_params"] = field.analyzer_params
    if field.enable_match:
        kwargs["enable_match"] = True
    return kwargs


def _function(function: FunctionInfo) -> Function:
    return Function(
        name=function.name,
        function_type=FunctionType[function.type],
        input_field_names=list(function.input_field_names),
        output_field_names=list(function.output_field_names),
        description=function.description,
        params=dict(function.params) or None,
    )
