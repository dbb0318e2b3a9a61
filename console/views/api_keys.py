"""API Keys page: a user's own bearer keys for the REST API. The raw key is shown once.

The raw key of a new key is in the answer to the POST that made it and nowhere else: not in
the session (a session store is read by whoever reads the database or Redis, and a key left
there until the next page would outlive the page), and never cached (`no-store`). Reloading
that answer re-posts the form, and the name is then taken: no second key. Delete answers with
a redirect.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from console.access import visible_projects
from console.errors import ServiceError
from console.models import ApiKey, Project, User


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key Name", max_length=100)
    project = forms.ModelChoiceField(
        label="Project",
        queryset=Project.objects.none(),
        required=False,
        empty_label="All my projects",
        help_text="A key for one project is refused (403) everywhere else.",
    )

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only projects the user may see: another id is "not one of the available choices".
        self.fields["project"].queryset = visible_projects(user).order_by(
            "organization__name", "name"
        )
        self.fields["project"].label_from_instance = lambda p: f"{p.name} ({p.organization.name})"


def _no_store(response: HttpResponse) -> HttpResponse:
    # The page may show a raw key once: never let a cache keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.user, request.POST or None)
    status, new_key = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                key, raw = ApiKey.issue(
                    request.user, form.cleaned_data["name"], project=form.cleaned_data["project"]
                )
            except ServiceError as exc:
                form.add_error("name", exc.message)
            else:
                status, new_key, form = (
                    200,
                    {"name": key.name, "raw": raw},
                    ApiKeyForm(request.user),
                )
    keys = ApiKey.objects.filter(user=request.user).select_related("project")
    response = render(
        request,
        "console/api_keys.html",
        {"form": form, "keys": keys, "new_key": new_key},
        status=status,
    )
    return _no_store(response)


@login_required
@require_http_methods(["GET", "POST"])
def api_key_delete(request: HttpRequest, key_id: int) -> HttpResponse:
    """GET: the confirmation page (the dialog on the API Keys page, without JavaScript).
    POST: delete, say so, back to the list."""
    key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    if request.method == "POST":
        key.delete()
        messages.success(
            request, f"API key {key.name!r} deleted. Requests using it are now refused."
        )
        return redirect("api_keys")
    return render(request, "console/api_key_delete.html", {"key": key})
