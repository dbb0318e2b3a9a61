"""manage.py add_member --org ORG_ID --email EMAIL --password PW --role ROLE [--project ID]

Gives a new or existing user an organization role (ORG_OWNER, ORG_MEMBER) or a project role
(PROJECT_ADMIN, PROJECT_READ_WRITE, PROJECT_READ_ONLY, which need --project). The last line
printed is the user's id. The password may also come from standard input (--password -) or
$CONSOLE_PASSWORD (console/management/secrets.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console import services
from console.management.refusals import command_error
from console.management.secrets import add_secret_argument, read_secret
from console.models import Organization, Project


class Command(BaseCommand):
    help = "Add a user to an organization or one of its projects with a role."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, metavar="ORG_ID")
        parser.add_argument("--email", required=True)
        add_secret_argument(
            parser,
            "--password",
            "CONSOLE_PASSWORD",
            "password for a new user (an existing user keeps theirs)",
        )
        parser.add_argument(
            "--role",
            required=True,
            help="one of " + ", ".join(services.ORG_ROLES + services.PROJECT_ROLES),
        )
        parser.add_argument("--project", metavar="PROJECT_ID", help="needed for project roles")

    def handle(
        self,
        *args,
        org: str,
        email: str,
        password: str | None,
        role: str,
        project: str | None,
        **options,
    ) -> None:
        password = read_secret(password, "CONSOLE_PASSWORD", options.get("stdin"))
        organization = Organization.objects.filter(pk=org).first()
        if organization is None:
            raise CommandError(f"organization {org} does not exist")
        target = None
        if project:
            target = Project.objects.filter(pk=project).first()
            if target is None:
                raise CommandError(f"project {project} does not exist")
        try:
            user = services.add_member(organization, email, password, role.upper(), target)
        except services.ServiceError as exc:
            raise command_error(exc, {"project": "--project"}) from None
        where = f"project {target.pk}" if target else f"organization {organization.pk}"
        self.stdout.write(f"{user.email} is now {role.upper()} of {where}")
        self.stdout.write(str(user.pk))
