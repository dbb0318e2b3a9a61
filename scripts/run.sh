#!/usr/bin/env bash
# `make run`: migrate, seed the demo, make sure Redis answers, then run the Procfile with honcho
# (web, Celery worker, beat, cluster supervisor). Ctrl-C stops all of them, and the Redis this
# script started, if it started one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONUNBUFFERED=1

redis_pidfile=""
banner_pid=""
cleanup() {
    [ -n "$banner_pid" ] && kill "$banner_pid" 2>/dev/null || true
    [ -n "$redis_pidfile" ] && python scripts/redis_ctl.py stop "$redis_pidfile" || true
}
trap cleanup EXIT

port_busy() { (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; }
if port_busy; then
    echo "Something already listens on 127.0.0.1:8000: stop it (another make run?) and try again." >&2
    exit 1
fi

redis_pidfile="$(python scripts/redis_ctl.py ensure)"
python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
seed_log="${VAR_DIR:-var}/seed_demo.log"
python manage.py seed_demo | tee "$seed_log"
# The logins as seed_demo printed them: the lines between "Demo logins:" and the org id.
logins="$(sed -n '/^Demo logins:/,$p' "$seed_log" | sed '1d;$d;s/^/  /')"

banner() {
    printf '\n  Milvus Migration Console is running at http://127.0.0.1:8000/\n\n'
    printf '  Demo logins:\n%s\n\n  Press Ctrl-C to stop everything.\n\n' "$logins"
}
# Printed once the web server answers, so the processes' start-up logs do not bury it.
(
    for _ in $(seq 120); do
        if port_busy; then sleep 2; banner; exit 0; fi
        sleep 1
    done
) &
banner_pid=$!

honcho start -f Procfile
