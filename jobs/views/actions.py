"""Cancel, Retry, Verify Again, Repair and the speed cap (POST). The service decides; a refusal (wrong state) becomes a flash
message, and the user goes back to the page they came from.

Cancel also answers GET with a confirmation page: the Jobs page's Cancel button opens a
<dialog> when scripts run, and falls back to that page when they do not.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from console.errors import ServiceError
from jobs.access import get_job_for
from jobs.forms import RetrySourceForm, SpeedCapForm
from jobs.models import Job
from migrations_app import service


def _back(request: HttpRequest, job: Job) -> str:
    """Where to go after the POST: `next` (the page the form was on), else the page the
    request came from, else View Details. Only this site's own addresses."""
    for target in (
        request.POST.get("next"),
        request.GET.get("next"),
        request.headers.get("HX-Current-URL"),
        request.headers.get("Referer"),
    ):
        if target and url_has_allowed_host_and_scheme(
            target, {request.get_host()}, request.is_secure()
        ):
            return target
    return reverse("job_detail", args=[job.pk])


def _go(request: HttpRequest, url: str) -> HttpResponse:
    # htmx would follow a 302 and swap the whole page into its target: tell it to navigate.
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for(request.user, job_id, write=True, action=service.ACTION_CANCEL)
    if request.method == "GET":
        return render(request, "jobs/cancel.html", {"job": job, "next": _back(request, job)})
    try:
        job = service.cancel_job(request.user, job)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if job.status == Job.Status.CANCELED:
            messages.success(request, f"Job {job.pk} canceled.")
        else:
            messages.success(request, f"Job {job.pk} is being canceled: it stops within seconds.")
    return _go(request, _back(request, job))


@login_required
@require_POST
def job_retry(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_job_for(request.user, job_id, write=True, action=service.ACTION_RETRY)
    source = None
    if "uri" in request.POST:  # the source's credentials given again (View Details' form)
        form = RetrySourceForm(request.POST, job=job)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return _go(request, _back(request, job))
        source = form.connection()
    try:
        job = service.retry_job(request.user, job, source)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Job {job.pk} retried: its unfinished collections run again from their checkpoints.",
        )
    return _go(request, _back(request, job))


@login_required
@require_POST
def job_verify(request: HttpRequest, job_id: str) -> HttpResponse:
    """Verify Again: the new VERIFICATION job's View Details, or back with the refusal."""
    job = get_job_for(request.user, job_id, write=True, action=service.ACTION_VERIFY)
    try:
        verification = service.verify_again(request.user, job)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _go(request, _back(request, job))
    messages.success(
        request,
        f"Verification {verification.pk} started: it compares every row of the source and "
        "target as they are now.",
    )
    return _go(request, reverse("job_detail", args=[verification.pk]))


@login_required
@require_POST
def job_repair(request: HttpRequest, job_id: str) -> HttpResponse:
    """Repair: the new REPAIR job's View Details, or back with the refusal."""
    job = get_job_for(request.user, job_id, write=True, action=service.ACTION_REPAIR)
    try:
        repair = service.repair_job(request.user, job)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _go(request, _back(request, job))
    messages.success(
        request,
        f"Repair {repair.pk} started: it copies again only the key ranges that differ, then "
        "verifies every row.",
    )
    return _go(request, reverse("job_detail", args=[repair.pk]))


@login_required
@require_POST
def job_speed_cap(request: HttpRequest, job_id: str) -> HttpResponse:
    """View Details' Speed Cap form: the running copies follow it from their next batch."""
    job = get_job_for(request.user, job_id, write=True, action=service.ACTION_SPEED_CAP)
    form = SpeedCapForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return _go(request, _back(request, job))
    try:
        job = service.set_speed_cap(
            request.user,
            job,
            form.cleaned_data["max_rows_per_second"],
            form.cleaned_data["max_mb_per_second"],
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Speed cap of job {job.pk}: {job.speed_cap.describe()}.")
    return _go(request, _back(request, job))
