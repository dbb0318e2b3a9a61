"""The cluster supervisor (console.clusters.supervisor) and `manage.py runclusters`, with real
Milvus Lite servers: start, adopt, restart, move off a taken port, stop deleted clusters."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from console import services
from console.clusters import provisioner
from console.clusters.lite_process import HOST, port_open
from console.clusters.supervisor import Report, Supervisor
from console.models import Cluster
from tests.milvus import MilvusClient


@pytest.fixture
def clusters_dir(db, tmp_path, settings) -> Path:
    # Never the developer's var/clusters: the supervisor removes directories of deleted rows.
    settings.CLUSTERS_DIR = tmp_path / "clusters"
    return settings.CLUSTERS_DIR


@pytest.fixture
def supervisor(clusters_dir):
    sup = Supervisor(clusters_dir)
    yield sup
    sup.stop_all()


@pytest.fixture
def local(project) -> Cluster:
    return services.create_local_cluster(project, "local-one", "DEDICATED")


def _pid(cluster: Cluster, clusters_dir: Path) -> int:
    record = provisioner.read_record(provisioner.data_dir(clusters_dir, cluster.pk))
    assert record is not None, "a started server leaves a pid file"
    return record.pid


def test_it_starts_a_created_cluster_and_marks_it_running(supervisor, local, clusters_dir):
    assert local.status == Cluster.Status.CREATING

    report = supervisor.reconcile_once()

    local.refresh_from_db()
    assert report.started == [local.pk]
    assert local.status == Cluster.Status.RUNNING
    assert local.uri == f"http://{HOST}:{local.port}"
    assert local.server_version.startswith("milvus_lite")
    directory = clusters_dir / local.pk
    assert (directory / provisioner.PID_FILE).exists()
    assert psutil.Process(_pid(local, clusters_dir)).cmdline().count(str(directory)) == 1
    client = MilvusClient(uri=local.uri)
    try:
        client.create_collection("docs", dimension=4)
        client.insert("docs", [{"id": i, "vector": [0.1 * i] * 4} for i in range(5)])
        assert client.query("docs", filter="", output_fields=["count(*)"])[0]["count(*)"] == 5
    finally:
        client.close()


def test_it_leaves_a_running_cluster_alone(supervisor, local, clusters_dir):
    supervisor.reconcile_once()
    pid = _pid(local, clusters_dir)

    report = supervisor.reconcile_once()

    assert report.started == report.restarted == report.adopted == []
    assert _pid(local, clusters_dir) == pid


def test_it_restarts_a_crashed_server(supervisor, local, clusters_dir):
    supervisor.reconcile_once()
    local.refresh_from_db()
    old_pid = _pid(local, clusters_dir)
    os.kill(old_pid, signal.SIGKILL)
    psutil.Process(old_pid).wait(10)

    report = supervisor.reconcile_once()

    local.refresh_from_db()
    assert report.restarted == [local.pk]
    assert _pid(local, clusters_dir) != old_pid
    assert local.status == Cluster.Status.RUNNING
    client = MilvusClient(uri=local.uri)
    try:
        assert client.list_collections() == []
    finally:
        client.close()


def test_it_adopts_a_server_left_by_an_earlier_supervisor(clusters_dir, local):
    first = Supervisor(clusters_dir)
    first.reconcile_once()
    pid = _pid(local, clusters_dir)
    # The first supervisor dies without stopping anything (e.g. SIGKILL).
    second = Supervisor(clusters_dir)
    try:
        report = second.reconcile_once()

        assert report.adopted == [local.pk]
        assert report.started == []
        assert _pid(local, clusters_dir) == pid
        assert [p.pid for p in psutil.process_iter() if p.pid == pid]
    finally:
        second.stop_all()
    assert not provisioner.serves(pid, clusters_dir / local.pk)


def test_it_moves_a_cluster_off_a_port_taken_by_something_else(supervisor, local):
    squatter = socket.socket()
    squatter.bind((HOST, 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    Cluster.objects.filter(pk=local.pk).update(port=taken, uri=f"http://{HOST}:{taken}")
    try:
        supervisor.reconcile_once()
    finally:
        squatter.close()

    local.refresh_from_db()
    assert local.status == Cluster.Status.RUNNING
    assert local.port != taken
    assert local.uri == f"http://{HOST}:{local.port}"
    assert port_open(local.port)


def test_it_stops_the_server_and_removes_the_data_of_a_deleted_cluster(
    supervisor, local, clusters_dir
):
    supervisor.reconcile_once()
    local.refresh_from_db()
    pid, port = _pid(local, clusters_dir), local.port
    Cluster.objects.filter(pk=local.pk).delete()

    report = supervisor.reconcile_once()

    assert report.removed == [local.pk]
    assert not psutil.pid_exists(pid) or not provisioner.serves(pid, clusters_dir / local.pk)
    assert not port_open(port)
    assert not (clusters_dir / local.pk).exists()


def test_it_removes_a_deleted_cluster_left_running_by_an_earlier_supervisor(clusters_dir, local):
    Supervisor(clusters_dir).reconcile_once()
    pid = _pid(local, clusters_dir)
    Cluster.objects.filter(pk=local.pk).delete()
    later = Supervisor(clusters_dir)
    try:
        report = later.reconcile_once()
    finally:
        later.stop_all()

    assert report.removed == [local.pk]
    assert not provisioner.serves(pid, clusters_dir / local.pk)
    assert not (clusters_dir / local.pk).exists()


def test_it_never_touches_directories_of_another_console_database(supervisor, clusters_dir):
    foreign = clusters_dir / "in01-00000000000000ff"
    foreign.mkdir(parents=True)
    other_db = provisioner.database_identity({**connection.settings_dict, "NAME": "elsewhere"})
    provisioner.write_record(
        foreign, provisioner.ServerRecord("in01-00000000000000ff", 1, 1, other_db, 0.0)
    )

    report = supervisor.reconcile_once()

    assert report.removed == []
    assert (foreign / provisioner.PID_FILE).exists()


def test_it_marks_a_cluster_stopped_when_its_server_cannot_start(supervisor, local, clusters_dir):
    # A plain file where the data directory should be: milvus-lite cannot start there.
    clusters_dir.mkdir(parents=True, exist_ok=True)
    (clusters_dir / local.pk).write_text("not a directory")

    report = supervisor.reconcile_once()

    local.refresh_from_db()
    assert report.failed == [local.pk]
    assert local.status == Cluster.Status.STOPPED
    assert "could not start milvus-lite" in local.status_message


def test_it_marks_an_external_cluster_unreachable_when_its_server_goes_away(
    supervisor, project, fresh_lite_factory
):
    server = fresh_lite_factory()  # of its own: the test stops it
    external = Cluster.objects.create(
        project=project,
        name="ext",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri=server.uri,
        status=Cluster.Status.RUNNING,
        checked_at=timezone.now(),
    )
    report = supervisor.reconcile_once()
    assert report.checked_external == []  # checked just now: not due yet

    server.stop()
    Cluster.objects.filter(pk=external.pk).update(checked_at=timezone.now() - timedelta(minutes=5))
    report = supervisor.reconcile_once()

    external.refresh_from_db()
    assert report.checked_external == [external.pk]
    assert external.status == Cluster.Status.UNREACHABLE
    assert f"cannot reach {HOST}:{server.port}" in external.status_message


def test_it_marks_an_external_cluster_running_again_when_it_answers(
    supervisor, project, lite_server
):
    external = Cluster.objects.create(
        project=project,
        name="ext",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri=lite_server.uri,
        status=Cluster.Status.UNREACHABLE,
        status_message="old failure",
    )

    supervisor.reconcile_once()

    external.refresh_from_db()
    assert external.status == Cluster.Status.RUNNING
    assert external.status_message == ""
    assert external.server_version.startswith("milvus_lite")


def test_it_stops_every_server_when_stopped(supervisor, project, clusters_dir):
    clusters = [services.create_local_cluster(project, f"c{i}", "FREE") for i in range(2)]
    supervisor.reconcile_once()
    pids = [_pid(c, clusters_dir) for c in clusters]

    supervisor.stop_all()

    for cluster, pid in zip(clusters, pids, strict=True):
        cluster.refresh_from_db()
        assert cluster.status == Cluster.Status.STOPPED
        assert not provisioner.serves(pid, clusters_dir / cluster.pk)


def test_it_runs_one_round_with_once(clusters_dir, local):
    out = _call("--once")
    later = Supervisor(clusters_dir)
    try:
        local.refresh_from_db()
        assert local.status == Cluster.Status.RUNNING
        assert "started 1," in out
        # --once leaves the server running for the next supervisor to adopt.
        assert port_open(local.port)
        assert later.reconcile_once().adopted == [local.pk]
    finally:
        later.stop_all()


def test_it_stops_its_servers_on_sigterm(clusters_dir, local):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    started: list[int] = []

    def watch_then_terminate() -> None:
        # Wait for the server the command starts, then stop the command like honcho would.
        directory = clusters_dir / local.pk
        for _ in range(200):
            record = provisioner.read_record(directory)
            if record and port_open(record.port):
                started.append(record.pid)
                break
            threading.Event().wait(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch_then_terminate)
    watcher.start()
    try:
        out = _call("--interval", "0.2")
    finally:
        watcher.join()
        for sig, handler in before.items():
            signal.signal(sig, handler)

    assert started, "the supervisor started the cluster's server"
    assert not provisioner.serves(started[0], clusters_dir / local.pk)
    local.refresh_from_db()
    assert local.status == Cluster.Status.STOPPED
    assert "servers are stopped" in out


@pytest.mark.parametrize("value", ["0", "-1"])
def test_it_rejects_a_non_positive_interval(db, value):
    with pytest.raises(CommandError, match="--interval must be a positive number"):
        _call("--interval", value)


def _call(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("runclusters", *args, stdout=out)
    return out.getvalue()


def test_it_marks_an_external_cluster_with_a_bad_password_without_logging_it(
    supervisor, project, standalone, caplog
):
    wrong = f"Wrong-{os.urandom(6).hex()}"
    external = Cluster(
        project=project,
        name="secured",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri=standalone.uri,
        status=Cluster.Status.RUNNING,
    )
    external.set_credentials(username="root", password=wrong)
    external.save()
    caplog.set_level(logging.DEBUG)

    supervisor.reconcile_once()

    external.refresh_from_db()
    assert external.status == Cluster.Status.UNREACHABLE
    assert external.status_message.startswith("authentication failed")
    assert wrong not in external.status_message
    assert wrong not in caplog.text


def test_it_refuses_a_stored_external_cluster_whose_name_now_answers_a_local_cluster(
    supervisor, outsider, globex_project, local_cluster, resolver
):
    """The supervisor's refresh checks the endpoint again: a name rebound to 127.0.0.1 on a
    local cluster's port is marked unreachable with the reason, and never read."""
    resolver.answers["rebind.attacker.example"] = [["127.0.0.1"]]
    external = Cluster.objects.create(
        project=globex_project,
        name="rebound",
        plan="DEDICATED",
        kind=Cluster.Kind.EXTERNAL,
        uri=f"http://rebind.attacker.example:{local_cluster.port}",
        status=Cluster.Status.RUNNING,
    )

    # Only the external round: the local cluster's row stands for another organization's server.
    supervisor._check_externals(Report(), wait=True)

    external.refresh_from_db()
    assert external.status == Cluster.Status.UNREACHABLE
    assert "is the console's own host on a port it keeps for its local clusters" in (
        external.status_message
    )
    assert external.server_version == ""
    assert resolver.lookups == ["rebind.attacker.example"]


def test_it_keeps_cluster_data_private(supervisor, local, clusters_dir):
    supervisor.reconcile_once()
    local.refresh_from_db()
    assert local.status == Cluster.Status.RUNNING
    assert clusters_dir.stat().st_mode & 0o777 == 0o700
    assert provisioner.data_dir(clusters_dir, local.pk).stat().st_mode & 0o777 == 0o700
