"""Benchmark: raw insert vs. a naive query_iterator + insert loop vs. the engine.

    .venv/bin/python -m bench.migrate                      # 100,000 rows × 128-d, side by side
    .venv/bin/python -m bench.migrate --rows 20000 --dim 768
    .venv/bin/python -m bench.migrate --rss                # engine peak RSS at 100,000 vs 400,000

Two Milvus Lite servers (source, target) are started on free loopback ports under a temporary
directory and stopped at the end. The source collection has N rows: an INT64 primary key, a
FLOAT_VECTOR, a VARCHAR title, an INT64 category and two dynamic keys. On the same data and the
same target server:

1. raw insert — the same rows, already in memory, inserted into a fresh target collection in
   batches of 10,000 with `MilvusClient.insert`: the ceiling the target allows a client;
2. naive — `query_iterator` + `insert`, the loop a user would write (batch 1,000 by default);
3. engine — the engine's own steps (catalog, plan, create_target, then timed: copy_collection
   and verify — every row, through per-key-range digests), in a child process so its peak
   RSS is its own; finalize (flush, index build) is timed and shown apart.

See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from console.clusters.lite_process import free_port, start_lite, stop_process  # noqa: E402

SOURCE = "bench_source"
BUILD_BATCH = 10_000
RAW_BATCH = 10_000
COLORS = ["red", "green", "blue", "amber"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.migrate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the source (100,000)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    parser.add_argument(
        "--naive-batch", type=int, default=1_000, help="query_iterator batch (1,000)"
    )
    parser.add_argument(
        "--batch-bytes", type=int, default=None, help="engine batch size (engine default)"
    )
    parser.add_argument(
        "--rss",
        action="store_true",
        help="only the engine, at --rows and at 4 × --rows: compare its peak RSS",
    )
    parser.add_argument("--engine-child", help=argparse.SUPPRESS)  # internal: JSON arguments
    args = parser.parse_args(argv)
    if args.engine_child:
        return _engine_child(json.loads(args.engine_child))
    if args.rows <= 0 or args.dim <= 0:
        parser.error("--rows and --dim must be positive")
    if args.rss:
        return _compare_rss(args.rows, args.dim, args.batch_bytes)
    return _side_by_side(args.rows, args.dim, args.naive_batch, args.batch_bytes)


# --- the three runs -----------------------------------------------------------------------


def _side_by_side(rows: int, dim: int, naive_batch: int, batch_bytes: int | None) -> int:
    with _Servers() as servers:
        source = MilvusClient(servers.source_uri)
        target = MilvusClient(servers.target_uri)
        print(f"building the source: {rows:,} rows × {dim}-d on Milvus Lite ...", flush=True)
        data = _build_source(source, rows, dim)

        _create(target, "bench_raw", dim)
        started = time.perf_counter()
        for start in range(0, rows, RAW_BATCH):
            target.insert("bench_raw", data[start : start + RAW_BATCH])
        raw_seconds = time.perf_counter() - started
        del data
        started = time.perf_counter()
        target.flush("bench_raw")
        raw_flush_seconds = time.perf_counter() - started

        _create(target, "bench_naive", dim)
        started = time.perf_counter()
        iterator = source.query_iterator(SOURCE, batch_size=naive_batch, output_fields=["*"])
        while batch := iterator.next():
            target.insert("bench_naive", batch)
        iterator.close()
        naive_seconds = time.perf_counter() - started
        _check_count(target, "bench_naive", rows)

        engine = _run_engine_child(servers, "bench_engine", batch_bytes)

    raw = rows / raw_seconds
    naive = rows / naive_seconds
    total = rows / engine["seconds"]
    copy_only = rows / engine["copy_seconds"]
    print()
    print(
        f"rows {rows:,} × {dim}-d float vectors, Milvus Lite → Milvus Lite, {os.cpu_count()} cores"
    )
    print(f"{'':34}{'seconds':>9}{'rows/s':>10}")
    print(f"{'1. raw insert (batches of 10,000)':34}{raw_seconds:9.2f}{raw:10,.0f}")
    print(f"{f'2. naive (query_iterator {naive_batch:,})':34}{naive_seconds:9.2f}{naive:10,.0f}")
    print(f"{'3. engine: copy + verify':34}{engine['seconds']:9.2f}{total:10,.0f}")
    print(
        f"   of which copy {engine['copy_seconds']:.2f} s ({copy_only:,.0f} rows/s), "
        f"verify {engine['verify_seconds']:.2f} s"
    )
    print(
        f"   finalize after that (flush, index build; not in the figures above): "
        f"{engine['finalize_seconds']:.2f} s"
    )
    print(f"   verification: {engine['summary']}")
    flushed_raw = raw_seconds + raw_flush_seconds
    flushed_engine = (
        engine["copy_seconds"] + engine["finalize_seconds"] + engine["verify_after_flush_seconds"]
    )
    print(
        f"   with the flush counted on both sides (the product's order): raw insert + flush "
        f"{flushed_raw:.2f} s; copy + finalize + load + verify {flushed_engine:.2f} s "
        f"(ratio {flushed_raw / flushed_engine:.2f})"
    )
    print(f"engine / raw   = {total / raw:.2f}   (target >= 0.9)")
    print(f"engine / naive = {total / naive:.2f}   (target >= 3)")
    print(
        f"engine peak RSS = {engine['max_rss_mb']:.0f} MB (child process; "
        f"batches of {engine['batch_mb']:.0f} MB)"
    )
    return 0 if engine["verified"] else 1


def _compare_rss(rows: int, dim: int, batch_bytes: int | None) -> int:
    figures = []
    for count in (rows, 4 * rows):
        with _Servers() as servers:
            source = MilvusClient(servers.source_uri)
            print(f"building the source: {count:,} rows × {dim}-d ...", flush=True)
            _build_source(source, count, dim, keep=False)
            engine = _run_engine_child(servers, "bench_engine", batch_bytes)
            figures.append((count, engine))
    print()
    print(f"{'rows':>10}{'seconds':>9}{'rows/s':>10}{'peak RSS MB':>13}   verification")
    for count, engine in figures:
        print(
            f"{count:10,}{engine['seconds']:9.2f}{count / engine['seconds']:10,.0f}"
            f"{engine['max_rss_mb']:13.0f}   {engine['summary']}"
        )
    ratio = figures[1][1]["max_rss_mb"] / figures[0][1]["max_rss_mb"]
    print(
        f"RSS({4 * rows:,}) / RSS({rows:,}) = {ratio:.2f}   (target <= 1.2; "
        f"batches of {figures[0][1]['batch_mb']:.0f} MB)"
    )
    return 0 if all(engine["verified"] for _, engine in figures) else 1


# --- the engine, in a child process --------------------------------------------------------


def _run_engine_child(servers: _Servers, target_name: str, batch_bytes: int | None) -> dict:
    arguments = json.dumps(
        {
            "source": servers.source_uri,
            "target": servers.target_uri,
            "name": target_name,
            "batch_bytes": batch_bytes,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.migrate", "--engine-child", arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"engine child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _engine_child(arguments: dict) -> int:
    """The engine's steps as migrate_collection runs them, timed one by one.

    Timed as "engine": copy + verify (what turns rows on the source into verified rows on the
    target). Creating the target is set-up, as for the other two runs; finalize (flush, index
    build) is timed and printed apart: it is work the target needs whichever way the rows came.
    """
    from migrations_app.engine.catalog import describe_collection
    from migrations_app.engine.copy import CopyScope, copy_collection
    from migrations_app.engine.finalize import finalize
    from migrations_app.engine.model import SchemaChoices
    from migrations_app.engine.options import DEFAULTS, Options
    from migrations_app.engine.plan import plan
    from migrations_app.engine.target import create_target
    from migrations_app.engine.verify import verify

    source = MilvusClient(arguments["source"])
    target = MilvusClient(arguments["target"])
    info = describe_collection(source, SOURCE)
    result = plan(info, SchemaChoices(target_name=arguments["name"]), target)
    if result.problems:
        raise SystemExit("plan problems: " + "; ".join(result.problems))
    spec = result.spec
    create_target(target, spec)
    if str(target.get_load_state(spec.name).get("state")) != "Loaded":
        target.load_collection(spec.name)

    options = Options(batch_bytes=arguments["batch_bytes"] or DEFAULTS.batch_bytes)
    started = time.perf_counter()
    copied = copy_collection(source, target, CopyScope.of(spec), options=options)
    copy_seconds = time.perf_counter() - started
    report = verify(source, target, info, spec, copied_rows=copied.rows)
    seconds = time.perf_counter() - started
    finalize_started = time.perf_counter()
    finalize(target, spec)
    finalize_seconds = time.perf_counter() - finalize_started
    # The product's order (migrate_collection): finalize, load, then verify a flushed target.
    again_started = time.perf_counter()
    target.load_collection(spec.name)
    after_flush = verify(source, target, info, spec, copied_rows=copied.rows)
    verify_after_flush_seconds = time.perf_counter() - again_started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "copy_seconds": copy_seconds,
                "verify_seconds": seconds - copy_seconds,
                "finalize_seconds": finalize_seconds,
                "verify_after_flush_seconds": verify_after_flush_seconds,
                "verified": report.verified and after_flush.verified,
                "summary": report.summary(),
                # ru_maxrss is in KiB on Linux.
                "batch_mb": options.batch_bytes / 2**20,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return 0


# --- servers and data ----------------------------------------------------------------------


class _Servers:
    """A source and a target Milvus Lite server under a temporary directory."""

    def __enter__(self) -> _Servers:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-migrate-")
        base = Path(self.tmp.name)
        self.procs = []
        uris = []
        for role in ("source", "target"):
            port = free_port()
            self.procs.append(start_lite(base / role, port, log_path=base / f"{role}.log"))
            uris.append(f"http://127.0.0.1:{port}")
        self.source_uri, self.target_uri = uris
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            stop_process(proc)
        self.tmp.cleanup()


def _create(
    client: MilvusClient,
    name: str,
    dim: int,
    index_type: str | None = None,
    params: dict | None = None,
) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("title", DataType.VARCHAR, max_length=256)
    schema.add_field("category", DataType.INT64)
    index_params = None
    if index_type:
        index_params = client.prepare_index_params()
        index_params.add_index(
            "vector", index_type=index_type, metric_type="L2", params=params or {}
        )
    client.create_collection(name, schema=schema, index_params=index_params)


def _rows(start: int, count: int, dim: int, rng: np.random.Generator) -> list[dict]:
    vectors = rng.random((count, dim), dtype=np.float32)
    return [
        {
            "id": start + i,
            "vector": vectors[i],
            "title": f"document {start + i}: a title of a few words",
            "category": (start + i) % 50,
            "color": COLORS[(start + i) % len(COLORS)],
            "score": round(((start + i) * 7919 % 1000) / 10, 1),
        }
        for i in range(count)
    ]


def _build_source(
    client: MilvusClient,
    rows: int,
    dim: int,
    keep: bool = True,
    index_type: str = "FLAT",
    params: dict | None = None,
) -> list[dict]:
    """Create and fill the source (indexed and loaded, as a served collection is).

    Batches go in shuffled order, so primary-key order is not insertion order. Returns the rows
    when `keep` (the raw-insert run reuses them), else an empty list.
    """
    _create(client, SOURCE, dim, index_type=index_type, params=params)
    rng = np.random.default_rng(7)
    starts = list(range(0, rows, BUILD_BATCH))
    random.Random(7).shuffle(starts)
    kept: list[dict] = []
    for start in starts:
        batch = _rows(start, min(BUILD_BATCH, rows - start), dim, rng)
        client.insert(SOURCE, batch)
        if keep:
            kept.extend(batch)
    client.flush(SOURCE)
    kept.sort(key=lambda row: row["id"])
    return kept


def _check_count(client: MilvusClient, name: str, rows: int) -> None:
    found = client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]
    if found != rows:
        raise SystemExit(f"{name}: {found} rows on the target, expected {rows}")


if __name__ == "__main__":
    sys.exit(main())
