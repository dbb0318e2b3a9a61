"""A service refusal as a command's error: the service speaks the product's words ("a project"),
each command knows which of its flags sets that input and names it after the message."""

from __future__ import annotations

from django.core.management.base import CommandError

from console.errors import ServiceError


def command_error(exc: ServiceError, flags: dict[str, str]) -> CommandError:
    """`flags` maps the service's field names to this command's flags ({"project": "--project"})."""
    flag = flags.get(exc.field)
    return CommandError(f"{exc.message} ({flag})" if flag else exc.message)
