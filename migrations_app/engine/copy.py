"""Copy the rows of one collection into an existing target collection: exact, fast, resumable.

How it reads. Rows are read in primary-key order with keyset paging: `pk > last` plus a limit,
with the `iterator` query flag, which makes both Milvus (2.3+) and Milvus Lite return a page
sorted by primary key (without it Milvus Lite returns an unordered page, and `pk > max` would
skip rows). Offsets are never used: Milvus caps offset + limit at 16,384.

How it writes. The query answer is already the columnar `FieldData` an insert request takes, so
the rows go from the source's answer into the target's insert request without ever becoming
Python dicts: pymilvus' row API (query → dicts, insert → columns) costs the client about
1.5 CPU-seconds per 100,000 rows of 128-d here, this path about 0.2. It uses pymilvus internals
(`Prepare.query_request`, the handler's gRPC stub) through `_Endpoint` only; pymilvus is
pinned, and the round-trip tests catch a change.

Measured here (2 shared cores, 100,000 rows × 128-d, Milvus Lite → Milvus Lite, see
bench/README.md): the copy runs at the speed of pymilvus' raw insert of the same rows from memory
(both ~14,500–19,000 rows/s depending on the load of the box), 3.4–3.8 × a query_iterator +
insert loop. The source server's query work (~40 µs a row in Milvus Lite) and the target's
insert work are the floor; the copy overlaps them.

Batches are sized in bytes: the page limit is `batch_bytes / bytes per row`, where bytes per row
starts from the schema (vector dims, declared lengths) and then follows what the pages really
weigh; a page whose answer still exceeds MAX_REQUEST_BYTES is read again smaller, so no insert
request gets near the 64 MB gRPC limit whatever the dimension.

A reader thread fills a bounded queue (QUEUE_DEPTH pages) that one writer — the caller's thread,
so callbacks run where the caller lives — empties: memory stays around
(QUEUE_DEPTH + 4) × batch_bytes whatever the collection size (the page being read and its
encoded answer, the waiting page, the insert request and its encoded form). One writer, because
on a 2-core box a second writer measured slower, and because in-order writes keep the
checkpoint a simple "everything up to this pk is written".

Exactness on resume: a checkpoint is reported after a batch is acknowledged, so a crash can
leave at most the batches after the checkpoint written and unreported. Resuming therefore
first deletes, in every partition not finished, the target rows past the checkpoint's key, then
inserts from there: no duplicate, no loss. A write retried after an ambiguous failure (timeout,
connection lost mid-call) is sent as an upsert, which cannot duplicate.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from pymilvus import DataType, MilvusClient
from pymilvus.client.prepare import Prepare
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from .errors import CopyCanceled, CopyError

# 16 MB pages: Milvus Lite scans the whole collection for every query, so fewer, larger pages
# are much faster there (at 400,000 rows a query costs ~0.5 s before it returns a row); peak RSS
# measured ~355 MB at 100,000 rows and ~380 MB at 400,000 (about 210 MB of it is pymilvus).
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
# A page whose encoded answer is larger than this is read again with a smaller limit, so the
# insert request built from it stays well under gRPC's 64 MB message limit.
MAX_REQUEST_BYTES = 48 * 1024 * 1024
# Milvus servers refuse a query whose offset + limit exceeds this (Milvus Lite has no cap;
# larger pages are cheaper there, see _Reader).
SERVER_QUERY_WINDOW = 16_384
# One page waiting is enough to keep the single writer busy; each more costs a batch of RAM.
QUEUE_DEPTH = 1
RAMP_UP_DIVISOR = 4  # the run's first page is this many times smaller than the others
# The checkpoint key used when the whole collection is read without partition names; it is not
# a valid partition name, so it never clashes with one.
WHOLE_COLLECTION = "*"
CHECKPOINT_VERSION = 1

RETRY_ATTEMPTS = 8
RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 10.0
# A request that has no answer within this many seconds is retried (as an upsert for writes).
CALL_TIMEOUT = 300.0

INT64_MAX = 2**63 - 1
# Bytes per row assumed for a variable-length value before any page has been read.
_VARIABLE_GUESS = 256


@dataclass(frozen=True)
class CopyProgress:
    """Reported after every written batch; figures are for the whole copy, this run included."""

    rows: int
    bytes: int
    rows_per_s: float  # rows written in this run / elapsed
    elapsed: float  # seconds since this run started
    partition: str


@dataclass
class CopyResult:
    rows: int  # rows in the target written by this copy, earlier runs of a resumed copy included
    bytes: int
    seconds: float  # this run only
    partition_rows: dict[str, int] = field(default_factory=dict)
    resumed_rows: int = 0  # of `rows`, those an earlier run had already written


def copy_collection(
    source: MilvusClient,
    target: MilvusClient,
    *,
    source_collection: str,
    target_collection: str,
    pk_field: str,
    pk_is_varchar: bool,
    read_fields: list[str],
    dynamic: bool,
    partitions: list[str] | None,
    checkpoint: dict | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_checkpoint: Callable[[dict], None] | None = None,
    on_progress: Callable[[CopyProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> CopyResult:
    """Copy every row of `source_collection` into the existing `target_collection`.

    Rows are streamed in primary-key order, partition by partition (`partitions` = explicit
    partitions, each written into the target partition of the same name, which must exist;
    None = the whole collection without partition names). Only `read_fields` are copied (they
    must include `pk_field`); with `dynamic` the source's dynamic keys are carried into the
    target's dynamic field, otherwise they are dropped. Primary keys are kept as they are, so
    the target must not generate them (auto_id off).

    After every written batch: `on_checkpoint(checkpoint)` with a JSON-safe dict, then
    `on_progress(CopyProgress)`, then `should_cancel()` — when it returns True, CopyCanceled is
    raised (its `checkpoint` covers every written row). Passing a checkpoint resumes right
    after it; rows a killed run wrote past its last checkpoint are deleted first.

    Transient server errors are retried with backoff; anything else raises CopyError with the
    reason. Returns the rows and bytes copied and the rows per partition.
    """
    if batch_bytes <= 0:
        raise CopyError(f"batch_bytes must be positive, got {batch_bytes}")
    if pk_field not in read_fields:
        raise CopyError(f"read_fields must include the primary key field {pk_field!r}")
    src = _Endpoint(source, "source")
    dst = _Endpoint(target, "target")
    source_schema = _describe(src, source_collection)
    _describe(dst, target_collection)
    streams = list(partitions) if partitions is not None else [WHOLE_COLLECTION]
    if partitions is not None:
        _check_partitions(source, source_collection, streams, "source")
        _check_partitions(target, target_collection, streams, "target")
    _check_primary_key(source_schema, source_collection, pk_field, pk_is_varchar)
    carry_dynamic = dynamic and bool(source_schema.get("enable_dynamic_field"))

    state = _State.start(streams, checkpoint)
    resumed_rows = state.rows
    if checkpoint is not None:
        _drop_uncheckpointed(dst, target_collection, pk_field, pk_is_varchar, state)

    reader = _Reader(
        src,
        collection=source_collection,
        pk_field=pk_field,
        pk_is_varchar=pk_is_varchar,
        output_fields=list(read_fields) + (["$meta"] if carry_dynamic else []),
        row_bytes=_schema_row_bytes(source_schema, read_fields, carry_dynamic),
        batch_bytes=batch_bytes,
        work=[(s, state.last_pk.get(s)) for s in streams if s not in state.done],
    )
    writer = _Writer(dst, target_collection)
    started = time.monotonic()
    written_rows = 0
    reader.start()
    try:
        while True:
            item = reader.get()
            if item is None:
                break
            if isinstance(item, _StreamDone):
                state.finish(item.stream)
                _report(on_checkpoint, state)
                continue
            page = item
            writer.write(page, None if page.stream == WHOLE_COLLECTION else page.stream)
            state.advance(page)
            written_rows += page.rows
            _report(on_checkpoint, state)
            if on_progress is not None:
                elapsed = time.monotonic() - started
                on_progress(
                    CopyProgress(
                        rows=state.rows,
                        bytes=state.bytes,
                        rows_per_s=written_rows / elapsed if elapsed > 0 else 0.0,
                        elapsed=elapsed,
                        partition=page.stream,
                    )
                )
            if should_cancel is not None and should_cancel():
                raise CopyCanceled(
                    f"copy of {source_collection!r} canceled after {state.rows} rows",
                    checkpoint=state.checkpoint(),
                )
    except CopyError as error:
        error.checkpoint = state.checkpoint() if state.rows or checkpoint else None
        raise
    finally:
        reader.stop()
    return CopyResult(
        rows=state.rows,
        bytes=state.bytes,
        seconds=time.monotonic() - started,
        partition_rows=dict(state.partition_rows),
        resumed_rows=resumed_rows,
    )


def initial_checkpoint(spec) -> dict:
    """The checkpoint of a target created and still empty (rows 0): resuming from it copies
    everything, after removing whatever a run that died before its first checkpoint wrote."""
    streams = list(spec.copy_partitions) if spec.copy_partitions is not None else [WHOLE_COLLECTION]
    return _State.start(streams, None).checkpoint()


def pk_literal(value: int | str, pk_is_varchar: bool) -> str:
    """`value` written as a literal of a Milvus filter expression.

    VARCHAR keys become a double-quoted string with JSON escapes (backslash, double quote,
    control characters), which Milvus (Go `strconv.Unquote`) and Milvus Lite both read back as
    the same string; non-ASCII characters stay as they are.
    """
    if pk_is_varchar:
        return json.dumps(str(value), ensure_ascii=False)
    return str(int(value))


def pk_after_filter(pk_field: str, last: int | str | None, pk_is_varchar: bool) -> str:
    """Filter matching the keys after `last` (every key when `last` is None)."""
    if last is not None:
        return f"{pk_field} > {pk_literal(last, pk_is_varchar)}"
    # An always-true comparison rather than an empty filter: every server version accepts it.
    # (INT64_MAX itself is a valid key, hence <=; -2**63 cannot be written as a literal.)
    if pk_is_varchar:
        return f'{pk_field} >= ""'
    return f"{pk_field} <= {INT64_MAX}"


# --- the pieces --------------------------------------------------------------------------------


class _Endpoint:
    """The gRPC stub and call metadata behind a MilvusClient, for the columnar fast path.

    The stub is fetched on every call because pymilvus replaces it when it reconnects.
    """

    def __init__(self, client: MilvusClient, role: str) -> None:
        self.client = client
        self.role = role
        self.metadata = client._generate_call_context().to_grpc_metadata()

    @property
    def stub(self):
        return self.client._get_connection()._stub

    def call(self, what: str, method: str, request, *, ambiguous_retry=None):
        """Send `request` with retries on transient failures; return the answer.

        `ambiguous_retry`, if given, is `(method, make_request)`: what to send instead after a
        failure that may have come after the server applied the request (timeout, lost
        connection) — for an insert, the same rows as an upsert, which cannot duplicate them.
        """
        delay = RETRY_FIRST_DELAY
        last_reason = ""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                answer = getattr(self.stub, method)(
                    request, timeout=CALL_TIMEOUT, metadata=self.metadata
                )
            except grpc.RpcError as error:
                code = error.code()
                too_large = "larger than max" in (error.details() or "")
                if code not in _TRANSIENT_GRPC or too_large:
                    raise CopyError(
                        f"{what} failed on the {self.role}: {_rpc_reason(error)}"
                    ) from error
                last_reason = _rpc_reason(error)
                if ambiguous_retry is not None:
                    method, make_request = ambiguous_retry
                    request = make_request()
                    ambiguous_retry = None
            else:
                status = answer.status
                if status.code == 0 and status.error_code == common_pb2.Success:
                    return answer
                if not _transient_status(status):
                    raise _StatusError(status)
                last_reason = status.reason
            if attempt < RETRY_ATTEMPTS:
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
        raise CopyError(
            f"{what} failed on the {self.role}: still failing after {RETRY_ATTEMPTS} attempts "
            f"({last_reason})"
        )


_TRANSIENT_GRPC = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
_TRANSIENT_ERROR_CODES = frozenset(
    {common_pb2.RateLimit, common_pb2.NotReadyServe, common_pb2.NotReadyCoordActivating}
)
_RATE_LIMIT_CODE = 8  # the newer Milvus status code for "rate limit exceeded"


def _transient_status(status) -> bool:
    return status.code == _RATE_LIMIT_CODE or status.error_code in _TRANSIENT_ERROR_CODES


def _rpc_reason(error: grpc.RpcError) -> str:
    details = error.details() if hasattr(error, "details") else ""
    return f"{error.code().name}: {details}" if details else error.code().name


class _StatusError(Exception):
    """A non-transient error status from Milvus; callers turn it into a CopyError in context."""

    def __init__(self, status) -> None:
        super().__init__(status.reason)
        self.status = status


def _describe(endpoint: _Endpoint, collection: str) -> dict:
    try:
        return endpoint.client.describe_collection(collection)
    except Exception as error:  # pymilvus raises MilvusException or gRPC errors alike
        reason = getattr(error, "message", None) or str(error)
        if "not exist" in reason or "not found" in reason:
            raise CopyError(f"{endpoint.role} collection {collection!r} does not exist") from error
        raise CopyError(
            f"cannot read the {endpoint.role} collection {collection!r}: {reason}"
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


def _schema_row_bytes(schema: dict, read_fields: list[str], dynamic: bool) -> int:
    """Bytes per row the read fields need, from the schema alone (variable lengths guessed)."""
    total = 0
    for spec in schema.get("fields", []):
        if spec["name"] not in read_fields:
            continue
        kind = spec["type"]
        params = spec.get("params", {})
        dim = int(params.get("dim", 0) or 0)
        if kind == DataType.FLOAT_VECTOR:
            total += 4 * dim
        elif kind in (DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR):
            total += 2 * dim
        elif kind == DataType.BINARY_VECTOR:
            total += dim // 8
        elif kind == getattr(DataType, "INT8_VECTOR", None):
            total += dim
        elif kind == DataType.VARCHAR:
            total += min(int(params.get("max_length", _VARIABLE_GUESS)), _VARIABLE_GUESS)
        elif kind == DataType.ARRAY:
            total += 8 * int(params.get("max_capacity", 16))
        elif kind in (DataType.JSON, DataType.SPARSE_FLOAT_VECTOR):
            total += _VARIABLE_GUESS
        else:
            total += 8
    if dynamic:
        total += _VARIABLE_GUESS
    return max(total, 16)


@dataclass
class _Page:
    stream: str
    fields_data: list
    rows: int
    bytes: int
    last_pk: int | str


@dataclass
class _StreamDone:
    stream: str


@dataclass
class _State:
    """What has been written: the source of every checkpoint."""

    streams: list[str]
    last_pk: dict[str, int | str | None]
    done: list[str]
    rows: int
    bytes: int
    partition_rows: dict[str, int]

    @classmethod
    def start(cls, streams: list[str], checkpoint: dict | None) -> _State:
        if checkpoint is None:
            return cls(streams=streams, last_pk={}, done=[], rows=0, bytes=0, partition_rows={})
        try:
            last_pk = dict(checkpoint["partitions"])
            done = list(checkpoint["done_partitions"])
            rows = int(checkpoint["rows"])
        except (KeyError, TypeError, ValueError) as error:
            raise CopyError(f"the checkpoint to resume from is malformed: {error!r}") from error
        unknown = [name for name in [*last_pk, *done] if name not in streams]
        if unknown:
            raise CopyError(
                "the checkpoint to resume from names partitions this copy does not have: "
                + ", ".join(repr(name) for name in unknown)
            )
        return cls(
            streams=streams,
            last_pk=last_pk,
            done=done,
            rows=rows,
            bytes=int(checkpoint.get("bytes", 0)),
            partition_rows={k: int(v) for k, v in checkpoint.get("partition_rows", {}).items()},
        )

    def advance(self, page: _Page) -> None:
        self.last_pk[page.stream] = page.last_pk
        self.rows += page.rows
        self.bytes += page.bytes
        self.partition_rows[page.stream] = self.partition_rows.get(page.stream, 0) + page.rows

    def finish(self, stream: str) -> None:
        self.last_pk.setdefault(stream, None)
        self.partition_rows.setdefault(stream, 0)
        if stream not in self.done:
            self.done.append(stream)

    def checkpoint(self) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "partitions": dict(self.last_pk),
            "done_partitions": list(self.done),
            "rows": self.rows,
            "bytes": self.bytes,
            "partition_rows": dict(self.partition_rows),
        }


def _report(on_checkpoint: Callable[[dict], None] | None, state: _State) -> None:
    if on_checkpoint is not None:
        on_checkpoint(state.checkpoint())


def _drop_uncheckpointed(
    dst: _Endpoint, collection: str, pk_field: str, pk_is_varchar: bool, state: _State
) -> None:
    """Delete target rows a killed run wrote after its last checkpoint, in unfinished partitions.

    Every row up to a partition's checkpointed key is written, and nothing past it is counted,
    so deleting `pk > last` makes "resume from last" exact. A partition the checkpoint does not
    name may have received a batch before the first checkpoint: it is emptied the same way.
    """
    for stream in [s for s in state.streams if s not in state.done]:
        expr = pk_after_filter(pk_field, state.last_pk.get(stream), pk_is_varchar)
        request = milvus_pb2.DeleteRequest(
            collection_name=collection,
            partition_name="" if stream == WHOLE_COLLECTION else stream,
            expr=expr,
        )
        try:
            dst.call(
                f"removing rows written after the checkpoint from {collection!r}", "Delete", request
            )
        except _StatusError as error:
            raise CopyError(
                f"cannot remove rows written after the checkpoint from target collection "
                f"{collection!r}: {error.status.reason}"
            ) from error


class _Reader:
    """Reads pages in primary-key order on a thread and hands them over through a bounded queue."""

    def __init__(
        self,
        src: _Endpoint,
        *,
        collection: str,
        pk_field: str,
        pk_is_varchar: bool,
        output_fields: list[str],
        row_bytes: int,
        batch_bytes: int,
        work: list[tuple[str, int | str | None]],
    ) -> None:
        self.src = src
        self.collection = collection
        self.pk_field = pk_field
        self.pk_is_varchar = pk_is_varchar
        self.output_fields = output_fields
        self.row_bytes = row_bytes
        self.batch_bytes = batch_bytes
        self.work = work
        # Milvus Lite takes any limit, and each of its queries costs a scan of the collection,
        # so fewer, larger pages are faster there; Milvus servers refuse more than the window.
        # The first page finds out which kind of server this is.
        self.window: int | None = None
        self.first_page = True
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"copy-reader-{collection}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def get(self):
        """The next page, a _StreamDone marker, or None at the end; re-raises a reader failure."""
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.stopping.set()
        # Unblock a reader waiting on a full queue.
        while self.thread.is_alive():
            try:
                self.queue.get_nowait()
            except queue.Empty:
                pass
            self.thread.join(timeout=0.05)

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for stream, last in self.work:
                if not self._read_stream(stream, last):
                    return
                if not self._put(_StreamDone(stream)):
                    return
            self._put(None)
        except CopyError as error:
            self._put(error)
        except Exception as error:  # anything unexpected still reaches the caller's thread
            self._put(CopyError(f"reading {self.collection!r} failed: {error!r}"))

    def _limit(self) -> int:
        limit = max(1, self.batch_bytes // max(self.row_bytes, 1))
        if self.first_page:
            # The writer idles until the first page arrives: make that wait short.
            limit = max(1, limit // RAMP_UP_DIVISOR)
        return min(limit, self.window) if self.window else limit

    def _read_stream(self, stream: str, last: int | str | None) -> bool:
        partition_names = [] if stream == WHOLE_COLLECTION else [stream]
        while not self.stopping.is_set():
            limit = self._limit()
            answer, limit = self._query(stream, partition_names, last, limit)
            rows = _row_count(answer.fields_data, self.pk_field)
            if rows == 0:
                return True
            size = answer.ByteSize()
            if size > MAX_REQUEST_BYTES and rows > 1:
                # Rows heavier than measured so far: read this page again, smaller.
                self.row_bytes = max(self.row_bytes * 2, size // rows + 1)
                continue
            # From now on, size pages by what rows really weigh.
            self.row_bytes = max(size // rows + 1, 1)
            self.first_page = False
            fields_data = list(answer.fields_data)
            for data in fields_data:
                # Field ids are the source's; the target matches fields by name.
                data.ClearField("field_id")
            last = _last_pk(fields_data, self.pk_field, self.pk_is_varchar)
            page = _Page(
                stream=stream, fields_data=fields_data, rows=rows, bytes=size, last_pk=last
            )
            # Drop this page's references before the next query: it belongs to the writer now.
            del answer, fields_data
            if not self._put(page):
                return False
            del page
            if rows < limit:
                return True
        return False

    def _query(self, stream: str, partition_names: list[str], last, limit: int):
        """One page after `last`, and the limit it was read with (lowered to the window when
        the server refuses a larger one: a page shorter than that limit is the last)."""
        what = f"reading {self.collection!r}" + (
            "" if stream == WHOLE_COLLECTION else f" partition {stream!r}"
        )
        while True:
            request = Prepare.query_request(
                self.collection,
                pk_after_filter(self.pk_field, last, self.pk_is_varchar),
                self.output_fields,
                partition_names,
                use_default_consistency=False,
                consistency_level=common_pb2.Strong,
                limit=limit,
                iterator="True",
                # "True" lets Milvus answer a short page before the end of the data; with
                # "False" a short page means the end, which saves a query per partition.
                reduce_stop_for_best="False",
            )
            try:
                answer = self.src.call(what, "Query", request)
            except _StatusError as error:
                reason = error.status.reason
                if self.window is None and limit > SERVER_QUERY_WINDOW and "window" in reason:
                    self.window = SERVER_QUERY_WINDOW
                    limit = SERVER_QUERY_WINDOW
                    continue
                raise CopyError(f"{what} failed: {reason}") from error
            if self.window is None and limit > SERVER_QUERY_WINDOW:
                self.window = 0  # this server takes large pages: no cap
            return answer, limit


def _row_count(fields_data, pk_field: str) -> int:
    for data in fields_data:
        if data.field_name == pk_field:
            if data.HasField("scalars") and data.scalars.HasField("string_data"):
                return len(data.scalars.string_data.data)
            return len(data.scalars.long_data.data)
    return 0


def _last_pk(fields_data, pk_field: str, pk_is_varchar: bool) -> int | str:
    for data in fields_data:
        if data.field_name == pk_field:
            if pk_is_varchar:
                return data.scalars.string_data.data[-1]
            return int(data.scalars.long_data.data[-1])
    raise CopyError(f"the source answer has no primary key field {pk_field!r}")


class _Writer:
    """Inserts pages into the target; a retry after an ambiguous failure is an upsert."""

    def __init__(self, dst: _Endpoint, collection: str) -> None:
        self.dst = dst
        self.collection = collection

    def write(self, page: _Page, partition: str | None) -> None:
        name = partition or ""
        insert = milvus_pb2.InsertRequest(
            collection_name=self.collection, partition_name=name, num_rows=page.rows
        )
        insert.fields_data.extend(page.fields_data)
        # The request holds its own copy: let the query answer go now, not after the write.
        page.fields_data = []

        def as_upsert():
            upsert = milvus_pb2.UpsertRequest(
                collection_name=self.collection, partition_name=name, num_rows=page.rows
            )
            upsert.fields_data.extend(insert.fields_data)
            return upsert

        where = f"target collection {self.collection!r}" + (f" partition {name!r}" if name else "")
        try:
            answer = self.dst.call(
                f"writing into {where}", "Insert", insert, ambiguous_retry=("Upsert", as_upsert)
            )
        except _StatusError as error:
            raise CopyError(f"writing into {where} failed: {error.status.reason}") from error
        written = getattr(answer, "insert_cnt", 0) or getattr(answer, "upsert_cnt", 0)
        if written and written != page.rows:
            raise CopyError(
                f"writing into {where}: the server stored {written} of {page.rows} rows"
            )
