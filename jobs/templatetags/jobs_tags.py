"""Formatting for the Jobs page and View Details: durations, times, status badges (counts:
console_tags' `number`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
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
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>', _BADGES.get(status, ""), status, label
    )


@register.filter
def timestamp(value: datetime | None, missing: str = "—") -> SafeString:
    """A time as the console shows it, in UTC: `<time datetime="…" title="UTC">Y-m-d H:i:s</time>`;
    `missing` (muted) when there is none."""
    if value is None:
        return format_html('<span class="muted">{}</span>', missing)
    value = timezone.localtime(value, timezone.get_current_timezone())
    return format_html(
        '<time datetime="{}" title="UTC">{}</time>',
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M:%S"),
    )


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
