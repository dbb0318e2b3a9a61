"""Benchmark: what the job machinery costs on top of the engine.

    .venv/bin/python -m bench.jobs              # 100,000 rows: engine in-process vs a job
    .venv/bin/python -m bench.jobs --parallel   # 4 collections × 100,000: 1 vs 2 at once
    .venv/bin/python -m bench.jobs --verify-share 3   # 3 jobs: the verify phase's share of each
    .venv/bin/python -m bench.jobs --verify-share 3 --standalone   # the same on Milvus 2.3

Everything is real and local: two Milvus Lite servers on free loopback ports, a throwaway SQLite
database and var/ under a temporary directory, Redis database 14 (REDIS_URL to change it) as the
broker, and a real Celery worker process (threads pool, concurrency 2, as `make run` has 2).

1. engine — `migrate_collection` (what the engine CLI runs: plan, create, copy, finalize,
   verify) in this process, timed from call to report;
2. job — the same collection through `service.start_migration` and the worker; the job's own
   duration is `ended_at - started_at` from its row, and the queue delay `started_at -
   created_at` (submit to start).

With --parallel, one job of 4 collections runs with MIGRATION_PARALLEL_COLLECTIONS=1 and again
with 2; the wall time of each job is printed. With --verify-share N, N jobs of the same
collection run one after the other and each one's phases (from its JobCollection row) are
printed: the verify phase's seconds, its share of the job's time and the rows it compared, then
the medians. With --standalone, source and target are two collections of one Milvus 2.3
standalone (PyPI `milvus`, started with tests/servers.py, which takes the machine's standalone
lock) registered as two clusters, instead of two Milvus Lite servers. See bench/README.md for
the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SOURCE = "bench_source"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per collection (100,000)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    parser.add_argument("--parallel", action="store_true", help="4 collections, 1 vs 2 at once")
    parser.add_argument(
        "--verify-share", type=int, default=0, metavar="N", help="N jobs: the verify phase's share"
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="source and target collections on one Milvus 2.3 standalone instead of two Lite servers",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        base = Path(tmp)
        os.environ["VAR_DIR"] = str(base / "var")
        os.environ["DATABASE_URL"] = f"sqlite:///{base / 'bench.sqlite3'}"
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        os.environ["LOG_LEVEL"] = "WARNING"
        # A local benchmark: dev keys are generated into the throwaway var/ (DEBUG only).
        os.environ.setdefault("DEBUG", "true")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        with _Bench(base, args.rows, args.dim, args.standalone) as bench:
            if args.parallel:
                bench.parallel()
            elif args.verify_share:
                bench.verify_share(args.verify_share)
            else:
                bench.engine_vs_job()
    return 0


class _Bench:
    def __init__(self, base: Path, rows: int, dim: int, standalone: bool = False) -> None:
        self.base, self.rows, self.dim, self.standalone = base, rows, dim, standalone
        self.kind = "Milvus 2.3 standalone" if standalone else "Milvus Lite → Milvus Lite"

    def __enter__(self) -> _Bench:
        from pymilvus import MilvusClient

        from console import services

        self.owner_email = "bench@bench.local"
        _, self.project = services.create_organization(
            "Bench", self.owner_email, "bench-password-1234"
        )
        if self.standalone:
            self._standalone_clusters()
        else:
            from bench.migrate import _Servers
            from tests.jobs_support import local_cluster

            self.servers = _Servers().__enter__()
            self.source = local_cluster(self.project, _Server(self.servers.source_uri), "src")
            self.target = local_cluster(self.project, _Server(self.servers.target_uri), "dst")
            self.source_client = MilvusClient(self.servers.source_uri)
            self.server_pids = {
                "source": self.servers.procs[0].pid,
                "target": self.servers.procs[1].pid,
            }
        return self

    def _standalone_clusters(self) -> None:
        """One Milvus 2.3 standalone (tests/servers.py, which takes the machine's standalone
        lock) holding both the source and the target collection, registered twice."""
        from pymilvus import MilvusClient

        from console.models import Cluster
        from tests.servers import start_standalone

        # Milvus reads LOG_LEVEL too and refuses the console's "WARNING" (it stops at start).
        level = os.environ.pop("LOG_LEVEL", None)
        try:
            self.milvus = start_standalone()
        finally:
            if level is not None:
                os.environ["LOG_LEVEL"] = level
        clusters = []
        for name in ("src", "dst"):
            cluster = Cluster(
                project=self.project,
                name=name,
                plan=Cluster.Plan.DEDICATED,
                kind=Cluster.Kind.EXTERNAL,
                uri=self.milvus.uri,
                status=Cluster.Status.RUNNING,
            )
            cluster.set_credentials(token=self.milvus.token)
            cluster.save()
            clusters.append(cluster)
        self.source, self.target = clusters
        self.source_client = MilvusClient(self.milvus.uri, token=self.milvus.token)
        self.server_pids = {"server": self.milvus.server.server_proc.pid}

    def __exit__(self, *exc) -> None:
        self.source_client.close()
        if self.standalone:
            self.milvus.stop()
        else:
            self.servers.__exit__(*exc)

    def _fill(self, names: list[str]) -> None:
        from bench.migrate import _build_source

        started = time.perf_counter()
        for name in names:
            _build_source(self.source_client, self.rows, self.dim, keep=False)
            if name != SOURCE:
                self.source_client.rename_collection(SOURCE, name)
        print(
            f"source: {len(names)} × {self.rows:,} rows × {self.dim}-d built in "
            f"{time.perf_counter() - started:.1f} s"
        )

    def _worker(self, **env: str):
        from tests.workers import Worker, use_session_queue

        use_session_queue()  # the worker takes this process's queue only
        worker = Worker(self.base, {k: str(v) for k, v in env.items()})
        worker.start()
        return worker

    def _job(self, names: list[str], prefix: str):
        from console.models import User
        from migrations_app import service
        from tests.jobs_support import wait_for

        owner = User.objects.get(email=self.owner_email)
        job = service.start_migration(
            owner,
            service.MigrationRequest(
                source_cluster_id=self.source.pk,
                target_cluster_id=self.target.pk,
                collections=[service.CollectionChoice(n, target_name=prefix + n) for n in names],
            ),
        )
        job = wait_for(job, "SUCCESSFUL", "FAILED", "CANCELED", timeout=1800)
        if job.status != "SUCCESSFUL":
            raise SystemExit(f"job {job.pk} {job.status}: {job.reason}")
        return job

    def engine_vs_job(self) -> None:
        from pymilvus import MilvusClient

        from migrations_app.engine.catalog import describe_collection
        from migrations_app.engine.migrate import migrate_collection
        from migrations_app.engine.model import SchemaChoices
        from migrations_app.engine.plan import plan, require_ok

        self._fill([SOURCE])
        # The job first, then the engine, each into a new collection on the same target
        # server. The other order measured a slower job once (bench/README.md): the figures
        # move with the order and the load of the box; run it more than once.
        worker = self._worker(MIGRATION_PARALLEL_COLLECTIONS=1)
        try:
            job = self._job([SOURCE], "job_")
        finally:
            worker.stop()
        target = MilvusClient(self.servers.target_uri)
        info = describe_collection(self.source_client, SOURCE)
        spec = require_ok(plan(info, SchemaChoices(target_name="engine_copy"), target))
        started = time.perf_counter()
        report = migrate_collection(self.source_client, target, info, spec)
        engine_seconds = time.perf_counter() - started
        target.close()
        assert report.verified, report.summary()

        job_seconds = (job.ended_at - job.started_at).total_seconds()
        delay = (job.started_at - job.created_at).total_seconds()
        rows = self.rows
        print(f"rows {rows:,} × {self.dim}-d, Milvus Lite → Milvus Lite, 2 cores")
        print("                                          seconds    rows/s")
        print(
            f"1. engine (migrate_collection in-process) {engine_seconds:7.2f}  {rows / engine_seconds:8,.0f}"
        )
        print(
            f"2. job (started → ended, from its row)    {job_seconds:7.2f}  {rows / job_seconds:8,.0f}"
        )
        print(f"job speed / engine speed = {engine_seconds / job_seconds:.2f}   (target >= 0.9)")
        print(f"queue delay (submit → started) = {delay:.2f} s")

    def parallel(self) -> None:
        names = [f"coll_{i}" for i in range(4)]
        self._fill(names)
        results = []
        for parallel in (1, 2):
            worker = self._worker(MIGRATION_PARALLEL_COLLECTIONS=parallel)
            try:
                started = time.perf_counter()
                job = self._job(names, f"p{parallel}_")
                wall = time.perf_counter() - started
            finally:
                worker.stop()
            results.append((parallel, wall, (job.ended_at - job.started_at).total_seconds()))
        print(f"one job of 4 collections × {self.rows:,} rows × {self.dim}-d, 2 cores")
        print("collections at once   job seconds   wall seconds (submit → final)   rows/s")
        for parallel, wall, seconds in results:
            print(
                f"{parallel:>19}   {seconds:11.2f}   {wall:29.2f}   {4 * self.rows / seconds:8,.0f}"
            )

    def verify_share(self, runs: int) -> None:
        import statistics

        self._fill([SOURCE])
        worker = self._worker(MIGRATION_PARALLEL_COLLECTIONS=1)
        shares, verifies, totals, cpu_shares = [], [], [], []
        try:
            for run in range(runs):
                job, cpu = self._job_with_cpu([SOURCE], f"share{run}_", worker)
                collection = job.collections.get()
                verify = _phase_seconds(collection.phases, "VERIFYING")
                total = (job.ended_at - job.started_at).total_seconds()
                report = collection.report or {}
                compared = report.get("rows_compared", report.get("sampled_rows"))
                phases = ", ".join(
                    f"{name.lower()} {_phase_seconds(collection.phases, name):.2f}"
                    for name in collection.phases
                )
                print(
                    f"run {run + 1}: job {total:6.2f} s, verify {verify:5.2f} s "
                    f"({100 * verify / total:4.1f} %), rows compared {compared:,}  [{phases}]",
                    flush=True,
                )
                job_cpu = sum(sum(per.values()) for per in cpu.values())
                verify_cpu = sum(cpu.get("VERIFYING", {}).values())
                roles = [*self.server_pids, "worker"]
                print(
                    f"       CPU-s ({' / '.join(roles)}): "
                    + "; ".join(
                        f"{phase.lower()} " + " / ".join(f"{per.get(p, 0.0):.1f}" for p in roles)
                        for phase, per in cpu.items()
                    )
                    + f"; verify {verify_cpu:.1f} of {job_cpu:.1f} CPU-s "
                    f"({100 * verify_cpu / job_cpu:.1f} %)",
                    flush=True,
                )
                shares.append(verify / total)
                verifies.append(verify)
                totals.append(total)
                cpu_shares.append(verify_cpu / job_cpu)
        finally:
            worker.stop()
        print(f"rows {self.rows:,} × {self.dim}-d, {self.kind}, 2 cores, {runs} jobs")
        print(
            f"median: job {statistics.median(totals):.2f} s, verify "
            f"{statistics.median(verifies):.2f} s, verify share "
            f"{100 * statistics.median(shares):.1f} % of the time, "
            f"{100 * statistics.median(cpu_shares):.1f} % of the CPU-seconds   "
            "(target <= 15 % comparing every row)"
        )

    def _job_with_cpu(self, names: list[str], prefix: str, worker):
        """Run a job, sampling the CPU time of both servers and the worker (with its children)
        every 0.1 s; CPU-seconds are credited to the phase the collection was in."""
        import psutil

        from console.models import User
        from jobs.models import Job, JobCollection
        from migrations_app import service

        processes = {role: psutil.Process(pid) for role, pid in self.server_pids.items()}
        processes["worker"] = psutil.Process(worker.proc.pid)

        def cpu() -> dict[str, float]:
            out = {}
            for role, process in processes.items():
                total = 0.0
                for one in [process, *process.children(recursive=True)]:
                    try:
                        times = one.cpu_times()
                    except psutil.NoSuchProcess:
                        continue
                    total += times.user + times.system
                out[role] = total
            return out

        owner = User.objects.get(email=self.owner_email)
        job = service.start_migration(
            owner,
            service.MigrationRequest(
                source_cluster_id=self.source.pk,
                target_cluster_id=self.target.pk,
                collections=[service.CollectionChoice(n, target_name=prefix + n) for n in names],
            ),
        )
        per_phase: dict[str, dict[str, float]] = {}
        before, phase = cpu(), None
        while True:
            status = JobCollection.objects.filter(job=job).values_list("status", flat=True)[0]
            now = cpu()
            if phase in JobCollection.ACTIVE_STATES:
                spent = per_phase.setdefault(phase, {})
                for role, value in now.items():
                    spent[role] = spent.get(role, 0.0) + value - before[role]
            before, phase = now, status
            job.refresh_from_db()
            if job.status in Job.FINAL_STATES:
                break
            time.sleep(0.1)
        if job.status != Job.Status.SUCCESSFUL:
            raise SystemExit(f"job {job.pk} {job.status}: {job.reason}")
        return job, per_phase


def _phase_seconds(phases: dict, name: str) -> float:
    from datetime import datetime

    phase = (phases or {}).get(name) or {}
    if "start" not in phase or "end" not in phase:
        return 0.0
    start = datetime.fromisoformat(phase["start"])
    return (datetime.fromisoformat(phase["end"]) - start).total_seconds()


class _Server:
    """The shape tests.jobs_support.local_cluster takes (uri and port) for a bench server."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.port = int(uri.rsplit(":", 1)[1])


if __name__ == "__main__":
    sys.exit(main())
