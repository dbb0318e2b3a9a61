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
