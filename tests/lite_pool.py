"""A session's pool of Milvus Lite servers, wiped before each test takes one.

Starting a Milvus Lite server costs about two seconds; wiping one costs a few milliseconds. A
test that only reads and writes data takes pooled servers; a test that stops, freezes or kills a
server takes a fresh one of its own (`fresh_lite_factory` in tests/conftest.py).

What a Milvus Lite 3.2 server keeps, and so what a wipe removes: databases, and in each one
collections (with their partitions, indexes, data and aliases, which go with the collection).
Users, roles, privilege groups and resource groups are not implemented by Milvus Lite (their
calls answer UNIMPLEMENTED), so no test can leave any behind.

Plain Python (no Django), like tests/servers.py.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pymilvus import MilvusClient

from tests.servers import LiteServer, start_lite_server

log = logging.getLogger(__name__)

# Every wipe is bounded: a server that cannot be wiped within it is replaced, not waited on.
WIPE_TIMEOUT = 20.0
# How long a pooled server has to answer after a test before it counts as broken: generous, as
# a busy server on a loaded machine is slow, and only a broken one ever waits it out.
ANSWER_TIMEOUT = 30.0


@dataclass(frozen=True)
class PooledLite:
    """A pooled server as a test sees it: where it listens, and nothing to stop it with."""

    port: int
    uri: str
    data_dir: Path

    def stop(self) -> None:
        raise RuntimeError(
            "this Milvus Lite server is shared by the session's tests and cannot be stopped; "
            "a test that stops, freezes or kills a server takes one from fresh_lite_factory"
        )


def wipe(uri: str) -> None:
    """Drop every collection of every database, then every database but "default"."""
    _with_retries(_wipe_once, uri, within=WIPE_TIMEOUT)


def _wipe_once(uri: str) -> None:
    # dedicated: the wipe's channel is its own, so closing it never closes a test's client.
    client = MilvusClient(uri=uri, dedicated=True, timeout=WIPE_TIMEOUT)
    try:
        for db_name in client.list_databases(timeout=WIPE_TIMEOUT):
            client.use_database(db_name)
            for name in client.list_collections(timeout=WIPE_TIMEOUT):
                client.drop_collection(name, timeout=WIPE_TIMEOUT)
            if db_name != "default":
                client.use_database("default")
                client.drop_database(db_name, timeout=WIPE_TIMEOUT)
    finally:
        client.close()


def _answer(uri: str) -> None:
    client = MilvusClient(uri=uri, dedicated=True, timeout=ANSWER_TIMEOUT)
    try:
        client.list_databases(timeout=ANSWER_TIMEOUT)
    finally:
        client.close()


def _with_retries(call, uri: str, within: float) -> None:
    """`call(uri)`, again on failure until `within` seconds have passed. Why: a Milvus Lite
    server sends GOAWAY ("too_many_pings") to a client connection that pymilvus keeps pinging
    while idle, and gRPC shares that connection with every new channel to the same address, so
    the first call after a pause can fail once and succeed at once on a new connection."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call(uri)
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def why_broken(server: LiteServer) -> str | None:
    """None when the server's process is alive, not stopped (SIGSTOP) and answers a call;
    otherwise what is wrong with it."""
    if server.proc.poll() is not None:
        return f"its process exited with code {server.proc.returncode}"
    try:
        state = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError as error:
        return f"its process cannot be read: {error}"
    if state in ("T", "t", "Z", "X"):
        return f"its process is in state {state} (stopped or dead)"
    # A frozen process still accepts connections (the kernel queues them): ask it something.
    try:
        _with_retries(_answer, server.uri, within=ANSWER_TIMEOUT)
    except Exception as error:
        return f"it did not answer: {type(error).__name__}: {error}"
    return None


def _discard(server: LiteServer) -> None:
    # SIGKILL at once: a frozen server would sit on a SIGTERM until stop()'s grace ran out.
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.proc.wait(10)


class LitePool:
    """Servers started on demand and handed out wiped; `release` takes them back after a test."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.idle: list[LiteServer] = []
        self.busy: dict[int, LiteServer] = {}

    def acquire(self) -> PooledLite:
        server = self._clean_server()
        self.busy[server.port] = server
        return PooledLite(port=server.port, uri=server.uri, data_dir=server.data_dir)

    def release(self, pooled: PooledLite) -> None:
        """Take a server back; AssertionError when the test broke it (the broken server is
        killed, and the pool starts a new one when it next needs one)."""
        server = self.busy.pop(pooled.port)
        why = why_broken(server)
        if why is None:
            self.idle.append(server)
            return
        _discard(server)
        raise AssertionError(
            f"the pooled Milvus Lite server on port {server.port} was stopped, frozen or killed "
            f"by the test ({why}); such a test must use fresh_lite_factory"
        )

    @contextmanager
    def lend(self) -> Iterator[PooledLite]:
        """A pooled server for a `with` block (a module-scoped fixture's servers, say)."""
        pooled = self.acquire()
        try:
            yield pooled
        finally:
            self.release(pooled)

    def close(self) -> None:
        for server in [*self.idle, *self.busy.values()]:
            server.stop()
        self.idle.clear()
        self.busy.clear()

    def _clean_server(self) -> LiteServer:
        # Wiped when handed out rather than when given back: a worker or a live server thread of
        # the previous test may still have been writing while that test's fixtures came down.
        while self.idle:
            server = self.idle.pop()
            try:
                wipe(server.uri)
                return server
            except Exception:
                log.warning(
                    "pooled Milvus Lite on port %s failed its wipe; replacing it",
                    server.port,
                    exc_info=True,
                )
                _discard(server)
        return start_lite_server(self.base_dir)
