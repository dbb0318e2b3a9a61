"""The figures a job's progress is told in, computed once from its collections' rows.

The stored percentage (lifecycle.update_progress, which the Jobs row and the API show), View
Details' bars and lines and the API's per-collection figures all come from `Figures`, so a
percentage never disagrees with the row counts beside it: a migration's work is its rows copied
plus its rows verified (each row is read once by the copy and once more by the verification);
a Verify Again or a Repair is judged by its verification.

`retrying_text` says what a collection's `retrying` holds: the call being sent again after a
transient error (the engine's RetryNote with its "next_at") or a copy resuming after an
interruption.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from jobs.models import Job, JobCollection

C = JobCollection.Status


@dataclass(frozen=True)
class Figures:
    """Rows of a job (or one collection): `copied` and `verified` of `total`, the rates of the
    collections copying and verifying now, and how many collections are DONE of `count`.
    `copies`: the work includes copying (a migration); else only the verification counts."""

    total: int
    copied: int
    verified: int
    copy_rate: float
    verify_rate: float
    done: int
    count: int
    copies: bool = True

    @property
    def percent(self) -> int:
        """0–100 from the same rows as the counts shown; 100 only when every collection is
        DONE (a job's 100 waits for its SUCCESSFUL: see lifecycle.update_progress)."""
        if self.count and self.done == self.count:
            return 100
        if not self.total:
            return int(100 * self.done / self.count) if self.count else 0
        work = (self.copied + self.verified) / (2 * self.total)
        if not self.copies:
            work = self.verified / self.total
        return min(99, math.floor(100 * work))

    @property
    def copy_eta(self) -> float | None:
        """Seconds the copying has left at its current rate; None when not copying."""
        if self.copy_rate <= 0 or self.copied >= self.total:
            return None
        return (self.total - self.copied) / self.copy_rate

    @property
    def verify_eta(self) -> float | None:
        if self.verify_rate <= 0 or self.verified >= self.total:
            return None
        return (self.total - self.verified) / self.verify_rate


def copied_rows(c: JobCollection) -> int:
    """Rows of `c` counted as copied (all of them once it is DONE; never more than its total)."""
    if c.status == C.DONE:
        return c.total_entities
    return min(c.migrated_entities, c.total_entities)


def verified_rows(c: JobCollection) -> int:
    if c.status == C.DONE:
        return c.total_entities
    return min(c.verified_entities, c.total_entities)


def figures(job_type: str, collections: Iterable[JobCollection]) -> Figures:
    rows = list(collections)
    return Figures(
        total=sum(c.total_entities for c in rows),
        copied=sum(copied_rows(c) for c in rows),
        verified=sum(verified_rows(c) for c in rows),
        copy_rate=sum(c.rows_per_s for c in rows if c.status == C.COPYING),
        verify_rate=sum(c.rows_per_s for c in rows if c.status == C.VERIFYING),
        done=sum(c.status == C.DONE for c in rows),
        count=len(rows),
        copies=job_type == Job.Type.MIGRATION,
    )


def job_percent(job: Job, collections: Iterable[JobCollection]) -> int:
    """The job's percentage: 100 once SUCCESSFUL, else from its figures (at most 99)."""
    if job.status == Job.Status.SUCCESSFUL:
        return 100
    return min(99, figures(job.type, collections).percent)


def retry_state(
    role: str, reason: str, attempt: int, attempts: int, delay: float, now: datetime
) -> dict:
    """What JobCollection.retrying keeps: the attempt that failed, of how many, and when the
    next one is due."""
    return {
        "role": role,
        "reason": reason[:300],
        "attempt": attempt,
        "attempts": attempts,
        "next_at": (now + timedelta(seconds=delay)).isoformat(),
    }


def retrying_text(retrying: dict | None, now: datetime | None = None) -> str:
    """ "retrying: <reason> (attempt k of n, next in s)"; "" when nothing is retried."""
    if not retrying:
        return ""
    now = now or timezone.now()
    due = datetime.fromisoformat(retrying["next_at"])
    wait = max(0, math.ceil((due - now).total_seconds()))
    return (
        f"retrying: {retrying['reason']} (attempt {retrying['attempt']} of "
        f"{retrying['attempts']}, next in {wait} s)"
    )
