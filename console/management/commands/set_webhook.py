"""manage.py set_webhook --project PROJECT_ID --url URL

Points the project's webhook at URL (job ends are POSTed there, signed) with a new signing
secret, printed once on the last line; `--url ""` removes the webhook. The same rules for the
URL as the project settings page and the REST API (console.webhooks). An operator's command:
its deliveries count against no user's connection limit.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console.errors import ServiceError
from console.management.refusals import command_error
from console.models import Project
from console.webhooks import clear_webhook, set_webhook


class Command(BaseCommand):
    help = 'Set (or with --url "" remove) a project\'s webhook; prints the signing secret last.'

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="project id (proj-...)")
        parser.add_argument(
            "--url", required=True, help='http(s) URL job ends are POSTed to; "" removes it'
        )

    def handle(self, *args, project: str, url: str, **options) -> None:
        found = Project.objects.filter(pk=project.strip()).first()
        if found is None:
            raise CommandError(f"no project with id {project}")
        if not url.strip():
            had = clear_webhook(found)
            self.stdout.write(
                f"Webhook of project {found.name} ({found.pk}) removed."
                if had
                else f"Project {found.name} ({found.pk}) had no webhook."
            )
            return
        try:
            secret = set_webhook(found, url, None)
        except ServiceError as exc:
            raise command_error(exc, {"url": "--url"}) from None
        self.stdout.write(
            f"Webhook of project {found.name} ({found.pk}): {found.webhook_url}\n"
            "Signing secret (shown only once; X-Signature is sha256=<HMAC-SHA256 of the body>):"
        )
        self.stdout.write(secret)
