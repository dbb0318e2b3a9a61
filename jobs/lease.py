"""A collection run's (or a key range's) lease: who may write to the target and the job's records, and until when.

The lease is the collection's attempt number (the fencing token) and an expiry
(`JobCollection.lease_expires_at`), renewed by a heartbeat thread every MIGRATION_HEARTBEAT
seconds for MIGRATION_STALE_AFTER seconds. The run knows locally until when its last renewal
holds (a monotonic deadline taken before the renewal was sent, so never later than the stored
expiry) and checks it before every Milvus write and every event it logs: `left()` costs nothing
while the lease is fresh, and once it is not — the worker was frozen, the database unreachable —
the run's own thread tries one renewal, conditional on its attempt; if another run took the
collection over (the reaper bumped the attempt) the lease is lost for good.

The reaper takes a collection over only after its lease expired plus MIGRATION_CALL_TIMEOUT,
the deadline of the longest single Milvus call (see migrations_app/engine/fence.py): by then any
request the old run sent in time has finished or been abandoned.

The heartbeat survives database errors (the connection is closed and opened again at the next
beat); a run that cannot renew for longer than its lease stops itself at its next check.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from jobs.models import Job, JobCollection

log = logging.getLogger("jobs")


class Lease:
    """The lease of one run (collection `pk`, `attempt`; or of a key range: `model` JobRange)."""

    def __init__(self, pk: int, attempt: int, job_id: str, model=JobCollection) -> None:
        self.model = model
        self.pk = pk
        self.attempt = attempt
        self.job_id = job_id
        self.length = float(settings.MIGRATION_STALE_AFTER)
        self.deadline = 0.0  # monotonic; nothing held before the first renewal
        self.lost = False
        self.owner_thread = threading.get_ident()
        self.lock = threading.Lock()

    @property
    def rows(self):
        return self.model.objects.filter(pk=self.pk, attempt=self.attempt)

    def renew(self) -> bool:
        """Extend the lease (a conditional update on the attempt); False once it is lost.
        Database errors propagate: the caller decides whether to try again."""
        if self.lost:
            return False
        started = time.monotonic()
        now = timezone.now()
        renewed = self.rows.update(
            lease_expires_at=now + timedelta(seconds=self.length), heartbeat_at=now
        )
        with self.lock:
            if not renewed:
                self.lost = True
                log.warning(
                    "job %s: collection %s attempt %s lost its lease (taken over)",
                    self.job_id,
                    self.pk,
                    self.attempt,
                )
                return False
            self.deadline = max(self.deadline, started + self.length)
        Job.objects.filter(pk=self.job_id).exclude(status__in=Job.FINAL_STATES).update(
            heartbeat_at=now
        )
        return True

    def left(self) -> float:
        """Seconds the lease still holds (0: lost). Past the local deadline, the run's own
        thread tries one renewal first (the heartbeat may only be late)."""
        if self.lost:
            return 0.0
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            return remaining
        if threading.get_ident() != self.owner_thread:
            return 0.0
        try:
            renewed = self.renew()
        except Exception:  # noqa: BLE001 - no database, no lease
            log.exception("job %s: lease renewal failed", self.job_id)
            db_connection.close()
            return 0.0
        return max(self.deadline - time.monotonic(), 0.0) if renewed else 0.0

    def held(self) -> bool:
        return self.left() > 0


class Heartbeat:
    """Renews `lease` every MIGRATION_HEARTBEAT seconds on a thread of its own until stopped or
    the lease is lost; a failed renewal is tried again at the next beat."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"heartbeat-{lease.job_id}-{lease.pk}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        lease = self.lease
        last_renewal = time.monotonic()
        try:
            while not self.stopping.wait(settings.MIGRATION_HEARTBEAT):
                try:
                    if not lease.renew():
                        return
                    last_renewal = time.monotonic()
                except Exception:  # noqa: BLE001 - a database error is retried at the next beat
                    log.exception("job %s: heartbeat failed", lease.job_id)
                    db_connection.close()  # a broken connection is opened again next time
                    if time.monotonic() - last_renewal > lease.length:
                        # Its deadline has passed: the run stops at its next check unless
                        # that check's own renewal gets through.
                        log.error(
                            "job %s: collection %s could not renew its lease for %.0f s",
                            lease.job_id,
                            lease.pk,
                            time.monotonic() - last_renewal,
                        )
        finally:
            db_connection.close()  # this thread's own connection
