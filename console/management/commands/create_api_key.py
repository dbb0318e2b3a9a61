"""manage.py create_api_key --email EMAIL [--name NAME]

Issues a REST API key acting with the user's roles. The key is printed once, on the last line;
only its hash is stored.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.models import ApiKey, User

DEFAULT_NAME = "CLI key"


class Command(BaseCommand):
    help = "Create a REST API key for a user and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--name",
            default="",
            help=f'key name, unique per user (default "{DEFAULT_NAME}", numbered if taken)',
        )

    def handle(self, *args, email: str, name: str, **options) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no user with email {email}")
        if not user.is_active:
            raise CommandError(f"user {user.email} is deactivated")
        name = name.strip() if name else ApiKey.free_name(user, DEFAULT_NAME)
        if not name or len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("key name must be 1 to 100 characters")
        try:
            _, raw = ApiKey.issue(user, name)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"API key {name!r} for {user.email} (shown only once):")
        self.stdout.write(raw)
