"""Repair a copied collection: re-copy only the key ranges whose digests differ, then verify.

The ranges are found as a verification finds them (engine/verify.py: per-key-range digests of
both sides, every row); in each differing range the target's keys the source lacks are deleted
(by listed keys, never by a range filter: exact on every server) and every source row of the
range is upserted, so the range ends identical whatever was wrong in it (where the target has no Upsert, Milvus 2.2,
the range's source keys are deleted and inserted again: rewrite.py) (a missing, foreign,
duplicated or changed row). Then the collection is verified again: identical, or a report of
what still differs (the source being written to meanwhile, say).
"""

from __future__ import annotations

from dataclasses import dataclass

from pymilvus import MilvusClient

from .capabilities import capabilities
from .connect import on_database
from .errors import CopyCanceled, CopyError
from .model import CollectionInfo, TargetSpec, VerifyReport
from .options import DEFAULTS, SILENT, Observer, Options
from .reader import WHOLE_COLLECTION
from .rewrite import delete_keys, rewrite_request
from .rpc import CancelFlag, RpcChannel, StatusError
from .verify import differing_ranges, verify


@dataclass
class RepairResult:
    ranges: int  # differing key ranges re-copied
    upserted: int  # source rows written
    deleted: int  # target rows the source lacks, deleted
    report: VerifyReport  # the verification after the repair


def repair_collection(
    source_client: MilvusClient,
    target_client: MilvusClient,
    source: CollectionInfo,
    spec: TargetSpec,
    *,
    copy_digests: dict | None = None,
    options: Options = DEFAULTS,
    observer: Observer = SILENT,
) -> RepairResult:
    """Make target collection `spec` identical to `source` where their key ranges differ, then
    verify (with `copy_digests`, the migration's, the verification says whether the source
    changed since the migration). Both must be loaded. Writes nothing when nothing differs
    (`ranges` 0). Raises VerifyError when a side cannot be read, CopyError when a write fails,
    CopyCanceled when asked to stop."""
    cancel = CancelFlag(observer.should_cancel)
    upserted = deleted = 0
    with on_database(source_client, source.db) as src, on_database(target_client, spec.db) as dst:
        reading, stream_bounds = differing_ranges(
            src, dst, source, spec, options, cancel, copy_digests
        )
        target = RpcChannel(dst, "target", cancel, options)
        upsert = capabilities(dst).upsert
        for stream, lower, upper in stream_bounds:
            if cancel.now():
                raise CopyCanceled(f"repair of {spec.db}.{spec.name} canceled")
            partition = "" if stream == WHOLE_COLLECTION else stream
            source_keys: set = set()
            for answer, keys, _ in reading.pages(reading.src, stream, lower, upper):
                fields = [
                    data for data in answer.fields_data if data.field_name in set(reading.output)
                ]
                for data in fields:
                    data.ClearField("field_id")
                if not upsert:
                    _delete(target, spec, partition, list(keys))
                request = rewrite_request(spec.name, partition, fields, len(keys), upsert)
                _write(target, "Upsert" if upsert else "Insert", request, spec.name)
                source_keys.update(keys)
                upserted += len(keys)
            foreign = []
            for _, keys, _ in reading.pages(
                reading.dst, stream, lower, upper, fields=[spec.primary_field]
            ):
                foreign += [key for key in keys if key not in source_keys]
            if foreign:
                _delete(target, spec, partition, foreign)
                deleted += len(foreign)
        if stream_bounds:
            observer.on_note(
                f"repair: {len(stream_bounds)} differing key ranges re-copied ({upserted} rows "
                f"upserted, {deleted} rows the source lacks deleted)"
            )
            try:
                dst.flush(spec.name)
            except Exception as exc:  # noqa: BLE001 - a flush that fails only slows the reads
                observer.on_note(f"flush after the repair failed: {exc}")
    report = verify(
        source_client,
        target_client,
        source,
        spec,
        copy_digests=copy_digests,
        later=True,
        options=options,
        observer=observer,
    )
    return RepairResult(len(stream_bounds), upserted, deleted, report)


def _delete(channel: RpcChannel, spec: TargetSpec, partition: str, keys: list) -> None:
    try:
        delete_keys(
            channel,
            f"repairing target collection {spec.name!r}",
            spec.name,
            partition,
            keys,
            spec.primary_field,
            spec.pk_is_varchar,
        )
    except StatusError as error:
        raise CopyError(f"repairing {spec.name!r} failed: {error.reason}") from error


def _write(channel: RpcChannel, method: str, request, collection: str) -> None:
    try:
        channel.call(f"repairing target collection {collection!r}", method, request)
    except StatusError as error:
        raise CopyError(f"repairing {collection!r} failed: {error.reason}") from error
