"""Every connection the wizard makes the server open to a typed endpoint counts against the
same per-user limit as Test connection (console.throttle): Connect, the listings of a typed
source, and the live name check against an external target. The draft keeps what it read, so
going back and forth does not read (or count) again. Issue 15: the listings and the name check
connected uncounted, and their answers made the console a port scanner."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console import throttle
from console.clusters.lite_process import free_port
from console.models import Cluster
from migrations_app.models import WizardDraft
from tests.milvus import MilvusClient
from tests.wizard.helpers import cluster_on, draft_url_of, fill_source, walk_current_to_schema


@pytest.fixture(autouse=True)
def _counters(owner, attacker):
    for user in (owner, attacker):
        throttle.reset_connection_tests(user.pk)
    yield
    for user in (owner, attacker):
        throttle.reset_connection_tests(user.pk)


def test_it_limits_connection_attempts_per_user(owner, owner_client, settings):
    settings.CONNECTION_TEST_LIMIT = 2
    data = {"uri": f"http://127.0.0.1:{free_port()}", "auth": "API_KEY", "api_key": "k"}
    for _ in range(2):
        assert (
            "Cannot reach 127.0.0.1:"
            in owner_client.post(reverse("wizard_other"), data).content.decode()
        )
    html = owner_client.post(reverse("wizard_other"), data).content.decode()
    assert throttle.TOO_MANY_CONNECTION_TESTS in html
    assert "Cannot reach" not in html
    assert not WizardDraft.objects.exists()


@pytest.fixture
def typed_source(lite_server) -> str:
    fill_source(lite_server.uri)
    client = MilvusClient(uri=lite_server.uri)
    client.create_database("second")
    client.close()
    return lite_server.uri


def test_it_counts_the_source_listings_and_reuses_what_the_draft_read(
    attacker_client, settings, typed_source
):
    settings.CONNECTION_TEST_LIMIT = 2
    base = draft_url_of(
        attacker_client.post(reverse("wizard_other"), {"uri": typed_source, "auth": "API_KEY"})
    )  # 1: Connect lists the databases
    page = attacker_client.get(base + "source/").content.decode()  # 2: default's collections
    assert ">docs</label>" in page

    # Read again from the draft, not the source: the limit is used up, and nothing is refused.
    for _ in range(3):
        page = attacker_client.get(base + "source/").content.decode()
        assert ">docs</label>" in page and throttle.TOO_MANY_CONNECTION_TESTS not in page
        fragment = attacker_client.get(
            base + "source/collections/", {"source_db": "default"}, HTTP_HX_REQUEST="true"
        ).content.decode()
        assert ">docs</label>" in fragment

    # A database not read yet would be a third connection: refused, in the step's words.
    fragment = attacker_client.get(
        base + "source/collections/", {"source_db": "second"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert throttle.TOO_MANY_CONNECTION_TESTS in fragment
    page = attacker_client.get(base + "source/", {"source_db": "second"}).content.decode()
    assert throttle.TOO_MANY_CONNECTION_TESTS in page


def test_it_counts_every_listing_that_fails(attacker_client, settings, lite_server):
    """A failed read is not kept: each one connected, and counts."""
    settings.CONNECTION_TEST_LIMIT = 3
    base = draft_url_of(
        attacker_client.post(reverse("wizard_other"), {"uri": lite_server.uri, "auth": "API_KEY"})
    )
    draft = WizardDraft.objects.get()
    draft.data["databases"] = ["default", "a", "b", "c"]  # as if Connect had listed them
    draft.save()
    answers = [
        attacker_client.get(
            base + "source/collections/", {"source_db": db}, HTTP_HX_REQUEST="true"
        ).content.decode()
        for db in ("a", "b", "c")
    ]
    assert all(throttle.TOO_MANY_CONNECTION_TESTS not in a for a in answers[:2])
    assert throttle.TOO_MANY_CONNECTION_TESTS in answers[2]


def _name_check(client, base, names) -> str:
    params = {"index": 0, **{f"c{i}-target_name": n for i, n in enumerate(names)}}
    response = client.get(base + "schema/name/", params, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_it_counts_the_name_check_against_an_external_target(
    attacker_client, other_project, lite_factory, settings
):
    source_server, target_server = lite_factory(), lite_factory()
    fill_source(source_server.uri)
    taken = MilvusClient(uri=target_server.uri)
    taken.create_collection("docs", dimension=4)
    taken.close()
    source = cluster_on(other_project, source_server, "src", Cluster.Plan.SERVERLESS)
    target = cluster_on(
        other_project, target_server, "ext", Cluster.Plan.DEDICATED, kind=Cluster.Kind.EXTERNAL
    )
    base = walk_current_to_schema(attacker_client, source, target, ["docs"])
    settings.CONNECTION_TEST_LIMIT = 1

    # 1: the target's names are read once and kept for this visit of Configure Schema.
    for _ in range(3):
        html = _name_check(attacker_client, base, ["docs"])
        assert "Collection docs already exists in database default of the target." in html
    assert "docs_v2 is free" in _name_check(attacker_client, base, ["docs_v2"])

    # A new visit reads them again: a second connection, over the limit.
    attacker_client.get(base + "schema/")
    html = _name_check(attacker_client, base, ["docs"])
    assert f"cannot check the target: {throttle.TOO_MANY_CONNECTION_TESTS}" in html
    assert "already exists" not in html


def test_it_does_not_count_the_name_check_against_a_local_target(
    attacker_client, other_project, lite_factory, settings
):
    source_server, target_server = lite_factory(), lite_factory()
    fill_source(source_server.uri)
    source = cluster_on(other_project, source_server, "src", Cluster.Plan.SERVERLESS)
    target = cluster_on(other_project, target_server, "dst", Cluster.Plan.DEDICATED)
    base = walk_current_to_schema(attacker_client, source, target, ["docs"])
    settings.CONNECTION_TEST_LIMIT = 1
    for _ in range(3):
        attacker_client.get(base + "schema/")  # each visit reads the names again
        assert "docs is free" in _name_check(attacker_client, base, ["docs"])


def test_it_counts_reads_of_an_external_source_in_the_current_organization(
    attacker_client, other_project, lite_factory, settings
):
    server = lite_factory()
    fill_source(server.uri)
    ext = cluster_on(
        other_project, server, "ext", Cluster.Plan.DEDICATED, kind=Cluster.Kind.EXTERNAL
    )
    settings.CONNECTION_TEST_LIMIT = 1
    databases = reverse("wizard_source_databases") + f"?source_cluster={ext.pk}"
    assert '<option value="default"' in attacker_client.get(databases).content.decode()
    html = attacker_client.get(databases).content.decode()
    assert throttle.TOO_MANY_CONNECTION_TESTS in html
    assert '<option value="default"' not in html
