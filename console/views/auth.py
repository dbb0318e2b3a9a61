"""Log in (with failed-login throttling), log out, switch the current project."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from console import throttle
from console.access import SESSION_PROJECT, get_project_for
from console.forms import LoginForm


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
        {"form": form, "next": request.GET.get("next", "")},
        status=status,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@require_POST
def switch_project(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    project = get_project_for(request.user, request.POST.get("project", ""))
    request.session[SESSION_PROJECT] = project.pk
    return redirect(_safe_next(request))
