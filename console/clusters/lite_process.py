"""Start, probe and stop Milvus Lite gRPC servers as child processes.

Plain Python (no Django): used by the cluster supervisor (`runclusters`), by the test
fixtures and by the benchmarks. Every server binds 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


# Ports free_port handed out lately, machine-wide (one empty file each, named by the port).
HANDED_OUT = Path(tempfile.gettempdir()) / "milvus-console-ports"
HANDED_OUT_FOR = 120.0  # seconds a handed-out port is not handed out again


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now and that no process of this
    machine was given by free_port in the last two minutes. A server binds its port a moment
    after it is picked, and gRPC servers bind with SO_REUSEPORT: two servers given the same
    port would both start, and share its connections."""
    HANDED_OUT.mkdir(exist_ok=True)
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        mark = HANDED_OUT / str(port)
        try:
            fd = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                if time.time() - mark.stat().st_mtime < HANDED_OUT_FOR:
                    continue
                mark.unlink()
            except FileNotFoundError:
                pass
            continue
        os.close(fd)
        return port


def private_dir(path: str | os.PathLike) -> Path:
    """`path` as a directory only its owner may enter (mode 0700, also when it existed).

    Milvus Lite keeps a cluster's data there unencrypted; the data directory of a local
    cluster is as private as the database beside it.
    """
    directory = Path(path)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


def lite_executable() -> str:
    """The `milvus-lite` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("milvus-lite")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("milvus-lite")
    if not found:
        raise RuntimeError("milvus-lite is not installed in this environment")
    return found


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_lite(
    data_dir: str | os.PathLike,
    port: int,
    log_path: str | os.PathLike | None = None,
    wait: float = 30.0,
) -> subprocess.Popen:
    """Start `milvus-lite server` on 127.0.0.1:port and wait until it accepts connections.

    The child gets its own process group so a supervisor can stop it (and only it).
    """
    private_dir(data_dir)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            lite_executable(),
            "server",
            "--data-dir",
            str(data_dir),
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    if log is not subprocess.DEVNULL:
        log.close()
    if wait:
        wait_ready(port, proc, timeout=wait)
    return proc


def wait_ready(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"milvus-lite on port {port} exited with code {proc.returncode}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"milvus-lite on port {port} did not start within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; safe to call on an exited process."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
