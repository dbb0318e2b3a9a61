"""Check a copied collection against its source, every row: identical or not, and where not.

What is compared:
- every row's raw content (primary key, partition, every copied field bit for bit, JSON, arrays,
  sparse vectors, dynamic fields), as per-key-range digests (engine/digest.py). One strongly
  consistent read of the target and one of the source run at the same time, each into the same
  key ranges; a range whose digests differ is read again on both sides and narrowed to its keys
  (missing on the target, on the target only, or differing, with the fields that differ);
- the digests the copy computed of what it wrote (kept in its checkpoint): a range where the
  source now differs from what was copied means the source changed during the migration, which
  is its own reason;
- duplicate primary keys on the target (`count(*)` against the distinct keys read);
- the schema (the target's fields against the plan's), the collection properties (TTL, mmap and
  the like) and the aliases, which the copy carries over.

`verified` is True only when all of them agree. Keys are read with the engine's own escaped
key-range filters in keyset pages (reader.read_pages), never pymilvus' `query_iterator`, which
breaks on VARCHAR keys holding `"` or `\\`.

Server quirks this relies on (see DESIGN §9):
- Milvus Lite's `count(*)` ignores `partition_names`: partitions are counted from the rows read.
- Milvus Lite answers slowly until freshly inserted rows are flushed: finalize flushes first.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .carry import carried_properties
from .catalog import describe_schema
from .connect import on_database
from .counting import (
    count_rows,
    has_count,
    hidden_key_line,
    hidden_max_key,
    statistics_rows,
)
from .digest import (
    CopyDigests,
    RangeSums,
    encode_column,
    row_hashes,
    uppers_every,
)
from .errors import CopyCanceled, CopyError, EngineError, VerifyError
from .filters import INT64_MAX, pk_literal
from .model import CollectionInfo, FieldInfo, TargetSpec, VerifyProgress, VerifyReport
from .options import DEFAULTS, SILENT, Observer, Options
from .reader import WHOLE_COLLECTION, PageSizer, read_pages, scan_keys
from .rpc import CancelFlag, RetryNotes, RpcChannel

FIRST_KEYS = 10  # differing keys listed in the report
NARROWED_RANGES = 20  # differing ranges read again to find their keys
MAX_SHOWN = 80  # characters of a value quoted in a mismatch
# The schema attributes compared between the plan's target fields and the target's, and those
# compared only where the server reports them (Milvus Lite does not report an array's
# max_length, for one).
_FIELD_ATTRIBUTES = (
    "dtype",
    "is_primary",
    "dim",
    "element_type",
    "max_capacity",
    "nullable",
    "is_partition_key",
)
_REPORTED_ATTRIBUTES = ("max_length", "default_value")


@dataclass
class _Side:
    """What one read of one side found, per stream."""

    sums: dict[str, RangeSums] = field(default_factory=dict)
    rows: int = 0


def verify(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    *,
    source_count_at_start: int | None = None,
    copied_rows: int | None = None,
    copy_digests: dict | None = None,
    source_read: SourceRead | None = None,
    later: bool = False,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport:
    """Compare target collection `spec` with `source`, every row; both must be loaded.

    `copy_digests` (CopyResult.digests, or the checkpoint's "digests") are the digests of what
    the copy wrote: with them the key ranges are the copy's and a source that changed since is
    told apart; without them (an old checkpoint) the ranges come from a scan of the source's
    keys. `later`: a verification made after the migration ended (Verify Again, with the
    migration's copy digests): a source that differs from what the copy read "changed since the
    migration". `source_count_at_start` (the source's count before the copy) adds a note when
    the source was written to. `source_read` is the source's read started ahead (SourceRead,
    with the same `copy_digests`); without one both sides are read now, at the same time.
    `observer.should_cancel` is asked while reading: CopyCanceled within about a second.
    `observer.on_verify_progress` hears how many rows both sides have read (of the rows the copy
    wrote, else of the source's count at the start, else of its statistics), about twice a
    second; `on_retry` of reads sent again after transient errors.
    Raises VerifyError when a check cannot run.
    """
    started = time.monotonic()
    notes = RetryNotes(observer)
    cancel = CancelFlag(observer.should_cancel, notes=notes)
    expected = next(
        n for n in (copied_rows, source_count_at_start, source.entity_count, 0) if n is not None
    )
    meter = _Meter(observer, expected)
    label_source = f"{source.db}.{source.name}"
    label_target = f"{spec.db}.{spec.name}"
    mismatches: list[str] = []
    messages: list[str] = []
    streams = list(spec.copy_partitions) if spec.copy_partitions else [WHOLE_COLLECTION]
    output = list(spec.read_fields) + (
        ["$meta"] if spec.copy_dynamic and source.enable_dynamic_field else []
    )
    copied = CopyDigests(saved=copy_digests) if copy_digests else None

    with on_database(source_client, source.db) as src, on_database(target_client, spec.db) as dst:
        if source_read is not None:
            uppers = source_read.uppers
        elif copied is not None:
            uppers = {stream: copied.sums(stream).uppers for stream in streams}
        else:
            uppers = _source_ranges(src, source.name, spec, streams, cancel, options.range_rows)
        reading = _Reading(src, dst, source.name, spec, output, options, cancel, notes)

        def meanwhile() -> tuple[list[str], int | None]:
            # Small calls, made while both sides are read: nothing writes the target now.
            return compare_collections(src, dst, source, spec), _stored_rows(dst, spec, cancel)

        source_side, target_side, (differences, stored) = reading.both(
            streams, uppers, source_read, meter, meanwhile=meanwhile
        )
        mismatches += differences
        source_count, distinct = source_side.rows, target_side.rows
        # Without count(*) (Milvus 2.2) a count is a scan of the keys, which answers each key
        # once like the read just made: its count is the distinct keys.
        target_count = distinct if stored is None else stored
        hidden = _HiddenKeys(src, dst, source.name, spec, cancel)
        # A row keyed 2**63-1 is counted by Milvus but returned by no query: on the source it
        # cannot be copied, on the target it is no duplicate.
        mismatches += hidden.lines(source_count, target_count, distinct)

        if source_count != target_count:
            mismatches.append(f"entity count differs: source {source_count}, target {target_count}")
        duplicates = max(0, target_count - hidden.target - distinct)
        if duplicates:
            mismatches.append(
                f"{duplicates} duplicate primary keys on the target ({target_count} rows, "
                f"{distinct} distinct keys)"
            )
        partitions = {}
        if spec.copy_partitions:
            for stream in streams:
                in_source = sum(source_side.sums[stream].rows)
                in_target = sum(target_side.sums[stream].rows)
                partitions[stream] = {"source": in_source, "target": in_target}
                if in_source != in_target:
                    mismatches.append(
                        f"partition {stream}: source {in_source} rows, target {in_target}"
                    )

        ranges = differing = 0
        changed_ranges = 0
        to_narrow: list[tuple[str, int, bool]] = []
        for stream in streams:
            left, right = source_side.sums[stream], target_side.sums[stream]
            was = copied.sums(stream) if copied is not None else None
            for index in range(len(left.rows)):
                ranges += 1
                now = (left.rows[index], left.sums[index])
                changed = was is not None and (was.rows[index], was.sums[index]) != now
                changed_ranges += changed
                if now != (right.rows[index], right.sums[index]):
                    differing += 1
                    to_narrow.append((stream, index, changed))

        first_keys: list[Any] = []
        source_changed = bool(changed_ranges) if copied is not None else None
        when = "since the migration" if later else "during the migration"
        if to_narrow:
            changed_differing = sum(changed for _, _, changed in to_narrow)
            if changed_differing:
                mismatches.append(
                    f"the source changed {when}: "
                    f"{changed_differing} of the {differing} differing key ranges hold other "
                    "rows on the source now than the copy read"
                )
            mismatches.append(f"{differing} of {ranges} key ranges differ")
            found = reading.narrow(to_narrow[:NARROWED_RANGES], source_side, FIRST_KEYS)
            first_keys = found.keys
            mismatches += found.lines
            if len(to_narrow) > NARROWED_RANGES:
                mismatches.append(
                    f"{len(to_narrow) - NARROWED_RANGES} more differing key ranges not narrowed"
                )
        elif source_changed:
            messages.append(
                f"the source changed {when}, but the target holds the same rows as the source now"
            )
        if source_count_at_start is not None and source_count_at_start not in (
            source_count,
            source_count + hidden.source,  # the start's count(*) counted the hidden row
        ):
            messages.append(
                f"writes happened during the migration: the source had {source_count_at_start} "
                f"rows at the start and {source_count} at the end"
            )
        messages += hidden.notes
        if copied_rows is not None and copied_rows != source_count:
            messages.append(f"the copy wrote {copied_rows} rows; the source has {source_count}")

    return VerifyReport(
        source=label_source,
        target=label_target,
        verified=not mismatches,
        source_count=source_count,
        target_count=target_count,
        source_count_at_start=source_count_at_start,
        partitions=partitions,
        rows_compared=max(source_count, distinct),
        ranges_compared=ranges,
        ranges_differing=differing,
        first_differing_keys=first_keys,
        source_changed=source_changed,
        duplicate_keys=duplicates,
        mismatches=mismatches,
        messages=messages,
        copied_rows=copied_rows,
        seconds=round(time.monotonic() - started, 3),
    )


def compare_collections(
    src: MilvusClient, dst: MilvusClient, source: CollectionInfo, spec: TargetSpec
) -> list[str]:
    """Differences of schema (target against the plan), properties and aliases (target
    against the source)."""
    try:
        target = describe_schema(dst, spec.name)
        source = describe_schema(src, source.name)  # its properties as they are now
    except (EngineError, MilvusException) as exc:
        raise VerifyError(f"cannot describe the collections: {exc.message}") from None
    differences = []
    planned = {f.name: f for f in spec.fields}
    actual = {f.name: f for f in target.fields}
    for name in sorted(set(planned) | set(actual)):
        if name not in actual:
            differences.append(f"schema: field {name} is missing on the target")
        elif name not in planned:
            differences.append(f"schema: field {name} is on the target but not planned")
        else:
            for attribute in _FIELD_ATTRIBUTES:
                want = _attribute(planned[name], attribute)
                have = _attribute(actual[name], attribute)
                if want != have:
                    differences.append(
                        f"schema: field {name} {attribute} is {have!r} on the target, "
                        f"{want!r} planned"
                    )
            for attribute in _REPORTED_ATTRIBUTES:
                want = _attribute(planned[name], attribute)
                have = _attribute(actual[name], attribute)
                if want is not None and have is not None and want != have:
                    differences.append(
                        f"schema: field {name} {attribute} is {have!r} on the target, "
                        f"{want!r} planned"
                    )
    if bool(target.enable_dynamic_field) != bool(spec.enable_dynamic_field):
        differences.append(
            f"schema: dynamic field is {'on' if target.enable_dynamic_field else 'off'} on the "
            f"target, {'on' if spec.enable_dynamic_field else 'off'} planned"
        )
    for key, value in sorted(carried_properties(source.properties).items()):
        have = target.properties.get(key)
        if str(have) != str(value):
            differences.append(
                f"property {key} is {value!r} on the source, "
                + ("missing" if have is None else repr(have))
                + " on the target"
            )
    for alias in sorted(set(source.aliases) - set(target.aliases)):
        differences.append(f"alias {alias} of the source is missing on the target")
    return differences


def _attribute(info: FieldInfo, attribute: str) -> Any:
    value = getattr(info, attribute)
    return value if value not in ("", False) else None


def _source_ranges(
    src: MilvusClient, name: str, spec: TargetSpec, streams: list[str], cancel, range_rows: int
) -> dict[str, list]:
    """Range bounds from a scan of the source's keys (when no copy digests are known)."""
    channel = RpcChannel(src, "source", cancel)
    uppers = {}
    for stream in streams:
        try:
            uppers[stream] = uppers_every(
                scan_keys(
                    channel,
                    name,
                    spec.primary_field,
                    spec.pk_is_varchar,
                    partition=None if stream == WHOLE_COLLECTION else stream,
                ),
                range_rows,
            )
        except CopyError as exc:
            raise VerifyError(f"cannot read the keys of the source: {exc.message}") from None
    return uppers


def _stored_rows(dst: MilvusClient, spec: TargetSpec, cancel) -> int | None:
    """Every row stored on the target, duplicates included: `count(*)`; None where the server
    has no `count(*)` (Milvus 2.2)."""
    pk, varchar = spec.primary_field, spec.pk_is_varchar
    try:
        counted = has_count(dst, spec.name, pk, varchar, cancel)
    except (MilvusException, CopyError) as exc:
        raise VerifyError(
            f"cannot count the rows of {spec.name}: {getattr(exc, 'message', exc)}"
        ) from None
    if not counted:
        return None
    return count_rows(dst, spec.name, pk=pk, pk_is_varchar=varchar, should_cancel=cancel)


def _on_own_thread(call: Callable[[], Any], name: str) -> Future:
    """`call()` started on a daemon thread; its Future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class _HiddenKeys:
    """The rows keyed 2**63-1 each side counts but no query returns (counting.py)."""

    def __init__(self, src, dst, source_name: str, spec: TargetSpec, cancel) -> None:
        self.src, self.dst, self.source_name, self.spec = src, dst, source_name, spec
        self.cancel = cancel
        self.source = self.target = 0
        self.notes: list[str] = []  # for the report's messages

    def lines(self, source_read: int, target_count: int, distinct: int) -> list[str]:
        pk, varchar, cancel = self.spec.primary_field, self.spec.pk_is_varchar, self.cancel
        if varchar:
            return []
        found = []
        on_source = hidden_max_key(self.src, self.source_name, pk, varchar, cancel)
        if on_source:
            self.source = 1
            found.append(hidden_key_line("source", pk))
        elif on_source is None:
            # No count(*) on the source (Milvus 2.2): its statistics are the only witness of
            # such a row, and they count deleted rows too, so they can only be mentioned.
            stored = statistics_rows(self.src, self.source_name)
            if stored is not None and stored > source_read:
                self.notes.append(
                    f"the source's statistics count {stored} rows and its queries return "
                    f"{source_read}: the difference is deleted rows not yet compacted, or a "
                    f"row keyed {INT64_MAX} (2**63-1), which Milvus stores but no query returns"
                )
        if target_count > distinct and hidden_max_key(
            self.dst, self.spec.name, pk, varchar, cancel
        ):
            self.target = 1
            found.append(hidden_key_line("target", pk))
        return found


class _Meter:
    """Reports the rows a verification has read on both sides (the smaller count), throttled,
    on the caller's thread."""

    EVERY = 0.5  # seconds between reports

    def __init__(self, observer: Observer, total: int) -> None:
        self.observer = observer
        self.total = total
        self.started = time.monotonic()
        self.last = -float("inf")

    def tick(self, source_rows: int, target_rows: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.EVERY:
            return
        self.last = now
        rows, elapsed = min(source_rows, target_rows), now - self.started
        rate = rows / elapsed if elapsed > 0 else 0.0
        self.observer.on_verify_progress(VerifyProgress(rows, self.total, rate, elapsed))


@dataclass
class _Narrowed:
    keys: list[Any] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class _Reading:
    """Reads both sides, each on its own thread, into per-stream range sums."""

    def __init__(
        self,
        src: MilvusClient,
        dst: MilvusClient,
        source_name: str,
        spec: TargetSpec,
        output: list[str],
        options: Options,
        cancel: CancelFlag,
        notes: RetryNotes | None = None,
    ) -> None:
        self.stopping = threading.Event()
        self.src = RpcChannel(src, "source", options=options, notes=notes).with_cancel(
            self.stopping.is_set
        )
        self.dst = RpcChannel(dst, "target", options=options, notes=notes).with_cancel(
            self.stopping.is_set
        )
        # Rows read so far per side, each written by its reading thread only.
        self.read = {"source": 0, "target": 0}
        self.names = {"source": source_name, "target": spec.name}
        self.spec = spec
        self.output = output
        self.options = options
        self.cancel = cancel

    def both(
        self,
        streams: list[str],
        uppers: dict[str, list],
        ahead: SourceRead | None = None,
        meter: _Meter | None = None,
        meanwhile: Callable[[], Any] | None = None,
    ) -> tuple[_Side, _Side, Any]:
        """Both sides' range sums, read at the same time, and what `meanwhile` returned (called
        while they are read); `ahead`: the source's, read ahead. `meter` hears the rows read on
        both sides while they read. A cancel is heard while any of the three waits on a server;
        `meanwhile` runs on a daemon thread of its own, left behind on a cancel (its pymilvus
        calls cannot be interrupted: a hung server answers them at their deadline or never)."""
        source_reading = ahead.reading if ahead is not None else self
        with ThreadPoolExecutor(2, thread_name_prefix="verify") as pool:
            source = ahead.future if ahead is not None else None
            if source is None:
                source = pool.submit(self.side, self.src, streams, uppers)
            futures = [source, pool.submit(self.side, self.dst, streams, uppers)]

            def progress(force: bool = False) -> None:
                if meter is not None:
                    rows = source_reading.read["source"], self.read["target"]
                    meter.tick(*rows, force=force)

            extra = _on_own_thread(meanwhile, "verify-meanwhile") if meanwhile else None
            try:
                self._wait([*futures, extra] if extra else futures, progress)
            finally:
                self.stopping.set()
            progress(force=True)
        return futures[0].result(), futures[1].result(), extra.result() if extra else None

    def _wait(self, futures, progress: Callable[[], None]) -> None:
        pending = set(futures)
        while pending:
            done, pending = wait(
                pending, timeout=self.options.cancel_poll, return_when=FIRST_EXCEPTION
            )
            for future in done:
                if future.exception() is not None:
                    raise future.exception()
            progress()
            if pending and self.cancel():
                raise CopyCanceled(f"verification of {self.spec.db}.{self.spec.name} canceled")

    def pages(self, channel: RpcChannel, stream: str, after=None, upto=None, fields=None):
        """Pages (answer, keys, size) of `stream` in key range (after, upto], strongly
        consistent: the verification's fields, or `fields`."""
        sizer = PageSizer(
            row_bytes=_row_bytes(self.spec, fields or self.output),
            batch_bytes=self.options.batch_bytes,
        )
        sizer.budget = self.options.batch_bytes  # one read at full speed: no ramp-up
        name = self.names[channel.role]
        try:
            yield from read_pages(
                channel,
                sizer,
                collection=name,
                pk_field=self.spec.primary_field,
                pk_is_varchar=self.spec.pk_is_varchar,
                output_fields=fields or self.output,
                partition=None if stream == WHOLE_COLLECTION else stream,
                after=after,
                upto=upto,
            )
        except CopyError as exc:
            raise VerifyError(
                f"cannot read the {channel.role} collection {name}: {exc.message}"
            ) from None

    def side(self, channel: RpcChannel, streams: list[str], uppers: dict[str, list]) -> _Side:
        """One side read into its range sums. Pages are fetched one ahead on their own thread,
        so the server answers the next query while this thread hashes the page it has."""
        side = _Side()
        for stream in streams:
            sums = side.sums[stream] = RangeSums(list(uppers.get(stream, [])))
            for answer, keys, _ in _ahead(self.pages(channel, stream), self.stopping):
                sums.add(keys, row_hashes(answer.fields_data, len(keys), stream, self.output))
                side.rows += len(keys)
                self.read[channel.role] += len(keys)
        return side

    def narrow(self, ranges: list[tuple[str, int, bool]], side: _Side, limit: int) -> _Narrowed:
        """The keys that differ in these ranges, each said in a line (at most `limit`)."""
        self.stopping.clear()
        found = _Narrowed()
        pk, varchar = self.spec.primary_field, self.spec.pk_is_varchar
        for stream, index, _ in ranges:
            if self.cancel():
                raise CopyCanceled(f"verification of {self.spec.db}.{self.spec.name} canceled")
            lower, upper = side.sums[stream].bounds(index)
            left = self._rows(self.src, stream, lower, upper)
            right = self._rows(self.dst, stream, lower, upper)
            for key in sorted(set(left) | set(right)):
                if left.get(key) == right.get(key):
                    continue
                if len(found.keys) >= limit:
                    return found
                found.keys.append(key)
                shown = pk_literal(key, varchar)
                if key not in right:
                    found.lines.append(f"row {pk}={shown} is missing on the target")
                elif key not in left:
                    found.lines.append(f"row {pk}={shown} is on the target but not on the source")
                else:
                    for name in sorted(set(left[key]) | set(right[key])):
                        if left[key].get(name) != right[key].get(name):
                            what = (
                                "dynamic fields differ"
                                if name == "$meta"
                                else (f"field {name} differs")
                            )
                            found.lines.append(f"row {pk}={shown}: {what}")
        return found

    def _rows(self, channel: RpcChannel, stream: str, lower, upper) -> dict[Any, dict]:
        """{key: {field: encoded value}} of the rows in (lower, upper]."""
        rows: dict[Any, dict] = {}
        for answer, keys, _ in self.pages(channel, stream, lower, upper):
            columns = {
                data.field_name: encode_column(data, len(keys))
                for data in answer.fields_data
                if data.field_name != self.spec.primary_field and data.field_name in self.output
            }
            for position, key in enumerate(keys):
                rows[key] = {name: values[position] for name, values in columns.items()}
        return rows


# Bytes per vector component of the fixed-width vector types, for the first page's size.
_COMPONENT_BYTES = {"FLOAT_VECTOR": 4, "FLOAT16_VECTOR": 2, "BFLOAT16_VECTOR": 2, "INT8_VECTOR": 1}
_VARIABLE_GUESS = 256  # bytes of a variable-length value before a page has been read


def _row_bytes(spec: TargetSpec, output: list[str]) -> int:
    """Bytes a row of `output` may weigh, from the schema (variable lengths guessed): the first
    page is sized by it, so a high-dimensional collection's first answer stays near the batch
    size (later pages follow what rows really weigh)."""
    total = 0
    for info in spec.fields:
        if info.name not in output:
            continue
        dim = int(info.dim or 0)
        if info.dtype in _COMPONENT_BYTES:
            total += _COMPONENT_BYTES[info.dtype] * dim
        elif info.dtype == "BINARY_VECTOR":
            total += dim // 8
        elif info.dtype == "VARCHAR":
            total += min(int(info.max_length or _VARIABLE_GUESS), _VARIABLE_GUESS)
        elif info.dtype == "ARRAY":
            total += 8 * int(info.max_capacity or 16)
        elif info.dtype in ("JSON", "SPARSE_FLOAT_VECTOR"):
            total += _VARIABLE_GUESS
        else:
            total += 8
    if "$meta" in output:
        total += _VARIABLE_GUESS
    return max(total, 16)


def _ahead(pages: Iterator, stopping: threading.Event) -> Iterator:
    """The items of `pages`, fetched one ahead on a daemon thread; its error is raised here.
    Setting `stopping` ends the thread (the channel's running query is canceled by it too)."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    done = object()

    def fetch() -> None:
        try:
            for item in pages:
                if not _put(handoff, (item, None), stopping):
                    return
            _put(handoff, (done, None), stopping)
        except BaseException as error:  # handed to the consumer, raised there
            _put(handoff, (done, error), stopping)

    thread = threading.Thread(target=fetch, name="verify-pages", daemon=True)
    thread.start()
    while True:
        try:
            item, error = handoff.get(timeout=0.1)
        except queue.Empty:
            if (stopping.is_set() or not thread.is_alive()) and handoff.empty():
                raise CopyCanceled("reading stopped") from None
            continue
        if error is not None:
            raise error
        if item is done:
            return
        yield item


def _put(handoff: queue.Queue, item, stopping: threading.Event) -> bool:
    while not stopping.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def differing_ranges(
    src: MilvusClient,
    dst: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    options: Options,
    cancel: CancelFlag,
    copy_digests: dict | None = None,
) -> tuple[_Reading, list[tuple[str, Any, Any]]]:
    """The key ranges (stream, exclusive lower, inclusive upper) whose rows differ between the
    two sides, from one read of each, and the reader to read them again with. The ranges are
    the copy's (`copy_digests`), else from a scan of the source's keys. The clients are bound
    to the collections' databases."""
    streams = list(spec.copy_partitions) if spec.copy_partitions else [WHOLE_COLLECTION]
    output = list(spec.read_fields) + (
        ["$meta"] if spec.copy_dynamic and source.enable_dynamic_field else []
    )
    if copy_digests:
        copied = CopyDigests(saved=copy_digests)
        uppers = {stream: copied.sums(stream).uppers for stream in streams}
    else:
        uppers = _source_ranges(src, source.name, spec, streams, cancel, options.range_rows)
    reading = _Reading(src, dst, source.name, spec, output, options, cancel)
    left, right, _ = reading.both(streams, uppers)
    reading.stopping.clear()
    found = []
    for stream in streams:
        a, b = left.sums[stream], right.sums[stream]
        for index in range(len(a.rows)):
            if (a.rows[index], a.sums[index]) != (b.rows[index], b.sums[index]):
                found.append((stream, *a.bounds(index)))
    return reading, found


class SourceRead:
    """The source side of a verification read ahead, on its own thread: started once the copy
    is done, it runs while the target's indexes are built (on the other server) and `verify`
    then reads only the target. Its ranges are the copy's (`copy_digests`, required). `stop()`
    ends it (its query is canceled) when the migration stops before verifying."""

    def __init__(
        self,
        src: MilvusClient,
        source: CollectionInfo,
        spec: TargetSpec,
        copy_digests: dict,
        options: Options = DEFAULTS,
    ) -> None:
        streams = list(spec.copy_partitions) if spec.copy_partitions else [WHOLE_COLLECTION]
        copied = CopyDigests(saved=copy_digests)
        self.uppers = {stream: copied.sums(stream).uppers for stream in streams}
        output = list(spec.read_fields) + (
            ["$meta"] if spec.copy_dynamic and source.enable_dynamic_field else []
        )
        # The source client is bound to the source's database already (the copy's).
        self.reading = _Reading(src, src, source.name, spec, output, options, CancelFlag(None))
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="verify-source")
        self.future = self.pool.submit(self.reading.side, self.reading.src, streams, self.uppers)
        self.pool.shutdown(wait=False)

    def stop(self) -> None:
        self.reading.stopping.set()
