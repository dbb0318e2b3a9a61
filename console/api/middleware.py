"""Errors under /v2/ that never reached an API handler still answer `{"code", "message"}`."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/v2/"


class ApiErrorShapeMiddleware:
    """Rewrites a non-JSON error under /v2/ (Django's 404 page for an unknown path, ninja's
    405 for a wrong method, Django's 400/500 pages) into the API's error shape.

    The API's own handlers (console.api.base) already answer JSON: those pass untouched.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        status = response.status_code
        if status == 404:
            message = "no such endpoint"
        elif status == 405:
            message = f"method {request.method} is not allowed here (allowed: {response['Allow']})"
        else:
            message = response.reason_phrase.lower()
        shaped = JsonResponse({"code": status, "message": message}, status=status)
        if "Allow" in response:
            shaped["Allow"] = response["Allow"]
        return shaped
