"""The retrying, cancelable transport under the copy, its resume and verify.

`RpcChannel` sends raw gRPC requests through the stub of a `pymilvus.MilvusClient` — pymilvus
internals (`_get_connection()._stub`, `_generate_call_context`), which is why pymilvus is pinned
in pyproject.toml. Every call is made with the stub's `.future(...)` API and waited for in short
steps, so a cancel is seen within `Options.cancel_poll` seconds even while a slow query is
running (the call is then canceled on the channel). Back-off waits between retries
(`Options.retry`) sleep in the same steps.

What is retried: gRPC UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED / ABORTED (except a
message over gRPC's size limit), rate-limit and not-ready statuses, and any status the server
marks `retriable` (newer Milvus). Everything else surfaces at once: a status as `StatusError`
(or `AnswerTooLarge` when the answer exceeded a size limit, so a reader can ask for less), a
gRPC error as CopyError.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from pymilvus import MilvusClient
from pymilvus.grpc_gen import common_pb2

from .errors import CopyCanceled, CopyError
from .model import RetryNote
from .options import DEFAULTS, Observer, Options

_TRANSIENT_GRPC = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
_TRANSIENT_ERROR_CODES = frozenset(
    {common_pb2.RateLimit, common_pb2.NotReadyServe, common_pb2.NotReadyCoordActivating}
)
# The raw requests that change the target (the rest only read).
_WRITES = frozenset({"Insert", "Upsert", "Delete"})
_RATE_LIMIT_CODE = 8  # the newer Milvus status code for "rate limit exceeded"
# How servers say an answer was too large: Milvus 2.3 ("query results exceed the limit size"),
# newer Milvus ("... exceed the maxOutputSize Limit ..."), gRPC's own message size limit.
_TOO_LARGE_MARKERS = ("exceed the limit size", "maxoutputsize", "larger than max")


class StatusError(Exception):
    """A non-transient error status from Milvus; callers turn it into a CopyError in context."""

    def __init__(self, status) -> None:
        super().__init__(status.reason)
        self.status = status
        self.reason = status.reason


class AnswerTooLarge(StatusError):
    """The server (or gRPC) refused an answer for its size: ask again for fewer rows."""


class _TooLargeStatus:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def is_transient_status(status) -> bool:
    if getattr(status, "retriable", False):
        return True
    return status.code == _RATE_LIMIT_CODE or status.error_code in _TRANSIENT_ERROR_CODES


def is_too_large(reason: str) -> bool:
    reason = reason.lower()
    return any(marker.lower() in reason for marker in _TOO_LARGE_MARKERS)


def rpc_reason(error: grpc.RpcError) -> str:
    details = error.details() if hasattr(error, "details") else ""
    return f"{error.code().name}: {details}" if details else error.code().name


class RetryNotes:
    """The back-offs of a run's channels, noted from any thread (a reader's, the caller's) and
    reported to the observer on the caller's thread by `report()` — which the run's CancelFlag
    calls each time it asks `should_cancel` — so `Observer.on_retry` keeps the engine's rule
    that callbacks run where the caller lives."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.lock = threading.Lock()
        self.current: RetryNote | None = None
        self.reported: RetryNote | None = None

    def note(self, note: RetryNote) -> None:
        with self.lock:
            self.current = note

    def clear(self, role: str, what: str) -> None:
        """The call `what` on `role` ended (went through, or gave up): its note goes."""
        with self.lock:
            if self.current is not None and (self.current.role, self.current.what) == (role, what):
                self.current = None

    def report(self) -> None:
        with self.lock:
            current = self.current
        if current != self.reported:
            self.reported = current
            self.observer.on_retry(current)


class CancelFlag:
    """`should_cancel` asked at most every `every` seconds while waiting (it may be a database
    read); `now()` asks at once. Once it said True it stays True. With `notes`, each asking
    also reports the run's retries (RetryNotes.report) on this, the caller's, thread."""

    def __init__(
        self,
        should_cancel: Callable[[], bool] | None,
        every: float = 0.5,
        notes: RetryNotes | None = None,
    ) -> None:
        self.should_cancel = should_cancel
        self.every = every
        self.notes = notes
        self.asked = -float("inf")
        self.canceled = False

    def now(self) -> bool:
        if self.notes is not None:
            self.notes.report()
        if not self.canceled and self.should_cancel is not None:
            self.asked = time.monotonic()
            self.canceled = bool(self.should_cancel())
        return self.canceled

    def __call__(self) -> bool:
        if time.monotonic() - self.asked >= self.every:
            return self.now()
        return self.canceled


def pause(
    seconds: float,
    cancel: Callable[[], bool] | None,
    what: str,
    poll: float = DEFAULTS.cancel_poll,
) -> None:
    """Sleep `seconds`, in `poll` steps; CopyCanceled as soon as `cancel()` says so."""
    end = time.monotonic() + seconds
    while True:
        if cancel is not None and cancel():
            raise CopyCanceled(f"{what} canceled")
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(poll, left))


def wait_for(
    fn: Callable[[], Any],
    cancel: Callable[[], bool] | None,
    what: str,
    poll: float = DEFAULTS.cancel_poll,
) -> Any:
    """Run `fn` (a blocking pymilvus call: flush, index build, load) and return its result,
    looking at `cancel` every `poll` seconds. On cancel the call is abandoned on its daemon
    thread (pymilvus offers no way to stop it) and CopyCanceled is raised."""
    if cancel is None:
        return fn()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"wait-{what}", daemon=True)
    thread.start()
    while thread.is_alive():
        if cancel():
            raise CopyCanceled(f"{what} canceled")
        thread.join(poll)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class RpcChannel:
    """The gRPC stub and call metadata behind a MilvusClient, for the columnar fast path.

    `role` ("source"/"target") names the side in messages; `cancel`, when given, is looked at
    while a call or a back-off waits. `options` gives the retry schedule, the call timeout and
    how often the cancel flag is looked at. `notes`, when given, hears of every back-off (and
    of the call going through after one). The stub is fetched on every call because pymilvus
    replaces it when it reconnects.
    """

    def __init__(
        self,
        client: MilvusClient,
        role: str,
        cancel: Callable[[], bool] | None = None,
        options: Options = DEFAULTS,
        notes: RetryNotes | None = None,
    ) -> None:
        self.client = client
        self.role = role
        self.cancel = cancel
        self.options = options
        self.notes = notes
        self.metadata = client._generate_call_context().to_grpc_metadata()

    @property
    def stub(self):
        return self.client._get_connection()._stub

    def with_cancel(self, cancel: Callable[[], bool] | None) -> RpcChannel:
        other = copy.copy(self)
        other.cancel = cancel
        return other

    def call(self, what: str, method: str, request, *, ambiguous_retry=None):
        """Send `request` with retries on transient failures; return the answer.

        `ambiguous_retry`, if given, is `(method, make_request)`: what to send instead after a
        failure that may have come after the server applied the request (timeout, lost
        connection) — for an insert, the same rows as an upsert, which cannot duplicate them
        (`make_request`, called after each such failure, may first delete the rows' keys where
        there is no Upsert: rewrite.py).
        Raises StatusError/AnswerTooLarge for an error status, CopyError for a failed call,
        CopyCanceled when `cancel` says so.
        """
        try:
            return self._call(what, method, request, ambiguous_retry)
        finally:
            if self.notes is not None:
                self.notes.clear(self.role, what)

    def _call(self, what: str, method: str, request, ambiguous_retry):
        retry = self.options.retry
        delay = retry.first_delay
        last_reason = ""
        for attempt in range(1, retry.attempts + 1):
            try:
                answer = self._send(what, method, request)
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
                if is_too_large(details):
                    raise AnswerTooLarge(_TooLargeStatus(details)) from error
                if code not in _TRANSIENT_GRPC:
                    raise CopyError(
                        f"{what} failed on the {self.role}: {rpc_reason(error)}"
                    ) from error
                last_reason = rpc_reason(error)
                if ambiguous_retry is not None:
                    # After every such failure: where there is no Upsert the request made is
                    # an insert again, whose keys must be deleted first each time.
                    method, make_request = ambiguous_retry
                    request = make_request()
            else:
                status = answer.status
                if status.code == 0 and status.error_code == common_pb2.Success:
                    return answer
                if is_too_large(status.reason):
                    raise AnswerTooLarge(status)
                if not is_transient_status(status):
                    raise StatusError(status)
                last_reason = status.reason
            if attempt < retry.attempts:
                if self.notes is not None:
                    note = RetryNote(self.role, what, last_reason, attempt, retry.attempts, delay)
                    self.notes.note(note)
                pause(delay, self.cancel, what, self.options.cancel_poll)
                delay = min(delay * 2, retry.max_delay)
        raise CopyError(
            f"{what} failed on the {self.role}: still failing after {retry.attempts} attempts "
            f"({last_reason})"
        )

    def _send(self, what: str, method: str, request):
        rpc = getattr(self.stub, method)
        timeout = self.options.call_timeout
        if method in _WRITES:
            # A fenced client (fence.FencedClient) refuses a write once its lease ended and
            # gives it a deadline no later than the lease's end.
            deadline = getattr(self.client, "write_deadline", None)
            if deadline is not None:
                timeout = min(timeout, deadline(what))
        if self.cancel is None:
            return rpc(request, timeout=timeout, metadata=self.metadata)
        future = rpc.future(request, timeout=timeout, metadata=self.metadata)
        while True:
            try:
                return future.result(timeout=self.options.cancel_poll)
            except grpc.FutureTimeoutError:
                if self.cancel():
                    future.cancel()
                    raise CopyCanceled(f"{what} canceled") from None
