"""manage.py register_cluster --project ID --name NAME --plan PLAN
                              (--local | --uri URI [--token T | --username U --password P])

--local creates a Milvus Lite cluster (CREATING; `runclusters` starts it). --uri registers an
existing Milvus after testing the connection; when the test fails, it prints why and creates
nothing. The last line printed is the cluster id. Credentials are never printed; the token and
password may also come from standard input ("-") or $MILVUS_TOKEN / $MILVUS_PASSWORD
(console/management/secrets.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from console import services
from console.management.refusals import command_error
from console.management.secrets import STDIN, add_secret_argument, read_secret
from console.models import Cluster, Project


class Command(BaseCommand):
    help = "Create a local cluster or register an existing Milvus in a project."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, metavar="PROJECT_ID")
        parser.add_argument("--name", required=True)
        parser.add_argument("--plan", required=True, help="FREE, SERVERLESS or DEDICATED")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--local", action="store_true", help="a Milvus Lite server run here")
        where.add_argument("--uri", help="endpoint of an existing Milvus, e.g. http://host:19530")
        add_secret_argument(parser, "--token", "MILVUS_TOKEN", "API key (or user:password)")
        parser.add_argument("--username", default="")
        add_secret_argument(parser, "--password", "MILVUS_PASSWORD", "the user's password")

    def handle(
        self,
        *args,
        project: str,
        name: str,
        plan: str,
        local: bool,
        uri: str | None,
        token: str | None,
        username: str,
        password: str | None,
        **options,
    ) -> None:
        if token == STDIN and password == STDIN:
            raise CommandError("only one of --token and --password can be read from standard input")
        if local:  # credentials from the environment are for --uri only
            token, password = token or "", password or ""
        else:
            stdin = options.get("stdin")
            token = read_secret(token, "MILVUS_TOKEN", stdin, flag="--token")
            password = read_secret(password, "MILVUS_PASSWORD", stdin)
        target = Project.objects.filter(pk=project).first()
        if target is None:
            raise CommandError(f"project {project} does not exist")
        try:
            if local:
                if token or username or password:
                    raise CommandError("--local clusters take no --token, --username or --password")
                cluster = services.create_local_cluster(target, name, plan)
            else:
                cluster = services.register_external_cluster(
                    target, name, plan, uri, token=token, username=username, password=password
                )
        except services.ServiceError as exc:
            raise command_error(
                exc, {"name": "--name", "token": "--token", "username": "--username"}
            ) from None
        if cluster.kind == Cluster.Kind.LOCAL:
            self.stdout.write(
                f"Created local cluster {cluster.name!r} on {cluster.uri} "
                "(status CREATING: `manage.py runclusters` starts it)"
            )
        else:
            self.stdout.write(
                f"Registered {cluster.name!r} at {cluster.uri} "
                f"(Milvus {cluster.server_version}, status {cluster.status})"
            )
        self.stdout.write(cluster.pk)
