"""Refusals of the console's services: one message a person can act on, and a kind.

The kind decides how each caller shows it (DESIGN §3 "Refusals"): the wizard puts the message on
the step where the input was made, the REST API maps the kind to its HTTP status, the CLI exits
non-zero with it. Messages speak of the product (fields, clusters, collections), never of CLI
flags or URLs.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    INVALID = "invalid"  # 400/422: the request itself is wrong
    FORBIDDEN = "forbidden"  # 403: a watcher tries to change something
    NOT_FOUND = "not_found"  # 404: unknown, or not the caller's to see
    CONFLICT = "conflict"  # 409: a name is taken, or the object is in the wrong state
    UNAVAILABLE = "unavailable"  # 503: a cluster that cannot be reached right now
    TOO_MANY = "too_many"  # 429: the user's limit for the window is used up


HTTP_STATUS = {
    Kind.INVALID: 400,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.UNAVAILABLE: 503,
    Kind.TOO_MANY: 429,
}


class ServiceError(Exception):
    """Bad input or a refused action; `message` says what to change.

    `problems` lists every finding when a check found several (all are reported at once);
    `message` then summarises them. `step` names where the input was made ("source",
    "target", "collections", "schema") so the wizard can show the message there. `field`
    names the input the message is about, in the product's words ("project", "token",
    "username"), so a form or a command can point at its own field or flag.
    """

    kind: Kind = Kind.INVALID

    def __init__(
        self,
        message: str,
        *,
        kind: Kind | None = None,
        problems: list[str] | None = None,
        step: str = "",
        field: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.problems = list(problems) if problems else [message]
        self.step = step
        self.field = field

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.kind]


class Invalid(ServiceError):
    kind = Kind.INVALID


class Forbidden(ServiceError):
    kind = Kind.FORBIDDEN


class NotFound(ServiceError):
    kind = Kind.NOT_FOUND


class Conflict(ServiceError):
    kind = Kind.CONFLICT


class Unavailable(ServiceError):
    kind = Kind.UNAVAILABLE


class TooMany(ServiceError):
    kind = Kind.TOO_MANY


def sentence(message: str) -> str:
    """A service message as a form shows it: capitalised, with a full stop."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
