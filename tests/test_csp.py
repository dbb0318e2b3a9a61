"""Every response carries the Content-Security-Policy (console.middleware), and no template
has what the policy refuses: inline scripts, on...= handlers, style attributes or <style>.
tests/e2e/test_csp.py proves in Chromium that the pages work under it without a violation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse

from console.middleware import ContentSecurityPolicyMiddleware
from console.models import ApiKey
from tests.conftest import ApiClient

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    assert header == settings.CONTENT_SECURITY_POLICY
    return dict(d.strip().split(" ", 1) for d in header.split(";"))


def test_it_sends_the_policy_with_pages(client, owner_client):
    for response in (client.get(reverse("login")), owner_client.get(reverse("clusters"))):
        assert response.status_code == 200
        directives = policy(response)
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"


def test_it_sends_the_policy_with_redirects_errors_and_static_files(client, owner_client):
    assert policy(client.get(reverse("clusters")))  # 302 to the login page
    assert policy(owner_client.get("/clusters/no-such-cluster/"))  # 404
    assert policy(client.get("/static/console/console.js"))


def test_it_leaves_djangos_debug_error_pages_alone_with_debug_on(rf, settings):
    def missing(request):
        return HttpResponse("technical 404", status=404)

    def found(request):
        return HttpResponse("a page")

    settings.DEBUG = True
    assert "Content-Security-Policy" not in ContentSecurityPolicyMiddleware(missing)(rf.get("/"))
    assert policy(ContentSecurityPolicyMiddleware(found)(rf.get("/")))
    settings.DEBUG = False
    assert policy(ContentSecurityPolicyMiddleware(missing)(rf.get("/")))


def test_it_sends_the_policy_with_the_api(owner):
    _, raw = ApiKey.issue(owner, "csp")
    for response in (
        ApiClient(raw).get("/v2/jobs"),
        ApiClient(None).get("/v2/jobs"),  # 401
        ApiClient(raw).get("/v2/no-such-endpoint"),  # 404 in the API's shape
        ApiClient(None).get(reverse("api-openapi")),
    ):
        assert policy(response)


def test_a_view_may_set_its_own_policy(rf):
    def view(request):
        response = HttpResponse()
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    response = ContentSecurityPolicyMiddleware(view)(rf.get("/"))
    assert response["Content-Security-Policy"] == "default-src 'none'"


REFUSED = {
    "an inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "an inline event handler": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "a style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "a <style> element": re.compile(r"<style[\s>]", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
}


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_what_the_policy_refuses(template):
    text = template.read_text()
    found = [what for what, pattern in REFUSED.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(TEMPLATES)} has {', '.join(found)}"
