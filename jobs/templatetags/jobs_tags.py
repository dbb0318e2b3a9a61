"""Formatting for the Jobs page and View Details: durations, times, status badges (counts:
console_tags' `number`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe

from jobs.progress import retrying_text

register = template.Library()

# Job and JobCollection statuses → the console's badge colours (static/console/console.css).
_BADGES = {
    "SUCCESSFUL": "badge-ok",
    "DONE": "badge-ok",
    "VERIFIED": "badge-ok",
    "FAILED": "badge-bad",
    "MISMATCH": "badge-bad",
    "IN_PROGRESS": "badge-info",
    "CREATING": "badge-info",
    "COPYING": "badge-info",
    "INDEXING": "badge-info",
    "VERIFYING": "badge-info",
    "CANCELING": "badge-warn",
    "CANCELED": "badge-warn",
}


@register.filter
def badge(status: str, label: str) -> SafeString:
    """A status badge: `{{ job.status|badge:job.status_label }}`; jobs/_badge.html is this
    filter for `{% include %}` callers (the Jobs page renders one per row, in one call)."""
    return mark_safe(  # noqa: S308 - every value escaped
        f'<span class="badge {_BADGES.get(status, "")}" data-status="{escape(status)}">'
        f"{escape(label)}</span>"
    )


@register.filter
def timestamp(value: datetime | None, missing: str = "—") -> SafeString:
    """A time as the console shows it, in UTC: `<time datetime="…" title="UTC">Y-m-d H:i:s</time>`;
    `missing` (muted) when there is none."""
    if value is None:
        return format_html('<span class="muted">{}</span>', missing)
    # "2026-11-30T23:51:07.123456+00:00" shown as "2026-11-30 23:51:07": digits and separators
    # only, nothing to escape (the Jobs page shows two per row).
    iso = value.astimezone(timezone.get_current_timezone()).isoformat()
    return mark_safe(f'<time datetime="{iso}" title="UTC">{iso[:10]} {iso[11:19]}</time>')  # noqa: S308


@register.filter
def collections_line(job) -> str:
    """The Jobs row's " · 2 collections: docs, users → users_v2" (each collection named, with
    its target where the target's name or database differs; the first three, then "+N more").
    Reads `row_collections` (jobs.views.page.attach_collections)."""
    names = job.row_collections
    if not names:
        return ""
    parts = []
    for c in names[:3]:
        target = c.target_name if c.target_db == c.source_db else f"{c.target_db}.{c.target_name}"
        parts.append(c.source_name if target == c.source_name else f"{c.source_name} → {target}")
    more = f" +{len(names) - 3} more" if len(names) > 3 else ""
    plural = "" if len(names) == 1 else "s"
    return f" · {len(names)} collection{plural}: {', '.join(parts)}{more}"


@register.filter
def span(value: timedelta | float | int | None) -> str:
    """A duration as people read it: "45s", "3m 05s", "2h 04m"; "—" when unknown."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    seconds = max(seconds, 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


@register.filter
def breakable_email(email: str | None) -> SafeString | str:
    """An email that may wrap after its "@" in a narrow column."""
    if not email:
        return "—"
    local, at, domain = email.partition("@")
    return mark_safe(f"{escape(local)}{at}<wbr>{escape(domain)}")  # noqa: S308 - both parts escaped


@register.filter
def retrying(collections) -> str:
    """The first "retrying: …" line of a job's collections (the Jobs row); "" when none."""
    for c in collections:
        if c.retrying:
            return retrying_text(c.retrying)
    return ""


_PK = "JOB_ID_PLACEHOLDER"


@cache
def _url_of(name: str, script_prefix: str) -> str:
    return reverse(name, args=[_PK])


def job_url(name: str, job_id: str) -> str:
    """reverse(name, args=[job_id]) for jobs/urls.py's `<str:job_id>` paths, reversed once
    per name (a Jobs row names three of them; reverse costs 20 µs each)."""
    return _url_of(name, get_script_prefix()).replace(_PK, job_id, 1)


@register.simple_tag(takes_context=True)
def job_row(context, job) -> SafeString:
    """One row of the Jobs page (`{% job_row job %}`; the page's `job-row` partial, which the
    row's poll renders too). Built here rather than from template tags: a page renders 20 of
    them, and with 10,000 jobs a search fills the page where 10 jobs fill one row
    (bench/jobs_page.py). Context: org_scope, highlight, can_manage, cancel_why."""
    org_scope, highlight = context.get("org_scope"), context.get("highlight", "")
    pk = escape(job.pk)
    detail_url = escape(job_url("job_detail", job.pk))
    marked = job.pk == highlight
    attributes = ' class="row-highlight" aria-current="true"' if marked else ""
    if not job.is_final:
        query = "&amp;".join(
            part
            for part, wanted in (("scope=org", org_scope), (f"highlight={pk}", marked))
            if wanted
        )
        poll_url = escape(job_url("job_row", job.pk)) + (f"?{query}" if query else "")
        attributes += (
            f' hx-get="{poll_url}" hx-trigger="every 2s" hx-swap="outerHTML"'
            """ hx-headers='{"X-Console-Poll": "1"}'"""
        )
    project = f'<td data-label="Project">{escape(job.project.name)}</td>' if org_scope else ""
    email = breakable_email(job.created_by.email if job.created_by else None)
    # Every value is escaped here or comes escaped from a helper of this module.
    return mark_safe(  # noqa: S308
        f'<tr id="job-{pk}" data-status="{escape(job.status)}"{attributes}>'
        f'<td data-label="Description &amp; Type"><a href="{detail_url}">'
        f"{escape(job.description)}</a>"
        f'<p class="help muted">{escape(job.type_label)}{escape(collections_line(job))}</p></td>'
        f"{project}"
        f'<td data-label="Status">{badge(job.status, job.status_label)}{_row_progress(job)}</td>'
        f'<td data-label="Job ID"><span class="job-id"><code>{pk}</code>'
        f'<button type="button" class="copy" data-copy="{pk}" aria-label="Copy job ID {pk}"'
        ' title="Copy job ID">Copy</button></span></td>'
        '<td data-label="Start Time &amp; End Time" class="times">'
        f"<span>{timestamp(job.started_at, 'Not started')}</span>"
        f" <span>{timestamp(job.ended_at)}</span></td>"
        f'<td data-label="Created By">{conditional_escape(email)}</td>'
        '<td data-label="Actions"><div class="actions">'
        f'<a class="btn btn-small" href="{detail_url}">View Details</a>'
        f"{cancel_button(context, job)}</div></td></tr>"
    )


def _row_progress(job) -> SafeString | str:
    """Under the row's badge: the bar and its figure (and a source being retried) while the
    job runs or cancels; "Waiting for a free slot" while it waits for one."""
    if job.status in ("IN_PROGRESS", "CANCELING"):
        line = retrying(job.row_collections)
        return format_html(
            '<progress class="row-progress" max="100" value="{p}" aria-label="Progress of {pk}">'
            '{p}%</progress><p class="help muted">{p}%</p>{retrying}',
            p=job.progress,
            pk=job.pk,
            retrying=format_html('<p class="help warn-note">{}</p>', line) if line else "",
        )
    if job.is_waiting_for_slot:
        return format_html('<p class="help muted">{}</p>', "Waiting for a free slot")
    return ""


@register.simple_tag(takes_context=True)
def cancel_button(context, job) -> SafeString | str:
    """The Cancel action of a job that may still be canceled (Jobs row, View Details).
    Context: can_manage, cancel_why. Without scripts the form opens the confirmation page; with
    them jobs.js opens the page's <dialog>. A watcher's Cancel shows why not on hover (title),
    and on click or tap (it opens the #cancel-why popover of _cancel_dialog.html, outside the
    polled rows)."""
    if not job.can_cancel:
        return ""
    if context.get("can_manage"):
        return format_html(
            '<form method="get" action="{}" class="inline"><button type="submit"'
            ' class="btn btn-small btn-danger" data-cancel-job="{}">Cancel</button></form>',
            job_url("job_cancel", job.pk),
            job.pk,
        )
    return format_html(
        '<button type="button" class="btn btn-small" aria-disabled="true" title="{}"'
        ' aria-describedby="cancel-why" popovertarget="cancel-why">Cancel</button>',
        context.get("cancel_why", ""),
    )
