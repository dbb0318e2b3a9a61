"""The checkpoint of a copy: what has been written, as a JSON-safe dict a caller keeps.

{"version": 1, "partitions": {stream: last key written or None}, "done_partitions": [...],
 "rows": n, "bytes": n, "partition_rows": {stream: n}, "digests": {...}} — a stream is a partition
name, or "*" for a collection read whole; "digests" are the per-key-range digests of the rows
written (digest.CopyDigests), None when a resumed checkpoint came without them. Every row up to a stream's key is in the target; rows past it may
be too (a run that died after writing), which is why copy.py rewrites that range by upsert.
"""

from __future__ import annotations

from dataclasses import dataclass

from .digest import DEFAULT_RANGE_ROWS, CopyDigests
from .errors import CopyError
from .reader import WHOLE_COLLECTION, Page

CHECKPOINT_VERSION = 1


def initial_checkpoint() -> dict:
    """The checkpoint of a copy that has written nothing yet (reported when the target is
    created): resuming from it is exact even when a run wrote batches before it saved any
    checkpoint of its own."""
    return CopyState.start([WHOLE_COLLECTION], None).checkpoint()


@dataclass
class CopyState:
    """What has been written: the source of every checkpoint."""

    streams: list[str]
    last_pk: dict[str, int | str | None]
    done: list[str]
    rows: int
    bytes: int
    partition_rows: dict[str, int]
    digests: CopyDigests | None = None

    @classmethod
    def start(
        cls, streams: list[str], checkpoint: dict | None, range_rows: int = DEFAULT_RANGE_ROWS
    ) -> CopyState:
        if checkpoint is None:
            return cls(
                streams=streams,
                last_pk={},
                done=[],
                rows=0,
                bytes=0,
                partition_rows={},
                digests=CopyDigests(range_rows),
            )
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
            digests=_digests_of(checkpoint, rows, range_rows),
        )

    def advance(self, page: Page) -> None:
        self.last_pk[page.stream] = page.last_pk
        self.rows += page.rows
        self.bytes += page.bytes
        self.partition_rows[page.stream] = self.partition_rows.get(page.stream, 0) + page.rows
        if self.digests is not None:
            self.digests.add_page(page.stream, page.last_pk, page.rows, page.digest)

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
            "digests": self.digests.to_dict() if self.digests is not None else None,
        }


def _digests_of(checkpoint: dict, rows: int, range_rows: int) -> CopyDigests | None:
    """The digests a checkpoint carries; a fresh set for one of 0 rows; None when rows were
    written by a copy that did not keep digests (the verification then reads both sides)."""
    saved = checkpoint.get("digests")
    if saved is not None:
        return CopyDigests(saved=saved)
    return CopyDigests(range_rows) if rows == 0 else None
