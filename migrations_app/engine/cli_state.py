"""The engine CLI's state file: what a `copy` run keeps so the same command can resume it.

One JSON file per copy in the state directory, named after the copy (source endpoint, database
and collection; target endpoint, database and collection — never a credential) and holding what
a Job row holds for the console: the run's owner mark (ownership.py), the planned spec, the
source's count at the start, whether the target was being created, the last checkpoint and the
last write intent (checkpoint.py, copy.py). It is written before the target is created and
before every batch (atomically: a temporary file renamed over it, fsynced), so a run killed at
any moment leaves a file the next run resumes from exactly; it is removed when the copy has
finished. A lock file next to it keeps two runs of one copy from running at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .endpoints import parse_endpoint
from .errors import StateFileError
from .model import TargetSpec

STATE_KIND = "migrations_app.engine copy"
STATE_VERSION = 1
DEFAULT_STATE_DIR = ".migration-state"
CREATING, CREATED = "CREATING", "CREATED"
_OWNER_ALPHABET = string.ascii_lowercase + string.digits


def new_owner() -> str:
    """An owner mark for a CLI run: "cli-" + 20 lowercase alphanumerics (a job's is "job-…")."""
    return "cli-" + "".join(secrets.choice(_OWNER_ALPHABET) for _ in range(20))


@dataclass(frozen=True)
class CopyIdentity:
    """Which copy a state file belongs to: endpoints as `scheme://host:port`, no credentials."""

    source: str
    db: str
    collection: str
    target: str
    target_db: str
    target_collection: str

    @classmethod
    def of(
        cls,
        source: str,
        db: str,
        collection: str,
        target: str,
        target_db: str | None,
        target_collection: str | None,
    ) -> CopyIdentity:
        return cls(
            source=parse_endpoint(source).uri,
            db=db,
            collection=collection,
            target=parse_endpoint(target).uri,
            target_db=target_db or db,
            target_collection=target_collection or collection,
        )

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)

    def describe(self) -> str:
        return (
            f"{self.source} {self.db}.{self.collection} → "
            f"{self.target} {self.target_db}.{self.target_collection}"
        )

    def file_name(self) -> str:
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
        readable = re.sub(r"[^A-Za-z0-9_]", "_", self.collection)[:64]
        return f"copy-{readable}-{digest[:16]}.json"


@dataclass
class CopyRunState:
    """What one copy keeps between runs (see the module docstring)."""

    identity: CopyIdentity
    owner: str
    spec: TargetSpec
    target_state: str = CREATING
    source_count_at_start: int | None = None
    checkpoint: dict | None = None
    write_intent: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": STATE_KIND,
            "version": STATE_VERSION,
            "copy": self.identity.to_dict(),
            "owner": self.owner,
            "spec": self.spec.to_dict(),
            "target_state": self.target_state,
            "source_count_at_start": self.source_count_at_start,
            "checkpoint": self.checkpoint,
            "write_intent": self.write_intent,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


class StateFile:
    """The state file of one copy in `directory`, and the lock that makes its run the only one.

    Use as a context manager: entering takes the lock (StateFileError when another run of the
    same copy holds it), leaving releases it.
    """

    def __init__(self, directory: str | Path, identity: CopyIdentity) -> None:
        self.directory = Path(directory)
        self.identity = identity
        self.path = self.directory / identity.file_name()
        self._lock: IO[str] | None = None

    def __enter__(self) -> StateFile:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = self._lock_path().open("a")
        except OSError as exc:
            raise StateFileError(
                f"cannot use the state directory {self.directory}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A run that just finished removes the lock file it held: a lock taken on that
            # removed file would guard nothing, so it counts as taken.
            current = os.stat(self._lock_path()).st_ino
            if os.fstat(lock.fileno()).st_ino != current:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            lock.close()
            raise StateFileError(
                f"another run of this copy ({self.identity.describe()}) is still running: "
                f"it holds {self._lock_path()}"
            ) from None
        self._lock = lock
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is None:
            return
        if not self.path.exists():
            # Nothing to resume: leave no trace (the lock file, the directory if now empty).
            self._lock_path().unlink(missing_ok=True)
            try:
                self.directory.rmdir()
            except OSError:
                pass
        self._lock.close()
        self._lock = None

    def _lock_path(self) -> Path:
        return self.directory / (self.path.name + ".lock")

    def load(self) -> CopyRunState | None:
        """The saved state, None when there is none; StateFileError when the file cannot be
        read as a state file or belongs to another copy."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(
                f"cannot read the state file {self.path}: {exc.strerror}"
            ) from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("kind") != STATE_KIND:
                raise ValueError("it is not a state file of this command")
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            saved = CopyIdentity(**data["copy"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._corrupt(exc) from None
        if saved != self.identity:
            raise StateFileError(
                f"the state file {self.path} belongs to another copy ({saved.describe()}), not "
                f"to this one ({self.identity.describe()}): remove it, or give another "
                "--state-dir"
            )
        try:
            state = CopyRunState(
                identity=saved,
                owner=_text(data["owner"], "owner"),
                spec=TargetSpec.from_dict(data["spec"]),
                target_state=data["target_state"],
                source_count_at_start=data["source_count_at_start"],
                checkpoint=data["checkpoint"],
                write_intent=data["write_intent"] or {},
            )
            if state.target_state not in (CREATING, CREATED):
                raise ValueError(f"unknown target state {state.target_state!r}")
            if state.checkpoint is not None and not isinstance(state.checkpoint, dict):
                raise ValueError("the checkpoint is not an object")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._corrupt(exc) from None
        return state

    def save(self, state: CopyRunState) -> None:
        """Write `state` durably: a crash leaves either the old file or the new one."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            json.dump(state.to_dict(), out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _corrupt(self, exc: Exception) -> StateFileError:
        reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        return StateFileError(
            f"the state file {self.path} is corrupt ({reason}): it cannot tell what the earlier "
            "run created, so remove it (and drop that run's target collection yourself if it "
            "exists) before copying again"
        )


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is missing")
    return value
