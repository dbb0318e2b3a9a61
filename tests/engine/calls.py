"""An engine Observer made of plain functions, for tests that hand it lambdas and list.append."""

from __future__ import annotations

from collections.abc import Callable

from migrations_app.engine.options import Observer

CALLBACKS = frozenset(
    {
        "on_phase",
        "on_source_count",
        "on_checkpoint",
        "on_progress",
        "on_note",
        "on_verify_progress",
        "on_retry",
        "should_cancel",
        "on_creating_target",
        "on_write_intent",
        "lease_left",
        "pace",
    }
)


class Calls(Observer):
    """`Calls(on_checkpoint=saved.append, should_cancel=lambda: ...)`: each given function
    answers for that callback; the others keep Observer's no-op."""

    def __init__(self, **callbacks: Callable) -> None:
        unknown = set(callbacks) - CALLBACKS
        if unknown:
            raise TypeError(f"not an engine callback: {', '.join(sorted(unknown))}")
        # Instance attributes take the place of the class's methods of the same names.
        vars(self).update(callbacks)
