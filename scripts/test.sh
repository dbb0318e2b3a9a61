#!/usr/bin/env bash
# `make test`: Chromium for the browser tests, Redis, then ruff, the migrations check and the
# whole pytest suite on SQLite and, when PostgreSQL answers on 127.0.0.1:5432, once more on it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# A Redis database of its own, so tests never see (or flush) the broker and cache of `make run`.
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

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
trap '[ -n "$redis_pidfile" ] && $PY scripts/redis_ctl.py stop "$redis_pidfile" || true' EXIT
redis_pidfile="$($PY scripts/redis_ctl.py ensure)"

echo "== ruff check"
.venv/bin/ruff check .
echo "== import contracts"; .venv/bin/lint-imports
echo "== makemigrations --check"
# DEBUG for this one command: it needs settings, not the keys the tests bring (pyproject.toml).
DEBUG=true $PY manage.py makemigrations --check --dry-run

run_pytest() {
    local rc=0
    .venv/bin/pytest "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure, not a pass" >&2
        return 1
    fi
    return "$rc"
}

echo "== pytest on SQLite"
run_pytest

pg_rc=0
pg_url="$($PY scripts/pg_ready.py)" || pg_rc=$?
if [ "$pg_rc" -eq 0 ]; then
    echo "== pytest on PostgreSQL ($pg_url)"
    # tests/engine never touch the database (the engine is free of Django): once is enough.
    DATABASE_URL="$pg_url" run_pytest --ignore=tests/engine
elif [ "$pg_rc" -eq 3 ]; then
    echo "== PostgreSQL does not answer on 127.0.0.1:5432: the PostgreSQL run is skipped"
else
    exit "$pg_rc"
fi
echo "== all tests passed"
