"""Digests of a collection's rows: one strong hash per row, summed per primary-key range.

A row's hash is BLAKE2b (128 bits) over a canonical encoding of everything the row holds: the
stream it was read from (its partition, or "*" for a collection read whole), then every field
in name order — its name, its type and its value, with nulls marked. Values are encoded bit for
bit: integers and floats in their stored width (a float32 that moved by one ulp changes the
hash), vectors as their raw bytes, sparse vectors as the server's own encoding, arrays as their
protobuf message, JSON (and the dynamic field `$meta`) parsed and written again with sorted keys,
so two servers that spell the same document differently still agree.

Rows are hashed straight from the query answer's columnar `FieldData` (what the copy moves), never
turned into Python dicts, so the copy can digest its pages as it goes and a verification reads
each side once at copy speed.

Ranges. A stream's rows are cut into ranges by primary key: range i holds the keys in
(upper[i-1], upper[i]], the last one everything after the last upper bound. A range's digest is
its row count and the sum of its rows' hashes modulo 2**128: independent of the order rows
arrive in, and a row counted twice or missing changes it. The copy closes a range at the end of
the first page that brings it to `range_rows` rows, so the source's upper bounds are known when
the verification starts and both sides are read into the same ranges.
"""

from __future__ import annotations

import bisect
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from itertools import repeat
from typing import Any

from .errors import VerifyError

HASH_BYTES = 16
MODULUS = 1 << (8 * HASH_BYTES)
DEFAULT_RANGE_ROWS = 10_000  # rows per key range (about 100 bytes of checkpoint each)
NULL = b"\xff"
PRESENT = b"\x00"

_INT64 = struct.Struct("<q")
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")
_LENGTH = struct.Struct("<I")
# Bytes per vector component of each fixed-width vector type (binary: bits, see _vector_column).
_VECTOR_WIDTH = {"float_vector": 4, "float16_vector": 2, "bfloat16_vector": 2, "int8_vector": 1}
# Built once: json.dumps/json.loads with non-default arguments build a new coder every call.
_JSON_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_JSON_DECODER = json.JSONDecoder()


def row_hashes(
    fields_data: Iterable, rows: int, stream: str, fields: Iterable[str] | None = None
) -> list[int]:
    """The hash of each of the `rows` rows of a query answer's `fields_data`, as integers;
    only the columns named in `fields` when given (a server may answer more than was asked,
    e.g. the dynamic field of a collection whose copy leaves it out).

    A row's bytes are one join of its fields' encodings (the constant name/type tags placed
    between the values column by column) hashed in one call: the per-row Python work is a
    tuple and a hash, whatever the number of fields."""
    wanted = set(fields) if fields is not None else None
    columns = sorted(
        (data for data in fields_data if wanted is None or data.field_name in wanted),
        key=lambda data: data.field_name,
    )
    # Each row is: head, then for each column its tag followed by the row's value.
    parts: list[Iterable] = []
    constant = stream.encode() + b"\x00"
    for data in columns:
        tag, values = column_parts(data, rows)
        parts += [repeat(constant + tag), values]
        constant = b""
    if not parts:
        return [_hash_int(blake2b(constant, digest_size=HASH_BYTES).digest())] * rows
    join, from_bytes = b"".join, int.from_bytes
    return [
        from_bytes(blake2b(join(row), digest_size=HASH_BYTES).digest(), "little")
        for row in zip(*parts, strict=False)  # tags repeat; every column holds `rows` values
    ]


def _hash_int(digest: bytes) -> int:
    return int.from_bytes(digest, "little")


def encode_column(data, rows: int) -> list[bytes]:
    """Each row's encoding of one field: name, type, then the value (or NULL)."""
    tag, values = column_parts(data, rows)
    return [tag + bytes(value) for value in values]


def column_parts(data, rows: int) -> tuple[bytes, list]:
    """One field's encoding split in two: the tag every row starts with (name, type and, for a
    column without nulls, the presence mark) and each row's rest (bytes-like)."""
    tag = data.field_name.encode() + b"\x00" + _INT64.pack(int(data.type))
    kind = data.WhichOneof("field")
    if kind == "scalars":
        values = _scalar_column(data.scalars, data.field_name)
    elif kind == "vectors":
        values = _vector_column(data.vectors, data.field_name, rows)
    else:
        raise VerifyError(f"cannot digest field {data.field_name!r}: the answer holds no values")
    valid = list(data.valid_data)
    if valid and len(valid) == rows:
        if len(values) == rows:  # a placeholder value is stored for each null
            return tag, [
                PRESENT + bytes(v) if ok else NULL for v, ok in zip(values, valid, strict=True)
            ]
        compact = iter(values)  # values of the valid rows only
        return tag, [PRESENT + bytes(next(compact)) if ok else NULL for ok in valid]
    if len(values) != rows:
        raise VerifyError(
            f"cannot digest field {data.field_name!r}: {len(values)} values for {rows} rows"
        )
    return tag + PRESENT, values


def _sized(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value


def _scalar_column(scalars, name: str) -> list[bytes]:
    kind = scalars.WhichOneof("data")
    if kind is None:
        return []
    values = getattr(scalars, kind).data
    if kind == "bool_data":
        return [b"\x01" if v else b"\x00" for v in values]
    if kind in ("int_data", "long_data"):
        pack = _INT64.pack
        return [pack(v) for v in values]
    if kind == "float_data":
        pack = _FLOAT.pack
        return [pack(v) for v in values]
    if kind == "double_data":
        pack = _DOUBLE.pack
        return [pack(v) for v in values]
    if kind == "string_data":
        return [_sized(v.encode()) for v in values]
    if kind == "json_data":
        return [_sized(canonical_json(v)) for v in values]
    if kind == "array_data":
        return [_sized(v.SerializeToString(deterministic=True)) for v in values]
    if kind == "bytes_data":
        return [_sized(bytes(v)) for v in values]
    raise VerifyError(f"cannot digest field {name!r} of kind {kind}")


def canonical_json(raw: bytes) -> bytes:
    """The same document always as the same bytes: keys sorted, no spaces."""
    if not raw:
        return b""
    try:
        document = _JSON_DECODER.decode(raw.decode("utf-8"))
    except ValueError:  # not plain UTF-8 JSON: json.loads detects a BOM, UTF-16/32
        try:
            document = json.loads(raw)
        except ValueError:
            return bytes(raw)  # not JSON (never expected): compare as it is
    return _JSON_ENCODER.encode(document).encode()


def _vector_column(vectors, name: str, rows: int) -> list[bytes]:
    kind = vectors.WhichOneof("data")
    if kind is None:
        return []
    if kind == "sparse_float_vector":
        return [_sized(bytes(v)) for v in vectors.sparse_float_vector.contents]
    dim = int(vectors.dim)
    if kind == "float_vector":
        raw = _packed_bytes(vectors.float_vector)
    elif kind == "binary_vector":
        raw = vectors.binary_vector
    else:
        raw = getattr(vectors, kind)
    if kind not in _VECTOR_WIDTH and kind != "binary_vector":
        raise VerifyError(f"cannot digest vector field {name!r} of kind {kind}")
    width = dim // 8 if kind == "binary_vector" else dim * _VECTOR_WIDTH[kind]
    if width <= 0 or len(raw) % width:
        raise VerifyError(f"cannot digest vector field {name!r}: {len(raw)} bytes, dim {dim}")
    view = memoryview(raw)  # slices of it are joined into each row's bytes without a copy
    return [view[start : start + width] for start in range(0, len(raw), width)]


def _packed_bytes(float_array) -> bytes:
    """The float32 components of a FloatArray bit for bit: its serialised packed field without
    the tag and length (much faster than reading the floats one by one)."""
    encoded = float_array.SerializeToString()
    if not encoded:
        return b""
    position = 1  # the tag of field 1, length-delimited
    while encoded[position] & 0x80:
        position += 1
    return encoded[position + 1 :]


@dataclass
class RangeSums:
    """Row counts and hash sums of one stream's ranges: `rows[i]`, `sums[i]` for range i of
    `uppers` (len(uppers) + 1 ranges, the last one open-ended)."""

    uppers: list[Any]
    rows: list[int] = field(default_factory=list)
    sums: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = [0] * (len(self.uppers) + 1)
            self.sums = [0] * (len(self.uppers) + 1)

    def add(self, keys: list, hashes: list[int]) -> None:
        """Fold rows (keys in increasing order) into their ranges."""
        start = 0
        while start < len(keys):
            index = bisect.bisect_left(self.uppers, keys[start])
            end = (
                len(keys)
                if index == len(self.uppers)
                else bisect.bisect_right(keys, self.uppers[index], lo=start)
            )
            self.rows[index] += end - start
            self.sums[index] = (self.sums[index] + sum(hashes[start:end])) % MODULUS
            start = end

    def bounds(self, index: int) -> tuple[Any, Any]:
        """(exclusive lower, inclusive upper) keys of range `index`; None where unbounded."""
        lower = self.uppers[index - 1] if index > 0 else None
        upper = self.uppers[index] if index < len(self.uppers) else None
        return lower, upper


class CopyDigests:
    """The digests a copy computes of what it wrote, per stream, kept in its checkpoint:
    {"range_rows": n, "streams": {stream: {"closed": [[upper, rows, hex], ...],
    "open": [rows, hex]}}}. Ranges close at page ends, so a resumed copy goes on exactly."""

    def __init__(self, range_rows: int = DEFAULT_RANGE_ROWS, saved: dict | None = None) -> None:
        self.range_rows = int((saved or {}).get("range_rows", range_rows))
        self.streams: dict[str, dict] = {}
        for stream, state in ((saved or {}).get("streams") or {}).items():
            self.streams[stream] = {
                "closed": [list(item) for item in state.get("closed", [])],
                "open": list(state.get("open", [0, "0"])),
            }

    def add_page(self, stream: str, last_key: Any, rows: int, total: int) -> None:
        state = self.streams.setdefault(stream, {"closed": [], "open": [0, "0"]})
        count = state["open"][0] + rows
        digest = (int(state["open"][1], 16) + total) % MODULUS
        if count >= self.range_rows:
            state["closed"].append([last_key, count, f"{digest:x}"])
            state["open"] = [0, "0"]
        else:
            state["open"] = [count, f"{digest:x}"]

    def to_dict(self) -> dict:
        """A copy (a checkpoint keeps the digests of its moment, not of later pages)."""
        return {
            "range_rows": self.range_rows,
            "streams": {
                stream: {
                    "closed": [list(item) for item in state["closed"]],
                    "open": list(state["open"]),
                }
                for stream, state in self.streams.items()
            },
        }

    def sums(self, stream: str) -> RangeSums:
        """The stream's ranges as RangeSums (an unseen stream: one empty range)."""
        state = self.streams.get(stream, {"closed": [], "open": [0, "0"]})
        closed = state["closed"]
        return RangeSums(
            uppers=[item[0] for item in closed],
            rows=[item[1] for item in closed] + [state["open"][0]],
            sums=[int(item[2], 16) for item in closed] + [int(state["open"][1], 16)],
        )


def uppers_every(keys: Iterable[list], range_rows: int) -> list[Any]:
    """Upper bounds cutting keys (lists in increasing order) into ranges of `range_rows`."""
    uppers: list[Any] = []
    seen = 0
    for chunk in keys:
        for key in chunk:
            seen += 1
            if seen % range_rows == 0:
                uppers.append(key)
    return uppers
