"""manage.py create_api_key --email EMAIL [--name NAME]

Issues a REST API key acting with the user's roles. The key is printed once, on the last line;
only its hash is stored.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console.models import ApiKey, User


class Command(BaseCommand):
    help = "Create a REST API key for a user and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="CLI key", help='key name (default "CLI key")')

    def handle(self, *args, email: str, name: str, **options) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no user with email {email}")
        if not user.is_active:
            raise CommandError(f"user {user.email} is deactivated")
        name = name.strip()
        if not name or len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("key name must be 1 to 100 characters")
        _, raw = ApiKey.issue(user, name)
        self.stdout.write(f"API key {name!r} for {user.email} (shown only once):")
        self.stdout.write(raw)
