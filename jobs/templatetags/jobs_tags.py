"""Formatting for the Jobs page and View Details: durations, row counts, status badges."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.html import escape
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
def badge_class(status: str) -> str:
    return _BADGES.get(status, "")


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
def rows(value: int | float | None) -> str:
    """1234567 → "1,234,567"."""
    if value is None:
        return "—"
    return f"{int(value):,}"


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
