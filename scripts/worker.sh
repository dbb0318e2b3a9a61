#!/usr/bin/env bash
# The Celery worker, started again whenever it exits on its own (make run's Procfile, and the
# tests' worker). Why: when Redis restarts, kombu's Redis transport can end a worker with
# "Unrecoverable error: AttributeError('NoneType' object has no attribute 'hostname')" while it
# restores unacknowledged messages (seen with celery/kombu 5.7.0), and honcho stops every process
# when one exits. The worker finishes its running task first; jobs resume from their rows.
# Ctrl-C / SIGTERM stop the worker and this loop. In production use your service manager's
# restart policy instead (systemd: Restart=always).
set -u
pid=""
stop() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
    exit 0
}
trap stop INT TERM
while true; do
    celery -A console worker "$@" &
    pid=$!
    wait "$pid"
    echo "worker: the Celery worker exited (status $?); starting it again in 2 s" >&2
    sleep 2
done
