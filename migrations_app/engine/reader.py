"""Reading a collection in primary-key order: pages sized in bytes and checked (readers.py hands
them over to the writers, read by one query at a time or several).

How it reads. Keyset paging: `pk > last` plus a limit, with the `iterator` query flag, which
makes both Milvus (2.3+) and Milvus Lite return a page sorted by primary key (without it Milvus
Lite returns an unordered page, and `pk > max` would skip rows). Offsets are never used: Milvus
caps offset + limit at 16,384. Every page is checked to continue strictly after the last key
(keys strictly increasing, the first one after the previous page's last); anything else stops
the read with a CopyError, because a copy that skipped or repeated keys would not be exact.

How pages are sized. In bytes: the limit is `budget / bytes per row`, where bytes per row
starts from the schema (vector dims, declared lengths) and then follows what pages really
weigh. The budget ramps up — the first page is 1/RAMP_UP_START of the batch, each next one at
most twice what the last one weighed — so the writer starts early and a wrong guess costs little. An answer the
server refuses for its size (Milvus' maxOutputSize, 100 MB by default) or larger than
MAX_REQUEST_BYTES is read again with half the limit, so no insert built from a page gets near
gRPC's 64 MB limit whatever the dimension.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pymilvus import DataType
from pymilvus.client.prepare import Prepare
from pymilvus.grpc_gen import common_pb2

from .errors import CopyError
from .filters import pk_range_filter
from .rpc import AnswerTooLarge, RpcChannel, StatusError

# A page whose encoded answer is larger than this is read again with a smaller limit, so the
# insert request built from it stays well under gRPC's 64 MB message limit.
MAX_REQUEST_BYTES = 48 * 1024 * 1024
# Milvus servers refuse a query whose offset + limit exceeds this (Milvus Lite has no cap, and
# each of its queries costs a scan of the collection, so larger pages are cheaper there).
SERVER_QUERY_WINDOW = 16_384
RAMP_UP_START = 16  # the first page's budget is the batch's budget divided by this
RAMP_UP_FACTOR = 2  # each page's budget is at most this many times the previous one's
# The stream name used when the whole collection is read without partition names; it is not
# a valid partition name, so it never clashes with one.
WHOLE_COLLECTION = "*"
KEY_PAGE_BYTES = 4 * 1024 * 1024  # key scans: pages of keys only
# Bytes per row assumed for a variable-length value before any page has been read.
_VARIABLE_GUESS = 256


@dataclass
class Page:
    stream: str
    fields_data: list
    rows: int
    bytes: int
    first_pk: int | str
    last_pk: int | str
    digest: int = 0  # the sum of its rows' hashes (digest.row_hashes), computed by the reader


@dataclass
class StreamDone:
    stream: str


def check_page_order(keys: list, previous: int | str | None, where: str) -> None:
    """CopyError unless `keys` increase strictly and the first one comes after `previous`."""
    if not keys:
        return
    if previous is not None and not keys[0] > previous:
        raise CopyError(
            f"reading {where}: the server answered key {keys[0]!r} after key {previous!r}; "
            "pages must continue in increasing key order, so the copy stopped"
        )
    for before, after in zip(keys, keys[1:]):  # noqa: B905 (deliberately offset by one)
        if not after > before:
            raise CopyError(
                f"reading {where}: the server answered key {after!r} after key {before!r} in "
                "one page; pages must come in increasing key order, so the copy stopped"
            )


def page_keys(fields_data, pk_field: str, pk_is_varchar: bool) -> list:
    for data in fields_data:
        if data.field_name == pk_field:
            if pk_is_varchar:
                return list(data.scalars.string_data.data)
            return list(data.scalars.long_data.data)
    raise CopyError(f"the answer has no primary key field {pk_field!r}")


class PageSizer:
    """The limit of each page: a byte budget that ramps up, over what rows weigh, capped by the
    server's query window once it is known."""

    def __init__(self, row_bytes: int, batch_bytes: int, max_rows: int | None = None) -> None:
        self.row_bytes = max(row_bytes, 1)
        self.batch_bytes = batch_bytes
        self.max_rows = max_rows
        self.budget = max(1, batch_bytes // RAMP_UP_START)
        self.window: int | None = None  # None: not known yet; 0: no cap

    def limit(self) -> int:
        limit = max(1, int(self.budget // self.row_bytes))
        if self.max_rows is not None:
            limit = min(limit, self.max_rows)
        return min(limit, self.window) if self.window else limit

    def accepted(self, rows: int, size: int, full: bool = True) -> None:
        """A page of `rows` weighing `size` bytes was read; `full`: as many rows as asked."""
        self.row_bytes = max(-(-size // rows), 1)  # rounded up
        if full:
            # Grow from what the page really weighed, not from the budget: a schema guess that
            # was too high would otherwise make the second page jump.
            self.budget = min(self.batch_bytes, size * RAMP_UP_FACTOR)

    def too_large(self, limit: int, where: str) -> None:
        """Make the next limit at most half of `limit`."""
        if limit <= 1:
            raise CopyError(f"reading {where}: a single row is larger than the server answers")
        self.budget = (limit // 2) * self.row_bytes


def query_page(
    channel: RpcChannel,
    what: str,
    collection: str,
    expr: str,
    output_fields: list[str],
    partition_names: list[str],
    limit: int,
):
    """One strongly consistent query of up to `limit` rows matching `expr`, sorted by primary
    key (the `iterator` flag), as the raw QueryResults answer (columnar FieldData)."""
    request = Prepare.query_request(
        collection,
        expr,
        output_fields,
        partition_names,
        use_default_consistency=False,
        consistency_level=common_pb2.Strong,
        limit=limit,
        iterator="True",
        # "True" lets Milvus answer a short page before the end of the data; with "False" a
        # short page means the end, which saves a query per partition.
        reduce_stop_for_best="False",
    )
    return channel.call(what, "Query", request)


def read_pages(
    channel: RpcChannel,
    sizer: PageSizer,
    *,
    collection: str,
    pk_field: str,
    pk_is_varchar: bool,
    output_fields: list[str],
    partition: str | None,
    after: int | str | None,
    upto: int | str | None = None,
) -> Iterator[tuple[object, list, int]]:
    """(answer, keys, size) of each page after key `after` (up to key `upto` included when
    given), in key order, checked."""
    where = f"{channel.role} collection {collection!r}" + (
        f" partition {partition!r}" if partition else ""
    )
    partition_names = [partition] if partition else []
    last = after
    while True:
        limit = sizer.limit()
        try:
            answer = query_page(
                channel,
                f"reading {where}",
                collection,
                pk_range_filter(pk_field, last, upto, pk_is_varchar),
                output_fields,
                partition_names,
                limit,
            )
        except AnswerTooLarge:
            sizer.too_large(limit, where)
            continue
        except StatusError as error:
            if sizer.window is None and limit > SERVER_QUERY_WINDOW and "window" in error.reason:
                sizer.window = SERVER_QUERY_WINDOW
                continue
            raise CopyError(f"reading {where} failed: {error.reason}") from error
        if sizer.window is None and limit > SERVER_QUERY_WINDOW:
            sizer.window = 0  # this server takes large pages: no cap
        keys = page_keys(answer.fields_data, pk_field, pk_is_varchar) if answer.fields_data else []
        if not keys:
            return
        size = answer.ByteSize()
        if size > MAX_REQUEST_BYTES and len(keys) > 1:
            sizer.too_large(limit, where)  # rows heavier than measured so far: read it again
            continue
        check_page_order(keys, last, where)
        sizer.accepted(len(keys), size, full=len(keys) >= limit)
        last = keys[-1]
        yield answer, keys, size
        if len(keys) < limit or (upto is not None and last == upto):
            return  # a short page is the end; so is the range's last key


def scan_keys(
    channel: RpcChannel,
    collection: str,
    pk_field: str,
    pk_is_varchar: bool,
    *,
    partition: str | None = None,
    after: int | str | None = None,
    upto: int | str | None = None,
) -> Iterator[list]:
    """Lists of keys after `after` (all when None) up to `upto` included (no end when None), in
    increasing order, strongly consistent."""
    sizer = PageSizer(row_bytes=64 if pk_is_varchar else 16, batch_bytes=KEY_PAGE_BYTES)
    sizer.budget = KEY_PAGE_BYTES  # keys are small: no ramp-up
    for _, keys, _ in read_pages(
        channel,
        sizer,
        collection=collection,
        pk_field=pk_field,
        pk_is_varchar=pk_is_varchar,
        output_fields=[pk_field],
        partition=partition,
        after=after,
        upto=upto,
    ):
        yield keys


def schema_row_bytes(schema: dict, read_fields: list[str], dynamic: bool) -> int:
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
