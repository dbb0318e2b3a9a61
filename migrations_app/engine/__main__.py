"""A tiny CLI for scripts and debugging: copy one collection and print its verification.

    python -m migrations_app.engine copy --source URI [--source-token T] --target URI
        [--target-token T] --collection NAME [--db DB] [--target-db DB]
        [--target-collection NAME] [--load]

Exit status: 0 verified, 1 copied but not verified (mismatch), 2 bad input or failure (the
reason is printed on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from tqdm import tqdm

from .catalog import describe_collection
from .connect import connect
from .errors import EngineError
from .migrate import migrate_collection
from .model import CopyProgress, SchemaChoices
from .options import Observer, Options
from .plan import plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrations_app.engine",
        description="Copy a Milvus collection and verify the copy.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    copy = commands.add_parser("copy", help="copy one collection into another server")
    copy.add_argument("--source", required=True, help="source URI, e.g. http://host:19530")
    copy.add_argument("--source-token", default=None, help="API key or user:password")
    copy.add_argument("--target", required=True, help="target URI")
    copy.add_argument("--target-token", default=None, help="API key or user:password")
    copy.add_argument("--collection", required=True, help="source collection name")
    copy.add_argument("--db", default="default", help="source database (default: default)")
    copy.add_argument("--target-db", default=None, help="target database (default: --db)")
    copy.add_argument("--target-collection", default=None, help="target name (default: same)")
    copy.add_argument("--load", action="store_true", help="load the target collection at the end")
    copy.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    # pymilvus logs every failed call with a traceback; this CLI prints the clear reason instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

    try:
        return _copy(args)
    except EngineError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2


def _copy(args: argparse.Namespace) -> int:
    source = connect(args.source, token=args.source_token, db_name=args.db)
    target = connect(args.target, token=args.target_token)
    try:
        info = describe_collection(source, args.collection)
        choices = SchemaChoices(target_db=args.target_db, target_name=args.target_collection)
        result = plan(info, choices, target, source_client=source)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if result.problems:
            for problem in result.problems:
                print(f"error: {problem}", file=sys.stderr)
            return 2
        spec = result.spec
        assert spec is not None, "a plan without problems has a spec"

        with tqdm(total=info.entity_count or None, unit="rows", file=sys.stderr) as bar:
            report = migrate_collection(
                source, target, info, spec, options=Options(load=args.load), observer=_Bar(bar)
            )
    finally:
        source.close()
        target.close()

    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.summary())
        for name, counts in sorted(report.partitions.items()):
            print(f"  partition {name}: source {counts['source']}, target {counts['target']}")
        for message in report.messages:
            print(f"  {message}")
        print(f"  duplicate keys: {report.duplicate_keys}; verified in {report.seconds}s")
    return 0 if report.verified else 1


class _Bar(Observer):
    """Progress on a tqdm bar, notes above it."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def on_progress(self, progress: CopyProgress) -> None:
        self.bar.update(progress.rows - self.bar.n)
        self.bar.set_postfix_str(f"{progress.rows_per_s:,.0f} rows/s")

    def on_note(self, text: str) -> None:
        tqdm.write(f"note: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
