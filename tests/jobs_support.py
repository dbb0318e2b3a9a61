"""Helpers for tests that run real jobs: clusters on real Milvus Lite servers, waiting on rows."""

from __future__ import annotations

import time

from console.models import Cluster
from jobs.models import Job
from migrations_app import service
from tests.engine.sample_data import create_simple
from tests.milvus import MilvusClient


def local_cluster(project, server, name: str, plan: str = Cluster.Plan.DEDICATED) -> Cluster:
    """A RUNNING local cluster row for a Milvus Lite server the test started."""
    return Cluster.objects.create(
        project=project,
        name=name,
        plan=plan,
        kind=Cluster.Kind.LOCAL,
        uri=server.uri,
        port=server.port,
        status=Cluster.Status.RUNNING,
    )


def fill(server, name: str, rows: int, **options) -> list[dict]:
    client = MilvusClient(uri=server.uri)
    try:
        return create_simple(client, name, rows=rows, **options)
    finally:
        client.close()


def count(server, name: str, db: str = "default") -> int:
    client = MilvusClient(uri=server.uri, db_name=db)
    try:
        if name not in client.list_collections():
            return -1
        rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"])
    finally:
        client.close()


def wait_for(job: Job, *statuses: str, timeout: float = 120, worker=None) -> Job:
    """Poll the row until the job reaches one of `statuses`; the row, or AssertionError."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    events = "\n".join(str(e) for e in job.events.all())
    logs = worker.logs()[-3000:] if worker is not None else ""
    raise AssertionError(f"job stayed {seen}, wanted {statuses}\n{events}\n{logs}")


def start_copy(owner, source: Cluster, target: Cluster, target_name: str = "big") -> Job:
    """A migration of collection `big` of `source` into `target` (as `target_name`)."""
    return service.start_migration(
        owner,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("big", target_name=target_name)],
        ),
    )


def settle_index_files(server, name: str = "big", timeout: float = 60) -> None:
    """Flush `name` and wait until Milvus Lite has written its index files: it writes them in
    the background after a flush, not atomically, and a server stopped in the middle of one
    cannot load the collection again. For tests that stop and restart a source."""
    client = MilvusClient(uri=server.uri)
    try:
        client.flush(name)
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        sizes = sorted((str(p), p.stat().st_size) for p in server.data_dir.rglob("*.idx"))
        if sizes and sizes == last:
            return
        last = sizes
        time.sleep(0.5)
    raise AssertionError(f"the source's index files were not written within {timeout:.0f} s")
