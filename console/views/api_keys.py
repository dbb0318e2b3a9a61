"""API Keys page: a user's own bearer keys for the REST API. The raw key is shown once."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key Name", max_length=100)


@login_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _, new_key = ApiKey.issue(request.user, form.cleaned_data["name"])
        form = ApiKeyForm()
    keys = ApiKey.objects.filter(user=request.user)
    response = render(
        request, "console/api_keys.html", {"form": form, "keys": keys, "new_key": new_key}
    )
    # The page may show a raw key once: never let a cache keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_key_delete(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    key.delete()
    return redirect("api_keys")
