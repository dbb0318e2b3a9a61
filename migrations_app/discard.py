"""Discard Incomplete Collections: drop the target collections a FAILED or CANCELED migration
created and did not finish. View Details, `POST /v2/jobs/{jobId}/discard` and
`manage.py jobs discard` all come here.

Only collections this job created are candidates (its JobCollection recorded creating the
target, and the collection still carries the job's owner mark, engine/ownership.py); a
collection that finished (DONE) is never one. Refusals, each with nothing changed: a watcher
(Forbidden), a job in another state (Conflict: Pending, In Progress, Canceling, Successful),
nothing left to discard (Conflict), the target not reachable (Unavailable). After the drop the
job's collections are marked discarded (a Retry creates them again from the start) and the
job's log says what was dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from console.access import can_manage, refusal
from console.clients import open_client
from console.errors import Conflict, Forbidden, ServiceError, Unavailable
from console.models import User
from console.redaction import redact
from jobs import lifecycle
from jobs.models import Job, JobCollection
from migrations_app.engine.errors import EngineError
from migrations_app.engine.fence import FencedClient
from migrations_app.engine.ownership import drop_owned, find_owned

ACTION_DISCARD = "discard incomplete collections"
NOTHING_CHANGED = "nothing was changed"
_UNCHANGED = f" ({NOTHING_CHANGED})"
# Seconds each Milvus call of a Discard may take (look-ups, counts, drops).
CALL_TIMEOUT = 20.0


@dataclass
class Leftover:
    """An incomplete target collection of the job, found on the target with its rows."""

    collection: JobCollection
    rows: int

    @property
    def db(self) -> str:
        return self.collection.target_db

    @property
    def name(self) -> str:
        return self.collection.target_name

    def to_dict(self) -> dict:
        return {"dbName": self.db, "collectionName": self.name, "rows": self.rows}


def find_leftovers(user: User, job: Job) -> list[Leftover]:
    """What Discard would drop (the confirmation lists it): the job's incomplete collections
    that exist on the target with its mark, with their row counts. The refusals of `discard`."""
    if not can_manage(user, job.project):
        raise Forbidden(refusal(job.project, ACTION_DISCARD))
    _check_state(job)
    candidates = [c for c in job.collections.all() if c.may_have_leftover]
    if not candidates:
        raise Conflict(_nothing(job))
    if job.target_cluster is None:
        raise Conflict(
            f"nothing to discard: the target cluster of job {job.pk} ({job.target_name}) was "
            "deleted, and its collections with it"
        )
    with _target(job) as client:
        found = find_owned(client, [(c.target_db, c.target_name) for c in candidates], job.pk)
    rows = {(f.db, f.name): f.rows for f in found}
    leftovers = [
        Leftover(c, rows[(c.target_db, c.target_name)])
        for c in candidates
        if (c.target_db, c.target_name) in rows
    ]
    if not leftovers:
        raise Conflict(_nothing(job))
    return leftovers


def discard(user: User, job: Job) -> list[Leftover]:
    """Drop the job's incomplete collections (those `find_leftovers` lists, looked up again);
    mark them discarded and log it. Returns what was dropped.

    No database transaction is held across the Milvus calls (SQLite would make every other
    writer wait on a slow target): the job's state is read again before each drop instead, so
    a Retry that gets in first stops the Discard at the next collection."""
    leftovers = find_leftovers(user, job)
    dropped: list[Leftover] = []
    failure: ServiceError | None = None
    try:
        with _target(job) as client:
            for leftover in leftovers:
                job.refresh_from_db(fields=["status"])
                _check_state(job)
                if drop_owned(client, leftover.db, leftover.name, job.pk):
                    dropped.append(leftover)
    except ServiceError as exc:
        failure = exc
    # What was dropped stays dropped even when a later step failed: recorded either way.
    if dropped:
        lifecycle.mark_discarded(job, [d.collection for d in dropped], user, _summary(dropped))
    if failure is not None:
        if dropped:
            reason = failure.message.removesuffix(_UNCHANGED)
            raise type(failure)(
                f"{_summary(dropped)} dropped; then {reason}: the rest was not discarded"
            )
        raise failure
    if not dropped:
        raise Conflict(_nothing(job))
    return dropped


def _summary(dropped: list[Leftover]) -> str:
    return ", ".join(f"{d.db}.{d.name} ({d.rows:,} rows)" for d in dropped)


def _check_state(job: Job) -> None:
    if job.type != Job.Type.MIGRATION:
        raise Conflict(
            f"nothing to discard: job {job.pk} is a {job.get_type_display().lower()} job, "
            "which creates no collections"
        )
    if job.status in Job.DISCARDABLE_STATES:
        return
    if job.status == Job.Status.SUCCESSFUL:
        why = "its collections are complete"
    else:
        why = "it has not finished: cancel it first, or wait until it ends"
    raise Conflict(
        f"job {job.pk} is {job.get_status_display()}: only the incomplete collections of a "
        f"Failed or Canceled job can be discarded ({why})"
    )


def _nothing(job: Job) -> str:
    return (
        f"nothing to discard: job {job.pk} left no incomplete collection of its own on the "
        f"target {job.target_name}"
    )


@contextmanager
def _target(job: Job) -> Iterator[MilvusClient]:
    """The job's target cluster, opened (and closed); Unavailable with the reason when it
    cannot be reached or a call fails."""
    connection = job.target_cluster.connection()

    def unavailable(reason: str, what: str) -> Unavailable:
        reason = redact(reason, connection.secrets())
        return Unavailable(
            f"the target cluster {job.target_cluster.name} {what}: {reason}{_UNCHANGED}"
        )

    try:
        # Every call with a deadline: a target that stops answering holds no page for long.
        client = FencedClient(
            open_client(connection),
            lambda: None,  # no lease: a Discard is not superseded by another run
            call_timeout=CALL_TIMEOUT,
            wait_timeout=CALL_TIMEOUT,
        )
    except EngineError as exc:
        raise unavailable(exc.message, "cannot be reached") from None
    try:
        yield client
    except MilvusException as exc:
        raise unavailable(exc.message, "did not answer") from None
    finally:
        client.close()
