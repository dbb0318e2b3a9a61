"""View Details (/jobs/<id>/): source → target, who and when, the overall and per-collection
progress with verification figures, and the job's log (JobEvents).

Two parts of the page poll while the job runs, each answering 286 once it is final: the body
(/jobs/<id>/live/) and the log (/jobs/<id>/log/, keeping its level and order). The log also
downloads as text (/jobs/<id>/log.txt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.http import HTMX_STOP_POLLING

from console.access import can_manage, refusal
from console.redaction import redact
from jobs.access import get_job_for, hide_source_in
from jobs.events import job_secrets
from jobs.forms import LogFilterForm, RetrySourceForm, SpeedCapForm
from jobs.models import Job, JobCollection, JobEvent, JobRun
from jobs.progress import Figures, figures, job_percent, retrying_text
from jobs.serializers import PHASES, iso, verification_details
from migrations_app.discard import ACTION_DISCARD
from migrations_app.service import ACTION_CANCEL, ACTION_REPAIR, ACTION_RETRY, ACTION_VERIFY

# The page shows this many log lines; the download has them all.
LOG_LIMIT = 500
# The job's last log line ("job successful…") is written just after its final status: the
# log keeps polling this long past the end so that line is not missed.
LOG_GRACE = timedelta(seconds=5)


@dataclass
class Phase:
    label: str
    took: timedelta | None
    running: bool


@dataclass
class CollectionRow:
    collection: JobCollection
    phases: list[Phase]
    report: dict | None
    details: dict | None = None  # serializers.verification_details of the report
    figures: Figures | None = None  # its own rows copied and verified (jobs.progress)
    retrying: str = ""  # "retrying: <reason> (attempt k of n, next in s)"


@dataclass
class Overview:
    figures: Figures
    percent: int  # from the same figures (jobs.progress), not a stored copy of them
    phase: str
    runs: list[JobRun]
    # The time the job ran: its runs' durations added up (a Retry's wait is not work).
    duration: timedelta | None
    # Once final: rows copied per second of the time the job ran.
    average: float | None = None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def collection_phases(collection: JobCollection, now: datetime) -> list[Phase]:
    """How long each phase took (or has taken so far), in the order they run."""
    out = []
    for phase in PHASES:
        times = (collection.phases or {}).get(phase)
        start = _time(times.get("start")) if times else None
        if start is None:
            continue
        end = _time(times.get("end"))
        running = end is None and collection.status == phase
        took = (end or now) - start if end is not None or running else None
        out.append(Phase(phase.label, took, running))
    return out


def overview(job: Job, collections: list[JobCollection]) -> Overview:
    found = figures(job.type, collections)
    if job.is_final:
        phase = "—"
    elif job.is_waiting_for_slot:
        phase = "Waiting for a free slot"
    elif job.status == Job.Status.CANCELING:
        phase = "Stopping"
    else:
        active = [
            c.get_status_display() for c in collections if c.status in JobCollection.ACTIVE_STATES
        ]
        if active:
            phase = ", ".join(
                f"{name} ({active.count(name)})" if len(active) > 1 else name
                for name in dict.fromkeys(active)
            )
        else:
            phase = "Waiting for a worker"
    runs = list(job.runs.all())
    duration = sum((run.duration for run in runs), timedelta()) if runs else job.duration
    average = None
    if job.is_final and duration and duration.total_seconds() > 0:
        average = found.copied / duration.total_seconds()
    return Overview(found, job_percent(job, collections), phase, runs, duration, average)


def _body_context(request: HttpRequest, job: Job) -> dict:
    collections = list(job.collections.prefetch_related("ranges"))
    now = timezone.now()
    # Text written by the tasks is redacted when written; redacting again here means a
    # credential that slipped into a row still never reaches the screen.
    secrets = job_secrets(job)
    for c in collections:
        c.error = hide_source_in(job, redact(c.error, secrets))
    summary = overview(job, collections)
    for run in summary.runs:
        run.reason = hide_source_in(job, redact(run.reason, secrets))
    return {
        "job": job,
        "reason": hide_source_in(job, redact(job.reason, secrets)),
        "overview": summary,
        "rows": [
            CollectionRow(
                c,
                collection_phases(c, now),
                c.report or None,
                verification_details(c.report),
                figures(job.type, [c]),
                hide_source_in(job, redact(retrying_text(c.retrying, now), secrets)),
            )
            for c in collections
        ],
        "can_manage": can_manage(request.user, job.project),
        "cancel_why": refusal(job.project, ACTION_CANCEL),
        "retry_why": refusal(job.project, ACTION_RETRY),
        "retry_source_form": (
            RetrySourceForm(job=job) if job.can_retry and job.source_credentials_removed else None
        ),
        # Verify Again and Repair read the migration's source: its credentials, when they
        # left it, are asked for again in the same kind of form.
        "again_source_form": (
            RetrySourceForm(job=job)
            if job.can_verify_again and _migration_credentials_removed(job)
            else None
        ),
        "verify_why": refusal(job.project, ACTION_VERIFY),
        "repair_why": refusal(job.project, ACTION_REPAIR),
        "discard_why": refusal(job.project, ACTION_DISCARD),
    }


def _migration_credentials_removed(job: Job) -> bool:
    """Whether another organization's credentials left the migration Verify Again and Repair
    of `job` would read (the job itself, or the migration it verified or repaired)."""
    migration = job if job.type == Job.Type.MIGRATION else job.verifies
    return migration is not None and migration.source_credentials_removed


def log_polling(job: Job) -> bool:
    if not job.is_final:
        return True
    return job.ended_at is not None and timezone.now() - job.ended_at < LOG_GRACE


def _log_context(request: HttpRequest, job: Job) -> dict:
    form = LogFilterForm(request.GET)
    level, order = form.values()
    events = job.events.select_related("collection").only(
        "id", "at", "level", "message", "job_id", "collection__source_name"
    )
    if level:
        events = events.filter(level=level)
    events = events.order_by(*(("at", "pk") if order == "oldest" else ("-at", "-pk")))
    shown = list(events[:LOG_LIMIT])
    secrets = job_secrets(job)
    for event in shown:
        event.message = hide_source_in(job, redact(event.message, secrets))
    first_error = (
        job.events.filter(level=JobEvent.Level.ERROR)
        .order_by("at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return {
        "job": job,
        "log_polling": log_polling(job),
        "log_form": form,
        "events": shown,
        "event_count": len(shown) if len(shown) < LOG_LIMIT else events.count(),
        "log_limit": LOG_LIMIT,
        "first_error": first_error,
        # The first error may be filtered out or beyond the lines shown: then the jump link
        # opens the log filtered to errors, oldest first.
        "first_error_shown": any(e.pk == first_error for e in shown),
        "log_query": request.GET.urlencode(),
    }


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for(request.user, job_id)
    context = _body_context(request, job) | _log_context(request, job)
    context["speed_cap"] = job.speed_cap.describe()
    context["speed_cap_form"] = SpeedCapForm(
        initial={
            "max_rows_per_second": job.max_rows_per_second,
            "max_mb_per_second": job.max_mb_per_second,
        }
    )
    return render(request, "jobs/detail.html", context)


@login_required
@require_GET
def job_live(request: HttpRequest, job_id: str) -> HttpResponse:
    """htmx poll of View Details' body; 286 with the final body once the job is final."""
    job = get_job_for(request.user, job_id)
    if not request.htmx:
        return redirect("job_detail", job_id=job.pk)
    status = HTMX_STOP_POLLING if job.is_final else 200
    return render(request, "jobs/detail.html#job-body", _body_context(request, job), status=status)


@login_required
@require_GET
def job_log(request: HttpRequest, job_id: str) -> HttpResponse:
    """htmx poll of the log (keeping its level and order); 286 once the job is final (and its
    last line written)."""
    job = get_job_for(request.user, job_id)
    if not request.htmx:
        return redirect("job_detail", job_id=job.pk)
    context = _log_context(request, job)
    status = 200 if context["log_polling"] else HTMX_STOP_POLLING
    return render(request, "jobs/detail.html#job-log", context, status=status)


@login_required
@require_GET
def job_log_txt(request: HttpRequest, job_id: str) -> HttpResponse:
    """The whole log as text, oldest first, as an attachment. Redacted again on the way out:
    lines are redacted when written, and a credential must never leave even if one slipped."""
    job = get_job_for(request.user, job_id)
    secrets = job_secrets(job)

    def lines():
        yield f"# {job.pk}: {job.description}\n"
        yield f"# status {job.status}, started {iso(job.started_at) or '-'}, ended {iso(job.ended_at) or '-'}\n"
        if job.reason:
            yield redact(f"# reason: {hide_source_in(job, job.reason)}\n", secrets)
        events = job.events.select_related("collection").order_by("at", "pk")
        for event in events.iterator(chunk_size=1000):
            where = f"[{event.collection.source_name}] " if event.collection_id else ""
            line = hide_source_in(job, f"{iso(event.at)} {event.level:<7} {where}{event.message}")
            yield redact(line, secrets) + "\n"

    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.pk}-log.txt"'
    response["Cache-Control"] = "no-store"
    return response
