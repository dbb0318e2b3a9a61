"""403, 404 and 500 pages: in the console's layout, saying what happened and what to do;
a 404 says the same whether the object does not exist or is not the user's to see."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.models import Cluster


def test_it_tells_a_read_only_member_in_the_layout_who_may_create_clusters(viewer_client, project):
    response = viewer_client.get(reverse("cluster_create"))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<aside class="sidebar" aria-label="Main">' in html  # the layout, with navigation
    assert "<title>Not allowed" in html
    assert (
        "Only Organization Owners and Project Admins can create clusters in project "
        "Default Project." in html
    )
    assert "Ask an Organization Owner" in html
    assert 'href="/clusters/">Go to Clusters</a>' in html


def test_it_names_the_refused_action_on_each_clusters_page(viewer_client, project):
    cluster = Cluster.objects.create(project=project, name="prod", uri="http://127.0.0.1:1")
    pages = {
        reverse("cluster_register"): "register clusters",
        reverse("cluster_delete", args=[cluster.pk]): "delete clusters",
    }
    for url, action in pages.items():
        response = viewer_client.get(url)
        assert response.status_code == 403
        assert f"Only Organization Owners and Project Admins can {action}" in (
            response.content.decode()
        )


def test_it_answers_an_outsider_with_the_same_404_as_for_a_missing_cluster(
    outsider_client, project
):
    cluster = Cluster.objects.create(project=project, name="secret-name", uri="http://x:1")
    hidden = outsider_client.get(reverse("cluster_detail", args=[cluster.pk]))
    missing = outsider_client.get(reverse("cluster_detail", args=["in01-doesnotexist"]))
    assert hidden.status_code == missing.status_code == 404
    html = hidden.content.decode()
    assert "secret-name" not in html and "Acme" not in html
    assert '<aside class="sidebar" aria-label="Main">' in html
    assert "This page does not exist" in html
    assert _main(html) == _main(missing.content.decode())


def _main(html: str) -> str:
    return html[html.index('<main id="content">') : html.index("</main>")]


def test_it_shows_a_styled_404_to_anonymous_visitors(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "console/console.css" in html and "This page does not exist" in html
    assert 'href="/login/">Log in</a>' in html


@pytest.mark.django_db
def test_it_shows_a_styled_500_page_when_a_view_breaks(owner, settings):
    settings.ROOT_URLCONF = "tests.urls_broken"
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get("/broken/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "console/console.css" in html
    assert "Something went wrong on our side" in html and "Try again in a moment" in html


def test_it_serves_a_favicon(client, db):
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon" href="/static/console/favicon.svg"' in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/console/favicon.svg"
    assert client.get(response["Location"]).status_code == 200


def test_it_explains_an_expired_form_in_the_layout(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("api_keys"), {"name": "no token"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "console/console.css" in html and "This form has expired" in html
    assert "reload the page, and send the form again" in html
