"""manage.py jobs list [--project PROJECT_ID] [--status STATUS]
manage.py jobs show JOB_ID [--json]
manage.py jobs cancel JOB_ID --as EMAIL
manage.py jobs retry JOB_ID --as EMAIL
manage.py jobs verify JOB_ID --as EMAIL     # Verify Again: prints the new job's id last
manage.py jobs repair JOB_ID --as EMAIL     # re-copy what differs, verify again; the job id last
manage.py jobs discard JOB_ID --as EMAIL    # drop the incomplete collections a FAILED/CANCELED job created

retry, verify and repair of an In Other Organization job whose source credentials were removed
take them again: --source-uri URI (the job's endpoint) with --token T, or --username U
--password P. They are kept encrypted on the job only while it needs them.

`show --json` prints the object `GET /v2/jobs/{jobId}` returns as its data. Cancel, retry and
verify go through the same service as the Jobs page and the API, with the user's roles.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from console.connections import Connection
from console.models import User
from jobs.access import get_job_for
from jobs.models import Job
from jobs.serializers import job_data
from migrations_app import discard, service


class Command(BaseCommand):
    help = "List, show, cancel, retry, verify again, repair or discard migration jobs."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="jobs, newest first")
        listing.add_argument("--project", default="", metavar="PROJECT_ID")
        listing.add_argument("--status", default="", help=", ".join(Job.Status.values))
        show = actions.add_parser("show", help="one job with its collections")
        show.add_argument("job_id")
        show.add_argument("--json", action="store_true", help="the REST API's object")
        for name, text in (
            ("cancel", "cancel a job as a user"),
            ("retry", "retry a job as a user"),
            ("verify", "Verify Again: compare a migration's source and target as they are now"),
            ("repair", "Repair: re-copy only the key ranges that differ, then verify again"),
            ("discard", "drop the incomplete collections a Failed or Canceled job created"),
        ):
            action = actions.add_parser(name, help=text)
            action.add_argument("job_id")
            action.add_argument("--as", dest="email", required=True, metavar="EMAIL")
            if name in ("retry", "verify", "repair"):
                given = action.add_argument_group(
                    "another organization's source, given again (its credentials were removed)"
                )
                given.add_argument("--source-uri", default="", metavar="URI")
                given.add_argument("--token", default="", metavar="API_KEY")
                given.add_argument("--username", default="")
                given.add_argument("--password", default="")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _list(self, project: str, status: str, **options) -> None:
        jobs = Job.objects.select_related("created_by").order_by("-created_at", "-pk")
        if project:
            jobs = jobs.filter(project_id=project)
        if status:
            status = status.strip().upper()
            if status not in Job.Status.values:
                raise CommandError(
                    f"unknown status {status!r}: use one of {', '.join(Job.Status.values)}"
                )
            jobs = jobs.filter(status=status)
        for job in jobs[:500]:
            who = job.created_by.email if job.created_by_id else "-"
            self.stdout.write(
                f"{job.pk}  {job.status:<11}  {job.progress:>3}%  {job.created_at:%Y-%m-%d %H:%M}"
                f"  {who}  {job.description}"
            )

    def _show(self, job_id: str, json: bool, **options) -> None:  # noqa: A002 - the flag's name
        job = Job.objects.select_related("created_by").filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"job {job_id} does not exist")
        data = job_data(job)
        if json:
            self.stdout.write(_dumps(data))
            return
        self.stdout.write(f"{job.pk}  {job.status}  {job.progress}%  {job.description}")
        if job.reason:
            self.stdout.write(f"reason: {job.reason}")
        for c in data["collections"]:
            self.stdout.write(
                f"  {c['sourceDb']}.{c['sourceCollection']} → {c['targetDb']}."
                f"{c['targetCollection']}  {c['status']}  {c['migratedEntities']}/"
                f"{c['totalEntities']}  {c['verification']}"
            )

    def _cancel(self, job_id: str, email: str, **options) -> None:
        user, job = _job_as(job_id, email, service.ACTION_CANCEL)
        job = _apply(service.cancel_job, user, job)
        self.stdout.write(f"job {job.pk} is {job.status}")

    def _retry(self, job_id: str, email: str, **options) -> None:
        given = _given(**options)
        user, job = _job_as(job_id, email, service.ACTION_RETRY)
        job = _apply(service.retry_job, user, job, given)
        self.stdout.write(f"job {job.pk} is {job.status}")

    def _verify(self, job_id: str, email: str, **options) -> None:
        given = _given(**options)
        user, job = _job_as(job_id, email, service.ACTION_VERIFY)
        verification = _apply(service.verify_again, user, job, given)
        self.stdout.write(f"verification of job {job.pk} created; its id:")
        self.stdout.write(verification.pk)

    def _repair(self, job_id: str, email: str, **options) -> None:
        given = _given(**options)
        user, job = _job_as(job_id, email, service.ACTION_REPAIR)
        repair = _apply(service.repair_job, user, job, given)
        self.stdout.write(f"repair of job {job.pk} created; its id:")
        self.stdout.write(repair.pk)

    def _discard(self, job_id: str, email: str, **options) -> None:
        user, job = _job_as(job_id, email, discard.ACTION_DISCARD)
        dropped = _apply(discard.discard, user, job)
        for d in dropped:
            self.stdout.write(f"dropped {d.db}.{d.name} ({d.rows:,} rows)")
        self.stdout.write(f"job {job.pk}: {len(dropped)} incomplete collection(s) discarded")


def _given(
    source_uri: str = "", token: str = "", username: str = "", password: str = "", **options
) -> Connection | None:
    """Another organization's source given again on the command line; None when not given."""
    if not source_uri:
        if token or username or password:
            raise CommandError("--token, --username and --password go with --source-uri")
        return None
    if token and (username or password):
        raise CommandError("give either --token or --username and --password, not both")
    if not token and not (username and password):
        raise CommandError("--source-uri needs --token, or --username and --password")
    return Connection(uri=source_uri, token=token, username=username, password=password)


def _dumps(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _job_as(job_id: str, email: str, action: str) -> tuple[User, Job]:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None or not user.is_active:
        raise CommandError(f"no active user with the email {email}")
    try:
        return user, get_job_for(user, job_id, write=True, action=action)
    except Http404:
        raise CommandError(f"job {job_id} does not exist") from None
    except PermissionDenied as refused:  # the words of console.access.refusal
        raise CommandError(str(refused)) from None


def _apply(action, user: User, job: Job, *args) -> Job:
    try:
        return action(user, job, *args)
    except service.ServiceError as exc:
        raise CommandError(exc.message) from None
