"""Template helpers shared by every page."""

from __future__ import annotations

from django import template

from console.access import refusal as _refusal
from console.models import Project

register = template.Library()


@register.simple_tag
def refusal(project: Project, action: str) -> str:
    """`{% refusal project "create clusters" as why %}`: the same words as the 403 page."""
    return _refusal(project, action)


@register.filter
def number(value: int | float | None) -> str:
    """The console's one way to write a count or a rate: 1234567 → "1,234,567", 2818.4 →
    "2,818"; "—" when unknown. Every page uses it, so figures read alike everywhere."""
    if value is None or value == "":
        return "—"
    return f"{round(float(value)):,}"
