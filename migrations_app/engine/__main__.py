"""A tiny CLI for scripts and debugging: copy one collection and print its verification.

    python -m migrations_app.engine copy --source URI [--source-token T] --target URI
        [--target-token T] --collection NAME [--db DB] [--target-db DB]
        [--target-collection NAME] [--load] [--json] [--batch-bytes N] [--writers N]
        [--readers N] [--state-dir DIR] [--restart]

The same command run again after a kill or a failure resumes the copy from its checkpoint,
kept in a state file in --state-dir (default ./.migration-state; see cli_state.py); --restart
drops the target collection the earlier run created (only one carrying its owner mark) and
starts over. A run that fails prints the command that resumes it.

Exit status: 0 verified, 1 copied but not verified (mismatch), 2 bad input or failure (the
reason is printed on stderr), 130 interrupted (SIGINT or SIGTERM: the copy can resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys

from tqdm import tqdm

from .catalog import describe_collection
from .cli_state import (
    CREATED,
    CREATING,
    DEFAULT_STATE_DIR,
    CopyIdentity,
    CopyRunState,
    StateFile,
    new_owner,
)
from .connect import connect
from .errors import EngineError
from .migrate import migrate_collection
from .model import CopyProgress, SchemaChoices
from .options import DEFAULTS, Observer, Options
from .plan import plan
from .target import drop_target

TOKEN_OPTIONS = ("--source-token", "--target-token")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
    copy.add_argument(
        "--batch-bytes",
        type=int,
        default=DEFAULTS.batch_bytes,
        help=f"bytes of rows per written batch (default: {DEFAULTS.batch_bytes:,})",
    )
    copy.add_argument(
        "--writers",
        type=int,
        default=DEFAULTS.writers,
        help=f"batches in flight to the target at once (default: {DEFAULTS.writers})",
    )
    copy.add_argument(
        "--readers",
        type=int,
        default=DEFAULTS.readers,
        help=f"queries running on the source at once (default: {DEFAULTS.readers})",
    )
    copy.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        help=f"where the copy keeps its checkpoint to resume (default: ./{DEFAULT_STATE_DIR})",
    )
    copy.add_argument(
        "--restart",
        action="store_true",
        help="drop what an earlier run of this copy created and start over",
    )
    args = parser.parse_args(argv)
    if args.batch_bytes <= 0:
        parser.error("--batch-bytes must be a positive number of bytes")
    if args.writers < 1:
        parser.error("--writers must be at least 1")
    if args.readers < 1:
        parser.error("--readers must be at least 1")
    # pymilvus logs every failed call with a traceback; this CLI prints the clear reason instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _interrupt)

    try:
        return _copy(args, argv)
    except _Reported:
        return 2
    except EngineError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The state is saved and the resume command printed. A thread of the interrupted copy
        # (the reader, blocked in a gRPC call) can hold the interpreter's exit for good (seen
        # once in the test suite): leave now instead of waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _copy(args: argparse.Namespace, argv: list[str]) -> int:
    identity = CopyIdentity.of(
        args.source,
        args.db,
        args.collection,
        args.target,
        args.target_db,
        args.target_collection,
    )
    with StateFile(args.state_dir, identity) as state_file:
        saved = state_file.load()
        source = connect(args.source, token=args.source_token, db_name=args.db)
        try:
            target = connect(args.target, token=args.target_token)
            try:
                if saved is not None and args.restart:
                    _drop_earlier(target, saved)
                    state_file.remove()
                    saved = None
                report = _run(args, argv, source, target, state_file, saved)
            finally:
                target.close()
        finally:
            source.close()
    if report is None:
        return 2

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


def _run(args, argv, source, target, state_file: StateFile, saved: CopyRunState | None):
    """Plan (or take the saved plan), copy, keep the state; None when the plan refuses."""
    info = describe_collection(source, args.collection)
    if saved is None:
        choices = SchemaChoices(target_db=args.target_db, target_name=args.target_collection)
        result = plan(info, choices, target, source_client=source)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if result.problems:
            for problem in result.problems:
                print(f"error: {problem}", file=sys.stderr)
            return None
        assert result.spec is not None, "a plan without problems has a spec"
        state = CopyRunState(identity=state_file.identity, owner=new_owner(), spec=result.spec)
    else:
        state = saved
        rows = (saved.checkpoint or {}).get("rows", 0)
        print(
            f"resuming the copy from its checkpoint ({rows} rows copied; state file "
            f"{state_file.path})",
            file=sys.stderr,
        )

    with tqdm(total=info.entity_count or None, unit="rows", file=sys.stderr) as bar:
        keeper = _Keeper(bar, state_file, state, written=saved is not None)
        try:
            report = migrate_collection(
                source,
                target,
                info,
                state.spec,
                checkpoint=state.checkpoint,
                write_intent=state.write_intent,
                source_count_at_start=state.source_count_at_start,
                owner=state.owner,
                maybe_created=saved is not None and state.checkpoint is None,
                options=Options(
                    load=args.load,
                    batch_bytes=args.batch_bytes,
                    writers=args.writers,
                    readers=args.readers,
                ),
                observer=keeper,
            )
        except (EngineError, KeyboardInterrupt) as error:
            keeper.keep_last(getattr(error, "checkpoint", None))
            if keeper.written:
                bar.close()
                if isinstance(error, EngineError):
                    print(f"error: {error.message}", file=sys.stderr)
                _how_to_resume(argv, state_file)
                if isinstance(error, EngineError):
                    raise _Reported() from None
            raise
    state_file.remove()
    return report


class _Reported(Exception):
    """A failure already printed with its resume command: exit 2 without printing it again."""


def _drop_earlier(target, saved: CopyRunState) -> None:
    spec = saved.spec
    if drop_target(target, spec, saved.owner):
        print(
            f"restart: target collection {spec.db}.{spec.name}, created by the earlier run, "
            "dropped",
            file=sys.stderr,
        )
    else:
        print(
            f"restart: the earlier run left no target collection {spec.db}.{spec.name} of its "
            "own to drop",
            file=sys.stderr,
        )


def _how_to_resume(argv: list[str], state_file: StateFile) -> None:
    again = [word for word in argv if word != "--restart"]
    command = _command(again)
    print(
        f"the copy can resume from its checkpoint (state file {state_file.path}); run the same "
        f"command again:\n  {command}\n"
        f"or start over, dropping the target collection this copy created:\n  {command} --restart",
        file=sys.stderr,
    )
    if any(word.split("=")[0] in TOKEN_OPTIONS for word in again):
        print("(give your tokens again where *** stands)", file=sys.stderr)


def _command(argv: list[str]) -> str:
    """The command line that runs this CLI with `argv`, tokens replaced by ***."""
    shown: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif word in TOKEN_OPTIONS:
            shown.append(word)
            hide_next = True
        elif word.split("=")[0] in TOKEN_OPTIONS:
            shown.append(word.split("=")[0] + "=***")
        else:
            shown.append(word)
    python = sys.executable
    relative = os.path.relpath(python)
    if not relative.startswith(".."):
        python = relative if os.sep in relative else f".{os.sep}{relative}"
    return shlex.join([python, "-m", "migrations_app.engine", *shown])


class _Keeper(Observer):
    """Progress on a tqdm bar, notes above it, and the copy's state kept in its state file:
    before the target is created, and with every write intent (the checkpoint of the batches
    before it rides along, as a Job row keeps them)."""

    def __init__(self, bar: tqdm, state_file: StateFile, state: CopyRunState, written: bool):
        self.bar = bar
        self.state_file = state_file
        self.state = state
        self.written = written
        self.pending: dict | None = None

    def _save(self) -> None:
        self.state_file.save(self.state)
        self.written = True

    def on_progress(self, progress: CopyProgress) -> None:
        self.bar.update(progress.rows - self.bar.n)
        self.bar.set_postfix_str(f"{progress.rows_per_s:,.0f} rows/s")

    def on_note(self, text: str) -> None:
        tqdm.write(f"note: {text}", file=sys.stderr)

    def on_phase(self, name: str) -> None:
        if self.pending is not None:
            self.keep_last(None)

    def on_source_count(self, count: int) -> None:
        if self.state.source_count_at_start is None:
            self.state.source_count_at_start = count

    def on_creating_target(self) -> None:
        self.state.target_state = CREATING
        self.state.checkpoint = None
        self.state.write_intent = {}
        self._save()

    def on_checkpoint(self, checkpoint: dict) -> None:
        if self.state.checkpoint is None:
            # The first one (0 rows, the target just created): from now on a run resumes.
            self.state.checkpoint = checkpoint
            self.state.target_state = CREATED
            self._save()
            return
        self.pending = checkpoint

    def on_write_intent(self, intent: dict) -> None:
        self.state.write_intent = intent
        if self.pending is not None:
            self.state.checkpoint = self.pending
            self.pending = None
        self._save()

    def keep_last(self, checkpoint: dict | None) -> None:
        """Save the last checkpoint heard (or `checkpoint`, a failed copy's) if the state file
        is in use."""
        last = checkpoint or self.pending
        self.pending = None
        if last is not None and self.written and self.state.target_state == CREATED:
            self.state.checkpoint = last
            self._save()


if __name__ == "__main__":
    sys.exit(main())
