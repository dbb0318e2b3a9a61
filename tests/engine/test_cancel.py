"""Cancel in every phase within seconds: a copy whose source query hangs, a retry back-off,
finalize and verify while the target hangs, and a migration canceled in each of its phases.

A server "hangs" for real here: its process is stopped with SIGSTOP, so it accepts
connections and requests but answers nothing until SIGCONT.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from console.clusters.lite_process import stop_process
from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.copy import CopyScope, copy_collection
from migrations_app.engine.errors import CopyCanceled
from migrations_app.engine.finalize import finalize
from migrations_app.engine.migrate import migrate_collection
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.options import SILENT, Observer, Options
from migrations_app.engine.plan import plan, require_ok
from migrations_app.engine.target import create_target
from migrations_app.engine.verify import verify
from tests.engine.calls import Calls
from tests.engine.sample_data import create_simple
from tests.milvus import MilvusClient

QUICKLY = 3.0  # seconds from the cancel request to CopyCanceled


class Hang:
    """Freezes a Milvus Lite server (SIGSTOP) and lets it go again (SIGCONT)."""

    def __init__(self, server) -> None:
        self.server = server
        self.frozen = False

    def freeze(self) -> None:
        self.server.freeze()
        self.frozen = True

    def release(self) -> None:
        if self.frozen:
            self.server.thaw()
            self.frozen = False


class CancelAfter:
    """should_cancel: False until `start()`, then True `delay` seconds later; remembers when it
    first answered True."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started: float | None = None
        self.first_true: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def __call__(self) -> bool:
        if self.started is None or time.monotonic() - self.started < self.delay:
            return False
        if self.first_true is None:
            self.first_true = time.monotonic()
        return True


@contextmanager
def measured(cancel: CancelAfter):
    with pytest.raises(CopyCanceled) as raised:
        yield raised
    assert cancel.first_true is not None, "the cancel flag was never asked for"
    # From the moment the flag turned True, not from when it was first asked.
    elapsed = time.monotonic() - (cancel.started + cancel.delay)
    assert elapsed < QUICKLY, f"canceled after {elapsed:.1f} s"


def copy(source, target, name, observer: Observer = SILENT):
    scope = CopyScope(name, name, "pk", False, ["pk", "vec", "title", "category"])
    return copy_collection(
        source, target, scope, options=Options(batch_bytes=4_000), observer=observer
    )


def copied_target(source, target, name: str, rows: int = 200):
    create_simple(source, name, rows=rows)
    info = describe_collection(source, name)
    spec = require_ok(plan(info, SchemaChoices(), target))
    create_target(target, spec)
    copy(source, target, name)
    return info, spec


def test_it_cancels_a_copy_whose_source_query_hangs(lite_factory, fresh_lite_factory):
    source_server = fresh_lite_factory()
    source, target = MilvusClient(source_server.uri), MilvusClient(lite_factory().uri)
    create_simple(source, "slow", rows=400)
    create_simple(target, "slow", index=False)
    hang = Hang(source_server)
    cancel = CancelAfter(1.0)

    def freeze_source(checkpoint: dict) -> None:
        if not hang.frozen:
            hang.freeze()  # the reader's next query gets no answer
            cancel.start()

    try:
        with measured(cancel) as raised:
            copy(
                source,
                target,
                "slow",
                observer=Calls(on_checkpoint=freeze_source, should_cancel=cancel),
            )
    finally:
        hang.release()

    assert raised.value.checkpoint["rows"] > 0
    # The reader, freed by the release, ends instead of lingering.
    deadline = time.monotonic() + 10
    while [t for t in threading.enumerate() if t.name.startswith("copy-reader-")]:
        assert time.monotonic() < deadline, "a copy-reader thread outlived the canceled copy"
        time.sleep(0.05)


def test_it_cancels_during_a_retry_back_off(lite_factory, fresh_lite_factory):
    target_server = fresh_lite_factory()
    source, target = MilvusClient(lite_factory().uri), MilvusClient(target_server.uri)
    create_simple(source, "backoff", rows=400)
    create_simple(target, "backoff", index=False)
    cancel = CancelAfter(1.5)

    def stop_target(checkpoint: dict) -> None:
        if cancel.started is None:
            stop_process(target_server.proc)  # every write now fails and is retried
            cancel.start()

    with measured(cancel):
        copy(
            source,
            target,
            "backoff",
            observer=Calls(on_checkpoint=stop_target, should_cancel=cancel),
        )


def test_it_cancels_finalize_while_the_target_hangs(lite_factory, fresh_lite_factory):
    target_server = fresh_lite_factory()
    source, target = MilvusClient(lite_factory().uri), MilvusClient(target_server.uri)
    _, spec = copied_target(source, target, "fin")
    hang = Hang(target_server)
    cancel = CancelAfter(1.0)

    def should_cancel() -> bool:
        if not hang.frozen and cancel.started is None:
            hang.freeze()  # first asked while the flush runs: it gets no answer now
            cancel.start()
        return cancel()

    try:
        with measured(cancel):
            finalize(
                target,
                spec,
                options=Options(load=True),
                observer=Calls(should_cancel=should_cancel),
            )
    finally:
        hang.release()


def test_it_cancels_verify_while_the_target_hangs(lite_factory, fresh_lite_factory):
    target_server = fresh_lite_factory()
    source, target = MilvusClient(lite_factory().uri), MilvusClient(target_server.uri)
    info, spec = copied_target(source, target, "ver", rows=1000)
    finalize(target, spec, options=Options(load=True))
    hang = Hang(target_server)
    cancel = CancelAfter(1.0)

    def should_cancel() -> bool:
        cancel.start()
        return cancel()

    # The target hangs before verify sends it anything: whatever verify reads first waits on
    # it. (Freezing it at the flag's first asking raced with a fast machine reading both sides
    # whole before asking.)
    hang.freeze()
    try:
        with measured(cancel):
            verify(
                source,
                target,
                info,
                spec,
                options=Options(batch_bytes=4_000),
                observer=Calls(should_cancel=should_cancel),
            )
    finally:
        hang.release()


@pytest.mark.parametrize("phase", ["CREATING", "COPYING", "INDEXING", "VERIFYING"])
def test_it_cancels_a_migration_in_each_phase_and_drops_the_target(pair, phase):
    source, target = pair
    name = f"cancel_{phase.lower()}"
    create_simple(source, name, rows=300)
    info = describe_collection(source, name)
    spec = require_ok(plan(info, SchemaChoices(), target))
    seen: list[str] = []
    notes: list[str] = []

    with pytest.raises(CopyCanceled):
        migrate_collection(
            source,
            target,
            info,
            spec,
            options=Options(batch_bytes=4_000),
            observer=Calls(
                on_phase=seen.append, on_note=notes.append, should_cancel=lambda: phase in seen
            ),
        )

    assert seen[-1] == phase
    assert not target.has_collection(name)
    if phase != "CREATING":  # canceled before anything was created: nothing to drop
        assert f"migration canceled: incomplete target collection {name} dropped" in notes
