"""Read what a Milvus database holds: databases, collections, and a full collection description.

`describe_collection` turns pymilvus' describe/list/index answers (enums, protobuf default
values, stringly-typed index parameters, JSON-encoded analyzer parameters) into a
JSON-serialisable `CollectionInfo`. `sample_dynamic_keys` looks at a sample of rows for the
keys a dynamic field holds. Nothing here loads or changes anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .carry import list_aliases
from .connect import current_database, on_database
from .errors import CollectionNotFound, ConnectError
from .filters import pk_after_filter
from .model import CollectionInfo, FieldInfo, FunctionInfo, IndexInfo

STRUCT_ARRAY = "ARRAY_OF_STRUCT"
DYNAMIC_SAMPLE_ROWS = 1000
# Keys of a describe_index answer that are state, not build parameters.
_INDEX_STATE_KEYS = {
    "index_type",
    "metric_type",
    "field_name",
    "index_name",
    "total_rows",
    "indexed_rows",
    "pending_index_rows",
    "state",
    "index_state_fail_reason",
    "params",
}
# Field params that FieldInfo holds in its own attributes.
_KNOWN_FIELD_PARAMS = {
    "dim",
    "max_length",
    "max_capacity",
    "analyzer_params",
    "enable_analyzer",
    "enable_match",
}
# Milvus Lite names the partitions of a partition-key collection "_pk_<n>"; Milvus "_default_<n>".
_KEY_PARTITION = re.compile(r"^_(pk|default)_\d+$")


def list_databases(client: MilvusClient) -> list[str]:
    """Database names of the server, sorted."""
    try:
        return sorted(client.list_databases())
    except MilvusException as exc:
        raise ConnectError(f"cannot list databases: {exc.message}") from None


def list_collections(client: MilvusClient) -> list[str]:
    """Collection names of the client's database, sorted."""
    try:
        return sorted(client.list_collections())
    except MilvusException as exc:
        raise ConnectError(
            f"cannot list collections of database {current_database(client)}: {exc.message}"
        ) from None


def describe_collection(client: MilvusClient, name: str) -> CollectionInfo:
    """Everything about collection `name` of the client's database; CollectionNotFound if absent.

    entity_count comes from the collection statistics (no load needed; deleted rows may still
    be counted until compaction): verify counts exactly.
    """
    db = current_database(client)
    if not client.has_collection(name):
        raise CollectionNotFound(f"collection {name} does not exist in database {db}")
    desc = client.describe_collection(name)
    fields = [_field_info(raw) for raw in desc.get("fields", [])]
    # Arrays of structs (Milvus 2.6) are described apart; listed so that plan can refuse them
    # rather than silently leave them behind.
    fields += [
        FieldInfo(name=raw["name"], dtype=STRUCT_ARRAY, description=raw.get("description") or "")
        for raw in desc.get("struct_array_fields", []) or []
    ]
    primary = next(f for f in fields if f.is_primary)
    partition_key = next((f.name for f in fields if f.is_partition_key), None)

    partition_names = list(client.list_partitions(name))
    if partition_key:
        key_partitions = [p for p in partition_names if _KEY_PARTITION.match(p)]
        partitions: list[str] = []
        num_partitions = len(key_partitions) or desc.get("num_partitions")
    else:
        partitions = partition_names
        num_partitions = None

    stats = client.get_collection_stats(name)
    load_state = client.get_load_state(name).get("state")
    return CollectionInfo(
        db=db,
        name=name,
        description=desc.get("description") or "",
        fields=fields,
        primary_field=primary.name,
        auto_id=bool(desc.get("auto_id") or primary.auto_id),
        enable_dynamic_field=bool(desc.get("enable_dynamic_field")),
        partition_key=partition_key,
        num_partitions=num_partitions,
        partitions=partitions,
        functions=[_function_info(raw) for raw in desc.get("functions", []) or []],
        indexes=describe_indexes(client, name),
        entity_count=int(stats.get("row_count", 0)),
        load_state=getattr(load_state, "name", str(load_state)),
        num_shards=int(desc.get("num_shards") or 1),
        consistency_level=desc.get("consistency_level_name") or "Bounded",
        properties=_plain(desc.get("properties") or {}),
        aliases=list_aliases(client, name),
    )


def describe_schema(client: MilvusClient, name: str) -> CollectionInfo:
    """What a verification compares of collection `name`: fields, dynamic field, properties and
    aliases, from one describe and one alias listing (none of describe_collection's statistics,
    partitions and indexes); CollectionNotFound if absent."""
    try:
        desc = client.describe_collection(name)
    except MilvusException as exc:
        if not client.has_collection(name):
            db = current_database(client)
            raise CollectionNotFound(f"collection {name} does not exist in database {db}") from None
        raise exc from None
    fields = [_field_info(raw) for raw in desc.get("fields", [])]
    primary = next(f for f in fields if f.is_primary)
    return CollectionInfo(
        db=current_database(client),
        name=name,
        fields=fields,
        primary_field=primary.name,
        enable_dynamic_field=bool(desc.get("enable_dynamic_field")),
        properties=_plain(desc.get("properties") or {}),
        aliases=list_aliases(client, name),
    )


def describe_indexes(client: MilvusClient, name: str) -> list[IndexInfo]:
    """The indexes of collection `name`, build parameters as numbers where they are numbers."""
    indexes = []
    for index_name in client.list_indexes(name):
        raw = client.describe_index(name, index_name)
        params: dict[str, Any] = {}
        nested = raw.get("params")
        if isinstance(nested, str):
            try:
                nested = json.loads(nested)
            except ValueError:
                nested = None
        if isinstance(nested, dict):
            params.update(nested)
        for key, value in raw.items():
            if key not in _INDEX_STATE_KEYS:
                params[key] = value
        metric = raw.get("metric_type")
        indexes.append(
            IndexInfo(
                field_name=raw.get("field_name", index_name),
                index_name=raw.get("index_name", index_name),
                index_type=raw.get("index_type", "AUTOINDEX"),
                metric_type=None if metric in (None, "", "NONE") else metric,
                params={k: _number(v) for k, v in params.items()},
            )
        )
    return indexes


def _field_info(raw: dict[str, Any]) -> FieldInfo:
    params = dict(raw.get("params") or {})
    analyzer = params.get("analyzer_params")
    if isinstance(analyzer, str):
        analyzer = json.loads(analyzer) if analyzer else None
    element = raw.get("element_type")
    return FieldInfo(
        name=raw["name"],
        dtype=_enum_name(raw["type"]),
        description=raw.get("description") or "",
        is_primary=bool(raw.get("is_primary")),
        auto_id=bool(raw.get("auto_id")),
        dim=_int_or_none(params.get("dim")),
        max_length=_int_or_none(params.get("max_length")),
        element_type=_enum_name(element) if element is not None else None,
        max_capacity=_int_or_none(params.get("max_capacity")),
        nullable=bool(raw.get("nullable")),
        default_value=_default_value(raw.get("default_value")),
        is_partition_key=bool(raw.get("is_partition_key")),
        is_clustering_key=bool(raw.get("is_clustering_key")),
        is_function_output=bool(raw.get("is_function_output")),
        enable_analyzer=_truthy(params.get("enable_analyzer")),
        enable_match=_truthy(params.get("enable_match")),
        analyzer_params=analyzer,
        params=_plain({k: v for k, v in params.items() if k not in _KNOWN_FIELD_PARAMS}),
    )


def _function_info(raw: dict[str, Any]) -> FunctionInfo:
    return FunctionInfo(
        name=raw["name"],
        type=_enum_name(raw["type"]),
        input_field_names=list(raw.get("input_field_names") or []),
        output_field_names=list(raw.get("output_field_names") or []),
        description=raw.get("description") or "",
        params=_plain(dict(raw.get("params") or {})),
    )


def _default_value(value: Any) -> Any:
    """A protobuf ValueField (what describe_collection returns) → its Python value."""
    if value is None:
        return None
    which = getattr(value, "WhichOneof", None)
    if which is None:
        return value
    kind = which("data")
    return getattr(value, kind) if kind else None


def _enum_name(value: Any) -> str:
    return getattr(value, "name", str(value))


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _number(value: Any) -> Any:
    """ "16" → 16, "0.5" → 0.5: Milvus servers report index parameters as strings."""
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                continue
    return value


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Keep a dict JSON-serialisable: anything else becomes its string form."""
    return json.loads(json.dumps(data, default=str))


def sample_dynamic_keys(
    source: CollectionInfo, client: MilvusClient | None
) -> tuple[set[str] | None, int]:
    """Dynamic keys seen in up to DYNAMIC_SAMPLE_ROWS rows; (None, 0) when it cannot look."""
    if client is None or source.load_state != "Loaded":
        return None, 0
    try:
        with on_database(client, source.db) as reader:
            rows = reader.query(
                source.name,
                # A filter on every key: Milvus 2.2 refuses an empty one ("query expression is
                # empty").
                filter=pk_after_filter(source.primary_field, None, _varchar_key(source)),
                limit=DYNAMIC_SAMPLE_ROWS,
                output_fields=["*"],
            )
    except MilvusException:
        return None, 0
    schema_names = {f.name for f in source.fields}
    keys: set[str] = set()
    for row in rows:
        keys.update(k for k in row if k not in schema_names and k != "$meta")
        meta = row.get("$meta")
        if isinstance(meta, dict):
            keys.update(meta)
    return keys, len(rows)


def _varchar_key(source: CollectionInfo) -> bool:
    key = source.field(source.primary_field)
    return key is not None and key.dtype == "VARCHAR"
