"""Key-range shards: one collection copied as K key ranges, each by its own run.

A large collection is cut into K ranges of about equal row counts at quantiles of a keys-only
scan of the source, in the primary-key order the copy reads in (INT64 numerically, VARCHAR as
the server compares strings). Range i holds the keys in (uppers[i-1], uppers[i]]: the first
one everything up to uppers[0], the last one everything after uppers[-1]. Each range is copied
by copy_collection with the range in its CopyScope, with its own checkpoint, write intent and
digests; `merge_digests` joins the ranges' digests into those one copy of the whole collection
would have kept (closed ranges in key order), so the final verification reads the source into
the same ranges and tells a source that changed since the copy as it does unsharded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pymilvus import MilvusClient

from .digest import CopyDigests
from .errors import CopyError
from .reader import scan_keys
from .rpc import CancelFlag, RpcChannel


@dataclass(frozen=True)
class KeyRange:
    """Keys after `after` (exclusive) up to `upto` (inclusive); None: unbounded that side."""

    after: int | str | None
    upto: int | str | None

    def to_dict(self) -> dict:
        return {"after": self.after, "upto": self.upto}

    @classmethod
    def from_dict(cls, data: dict) -> KeyRange:
        return cls(after=data.get("after"), upto=data.get("upto"))


def shard_count(rows: int, shard_rows: int, max_shards: int) -> int:
    """How many ranges a collection of `rows` rows is copied as: one per `shard_rows` rows
    (rounded up), at most `max_shards`, at least 1."""
    if shard_rows <= 0:
        raise ValueError(f"shard_rows must be positive, got {shard_rows}")
    if max_shards < 1:
        raise ValueError(f"max_shards must be at least 1, got {max_shards}")
    return max(1, min(max_shards, math.ceil(rows / shard_rows)))


def split_uppers(
    client: MilvusClient,
    collection: str,
    pk_field: str,
    pk_is_varchar: bool,
    *,
    rows: int,
    shards: int,
    cancel: CancelFlag | None = None,
) -> list[Any]:
    """The upper keys cutting `collection` (the client bound to its database) into `shards`
    ranges of about `rows / shards` rows each: the keys at positions rows·i/shards of a
    keys-only scan, i = 1 … shards-1. Fewer when the scan finds fewer keys than `rows` (the
    source shrank since it was counted); no range is empty as the keys were scanned."""
    if shards <= 1 or rows <= 1:
        return []
    positions = sorted({max(1, (rows * i) // shards) for i in range(1, shards)})
    channel = RpcChannel(client, "source", cancel)
    uppers: list[Any] = []
    seen = 0
    last = None
    wanted = iter(positions)
    target = next(wanted, None)
    for keys in scan_keys(channel, collection, pk_field, pk_is_varchar):
        while target is not None and seen + len(keys) >= target:
            uppers.append(keys[target - seen - 1])
            target = next(wanted, None)
        seen += len(keys)
        last = keys[-1]
        if target is None:
            break
    if target is not None and uppers and uppers[-1] == last:
        uppers.pop()  # the scan ended at it: the range after it would be empty
    return uppers


def ranges_of(uppers: list[Any]) -> list[KeyRange]:
    """The len(uppers)+1 ranges the upper keys cut the key space into."""
    bounds = [None, *uppers, None]
    return [KeyRange(after=bounds[i], upto=bounds[i + 1]) for i in range(len(uppers) + 1)]


def merge_digests(parts: list[tuple[KeyRange, dict | None]]) -> dict | None:
    """The digests of the whole collection from each range's (in key order): a range's open
    part is closed at its upper key, the last range's stays open. None when any range has
    none (a resume from a checkpoint without digests): the verification then reads both
    sides."""
    if not parts:
        return None
    if any(digests is None for _, digests in parts):
        return None
    range_rows = CopyDigests(saved=parts[0][1]).range_rows
    streams: dict[str, dict] = {}
    names: list[str] = []
    for _, digests in parts:
        for name in (digests or {}).get("streams") or {}:
            if name not in names:
                names.append(name)
    for name in names:
        closed: list[list] = []
        open_part = [0, "0"]
        for index, (key_range, digests) in enumerate(parts):
            state = ((digests or {}).get("streams") or {}).get(name)
            if state is None:
                state = {"closed": [], "open": [0, "0"]}
            part_closed = [list(item) for item in state.get("closed", [])]
            if closed and part_closed and not part_closed[0][0] > closed[-1][0]:
                raise CopyError("the key ranges' digests overlap: they cannot be merged")
            closed += part_closed
            rows, digest = state.get("open", [0, "0"])
            last = index == len(parts) - 1
            if last:
                open_part = [rows, digest]
            elif rows:
                closed.append([key_range.upto, rows, digest])
        streams[name] = {"closed": closed, "open": open_part}
    return {"range_rows": range_rows, "streams": streams}
