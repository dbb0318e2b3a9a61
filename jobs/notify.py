"""When a job ends: its creator gets an e-mail, its project's webhook the job as a signed POST.

jobs.lifecycle queues `jobs.notify_end` after every final transition (SUCCESSFUL, FAILED,
CANCELED) has committed; the task (jobs.tasks) calls `job_ended` here, then delivers the
webhook event, one attempt per task, with back-off between attempts (`retry_delay`).

The webhook's body is exactly the object `GET /v2/jobs/{jobId}` answers with (its `data`,
jobs.serializers.job_data), as a member of the job's project sees it: a source cluster of
another project is named only "a cluster of another project". The body is made once, when the
job ends, and every attempt sends those same bytes.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from console.webhook_delivery import Event
from jobs.access import hide_source_in, hide_sources, hide_sources_of_other_projects, visible_jobs
from jobs.events import log_event
from jobs.models import Job
from jobs.serializers import iso, job_data

log = logging.getLogger("jobs")


def job_ended(job_id: str) -> Event | None:
    """E-mail the creator of the (final) job; the webhook event to deliver, or None when the
    job's project has no webhook (or the job is not final: a Retry came first, and its own
    end will notify)."""
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None or not job.is_final:
        return None
    email_creator(job)
    if not job.project.webhook_url:
        return None
    return Event(
        project_id=job.project_id,
        job_id=job.pk,
        job_status=job.status,
        event_id=str(uuid.uuid4()),
        body=webhook_body(job),
    )


def webhook_body(job: Job) -> bytes:
    """The job as `GET /v2/jobs/{jobId}` gives it to a member of its project, as JSON bytes."""
    hide_sources_of_other_projects([job])
    return json.dumps(job_data(job), separators=(",", ":")).encode()


def email_creator(job: Job) -> bool:
    """Tell the job's creator how it ended, with a link to View Details; whether a mail went.

    Nobody is mailed who may no longer see the job (left the project, deactivated). A mail
    that cannot be sent is a line in the job's log, never a failure of the job.
    """
    user = job.created_by
    if user is None or not user.is_active or not user.email:
        return False
    if not visible_jobs(user).filter(pk=job.pk).exists():
        return False
    hide_sources(user, [job])
    context = {
        "job": job,
        "reason": hide_source_in(job, job.reason),
        "source": job.source_label,
        "collections": list(job.collections.all()),
        "started": iso(job.started_at),
        "ended": iso(job.ended_at),
        "link": settings.CONSOLE_URL + reverse("job_detail", args=[job.pk]),
    }
    subject = f"{job.get_type_display()} job {job.pk}: {job.get_status_display()}"
    try:
        send_mail(
            subject,
            render_to_string("jobs/email/ended.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
    except Exception as exc:  # noqa: BLE001 - smtplib and the backends raise many kinds
        log_event(
            job,
            f"the e-mail to {user.email} about the job's end could not be sent: {exc}",
            level="WARNING",
        )
        return False
    return True


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, ...): WEBHOOK_RETRY_DELAY,
    doubled after each further failure, at most WEBHOOK_RETRY_MAX_DELAY."""
    delay = settings.WEBHOOK_RETRY_DELAY * 2 ** (attempt - 1)
    return min(delay, settings.WEBHOOK_RETRY_MAX_DELAY)


def event_args(event: Event) -> dict[str, Any]:
    """The event as a task argument (JSON)."""
    return {
        "project_id": event.project_id,
        "job_id": event.job_id,
        "job_status": event.job_status,
        "event_id": event.event_id,
        "body": event.body.decode(),
    }


def event_from(args: dict[str, Any]) -> Event:
    return Event(**{**args, "body": args["body"].encode()})
