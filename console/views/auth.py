"""Log in (with failed-login throttling), log out, switch the current project."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from console import throttle
from console.access import SESSION_PROJECT, get_project_for
from console.forms import LoginForm
from console.middleware import ENDED_PARAM, SESSION_ENDED


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        email, ip = form.cleaned_data["email"].lower(), throttle.client_ip(request)
        if not throttle.begin_login(email, ip):
            form.add_error(None, "Too many failed attempts. Try again in a few minutes.")
            status = 429
        else:
            user = authenticate(request, email=email, password=form.cleaned_data["password"])
            if user is None:
                form.add_error(None, "Incorrect email or password.")
                status = 400
            else:
                throttle.login_succeeded(email, ip)
                login(request, user)
                return redirect(_safe_next(request))
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "registration/login.html",
        {
            "form": form,
            "next": request.GET.get("next", ""),
            # Set by console.middleware when an htmx request of an open page found no session.
            "ended": SESSION_ENDED if request.GET.get(ENDED_PARAM) == "1" else "",
        },
        status=status,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You have logged out.")
    return redirect("login")


def _section_list(next_url: str) -> str:
    """The list page of the section `next_url` belongs to (/clusters/7/ -> /clusters/).

    A page about one object (a cluster, a job, a wizard step) belongs to the project it was
    opened in; after a switch the user lands on the section's list in the new project instead,
    so no object is ever shown under another project's name. Relies on each section's list
    living at its first path segment (clusters/, jobs/, migrations/, api-keys/).
    """
    path = next_url.split("?", 1)[0].split("#", 1)[0]
    section = "/" + path.strip("/").split("/", 1)[0] + "/" if path.strip("/") else "/"
    try:
        resolve(section)
    except Resolver404:
        return settings.LOGIN_REDIRECT_URL
    return section


@require_POST
def switch_project(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    project = get_project_for(request.user, request.POST.get("project", ""))
    request.session[SESSION_PROJECT] = project.pk
    return redirect(_section_list(_safe_next(request)))
