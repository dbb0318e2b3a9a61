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
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

# Seconds since the epoch of the session's last request that counted as activity.
SESSION_LAST_ACTIVITY = "console:last_activity"
# A session is written (a database write) at most this often to renew it; the idle timeout
# is therefore exact to within this many seconds.
RENEW_EVERY = 60
# Sent by the elements that poll (job rows, job and cluster details): a page left open is
# idle, so its polls do not renew the session (templates set it with hx-headers).
POLL_HEADER = "X-Console-Poll"
# The login page's query parameter that makes it say SESSION_ENDED (views/auth.py).
ENDED_PARAM = "ended"
SESSION_ENDED = "Your session ended. Log in again."


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


def _login_url(next_path: str, ended: bool = False) -> str:
    query = {"next": next_path}
    if ended:
        query[ENDED_PARAM] = "1"
    return f"{resolve_url(settings.LOGIN_URL)}?{urlencode(query)}"


def page_of(request: HttpRequest) -> str:
    """The page an htmx request came from (HX-Current-URL), as a path of this site; the
    default page after login when it names none or another site (never an open redirect)."""
    page = request.htmx.current_url_abs_path if request.htmx else None
    if (
        page
        and page.startswith("/")
        and url_has_allowed_host_and_scheme(page, {request.get_host()}, request.is_secure())
    ):
        return page
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class IdleSessionMiddleware:
    """Logs a session out after settings.SESSION_IDLE_TIMEOUT seconds without a request
    (polls excepted, see POLL_HEADER); every other request renews it.

    An htmx request that finds no logged-in user (idle, expired or deleted session, logged
    out in another tab) never reaches a view: whatever a view answered (the login page
    through a redirect, a 403, a form) would be swapped into the page. It gets an empty 200
    with HX-Redirect to the login page instead, with the page it came from as `next` and the
    login page saying SESSION_ENDED; htmx then loads that page in full. The login page itself
    has no htmx request. Needs request.htmx (HtmxMiddleware) and the message storage, so it
    sits after both in MIDDLEWARE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check_idle(request)
        if request.htmx and not request.user.is_authenticated:
            return HttpResponseClientRedirect(_login_url(page_of(request), ended=True))
        return self.get_response(request)

    def _check_idle(self, request: HttpRequest) -> None:
        now = int(time.time())
        last = request.session.get(SESSION_LAST_ACTIVITY)
        if isinstance(last, int) and now - last > settings.SESSION_IDLE_TIMEOUT:
            logout(request)  # a new, empty session: the request goes on as anonymous
            if not request.htmx:  # an htmx request's login page says SESSION_ENDED instead
                hours = settings.SESSION_IDLE_TIMEOUT / 3600
                idle = (
                    f"{hours:g} hours" if hours >= 1 else f"{settings.SESSION_IDLE_TIMEOUT} seconds"
                )
                messages.info(request, f"You were logged out after {idle} without activity.")
            return
        polling = request.headers.get(POLL_HEADER) == "1"
        if not polling and (not isinstance(last, int) or now - last >= RENEW_EVERY):
            request.session[SESSION_LAST_ACTIVITY] = now
