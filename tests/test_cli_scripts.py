"""scripts/redis_ctl.py, scripts/pg_ready.py and scripts/test_summary.py, which `make run` and
`make test` rely on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.clusters.lite_process import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent


def script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_it_starts_a_local_redis_when_none_answers_and_stops_it(tmp_path):
    port = free_port()
    ensure = script(
        "redis_ctl.py", "ensure", REDIS_URL=f"redis://127.0.0.1:{port}/0", VAR_DIR=str(tmp_path)
    )
    assert ensure.returncode == 0, ensure.stderr
    pidfile = Path(ensure.stdout.strip())
    try:
        assert pidfile == tmp_path / f"redis-{port}.pid"
        assert port_open(port)
        assert f"Started redis-server on 127.0.0.1:{port}" in ensure.stderr
        again = script(
            "redis_ctl.py", "ensure", REDIS_URL=f"redis://127.0.0.1:{port}/0", VAR_DIR=str(tmp_path)
        )
        assert again.returncode == 0 and again.stdout == ""  # already answers: nothing to stop
    finally:
        stop = script("redis_ctl.py", "stop", str(pidfile))
    assert stop.returncode == 0
    assert not port_open(port) and not pidfile.exists()
    assert not list(tmp_path.glob("*.rdb")) and not list(tmp_path.glob("appendonly*"))


def test_it_explains_how_to_get_redis_when_the_binary_is_missing(tmp_path):
    port = free_port()
    result = script(
        "redis_ctl.py",
        "ensure",
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        VAR_DIR=str(tmp_path),
        PATH=str(tmp_path),
    )
    assert result.returncode == 1
    assert (
        f"Redis does not answer at 127.0.0.1:{port} and redis-server is not installed. "
        "Install Redis (Debian/Ubuntu: sudo apt-get install redis-server"
    ) in result.stderr


def test_it_does_not_start_redis_for_a_remote_url(tmp_path):
    result = script(
        "redis_ctl.py", "ensure", REDIS_URL="redis://redis.invalid:6379/0", VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "Redis does not answer at redis.invalid:6379 (REDIS_URL)" in result.stderr


def test_it_reports_an_answering_redis_without_starting_another(tmp_path):
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    result = script("redis_ctl.py", "ensure", REDIS_URL=url, VAR_DIR=str(tmp_path))
    assert result.returncode == 0 and result.stdout == ""
    assert "Redis answers at" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_it_skips_postgresql_when_nothing_answers():
    result = script("pg_ready.py", PG_PORT=str(free_port()))
    assert (result.returncode, result.stdout) == (3, "")


def test_it_sums_up_each_pass_and_says_which_did_not_run(tmp_path):
    (tmp_path / "sqlite.xml").write_text(
        '<testsuites><testsuite name="pytest" tests="12" failures="1" errors="1" skipped="2" '
        'time="75.4"/></testsuites>'
    )
    (tmp_path / "sqlite.rc").write_text("1\n")
    (tmp_path / "postgresql.not-run").write_text("nothing answers on 127.0.0.1:5432\n")
    (tmp_path / "notes").write_text("PostgreSQL does not answer on 127.0.0.1:5432\n")
    result = script("test_summary.py", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "== summary",
        "SQLite pass:      8 passed, 1 failed, 1 errors, 2 skipped of 12 selected, in 1m15s; "
        "pytest exited with 1",
        "PostgreSQL pass:  did NOT run: nothing answers on 127.0.0.1:5432",
        "note:             PostgreSQL does not answer on 127.0.0.1:5432",
    ]


def test_it_says_a_pass_did_not_run_when_an_earlier_step_failed(tmp_path):
    result = script("test_summary.py", str(tmp_path))
    assert "SQLite pass:      did NOT run: an earlier step failed" in result.stdout
