"""Local clusters on disk: data directories, pid files, starting and stopping their servers.

A local cluster's server is a Milvus Lite process serving `<clusters_dir>/<cluster id>/` on
127.0.0.1. Next to the data, `server.pid` (JSON) records which process serves it, on which port,
and for which console database. That file is what lets a restarted supervisor adopt a server
that is still running instead of starting a second one, and what lets it tell its own orphaned
directories (row deleted) from another console's (tests and `make run` may share a disk).

Rows are created by console.services; only the supervisor (runclusters) calls the functions
that start, stop or remove anything here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from console.clusters.lite_process import private_dir, start_lite

PID_FILE = "server.pid"
LOG_FILE = "server.log"
CLUSTER_ID_RE = re.compile(r"^in01-[0-9a-f]{16}$")


def database_identity(settings_dict: dict) -> str:
    """A short fingerprint of the console database a server belongs to (never a password)."""
    parts = [str(settings_dict.get(k) or "") for k in ("ENGINE", "HOST", "PORT", "NAME")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def data_dir(clusters_dir: Path, cluster_id: str) -> Path:
    """`<clusters_dir>/<cluster id>`; refuses anything that is not a cluster id (no ../)."""
    if not CLUSTER_ID_RE.match(cluster_id):
        raise ValueError(f"{cluster_id!r} is not a cluster id")
    return Path(clusters_dir) / cluster_id


@dataclass(frozen=True)
class ServerRecord:
    """What `server.pid` says: the process serving a cluster's data directory."""

    cluster_id: str
    pid: int
    port: int
    database: str
    started_at: float


def write_record(directory: Path, record: ServerRecord) -> None:
    # Written to a temporary name then renamed, so a reader never sees half a file.
    tmp = directory / (PID_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(directory / PID_FILE)


def read_record(directory: Path) -> ServerRecord | None:
    try:
        data = json.loads((directory / PID_FILE).read_text())
        return ServerRecord(
            cluster_id=str(data["cluster_id"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            database=str(data["database"]),
            started_at=float(data["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_record(directory: Path) -> None:
    (directory / PID_FILE).unlink(missing_ok=True)


def serves(pid: int, directory: Path) -> bool:
    """True when `pid` is a live milvus-lite process serving `directory`.

    Checks the command line, not only the pid: after a reboot or a long time the pid may
    belong to an unrelated process, which must never be adopted or killed.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    joined = " ".join(cmdline)
    return "milvus-lite" in joined and str(directory) in cmdline


def start_server(directory: Path, cluster_id: str, port: int, database: str) -> subprocess.Popen:
    """Start milvus-lite on 127.0.0.1:port for `directory` and record it; does not wait."""
    private_dir(directory)
    proc = start_lite(directory, port, log_path=directory / LOG_FILE, wait=0)
    write_record(directory, ServerRecord(cluster_id, proc.pid, port, database, time.time()))
    return proc


def stop_pid(pid: int, directory: Path, timeout: float = 10.0) -> bool:
    """Stop the server `pid` if it really serves `directory`: SIGTERM its group, then SIGKILL.

    Returns True when a process was stopped. The server runs in its own session (start_lite),
    so its process group holds exactly it and whatever it spawned.
    """
    if not serves(pid, directory):
        return False
    proc = psutil.Process(pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return True
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        pass
    return True


def remove_data(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def owned_directories(clusters_dir: Path, database: str) -> dict[str, Path]:
    """{cluster id: directory} of every cluster directory this console database started."""
    found: dict[str, Path] = {}
    if not Path(clusters_dir).is_dir():
        return found
    for entry in Path(clusters_dir).iterdir():
        if not (entry.is_dir() and CLUSTER_ID_RE.match(entry.name)):
            continue
        record = read_record(entry)
        if record is not None and record.database == database:
            found[entry.name] = entry
    return found
