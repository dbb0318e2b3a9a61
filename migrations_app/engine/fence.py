"""Fencing and deadlines for every Milvus call of a migration that may be superseded.

A job's collection run holds a lease that another run takes over once it expired (see
jobs/lease.py). Milvus cannot check a fencing token, so the run checks its own lease right before
each call that changes a server — rows written, flush, index build, load/release, create, drop,
alter — and gives that call a gRPC deadline no later than the end of its lease: a request the run
sends after its lease ended (a worker frozen between the check and the call, then woken) is
refused by gRPC itself before it leaves, and a request sent in time is finished or abandoned by
the time the lease ends. The successor waits a whole call deadline longer (the reaper's margin)
and re-writes the batches the stale run may have had in flight (up to its write intent).

`FencedClient` wraps a MilvusClient with that check and gives every call a deadline
(`call_timeout`; `wait_timeout` for the calls that wait on the server: flush, index build, load).
The raw insert/upsert path (rpc.RpcChannel) asks the wrapper's `write_deadline` the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache

from pymilvus import MilvusClient

from .errors import LeaseLost

# MilvusClient methods that change a server (pymilvus 3.0 names).
WRITES = frozenset(
    {
        "insert",
        "upsert",
        "delete",
        "flush",
        "compact",
        "create_collection",
        "create_partition",
        "create_index",
        "create_database",
        "create_alias",
        "alter_alias",
        "drop_alias",
        "drop_collection",
        "drop_partition",
        "drop_index",
        "drop_database",
        "load_collection",
        "load_partitions",
        "release_collection",
        "release_partitions",
        "alter_collection_properties",
        "drop_collection_properties",
        "alter_index_properties",
        "rename_collection",
    }
)
# Of those, the ones pymilvus waits on until the server finished (not bounded by the lease: the
# request leaves at once; waiting for a long index build is not a write).
WAITS = frozenset({"flush", "create_index", "load_collection", "load_partitions"})


# Methods that take `timeout` through **kwargs only (pymilvus 3.0 hands it to the handler).
_KWARGS_TIMEOUT = frozenset(
    {"list_collections", "list_indexes", "drop_database", "describe_database"}
)


@cache
def _takes_timeout(name: str) -> bool:
    if name in _KWARGS_TIMEOUT:
        return True
    method = getattr(MilvusClient, name, None)
    if not callable(method):
        return False
    try:
        return "timeout" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class FencedClient:
    """A MilvusClient whose writes stop with LeaseLost once `lease_left()` says 0 (seconds left
    of the caller's lease; None = no lease) and whose every call has a deadline."""

    def __init__(
        self,
        client: MilvusClient,
        lease_left: Callable[[], float | None],
        *,
        call_timeout: float,
        wait_timeout: float,
    ) -> None:
        self._client = client
        self._lease_left = lease_left
        self._call_timeout = call_timeout
        self._wait_timeout = wait_timeout

    @property
    def unwrapped(self) -> MilvusClient:
        return self._client

    def rewrap(self, client: MilvusClient) -> FencedClient:
        """Another client (e.g. bound to another database) under the same lease."""
        return FencedClient(
            client,
            self._lease_left,
            call_timeout=self._call_timeout,
            wait_timeout=self._wait_timeout,
        )

    def write_deadline(self, what: str) -> float:
        """The deadline (seconds) for a write about to be sent; LeaseLost when it may not be."""
        left = self._lease_left()
        if left is None:
            return self._call_timeout
        if left <= 0:
            raise LeaseLost(f"{what}: this run's lease ended, another run owns the migration")
        return min(self._call_timeout, left)

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        write = name in WRITES
        with_deadline = _takes_timeout(name)

        def call(*args, **kwargs):
            timeout = self._wait_timeout if name in WAITS else self._call_timeout
            if write:
                deadline = self.write_deadline(name)
                if name not in WAITS:
                    timeout = deadline
            if with_deadline and kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return attribute(*args, **kwargs)

        return call
