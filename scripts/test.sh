#!/usr/bin/env bash
# `make test`: Chromium for the browser tests, Redis, then ruff, the migrations check and two
# pytest passes side by side: every test on SQLite, and the tests that go through the database
# layer on PostgreSQL (127.0.0.1:5432; the rule is in tests/conftest.py). It ends with one summary
# (scripts/test_summary.py). With CI=true, a pass or a module that cannot run here (no
# PostgreSQL, no redis-server) fails the run instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# A Redis database of its own, so tests never see (or flush) the broker and cache of `make run`.
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
case "${CI:-}" in true | 1) in_ci=true ;; *) in_ci=false ;; esac

# What each pass did (junit xml), what did not run and why: read by the summary at exit.
results=var/test-results
rm -rf "$results" && mkdir -p "$results"
not_run=0
note() {
    echo "$1" >>"$results/notes"
    echo "== $1" >&2
    not_run=1
}

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "Installing Debian's chromium for the browser tests"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        echo "The browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium' (Debian) and try again." >&2
        exit 1
    fi
fi

redis_pidfile=""
idle_probe=""
pg_pid=""
finish() {
    local rc=$?
    if [ -n "$idle_probe" ]; then kill "$idle_probe" 2>/dev/null || true; fi
    if [ -n "$pg_pid" ]; then
        pkill -TERM -P "$pg_pid" 2>/dev/null || true
        wait "$pg_pid" 2>/dev/null || true
    fi
    if [ -n "$redis_pidfile" ]; then $PY scripts/redis_ctl.py stop "$redis_pidfile" || true; fi
    $PY scripts/test_summary.py "$results" || true
    exit "$rc"
}
trap finish EXIT
redis_pidfile="$($PY scripts/redis_ctl.py ensure)"
if ! command -v redis-server >/dev/null; then
    note "redis-server is not on PATH: tests/test_jobs_redis_restart.py and the redis_ctl tests of tests/test_cli_scripts.py are skipped (Debian: apt-get install redis-server)"
fi

# The version matrix (tests/engine/test_versions.py) runs older Milvus releases from PyPI's
# `milvus` wheels, installed once into var/milvus-versions (tests/milvus_versions.py).
echo "== Milvus releases of the version matrix"
while IFS= read -r missing; do
    note "$missing: its tests in tests/engine/test_versions.py are skipped"
done < <($PY -m tests.milvus_versions || true)

echo "== ruff check"
.venv/bin/ruff check .
echo "== import contracts"; .venv/bin/lint-imports
echo "== makemigrations --check"
# DEBUG for this one command: it needs settings, not the keys the tests bring (pyproject.toml).
DEBUG=true $PY manage.py makemigrations --check --dry-run

# run_pytest NAME ARGS...: one pass, its results in $results/NAME.xml.
run_pytest() {
    local name=$1 rc=0
    shift
    .venv/bin/pytest --durations=30 --junitxml="$results/$name.xml" "$@" || rc=$?
    echo "$rc" >"$results/$name.rc"  # an interrupted pass's xml counts only what ran
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure, not a pass" >&2
        return 1
    fi
    return "$rc"
}

# pytest-xdist: most of a test's time is spent waiting on servers, workers and the browser (a
# whole run keeps the 2 cores about half busy), so several test processes share them well, and
# the PostgreSQL pass runs beside the SQLite pass (README: Two commands). Each process gets a
# Redis database of its own below the one REDIS_URL names (tests/settings.py): the SQLite pass's
# from REDIS_URL's down, the PostgreSQL pass's below those.
workers="${TEST_PROCESSES:-4}"
pg_workers="${TEST_PG_PROCESSES:-2}"
redis_base="${REDIS_URL%/*}"
redis_db="${REDIS_URL##*/}"
pg_redis_db=$((redis_db - workers))
if [ $((pg_redis_db - pg_workers + 1)) -lt 0 ]; then
    echo "REDIS_URL $REDIS_URL leaves too few Redis databases below it for $workers + $pg_workers test processes" >&2
    exit 1
fi

pg_rc=0
pg_url="$($PY scripts/pg_ready.py)" || pg_rc=$?
pg_pid=""
if [ "$pg_rc" -eq 0 ]; then
    echo "== pytest on PostgreSQL ($pg_url), beside the SQLite pass: the tests that go through the database layer ($pg_workers processes; output below once it ends)"
    # tests/engine never touch the database (the engine is free of Django): not even collected.
    DATABASE_URL="$pg_url" REDIS_URL="$redis_base/$pg_redis_db" run_pytest postgresql \
        --ignore=tests/engine -n "$pg_workers" \
        -m "database and not e2e and not standalone and not provisioning" \
        >"$results/postgresql.log" 2>&1 &
    pg_pid=$!
elif [ "$pg_rc" -eq 3 ]; then
    pg_at="${PG_HOST:-127.0.0.1}:${PG_PORT:-5432}"
    echo "nothing answers on $pg_at" >"$results/postgresql.not-run"
    note "PostgreSQL does not answer on $pg_at: the PostgreSQL pass did not run"
else
    echo "PostgreSQL answers but cannot be used (above)" >"$results/postgresql.not-run"
    exit "$pg_rc"
fi

# The 100-second idle of tests/test_connections.py runs beside the pass, not inside a test
# process (tests/idle_probe.py); the test reads its result.
export IDLE_PROBE_RESULT="$PWD/$results/idle-probe.json"
$PY -m tests.idle_probe "$IDLE_PROBE_RESULT" 2>"$results/idle-probe.log" &
idle_probe=$!
echo "== pytest on SQLite: every test ($workers processes)"
sqlite_status=0
run_pytest sqlite -n "$workers" --dist loadgroup || sqlite_status=$?

pg_status=0
if [ -n "$pg_pid" ]; then
    wait "$pg_pid" || pg_status=$?
    pg_pid=""
    echo "== pytest on PostgreSQL: its output"
    cat "$results/postgresql.log"
fi
if [ "$sqlite_status" -ne 0 ] || [ "$pg_status" -ne 0 ]; then
    exit 1
fi

if [ "$not_run" -ne 0 ] && [ "$in_ci" = true ]; then
    echo "CI=true: everything must run in CI, and something did not (see the notes below)" >&2
    exit 1
fi
if [ "$not_run" -ne 0 ]; then
    echo "== the tests that ran passed; some did not run (see the notes below)"
else
    echo "== all tests passed"
fi
