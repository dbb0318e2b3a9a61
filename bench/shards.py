"""Benchmark: one collection copied as K key ranges by 1 or 2 worker processes.

    .venv/bin/python -m bench.shards                    # 1,000,000 rows × 128-d, Lite → Lite
    .venv/bin/python -m bench.shards --rows 200000      # a smaller run
    .venv/bin/python -m bench.shards --standalone       # source and target on Milvus 2.3

For K = 1, 2, 4 ranges (MIGRATION_SHARD_ROWS = rows / K, so K = 1 is the unsplit copy) and 1
and 2 worker processes (each a Celery worker of concurrency 1: one process copying at a time),
one migration job of the same source collection runs; printed: the job's wall time (started →
ended, from its row), rows/s, and the CPU-seconds each process spent meanwhile — the client
(the worker processes, with their children), the source server and the target server (one
Milvus 2.3 standalone holds both with --standalone) — and all of them by the collection's
phase (creating: count and split; copying: the ranges; indexing and verifying: run once). "busy cores" = all CPU-seconds / wall
seconds: how many cores the job kept busy. Each job's target is dropped after it.

Everything is real and local, as in bench/jobs.py (whose setup this reuses): a throwaway SQLite
database, Redis database 14 (REDIS_URL to change it) as the broker, real worker processes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.jobs import SOURCE, _Bench  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.shards", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (1,000,000)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    parser.add_argument(
        "--shards", default="1,2,4", help="range counts K to run, comma-separated (1,2,4)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker process counts to run, comma-separated (1,2)"
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="source and target collections on one Milvus 2.3 standalone instead of two Lite servers",
    )
    args = parser.parse_args(argv)
    shards = [int(k) for k in args.shards.split(",")]
    workers = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        base = Path(tmp)
        os.environ["VAR_DIR"] = str(base / "var")
        os.environ["DATABASE_URL"] = f"sqlite:///{base / 'bench.sqlite3'}"
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        os.environ["LOG_LEVEL"] = "WARNING"
        os.environ.setdefault("DEBUG", "true")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        with _ShardBench(base, args.rows, args.dim, args.standalone) as bench:
            bench.run(shards, workers)
    return 0


class _ShardBench(_Bench):
    def run(self, shards: list[int], workers: list[int]) -> None:
        self._fill([SOURCE])
        results = []
        for count in workers:
            for k in shards:
                shard_rows = self.rows if k == 1 else math.ceil(self.rows / k)
                env = {
                    "MIGRATION_SHARD_ROWS": str(shard_rows),
                    "MIGRATION_MAX_SHARDS": str(k),
                    "MIGRATION_PARALLEL_COLLECTIONS": "1",
                }
                procs = [self._worker_of(env, f"w{count}k{k}n{n}") for n in range(count)]
                try:
                    name = f"k{k}_w{count}"
                    job, cpu = self._run_job(name, procs)
                finally:
                    for proc in procs:
                        proc.stop()
                collection = job.collections.get()
                ranges = collection.ranges.count() or 1
                used = sorted({r.worker.split(":")[0] for r in collection.ranges.all()})
                wall = (job.ended_at - job.started_at).total_seconds()
                results.append((k, ranges, count, wall, cpu, len(used) or 1))
                phases = ", ".join(f"{p.lower()} {v:.1f}" for p, v in self.phase_cpu.items())
                print(
                    f"K={k} ({ranges} ranges), {count} worker(s): {wall:.1f} s, "
                    f"{self.rows / wall:,.0f} rows/s, CPU-s {_cpu_text(cpu)}; "
                    f"all CPU-s by phase: {phases}",
                    flush=True,
                )
                target = self._target_client()
                target.drop_collection(name)
                target.close()
        roles = list(results[0][4]) if results else []
        print(f"\nrows {self.rows:,} × {self.dim}-d, {self.kind}, {os.cpu_count()} cores")
        print(
            "  K  ranges  workers  used   wall s     rows/s   "
            + "  ".join(f"{role + ' CPU-s':>14}" for role in roles)
            + "   busy cores"
        )
        for k, ranges, count, wall, cpu, used in results:
            busy = sum(cpu.values()) / wall
            print(
                f"{k:>3}  {ranges:>6}  {count:>7}  {used:>4}  {wall:7.1f}  {self.rows / wall:9,.0f}   "
                + "  ".join(f"{cpu[role]:14.1f}" for role in roles)
                + f"   {busy:10.2f}"
            )

    def _target_client(self):
        from tests.milvus import MilvusClient  # a channel of its own (tests/milvus.py)

        if self.standalone:
            return MilvusClient(self.milvus.uri, token=self.milvus.token)
        return MilvusClient(self.servers.target_uri)

    def _worker_of(self, env: dict[str, str], name: str):
        from tests.workers import Worker, use_session_queue

        use_session_queue()
        log_dir = self.base / name
        log_dir.mkdir()
        worker = Worker(log_dir, env, concurrency=1)
        worker.start()
        return worker

    def _run_job(self, name: str, workers):
        """Run the job; CPU-seconds of the servers and the workers (with children) from its
        start to its end."""
        import psutil

        from console.models import User
        from jobs.models import Job, JobCollection
        from migrations_app import service

        processes = {role: [psutil.Process(pid)] for role, pid in self.server_pids.items()}
        processes["client"] = [psutil.Process(w.proc.pid) for w in workers]

        def cpu() -> dict[str, float]:
            out = {}
            for role, roots in processes.items():
                total = 0.0
                for root in roots:
                    for one in [root, *root.children(recursive=True)]:
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
                collections=[service.CollectionChoice(SOURCE, target_name=name)],
            ),
        )
        # Sampled every 0.1 s: the processes' children come and go (prefork), so the sums
        # are accumulated from each sample's increase, credited to the collection's phase
        # (CREATING: plan, count and the split's key scan; COPYING: the ranges; INDEXING and
        # VERIFYING: the finish, which runs once whatever K).
        spent = dict.fromkeys(processes, 0.0)
        self.phase_cpu: dict[str, float] = {}
        before, phase = cpu(), None
        while True:
            now = cpu()
            for role, value in now.items():
                spent[role] += max(0.0, value - before[role])
                if phase in JobCollection.ACTIVE_STATES:
                    self.phase_cpu[phase] = self.phase_cpu.get(phase, 0.0) + max(
                        0.0, value - before[role]
                    )
            before = now
            phase = JobCollection.objects.filter(job=job).values_list("status", flat=True)[0]
            job.refresh_from_db()
            if job.status in Job.FINAL_STATES:
                break
            time.sleep(0.1)
        if job.status != Job.Status.SUCCESSFUL:
            raise SystemExit(f"job {job.pk} {job.status}: {job.reason}")
        return job, spent


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{role} {value:.1f}" for role, value in cpu.items())


if __name__ == "__main__":
    sys.exit(main())
