"""Reading one stream with up to `Options.readers` queries at once, handed over in key order.

Why in key order. A copy's checkpoint says "every row of this stream up to this key is written"
and its write intent names one key past it (copy.py); both keep that meaning only if pages reach
the writers in key order. So K readers do not split a stream into K parts of its own, which
would need K checkpoints per stream: they read the next K chunks of the stream at the same
time, and a chunk is handed over once every chunk before it has been. Resume, write intents,
digests and the checkpoint format are the same as with one reader.

How chunks are found. A keys-only scan of the stream (reader.scan_keys: strongly consistent,
keys only, so about 1/30 of the bytes of 128-d rows) runs ahead on the reader's thread and cuts
the stream into chunks of about one batch: the keys after one key up to another, and how many
the scan saw. A chunk is read by keyset pages like any other read (reader.read_pages), asking
for as many rows as the scan saw, so one query reads it whole. A source that changed since the
scan is still read exactly: the read of a chunk ends only at the chunk's last key (rows
inserted meanwhile come in a further page; deleted ones are simply not there), and after the
last chunk the stream is read on past the scan's last key, as one reader would, for rows added
after the scan. The first page is read alone, at the full batch size, to learn the server's
query window and what rows really weigh, which size the chunks.

Where it pays. On a source whose queries are the slow side and that has cores to spare (a
Milvus cluster's query nodes): the K queries run at once there. On a 2-core box it measured no
faster (bench/writers.py --readers; bench/README.md). Milvus Lite answers one query at a time
and scans the collection for each, so there it only adds the key scan. Memory: up to K chunks
read ahead, each about one batch, on top of one reader's.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .digest import row_hashes
from .errors import CopyCanceled, CopyError
from .reader import (
    SERVER_QUERY_WINDOW,
    WHOLE_COLLECTION,
    Page,
    PageSizer,
    StreamDone,
    check_page_order,
    read_pages,
    scan_keys,
)
from .rpc import RpcChannel

# One page waiting is enough to keep the writers busy (the reader is the slower side, see
# bench/writers.py); each more costs a batch of RAM.
QUEUE_DEPTH = 1


@dataclass(frozen=True)
class Chunk:
    """The keys after `after` (None: from the start) up to `upto` included: `rows` of them
    when the scan saw them."""

    after: int | str | None
    upto: int | str
    rows: int


def chunks_of(key_lists: Iterable[list], after: int | str | None, rows: int) -> Iterator[Chunk]:
    """Consecutive chunks of `rows` keys (the last one may have fewer) of increasing `key_lists`
    that follow key `after`."""
    count, last = 0, None
    for keys in key_lists:
        taken = 0
        while taken < len(keys):
            step = min(rows - count, len(keys) - taken)
            taken += step
            count += step
            last = keys[taken - 1]
            if count == rows:
                yield Chunk(after, last, count)
                after, count = last, 0
    if count:
        yield Chunk(after, last, count)


def in_order(fetch: Callable[[Chunk], list], chunks: Iterable[Chunk], readers: int) -> Iterator:
    """`fetch(chunk)` on up to `readers` threads at once, one chunk each; the items of each
    result in chunk order. A failed fetch raises here when its turn comes; closing this
    generator leaves running fetches to their own cancel (see read_stream)."""
    pool = ThreadPoolExecutor(readers, thread_name_prefix="copy-reader")
    in_flight: deque = deque()
    try:
        for chunk in chunks:
            if len(in_flight) >= readers:
                yield from in_flight.popleft().result()
            in_flight.append(pool.submit(fetch, chunk))
        while in_flight:
            yield from in_flight.popleft().result()
    finally:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=False)


def chunk_rows(sizer: PageSizer) -> int:
    """Rows per chunk: a whole batch by what rows weigh, within the server's query window."""
    rows = max(1, sizer.batch_bytes // sizer.row_bytes)
    if sizer.max_rows is not None:
        rows = min(rows, sizer.max_rows)
    return min(rows, sizer.window) if sizer.window else rows


def chunk_sizer(sizer: PageSizer, rows: int) -> PageSizer:
    """A sizer for reading one chunk: `rows` at once, what `sizer` learned about the server."""
    one = PageSizer(sizer.row_bytes, sizer.batch_bytes, rows)
    one.budget = sizer.batch_bytes
    one.window = sizer.window
    return one


def read_stream(
    channel: RpcChannel,
    sizer: PageSizer,
    readers: int,
    make_page: Callable[[object, list, int], Page],
    *,
    collection: str,
    pk_field: str,
    pk_is_varchar: bool,
    output_fields: list[str],
    partition: str | None,
    after: int | str | None,
    upto: int | str | None = None,
) -> Iterator[Page]:
    """The pages of one stream after key `after` (up to `upto` included), in key order, read
    by up to `readers` queries at once. `make_page(answer, keys, size)` turns an answer into
    a Page; it runs on the reading threads (so a page's digest is hashed there too)."""
    where = f"{channel.role} collection {collection!r}" + (
        f" partition {partition!r}" if partition else ""
    )
    closed = threading.Event()
    outer = channel.cancel
    fetching = channel.with_cancel(lambda: closed.is_set() or bool(outer and outer()))
    stream_args = dict(
        collection=collection,
        pk_field=pk_field,
        pk_is_varchar=pk_is_varchar,
        output_fields=output_fields,
        partition=partition,
    )

    def tail(start: int | str | None) -> Iterator[Page]:
        for answer, keys, size in read_pages(channel, sizer, after=start, upto=upto, **stream_args):
            page = make_page(answer, keys, size)
            del answer, keys
            yield page

    if readers == 1:
        yield from tail(after)
        return
    # The first page alone, at the full batch: it tells the window and the rows' weight.
    sizer.budget = sizer.batch_bytes
    first = tail(after)
    page = next(first, None)
    first.close()
    if page is None:
        return
    last = page.last_pk
    yield page
    del page
    if sizer.window is None:
        sizer.window = SERVER_QUERY_WINDOW  # not learned: stay within any server's window

    def fetch(chunk: Chunk) -> list[Page]:
        return [
            make_page(answer, keys, size)
            for answer, keys, size in read_pages(
                fetching,
                chunk_sizer(sizer, chunk.rows),
                after=chunk.after,
                upto=chunk.upto,
                **stream_args,
            )
        ]

    keys = scan_keys(
        fetching, collection, pk_field, pk_is_varchar, partition=partition, after=last, upto=upto
    )
    try:
        for page in in_order(fetch, chunks_of(keys, last, chunk_rows(sizer)), readers):
            # Chunks are disjoint and increasing, each read checked: this guards the hand-over.
            check_page_order([page.first_pk], last, where)
            last = page.last_pk
            yield page
            del page
    finally:
        closed.set()
    # Rows added past the scan's last key since it ran, read as one reader would.
    yield from tail(last)


class Reader:
    """Reads pages of the given streams on a daemon thread (with `readers` > 1, helped by that
    many reading threads: read_stream) and hands them over through a bounded queue: Page,
    StreamDone after each stream, None at the end, or the error.

    The thread never calls the caller's callbacks; its queries are canceled by `stop()`.
    """

    def __init__(
        self,
        src: RpcChannel,
        *,
        collection: str,
        pk_field: str,
        pk_is_varchar: bool,
        output_fields: list[str],
        row_bytes: int,
        batch_bytes: int,
        work: list[tuple[str, int | str | None]],
        batch_rows: int | None = None,
        upto: int | str | None = None,
        readers: int = 1,
    ) -> None:
        self.stopping = threading.Event()
        self.src = src.with_cancel(self.stopping.is_set)
        self.collection = collection
        self.pk_field = pk_field
        self.pk_is_varchar = pk_is_varchar
        self.output_fields = output_fields
        self.sizer = PageSizer(row_bytes, batch_bytes, batch_rows)
        self.work = work
        self.upto = upto
        self.readers = readers
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
        self.thread = threading.Thread(
            target=self._run, name=f"copy-reader-{collection}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def get(self, cancel) -> object:
        """The next item; re-raises a reader failure; CopyCanceled when `cancel()` says so while
        waiting (a slow query on the source does not hold the caller)."""
        while True:
            try:
                item = self.queue.get(timeout=self.src.options.cancel_poll)
            except queue.Empty:
                if cancel is not None and cancel():
                    raise CopyCanceled(f"reading {self.collection!r} canceled") from None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def stop(self) -> None:
        """Stop the thread: its running query is canceled; it is not waited for beyond that."""
        self.stopping.set()
        while self.thread.is_alive():
            try:  # unblock a reader waiting on a full queue
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
                if not self._put(StreamDone(stream)):
                    return
            self._put(None)
        except CopyCanceled:
            return  # stop() was called: nobody waits for this thread's items any more
        except CopyError as error:
            self._put(error)
        except Exception as error:  # anything unexpected still reaches the caller's thread
            self._put(CopyError(f"reading {self.collection!r} failed: {error!r}"))

    def _read_stream(self, stream: str, last: int | str | None) -> bool:
        pages = read_stream(
            self.src,
            self.sizer,
            self.readers,
            functools.partial(self._page, stream),
            collection=self.collection,
            pk_field=self.pk_field,
            pk_is_varchar=self.pk_is_varchar,
            output_fields=self.output_fields,
            partition=None if stream == WHOLE_COLLECTION else stream,
            after=last,
            upto=self.upto,
        )
        with contextlib.closing(pages):
            for page in pages:
                if not self._put(page):
                    return False
                del page  # it belongs to the writer now
                if self.stopping.is_set():
                    return False
        return True

    def _page(self, stream: str, answer, keys: list, size: int) -> Page:
        fields_data = list(answer.fields_data)
        for data in fields_data:
            # Field ids are the source's; the target matches fields by name.
            data.ClearField("field_id")
        return Page(
            stream=stream,
            fields_data=fields_data,
            rows=len(keys),
            bytes=size,
            first_pk=keys[0],
            last_pk=keys[-1],
            # Hashed on a reading thread, while the writer waits for the target.
            digest=sum(row_hashes(fields_data, len(keys), stream, self.output_fields)),
        )
