"""Typed endpoints never reach the console's own services (console.clients.own_services): the
Redis of REDIS_URL, the database of DATABASE_URL and the web server (WEB_PORTS), whatever
MIGRATION_ALLOW_PRIVATE_ENDPOINTS says, refused before any connection is made (issue 15:
with private endpoints on, the wizard reached the console's Redis, PostgreSQL and web ports).

"Before any connection" is proven by a listening socket that records the connections it
accepts; the same socket on a port that is no service's does record one, so the refusal is of
host and port, not of 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.urls import reverse

from console import throttle
from console.clients import own_services
from migrations_app.models import WizardDraft

REFUSED = "typed endpoints may never reach the console&#x27;s own services"


class Recorder:
    """A TCP listener on 127.0.0.1 that nobody accepts from: `connected()` says whether
    anything connected (a pending connection waits in the backlog)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connected(self) -> bool:
        try:
            peer, _ = self.sock.accept()
        except BlockingIOError:
            return False
        peer.close()
        return True


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made: list[Recorder] = []

    def make() -> Recorder:
        made.append(Recorder())
        return made[-1]

    yield make
    for r in made:
        r.sock.close()


@pytest.fixture(autouse=True)
def _counters(attacker):
    throttle.reset_connection_tests(attacker.pk)
    yield
    throttle.reset_connection_tests(attacker.pk)


def _connect(client, uri: str) -> str:
    response = client.post(reverse("wizard_other"), {"uri": uri, "auth": "API_KEY", "api_key": "k"})
    assert response.status_code == 400
    return response.content.decode()


def test_it_refuses_the_redis_port_before_connecting(attacker_client, recorder, settings):
    redis = recorder()
    # A host name, resolved: the endpoint spells the address another way.
    settings.REDIS_URL = f"redis://localhost:{redis.port}/0"
    for uri in (
        f"http://127.0.0.1:{redis.port}",
        f"http://[::ffff:127.0.0.1]:{redis.port}",
        f"tcp://2130706433:{redis.port}",
    ):
        html = _connect(attacker_client, uri)
        assert "is the console&#x27;s own Redis; " + REFUSED in html
    assert not redis.connected()
    assert not WizardDraft.objects.exists()

    # The same host on a port that is no service's is connected to (and not a Milvus).
    other = recorder()
    html = _connect(attacker_client, f"http://127.0.0.1:{other.port}")
    assert REFUSED not in html
    assert other.connected()


def test_it_refuses_the_redis_the_tests_run_on(attacker_client):
    redis = urlsplit(django_settings.REDIS_URL)
    html = _connect(attacker_client, f"http://localhost:{redis.port or 6379}")
    assert f"localhost:{redis.port or 6379} is the console&#x27;s own Redis" in html


def test_it_refuses_the_database_port_before_connecting(
    attacker_client, recorder, settings, monkeypatch
):
    database = settings.DATABASES["default"]
    if db_connection.vendor == "postgresql":
        # The suite's own PostgreSQL: its port is taken, so only the message can be read.
        port, listener = int(database.get("PORT") or 5432), None
    else:
        # SQLite reads neither HOST nor PORT: say the database is a PostgreSQL on a recorder.
        listener = recorder()
        port = listener.port
        monkeypatch.setitem(database, "ENGINE", "django.db.backends.postgresql")
        monkeypatch.setitem(database, "HOST", "localhost")
        monkeypatch.setitem(database, "PORT", str(port))
    html = _connect(attacker_client, f"http://127.0.0.1:{port}")
    assert f"127.0.0.1:{port} is the console&#x27;s own database; " + REFUSED in html
    if listener is not None:
        assert not listener.connected()


def test_it_refuses_the_web_servers_port_before_connecting(attacker_client, recorder, settings):
    web = recorder()
    settings.WEB_PORTS = [web.port]
    html = _connect(attacker_client, f"http://localhost:{web.port}")
    assert f"localhost:{web.port} is the console&#x27;s own web server; " in html
    assert not web.connected()


def test_it_refuses_them_from_the_rest_api_too(attacker, api_as, other_project, recorder, settings):
    redis = recorder()
    settings.REDIS_URL = f"redis://127.0.0.1:{redis.port}/0"
    response = api_as(attacker).post(
        "/v2/migrations/toNewDedicated",
        {
            "source": {"endpoint": f"http://127.0.0.1:{redis.port}", "apiKey": "k"},
            "destination": {"clusterName": "copy", "projectId": other_project.pk},
            "dbCollections": [{"dbName": "default"}],
        },
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"the source endpoint is not allowed: endpoint 127.0.0.1:{redis.port} is the console's "
        "own Redis; typed endpoints may never reach the console's own services"
    )
    assert not redis.connected()


def test_it_finds_the_services_in_the_settings(settings, monkeypatch):
    settings.REDIS_URL = "redis://:secret@127.0.0.1:6390/3"
    settings.WEB_PORTS = [8000, 8443]
    database = settings.DATABASES["default"]
    if db_connection.vendor != "postgresql":
        monkeypatch.setitem(database, "ENGINE", "django.db.backends.postgresql")
        monkeypatch.setitem(database, "HOST", "127.0.0.1")
        monkeypatch.setitem(database, "PORT", "")
    found = {(s.name, s.port) for s in own_services()}
    db_port = int(database.get("PORT") or 5432)
    assert found == {
        ("Redis", 6390),
        ("database", db_port),
        ("web server", 8000),
        ("web server", 8443),
    }
    # A Unix-socket Redis has no port to protect.
    settings.REDIS_URL = "unix:///run/redis.sock"
    assert "Redis" not in {s.name for s in own_services()}
