"""The connection seam (console/connections.py, console/clients.py): one value for where and as
whom, one way to open a client, secrets never in its text, idle connections that stay healthy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.clients import open_client
from console.connections import Connection
from console.models import Cluster
from migrations_app.engine.errors import EndpointRejected
from tests.idle_probe import IDLE_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def test_it_never_shows_a_secret_in_its_text():
    connection = Connection("http://db.example:19530", username="svc", password="S3cret-pass!")
    assert "S3cret" not in repr(connection) and "S3cret" not in str(connection)
    assert connection.auth == "USER_PASSWORD"
    assert connection.pymilvus_token == "svc:S3cret-pass!"
    assert "svc:S3cret-pass!" in connection.secrets()


@pytest.mark.django_db
def test_it_round_trips_encrypted():
    connection = Connection("https://x.example:443", token="tok-abcdef")
    text = connection.encrypt()
    assert "tok-abcdef" not in text
    assert Connection.decrypt(text) == connection
    assert Connection.decrypt("") is None


@pytest.mark.django_db
def test_it_comes_from_a_cluster_typed_only_when_external(project):
    external = Cluster(
        project=project,
        name="e",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri="http://h:19530",
    )
    external.set_credentials(token="tok-123456")
    local = Cluster(
        project=project,
        name="l",
        plan="DEDICATED",
        kind=Cluster.Kind.LOCAL,
        uri="http://127.0.0.1:1",
    )
    assert external.connection() == Connection("http://h:19530", token="tok-123456", typed=True)
    assert local.connection().typed is False


def test_it_refuses_a_typed_metadata_endpoint_before_connecting():
    with pytest.raises(EndpointRejected, match="cloud metadata"):
        open_client(Connection("http://169.254.169.254:80"))


def test_it_stays_healthy_after_a_long_idle(tmp_path):
    """One client, kept open across a long idle without being sent away, answers after it:
    tests/idle_probe.py (a process of its own, started beside the suite by `make test`)."""
    result = _idle_probe_result(tmp_path)

    assert result["idle_seconds"] >= IDLE_SECONDS
    assert result["error"] is None
    assert result["before"] == [] and result["after"] == []
    assert result["sent_away"] == []


def _idle_probe_result(tmp_path) -> dict:
    given = os.environ.get("IDLE_PROBE_RESULT")
    path = Path(given) if given else tmp_path / "idle-probe.json"
    probe = None
    if not given:
        probe = subprocess.Popen([sys.executable, "-m", "tests.idle_probe", str(path)], cwd=ROOT)
    deadline = time.monotonic() + IDLE_SECONDS + 120
    while not path.exists():
        assert probe is None or probe.poll() in (None, 0), (
            f"the idle probe failed (its stderr: above, or next to {path})"
        )
        assert time.monotonic() < deadline, f"no idle probe result in {path}"
        time.sleep(1)
    return json.loads(path.read_text())
