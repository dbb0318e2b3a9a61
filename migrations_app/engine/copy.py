"""Copy the rows of one collection into an existing target collection: exact, fast, resumable.

How it reads: reader.py (keyset pages in primary-key order, sized in bytes, ramped up, checked
to continue strictly after the last key), on a thread of readers.py — with `Options.readers` =
K, up to K queries at once, their pages still handed over in key order. How it talks to
servers: rpc.py (retries, cancel).

How it writes. The query answer is already the columnar `FieldData` an insert request takes, so
the rows go from the source's answer into the target's insert request without ever becoming
Python dicts: pymilvus' row API (query → dicts, insert → columns) costs the client about
1.5 CPU-seconds per 100,000 rows of 128-d here, this path about 0.2. It uses pymilvus internals
(`Prepare.query_request`, the handler's gRPC stub) through `rpc.RpcChannel` only; pymilvus is
pinned, and the round-trip tests catch a change.

Measured here (2 shared cores, 100,000 rows × 128-d, Milvus Lite → Milvus Lite, see
bench/README.md): the copy runs at the speed of pymilvus' raw insert of the same rows from memory
(both ~14,500–19,000 rows/s depending on the load of the box), 3.4–3.8 × a query_iterator +
insert loop. The source server's query work (~40 µs a row in Milvus Lite) and the target's
insert work are the floor; the copy overlaps them.

A reader thread fills a bounded queue that the caller's thread (so callbacks run where the
caller lives) empties into the writers (writers.py): by default one, writing on the caller's
thread; with `Options.writers` = W, up to W batches in flight at once, acknowledged in read
order so the checkpoint stays a simple "everything up to this pk is written". Memory stays
around (QUEUE_DEPTH + K + W + 3) × batch_bytes whatever the collection size. One reader and one
writer by default, because on a 2-core box more measured no faster in the common case
(bench/README.md, bench/writers.py): servers with cores to spare may take more.

Exactness on resume. A checkpoint is reported after a batch is acknowledged, and a caller may
not have saved every one, so a killed run may have written any number of batches past the
checkpoint it is resumed from — but only source rows of the keys right after the
checkpoint's key (with several writers, possibly with gaps). A resume therefore writes the
pages of that uncertain range as upserts, which replace a row already there instead of adding
a second one: exact on every server. Where the range ends: a caller that keeps the write
intent (`on_write_intent`, reported before every batch with the batch's last key, and saved
with the checkpoint) passes it back, and the range ends at that key — whatever the target,
loaded or not, a resume re-writes at most the batches in flight (one, or `Options.writers`)
and the few before them the caller had not saved yet. Without an intent (a caller that does
not keep it), the range is found on the target: when the collection is loaded, a strongly
consistent scan of its keys past the checkpoint finds the highest one; a Milvus collection that
is not loaded cannot be queried (nor deleted from by filter: Milvus 2.3 refuses both), so there
every remaining page of an unfinished partition is upserted (measured on Milvus 2.3.5: upsert
works on an unloaded collection). A write retried after an ambiguous failure (timeout,
connection lost mid-call) is sent as an upsert too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pymilvus import DataType, MilvusClient

from .checkpoint import CopyState, initial_checkpoint
from .errors import CopyCanceled, CopyError
from .model import CopyProgress, TargetSpec
from .options import DEFAULTS, SILENT, Observer, Options
from .reader import WHOLE_COLLECTION, StreamDone, scan_keys, schema_row_bytes
from .readers import Reader
from .rpc import CancelFlag, RetryNotes, RpcChannel, pause
from .writers import BatchWriter, Sent, WritePool


class _Unbounded:
    """The uncertain range of a resumed partition has no known end: upsert to the end."""


UNBOUNDED = _Unbounded()


@dataclass(frozen=True)
class CopyScope:
    """Which rows go where: every row of `source_collection` into the existing
    `target_collection`, partition by partition (`partitions` = explicit partitions, each
    written into the target partition of the same name, which must exist; None = the whole
    collection without partition names), or only the keys of a key range (`after`, `upto`).
    Only `read_fields` are copied (they must include
    `pk_field`); with `dynamic` the source's dynamic keys are carried into the target's dynamic
    field, otherwise they are dropped."""

    source_collection: str
    target_collection: str
    pk_field: str
    pk_is_varchar: bool
    read_fields: list[str]
    dynamic: bool = False
    partitions: list[str] | None = None
    # A key range (engine/shards.py): only keys after `after` (exclusive) and up to `upto`
    # (inclusive) are copied; None: unbounded on that side.
    after: int | str | None = None
    upto: int | str | None = None

    @classmethod
    def of(cls, spec: TargetSpec) -> CopyScope:
        """The scope a plan decided: from `spec.source_name` into `spec.name`."""
        return cls(
            source_collection=spec.source_name,
            target_collection=spec.name,
            pk_field=spec.primary_field,
            pk_is_varchar=spec.pk_is_varchar,
            read_fields=list(spec.read_fields),
            dynamic=spec.copy_dynamic,
            partitions=spec.copy_partitions,
        )


@dataclass
class CopyResult:
    rows: int  # rows in the target written by this copy, earlier runs of a resumed copy included
    bytes: int
    seconds: float  # this run only
    partition_rows: dict[str, int] = field(default_factory=dict)
    resumed_rows: int = 0  # of `rows`, those an earlier run had already written
    upserted_rows: int = 0  # rows this run wrote as upserts (the uncertain range of a resume)
    # Per-key-range digests of every row written (digest.CopyDigests.to_dict()), None when a
    # resumed checkpoint had none.
    digests: dict | None = None


def copy_collection(
    source: MilvusClient,
    target: MilvusClient,
    scope: CopyScope,
    *,
    checkpoint: dict | None = None,
    write_intent: dict | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> CopyResult:
    """Copy the rows of `scope` (see CopyScope), in primary-key order, in batches of about
    `options.batch_bytes`. Primary keys are kept as they are, so the target must not generate
    them (auto_id off). Clients are bound to the source and target databases already.

    Before every batch: `observer.pace(rows, bytes)`, waited out (a speed cap; batches are at
    most `options.batch_rows` rows). After every written batch:
    `observer.on_checkpoint(checkpoint)` with a JSON-safe dict, then `on_progress(CopyProgress)`,
    then `should_cancel()`. With `options.writers` above 1, up to that many batches are in
    flight at once (writers.py); checkpoints still follow the batches in read order, each
    reported once it and every batch before it are written. A call being retried after a
    transient error is reported by `on_retry(RetryNote)` (then `on_retry(None)` once calls go
    through). `should_cancel` is also asked (at most twice a second) while waiting for the
    source, the target or a retry: when it returns True, CopyCanceled is raised within about a
    second. Passing a checkpoint (any one this copy
    reported, or `initial_checkpoint()`) resumes right after it, rewriting what a killed run may
    have written past it as upserts (see the module docstring): no row is lost or duplicated.
    `write_intent`: the last intent `on_write_intent` reported before the checkpoint's run
    stopped ({} when none: nothing was written past the checkpoint); None when the caller does
    not keep intents (the range is then looked up on the target).

    Transient server errors are retried with backoff; anything else raises CopyError with the
    reason. Every CopyError and CopyCanceled carries `checkpoint`: the last one covering every
    written row (the given one when nothing was written). All callbacks run on the calling
    thread. Returns the rows and bytes copied and the rows per partition.
    """
    state: CopyState | None = None
    pk_field, read_fields = scope.pk_field, scope.read_fields
    try:
        if options.batch_bytes <= 0:
            raise CopyError(f"batch_bytes must be positive, got {options.batch_bytes}")
        if options.batch_rows is not None and options.batch_rows <= 0:
            raise CopyError(f"batch_rows must be positive, got {options.batch_rows}")
        if options.readers < 1:
            raise CopyError(f"readers must be at least 1, got {options.readers}")
        if pk_field not in read_fields:
            raise CopyError(f"read_fields must include the primary key field {pk_field!r}")
        notes = RetryNotes(observer)
        cancel = CancelFlag(observer.should_cancel, notes=notes)
        src = RpcChannel(source, "source", options=options, notes=notes)
        dst = RpcChannel(target, "target", cancel, options, notes)
        source_schema = _describe(src, scope.source_collection)
        _describe(dst, scope.target_collection)
        partitions = scope.partitions
        streams = list(partitions) if partitions is not None else [WHOLE_COLLECTION]
        if partitions is not None:
            _check_partitions(source, scope.source_collection, streams, "source")
            _check_partitions(target, scope.target_collection, streams, "target")
        _check_primary_key(source_schema, scope.source_collection, pk_field, scope.pk_is_varchar)
        carry_dynamic = scope.dynamic and bool(source_schema.get("enable_dynamic_field"))

        state = CopyState.start(streams, checkpoint, options.range_rows)
        uncertain = {}
        if checkpoint is not None:
            if write_intent is None:
                uncertain = _uncertain_ranges(dst, scope, state)
            else:
                uncertain = _intended_range(state, write_intent)
        reader = Reader(
            src,
            collection=scope.source_collection,
            pk_field=pk_field,
            pk_is_varchar=scope.pk_is_varchar,
            output_fields=list(read_fields) + (["$meta"] if carry_dynamic else []),
            row_bytes=schema_row_bytes(source_schema, read_fields, carry_dynamic),
            batch_bytes=options.batch_bytes,
            batch_rows=options.batch_rows,
            work=[(s, _start_of(state, s, scope)) for s in state.streams if s not in state.done],
            upto=scope.upto,
            readers=options.readers,
        )
        writer = BatchWriter(dst, scope.target_collection, pk_field, scope.pk_is_varchar)
        pool = WritePool(writer, options.writers, cancel)
        return _run(reader, pool, state, cancel, uncertain, observer)
    except CopyCanceled as error:
        error.checkpoint = _last_checkpoint(state, checkpoint)
        rows = state.rows if state is not None else 0
        raise CopyCanceled(
            f"copy of {scope.source_collection!r} canceled after {rows} rows",
            checkpoint=error.checkpoint,
        ) from None
    except CopyError as error:
        error.checkpoint = _last_checkpoint(state, checkpoint)
        raise


def _start_of(state: CopyState, stream: str, scope: CopyScope) -> int | str | None:
    """The key a stream's read continues after: its checkpoint's, else the range's start."""
    last = state.last_pk.get(stream)
    return scope.after if last is None else last


def _last_checkpoint(state: CopyState | None, given: dict | None) -> dict:
    """The checkpoint an error carries: what this run wrote, else what it was given, else the
    0-row checkpoint (nothing written: resuming from it is a start that cannot duplicate)."""
    if state is not None:
        return state.checkpoint()
    return given if given is not None else initial_checkpoint()


def _run(
    reader: Reader,
    pool: WritePool,
    state: CopyState,
    cancel: CancelFlag,
    uncertain: dict,
    observer: Observer,
) -> CopyResult:
    resumed_rows = state.rows
    started = time.monotonic()
    written_rows = upserted_rows = 0

    def acknowledge(sent: list[Sent]) -> None:
        """Pages written, in read order: the checkpoint moves over each, then progress."""
        nonlocal written_rows, upserted_rows
        for batch in sent:
            page = batch.page
            state.advance(page)
            written_rows += page.rows
            upserted_rows += page.rows if batch.upsert else 0
            observer.on_checkpoint(state.checkpoint())
            elapsed = time.monotonic() - started
            observer.on_progress(
                CopyProgress(
                    rows=state.rows,
                    bytes=state.bytes,
                    rows_per_s=written_rows / elapsed if elapsed > 0 else 0.0,
                    elapsed=elapsed,
                    partition=page.stream,
                )
            )
            if cancel.now():
                raise CopyCanceled("canceled")

    reader.start()
    try:
        while True:
            item = reader.get(cancel)
            if item is None:
                break
            if isinstance(item, StreamDone):
                # Every page of the stream is written before it is done, and before a page of
                # the next stream is sent (a write intent names one stream).
                acknowledge(pool.drain())
                state.finish(item.stream)
                observer.on_checkpoint(state.checkpoint())
                continue
            page = item
            bound = uncertain.get(page.stream)
            upsert = bound is UNBOUNDED or (bound is not None and page.first_pk <= bound)
            acknowledge(pool.wait_for_room())
            wait = observer.pace(page.rows, page.bytes)
            if wait > 0:
                pause(wait, cancel, "copy", reader.src.options.cancel_poll)
            # The intent covers every page in flight: they are all of this stream, in order.
            observer.on_write_intent({"stream": page.stream, "last_pk": page.last_pk})
            pool.submit(page, None if page.stream == WHOLE_COLLECTION else page.stream, upsert)
            acknowledge(pool.acked())
        acknowledge(pool.drain())
        cancel.now()  # the last word on retries (none pending) reaches the observer
    finally:
        pool.close()
        reader.stop()
    return CopyResult(
        rows=state.rows,
        bytes=state.bytes,
        seconds=time.monotonic() - started,
        partition_rows=dict(state.partition_rows),
        resumed_rows=resumed_rows,
        upserted_rows=upserted_rows,
        digests=state.digests.to_dict() if state.digests is not None else None,
    )


def _intended_range(state: CopyState, intent: dict) -> dict[str, object]:
    """The uncertain range of a resume whose caller kept the write intent: in the intent's
    partition, up to the intent's key when that lies past the checkpoint; nothing elsewhere."""
    stream = intent.get("stream")
    if stream is None or stream in state.done or stream not in state.streams:
        return {}
    last = state.last_pk.get(stream)
    key = intent.get("last_pk")
    if key is None or (last is not None and key <= last):
        return {}
    return {stream: key}


def _uncertain_ranges(dst: RpcChannel, scope: CopyScope, state: CopyState) -> dict[str, object]:
    """For each unfinished partition: the highest key the target may hold past the checkpoint
    (None: nothing there), or UNBOUNDED when the target cannot be queried (not loaded)."""
    streams = [s for s in state.streams if s not in state.done]
    collection = scope.target_collection
    loaded_state = dst.client.get_load_state(collection).get("state")
    if getattr(loaded_state, "name", str(loaded_state)) != "Loaded":
        return dict.fromkeys(streams, UNBOUNDED)
    ranges: dict[str, object] = {}
    for stream in streams:
        highest = None
        for keys in scan_keys(
            dst,
            collection,
            scope.pk_field,
            scope.pk_is_varchar,
            partition=None if stream == WHOLE_COLLECTION else stream,
            after=_start_of(state, stream, scope),
            upto=scope.upto,
        ):
            highest = keys[-1]
        ranges[stream] = highest
    return ranges


def _describe(channel: RpcChannel, collection: str) -> dict:
    try:
        return channel.client.describe_collection(collection)
    except Exception as error:  # pymilvus raises MilvusException or gRPC errors alike
        reason = getattr(error, "message", None) or str(error)
        if "not exist" in reason or "not found" in reason:
            raise CopyError(f"{channel.role} collection {collection!r} does not exist") from error
        raise CopyError(
            f"cannot read the {channel.role} collection {collection!r}: {reason}"
        ) from error


def _check_primary_key(schema: dict, collection: str, pk_field: str, pk_is_varchar: bool) -> None:
    for spec in schema.get("fields", []):
        if spec.get("is_primary"):
            if spec["name"] != pk_field:
                raise CopyError(
                    f"the primary key of source collection {collection!r} is {spec['name']!r}, "
                    f"not {pk_field!r}"
                )
            if (spec["type"] == DataType.VARCHAR) != pk_is_varchar:
                kind = "VARCHAR" if spec["type"] == DataType.VARCHAR else "INT64"
                raise CopyError(
                    f"the primary key {pk_field!r} of source collection {collection!r} is {kind}"
                )
            return
    raise CopyError(f"source collection {collection!r} has no primary key field")


def _check_partitions(client: MilvusClient, collection: str, names: list[str], role: str) -> None:
    existing = set(client.list_partitions(collection))
    missing = [name for name in names if name not in existing]
    if missing:
        raise CopyError(
            f"{role} collection {collection!r} has no partition "
            + ", ".join(repr(name) for name in missing)
        )
