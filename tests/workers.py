"""A real Celery worker process for tests that run jobs end to end.

The worker is started with the test database's connection (DATABASE_URL) and the test Redis
(REDIS_URL), so what the test writes in a `transaction=True` test is what the worker reads.
It can be SIGKILLed mid-task and started again, as a crashed machine would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database the tests use right now (the test database, not the real one)."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}{port}/{s['NAME']}"


class Worker:
    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"worker-{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "MIGRATION_HEARTBEAT": "1",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            **self.extra_env,
        }
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            # The same script as `make run`'s Procfile: it starts the worker again when it
            # exits on its own (see scripts/worker.sh).
            [
                "bash",
                str(ROOT / "scripts" / "worker.sh"),
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--loglevel",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test-{os.getpid()}-{self.runs}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_path.read_text()[-2000:]}")
            if "ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in 60 s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: no cleanup, no ack."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return "\n".join(
            (self.log_dir / f"worker-{n}.log").read_text() for n in range(1, self.runs + 1)
        )
