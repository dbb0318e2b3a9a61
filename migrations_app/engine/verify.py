"""Check a copied collection against its source and say, with figures, whether it is exact.

Checks: entity counts of the collection and of every copied partition (strong consistency),
duplicate primary keys on the target, a sample of rows compared field by field, and whether the
source changed since the migration started. `verified` is True only when all of them pass.

Server quirks this relies on (see DESIGN §9):
- Milvus Lite's `count(*)` ignores `partition_names`: a partition is counted there by iterating
  its primary keys.
- Milvus Lite keeps one row per primary key (an insert of an existing key replaces the row), so
  the target cannot hold duplicates and no key scan is made: the sample is the first keys the
  source returns in each copied partition. On Milvus servers duplicates are counted by iterating
  the target's keys (a query answers each key once, `count(*)` counts every stored row), and
  the sample is drawn uniformly from that same scan.
- Milvus Lite answers slowly until freshly inserted rows are flushed: finalize flushes first.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable
from typing import Any

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from .connect import on_database, server_kind
from .filters import pk_after_filter, pk_literal
from .errors import VerifyError
from .model import CollectionInfo, TargetSpec, VerifyReport

DEFAULT_SAMPLE_ROWS = 100
ITERATOR_BATCH = 16_384
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
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    copied_rows: int | None = None,
    seed: int | None = None,
) -> VerifyReport:
    """Compare target collection `spec` with `source`; both must be loaded.

    `source_count_at_start` (the source's exact count before the copy) lets the report say when
    the source was written to during the migration. Raises VerifyError when a check cannot run.
    """
    started = time.monotonic()
    source_kind, _ = server_kind(source_client)
    target_kind, _ = server_kind(target_client)
    label_source = f"{source.db}.{source.name}"
    label_target = f"{spec.db}.{spec.name}"
    mismatches: list[str] = []
    messages: list[str] = []
    partitions: dict[str, dict[str, int]] = {}
    pk = spec.primary_field

    with on_database(source_client, source.db) as src, on_database(target_client, spec.db) as dst:
        source_count = count_rows(src, source.name, pk=pk, lite=source_kind == "milvus_lite")
        target_count = count_rows(dst, spec.name, pk=pk, lite=target_kind == "milvus_lite")
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
            in_source = count_rows(
                src, source.name, pk=pk, partition=partition, lite=source_kind == "milvus_lite"
            )
            in_target = count_rows(
                dst, spec.name, pk=pk, partition=partition, lite=target_kind == "milvus_lite"
            )
            partitions[partition] = {"source": in_source, "target": in_target}
            if in_source != in_target:
                mismatches.append(
                    f"partition {partition}: source {in_source} rows, target {in_target}"
                )

        rng = random.Random(seed)
        if target_kind == "milvus_lite":
            duplicates = 0
            keys = sample_keys(
                src, source.name, pk, spec.pk_is_varchar, sample_rows, spec.copy_partitions
            )
        else:
            distinct, keys = scan_keys(dst, spec.name, pk, sample_rows, rng)
            duplicates = max(0, target_count - distinct)
            if duplicates:
                mismatches.append(
                    f"{duplicates} duplicate primary keys on the target ({target_count} rows, "
                    f"{distinct} distinct keys)"
                )

        fields = list(spec.read_fields)
        differences = compare_rows(src, dst, source, spec, keys, fields)
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
    partition: str | None = None,
    lite: bool = False,
) -> int:
    """Exact number of rows (strong consistency), of one partition when `partition` is given."""
    try:
        if partition is not None and lite:
            # Lite's count(*) would answer for the whole collection: count the keys instead.
            return sum(len(batch) for batch in _iterate(client, collection, pk, [partition]))
        answer = client.query(
            collection,
            filter="",
            output_fields=["count(*)"],
            partition_names=[partition] if partition else None,
            consistency_level="Strong",
        )
    except MilvusException as exc:
        where = f"{collection}" + (f" partition {partition}" if partition else "")
        raise VerifyError(f"cannot count the rows of {where}: {exc.message}") from None
    return int(answer[0]["count(*)"])


def _iterate(client: MilvusClient, collection: str, pk: str, partitions: list[str] | None):
    iterator = client.query_iterator(
        collection,
        batch_size=ITERATOR_BATCH,
        filter="",
        output_fields=[pk],
        partition_names=partitions,
    )
    try:
        while True:
            batch = iterator.next()
            if not batch:
                return
            yield batch
    finally:
        iterator.close()


def scan_keys(
    client: MilvusClient, collection: str, pk: str, sample_rows: int, rng: random.Random
) -> tuple[int, list[Any]]:
    """(distinct primary keys, a uniform sample of `sample_rows` of them) in one key scan."""
    distinct = 0
    sample: list[Any] = []
    try:
        for batch in _iterate(client, collection, pk, None):
            for row in batch:
                distinct += 1
                key = row[pk]
                # Reservoir sampling: every key has the same chance to be compared.
                if len(sample) < sample_rows:
                    sample.append(key)
                else:
                    slot = rng.randrange(distinct)
                    if slot < sample_rows:
                        sample[slot] = key
    except MilvusException as exc:
        raise VerifyError(f"cannot read the keys of {collection}: {exc.message}") from None
    return distinct, sample


def sample_keys(
    client: MilvusClient,
    collection: str,
    pk: str,
    pk_is_varchar: bool,
    sample_rows: int,
    partitions: list[str] | None = None,
) -> list[Any]:
    """Up to `sample_rows` primary keys of the collection, shared among `partitions` if given.

    The keys are the first ones the server returns (no scan): the cheap sample used where the
    target cannot hold duplicates, so no key scan is made anyway. Per-partition shares make
    every copied partition part of the comparison.
    """
    if sample_rows <= 0:
        return []
    groups: list[list[str] | None] = [[p] for p in partitions] if partitions else [None]
    share = max(1, sample_rows // len(groups))
    keys: list[Any] = []
    for group in groups:
        try:
            rows = client.query(
                collection,
                filter=pk_after_filter(pk, None, pk_is_varchar),
                output_fields=[pk],
                limit=share,
                partition_names=group,
                consistency_level="Strong",
            )
        except MilvusException as exc:
            raise VerifyError(f"cannot sample the keys of {collection}: {exc.message}") from None
        keys.extend(row[pk] for row in rows)
    return keys[: max(sample_rows, len(groups))]


def compare_rows(
    src: MilvusClient,
    dst: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    keys: list[Any],
    fields: list[str],
) -> list[str]:
    """Field-by-field differences between the source and target rows with these keys."""
    pk = spec.primary_field
    output = [f for f in fields]
    if spec.copy_dynamic:
        output.append("$meta")
    schema_names = {f.name for f in source.fields} | {f.name for f in spec.fields}
    differences: list[str] = []
    for chunk in _chunks(keys, FETCH_CHUNK):
        expr = f"{pk} in [{', '.join(pk_literal(k, spec.pk_is_varchar) for k in chunk)}]"
        try:
            left = {
                r[pk]: r
                for r in src.query(
                    source.name, filter=expr, output_fields=output, consistency_level="Strong"
                )
            }
            right = {
                r[pk]: r
                for r in dst.query(
                    spec.name, filter=expr, output_fields=output, consistency_level="Strong"
                )
            }
        except MilvusException as exc:
            raise VerifyError(f"cannot read sample rows: {exc.message}") from None
        for key in chunk:
            shown = pk_literal(key, spec.pk_is_varchar)
            if key not in left:
                continue  # deleted from the source since it was sampled; counts tell the rest
            if key not in right:
                differences.append(f"row {pk}={shown} is missing on the target")
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
