"""After the copy: flush, rebuild the source's indexes on the target, load when asked.

Indexes are built after the rows are in (inserting into an unindexed collection is faster).
The plan already chose each index (same type and parameters where the target supports them,
else AUTOINDEX with the same metric); here a build the target still refuses with those
parameters is retried once as the fallback, and every departure is returned as a note.
"""

from __future__ import annotations

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import on_database
from .errors import FinalizeError
from .model import FieldInfo, IndexInfo, TargetSpec
from .options import DEFAULTS, SILENT, Observer, Options
from .rpc import CancelFlag, wait_for
from .support import Support

# Metric for a vector field that had no index on the source: a collection cannot be loaded
# (Milvus) or searched without one, so finalize builds one with a metric valid for the type.
DEFAULT_METRIC = {
    "FLOAT_VECTOR": "L2",
    "FLOAT16_VECTOR": "L2",
    "BFLOAT16_VECTOR": "L2",
    "INT8_VECTOR": "L2",
    "BINARY_VECTOR": "HAMMING",
    "SPARSE_FLOAT_VECTOR": "IP",
}


def finalize(
    target_client: MilvusClient,
    spec: TargetSpec,
    *,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> list[str]:
    """Flush the target collection, build its indexes, and load it when `options.load` is True
    (otherwise it is left released).

    Returns the notes (index rebuilt differently, index added for an unindexed vector field);
    each is also passed to `observer.on_note` as it happens. Raises FinalizeError with the
    reason, and CopyCanceled within about a second of `observer.should_cancel()` turning True
    (a flush, index build or load still running on the server is left to finish there).
    """
    notes: list[str] = []
    load = options.load
    cancel = CancelFlag(observer.should_cancel)

    def wait(what: str, fn):
        return wait_for(fn, cancel, f"{what} of {spec.name}", options.cancel_poll)

    def note(text: str) -> None:
        notes.append(text)
        observer.on_note(text)

    support = Support.of(target_client)
    with on_database(target_client, spec.db) as client:
        try:
            wait("flush", lambda: client.flush(spec.name))
        except MilvusException as exc:
            raise FinalizeError(f"cannot flush {spec.name} on the target: {exc.message}") from None

        indexes = list(spec.indexes)
        indexed = {index.field_name for index in indexes}
        for field in spec.fields:
            # Milvus needs an index on every vector field to load a collection; Milvus Lite
            # loads without one, and building one there costs minutes at 100,000 rows.
            needs_index = load or not support.is_lite
            if needs_index and field.is_vector and field.name not in indexed:
                index = _default_index(field, spec, support)
                indexes.append(index)
                note(
                    f"vector field {field.name} had no index on the source: {index.index_type} "
                    f"with metric {index.metric_type} built so the collection can be loaded"
                )

        if indexes and _loaded(client, spec.name):
            # Milvus Lite loads a collection at creation; indexes are built on a released one.
            client.release_collection(spec.name)
        existing = set(client.list_indexes(spec.name))
        for index in indexes:
            if index.index_name in existing:
                continue
            # The build's notes are passed on here, on the caller's thread.
            said: list[str] = []
            wait("index build", lambda i=index, s=said: _build(client, spec, i, support, s.append))
            for text in said:
                note(text)

        if load:
            try:
                wait("load", lambda: client.load_collection(spec.name))
            except MilvusException as exc:
                raise FinalizeError(
                    f"cannot load {spec.name} on the target: {exc.message}"
                ) from None
        elif _loaded(client, spec.name):
            # Milvus Lite loads a collection by itself (at creation, after an index build):
            # leave it released, as asked.
            client.release_collection(spec.name)
    return notes


def _loaded(client: MilvusClient, name: str) -> bool:
    state = client.get_load_state(name).get("state")
    return getattr(state, "name", str(state)) == "Loaded"


def _default_index(field: FieldInfo, spec: TargetSpec, support: Support) -> IndexInfo:
    metric = DEFAULT_METRIC.get(field.dtype, "L2")
    if any(field.name in f.output_field_names and f.type == "BM25" for f in spec.functions):
        metric = "BM25"
    return IndexInfo(
        field_name=field.name,
        index_name=field.name,
        index_type=support.fallback_vector_index(field.dtype),
        metric_type=metric,
    )


def _build(client, spec: TargetSpec, index: IndexInfo, support: Support, note) -> None:
    try:
        _create_index(client, spec.name, index)
        return
    except MilvusException as exc:
        field = spec.field(index.field_name)
        if field is None or not field.is_vector:
            # A scalar index only speeds up filters: the copy stays complete without it.
            note(
                f"scalar index {index.index_type} on field {index.field_name} was refused by "
                f"the target ({exc.message}): not built"
            )
            return
        fallback = support.fallback_vector_index(field.dtype)
        if index.index_type == fallback and not index.params:
            raise FinalizeError(
                f"cannot build index {index.index_type} on field {index.field_name} of "
                f"{spec.name}: {exc.message}"
            ) from None
        first_error = exc.message
    retry = IndexInfo(
        field_name=index.field_name,
        index_name=index.index_name,
        index_type=fallback,
        metric_type=index.metric_type,
    )
    try:
        _create_index(client, spec.name, retry)
    except MilvusException as exc:
        raise FinalizeError(
            f"cannot build index {index.index_type} on field {index.field_name} of "
            f"{spec.name}: {first_error}; {fallback} failed too: {exc.message}"
        ) from None
    note(
        f"index {index.index_type} on field {index.field_name} was refused by the target "
        f"({first_error}): {fallback} with metric {index.metric_type} built instead"
    )


def _create_index(client: MilvusClient, collection: str, index: IndexInfo) -> None:
    params = client.prepare_index_params()
    kwargs = {"index_type": index.index_type, "index_name": index.index_name}
    if index.metric_type:
        kwargs["metric_type"] = index.metric_type
    params.add_index(index.field_name, params=dict(index.params), **kwargs)
    client.create_index(collection, params)
