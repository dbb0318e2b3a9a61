"""Plan a target collection from a source description and the user's choices.

`plan()` finds every problem before anything exists on the target: bad or taken names, field
types, schema features and functions the target server cannot take, partition-key rules. Each
is a typed Finding (its kind, and the message a user reads). What is allowed but worth knowing
(dropped dynamic keys, explicit partitions replaced by a partition key, an index rebuilt as
AUTOINDEX or with its type's documented default parameters, auto_id keys kept) goes to
`warnings`. `plan_many()` also catches two collections of one request aimed at the same target
name.

`target.create_target()` creates what a plan specifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .catalog import STRUCT_ARRAY, sample_dynamic_keys
from .connect import on_database
from .errors import PlanError
from .index_defaults import default_params, describe
from .model import (
    CollectionInfo,
    FieldInfo,
    Finding,
    IndexInfo,
    PlanResult,
    Problem,
    SchemaChoices,
    TargetSpec,
)
from .names import duplicate_targets, invalid_name, name_taken
from .support import (
    MILVUS_FEATURES,
    MILVUS_FIELD_TYPES,
    NEVER,
    VECTOR_TYPES,
    Support,
)

MAX_SHARDS = 16  # Milvus' default proxy.maxShardNum
PARTITION_KEY_TYPES = ("INT64", "VARCHAR")
# Lite does not report max_length of ARRAY<VARCHAR> elements; the largest Milvus allows is safe.
ARRAY_VARCHAR_MAX_LENGTH = 65535


def plan(
    source: CollectionInfo,
    choices: SchemaChoices,
    target_client: MilvusClient,
    *,
    source_client: MilvusClient | None = None,
    resuming: bool = False,
) -> PlanResult:
    """Plan one target collection. Nothing is created or changed on either server.

    `target_client` may be bound to any database of the target server. `source_client`, when
    given, is used to count the dynamic keys a disabled dynamic field would drop (a sample of
    the source, only if the source is loaded). The result's `findings` are empty when
    `create_target(spec)` may go ahead. With `resuming`, the target collection is expected to
    exist already (an interrupted copy goes on) and its absence is the problem.
    """
    return plan_many(
        [(source, choices)], target_client, source_client=source_client, resuming=resuming
    )[0]


def choices_of(spec: TargetSpec) -> SchemaChoices:
    """The schema choices that plan `spec` again (to re-check it just before running)."""
    return SchemaChoices(
        target_db=spec.db,
        target_name=spec.name,
        description=spec.description,
        enable_dynamic_field=spec.enable_dynamic_field,
        partition_key=spec.partition_key or "",
        num_shards=spec.num_shards,
    )


def plan_many(
    requests: Sequence[tuple[CollectionInfo, SchemaChoices]],
    target_client: MilvusClient,
    *,
    source_client: MilvusClient | None = None,
    resuming: bool = False,
) -> list[PlanResult]:
    """Plan several collections of one request together, in order.

    On top of each collection's own checks, two requests aimed at the same target database and
    name are both reported.
    """
    support = Support.of(target_client)
    target_databases = _databases(target_client)
    results = [
        _plan_one(
            source, choices, target_client, support, target_databases, source_client, resuming
        )
        for source, choices in requests
    ]

    planned = [i for i, result in enumerate(results) if result.spec is not None]
    targets = [
        (f"{requests[i][0].db}.{requests[i][0].name}", results[i].spec.db, results[i].spec.name)
        for i in planned
    ]
    for position, finding in duplicate_targets(targets).items():
        results[planned[position]].findings.append(finding)
    return results


def require_ok(result: PlanResult) -> TargetSpec:
    """The spec of a plan without findings; PlanError listing them otherwise."""
    if result.findings or result.spec is None:
        raise PlanError(result.problems or ["the plan has no target"])
    return result.spec


def _databases(client: MilvusClient) -> set[str] | None:
    try:
        return set(client.list_databases())
    except MilvusException:
        return None  # the role may not list databases: existence is found at creation


def _plan_one(
    source: CollectionInfo,
    choices: SchemaChoices,
    target_client: MilvusClient,
    support: Support,
    target_databases: set[str] | None,
    source_client: MilvusClient | None,
    resuming: bool,
) -> PlanResult:
    problems: list[Finding] = []
    warnings: list[str] = []
    db = choices.target_db or source.db
    name = choices.target_name or source.name
    on = support.label

    for problem in (invalid_name(db, "target database"), invalid_name(name, "target collection")):
        if problem:
            problems.append(problem)

    if not problems and resuming:
        missing_db = target_databases is not None and db not in target_databases
        if missing_db or not _collection_exists(target_client, db, name):
            problems.append(
                Finding(
                    Problem.TARGET_GONE,
                    f"cannot resume: collection {name} no longer exists in database {db} of "
                    "the target",
                )
            )
    elif not problems:
        if target_databases is not None and db not in target_databases:
            if db != "default" and not support.feature("databases"):
                problems.append(_unsupported(f"{on} has no databases: cannot create database {db}"))
            else:
                warnings.append(f"database {db} does not exist on the target and will be created")
        elif _collection_exists(target_client, db, name):
            problems.append(name_taken(name, db))

    # --- fields and schema features --------------------------------------------------------
    fields: list[FieldInfo] = []
    for field in source.fields:
        target_field = replace(field, auto_id=False, is_partition_key=False)
        problems.extend(_field_problems(field, support))
        if field.dtype == "ARRAY" and field.element_type == "VARCHAR" and not field.max_length:
            target_field.max_length = ARRAY_VARCHAR_MAX_LENGTH
            warnings.append(
                f"field {field.name}: the source does not report the maximum length of its "
                f"strings; the target allows {ARRAY_VARCHAR_MAX_LENGTH}"
            )
        fields.append(target_field)

    vectors = [f for f in source.fields if f.dtype in VECTOR_TYPES]
    if len(vectors) > 1 and not support.feature("multiple_vectors"):
        problems.append(
            _unsupported(
                f"{on} does not support more than one vector field (fields "
                f"{', '.join(f.name for f in vectors)}){_since(support, 'multiple_vectors')}"
            )
        )

    for function in source.functions:
        if function.type != "BM25":
            problems.append(
                _unsupported(
                    f"function {function.name} ({function.type}) cannot be re-created by the "
                    "migration: only BM25 functions are supported"
                )
            )
        elif not support.feature("bm25_function"):
            problems.append(
                _unsupported(
                    f"{on} does not support BM25 functions (function {function.name})"
                    f"{_since(support, 'bm25_function')}"
                )
            )

    if source.auto_id:
        warnings.append(
            f"primary key {source.primary_field} is auto_id on the source: the target keeps "
            "the source's key values (auto_id off), so existing keys stay valid"
        )

    # --- dynamic field -------------------------------------------------------------------
    dynamic = source.enable_dynamic_field
    if choices.enable_dynamic_field is not None:
        dynamic = choices.enable_dynamic_field
    if dynamic and not support.feature("dynamic_field"):
        problems.append(
            _unsupported(f"{on} does not support dynamic fields{_since(support, 'dynamic_field')}")
        )
    if source.enable_dynamic_field and not dynamic:
        warnings.append(_dynamic_warning(source, source_client))

    # --- partition key and partitions ----------------------------------------------------
    key = source.partition_key if choices.partition_key is None else (choices.partition_key or None)
    num_partitions = None
    if key:
        key_field = source.field(key)
        key_problem = partition_key_problem(key, key_field)
        if key_problem:
            problems.append(key_problem)
        elif not support.feature("partition_key"):
            problems.append(
                _unsupported(
                    f"{on} does not support partition keys{_since(support, 'partition_key')}"
                )
            )
        else:
            next(f for f in fields if f.name == key).is_partition_key = True
        if key == source.partition_key:
            num_partitions = source.num_partitions
        explicit = [p for p in source.partitions if p != "_default"]
        if explicit:
            warnings.append(
                f"partition key {key} replaces explicit partitions: partitions "
                f"{', '.join(explicit)} will not be kept (their rows are copied)"
            )
        partitions = ["_default"]
        copy_partitions = None
    else:
        if source.partition_key:
            warnings.append(
                f"partition key {source.partition_key} is dropped: all rows go to the target's "
                "_default partition"
            )
        partitions = list(source.partitions) or ["_default"]
        if "_default" not in partitions:
            partitions.insert(0, "_default")
        copy_partitions = list(source.partitions) if set(source.partitions) - {"_default"} else None

    shards = choices.num_shards if choices.num_shards is not None else source.num_shards
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        problems.append(
            Finding(
                Problem.INVALID_CHOICE,
                f"shard count {shards!r} is invalid: use a whole number from 1 to {MAX_SHARDS}",
            )
        )

    # --- indexes -------------------------------------------------------------------------
    indexes: list[IndexInfo] = []
    for index in source.indexes:
        planned, note = plan_index(index, source.field(index.field_name), support)
        if note:
            warnings.append(note)
        if planned:
            indexes.append(planned)

    if not resuming and source.aliases:
        taken = _aliases_in(target_client, db, target_databases)
        for alias in source.aliases:
            if alias in taken:
                warnings.append(
                    f"alias {alias} is taken in database {db} of the target: it will not be "
                    "carried over, and the verification will report it missing"
                )

    description = source.description if choices.description is None else choices.description
    if not support.keeps_descriptions:
        warnings.extend(_dropped_descriptions(description, fields, on))
    spec = TargetSpec(
        source_db=source.db,
        source_name=source.name,
        db=db,
        name=name,
        fields=fields,
        primary_field=source.primary_field,
        description=description,
        enable_dynamic_field=dynamic,
        partition_key=key,
        num_partitions=num_partitions,
        partitions=partitions,
        functions=list(source.functions),
        indexes=indexes,
        num_shards=shards,
        consistency_level=source.consistency_level,
        source_auto_id=source.auto_id,
        read_fields=source.copied_fields,
        copy_dynamic=source.enable_dynamic_field and dynamic,
        copy_partitions=copy_partitions,
    )
    return PlanResult(spec=spec, findings=problems, warnings=warnings)


def _dropped_descriptions(description: str, fields: list[FieldInfo], on: str) -> list[str]:
    """The warning for a target that stores no descriptions (Milvus Lite), when there are any."""
    described = [f.name for f in fields if f.description]
    if not description and not described:
        return []
    what = []
    if description:
        what.append(f'the collection\'s description "{description}"')
    if described:
        what.append(
            f"the descriptions of field{'s' if len(described) > 1 else ''} {', '.join(described)}"
        )
    return [f"{on} does not keep descriptions: {' and '.join(what)} will not be on the target"]


def _since(support: Support, feature: str) -> str:
    return "" if support.is_lite else support.since(MILVUS_FEATURES[feature])


def _unsupported(message: str) -> Finding:
    return Finding(Problem.UNSUPPORTED, message)


def _field_problems(field: FieldInfo, support: Support) -> list[Finding]:
    return [_unsupported(message) for message in _field_refusals(field, support)]


def _field_refusals(field: FieldInfo, support: Support) -> list[str]:
    on = support.label
    if field.dtype == STRUCT_ARRAY:
        return [f"field {field.name} is an array of structs, which the migration cannot copy yet"]
    problems = []
    for dtype, what in ((field.dtype, "is"), (field.element_type, "holds")):
        if dtype and not support.field_type(dtype):
            since = "" if support.is_lite else support.since(MILVUS_FIELD_TYPES.get(dtype, NEVER))
            problems.append(
                f"field {field.name} {what} {dtype}, which {on} does not support{since}"
            )
    if field.nullable and not support.feature("nullable"):
        problems.append(
            f"field {field.name} is nullable, which {on} does not support"
            f"{_since(support, 'nullable')}"
        )
    if field.default_value is not None and not support.feature("default_value"):
        problems.append(
            f"field {field.name} has a default value, which {on} does not support"
            f"{_since(support, 'default_value')}"
        )
    if field.enable_analyzer and not support.feature("analyzer"):
        problems.append(
            f"field {field.name} has a text analyzer, which {on} does not support"
            f"{_since(support, 'analyzer')}"
        )
    return problems


def partition_key_problem(key: str, field: FieldInfo | None) -> Finding | None:
    """INVALID_CHOICE when field `key` (None: not in the collection) cannot be the partition
    key: one INT64 or VARCHAR field, not the primary key, not nullable, not a function output."""
    if field is None:
        message = f"partition key {key} is not a field of the collection"
    elif field.is_primary:
        message = f"partition key {key} cannot be the primary key"
    elif field.dtype not in PARTITION_KEY_TYPES:
        message = f"partition key {key} must be an INT64 or VARCHAR field, not {field.dtype}"
    elif field.nullable:
        message = f"partition key {key} must not be nullable"
    elif field.is_function_output:
        message = f"partition key {key} cannot be a function output"
    else:
        return None
    return Finding(Problem.INVALID_CHOICE, message)


def plan_index(
    index: IndexInfo, field: FieldInfo | None, support: Support
) -> tuple[IndexInfo | None, str | None]:
    """The index to build on the target for a source index, and a note when it differs.

    Vector indexes the target lacks become AUTOINDEX (SPARSE_INVERTED_INDEX for sparse
    fields) with the same metric; a vector index the source reports without build parameters
    (Milvus Lite reports none) gets its type's documented defaults on a Milvus target (see
    index_defaults.py); scalar indexes the target lacks are not built.
    """
    if field is None:
        return None, f"index {index.index_name}: field {index.field_name} not found, not built"
    if field.is_vector:
        if support.vector_index(field.dtype, index.index_type):
            defaults = None
            if not index.params and not support.is_lite:
                defaults = default_params(index.index_type, field.dim)
            if defaults:
                return replace(index, params=defaults), (
                    f"index {index.index_type} on field {index.field_name}: the source reports "
                    f"no build parameters; {index.index_type} will be built with the defaults "
                    f"of the Milvus documentation ({describe(defaults)})"
                )
            return replace(index, params=dict(index.params)), None
        fallback = support.fallback_vector_index(field.dtype)
        return (
            IndexInfo(
                field_name=index.field_name,
                index_name=index.index_name,
                index_type=fallback,
                metric_type=index.metric_type,
            ),
            f"index {index.index_type} on field {index.field_name} is not available on "
            f"{support.label}: {fallback} with metric {index.metric_type} will be built",
        )
    if support.scalar_index(field.dtype, index.index_type):
        return replace(index, params=dict(index.params)), None
    return None, (
        f"scalar index {index.index_type} on field {index.field_name} is not available on "
        f"{support.label}: it will not be built"
    )


def _aliases_in(client: MilvusClient, db: str, databases: set[str] | None) -> set[str]:
    """Every alias of the target database (none when it does not exist yet or cannot be
    listed)."""
    if databases is not None and db not in databases:
        return set()
    try:
        with on_database(client, db) as bound:
            answer = bound.list_aliases()
    except (MilvusException, grpc.RpcError):  # Milvus 2.2 has no ListAliases
        return set()
    return set(answer.get("aliases", []) if isinstance(answer, dict) else answer)


def _collection_exists(client: MilvusClient, db: str, name: str) -> bool:
    with on_database(client, db) as bound:
        return bound.has_collection(name)


def _dynamic_warning(source: CollectionInfo, source_client: MilvusClient | None) -> str:
    keys, sampled = sample_dynamic_keys(source, source_client)
    if keys is None:
        return "dynamic field off: the source's dynamic keys will be dropped"
    if keys:
        shown = ", ".join(sorted(keys)[:10])
        more = ", …" if len(keys) > 10 else ""
        return (
            f"dynamic field off: {len(keys)} dynamic keys will be dropped ({shown}{more}; "
            f"found in a sample of {sampled} rows)"
        )
    return f"dynamic field off: no dynamic keys found in a sample of {sampled} rows"
