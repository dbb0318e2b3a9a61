"""Benchmark: one collection copy with W = 1, 2, 4 batches in flight to the target (writers.py),
or K queries at once on the source (readers.py).

    .venv/bin/python -m bench.writers                      # 100,000 rows × 128-d, Lite → Lite
    .venv/bin/python -m bench.writers --standalone         # Lite → the Milvus 2.3 standalone
    .venv/bin/python -m bench.writers --writers 1,4 --rounds 5
    .venv/bin/python -m bench.writers --batch-bytes 2097152   # smaller batches, more of them
    .venv/bin/python -m bench.writers --writers 1 --readers 1,2,4 --source-standalone

A Milvus Lite source (bench.migrate's collection: INT64 key, FLOAT_VECTOR, VARCHAR, INT64, two
dynamic keys) copied by `copy_collection` (default batch size) into a fresh target collection
(`plan` + `create_target`, not timed) on a second Milvus Lite server, or with --standalone on
the Milvus 2.3 standalone of the test suite (tests/servers.py); --source-standalone puts the
source on the standalone and the target on Milvus Lite. Each round runs every (K, W) once, in
an order that rotates from round to round; each copy's target is dropped after it. Printed:
each run, then per (K, W) the medians of the wall time of the copy, rows/s and the CPU-seconds
each process spent meanwhile — the client (this process: the copy's reading, writing and caller
threads), the source server and the target server; "busy cores" = all CPU-seconds / wall
seconds. Every run's digest of each stream (its ranges' digests added up) must equal the first
run's: the same rows were written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.migrate import SOURCE, _build_source  # noqa: E402
from migrations_app.engine.catalog import describe_collection  # noqa: E402
from migrations_app.engine.copy import CopyScope, copy_collection  # noqa: E402
from migrations_app.engine.digest import MODULUS, CopyDigests  # noqa: E402
from migrations_app.engine.model import SchemaChoices  # noqa: E402
from migrations_app.engine.options import DEFAULTS, Options  # noqa: E402
from migrations_app.engine.plan import plan  # noqa: E402
from migrations_app.engine.target import create_target  # noqa: E402
from tests.milvus import MilvusClient  # noqa: E402
from tests.servers import start_lite_server, start_standalone  # noqa: E402

ROLES = ("client", "source", "target")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.writers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows (100,000)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    parser.add_argument("--writers", default="1,2,4", help="W values, comma-separated (1,2,4)")
    parser.add_argument("--readers", default="1", help="K values, comma-separated (1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument(
        "--batch-bytes", type=int, default=None, help="batch size (the engine's default, 16 MB)"
    )
    parser.add_argument(
        "--standalone", action="store_true", help="the target on the Milvus 2.3 standalone"
    )
    parser.add_argument(
        "--source-standalone",
        action="store_true",
        help="the source on the Milvus 2.3 standalone, the target on Milvus Lite",
    )
    args = parser.parse_args(argv)
    counts = [(int(k), int(w)) for k in args.readers.split(",") for w in args.writers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
        servers = []
        try:
            lite = start_lite_server(Path(tmp))
            servers.append(lite)
            clients = {"lite": (MilvusClient(lite.uri), psutil.Process(lite.proc.pid))}
            if args.standalone or args.source_standalone:
                print("starting the Milvus standalone ...", flush=True)
                standalone = start_standalone()
                servers.append(standalone)
                clients["standalone"] = (
                    MilvusClient(standalone.uri, token=standalone.token),
                    psutil.Process(standalone.server.server_proc.pid),
                )
            if args.source_standalone:
                (source, source_proc), (target, target_proc) = (
                    clients["standalone"],
                    clients["lite"],
                )
                kind = "Milvus 2.3 standalone → Milvus Lite"
            elif args.standalone:
                (source, source_proc), (target, target_proc) = (
                    clients["lite"],
                    clients["standalone"],
                )
                kind = "Milvus Lite → Milvus 2.3 standalone"
            else:
                source, source_proc = clients["lite"]
                target_lite = start_lite_server(Path(tmp))
                servers.append(target_lite)
                target = MilvusClient(target_lite.uri)
                target_proc = psutil.Process(target_lite.proc.pid)
                kind = "Milvus Lite → Milvus Lite"
            print(f"building the source: {args.rows:,} rows × {args.dim}-d ...", flush=True)
            if source.has_collection(SOURCE):
                source.drop_collection(SOURCE)
            _build_source(source, args.rows, args.dim, keep=False)
            processes = {"source": source_proc, "target": target_proc}
            options = Options(batch_bytes=args.batch_bytes or DEFAULTS.batch_bytes)
            runs = _rounds(source, target, processes, counts, args.rounds, args.rows, options)
        finally:
            for server in servers:
                server.stop()
    kind += f", batches of {options.batch_bytes / 2**20:g} MB"
    _summary(runs, counts, args.rows, args.dim, kind)
    return 0


def _rounds(
    source,
    target,
    processes,
    counts: list[tuple[int, int]],
    rounds: int,
    rows: int,
    options: Options,
) -> list[dict]:
    info = describe_collection(source, SOURCE)
    runs: list[dict] = []
    digests = None
    for number in range(rounds):
        shift = number % len(counts)
        for readers, writers in counts[shift:] + counts[:shift]:
            label = f"K={readers} W={writers}"
            name = f"bench_k{readers}_w{writers}_r{number}"
            spec = plan(info, SchemaChoices(target_name=name), target).spec
            create_target(target, spec)
            before = _cpu(processes)
            started = time.perf_counter()
            result = copy_collection(
                source,
                target,
                CopyScope.of(spec),
                options=replace(options, writers=writers, readers=readers),
            )
            wall = time.perf_counter() - started
            after = _cpu(processes)
            target.drop_collection(name)
            whole = _whole(result.digests)
            if result.rows != rows or (digests is not None and whole != digests):
                raise SystemExit(f"{label}: the copy wrote other rows than the first run")
            digests = whole
            cpu = {role: after[role] - before[role] for role in ROLES}
            runs.append({"counts": (readers, writers), "wall": wall, "cpu": cpu})
            print(
                f"round {number + 1} {label}: {wall:6.2f} s, {rows / wall:8,.0f} rows/s, "
                + ", ".join(f"{role} {cpu[role]:.1f}" for role in ROLES)
                + " CPU-s",
                flush=True,
            )
    return runs


def _whole(digests: dict) -> dict:
    """Rows and digest of each stream, whatever its range bounds (they follow the pages, and
    K readers read other pages than one): range digests add up modulo 2**128."""
    saved = CopyDigests(saved=digests)
    whole = {}
    for stream in saved.streams:
        ranges = saved.sums(stream)
        whole[stream] = (sum(ranges.rows), sum(ranges.sums) % MODULUS)
    return whole


def _cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU-seconds so far of this process and of each server (with its children)."""
    figures = {"client": time.process_time()}
    for role, proc in processes.items():
        total = 0.0
        for one in [proc, *proc.children(recursive=True)]:
            try:
                times = one.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        figures[role] = total
    return figures


def _summary(
    runs: list[dict], counts: list[tuple[int, int]], rows: int, dim: int, kind: str
) -> None:
    print()
    print(
        f"rows {rows:,} × {dim}-d, {kind}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; medians of "
        f"{len(runs) // len(counts)} rounds"
    )
    header = f"{'K':>3}{'W':>3}{'wall s':>9}{'rows/s':>10}" + "".join(
        f"{r + ' CPU-s':>14}" for r in ROLES
    )
    print(header + f"{'busy cores':>12}")
    for readers, writers in counts:
        mine = [run for run in runs if run["counts"] == (readers, writers)]
        wall = statistics.median(run["wall"] for run in mine)
        cpu = {role: statistics.median(run["cpu"][role] for run in mine) for role in ROLES}
        busy = statistics.median(sum(run["cpu"].values()) / run["wall"] for run in mine)
        print(
            f"{readers:3}{writers:3}{wall:9.2f}{rows / wall:10,.0f}"
            + "".join(f"{cpu[role]:14.1f}" for role in ROLES)
            + f"{busy:12.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
