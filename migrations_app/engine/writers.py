"""Writing a copy's batches into the target: one at a time, or up to `Options.writers` at once.

`BatchWriter` sends one page: an insert, or a rewrite (rewrite.py: upsert, or delete the keys
then insert where the target has no Upsert) where a killed run may have written already; a
retry after an ambiguous failure is a rewrite.

`WritePool` keeps up to `writers` pages in flight while the reader reads on, and hands back the
pages the target acknowledged in the order they were read: a page acknowledged early waits
until every page before it is, so the copy's checkpoint only ever moves over a gapless run of
written pages. What may be on the target past the checkpoint is therefore always a stretch of
source keys right after it, ending at most at the last page sent — the key of the last write
intent, which the caller keeps before each page is sent — so the resume rule (copy.py's
module docstring) stays exact. Pages of two partitions are never in flight together (the copy
drains the pool at the end of each partition), because an intent names one partition.

With one writer the page is written on the caller's thread when it is submitted, exactly as
before the pool existed. With more, each is written on a thread of the pool: its calls look at
the pool's stop flag instead of the caller's `should_cancel` (callbacks stay on the caller's
thread), and the caller looks at `should_cancel` while it waits for room or for
acknowledgements. The lease (fence.py) is checked on the caller's thread when a page is handed
to a writer, and again right before every write on the thread that sends it (jobs/lease.py's
`Lease.left` is safe to ask from another thread: it says 0 past its deadline there instead of
renewing, which only the caller's thread does). A failed page fails the copy with its own error,
the same as with one writer (the earliest in read order of those failed so far); the writes
still in flight are stopped. Memory: each page in flight holds one insert request.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from .capabilities import capabilities
from .errors import CopyCanceled, CopyError
from .reader import Page, page_keys
from .rewrite import delete_keys, rewrite_request
from .rpc import CancelFlag, RpcChannel, StatusError


class BatchWriter:
    """Writes pages into `collection` on the target through `dst`."""

    def __init__(
        self, dst: RpcChannel, collection: str, pk_field: str, pk_is_varchar: bool
    ) -> None:
        self.dst = dst
        self.collection = collection
        self.pk_field = pk_field
        self.pk_is_varchar = pk_is_varchar
        self.upsert = capabilities(dst.client).upsert

    def on(self, dst: RpcChannel) -> BatchWriter:
        """The same writer sending through another channel (e.g. one with another cancel)."""
        other = copy.copy(self)
        other.dst = dst
        return other

    def write(self, page: Page, partition: str | None, rewrite: bool = False) -> None:
        name = partition or ""
        where = f"target collection {self.collection!r}" + (f" partition {name!r}" if name else "")
        what = f"writing into {where}"
        keys = (
            None if self.upsert else page_keys(page.fields_data, self.pk_field, self.pk_is_varchar)
        )
        request = rewrite_request(
            self.collection, name, page.fields_data, page.rows, rewrite and self.upsert
        )
        # The request holds its own copy: let the query answer go now, not after the write.
        page.fields_data = []

        def delete_first() -> None:
            delete_keys(
                self.dst, what, self.collection, name, keys, self.pk_field, self.pk_is_varchar
            )

        def again():
            # After a failure the server may have applied: rewrite the same rows.
            if self.upsert:
                return rewrite_request(self.collection, name, request.fields_data, page.rows, True)
            delete_first()
            return request

        try:
            if rewrite and self.upsert:
                method, retry = "Upsert", None
            else:
                if rewrite:
                    delete_first()
                method, retry = "Insert", ("Upsert" if self.upsert else "Insert", again)
            answer = self.dst.call(what, method, request, ambiguous_retry=retry)
        except StatusError as error:
            raise CopyError(f"writing into {where} failed: {error.reason}") from error
        written = getattr(answer, "insert_cnt", 0) or getattr(answer, "upsert_cnt", 0)
        if written and written != page.rows:
            raise CopyError(
                f"writing into {where}: the server stored {written} of {page.rows} rows"
            )


@dataclass
class Sent:
    """A page handed to the pool; `upsert`: it was written as a rewrite."""

    page: Page
    upsert: bool
    future: Future


class WritePool:
    """Up to `writers` pages in flight; `acked()` returns them in submission order once each one
    and every one before it was written. `cancel` is the caller's flag, asked while it waits."""

    def __init__(self, writer: BatchWriter, writers: int, cancel: CancelFlag) -> None:
        if writers < 1:
            raise CopyError(f"writers must be at least 1, got {writers}")
        self.writers = writers
        self.cancel = cancel
        self.poll = writer.dst.options.cancel_poll
        self.pending: deque[Sent] = deque()
        self.stopping = threading.Event()
        self.executor: ThreadPoolExecutor | None = None
        self.writer = writer
        if writers > 1:
            self.executor = ThreadPoolExecutor(writers, thread_name_prefix="copy-writer")
            self.writer = writer.on(writer.dst.with_cancel(self.stopping.is_set))

    def submit(self, page: Page, partition: str | None, upsert: bool) -> None:
        """Send `page` (call `wait_for_room` first). With one writer it is written now."""
        future: Future = Future()
        if self.executor is None:
            self.writer.write(page, partition, upsert)
            future.set_result(None)
        else:
            # The lease first, here: only the caller's thread may renew a late one
            # (jobs/lease.py); the writer's thread checks it again right before it sends.
            fenced = getattr(self.writer.dst.client, "write_deadline", None)
            if fenced is not None:
                fenced(f"writing into target collection {self.writer.collection!r}")
            future = self.executor.submit(self.writer.write, page, partition, upsert)
        self.pending.append(Sent(page, upsert, future))

    def acked(self) -> list[Sent]:
        """The pages written since the last call, in order, without waiting; raises the error
        of the first failed page."""
        self._raise_failure()
        done = []
        while self.pending and self.pending[0].future.done():
            done.append(self.pending.popleft())
        return done

    def wait_for_room(self) -> list[Sent]:
        """Wait until another page may be sent; returns the pages acknowledged meanwhile."""
        return self._wait_until(self.writers - 1)

    def drain(self) -> list[Sent]:
        """Wait until every page sent is written; returns them in order."""
        return self._wait_until(0)

    def close(self) -> None:
        """Stop: writes still in flight are canceled (within `cancel_poll`) and waited for."""
        self.stopping.set()
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def _wait_until(self, most: int) -> list[Sent]:
        done = self.acked()
        while len(self.pending) > most:
            running = [sent.future for sent in self.pending if not sent.future.done()]
            if running:
                wait(running, timeout=self.poll, return_when=FIRST_COMPLETED)
            done += self.acked()
            if self.cancel():
                raise CopyCanceled("copy canceled")
        return done

    def _raise_failure(self) -> None:
        for sent in self.pending:
            if sent.future.done() and sent.future.exception() is not None:
                self.stopping.set()  # the other writes stop: the copy fails with this one
                raise sent.future.exception()
