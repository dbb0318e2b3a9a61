"""Login, logout, failed-login throttling, the project switcher and the API Keys page."""

from __future__ import annotations

import re
import threading

import pytest
from django.test import Client
from django.urls import reverse

from console import throttle
from console.access import SESSION_PROJECT
from console.models import ApiKey
from tests.conftest import PASSWORD

IP = "127.0.0.1"  # what Django's test client sends as REMOTE_ADDR
PROXY = "10.0.0.1"  # the reverse proxy every request comes through, when there is one
ADDRESSES = (IP, PROXY, "10.9.8.7", "203.0.113.9", "198.51.100.7", "1.1.1.1")
EMAILS = ("owner@acme.test", "viewer@acme.test", "nobody@acme.test", "nobody2@acme.test")


@pytest.fixture(autouse=True)
def clean_throttle(db):
    """Failed logins are counted in the shared Redis cache: start and end every test at zero."""
    for email in EMAILS:
        for address in ADDRESSES:
            throttle.reset(email, address)
    yield
    for email in EMAILS:
        for address in ADDRESSES:
            throttle.reset(email, address)


def log_in(client: Client, email: str, password: str, **extra):
    return client.post(reverse("login"), {"email": email, "password": password}, **extra)


# --- login and logout ---------------------------------------------------------------------


def test_it_shows_the_login_form_with_its_labels(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<label for="id_email">Email</label>', html)
    assert re.search(r'<label for="id_password">Password</label>', html)
    assert re.search(r'<button type="submit"[^>]*>Log in</button>', html)


def test_it_logs_in_with_email_and_password(client, owner):
    response = log_in(client, "Owner@Acme.test", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("clusters")
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_it_starts_in_the_organizations_first_project(client, owner, project, other_project):
    # "Analytics" sorts before "Default Project", yet the owner starts where the clusters are.
    log_in(client, owner.email, PASSWORD)
    page = client.get(reverse("api_keys")).content.decode()
    assert f'<option value="{project.pk}" selected>' in page


def test_it_refuses_a_wrong_password_with_a_clear_message(client, owner):
    response = log_in(client, owner.email, "not-the-password")
    assert response.status_code == 400
    assert "Incorrect email or password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_gives_the_same_message_for_an_unknown_email(client, db):
    response = log_in(client, "nobody@acme.test", "whatever")
    assert response.status_code == 400
    assert "Incorrect email or password." in response.content.decode()


def test_it_refuses_an_inactive_user(client, owner):
    owner.is_active = False
    owner.save()
    response = log_in(client, owner.email, PASSWORD)
    assert response.status_code == 400 and "_auth_user_id" not in client.session


def test_it_asks_for_a_valid_email(client, db):
    response = log_in(client, "not an email", "x")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_it_never_redirects_off_site_after_login(client, owner):
    response = client.post(
        reverse("login") + "?next=https://evil.example/",
        {"email": owner.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("clusters")


def test_it_returns_to_the_page_asked_for(client, owner):
    response = client.post(
        reverse("login"), {"email": owner.email, "password": PASSWORD, "next": reverse("api_keys")}
    )
    assert response["Location"] == reverse("api_keys")


def test_it_throttles_after_the_failure_limit(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert log_in(client, owner.email, "wrong-password").status_code == 400
    response = log_in(client, owner.email, PASSWORD)  # even the right password is refused now
    assert response.status_code == 429
    assert "Too many failed attempts. Try again in a few minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_still_lets_the_owner_in_from_an_address_that_has_not_failed(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(5):  # someone at another address hammers the account
        log_in(Client(REMOTE_ADDR="203.0.113.9"), owner.email, "guess")
    response = log_in(client, owner.email, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_it_counts_the_client_behind_the_proxy_not_the_proxy(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    for _ in range(3):
        assert log_in(attacker, owner.email, "guess").status_code == 400
    response = log_in(attacker, owner.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts." in response.content.decode()
    # Everyone else comes through the same proxy and still logs in.
    owner_at_home = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert log_in(owner_at_home, owner.email, PASSWORD).status_code == 302


def test_it_ignores_forwarded_for_entries_the_client_wrote(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the real address after whatever the client sent: rotating the
    # client's own entries does not make new addresses.
    for fake in ("1.1.1.1", "10.9.8.7", "198.51.100.7"):
        spoofed = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{fake}, 203.0.113.9")
        assert log_in(spoofed, owner.email, "guess").status_code == 400
    spoofed = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")
    assert log_in(spoofed, owner.email, PASSWORD).status_code == 429


def test_it_ignores_forwarded_for_without_a_trusted_proxy(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    assert settings.TRUSTED_PROXY_COUNT == 0
    for fake in ("1.1.1.1", "198.51.100.7", "203.0.113.9"):
        client = Client(REMOTE_ADDR="10.9.8.7", HTTP_X_FORWARDED_FOR=fake)
        assert log_in(client, owner.email, "guess").status_code == 400
    client = Client(REMOTE_ADDR="10.9.8.7", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert log_in(client, owner.email, PASSWORD).status_code == 429


def test_it_forgets_the_accounts_failures_after_a_successful_login(client, owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        log_in(client, owner.email, "wrong-password")
    assert log_in(client, owner.email, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(3):
        assert log_in(client, owner.email, "wrong-password").status_code == 400
    assert log_in(client, owner.email, PASSWORD).status_code == 429


def test_it_keeps_counting_an_address_that_logs_in_between_guesses(client, viewer, settings):
    """Password spraying: failures on many accounts, a login of one's own in between."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    assert log_in(client, "owner@acme.test", "guess").status_code == 400
    assert log_in(client, "nobody@acme.test", "guess").status_code == 400
    assert log_in(client, viewer.email, PASSWORD).status_code == 302  # its own account
    client.post(reverse("logout"))
    assert log_in(client, "nobody2@acme.test", "guess").status_code == 400
    response = log_in(client, "owner@acme.test", "guess")
    assert response.status_code == 429
    assert "Too many failed attempts." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_counts_parallel_failures_atomically(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        status = log_in(Client(), owner.email, "guess").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Exactly the limit got a guess; every other parallel attempt was refused unchecked.
    assert sorted(statuses) == [400] * 3 + [429] * 9


def test_it_marks_the_password_sensitive_in_error_reports(client, db):
    from django.views.debug import SafeExceptionReporterFilter

    request = client.post(reverse("login"), {"email": "a@b.io", "password": "s3cret"}).wsgi_request
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned["password"] != "s3cret" and cleaned["email"] == "a@b.io"


def test_it_logs_out_only_by_post(owner_client):
    assert owner_client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in owner_client.session
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in owner_client.session


def test_it_sends_anonymous_visitors_to_login(client, db):
    response = client.get(reverse("api_keys"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


# --- project switcher ---------------------------------------------------------------------


def test_it_switches_to_another_project_of_the_organization(owner_client, other_project):
    response = owner_client.post(
        reverse("switch_project"), {"project": other_project.pk, "next": reverse("api_keys")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("api_keys")
    assert owner_client.session[SESSION_PROJECT] == other_project.pk
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert f'<option value="{other_project.pk}" selected>' in page


def test_it_lands_on_the_list_of_the_chosen_project_when_switching_on_a_detail_page(
    owner_client, project, other_project
):
    from console.models import Cluster

    cluster = Cluster.objects.create(
        project=project,
        name="old-project-cluster",
        kind=Cluster.Kind.EXTERNAL,
        status=Cluster.Status.STOPPED,
        uri="http://127.0.0.1:1",
    )
    detail = reverse("cluster_detail", args=[cluster.pk])
    response = owner_client.post(
        reverse("switch_project"), {"project": other_project.pk, "next": detail}
    )
    assert response.status_code == 302 and response["Location"] == reverse("clusters")
    page = owner_client.get(response["Location"]).content.decode()
    assert f'<option value="{other_project.pk}" selected>' in page
    assert "old-project-cluster" not in page and "Analytics" in page


def test_it_drops_the_old_project_from_the_address_when_switching(owner_client, other_project):
    response = owner_client.post(
        reverse("switch_project"),
        {"project": other_project.pk, "next": reverse("clusters") + "?project=prj-old"},
    )
    assert response["Location"] == reverse("clusters")


def test_it_names_a_clusters_own_project_in_the_switcher_on_its_page(
    owner_client, project, other_project
):
    from console.models import Cluster

    owner_client.post(reverse("switch_project"), {"project": other_project.pk})
    cluster = Cluster.objects.create(
        project=project,
        name="in-default",
        kind=Cluster.Kind.EXTERNAL,
        status=Cluster.Status.STOPPED,
        uri="http://127.0.0.1:1",
    )
    page = owner_client.get(reverse("cluster_detail", args=[cluster.pk])).content.decode()
    assert f'<option value="{project.pk}" selected>' in page


def test_it_says_so_after_logging_out(owner_client):
    response = owner_client.post(reverse("logout"), follow=True)
    assert "You have logged out." in response.content.decode()


def test_it_lists_only_the_projects_a_user_may_see(viewer_client, project, other_project):
    page = viewer_client.get(reverse("api_keys")).content.decode()
    assert project.pk in page and other_project.pk not in page


def test_it_refuses_to_switch_into_another_organizations_project(owner_client, outsider, project):
    foreign = outsider.memberships.get().organization.projects.get()
    response = owner_client.post(reverse("switch_project"), {"project": foreign.pk})
    assert response.status_code == 404
    assert owner_client.session.get(SESSION_PROJECT) != foreign.pk


def test_it_refuses_a_project_member_switching_into_a_project_not_theirs(
    viewer_client, other_project
):
    response = viewer_client.post(reverse("switch_project"), {"project": other_project.pk})
    assert response.status_code == 404


def test_it_switches_only_by_post(owner_client, project):
    assert owner_client.get(reverse("switch_project"), {"project": project.pk}).status_code == 405


# --- API Keys page ------------------------------------------------------------------------

KEY_RE = re.compile(re.escape(ApiKey.PREFIX) + r"[A-Za-z0-9_\-]+")


def _session_of(client: Client) -> dict:
    """The client's session as the session store holds it (not the client's own copy)."""
    from importlib import import_module

    from django.conf import settings

    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=key).load()


def test_it_shows_a_new_key_once_and_stores_only_its_hash(viewer_client, viewer):
    response = viewer_client.post(reverse("api_keys"), {"name": "ci pipeline"})
    # The answer to the POST shows the key; nothing caches it, nothing carries it further.
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = KEY_RE.search(response.content.decode()).group(0)
    key = ApiKey.objects.get(user=viewer)
    assert key.name == "ci pipeline"
    assert key.key_hash == ApiKey.hash_key(raw)
    stored = [str(v) for v in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert not any(raw in value for value in stored)
    assert ApiKey.authenticate(raw) == viewer
    again = viewer_client.get(reverse("api_keys")).content.decode()
    assert raw not in again and "ci pipeline" in again and key.key_prefix in again


def test_it_never_puts_a_new_key_in_the_session(attacker_client):
    """Issue 15: the raw key stayed in the session store until the next API Keys page."""
    response = attacker_client.post(reverse("api_keys"), {"name": "deploy"})
    raw = KEY_RE.search(response.content.decode()).group(0)
    session = _session_of(attacker_client)
    assert session  # the login is there: this is the store the key would have been put in
    assert raw not in repr(session)
    assert raw[len(ApiKey.PREFIX) :] not in repr(session)


def test_it_makes_no_second_key_when_the_create_is_reposted(owner_client, owner):
    form = {"name": "deploy"}
    assert owner_client.post(reverse("api_keys"), form).status_code == 200
    # Reloading the answer re-posts the form: the name is taken by then.
    again = owner_client.post(reverse("api_keys"), form)
    assert again.status_code == 400
    assert "You already have an API key named &#x27;deploy&#x27;" in again.content.decode()
    assert 'id="new-key"' not in again.content.decode()
    assert ApiKey.objects.filter(user=owner).count() == 1


def test_it_refuses_the_key_after_the_limit_per_user(attacker_client, attacker, owner, settings):
    """Issue 15: one user made 55 keys, each with its own request rate."""
    settings.API_KEYS_PER_USER = 10
    ApiKey.issue(owner, "not the attacker's")  # another user's keys do not count
    for n in range(10):
        assert attacker_client.post(reverse("api_keys"), {"name": f"k{n}"}).status_code == 200
    response = attacker_client.post(reverse("api_keys"), {"name": "k10"})
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        "You already have 10 API keys, the most one user may hold: delete one you no longer "
        "use, then create the new one."
    ) in page
    assert 'id="new-key"' not in page
    assert ApiKey.objects.filter(user=attacker).count() == 10
    # Deleting one makes room for one.
    attacker_client.post(
        reverse("api_key_delete", args=[ApiKey.objects.filter(user=attacker)[0].pk])
    )
    assert attacker_client.post(reverse("api_keys"), {"name": "k10"}).status_code == 200


def test_it_refuses_a_second_key_of_the_same_name(owner_client, owner, viewer):
    ApiKey.issue(viewer, "deploy")  # another user's key of that name is no conflict
    assert owner_client.post(reverse("api_keys"), {"name": "deploy"}).status_code == 200
    response = owner_client.post(reverse("api_keys"), {"name": "Deploy"})
    assert response.status_code == 400
    assert "You already have an API key named &#x27;Deploy&#x27;" in response.content.decode()
    assert 'id="new-key"' not in response.content.decode()
    assert ApiKey.objects.filter(user=owner).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_counts_parallel_creates_against_the_limit(attacker, settings):
    """The user's row is locked while the keys are counted: parallel creates cannot all read
    "2 of 3" and all make one."""
    from django.db import connection

    settings.API_KEYS_PER_USER = 3
    made: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def create(n: int) -> None:
        start.wait()
        try:
            ApiKey.issue(attacker, f"k{n}")
            with lock:
                made.append(f"k{n}")
        except Exception as exc:  # noqa: BLE001 - the refusal is the point
            with lock:
                made.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(m for m in made if m == "Conflict") == ["Conflict"] * 5
    assert ApiKey.objects.filter(user=attacker).count() == 3


def test_it_offers_a_copy_button_next_to_the_new_key(owner_client):
    page = owner_client.post(reverse("api_keys"), {"name": "deploy"}).content.decode()
    assert '<code class="secret" id="new-key">' in page
    assert '<button type="button" class="btn btn-small" data-copy="new-key">Copy</button>' in page
    assert "console/console.js" in page


def test_it_refuses_a_key_without_a_name(owner_client, owner):
    response = owner_client.post(reverse("api_keys"), {"name": ""})
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_it_lists_only_the_users_own_keys(owner_client, viewer):
    ApiKey.issue(viewer, "viewer's key")
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert "viewer&#x27;s key" not in page and "No API keys yet." in page


def test_it_deletes_the_users_own_key_and_says_so(owner_client, owner):
    key, _ = ApiKey.issue(owner, "old")
    response = owner_client.post(reverse("api_key_delete", args=[key.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("api_keys")
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert "API key &#x27;old&#x27; deleted." in page


def test_it_hides_another_users_key_behind_a_404(outsider_client, owner):
    key, raw = ApiKey.issue(owner, "owner's")
    assert outsider_client.post(reverse("api_key_delete", args=[key.pk])).status_code == 404
    assert ApiKey.authenticate(raw) == owner


def test_it_asks_before_deleting_a_key(owner_client, owner):
    key, _ = ApiKey.issue(owner, "keep")
    page = owner_client.get(reverse("api_keys")).content.decode()
    # The Delete button opens a confirmation dialog; without JavaScript it links to a page.
    assert f'data-dialog="delete-key-{key.pk}"' in page
    assert f'<dialog id="delete-key-{key.pk}"' in page and "Delete API Key</button>" in page
    confirm = owner_client.get(reverse("api_key_delete", args=[key.pk]))
    assert confirm.status_code == 200
    assert "Delete API Key</button>" in confirm.content.decode()
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_it_links_the_rest_apis_openapi_document(owner_client):
    page = owner_client.get(reverse("api_keys")).content.decode()

    assert '<a href="/v2/openapi.json">OpenAPI description</a>' in page
    assert owner_client.get("/v2/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "persona", ["owner_client", "project_admin_client", "viewer_client", "outsider_client"]
)
def test_it_gives_every_persona_their_own_api_keys_page(request, persona, owner):
    ApiKey.issue(owner, "owner only")
    client = request.getfixturevalue(persona)
    response = client.get(reverse("api_keys"))
    assert response.status_code == 200
    page = response.content.decode()
    assert ("owner only" in page) == (persona == "owner_client")
    created = client.post(reverse("api_keys"), {"name": f"{persona} key"})
    assert created.status_code == 200
    assert KEY_RE.search(created.content.decode())


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("owner_client", True),
        ("project_admin_client", False),
        ("viewer_client", False),
        ("outsider_client", False),
    ],
)
def test_it_lets_only_members_of_a_project_switch_into_it(request, persona, allowed, other_project):
    client = request.getfixturevalue(persona)
    response = client.post(reverse("switch_project"), {"project": other_project.pk})
    assert response.status_code == (302 if allowed else 404)
