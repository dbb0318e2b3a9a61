"""`python -m migrations_app.engine copy` resumes: real processes, killed for real, real servers.

The copies that are killed write into the Milvus standalone: Milvus Lite replaces a row written
twice, so only a Milvus server shows a duplicate.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrations_app.engine.catalog import describe_collection
from migrations_app.engine.cli_state import CopyIdentity, CopyRunState, StateFile
from migrations_app.engine.connect import connect
from migrations_app.engine.model import SchemaChoices
from migrations_app.engine.plan import plan, require_ok
from tests.engine.sample_data import create_simple

REPO = Path(__file__).resolve().parents[2]
ROWS = 8_000
BATCH_BYTES = "24000"  # about 200 rows a batch: ~40 batches, time to kill the copy mid-way


@pytest.fixture(scope="module")
def big_source(lite_pool):
    """A Lite source holding `big` (ROWS rows, dynamic keys) for the module."""
    with lite_pool.lend() as source:
        client = connect(source.uri)
        create_simple(client, "big", rows=ROWS, dynamic=True)
        client.flush("big")
        client.close()
        yield source


def command(source_uri: str, target_uri: str, *extra: str, token: str | None = None) -> list:
    words = [
        sys.executable,
        "-m",
        "migrations_app.engine",
        "copy",
        "--source",
        source_uri,
        "--target",
        target_uri,
        "--collection",
        "big",
        "--batch-bytes",
        BATCH_BYTES,
        *extra,
    ]
    if token:
        words += ["--target-token", token]
    return words


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def run(words: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        words, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=600
    )


def state_path(cwd: Path, source_uri: str, target_uri: str, target_name: str = "big") -> Path:
    identity = CopyIdentity.of(source_uri, "default", "big", target_uri, None, target_name)
    return cwd / ".migration-state" / identity.file_name()


def start_and_stop_mid_way(words: list, cwd: Path, state: Path, how: int) -> dict:
    """Start the copy, send `how` once its state file shows rows copied and rows to go; the
    state file's content at that moment."""
    proc = subprocess.Popen(
        words, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                saved = json.loads(state.read_text())
            except (FileNotFoundError, ValueError):
                saved = None
            rows = ((saved or {}).get("checkpoint") or {}).get("rows", 0)
            if 0 < rows < ROWS // 2:
                proc.send_signal(how)
                out, err = proc.communicate(timeout=60)
                return {"saved": saved, "returncode": proc.returncode, "stderr": err}
            time.sleep(0.02)
        raise AssertionError("the copy never reached the middle")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def keys_on(client, name: str) -> list[int]:
    """Every key of `name`, duplicates included (Milvus keeps both rows of a key written
    twice), read in key ranges under the server's 16,384-row query cap."""
    client.load_collection(name)  # the copy leaves it released (no --load)
    keys: list[int] = []
    for low in range(0, ROWS, 10_000):
        rows = client.query(
            name,
            filter=f"pk >= {low} and pk < {low + 10_000}",
            output_fields=["pk"],
            limit=16_000,
            consistency_level="Strong",
        )
        keys += [row["pk"] for row in rows]
    return sorted(keys)


def drop_if_exists(client, name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)


# --- Lite target: the state file itself ---------------------------------------------------


def test_an_interrupted_copy_prints_the_command_that_resumes_it(big_source, lite_factory, tmp_path):
    target = lite_factory()
    words = command(big_source.uri, target.uri, "--target-collection", "big_term")
    state = state_path(tmp_path, big_source.uri, target.uri, "big_term")

    stopped = start_and_stop_mid_way(words, tmp_path, state, signal.SIGTERM)

    assert stopped["returncode"] == 130
    err = stopped["stderr"]
    assert (
        f"the copy can resume from its checkpoint (state file {state.relative_to(tmp_path)})"
        in (err)
    )
    resume_line = err.split("run the same command again:\n  ")[1].splitlines()[0]
    assert shlex.split(resume_line)[1:] == words[1:]
    assert f"  {resume_line} --restart" in err
    assert state.exists()

    done = run(shlex.split(resume_line), tmp_path)

    assert done.returncode == 0, done.stderr
    assert "resuming the copy from its checkpoint (" in done.stderr
    assert done.stdout.startswith(f"VERIFIED: default.big → default.big_term: source {ROWS} rows")
    assert not (tmp_path / ".migration-state").exists()  # done: no state, no lock, no directory


def test_a_corrupt_state_file_is_a_clear_error_and_nothing_is_created(
    big_source, lite_factory, tmp_path
):
    target = lite_factory()
    state = state_path(tmp_path, big_source.uri, target.uri)
    state.parent.mkdir()
    state.write_text('{"kind": "migrations_app.engine copy", "version": 1, "copy": ')

    done = run(command(big_source.uri, target.uri), tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: the state file {Path('.migration-state') / state.name} is corrupt (Expecting "
        "value: line 1 column 62 (char 61)): it cannot tell what the earlier run created, so "
        "remove it (and drop that run's target collection yourself if it exists) before copying "
        "again"
    )
    client = connect(target.uri)
    assert not client.has_collection("big")
    client.close()

    again = run(command(big_source.uri, target.uri, "--restart"), tmp_path)

    assert again.returncode == 2
    assert "is corrupt" in again.stderr


def test_a_state_file_of_another_copy_is_a_clear_error(big_source, lite_factory, tmp_path):
    target = lite_factory()
    other = CopyIdentity.of(big_source.uri, "default", "big", target.uri, None, "elsewhere")
    mine = state_path(tmp_path, big_source.uri, target.uri)
    mine.parent.mkdir()
    mine.write_text(
        json.dumps(
            {
                "kind": "migrations_app.engine copy",
                "version": 1,
                "copy": other.to_dict(),
                "owner": "cli-x",
            }
        )
    )

    done = run(command(big_source.uri, target.uri), tmp_path)

    assert done.returncode == 2
    host = big_source.uri
    assert done.stderr.strip() == (
        f"error: the state file {Path('.migration-state') / mine.name} belongs to another copy "
        f"({host} default.big → {target.uri} default.elsewhere), not to this one ({host} "
        f"default.big → {target.uri} default.big): remove it, or give another --state-dir"
    )
    client = connect(target.uri)
    assert not client.has_collection("big")
    client.close()


def test_a_second_run_of_the_same_copy_is_refused_while_the_first_runs(
    big_source, lite_factory, tmp_path
):
    target = lite_factory()
    identity = CopyIdentity.of(big_source.uri, "default", "big", target.uri, None, None)

    with StateFile(tmp_path / "states", identity) as running:
        done = run(command(big_source.uri, target.uri, "--state-dir", "states"), tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: another run of this copy ({identity.describe()}) is still running: it holds "
        f"states/{running.path.name}.lock"
    )


# --- Milvus standalone target: every key exactly once ----------------------------------------


@pytest.mark.standalone
def test_a_killed_copy_run_again_copies_every_key_exactly_once(big_source, standalone, tmp_path):
    milvus = connect(standalone.uri, token=standalone.token)
    drop_if_exists(milvus, "big")
    words = command(big_source.uri, standalone.uri, token=standalone.token)
    state = state_path(tmp_path, big_source.uri, standalone.uri)
    try:
        killed = start_and_stop_mid_way(words, tmp_path, state, signal.SIGKILL)
        assert killed["returncode"] == -signal.SIGKILL
        assert killed["saved"]["owner"].startswith("cli-")
        assert (
            milvus.describe_collection("big")["properties"]["console.job"]
            == (killed["saved"]["owner"])
        )

        done = run(words, tmp_path)

        assert done.returncode == 0, done.stderr
        assert "resuming the copy from its checkpoint (" in done.stderr
        assert done.stdout.startswith(f"VERIFIED: default.big → default.big: source {ROWS} rows")
        assert "duplicate keys: 0" in done.stdout
        assert keys_on(milvus, "big") == list(range(ROWS))
        assert not state.exists()
    finally:
        drop_if_exists(milvus, "big")
        milvus.close()


@pytest.mark.standalone
def test_restart_drops_what_the_killed_run_created_and_starts_over(
    big_source, standalone, tmp_path
):
    milvus = connect(standalone.uri, token=standalone.token)
    drop_if_exists(milvus, "big")
    words = command(big_source.uri, standalone.uri, token=standalone.token)
    state = state_path(tmp_path, big_source.uri, standalone.uri)
    try:
        killed = start_and_stop_mid_way(words, tmp_path, state, signal.SIGKILL)
        first_owner = killed["saved"]["owner"]

        done = run([*words, "--restart"], tmp_path)

        assert done.returncode == 0, done.stderr
        assert (
            "restart: target collection default.big, created by the earlier run, dropped"
            in done.stderr
        )
        assert "resuming" not in done.stderr
        assert done.stdout.startswith(f"VERIFIED: default.big → default.big: source {ROWS} rows")
        assert keys_on(milvus, "big") == list(range(ROWS))
        owner = milvus.describe_collection("big")["properties"]["console.job"]
        assert owner.startswith("cli-") and owner != first_owner
    finally:
        drop_if_exists(milvus, "big")
        milvus.close()


@pytest.mark.standalone
def test_a_failed_resume_says_how_to_start_over(big_source, standalone, tmp_path):
    milvus = connect(standalone.uri, token=standalone.token)
    drop_if_exists(milvus, "big")
    words = command(big_source.uri, standalone.uri, token=standalone.token)
    state = state_path(tmp_path, big_source.uri, standalone.uri)
    try:
        start_and_stop_mid_way(words, tmp_path, state, signal.SIGKILL)
        milvus.drop_collection("big")  # someone removed the half-copied target meanwhile

        failed = run(words, tmp_path)

        assert failed.returncode == 2
        assert (
            "error: cannot resume: collection big no longer exists in database default of the "
            "target"
        ) in failed.stderr
        resume_line = failed.stderr.split("run the same command again:\n  ")[1].splitlines()[0]
        assert "--target-token '***'" in resume_line or "--target-token ***" in resume_line
        assert standalone.token not in failed.stderr
        assert "(give your tokens again where *** stands)" in failed.stderr

        again = run([*words, "--restart"], tmp_path)

        assert again.returncode == 0, again.stderr
        assert "restart: the earlier run left no target collection default.big of its own" in (
            again.stderr
        )
        assert keys_on(milvus, "big") == list(range(ROWS))
    finally:
        drop_if_exists(milvus, "big")
        milvus.close()


def test_a_run_killed_before_its_target_existed_starts_it_on_the_next_run(
    big_source, lite_factory, tmp_path
):
    # Killed between keeping its state ("creating the target") and the creation itself, here
    # even before the target database existed.
    target = lite_factory()
    source = connect(big_source.uri)
    client = connect(target.uri)
    try:
        spec = require_ok(
            plan(
                describe_collection(source, "big"),
                SchemaChoices(target_db="fresh_db"),
                client,
            )
        )
        identity = CopyIdentity.of(big_source.uri, "default", "big", target.uri, "fresh_db", None)
        with StateFile(tmp_path / ".migration-state", identity) as state_file:
            state_file.save(CopyRunState(identity=identity, owner="cli-earlier", spec=spec))

        done = run(command(big_source.uri, target.uri, "--target-db", "fresh_db"), tmp_path)

        assert done.returncode == 0, done.stderr
        assert "resuming the copy from its checkpoint (0 rows copied" in done.stderr
        assert done.stdout.startswith(f"VERIFIED: default.big → fresh_db.big: source {ROWS} rows")
        on_fresh = connect(target.uri, db_name="fresh_db")
        assert on_fresh.describe_collection("big")["properties"]["console.job"] == "cli-earlier"
        on_fresh.close()
    finally:
        source.close()
        client.close()
