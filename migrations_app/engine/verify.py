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

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .carry import carried_properties, list_aliases
from .catalog import describe_collection
from .connect import on_database
from .digest import (
    CopyDigests,
    RangeSums,
    encode_column,
    row_hashes,
    uppers_every,
)
from .errors import CopyCanceled, CopyError, EngineError, VerifyError
from .filters import pk_literal
from .model import CollectionInfo, FieldInfo, TargetSpec, VerifyProgress, VerifyReport
from .options import DEFAULTS, SILENT, Observer, Options
from .reader import WHOLE_COLLECTION, PageSizer, read_pages, scan_keys
from .rpc import CancelFlag, RetryNotes, RpcChannel, wait_for

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
    seed: int | None = None,  # noqa: ARG001 - kept for callers of the sampling verification
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport:
    """Compare target collection `spec` with `source`, every row; both must be loaded.

    `copy_digests` (CopyResult.digests, or the checkpoint's "digests") are the digests of what
    the copy wrote: with them the key ranges are the copy's and a source that changed since is
    told apart; without them (Verify Again, an old checkpoint) the ranges come from a scan of the
    source's keys. `source_count_at_start` (the source's count before the copy) adds a note when
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
        mismatches += compare_collections(src, dst, source, spec)
        if source_read is not None:
            uppers = source_read.uppers
        elif copied is not None:
            uppers = {stream: copied.sums(stream).uppers for stream in streams}
        else:
            uppers = _source_ranges(src, source.name, spec, streams, cancel, options.range_rows)
        reading = _Reading(src, dst, source.name, spec, output, options, cancel, notes)
        source_side, target_side = reading.both(streams, uppers, source_read, meter)
        source_count, distinct = source_side.rows, target_side.rows
        target_count = _count(dst, spec.name, cancel)

        if source_count != target_count:
            mismatches.append(f"entity count differs: source {source_count}, target {target_count}")
        duplicates = max(0, target_count - distinct)
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
        if to_narrow:
            changed_differing = sum(changed for _, _, changed in to_narrow)
            if changed_differing:
                mismatches.append(
                    "the source changed during the migration: "
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
                "the source changed during the migration, but the target holds the same rows "
                "as the source now"
            )
        if source_count_at_start is not None and source_count_at_start != source_count:
            messages.append(
                f"writes happened during the migration: the source had {source_count_at_start} "
                f"rows at the start and {source_count} at the end"
            )
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
        target = describe_collection(dst, spec.name)
        source = describe_collection(src, source.name)  # its properties as they are now
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
    source_aliases = set(list_aliases(src, source.name))
    target_aliases = set(list_aliases(dst, spec.name))
    for alias in sorted(source_aliases - target_aliases):
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


def _count(dst: MilvusClient, name: str, cancel) -> int:
    try:
        answer = wait_for(
            lambda: dst.query(
                name, filter="", output_fields=["count(*)"], consistency_level="Strong"
            ),
            cancel,
            f"counting the rows of {name}",
        )
    except (MilvusException, CopyError) as exc:
        raise VerifyError(
            f"cannot count the rows of {name}: {getattr(exc, 'message', exc)}"
        ) from None
    return int(answer[0]["count(*)"])


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
    ) -> tuple[_Side, _Side]:
        """Both sides' range sums, read at the same time; `ahead`: the source's, read ahead.
        `meter` hears the rows read on both sides while they read."""
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

            try:
                self._wait(futures, progress)
            finally:
                self.stopping.set()
            progress(force=True)
        return futures[0].result(), futures[1].result()

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
        sizer = PageSizer(row_bytes=256, batch_bytes=self.options.batch_bytes)
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
        side = _Side()
        for stream in streams:
            sums = side.sums[stream] = RangeSums(list(uppers.get(stream, [])))
            for answer, keys, _ in self.pages(channel, stream):
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


def differing_ranges(
    src: MilvusClient,
    dst: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    options: Options,
    cancel: CancelFlag,
) -> tuple[_Reading, list[tuple[str, Any, Any]]]:
    """The key ranges (stream, exclusive lower, inclusive upper) whose rows differ between the
    two sides, from one read of each (ranges from a scan of the source's keys), and the reader
    to read them again with. The clients are bound to the collections' databases."""
    streams = list(spec.copy_partitions) if spec.copy_partitions else [WHOLE_COLLECTION]
    output = list(spec.read_fields) + (
        ["$meta"] if spec.copy_dynamic and source.enable_dynamic_field else []
    )
    uppers = _source_ranges(src, source.name, spec, streams, cancel, options.range_rows)
    reading = _Reading(src, dst, source.name, spec, output, options, cancel)
    left, right = reading.both(streams, uppers)
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


def count_rows(
    client: MilvusClient,
    collection: str,
    *,
    pk: str,
    pk_is_varchar: bool = False,
    partition: str | None = None,
    lite: bool = False,
    channel: RpcChannel | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> int:
    """Exact number of rows (strong consistency), of one partition when `partition` is given.

    `channel` (the client's, with its cancel flag) reads the keys where they are counted;
    `should_cancel` is looked at while the count waits: CopyCanceled."""
    where = f"{collection}" + (f" partition {partition}" if partition else "")
    try:
        if partition is not None and lite:
            # Lite's count(*) would answer for the whole collection: count the keys instead.
            end = channel or RpcChannel(client, "server")
            return sum(
                len(keys)
                for keys in scan_keys(end, collection, pk, pk_is_varchar, partition=partition)
            )
        answer = wait_for(
            lambda: client.query(
                collection,
                filter="",
                output_fields=["count(*)"],
                partition_names=[partition] if partition else None,
                consistency_level="Strong",
            ),
            should_cancel,
            f"counting the rows of {where}",
        )
    except MilvusException as exc:
        raise VerifyError(f"cannot count the rows of {where}: {exc.message}") from None
    except CopyError as exc:
        raise VerifyError(f"cannot count the rows of {where}: {exc.message}") from None
    return int(answer[0]["count(*)"])
