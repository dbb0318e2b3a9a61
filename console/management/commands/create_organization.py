"""manage.py create_organization NAME --owner EMAIL --password PW

Creates the organization, its owner (or reuses an existing user) and a project named
"Default Project". The last line printed is "<org id> <project id>". The password may also come
from standard input (--password -) or $CONSOLE_PASSWORD (console/management/secrets.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console import services
from console.management.secrets import add_secret_argument, read_secret


class Command(BaseCommand):
    help = 'Create an organization with its owner and a "Default Project".'
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="organization name (unique)")
        parser.add_argument("--owner", required=True, metavar="EMAIL", help="owner's email")
        add_secret_argument(
            parser,
            "--password",
            "CONSOLE_PASSWORD",
            "owner's password (ignored when the user already exists)",
        )

    def handle(self, *args, name: str, owner: str, password: str | None, **options) -> None:
        password = read_secret(password, "CONSOLE_PASSWORD", options.get("stdin"))
        try:
            org, project = services.create_organization(name, owner, password)
        except services.ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created organization {org.name!r} owned by {owner.lower()}")
        self.stdout.write(f"Created project {project.name!r}")
        self.stdout.write(f"{org.pk} {project.pk}")
