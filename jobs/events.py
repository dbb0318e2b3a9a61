"""Writing a job's log (JobEvent): redacted first, and mirrored to the process log."""

from __future__ import annotations

import logging

from console.redaction import redact
from jobs.models import Job, JobCollection, JobEvent

log = logging.getLogger("jobs")

_LEVELS = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


def job_secrets(job: Job) -> list[str]:
    """The credentials of the job's source and target, to be removed from anything shown.

    Also used by the log download, which redacts again in case an older line slipped through.
    """
    secrets: list[str] = []
    connection = job.source_connection()
    if connection is not None:
        secrets.extend(connection.secrets())
    target = getattr(job, "target_cluster", None)
    if target is not None:
        secrets.extend(target.secrets())
    return secrets


def log_event(
    job: Job, message: str, *, level: str = "INFO", collection: JobCollection | None = None
) -> None:
    """Add a line to the job's log. Credentials of the job's source (and any that look like
    one) are removed before anything is written."""
    text = redact(message, job_secrets(job))[:4000]
    JobEvent.objects.create(job_id=job.pk, collection=collection, level=level, message=text)
    where = f" [{collection.source_name}]" if collection is not None else ""
    log.log(_LEVELS.get(level, logging.INFO), "job %s%s: %s", job.pk, where, text)
