"""What a caller sets for a migration (`Options`) and how it hears about it (`Observer`).

Every phase (copy, finalize, verify, and `migrate_collection` running them) takes one of each
instead of a dozen settings and callbacks: the settings are a frozen dataclass with the
engine's defaults, the callbacks an object whose methods do nothing unless a caller overrides
them. Callbacks always run on the caller's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .digest import DEFAULT_RANGE_ROWS
from .model import CopyProgress, RetryNote, VerifyProgress

# 16 MB pages: Milvus Lite scans the whole collection for every query, so fewer, larger pages
# are much faster there (at 400,000 rows a query costs ~0.5 s before it returns a row); peak RSS
# measured ~355 MB at 100,000 rows and ~380 MB at 400,000 (about 210 MB of it is pymilvus).
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RetrySchedule:
    """How a transient server error is retried: `attempts` calls in all, waiting `first_delay`
    seconds after the first failure and twice as long after each next one, at most
    `max_delay`. The defaults outlast a Milvus restart (about 35 s of waiting in all)."""

    attempts: int = 8
    first_delay: float = 0.5
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay < 0 or self.max_delay < self.first_delay:
            raise ValueError(f"invalid retry schedule {self!r}")


@dataclass(frozen=True)
class Options:
    """Settings of a migration; every field has the engine's default.

    batch_bytes: bytes of rows per copied batch (a checkpoint after each). batch_rows: at most
    this many rows per batch (None: no limit; a speed cap keeps batches small, see
    `Observer.pace`). load: load the target collection at the end. range_rows: rows per key
    range of the copy's and the verification's digests (a differing
    range is read again to find its keys). retry: the schedule for transient errors.
    call_timeout: seconds a request may go without an answer before it is retried (the deadline
    of every call; a job's reaper waits that long past a lease's end, see fence.py).
    wait_timeout: the deadline of the calls that wait on the server (flush, index build, load).
    cancel_poll: seconds between looks at the cancel flag while a call, a back-off or a
    server-side wait (flush, index build, load) runs. writers: batches a copy may have in
    flight to the target at once (writers.py; 1: written one by one on the caller's thread).
    readers: queries a copy may have running on the source at once (readers.py; 1: one after
    the other); pages reach the writers in key order either way.
    """

    batch_bytes: int = DEFAULT_BATCH_BYTES
    batch_rows: int | None = None
    load: bool = False
    range_rows: int = DEFAULT_RANGE_ROWS
    retry: RetrySchedule = field(default_factory=RetrySchedule)
    call_timeout: float = 300.0
    wait_timeout: float = 3600.0
    cancel_poll: float = 0.2
    writers: int = 1
    readers: int = 1


DEFAULTS = Options()


class Observer:
    """The engine's callbacks, each a no-op until a subclass overrides it.

    All run on the thread that called the engine. See `migrate_collection` for when each is
    called; `should_cancel` may be asked often (the engine throttles it to twice a second while
    waiting), so it may read a database.
    """

    def on_phase(self, name: str) -> None:
        """A phase starts: "CREATING", "COPYING", "INDEXING" or "VERIFYING"."""

    def on_source_count(self, count: int) -> None:
        """The source's row count at the start, as soon as it is known."""

    def on_checkpoint(self, checkpoint: dict) -> None:
        """A JSON-safe dict to keep: passed back as `checkpoint`, it resumes the copy exactly."""

    def on_progress(self, progress: CopyProgress) -> None:
        """After every written batch."""

    def on_verify_progress(self, progress: VerifyProgress) -> None:
        """While a verification reads both sides, about twice a second."""

    def on_retry(self, note: RetryNote | None) -> None:
        """A call failed with a transient error and is sent again after `note.delay` seconds;
        None once the calls go through again (or the retries gave up: the error follows)."""

    def on_note(self, text: str) -> None:
        """Something a person should read in the job log."""

    def on_creating_target(self) -> None:
        """The target collection is about to be created: keep that (with a resume, the run
        that finds it then knows it may be its own; see `migrate_collection`'s `maybe_created`)."""

    def on_target_dropped(self) -> None:
        """A canceled migration dropped the incomplete target collection it had created."""

    def on_write_intent(self, intent: dict) -> None:
        """Before a batch is written: {"stream": partition or "*", "last_pk": its last key}, a
        JSON-safe dict to keep and pass back as `write_intent` with the checkpoint to resume.
        The write waits until this returns: keep it durably first."""

    def pace(self, rows: int, size: int) -> float:
        """Before a batch of `rows` rows and `size` bytes is written: seconds it must wait first
        (a speed cap), 0 to write it now. Asked once per batch, which counts as sent: a caller
        that keeps a rate books it here. The engine waits in cancel-aware steps."""
        return 0.0

    def lease_left(self) -> float | None:
        """Seconds this run may still change a server; None: no limit. At 0 or below the engine
        raises LeaseLost instead of its next write (see fence.py)."""
        return None

    def should_cancel(self) -> bool:
        """True to stop: the engine raises CopyCanceled within about a second."""
        return False


SILENT = Observer()
