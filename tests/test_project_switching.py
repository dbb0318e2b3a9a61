"""The current project changes only through the switcher's POST form (CSRF-protected); a
`?project=` in a page's address shows that project without changing the session."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from console.access import SESSION_PROJECT
from console.models import Cluster
from tests.conftest import PASSWORD


def _selected(page: str) -> str:
    return re.search(r'<option value="([^"]+)" selected>', page).group(1)


def test_it_shows_a_project_named_in_the_address_without_switching_to_it(
    owner_client, project, other_project
):
    owner_client.post(reverse("switch_project"), {"project": project.pk})
    assert owner_client.session[SESSION_PROJECT] == project.pk

    for url in (reverse("clusters"), reverse("jobs")):
        page = owner_client.get(url, {"project": other_project.pk}).content.decode()
        assert _selected(page) == other_project.pk  # the header names the page's project
        assert owner_client.session[SESSION_PROJECT] == project.pk  # the session did not move

    page = owner_client.get(reverse("clusters")).content.decode()
    assert _selected(page) == project.pk


def test_a_clusters_page_does_not_switch_to_its_project(owner_client, project, other_project):
    owner_client.post(reverse("switch_project"), {"project": other_project.pk})
    cluster = Cluster.objects.create(
        project=project, name="in-default", kind=Cluster.Kind.EXTERNAL, uri="http://127.0.0.1:1"
    )
    page = owner_client.get(reverse("cluster_detail", args=[cluster.pk])).content.decode()
    assert _selected(page) == project.pk
    assert owner_client.session[SESSION_PROJECT] == other_project.pk


def test_a_get_never_writes_the_chosen_project_into_a_new_session(owner_client, other_project):
    owner_client.get(reverse("clusters"), {"project": other_project.pk})
    assert SESSION_PROJECT not in owner_client.session


def test_the_switcher_needs_the_csrf_token(owner, project, other_project):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))  # the CSRF cookie, as a browser gets it
    token = client.cookies["csrftoken"].value
    credentials = {"email": owner.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    client.post(reverse("login"), credentials)
    assert client.session.get("_auth_user_id") == str(owner.pk)

    refused = client.post(reverse("switch_project"), {"project": other_project.pk})
    assert refused.status_code == 403
    assert client.session.get(SESSION_PROJECT) != other_project.pk

    page = client.get(reverse("clusters")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    switched = client.post(
        reverse("switch_project"), {"project": other_project.pk, "csrfmiddlewaretoken": token}
    )
    assert switched.status_code == 302
    assert client.session[SESSION_PROJECT] == other_project.pk


def test_the_switcher_submits_without_an_inline_handler(owner_client):
    page = owner_client.get(reverse("clusters")).content.decode()
    form = re.search(r'<form class="switcher"[^>]*>', page).group(0)
    assert "data-autosubmit" in form
    assert not re.search(r"\son[a-z]+=", page)  # the policy refuses inline handlers
