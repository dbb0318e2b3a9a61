"""Benchmark: the cluster page of a Milvus Lite holding large collections.

    .venv/bin/python -m bench.cluster_detail                    # 4 × 300,000 rows × 32-d
    .venv/bin/python -m bench.cluster_detail --rows 50000 --repeat 3

A Milvus Lite server on 127.0.0.1 (a free port) with --collections collections of --rows rows
each (FLOAT_VECTOR of --dim, 32 by default: rows are what the reads scan; AUTOINDEX; flushed), registered as an external cluster in a throwaway
SQLite database. As its Organization Owner (Django's test client, logged in) it times, alternating
over --repeat rounds, median per request:

- the page (`/clusters/<id>/`): what a user waits for before the page shows;
- each collection's card (`…/databases/<db>/collections/<name>/`), which the browser fetches on
  load: their sum is what the page itself cost before cards were read apart (the same reads,
  made inline), the figure the issue measured at 6.7–11.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster_detail", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--collections", type=int, default=4)
    parser.add_argument("--rows", type=int, default=300_000, help="rows per collection")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (5)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        os.environ["VAR_DIR"] = tmp
        os.environ["ENV_FILE"] = ""
        os.environ["DEBUG"] = "true"  # dev keys in the throwaway VAR_DIR
        os.environ["MIGRATION_ALLOW_PRIVATE_ENDPOINTS"] = "true"
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        os.environ["ALLOWED_HOSTS"] = "testserver"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return run(args, Path(tmp))


def fill(uri: str, args) -> None:
    import numpy as np
    from pymilvus import DataType, MilvusClient

    from migrations_app.engine.connect import GRPC_OPTIONS

    client = MilvusClient(uri=uri, grpc_options=GRPC_OPTIONS, dedicated=True)
    rng = np.random.default_rng(7)
    for c in range(args.collections):
        name = f"big_{c}"
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=args.dim)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index)
        for start in range(0, args.rows, 5000):
            ids = range(start, min(start + 5000, args.rows))
            vectors = rng.random((len(ids), args.dim), dtype=np.float32)
            client.insert(name, [{"id": i, "vector": v} for i, v in zip(ids, vectors, strict=True)])
        client.flush(name)
    client.close()


def run(args, tmp: Path) -> int:
    from django.test import Client
    from django.urls import reverse

    from console.clusters.lite_process import free_port, start_lite, stop_process, wait_ready
    from console.models import Cluster, Membership, Organization, Project, User

    port = free_port()
    proc = start_lite(tmp / "lite", port, log_path=tmp / "lite.log")
    try:
        wait_ready(port, proc)
        uri = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        fill(uri, args)
        print(
            f"filled {args.collections} × {args.rows:,} rows × {args.dim}-d in "
            f"{time.perf_counter() - started:.0f} s"
        )
        user = User.objects.create_user("owner@bench.test", "bench-password-1")
        org = Organization.objects.create(name="Bench")
        Membership.objects.create(user=user, organization=org, role=Membership.Role.ORG_OWNER)
        project = Project.objects.create(organization=org, name="Default Project")
        cluster = Cluster.objects.create(
            project=project,
            name="big",
            plan=Cluster.Plan.DEDICATED,
            kind=Cluster.Kind.EXTERNAL,
            uri=uri,
            status=Cluster.Status.RUNNING,
        )
        client = Client()
        client.force_login(user)
        page = reverse("cluster_detail", args=[cluster.pk])
        cards = [
            reverse("cluster_collection", args=[cluster.pk, "default", f"big_{c}"])
            for c in range(args.collections)
        ]
        for url in [page, *cards]:  # warm up; every card must really read its collection
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            assert url == page or b"entities" in response.content, response.content[:500]
        times: dict[str, list[float]] = {url: [] for url in [page, *cards]}
        for _ in range(args.repeat):
            for url in times:
                started = time.perf_counter()
                client.get(url)
                times[url].append(time.perf_counter() - started)
    finally:
        stop_process(proc)

    page_s = statistics.median(times[page])
    card_s = [statistics.median(times[url]) for url in cards]
    print(f"medians of {args.repeat} alternating rounds")
    print(f"  page (names only, what the user waits for)   {page_s:7.3f} s")
    for c, seconds in enumerate(card_s):
        print(f"  card big_{c} (fetched by the browser on load)  {seconds:7.3f} s")
    print(f"  all cards, one after another (the page before) {sum(card_s):7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
