"""Errors the engine raises: each one carries a `message` a user can read as it is.

Callers (Celery tasks, the web console, the CLI) show `error.message` to people and store it in
job events, so a message never contains a credential and always names what went wrong and where.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every engine error; `message` is the clear reason shown to users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- endpoints and connections -------------------------------------------------------------


class EndpointRejected(EngineError):
    """A user-supplied endpoint URL is malformed or points somewhere the server must not connect."""


class ConnectError(EngineError):
    """A Milvus connection could not be opened or used."""


class CannotReach(ConnectError):
    """Nothing accepts TCP connections at host:port (refused, timed out, unknown host)."""


class AuthenticationFailed(ConnectError):
    """The server answered but refused the token or username/password."""


class DatabaseNotFound(ConnectError):
    """The server is reachable and the credentials work, but the database does not exist."""


class ServerTooOld(ConnectError):
    """A Milvus server older than the oldest the console works with (2.2.9: pymilvus' first
    call, Connect, is missing before it)."""


class NotMilvus(ConnectError):
    """Something listens on host:port but it does not speak the Milvus gRPC protocol."""


# --- catalog, plan, create, finalize ----------------------------------------------------


class CollectionNotFound(EngineError):
    """The named collection does not exist in the database."""


class PlanError(EngineError):
    """The plan found problems: nothing may be created. `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)


class CreateError(EngineError):
    """Creating the target collection failed; whatever had been created was dropped again."""


class FinalizeError(EngineError):
    """Flushing, indexing or loading the target collection failed."""


class VerifyError(EngineError):
    """Verification could not run (a count or a query failed); a mismatch is not an error."""


class MigrateError(EngineError):
    """The migration of a collection cannot start or go on (e.g. a resume whose target is gone)."""


# --- copy (copy.py) --------------------------------------------------------------------------


class CopyError(EngineError):
    """The copy stopped for a reason retrying cannot fix (missing collection, rejected data...).

    `checkpoint` is the last checkpoint reported before the failure (None when nothing was
    written in this run): resuming from it later neither duplicates nor loses a row.
    """

    def __init__(self, message: str, checkpoint: dict | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class CopyCanceled(EngineError):
    """`should_cancel` said stop: raised within one batch; `checkpoint` covers what was written."""

    def __init__(self, message: str, checkpoint: dict | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


class LeaseLost(EngineError):
    """The caller's lease on this migration ended (another run took it over, or it could not be
    renewed): the run stops at once and touches neither the target nor the caller's records."""


class NotOwned(EngineError):
    """The target collection exists but was not created by this migration (its owner mark is
    another's or missing): the engine neither writes into it nor drops it."""


class StateFileError(EngineError):
    """The engine CLI's state file cannot be used: unreadable, corrupt, another copy's, or held
    by another run of the same copy (cli_state.py)."""
