"""Real Celery worker processes for tests that run jobs end to end.

A worker is started with the test database's connection (DATABASE_URL) and the test Redis
(REDIS_URL), so what a `transaction=True` test writes is what the worker reads. Jobs of a test
session go through a queue of the session's own (JOB_QUEUE): sessions run side by side (xdist,
another checkout) on the same Redis, and a worker must take only its own session's jobs.

`WorkerPool` keeps one worker for the whole session (`job_worker`): between tests it purges the
queue and waits until the worker is idle, and it starts a new one only when a module asks for
another environment (small batches...) or the last one died. A test that needs a job to wait,
PENDING, holds the jobs it sends in a queue of their own (`TestWorker.paused`). A test without a
worker sends its jobs to a queue nobody reads (`unserved_queue`). Tests that kill or restart a
worker start one of their own (`Worker`, the `own_worker` fixture) while the pool's is paused.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from console.celery import app

ROOT = Path(__file__).resolve().parent.parent
# The environment variable console/settings.py reads the jobs' queue name from.
QUEUE_VARIABLE = "CELERY_QUEUE"
JOB_QUEUE = f"tests-{os.getpid()}"

_names = itertools.count(1)


def use_session_queue() -> None:
    """Send this process's jobs (and those of the processes it starts) to JOB_QUEUE."""
    os.environ[QUEUE_VARIABLE] = JOB_QUEUE
    app.conf.task_default_queue = JOB_QUEUE


def database_url() -> str:
    """The URL of the database the tests use right now (the test database, not the real one)."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        if connection.is_in_memory_db():
            raise RuntimeError(
                "the test database is SQLite in memory: a worker process cannot open it "
                "(give the database a TEST NAME, as console/settings.py does without DATABASE_URL)"
            )
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}{port}/{s['NAME']}"


def wait_until(condition: Callable[[], object], timeout: float, why: Callable[[], str]) -> object:
    """Poll `condition` until it returns something true; that value, or AssertionError(why())."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(why())
        time.sleep(0.1)


class Worker:
    """One worker process (scripts/worker.sh, as `make run` starts it), on JOB_QUEUE."""

    def __init__(
        self, log_dir: Path, env: dict[str, str] | None = None, concurrency: int = 2
    ) -> None:
        self.log_dir = Path(log_dir)
        self.concurrency = concurrency
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.name = f"test-{os.getpid()}-{next(_names)}"
        self.paused = False

    @property
    def hostname(self) -> str:
        return f"{self.name}-{self.runs}@{socket.gethostname()}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.runs}.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.runs += 1
        self.paused = False
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "MIGRATION_HEARTBEAT": "1",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            QUEUE_VARIABLE: JOB_QUEUE,
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
                str(self.concurrency),
                "--loglevel",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--queues",
                JOB_QUEUE,
                "--hostname",
                self.hostname,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_path.read_text()[-2000:]}")
            return "ready." in self.log_path.read_text()

        wait_until(ready, 60, lambda: f"celery worker not ready in 60 s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: no cleanup, no ack."""
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_files(self) -> list[Path]:
        return [self.log_dir / f"{self.name}-{n}.log" for n in range(1, self.runs + 1)]

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in self.log_files())

    def tail(self, chars: int = 2000) -> str:
        return self.logs()[-chars:]

    # --- through Celery's control API, as an operator would ----------------------------------

    def _control(self, command: str, tries: int = 3) -> None:
        # A broadcast nobody answered within its timeout (a worker busy starting on a loaded
        # machine) is sent again: both commands are idempotent.
        for _ in range(tries):
            replies = getattr(app.control, command)(
                JOB_QUEUE, destination=[self.hostname], reply=True, timeout=10
            )
            answer = {name: reply for one in replies or [] for name, reply in one.items()}
            if answer:
                break
        assert "ok" in answer.get(self.hostname, {}), f"{command}: {replies}\n{self.tail()}"

    def pause(self) -> None:
        """Stop taking jobs from the queue (they wait there, PENDING); the worker stays up."""
        self._control("cancel_consumer")
        self.paused = True

    def resume(self) -> None:
        self._control("add_consumer")
        self.paused = False

    def busy(self) -> list[str]:
        """Ids of the tasks the worker runs, holds or has scheduled (empty: idle)."""
        inspect = app.control.inspect(destination=[self.hostname], timeout=5)
        tasks = []
        for ask in (inspect.active, inspect.reserved, inspect.scheduled):
            replies = ask()
            if replies is None or self.hostname not in replies:
                return ["(no answer)"]
            for task in replies[self.hostname]:
                tasks.append(task.get("id") or task.get("request", {}).get("id"))
        return tasks


def purge(queue: str = JOB_QUEUE) -> int:
    """Drop the messages waiting in this session's queue (or `queue`); how many there were."""
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_purge(queue) or 0


UNSERVED_QUEUE = f"{JOB_QUEUE}-unserved"
HELD_QUEUE = f"{JOB_QUEUE}-held"


def hold_jobs() -> None:
    """Jobs sent from now on (by this process and the processes it starts) wait in HELD_QUEUE."""
    app.conf.task_default_queue = HELD_QUEUE
    os.environ[QUEUE_VARIABLE] = HELD_QUEUE


def drop_held_jobs() -> None:
    """Send jobs to JOB_QUEUE again and drop the held ones (a test that ended inside a
    window)."""
    use_session_queue()
    purge(HELD_QUEUE)


def release_jobs() -> int:
    """Send jobs to JOB_QUEUE again and move the held ones there, oldest first; how many."""
    use_session_queue()
    moved = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        while channel.client.rpoplpush(HELD_QUEUE, JOB_QUEUE) is not None:
            moved += 1
        channel.client.delete(
            channel.keyprefix_queue % HELD_QUEUE, channel.keyprefix_binding_permanent % HELD_QUEUE
        )
    return moved


@contextmanager
def unserved_queue() -> Iterator[None]:
    """Jobs sent inside go to a queue no worker reads, emptied at the end."""
    app.conf.task_default_queue = UNSERVED_QUEUE
    os.environ[QUEUE_VARIABLE] = UNSERVED_QUEUE
    try:
        yield
    finally:
        use_session_queue()
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            channel.queue_purge(UNSERVED_QUEUE)
            channel.client.delete(
                channel.keyprefix_queue % UNSERVED_QUEUE,
                channel.keyprefix_binding_permanent % UNSERVED_QUEUE,
            )


class TestWorker:
    """What a test sees of the pool's worker: its log since the test began, pause/resume."""

    __test__ = False  # not a test class

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.first_log = worker.runs
        self.offset = worker.log_path.stat().st_size

    def logs(self) -> str:
        files = self.worker.log_files()[self.first_log - 1 :]
        texts = [path.read_text() for path in files]
        texts[0] = texts[0][self.offset :]
        return "\n".join(texts)

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        wait_until(
            lambda: text in self.logs(),
            timeout,
            lambda: f"the worker never logged {text!r}:\n{self.logs()[-3000:]}",
        )

    def wait_idle(self, timeout: float = 60) -> None:
        """Until the worker runs, holds and has scheduled no task."""
        wait_until(
            lambda: not self.worker.busy(),
            timeout,
            lambda: f"worker still busy: {self.worker.busy()}\n{self.logs()[-3000:]}",
        )

    def pause(self) -> None:
        """Open a PENDING window: jobs sent now wait, in a queue the worker does not read,
        until `resume` moves them into its queue. (Not Celery's cancel_consumer: a message the
        worker was fetching at that moment was rejected back and, at times, never taken
        again.)"""
        hold_jobs()

    def resume(self) -> None:
        release_jobs()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """A PENDING window: jobs sent inside it wait until it ends."""
        self.pause()
        try:
            yield
        finally:
            self.resume()


class WorkerPool:
    """The session's worker: one process, replaced only when a test needs another environment
    or it died; left idle with an empty queue after every test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.worker: Worker | None = None
        self.started = 0

    def serve(self, env: dict[str, str]) -> TestWorker:
        if self.worker is not None and (not self.worker.alive or self.worker.extra_env != env):
            self.worker.stop()
            self.worker = None
        if self.worker is None:
            purge()
            self.worker = Worker(self.log_dir, env)
            self.worker.start()
            self.started += 1
        return TestWorker(self.worker)

    def settle(self, timeout: float = 60) -> None:
        """Leave no task of the finished test behind: its queued messages are dropped and what
        the worker runs ends (or the worker is replaced by the next test that needs one)."""
        worker = self.worker
        if worker is None:
            return
        try:
            wait_until(
                # Idle first, then nothing queued: a task that ended in between and sent
                # another leaves it in the queue, and the next round drops it.
                lambda: not worker.busy() and purge() == 0,
                timeout,
                lambda: f"worker still busy: {worker.busy()}",
            )
        except AssertionError:
            worker.kill()
            purge()
            self.worker = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No job of this session reaches the pool's worker (another worker serves them)."""
        worker = self.worker if self.worker is not None and self.worker.alive else None
        if worker is not None and not worker.paused:
            worker.pause()
        try:
            yield
        finally:
            if worker is not None and worker.alive:
                purge()
                worker.resume()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            channel.queue_purge(JOB_QUEUE)
            # Kombu keeps the queue's binding in Redis sets named after its exchange (here the
            # queue's own name); a session leaves nothing behind in the test Redis.
            channel.client.delete(
                channel.keyprefix_queue % JOB_QUEUE, channel.keyprefix_binding_permanent % JOB_QUEUE
            )
