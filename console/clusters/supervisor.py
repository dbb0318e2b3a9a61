"""The cluster supervisor: make the Milvus Lite servers match the LOCAL cluster rows.

`manage.py runclusters` calls `Supervisor.reconcile_once()` every couple of seconds. One round:

1. stops the server and removes the data directory of every local cluster whose row is gone;
2. for every LOCAL row: adopts a server that is already running for it (its `server.pid`),
   otherwise starts one on the row's port (a fresh free port when something else holds it),
   restarting crashed servers with a growing back-off when they keep failing;
3. writes each row's status: RUNNING (+ uri http://127.0.0.1:<port>), STOPPED when the server
   cannot start, UNREACHABLE when its process lives but does not answer;
4. every `external_every` seconds checks each EXTERNAL cluster with a short timeout and marks
   it RUNNING or UNREACHABLE.

Rows are only ever changed with `update()`: a row deleted meanwhile must stay deleted (save()
would insert it again). The web never starts or stops processes; it only edits rows.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from console.clients import local_cluster_ports
from console.clusters import provisioner
from console.clusters.lite_process import HOST, free_port, port_open, private_dir, stop_process
from console.connections import Connection
from console.live_reads import check_cluster
from console.models import Cluster

log = logging.getLogger("console.clusters.supervisor")

MAX_BACKOFF = 60.0


@dataclass
class Server:
    """A server this supervisor runs: started by it (`proc`) or adopted (`proc` is None)."""

    cluster_id: str
    pid: int
    port: int
    directory: Path
    started_at: float
    proc: subprocess.Popen | None = None
    ready: bool = False

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return provisioner.serves(self.pid, self.directory)

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None


@dataclass
class Report:
    """What one round did, for logs and tests."""

    started: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    checked_external: list[str] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        clusters_dir: Path | None = None,
        *,
        start_timeout: float = 30.0,
        external_every: float = 30.0,
        external_timeout: float = 3.0,
    ) -> None:
        self.clusters_dir = Path(clusters_dir or settings.CLUSTERS_DIR)
        self.start_timeout = start_timeout
        self.external_every = external_every
        self.external_timeout = external_timeout
        self.servers: dict[str, Server] = {}
        # cluster id -> (consecutive failed starts, monotonic time of the next attempt)
        self._backoff: dict[str, tuple[int, float]] = {}
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cluster-check")
        self._checks: dict[str, Future] = {}

    @property
    def database(self) -> str:
        return provisioner.database_identity(connection.settings_dict)

    # --- one round --------------------------------------------------------------------

    def reconcile_once(self, *, wait_external: bool = True) -> Report:
        """One reconcile round. With wait_external, also waits for due external checks."""
        report = Report()
        private_dir(self.clusters_dir)
        rows = {c.pk: c for c in Cluster.objects.filter(kind=Cluster.Kind.LOCAL)}
        self._remove_deleted(rows, report)
        starting: list[tuple[Cluster, Server]] = []
        for cluster in rows.values():
            server = self._current_server(cluster, report)
            if server is None:
                server = self._start(cluster, report)
                if server is not None:
                    starting.append((cluster, server))
            else:
                self._mark_from_server(cluster, server)
        self._wait_started(starting, report)
        self._check_externals(report, wait=wait_external)
        return report

    def _remove_deleted(self, rows: dict[str, Cluster], report: Report) -> None:
        gone = {cid for cid in self.servers if cid not in rows}
        owned = provisioner.owned_directories(self.clusters_dir, self.database)
        gone |= {cid for cid in owned if cid not in rows}
        if not gone:
            return
        # The directory listing may be older than a row committed just now: look again.
        gone -= set(Cluster.objects.filter(pk__in=gone).values_list("pk", flat=True))
        for cid in gone:
            directory = provisioner.data_dir(self.clusters_dir, cid)
            server = self.servers.pop(cid, None)
            if server is not None and server.proc is not None:
                stop_process(server.proc)
            record = provisioner.read_record(directory)
            if record is not None:
                provisioner.stop_pid(record.pid, directory)
            provisioner.remove_data(directory)
            self._backoff.pop(cid, None)
            report.removed.append(cid)
            log.info("cluster %s: row deleted; server stopped and %s removed", cid, directory)

    def _current_server(self, cluster: Cluster, report: Report) -> Server | None:
        """The live server of this cluster (ours or adopted from server.pid), or None."""
        server = self.servers.get(cluster.pk)
        if server is not None:
            if server.alive():
                return server
            code = server.exit_code()
            log.warning(
                "cluster %s: server pid %s exited (code %s); restarting",
                cluster.pk,
                server.pid,
                code,
            )
            del self.servers[cluster.pk]
            report.restarted.append(cluster.pk)
            return None
        directory = provisioner.data_dir(self.clusters_dir, cluster.pk)
        record = provisioner.read_record(directory)
        if record is None or record.cluster_id != cluster.pk:
            return None
        if not provisioner.serves(record.pid, directory):
            return None
        server = Server(
            cluster.pk,
            record.pid,
            record.port,
            directory,
            record.started_at,
            ready=port_open(record.port),
        )
        self.servers[cluster.pk] = server
        report.adopted.append(cluster.pk)
        log.info(
            "cluster %s: adopted running server pid %s on port %s",
            cluster.pk,
            record.pid,
            record.port,
        )
        return server

    def _start(self, cluster: Cluster, report: Report) -> Server | None:
        failures, next_try = self._backoff.get(cluster.pk, (0, 0.0))
        if time.monotonic() < next_try:
            return None
        directory = provisioner.data_dir(self.clusters_dir, cluster.pk)
        port = cluster.port or 0
        # After a failed start the old port may be the reason: always take a fresh one then.
        if not port or failures or port_open(port):
            port = free_port()
        try:
            proc = provisioner.start_server(directory, cluster.pk, port, self.database)
        except (OSError, RuntimeError) as exc:
            self._failed(cluster, report, f"could not start milvus-lite: {exc}")
            return None
        server = Server(cluster.pk, proc.pid, port, directory, time.time(), proc=proc)
        self.servers[cluster.pk] = server
        if cluster.pk not in report.restarted:
            report.started.append(cluster.pk)
        log.info(
            "cluster %s: started milvus-lite pid %s on %s:%s", cluster.pk, proc.pid, HOST, port
        )
        if port != cluster.port:
            Cluster.objects.filter(pk=cluster.pk).update(port=port, uri=f"http://{HOST}:{port}")
        return server

    def _wait_started(self, starting: list[tuple[Cluster, Server]], report: Report) -> None:
        """Wait (together, up to start_timeout) until every server just started answers."""
        deadline = time.monotonic() + self.start_timeout
        pending = list(starting)
        while pending:
            still = []
            for cluster, server in pending:
                if not server.alive():
                    self.servers.pop(cluster.pk, None)
                    provisioner.clear_record(server.directory)
                    self._failed(
                        cluster,
                        report,
                        f"milvus-lite exited with code {server.exit_code()}; see "
                        f"{server.directory / provisioner.LOG_FILE}",
                    )
                elif port_open(server.port):
                    server.ready = True
                    self._backoff.pop(cluster.pk, None)
                    self._mark_from_server(cluster, server)
                else:
                    still.append((cluster, server))
            pending = still
            if pending and time.monotonic() >= deadline:
                for cluster, server in pending:
                    if server.proc is not None:
                        stop_process(server.proc)
                    self.servers.pop(cluster.pk, None)
                    provisioner.clear_record(server.directory)
                    self._failed(
                        cluster,
                        report,
                        f"milvus-lite did not answer within {self.start_timeout:g}s",
                    )
                return
            if pending:
                time.sleep(0.1)

    def _failed(self, cluster: Cluster, report: Report, message: str) -> None:
        failures = self._backoff.get(cluster.pk, (0, 0.0))[0] + 1
        delay = min(MAX_BACKOFF, 2.0 ** (failures - 1))
        self._backoff[cluster.pk] = (failures, time.monotonic() + delay)
        report.failed.append(cluster.pk)
        log.error(
            "cluster %s: %s (attempt %s; next in %.0fs)", cluster.pk, message, failures, delay
        )
        self._set_status(cluster, Cluster.Status.STOPPED, message)

    def _mark_from_server(self, cluster: Cluster, server: Server) -> None:
        if port_open(server.port):
            server.ready = True
            self._set_status(cluster, Cluster.Status.RUNNING, "", port=server.port)
        elif not server.ready and time.time() - server.started_at < self.start_timeout:
            return  # an adopted server still starting up
        else:
            self._set_status(
                cluster,
                Cluster.Status.UNREACHABLE,
                f"server process {server.pid} is running but does not answer on port {server.port}",
                port=server.port,
            )

    def _set_status(
        self, cluster: Cluster, status: str, message: str, port: int | None = None
    ) -> None:
        changes: dict = {}
        if cluster.status != status:
            changes["status"] = status
        if cluster.status_message != message[:500]:
            changes["status_message"] = message[:500]
        if port is not None and (cluster.port != port or cluster.uri != f"http://{HOST}:{port}"):
            changes.update(port=port, uri=f"http://{HOST}:{port}")
        if status == Cluster.Status.RUNNING and not cluster.server_version and port:
            local = Connection(uri=f"http://{HOST}:{port}", typed=False)
            info = check_cluster(local, timeout=self.external_timeout)
            if info.ok:
                changes["server_version"] = info.version[:64]
        if not changes:
            return
        changes["checked_at"] = timezone.now()
        Cluster.objects.filter(pk=cluster.pk).update(**changes)
        for name, value in changes.items():
            setattr(cluster, name, value)
        if "status" in changes:
            log.info("cluster %s: %s%s", cluster.pk, status, f" ({message})" if message else "")

    # --- external clusters ------------------------------------------------------------

    def _check_externals(self, report: Report, *, wait: bool) -> None:
        """Check due EXTERNAL clusters in worker threads; results are written here, in the
        calling thread, because Django connections are per thread."""
        due_before = timezone.now() - timedelta(seconds=self.external_every)
        externals = Cluster.objects.filter(kind=Cluster.Kind.EXTERNAL)
        reserved = local_cluster_ports()  # read here: the worker threads stay off the database
        for cluster in externals:
            if cluster.pk in self._checks:
                continue
            if cluster.checked_at is not None and cluster.checked_at > due_before:
                continue
            self._checks[cluster.pk] = self._pool.submit(
                check_cluster, cluster.connection(), self.external_timeout, reserved
            )
        if wait:
            for future in list(self._checks.values()):
                future.exception()  # waits; check_cluster itself never raises
        for cid, future in list(self._checks.items()):
            if not future.done():
                continue
            del self._checks[cid]
            info = future.result()
            changes = {"checked_at": timezone.now()}
            if info.ok:
                changes.update(
                    status=Cluster.Status.RUNNING,
                    status_message="",
                    server_version=info.version[:64],
                )
            else:
                changes.update(status=Cluster.Status.UNREACHABLE, status_message=info.error[:500])
            updated = Cluster.objects.filter(pk=cid, kind=Cluster.Kind.EXTERNAL).update(**changes)
            if updated:
                report.checked_external.append(cid)

    # --- shutting down ----------------------------------------------------------------

    def stop_all(self) -> None:
        """Stop every server this supervisor runs (started or adopted); mark them STOPPED."""
        for cid, server in list(self.servers.items()):
            if server.proc is not None:
                stop_process(server.proc)
            else:
                provisioner.stop_pid(server.pid, server.directory)
            provisioner.clear_record(server.directory)
            log.info("cluster %s: server pid %s stopped", cid, server.pid)
        stopped = list(self.servers)
        self.servers.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._checks.clear()
        if stopped:
            try:
                Cluster.objects.filter(pk__in=stopped).update(
                    status=Cluster.Status.STOPPED,
                    status_message="the cluster supervisor stopped",
                    checked_at=timezone.now(),
                )
            except Exception:  # noqa: BLE001 - the database may be gone at shutdown
                log.warning("could not mark %d stopped clusters in the database", len(stopped))

    def run(self, interval: float, stop: threading.Event) -> None:
        """Reconcile every `interval` seconds until `stop` is set, then stop every server."""
        try:
            while not stop.is_set():
                try:
                    self.reconcile_once(wait_external=False)
                except Exception:
                    # A database hiccup must not take every cluster down with the supervisor.
                    log.exception("reconcile round failed; retrying in %ss", interval)
                finally:
                    # Drop a broken or aged connection between rounds, as Django does between
                    # requests (never inside a transaction someone else opened, e.g. a test's).
                    if not connection.in_atomic_block:
                        connection.close_if_unusable_or_obsolete()
                stop.wait(interval)
        finally:
            self.stop_all()


_default: Supervisor | None = None


def reconcile_once() -> Report:
    """One round with a process-wide supervisor (for seed_demo, scripts and tests).

    Servers it starts keep running after this process exits; a later `runclusters` adopts
    them through their pid files.
    """
    global _default
    if _default is None or _default.clusters_dir != Path(settings.CLUSTERS_DIR):
        _default = Supervisor()
    return _default.reconcile_once()
