"""manage.py create_api_key --email EMAIL [--name NAME] [--project PROJECT_ID]

Issues a REST API key acting with the user's roles; with --project, in that project only. The
key is printed once, on the last line; only its hash is stored.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from console.access import get_project_for
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
        parser.add_argument(
            "--project",
            default="",
            help="project id: the key reaches only this project (default: every project of the user)",
        )

    def handle(self, *args, email: str, name: str, project: str, **options) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no user with email {email}")
        if not user.is_active:
            raise CommandError(f"user {user.email} is deactivated")
        name = name.strip() if name else ApiKey.free_name(user, DEFAULT_NAME)
        if not name or len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("key name must be 1 to 100 characters")
        scope = None
        if project.strip():
            try:
                scope = get_project_for(user, project.strip())
            except Http404:
                raise CommandError(f"{user.email} is no member of a project {project}") from None
        try:
            _, raw = ApiKey.issue(user, name, project=scope)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        where = f" in project {scope.name} only" if scope else ""
        self.stdout.write(f"API key {name!r} for {user.email}{where} (shown only once):")
        self.stdout.write(raw)
