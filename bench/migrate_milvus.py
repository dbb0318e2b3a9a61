"""Benchmark: Milvus Lite → Milvus standalone, the engine against the hand-made path.

    .venv/bin/python -m bench.migrate_milvus                  # 100,000 rows × 128-d, IVF_FLAT
    .venv/bin/python -m bench.migrate_milvus --index HNSW --rounds 5
    .venv/bin/python -m bench.migrate_milvus --source milvus  # Milvus → Milvus, for reference

A Milvus Lite source (bench.migrate's collection: INT64 key, FLOAT_VECTOR, VARCHAR, INT64, two
dynamic keys, indexed with `--index` and its documented default parameters; with `--source
milvus`, the same collection in database bench_src of the target server) and the Milvus 2.3
standalone of the test suite (tests/servers.py: an embedded etcd on ports of its own, so it
runs beside the tests' standalones; authorization on). 3 rounds by default.
Each round runs both paths into fresh target collections, in alternating order:

- hand-made: the rows, already in memory, inserted in batches of 10,000, then flush, the same
  index type built with the parameters the engine builds (the documented defaults: Milvus Lite
  reports none), load — what a person who knows the index would do, with no reading cost;
- hand-made, reading: the same, but the rows read from the source with `query_iterator`
  (batches of 10,000) as a person copying a collection by hand would;
- engine: `migrate_collection` (plan check, create, copy, flush, index build, load, verify of
  every row), in a child process, timed as a whole.

Prints every round, the medians and their ratio (hand-made seconds / engine seconds: ≥ 1 means
the engine is as fast). See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.migrate import RAW_BATCH, SOURCE, _build_source, _create  # noqa: E402
from migrations_app.engine.index_defaults import default_params  # noqa: E402
from tests.milvus import MilvusClient  # noqa: E402
from tests.servers import start_lite_server, start_standalone  # noqa: E402

INDEX_TYPES = ("IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW")
SOURCE_DB = "bench_src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.migrate_milvus", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the source (100,000)")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension (128)")
    parser.add_argument("--index", choices=INDEX_TYPES, default="IVF_FLAT", help="source index")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument(
        "--source",
        choices=("lite", "milvus"),
        default="lite",
        help="the source: Milvus Lite (default) or database bench_src of the same standalone",
    )
    parser.add_argument("--engine-child", help=argparse.SUPPRESS)  # internal: JSON arguments
    args = parser.parse_args(argv)
    if args.engine_child:
        return _engine_child(json.loads(args.engine_child))
    if args.rows <= 0 or args.dim <= 0 or args.rounds <= 0:
        parser.error("--rows, --dim and --rounds must be positive")
    return _rounds(args.rows, args.dim, args.index, args.rounds, args.source)


def _rounds(rows: int, dim: int, index_type: str, rounds: int, source_kind: str) -> int:
    params = default_params(index_type, dim) or {}
    with tempfile.TemporaryDirectory(prefix="bench-migrate-milvus-") as tmp:
        lite = start_lite_server(Path(tmp)) if source_kind == "lite" else None
        standalone = None
        try:
            if lite is None:
                print("starting the Milvus standalone ...", flush=True)
                standalone = start_standalone()
                MilvusClient(standalone.uri, token=standalone.token).create_database(SOURCE_DB)
                source = MilvusClient(standalone.uri, token=standalone.token, db_name=SOURCE_DB)
                where = {"uri": standalone.uri, "token": standalone.token, "db": SOURCE_DB}
            else:
                source = MilvusClient(lite.uri)
                where = {"uri": lite.uri, "token": None, "db": "default"}
            print(f"building the source: {rows:,} rows × {dim}-d, {index_type} ...", flush=True)
            data = _build_source(source, rows, dim, index_type=index_type, params=params)
            if standalone is None:
                print("starting the Milvus standalone ...", flush=True)
                standalone = start_standalone()
            target = MilvusClient(standalone.uri, token=standalone.token)
            hand, reading, engine = [], [], []
            paths = ("hand", "reading", "engine")
            for number in range(rounds):
                # Each path goes first, second and last in turn.
                for path in paths[number % 3 :] + paths[: number % 3]:
                    if path == "hand":
                        hand.append(_hand_made(target, data, dim, index_type, params, number))
                        print(f"round {number + 1} hand-made: {_line(hand[-1])}", flush=True)
                    elif path == "reading":
                        reading.append(
                            _hand_made(
                                target, data, dim, index_type, params, number, read_from=source
                            )
                        )
                        print(f"round {number + 1} hand-made, reading: {_line(reading[-1])}")
                    else:
                        engine.append(_run_engine(where, standalone, number))
                        print(f"round {number + 1} engine:    {_line(engine[-1])}", flush=True)
            target.close()
        finally:
            if standalone is not None:
                standalone.stop()
            if lite is not None:
                lite.stop()

    hand_median = statistics.median(r["seconds"] for r in hand)
    engine_median = statistics.median(r["seconds"] for r in engine)
    print()
    print(
        f"rows {rows:,} × {dim}-d, {'Milvus Lite' if source_kind == 'lite' else 'Milvus 2.3'} → "
        f"Milvus 2.3 standalone, index {index_type} "
        f"({', '.join(f'{k}={v}' for k, v in params.items()) or 'no parameters'}), "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"hand-made (insert + flush + index + load): median {hand_median:.2f} s")
    print(f"engine (migrate_collection, verify included): median {engine_median:.2f} s")
    print(f"engine speed / hand-made speed = {hand_median / engine_median:.2f}   (target >= 0.9)")
    reading_median = statistics.median(r["seconds"] for r in reading)
    print(
        f"hand-made reading the source (query_iterator {RAW_BATCH:,} + insert + flush + index + "
        f"load): median {reading_median:.2f} s; engine speed / its speed = "
        f"{reading_median / engine_median:.2f}"
    )
    # Like for like: the engine's work up to a loaded, indexed target, its verification left out.
    unverified = statistics.median(r["seconds"] - r["phases"].get("verifying", 0) for r in engine)
    print(
        f"without the verification (copy + flush + index + load): median {unverified:.2f} s, "
        f"ratio {hand_median / unverified:.2f}"
    )
    return 0 if all(r["verified"] for r in engine) else 1


def _line(figures: dict) -> str:
    parts = ", ".join(f"{k} {v:.2f}" for k, v in figures["phases"].items())
    return f"{figures['seconds']:.2f} s ({parts})"


def _hand_made(
    target, data: list[dict], dim: int, index_type: str, params, number, read_from=None
) -> dict:
    """The rows from memory, or with `read_from` read from the source with query_iterator
    (what a person would write to copy a collection by hand), then flush, index and load."""
    name = f"hand_{number}" if read_from is None else f"hand_read_{number}"
    if target.has_collection(name):
        target.drop_collection(name)
    _create(target, name, dim)
    phases = {}
    started = mark = time.perf_counter()
    if read_from is None:
        for start in range(0, len(data), RAW_BATCH):
            target.insert(name, data[start : start + RAW_BATCH])
        phases["insert"], mark = _since(mark)
    else:
        iterator = read_from.query_iterator(SOURCE, batch_size=RAW_BATCH, output_fields=["*"])
        while batch := iterator.next():
            target.insert(name, batch)
        iterator.close()
        phases["read + insert"], mark = _since(mark)
    target.flush(name)
    phases["flush"], mark = _since(mark)
    index = target.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="L2", params=params)
    target.create_index(name, index)
    phases["index"], mark = _since(mark)
    target.load_collection(name)
    phases["load"], mark = _since(mark)
    seconds = time.perf_counter() - started
    target.drop_collection(name)
    return {"seconds": seconds, "phases": phases}


def _since(mark: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - mark, now


def _run_engine(where: dict, standalone, number: int) -> dict:
    arguments = json.dumps(
        {
            "source": where,
            "target": standalone.uri,
            "token": standalone.token,
            "name": f"engine_{number}",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.migrate_milvus", "--engine-child", arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"engine child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _engine_child(arguments: dict) -> int:
    from migrations_app.engine.catalog import describe_collection
    from migrations_app.engine.connect import connect
    from migrations_app.engine.migrate import migrate_collection
    from migrations_app.engine.model import SchemaChoices
    from migrations_app.engine.options import Observer, Options
    from migrations_app.engine.plan import plan, require_ok

    where = arguments["source"]
    source = connect(where["uri"], token=where["token"], db_name=where["db"])
    target = connect(arguments["target"], token=arguments["token"])
    name = arguments["name"]
    if target.has_collection(name):
        target.drop_collection(name)
    info = describe_collection(source, SOURCE)
    result = plan(info, SchemaChoices(target_db="default", target_name=name), target)
    spec = require_ok(result)

    phases: dict[str, float] = {}
    clock = {"phase": None, "at": time.perf_counter()}

    class Phases(Observer):
        def on_phase(self, phase: str) -> None:
            now = time.perf_counter()
            if clock["phase"]:
                phases[clock["phase"].lower()] = now - clock["at"]
            clock.update(phase=phase, at=now)

    started = clock["at"] = time.perf_counter()
    report = migrate_collection(
        source, target, info, spec, options=Options(load=True), observer=Phases()
    )
    seconds = time.perf_counter() - started
    phases[clock["phase"].lower()] = time.perf_counter() - clock["at"]
    indexes = [(i.index_type, i.params) for i in describe_collection(target, name).indexes]
    target.drop_collection(name)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "phases": phases,
                "verified": report.verified,
                "warnings": result.warnings,
                "indexes": indexes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
