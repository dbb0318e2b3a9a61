"""`python -m migrations_app.engine copy`: a real process against real servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.clusters.lite_process import free_port
from migrations_app.engine.connect import connect
from tests.engine.sample_data import create_simple

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def servers(lite_pool):
    """One source and one target for the module: its tests copy "docs" under distinct names."""
    with lite_pool.lend() as source, lite_pool.lend() as target:
        client = connect(source.uri)
        create_simple(client, "docs", rows=30, dynamic=True, partitions=("p1",))
        client.create_database("other")
        client.close()
        yield source, target


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "migrations_app.engine", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_copies_a_collection_and_prints_the_verification(servers):
    source, target = servers

    done = run("copy", "--source", source.uri, "--target", target.uri, "--collection", "docs")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "VERIFIED: default.docs → default.docs: source 30 rows, target 30 rows"
    )
    assert "partition p1: source 0, target 0" in done.stdout
    assert "rows" in done.stderr  # the progress bar


def test_it_copies_under_another_name_into_another_database(servers):
    source, target = servers

    done = run(
        "copy",
        "--source",
        source.uri,
        "--target",
        target.uri,
        "--collection",
        "docs",
        "--target-db",
        "copies",
        "--target-collection",
        "docs_v2",
        "--json",
    )

    assert done.returncode == 0, done.stderr
    assert '"target": "copies.docs_v2"' in done.stdout
    assert '"verified": true' in done.stdout
    assert "warning: database copies does not exist on the target and will be created" in (
        done.stderr
    )


def test_it_reports_a_missing_collection(servers):
    source, target = servers

    done = run("copy", "--source", source.uri, "--target", target.uri, "--collection", "nope")

    assert done.returncode == 2
    assert done.stderr.strip() == "error: collection nope does not exist in database default"


def test_it_reports_a_missing_database(servers):
    source, target = servers

    done = run(
        "copy",
        "--source",
        source.uri,
        "--target",
        target.uri,
        "--collection",
        "docs",
        "--db",
        "ghost",
    )

    assert done.returncode == 2
    assert done.stderr.startswith("error: database ghost does not exist on 127.0.0.1:")


def test_it_reports_an_unreachable_source(servers):
    _, target = servers
    port = free_port()

    done = run(
        "copy",
        "--source",
        f"http://127.0.0.1:{port}",
        "--target",
        target.uri,
        "--collection",
        "docs",
    )

    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot reach 127.0.0.1:{port}")


def test_it_reports_an_invalid_target_name(servers):
    source, target = servers

    done = run(
        "copy",
        "--source",
        source.uri,
        "--target",
        target.uri,
        "--collection",
        "docs",
        "--target-collection",
        "9lives",
    )

    assert done.returncode == 2
    assert "error: target collection name '9lives' is invalid" in done.stderr


def test_it_reports_a_name_taken_on_the_target(servers):
    source, target = servers
    client = connect(target.uri)
    create_simple(client, "taken_by_cli")
    client.close()

    done = run(
        "copy",
        "--source",
        source.uri,
        "--target",
        target.uri,
        "--collection",
        "docs",
        "--target-collection",
        "taken_by_cli",
    )

    assert done.returncode == 2
    assert "error: collection taken_by_cli already exists in database default of the target" in (
        done.stderr
    )


def test_it_reports_a_bad_endpoint(servers):
    _, target = servers

    done = run(
        "copy", "--source", "ftp://127.0.0.1:21", "--target", target.uri, "--collection", "docs"
    )

    assert done.returncode == 2
    assert (
        done.stderr.strip() == "error: endpoint scheme 'ftp' is not allowed: use http, https or tcp"
    )


def test_it_requires_the_collection_argument(servers):
    source, target = servers

    done = run("copy", "--source", source.uri, "--target", target.uri)

    assert done.returncode == 2
    assert "the following arguments are required: --collection" in done.stderr


def test_it_copies_with_several_readers_and_writers(servers):
    source, target = servers
    where = ("--source", source.uri, "--target", target.uri, "--collection", "docs")
    several = ("--writers", "3", "--readers", "2", "--batch-bytes", "2000")

    refused = run("copy", *where, "--writers", "0")
    no_readers = run("copy", *where, "--readers", "0")
    done = run("copy", *where, "--target-collection", "docs_w", *several)

    assert refused.returncode == 2 and "--writers must be at least 1" in refused.stderr
    assert no_readers.returncode == 2 and "--readers must be at least 1" in no_readers.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VERIFIED: default.docs → default.docs_w: source 30 rows")


@pytest.mark.standalone
def test_it_reports_a_wrong_password(servers, standalone):
    _, target = servers

    done = run(
        "copy",
        "--source",
        standalone.uri,
        "--source-token",
        "root:wrong",
        "--target",
        target.uri,
        "--collection",
        "docs",
    )

    assert done.returncode == 2
    assert done.stderr.startswith("error: authentication failed on 127.0.0.1:")
    assert "wrong" not in done.stderr
