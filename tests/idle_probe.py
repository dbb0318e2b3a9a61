"""The long idle of tests/test_connections.py, in a process of its own.

Milvus Lite answers pymilvus' default keepalive pings (every 10 s, idle or not) with GOAWAY
too_many_pings (gRPC logs it on stderr); pymilvus' pooled channel then failed its next connect
("not a Milvus server") between 40 and 100 s after the last request (measured: the second round of
pings). The probe opens one client the way the console does (`console.clients.open_client` calls
the engine's `connect` for a cluster it runs, as here), keeps it open across IDLE_SECONDS without
a request, asks again, and writes what it saw as JSON: both answers, the error if any, and the
lines gRPC wrote on this process's stderr naming its server's port.

A hundred seconds of nothing would hold a test process for as long, so `make test`
(scripts/test.sh) starts the probe before the SQLite pass and names its result file in
IDLE_PROBE_RESULT; the test reads it when it runs. Without that variable the test starts the
probe itself and waits.

    python -m tests.idle_probe RESULT.json
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

IDLE_SECONDS = 100


def probe(seconds: float = IDLE_SECONDS) -> dict:
    from migrations_app.engine.connect import connect
    from tests.servers import start_lite_server

    seen: dict = {"before": None, "after": None, "error": None, "idle_seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="idle-probe-") as tmp:
        server = start_lite_server(Path(tmp))
        seen["port"] = server.port
        try:
            client = connect(server.uri)
            try:
                seen["before"] = client.list_collections()
                time.sleep(seconds)
                seen["after"] = client.list_collections()
            except Exception as exc:  # the point is to say what went wrong, whatever it is
                seen["error"] = repr(exc)
            finally:
                client.close()
        finally:
            server.stop()
    return seen


def main(argv: list[str]) -> int:
    result = Path(argv[0])
    # Stopped early (make test ended): unwind, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # gRPC's core logs to file descriptor 2: keep it, to find the lines about this server.
    log = tempfile.TemporaryFile(mode="w+")
    os.dup2(log.fileno(), 2)
    seen = probe()
    log.seek(0)
    ours = f"127.0.0.1:{seen['port']}"
    seen["sent_away"] = [
        line for line in log.read().splitlines() if "too_many_pings" in line and ours in line
    ]
    partial = result.with_suffix(".partial")
    partial.write_text(json.dumps(seen))
    partial.replace(result)  # the reader sees the whole file or none
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
