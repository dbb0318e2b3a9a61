"""What every REST v2 endpoint shares: Bearer keys, the per-key rate limit, the JSON body
parser, the `{"code", "data"}` / `{"code", "message"}` envelopes and the error handlers.

Contract (DESIGN §7): success is HTTP 200 `{"code": 0, "data": {...}}`; every failure is a 4xx
(or 5xx) status with `{"code": <the status>, "message": "<reason>"}` — never a stack trace or
a credential. Service refusals map by kind (console.errors.HTTP_STATUS).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle
from pydantic import ConfigDict

from console.errors import Kind, ServiceError
from console.models import ApiKey, Project, User

log = logging.getLogger("console.api")

# --- envelopes --------------------------------------------------------------------------


class StrictSchema(Schema):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    code: int
    message: str


# Every status an endpoint may answer with besides 200; all carry ErrorOut. Listed in the
# OpenAPI document so clients (and the contract test) know them.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 429, 503})
ERRORS: dict[frozenset[int], type[Schema]] = {ERROR_STATUSES: ErrorOut}


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 0, "data": data}


def error_response(api: NinjaAPI, request: HttpRequest, status: int, message: str) -> HttpResponse:
    return api.create_response(request, {"code": status, "message": message}, status=status)


# --- authentication and rate limit ----------------------------------------------------------


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`: the key's user, with that user's roles.

    Only the key decides: a session cookie is never looked at, so the API needs no CSRF token
    (a browser cannot be tricked into sending a Bearer header). A deleted (revoked) key fails
    at once: every request looks the key up.
    """

    def __call__(self, request: HttpRequest) -> User | None:
        # ninja's own version logs a non-Bearer header in DEBUG: a credential in a log.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        token = token.strip()
        if not token or len(token) > 200:
            return None
        key = ApiKey.find(token)
        if key is None:
            return None
        # The rate limit counts per key; the hash (never the key) names its counter.
        request.api_key_ident = ApiKey.hash_key(token)[:32]
        request.api_key_project = key.project  # None: every project of the user
        request.user = key.user  # nothing downstream may fall back to the session's user
        return key.user


def key_scope(request: HttpRequest) -> Project | None:
    """The one project the request's API key may reach, or None when it reaches every
    project of its user."""
    return getattr(request, "api_key_project", None)


def check_key_scope(request: HttpRequest, project: Project) -> None:
    """403 when the request's key is scoped to another project than `project`.

    Called after the tenancy check (console.access), so `project` is one the key's user may
    see: naming it tells the caller nothing new.
    """
    scope = key_scope(request)
    if scope is not None and scope.pk != project.pk:
        raise PermissionDenied(
            f"This API key is limited to project {scope.name} ({scope.pk}); "
            f"it cannot be used for project {project.name} ({project.pk})."
        )


class KeyRateLimit(BaseThrottle):
    """At most settings.API_RATE_LIMIT requests per second per key (fixed one-second windows).

    The counter is an atomic INCR in the shared Redis cache, so every web process counts
    together. A denied request answers 429 with Retry-After (ninja adds the header from wait()).
    """

    def allow_request(self, request: HttpRequest) -> bool:
        ident = getattr(request, "api_key_ident", None)
        if ident is None:  # not authenticated: 401 already answered
            return True
        key = f"api-rate:{ident}:{int(time.time())}"
        cache.add(key, 0, timeout=2)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=2)
            count = 1
        return count <= settings.API_RATE_LIMIT

    def wait(self) -> float:
        return 1.0  # the current window ends within a second


# --- the body parser ----------------------------------------------------------------------


class BodyRejected(HttpError):
    """A body that is not one JSON object of an acceptable size."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JsonBodyParser(Parser):
    """Bodies are JSON (whatever the Content-Type says) and at most API_MAX_BODY_BYTES long.

    ninja wraps anything this raises into a 400 "Cannot parse request body"; the error
    handler unwraps a BodyRejected (see `_http_error`) so the client reads our status and reason.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise BodyRejected(413, f"the request body is larger than {limit} bytes")
        try:
            body = request.body
        except RequestDataTooBig:
            raise BodyRejected(413, f"the request body is larger than {limit} bytes") from None
        if len(body) > limit:
            raise BodyRejected(413, f"the request body is larger than {limit} bytes")
        try:
            return json.loads(body, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError):
            raise BodyRejected(400, "the request body is not valid JSON") from None


# --- error handlers -----------------------------------------------------------------------

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def _field_path(loc: tuple | list) -> str:
    parts = list(loc)
    # ninja prefixes the source ("body", "query", "path") and, for a body, the parameter name.
    if parts and parts[0] == "body":
        parts = parts[2:]
    elif parts and parts[0] in ("query", "path"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming every field that is wrong, e.g. `source.clusterId: is required`."""
    lines = []
    for error in errors[:10]:
        text = _MESSAGES.get(error.get("type", ""), error.get("msg", "is not valid"))
        text = text.removeprefix("Value error, ")
        lines.append(f"{_field_path(error.get('loc', ()))}: {text}")
    if len(errors) > 10:
        lines.append(f"and {len(errors) - 10} more")
    return "; ".join(lines)


def install_error_handlers(api: NinjaAPI) -> None:
    """Every error the API answers becomes `{"code": <status>, "message": "..."}`."""

    @api.exception_handler(ValidationError)
    def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # An absent body, or one that is not an object, fails at the body itself
        # ("body.payload"): say it plainly instead of naming ninja's parameter.
        if any(tuple(e.get("loc", ())) == ("body", "payload") for e in exc.errors):
            return error_response(api, request, 400, "the request body must be a JSON object")
        return error_response(api, request, 422, validation_message(exc.errors))

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = error_response(
            api,
            request,
            401,
            "a valid API key is required: send it as 'Authorization: Bearer <key>'",
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        cause = exc.__cause__
        if isinstance(cause, BodyRejected):
            exc = cause
        if exc.status_code == 429:
            return error_response(
                api,
                request,
                429,
                f"too many requests: at most {settings.API_RATE_LIMIT} per second per API key",
            )
        return error_response(api, request, exc.status_code, exc.message)

    @api.exception_handler(ServiceError)
    def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        response = error_response(api, request, exc.http_status, exc.message)
        if exc.kind == Kind.TOO_MANY:
            # The only TooMany: connections to typed endpoints, counted per window.
            response["Retry-After"] = str(settings.CONNECTION_TEST_WINDOW)
        return response

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        # The message of console.access ("No such job") names the kind, never the owner.
        message = str(exc) or "not found"
        return error_response(api, request, 404, message)

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, 403, str(exc) or "forbidden")

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Logged with its traceback (the log filter redacts credentials); the client gets
        # no detail of it.
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(api, request, 500, "internal error: the request could not be served")
