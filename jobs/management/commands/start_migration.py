"""manage.py start_migration --as EMAIL --source CLUSTER_ID --target CLUSTER_ID [--db DB]
        [--target-db DB] [--collection NAME[=TARGET_NAME]]... [--load]
        [--max-rows-per-second N] [--max-mb-per-second M]

The same service and rules as the wizard and the API (migrations_app.service): roles, the plan
matrix, both clusters reachable, every collection planned before anything is created. Without
--collection every collection of --db is migrated. The last line printed is the job id.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from console.models import User
from migrations_app import service


class Command(BaseCommand):
    help = "Start a migration job from one cluster to another, as a given user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as", dest="email", required=True, metavar="EMAIL")
        parser.add_argument("--source", required=True, metavar="CLUSTER_ID")
        parser.add_argument("--target", required=True, metavar="CLUSTER_ID")
        parser.add_argument("--db", default="default", help="source database (default: default)")
        parser.add_argument("--target-db", default="", help="target database (default: --db)")
        parser.add_argument(
            "--collection",
            action="append",
            default=[],
            metavar="NAME[=TARGET_NAME]",
            help="a collection to migrate, optionally renamed; repeat for more",
        )
        parser.add_argument("--load", action="store_true", help="load the targets afterwards")
        parser.add_argument(
            "--max-rows-per-second", type=_number, metavar="N", help="speed cap: rows per second"
        )
        parser.add_argument(
            "--max-mb-per-second",
            type=_number,
            metavar="M",
            help="speed cap: megabytes (10^6 bytes) per second",
        )

    def handle(
        self,
        *args,
        email: str,
        source: str,
        target: str,
        db: str,
        target_db: str,
        collection: list[str],
        load: bool,
        max_rows_per_second: float | None,
        max_mb_per_second: float | None,
        **options,
    ) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None or not user.is_active:
            raise CommandError(f"no active user with the email {email}")
        request = service.MigrationRequest(
            source_cluster_id=source,
            source_db=db,
            target_cluster_id=target,
            target_db=target_db,
            collections=[_choice(item) for item in collection] or None,
            load_after=load,
            max_rows_per_second=max_rows_per_second,
            max_mb_per_second=max_mb_per_second,
        )
        try:
            job = service.start_migration(user, request)
        except service.ServiceError as exc:
            raise CommandError(exc.message) from None
        names = ", ".join(c.source_name for c in job.collections.all())
        self.stdout.write(
            f"Started job {job.pk}: {names} from {job.source_name} ({job.source_db}) to "
            f"{job.target_name} ({job.target_db}); follow it with `manage.py jobs show {job.pk}`"
        )
        self.stdout.write(job.pk)


def _choice(item: str) -> service.CollectionChoice:
    name, _, target = item.partition("=")
    if not name.strip():
        raise CommandError(f"collection {item!r}: give a collection name, optionally =new_name")
    return service.CollectionChoice(name=name.strip(), target_name=target.strip() or None)


def _number(raw: str) -> int | float:
    """A flag's number as typed (the service says whether it is a valid cap)."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    return int(value) if value.is_integer() else value
