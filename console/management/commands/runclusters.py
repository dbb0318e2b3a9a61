"""manage.py runclusters [--interval SECONDS] [--once]

Supervises the local clusters (console.clusters.supervisor): every --interval seconds it starts
missing Milvus Lite servers, restarts crashed ones, stops and removes deleted ones and marks
each cluster's status; external clusters are checked every 30 s. SIGTERM or SIGINT (Ctrl-C)
stops every server it runs, then the command exits. --once runs a single round and leaves the
servers running (a later runclusters adopts them).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from console.clusters.supervisor import Supervisor


class Command(BaseCommand):
    help = "Run the local cluster supervisor (start, restart, stop Milvus Lite servers)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="seconds between reconcile rounds (default 2)",
        )
        parser.add_argument(
            "--once", action="store_true", help="run one round, leave the servers running and exit"
        )

    def handle(self, *args, interval: float, once: bool, **options) -> None:
        if interval <= 0:
            raise CommandError(f"--interval must be a positive number of seconds, not {interval}")
        supervisor = Supervisor()
        if once:
            report = supervisor.reconcile_once()
            self.stdout.write(
                f"started {len(report.started)}, restarted {len(report.restarted)}, "
                f"adopted {len(report.adopted)}, removed {len(report.removed)}, "
                f"failed {len(report.failed)}, external checks {len(report.checked_external)}"
            )
            return
        stop = threading.Event()

        def _stop(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.stdout.write(
            f"Cluster supervisor running (every {interval:g}s, clusters in "
            f"{supervisor.clusters_dir}); Ctrl-C stops it and its servers."
        )
        self.stdout.flush()
        supervisor.run(interval, stop)
        self.stdout.write("Cluster supervisor stopped; its servers are stopped.")
