#!/usr/bin/env python3
"""Make sure Redis answers at REDIS_URL; start a throw-away local one when it does not.

    scripts/redis_ctl.py ensure   -> exit 0 when Redis answers (already, or after starting one);
                                     prints the pid file of a server it started, nothing otherwise
    scripts/redis_ctl.py stop PIDFILE   -> stop the server that `ensure` started

Only the Python standard library: it runs before anything is installed. A started server binds
127.0.0.1 on the URL's port, keeps nothing on disk (no RDB, no AOF) and writes its pid file and
log under var/. `make run` and `make test` stop it again when they end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
DEFAULT_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
HOW_TO_GET = (
    "Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install "
    "redis) so it can be started here, or set REDIS_URL to a Redis that is running."
)


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING (or asks for a password) at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-ERR operation not permitted"))


def ensure(url: str) -> int:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        print(
            f"REDIS_URL {url!r}: only redis:// URLs can be checked and started here",
            file=sys.stderr,
        )
        return 1
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if answers(host, port):
        print(f"Redis answers at {host}:{port}", file=sys.stderr)
        return 0
    if host not in LOCAL_HOSTS:
        print(
            f"Redis does not answer at {host}:{port} (REDIS_URL). Start it there, or point "
            "REDIS_URL at a running Redis.",
            file=sys.stderr,
        )
        return 1
    binary = shutil.which("redis-server")
    if binary is None:
        print(
            f"Redis does not answer at 127.0.0.1:{port} and redis-server is not installed. "
            + HOW_TO_GET,
            file=sys.stderr,
        )
        return 1
    VAR.mkdir(parents=True, exist_ok=True)
    pidfile, logfile = VAR / f"redis-{port}.pid", VAR / f"redis-{port}.log"
    subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(logfile),
            "--dir",
            str(VAR),
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if answers("127.0.0.1", port):
            print(f"Started redis-server on 127.0.0.1:{port} (log {logfile})", file=sys.stderr)
            print(pidfile)
            return 0
        time.sleep(0.1)
    print(
        f"redis-server did not answer on 127.0.0.1:{port} within 10s; see {logfile}",
        file=sys.stderr,
    )
    return 1


def stop(pidfile: Path) -> int:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return 0
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b"redis-server"  # no /proc (macOS): trust our own pid file
    if b"redis-server" in cmdline:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        print(f"Stopped the redis-server started for this run (pid {pid})", file=sys.stderr)
    pidfile.unlink(missing_ok=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[1:2] == ["ensure"]:
        return ensure(os.environ.get("REDIS_URL") or DEFAULT_URL)
    if argv[1:2] == ["stop"] and len(argv) == 3:
        return stop(Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
