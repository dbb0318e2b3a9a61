"""Check a copied collection against its source and say, with figures, whether it is exact.

Checks: entity counts of the collection and of every copied partition (strong consistency),
duplicate primary keys on the target, a sample of rows compared field by field, keys found on
one side only, and whether the source changed since the migration started. `verified` is True
only when all of them pass.

Keys are read with the engine's own escaped key-range filters in keyset pages, like the copy
(reader.scan_keys) — never pymilvus' `query_iterator`, which breaks on VARCHAR keys holding `"`
or `\\`. One scan of each side's keys gives its distinct key count (a Milvus query answers each
key once while `count(*)` counts every stored row, so the difference is the duplicates) and a
reservoir sample drawn uniformly over its whole key range. The two samples are compared row by
row on both sides, so a key present on one side only is reported whichever side holds it.

Server quirks this relies on (see DESIGN §9):
- Milvus Lite's `count(*)` ignores `partition_names`: a partition is counted there by scanning
  its primary keys.
- Milvus Lite answers slowly until freshly inserted rows are flushed: finalize flushes first.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import on_database, server_kind
from .errors import CopyCanceled, CopyError, VerifyError
from .filters import pk_in_filter, pk_literal
from .model import CollectionInfo, TargetSpec, VerifyReport
from .options import DEFAULTS, SILENT, Observer, Options
from .reader import scan_keys
from .rpc import CancelFlag, RpcChannel, wait_for

FETCH_CHUNK = 100  # keys per "pk in [...]" query
FLOAT_TOLERANCE = 1e-6
MAX_SHOWN = 80  # characters of a value quoted in a mismatch


def verify(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    *,
    source_count_at_start: int | None = None,
    copied_rows: int | None = None,
    seed: int | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> VerifyReport:
    """Compare target collection `spec` with `source`; both must be loaded.

    `source_count_at_start` (the source's exact count before the copy) lets the report say when
    the source was written to during the migration. `options.sample_rows` keys are sampled on
    each side (`seed` makes the sample repeatable). `observer.should_cancel` is asked between
    pages and while
    waiting: CopyCanceled within about a second. Raises VerifyError when a check cannot run.
    """
    started = time.monotonic()
    cancel = CancelFlag(observer.should_cancel)
    sample_rows = options.sample_rows
    source_kind, _ = server_kind(source_client)
    target_kind, _ = server_kind(target_client)
    label_source = f"{source.db}.{source.name}"
    label_target = f"{spec.db}.{spec.name}"
    mismatches: list[str] = []
    messages: list[str] = []
    partitions: dict[str, dict[str, int]] = {}
    pk, varchar = spec.primary_field, spec.pk_is_varchar

    with on_database(source_client, source.db) as src, on_database(target_client, spec.db) as dst:
        src_end = RpcChannel(src, "source", cancel, options)
        dst_end = RpcChannel(dst, "target", cancel, options)

        def count(end: RpcChannel, name: str, partition: str | None, lite: bool) -> int:
            if cancel():
                raise CopyCanceled(f"verification of {label_target} canceled")
            return count_rows(
                end.client,
                name,
                pk=pk,
                pk_is_varchar=varchar,
                partition=partition,
                lite=lite,
                channel=end,
                should_cancel=cancel,
            )

        source_count = count(src_end, source.name, None, source_kind == "milvus_lite")
        target_count = count(dst_end, spec.name, None, target_kind == "milvus_lite")
        if source_count != target_count:
            mismatches.append(f"entity count differs: source {source_count}, target {target_count}")
        if source_count_at_start is not None and source_count_at_start != source_count:
            messages.append(
                f"writes happened during the migration: the source had {source_count_at_start} "
                f"rows at the start and {source_count} at the end"
            )
        if copied_rows is not None and copied_rows != source_count:
            messages.append(f"the copy wrote {copied_rows} rows; the source has {source_count}")

        for partition in spec.copy_partitions or []:
            in_source = count(src_end, source.name, partition, source_kind == "milvus_lite")
            in_target = count(dst_end, spec.name, partition, target_kind == "milvus_lite")
            partitions[partition] = {"source": in_source, "target": in_target}
            if in_source != in_target:
                mismatches.append(
                    f"partition {partition}: source {in_source} rows, target {in_target}"
                )

        rng = random.Random(seed)
        _, source_sample = sample_keys(src_end, source.name, pk, varchar, sample_rows, rng)
        distinct, target_sample = sample_keys(dst_end, spec.name, pk, varchar, sample_rows, rng)
        duplicates = max(0, target_count - distinct)
        if duplicates:
            mismatches.append(
                f"{duplicates} duplicate primary keys on the target ({target_count} rows, "
                f"{distinct} distinct keys)"
            )
        keys = list(dict.fromkeys([*source_sample, *target_sample]))

        fields = list(spec.read_fields)
        differences = compare_rows(src, dst, source, spec, keys, fields, cancel=cancel)
        mismatches.extend(differences)

    return VerifyReport(
        source=label_source,
        target=label_target,
        verified=not mismatches,
        source_count=source_count,
        target_count=target_count,
        source_count_at_start=source_count_at_start,
        partitions=partitions,
        sampled_rows=len(keys),
        duplicate_keys=duplicates,
        mismatches=mismatches,
        messages=messages,
        copied_rows=copied_rows,
        seconds=round(time.monotonic() - started, 3),
    )


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


def sample_keys(
    channel: RpcChannel,
    collection: str,
    pk: str,
    pk_is_varchar: bool,
    sample_rows: int,
    rng: random.Random,
) -> tuple[int, list[Any]]:
    """(distinct primary keys, a uniform sample of up to `sample_rows` of them, in key order)
    from one scan of the collection's keys: every key has the same chance to be picked."""
    distinct = 0
    sample: list[Any] = []
    try:
        for keys in scan_keys(channel, collection, pk, pk_is_varchar):
            for key in keys:
                distinct += 1
                # Reservoir sampling over the whole key range.
                if len(sample) < sample_rows:
                    sample.append(key)
                else:
                    slot = rng.randrange(distinct)
                    if slot < sample_rows:
                        sample[slot] = key
    except CopyError as exc:
        raise VerifyError(
            f"cannot read the keys of the {channel.role} collection {collection}: {exc.message}"
        ) from None
    return distinct, sorted(sample)


def compare_rows(
    src: MilvusClient,
    dst: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    keys: list[Any],
    fields: list[str],
    *,
    cancel: Callable[[], bool] | None = None,
) -> list[str]:
    """Field-by-field differences between the source and target rows with these keys, and the
    keys found on one side only."""
    pk = spec.primary_field
    output = [f for f in fields]
    if spec.copy_dynamic:
        output.append("$meta")
    schema_names = {f.name for f in source.fields} | {f.name for f in spec.fields}
    differences: list[str] = []
    for chunk in _chunks(keys, FETCH_CHUNK):
        if cancel is not None and cancel():
            raise CopyCanceled(f"verification of {spec.db}.{spec.name} canceled")
        expr = pk_in_filter(pk, chunk, spec.pk_is_varchar)
        what = f"reading sample rows of {spec.db}.{spec.name}"
        try:
            left = {
                r[pk]: r
                for r in wait_for(
                    lambda e=expr: src.query(
                        source.name, filter=e, output_fields=output, consistency_level="Strong"
                    ),
                    cancel,
                    what,
                )
            }
            right = {
                r[pk]: r
                for r in wait_for(
                    lambda e=expr: dst.query(
                        spec.name, filter=e, output_fields=output, consistency_level="Strong"
                    ),
                    cancel,
                    what,
                )
            }
        except MilvusException as exc:
            raise VerifyError(f"cannot read sample rows: {exc.message}") from None
        for key in chunk:
            shown = pk_literal(key, spec.pk_is_varchar)
            if key not in left and key not in right:
                continue  # deleted since it was sampled; the counts tell the rest
            if key not in right:
                differences.append(f"row {pk}={shown} is missing on the target")
                continue
            if key not in left:
                differences.append(f"row {pk}={shown} is on the target but not on the source")
                continue
            a, b = left[key], right[key]
            for name in fields:
                if not same(a.get(name), b.get(name)):
                    differences.append(
                        f"row {pk}={shown}: field {name} differs (source {_show(a.get(name))}, "
                        f"target {_show(b.get(name))})"
                    )
            if spec.copy_dynamic:
                dyn_a = {k: v for k, v in a.items() if k not in schema_names}
                dyn_b = {k: v for k, v in b.items() if k not in schema_names}
                if not same(dyn_a, dyn_b):
                    differences.append(
                        f"row {pk}={shown}: dynamic fields differ (source {_show(dyn_a)}, "
                        f"target {_show(dyn_b)})"
                    )
    return differences


def same(a: Any, b: Any) -> bool:
    """Equal values, floats within FLOAT_TOLERANCE (relative), containers compared deeply.

    Handles what pymilvus returns: lists/numpy arrays (vectors, arrays), dicts (JSON, sparse
    vectors), bytes (binary and half-precision vectors), None (nulls).
    """
    a, b = _plain(a), _plain(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(a, dict) and isinstance(b, dict):
        if set(map(_key, a)) != set(map(_key, b)):
            return False
        right = {_key(k): v for k, v in b.items()}
        return all(same(v, right[_key(k)]) for k, v in a.items())
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, bytes | str):
        return value.tolist()
    return value


def _key(key: Any) -> Any:
    # Sparse vectors may come back with int or str indices depending on the path.
    return str(key)


def _show(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
