"""Two protections every response of the console gets: a Content-Security-Policy header, and
the end of sessions that stayed idle for longer than SESSION_IDLE_TIMEOUT.

Both are settings-driven (console/settings.py: CONTENT_SECURITY_POLICY, SESSION_IDLE_TIMEOUT).
Django 5.2 has no CSP support of its own (6.0 adds one); this is the small part we need.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

# Seconds since the epoch of the session's last request that counted as activity.
SESSION_LAST_ACTIVITY = "console:last_activity"
# A session is written (a database write) at most this often to renew it; the idle timeout
# is therefore exact to within this many seconds.
RENEW_EVERY = 60
# Sent by the elements that poll (job rows, job and cluster details): a page left open is
# idle, so its polls do not renew the session (templates set it with hx-headers).
POLL_HEADER = "X-Console-Poll"


@receiver(user_logged_in, dispatch_uid="console.session_activity_at_login")
def _activity_at_login(sender, request: HttpRequest, **kwargs) -> None:
    # Logging in is activity: the session starts with its clock set (login writes the session
    # anyway), so the first pages after it need no write of their own.
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_LAST_ACTIVITY] = int(time.time())


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response (pages, the API, static files)
    that has none yet. Outermost in MIDDLEWARE so error pages and redirects get it too.

    With DEBUG on, error responses go without it: Django's technical 404 and 500 pages (never
    shown in production) are made of inline styles and scripts.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.DEBUG and response.status_code >= 400:
            return response
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


def _login_url(next_path: str) -> str:
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_path})}"


class IdleSessionMiddleware:
    """Logs a session out after settings.SESSION_IDLE_TIMEOUT seconds without a request
    (polls excepted, see POLL_HEADER); every other request renews it.

    An htmx request that finds no logged-in user (idle, expired, logged out in another tab)
    would swap the login page into the page; it gets an HX-Redirect to the login page
    instead, with the page it came from as `next`. Needs request.htmx (HtmxMiddleware) and
    the message storage, so it sits after both in MIDDLEWARE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check_idle(request)
        response = self.get_response(request)
        return self._redirect_htmx_to_login(request, response)

    def _check_idle(self, request: HttpRequest) -> None:
        now = int(time.time())
        last = request.session.get(SESSION_LAST_ACTIVITY)
        if isinstance(last, int) and now - last > settings.SESSION_IDLE_TIMEOUT:
            logout(request)  # a new, empty session: the request goes on as anonymous
            hours = settings.SESSION_IDLE_TIMEOUT / 3600
            idle = f"{hours:g} hours" if hours >= 1 else f"{settings.SESSION_IDLE_TIMEOUT} seconds"
            messages.info(request, f"You were logged out after {idle} without activity.")
            return
        polling = request.headers.get(POLL_HEADER) == "1"
        if not polling and (not isinstance(last, int) or now - last >= RENEW_EVERY):
            request.session[SESSION_LAST_ACTIVITY] = now

    def _redirect_htmx_to_login(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        login = resolve_url(settings.LOGIN_URL)
        if (
            not getattr(request, "htmx", False)
            or response.status_code != 302
            or not response.get("Location", "").startswith(login)
        ):
            return response
        # `next` is the page, not the fragment the htmx request asked for.
        page = request.htmx.current_url_abs_path or resolve_url(settings.LOGIN_REDIRECT_URL)
        return HttpResponseClientRedirect(_login_url(page))
