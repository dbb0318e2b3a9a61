"""The one place that turns a migration request (wizard, REST API or CLI) into a Job.

`check_migration` is the complete pre-migration check (the wizard's *Check only*): roles and
tenancy, the plan matrix, both clusters reachable, the source database and collections, and the
engine's plan of every collection at once. `start_migration` runs the same check and, when it
found no problem, creates the Job with its JobCollections and enqueues it after commit. Nothing
is created anywhere when a check fails; every problem is reported together.

Cancel and Retry of a job go through here too, so the Jobs page, the API and the CLI share
them: the service checks rights and refuses in words, jobs.lifecycle changes the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Container
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from pymilvus.exceptions import MilvusException

from console import services as console_services
from console import throttle
from console.access import can_manage, refusal, visible_clusters, visible_projects
from console.clients import check_endpoint, open_client
from console.connections import Connection
from console.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    TooMany,
    Unavailable,
)
from console.models import Cluster, Project, User
from console.plans import target_refusal
from console.redaction import redact
from jobs import lifecycle, pace
from jobs.events import log_event
from jobs.models import OTHER_PROJECT_SOURCE, Job, JobCollection
from jobs.pace import SpeedCap
from migrations_app.engine import ownership
from migrations_app.engine.errors import (
    CannotReach,
    DatabaseNotFound,
    EndpointRejected,
    EngineError,
)
from migrations_app.engine.model import CollectionInfo, PlanResult, Problem
from migrations_app.engine.names import duplicate_targets, invalid_name
from migrations_app.engine.plan import plan_many
from migrations_app.selection import (
    MAX_COLLECTIONS,
    CollectionChoice,
    DatabaseChoice,
    Selected,
    check_databases,
    describe_selection,
)

# What only a manager may do, in the words of console.access.refusal (the 403 page, a disabled
# button's reason, the API's 403 and the CLI's error all say the same).
ACTION_START = "start a migration"
ACTION_CANCEL = "cancel jobs"
ACTION_RETRY = "retry jobs"
ACTION_VERIFY = "verify jobs again"
ACTION_REPAIR = "repair jobs"
ACTION_SPEED_CAP = "change the speed cap of jobs"


@dataclass
class MigrationRequest:
    """What to migrate, as the wizard, the API and the CLI collect it.

    Source: `source_cluster_id` (In Current Organization) or `source_connection` (In Other
    Organization). Target: `target_cluster_id`, or `new_cluster_name` + `new_cluster_project_id`
    for a new Dedicated cluster.

    What: one database — `source_db` into `target_db` ("" means the same name), `collections`
    None meaning every collection of it (the wizard, the CLI) — or `databases`, several of
    them (the REST API), or `every_database`: every collection of every database of the
    source, each into the target database of the same name.
    """

    source_cluster_id: str = ""
    source_connection: Connection | None = None
    source_db: str = "default"
    target_cluster_id: str = ""
    target_db: str = ""
    collections: list[CollectionChoice] | None = None
    databases: list[DatabaseChoice] | None = None
    every_database: bool = False
    load_after: bool = False
    # The speed cap as typed (jobs.pace.check decides, in the service): None for no cap.
    max_rows_per_second: object = None
    max_mb_per_second: object = None
    new_cluster_name: str = ""
    new_cluster_project_id: str = ""

    @property
    def to_new_cluster(self) -> bool:
        return bool(self.new_cluster_name or self.new_cluster_project_id)

    def database_choices(self) -> list[DatabaseChoice] | None:
        """The databases asked for, in order; None: every database of the source."""
        if self.every_database:
            return None
        if self.databases is not None:
            return self.databases
        return [DatabaseChoice(self.source_db, self.target_db, self.collections)]


@dataclass
class CollectionCheck:
    source: CollectionInfo
    plan: PlanResult | None
    choice: CollectionChoice
    target_db: str


@dataclass
class Check:
    """What the pre-migration check found. `problems` empty: the migration may start."""

    project: Project
    source_cluster: Cluster | None
    source_label: str
    target_cluster: Cluster | None
    target_label: str
    # The databases asked for (names checked); None: every database of the source.
    databases: list[DatabaseChoice] | None
    collections: list[CollectionCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    speed_cap: SpeedCap = field(default_factory=SpeedCap)

    @property
    def ok(self) -> bool:
        return not self.problems

    def _database(self, names: list[str]) -> str:
        """The one database of `names`, or "" when there are several."""
        unique = list(dict.fromkeys(names))
        return unique[0] if len(unique) == 1 else ""

    @property
    def source_db(self) -> str:
        """The job's source database; "" when it reads several (each collection says)."""
        if self.collections:
            return self._database([c.source.db for c in self.collections])
        return self._database([d.source_db for d in self.databases or []])

    @property
    def target_db(self) -> str:
        """The job's target database; "" when it writes into several."""
        if self.collections:
            return self._database([c.target_db for c in self.collections])
        return self._database([d.target_db for d in self.databases or []])

    def raise_problems(self) -> None:
        """Invalid (or Conflict when every problem is a name already taken), listing all."""
        if not self.problems:
            return
        kind = Conflict if set(self.problems) <= set(self.conflicts) else Invalid
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems: " + "; ".join(self.problems)
        raise kind(message, problems=self.problems, step="schema")


# --- the check ---------------------------------------------------------------------------


def check_migration(user: User, request: MigrationRequest) -> Check:
    """The complete pre-migration check; creates nothing.

    Raises NotFound (a cluster or project the user may not see), Forbidden (the user may not
    start migrations in the target project, or take data out of the source's: both are manage
    rights), Invalid (a request that cannot be planned at all: no source, a refused plan pair,
    a database that does not exist, an endpoint not allowed), Unavailable (a cluster that
    cannot be reached) and TooMany (the user's connections to typed endpoints are used up for
    now: each typed source or target this check connects to counts, console.throttle).
    Problems of single collections (names,
    types, partition keys) are returned in `Check.problems`, all of them.
    """
    speed_cap = _speed_cap(request.max_rows_per_second, request.max_mb_per_second)
    check, source_connection = _check_request(user, request)
    check.speed_cap = speed_cap
    target_cluster = check.target_cluster
    source_label, target_label = check.source_label, check.target_label
    target_connection = target_cluster.connection() if target_cluster is not None else None
    # Counted before anything connects: the answers (refused, not Milvus, no answer) of an
    # endpoint of the user's choice are what a port scanner reads.
    for connection in (source_connection, target_connection):
        if connection is not None and not throttle.allow_connection(user.pk, connection):
            raise TooMany(throttle.TOO_MANY_CONNECTION_TESTS)
    selected, problems = describe_selection(
        lambda db: _open(source_connection, db, "source", source_label),
        check.databases,
        source_label,
    )
    check.problems.extend(problems)
    if target_cluster is None:
        # A new cluster is empty and not running yet: the engine plans each collection
        # against it when the job starts; names only need to be unique in the request.
        _check_new_cluster_names(selected, check)
    elif selected:
        # The plan samples the source's dynamic keys (on each collection's own database).
        source = _open(source_connection, selected[0].info.db, "source", source_label)
        try:
            target = _open(target_connection, "default", "target", target_label)
            try:
                _plan(source, target, selected, check)
            finally:
                target.close()
        finally:
            source.close()
    for item in selected:
        if item.info.entity_count == 0:
            check.warnings.append(f"collection {item.label} is empty: only its schema is copied")
    return check


def _speed_cap(rows_per_second, mb_per_second) -> SpeedCap:
    try:
        return pace.check(rows_per_second, mb_per_second)
    except ValueError as exc:
        raise Invalid(str(exc), step="schema", field="speed cap") from None


def check_unfinished_quota(project: Project) -> None:
    """Conflict when the project has UNFINISHED_JOBS_PER_PROJECT jobs not final already."""
    limit = settings.UNFINISHED_JOBS_PER_PROJECT
    count = Job.objects.filter(project=project).unfinished().count()
    if count >= limit:
        raise Conflict(
            f"project {project.name} has {count} unfinished job(s), the most it may have at once "
            f"({limit}): wait until some of them end, or cancel some, then try again"
        )


def _check_request(user: User, request: MigrationRequest) -> tuple[Check, Connection]:
    """The checks made without connecting: rights on the target's and the source's projects,
    tenancy, cluster status, the plan matrix, the database names and the quotas (unfinished
    jobs of the project, local clusters of the organization for a new cluster). A new
    migration and a Retry both run them (a Retry then checks the endpoint rules, see
    `recheck_job`; a new migration checks them when it connects). The quotas are counted
    again under a lock when the job is created (`_locked_quotas`)."""
    project, target_cluster, target_plan, target_label = _resolve_target(user, request)
    check_unfinished_quota(project)
    if request.to_new_cluster:
        try:
            console_services.check_local_cluster_quota(project.organization)
        except ServiceError as exc:
            exc.step = "target"
            raise
    source_cluster, source_connection, source_label = _resolve_source(user, request, project)

    refused = target_refusal(source_cluster.plan if source_cluster else None, target_plan)
    if refused:
        raise Invalid(f"{refused} ({source_label} → {target_label})", step="target")

    check = Check(
        project=project,
        source_cluster=source_cluster,
        source_label=source_label,
        target_cluster=target_cluster,
        target_label=target_label,
        databases=check_databases(request.database_choices()),
    )
    return check, source_connection


def _resolve_target(
    user: User, request: MigrationRequest
) -> tuple[Project, Cluster | None, str, str]:
    """(project of the job, target cluster or None for a new one, target plan, label)."""
    if request.to_new_cluster:
        project = visible_projects(user).filter(pk=request.new_cluster_project_id).first()
        if project is None:
            raise NotFound(f"project {request.new_cluster_project_id} not found", step="target")
        _require_manager(user, project, ACTION_START, step="target")
        name = console_services.check_cluster_name(project, request.new_cluster_name)
        return project, None, Cluster.Plan.DEDICATED, f"new cluster {name}"
    if not request.target_cluster_id:
        raise Invalid("choose a target cluster", step="target")
    target = visible_clusters(user).filter(pk=request.target_cluster_id).first()
    if target is None:
        raise NotFound(f"cluster {request.target_cluster_id} not found", step="target")
    _require_manager(user, target.project, ACTION_START, step="target")
    if target.status not in Cluster.LIVE_STATUSES:
        raise Unavailable(
            f"target cluster {target.name} is {target.get_status_display().lower()}: "
            "it must be running to receive a migration",
            step="target",
        )
    return target.project, target, target.plan, f"cluster {target.name}"


def _require_manager(user: User, project: Project, action: str, step: str = "") -> None:
    if not can_manage(user, project):
        raise Forbidden(refusal(project, action), step=step)


def source_refusal(
    user: User, cluster: Cluster, managed: Container[str] | None = None
) -> str | None:
    """Why the user may not migrate data out of `cluster` (one they may see), or None.

    `managed`: the ids of the projects the user manages, when the caller asks for many clusters.
    """
    if managed is None:
        allowed = can_manage(user, cluster.project)
    else:
        allowed = cluster.project_id in managed
    if allowed:
        return None
    return refusal(cluster.project, f"migrate data out of cluster {cluster.name}")


def _resolve_source(
    user: User, request: MigrationRequest, project: Project
) -> tuple[Cluster | None, Connection, str]:
    if request.source_cluster_id and request.source_connection is not None:
        raise Invalid("give either a source cluster or a source endpoint, not both", step="source")
    if request.source_connection is not None:
        connection = request.source_connection
        if not connection.uri:
            raise Invalid("enter the endpoint of the source", step="source")
        return None, connection, connection.address
    if not request.source_cluster_id:
        raise Invalid("choose a source cluster", step="source")
    source = visible_clusters(user).filter(pk=request.source_cluster_id).first()
    if source is None:
        raise NotFound(f"cluster {request.source_cluster_id} not found", step="source")
    # Taking data out of a project is a manage right: a watcher of the source's project could
    # otherwise copy it into a project they manage (and from there out of the organization).
    refused = source_refusal(user, source)
    if refused:
        raise Forbidden(refused, step="source")
    if source.project.organization_id != project.organization_id:
        raise Invalid(
            f"source cluster {source.name} belongs to another organization: migrate it with "
            "In Other Organization (its endpoint and credentials)",
            step="source",
        )
    if source.status not in Cluster.LIVE_STATUSES:
        raise Unavailable(
            f"source cluster {source.name} is {source.get_status_display().lower()}: it must "
            "be running to be migrated",
            step="source",
        )
    return source, source.connection(), f"cluster {source.name}"


def _open(connection: Connection, db: str, role: str, label: str):
    try:
        return open_client(connection, db_name=db)
    except DatabaseNotFound:
        raise Invalid(f"database {db} does not exist on the {role} ({label})", step=role) from None
    except CannotReach as exc:
        message = redact(exc.message, connection.secrets())
        raise Unavailable(f"the {role} cannot be reached: {message}", step=role) from None
    except EndpointRejected as exc:  # decided before connecting: nothing refused anything
        message = redact(exc.message, connection.secrets())
        raise Invalid(f"the {role} endpoint is not allowed: {message}", step=role) from None
    except EngineError as exc:
        message = redact(exc.message, connection.secrets())
        raise Invalid(f"the {role} refused the connection: {message}", step=role) from None


def _plan(source, target, selected: list[Selected], check: Check) -> None:
    pairs = [(item.info, item.schema_choices()) for item in selected]
    try:
        results = plan_many(pairs, target, source_client=source)
    except EngineError as exc:
        raise Unavailable(f"cannot plan the migration on the target: {exc.message}") from None
    for item, result in zip(selected, results, strict=True):
        check.collections.append(CollectionCheck(item.info, result, item.choice, item.target_db))
        for finding in result.findings:
            problem = f"{item.label}: {finding.message}"
            check.problems.append(problem)
            if finding.kind == Problem.NAME_TAKEN:
                check.conflicts.append(problem)
        check.warnings.extend(f"{item.label}: {warning}" for warning in result.warnings)


def _check_new_cluster_names(selected: list[Selected], check: Check) -> None:
    names = [item.choice.target_name or item.info.name for item in selected]
    duplicates = duplicate_targets(
        [
            (f"{item.info.db}.{item.info.name}", item.target_db, name)
            for item, name in zip(selected, names, strict=True)
        ]
    )
    for index, (item, name) in enumerate(zip(selected, names, strict=True)):
        problem = invalid_name(name, "target collection") or duplicates.get(index)
        if problem:
            check.problems.append(f"{item.label}: {problem.message}")
        check.collections.append(CollectionCheck(item.info, None, item.choice, item.target_db))


# --- starting ----------------------------------------------------------------------------


def start_migration(user: User, request: MigrationRequest) -> Job:
    """Check, then create the Job (PENDING) with its collections; enqueued after commit.

    Raises ServiceError (its kind says why) and creates nothing when any check fails.
    """
    check = check_migration(user, request)
    check.raise_problems()
    with transaction.atomic():
        _locked_quotas(check.project)
        target_cluster = check.target_cluster
        if target_cluster is None:
            target_cluster = console_services.create_local_cluster(
                check.project, request.new_cluster_name, Cluster.Plan.DEDICATED, created_by=user
            )
        job = _create_job(user, request, check, target_cluster)
    return job


def _locked_quotas(project: Project) -> None:
    """The project's unfinished jobs counted again with its row locked (inside the caller's
    transaction): two requests at once cannot both take the last place."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    check_unfinished_quota(project)


def _databases_label(names: str) -> str:
    return f"database{'s' if ',' in names else ''} {names}"


def _create_job(user: User, request: MigrationRequest, check: Check, target: Cluster) -> Job:
    connection = request.source_connection
    job = Job.objects.create(
        project=check.project,
        created_by=user,
        source_cluster=check.source_cluster,
        source_connection_enc=connection.encrypt() if connection is not None else "",
        source_name=(check.source_cluster.name if check.source_cluster else connection.address),
        source_db=check.source_db,
        target_cluster=target,
        target_name=target.name,
        target_db=check.target_db,
        load_after=request.load_after,
        max_rows_per_second=check.speed_cap.rows_per_second,
        max_mb_per_second=check.speed_cap.mb_per_second,
        target_is_new=check.target_cluster is None,
        task_id=str(uuid.uuid4()),
    )
    for position, item in enumerate(check.collections):
        choice = item.choice.schema_choices(item.target_db)
        spec = item.plan.spec if item.plan is not None else None
        JobCollection.objects.create(
            job=job,
            position=position,
            source_db=item.source.db,
            source_name=item.source.name,
            target_db=item.target_db,
            target_name=spec.name if spec else choice.target_name,
            choices=choice.to_dict(),
            source_info=item.source.to_dict(),
            spec=spec.to_dict() if spec else {},
            total_entities=item.source.entity_count,
        )
    job.index_for_search()
    sources = ", ".join(dict.fromkeys(c.source.db for c in check.collections))
    targets = ", ".join(dict.fromkeys(c.target_db for c in check.collections))
    log_event(
        job,
        f"job created by {user.email}: {len(check.collections)} collection(s) from "
        f"{check.source_label} ({_databases_label(sources)}) to {check.target_label} "
        f"({_databases_label(targets)})"
        + (", loaded after the migration" if request.load_after else ""),
    )
    for warning in check.warnings:
        log_event(job, warning, level="WARNING")
    transaction.on_commit(lambda: lifecycle.enqueue(job.pk))
    return job


# --- cancel and retry --------------------------------------------------------------------


def cancel_job(user: User, job: Job) -> Job:
    """PENDING → CANCELED at once; IN PROGRESS → CANCELING (the copy stops within a batch).

    Forbidden unless the user manages the job's project; Conflict when the job is already
    final or being canceled.
    """
    _require_manager(user, job.project, ACTION_CANCEL)
    if not lifecycle.cancel(job, user):
        job.refresh_from_db()
        raise Conflict(
            f"job {job.pk} is {job.get_status_display()}: only Pending and In Progress jobs "
            "can be canceled"
        )
    job.refresh_from_db()
    return job


def retry_job(user: User, job: Job, source_connection: Connection | None = None) -> Job:
    """Re-run a FAILED job's unfinished collections from their checkpoints.

    Forbidden unless the user manages the job's project; Conflict unless the job FAILED, or
    when the project has its quota of unfinished jobs. Then every check of a new migration
    runs again (`recheck_job`): the rights and rules in force now decide, not those of when
    the job was created. A refused Retry changes nothing.

    `source_connection`: another organization's credentials given again, for a job whose
    credentials were removed (MIGRATION_CREDENTIAL_RETENTION); the endpoint must be the job's.
    Without them such a Retry is a Conflict that says so.
    """
    _require_manager(user, job.project, ACTION_RETRY)
    if not job.can_retry:
        raise Conflict(
            f"job {job.pk} is {job.get_status_display()}: only Failed jobs can be retried"
        )
    given = _given_credentials(job, source_connection)
    recheck_job(user, job, source_connection=given)
    with transaction.atomic():
        _locked_quotas(job.project)
        retried = lifecycle.retry(job, user, given.encrypt() if given is not None else "")
    if not retried:
        job.refresh_from_db()
        if job.source_credentials_removed:
            raise Conflict(_credentials_removed(job))
        raise Conflict(
            f"job {job.pk} is {job.get_status_display()}: only Failed jobs can be retried"
        )
    job.refresh_from_db()
    return job


def set_speed_cap(user: User, job: Job, rows_per_second, mb_per_second) -> Job:
    """Change the speed cap of a job that has not ended (None: no cap of that kind); the
    running copies follow it from their next batch (jobs/pace.py).

    Forbidden unless the user manages the job's project; Invalid for a bad value; Conflict when
    the job has ended.
    """
    _require_manager(user, job.project, ACTION_SPEED_CAP)
    cap = _speed_cap(rows_per_second, mb_per_second)
    changed = (
        Job.objects.filter(pk=job.pk)
        .exclude(status__in=Job.FINAL_STATES)
        .update(max_rows_per_second=cap.rows_per_second, max_mb_per_second=cap.mb_per_second)
    )
    job.refresh_from_db()
    if not changed:
        raise Conflict(
            f"job {job.pk} is {job.get_status_display()}: the speed cap of a job that has "
            "ended cannot change"
        )
    log_event(job, f"speed cap set to {cap.describe()} by {user.email}")
    return job


# What the credentials are given again for, as said in the refusals: (to do it, why the same
# endpoint).
_AGAIN_FOR = {
    ACTION_RETRY: ("to retry", "a Retry continues the same copy"),
    ACTION_VERIFY: ("to verify it again", "Verify Again compares the same source"),
    ACTION_REPAIR: ("to repair it", "Repair copies again from the same source"),
}


def _credentials_removed(job: Job, action: str = ACTION_RETRY) -> str:
    when = f"{job.source_credentials_removed_at:%Y-%m-%d %H:%M} UTC"
    kept = (
        "another organization's credentials are kept only a while after a job fails"
        if job.status == Job.Status.FAILED
        else "another organization's credentials leave a job when it ends"
    )
    return (
        f"the credentials of the source {job.source_name} were removed from job {job.pk} on "
        f"{when} ({kept}): give the source's API key or username and password again "
        f"{_AGAIN_FOR[action][0]}"
    )


def _given_credentials(
    job: Job, connection: Connection | None, action: str = ACTION_RETRY
) -> Connection | None:
    """The credentials given again for a Retry (Verify Again, Repair: `action`), checked
    against the job; None when none."""
    if connection is None:
        return None
    if job.source_cluster_id is not None or not (
        job.source_credentials_removed or job.source_connection_enc
    ):
        raise Invalid(
            f"job {job.pk} reads a cluster of this organization: it takes no source credentials",
            step="source",
        )
    if connection.address != job.source_name:
        raise Invalid(
            f"the endpoint must be the job's source, {job.source_name}: {_AGAIN_FOR[action][1]}",
            step="source",
        )
    return connection


def recheck_job(
    user: User, job: Job, source_connection: Connection | None = None, action: str = ACTION_RETRY
) -> None:
    """The checks of a new migration, for the job's source and target as they are now, made
    without connecting: roles on the target's and the source's projects, tenancy, cluster
    status, the plan matrix, the quotas, and the endpoint rules of a typed source or target.
    Raises the refusal (a ServiceError); a cluster deleted since, or another organization's
    credentials removed and not given again (`source_connection`), is a Conflict; TooMany when
    the user's connections to typed endpoints are used up (the job would connect to them again)."""
    if job.target_cluster_id is None:
        raise Conflict(
            f"the target cluster of job {job.pk} ({job.target_name}) was deleted: start a new "
            "migration"
        )
    pairs = dict.fromkeys(job.collections.values_list("source_db", "target_db"))
    request = MigrationRequest(
        databases=[DatabaseChoice(source_db, target_db) for source_db, target_db in pairs]
        or [DatabaseChoice(job.source_db, job.target_db)],
        target_cluster_id=job.target_cluster_id,
    )
    if source_connection is not None:
        request.source_connection = source_connection
    elif job.source_connection_enc:
        request.source_connection = Connection.decrypt(job.source_connection_enc)
        if request.source_connection is None:
            raise Conflict(f"the source connection of job {job.pk} can no longer be read")
    elif job.source_credentials_removed:
        raise Conflict(_credentials_removed(job, action), step="source")
    elif job.source_cluster_id:
        request.source_cluster_id = job.source_cluster_id
    else:
        raise Conflict(f"the source cluster of job {job.pk} was deleted: start a new migration")
    try:
        check, source_connection = _check_request(user, request)
    except NotFound as exc:
        if exc.step != "source":
            raise
        # The job is the user's to see; its source no longer is: no id, no name.
        raise Forbidden(
            f"job {job.pk} reads {OTHER_PROJECT_SOURCE}, which you may not see: only its "
            "Project Admins and Organization Owners can migrate data out of it",
            step="source",
        ) from None
    connections = ((source_connection, "source"), (check.target_cluster.connection(), "target"))
    for connection, role in connections:
        try:
            check_endpoint(connection)
        except EndpointRejected as exc:
            message = redact(exc.message, connection.secrets())
            raise Invalid(f"the {role} endpoint is not allowed: {message}", step=role) from None
    # The job connects to them again: a Retry counts like a new migration's check.
    for connection, _ in connections:
        if not throttle.allow_connection(user.pk, connection):
            raise TooMany(throttle.TOO_MANY_CONNECTION_TESTS)


# --- Verify Again --------------------------------------------------------------------------


def verify_again(user: User, job: Job, source_connection: Connection | None = None) -> Job:
    """A new VERIFICATION job (PENDING, enqueued after commit) comparing the source and target
    collections of migration `job` (or of the migration a verification or repair job worked
    on) as they are now, every row. Nothing is written to either side.

    Forbidden unless the user manages the job's project; Conflict while the job is Pending, In
    Progress or Canceling, or when no collection of it was copied; the checks of a Retry
    (`recheck_job`: rights, tenancy, clusters still there); then both sides are connected to
    and every collection looked for: Unavailable/Conflict with the reason, and no job is
    created.

    `source_connection`: another organization's credentials given again (they leave a job when
    it ends), as for a Retry: the endpoint must be the migration's; they are kept, encrypted, on
    the new job only until it ends. Without them such a migration is a Conflict that says so.
    """
    _require_manager(user, job.project, ACTION_VERIFY)
    _require_finished(job, "verified again")
    migration = _migration_of(job)
    given = _given_credentials(migration, source_connection, ACTION_VERIFY)
    copied = [
        c
        for c in migration.collections.all()
        if c.spec and c.checkpoint is not None and c.status != JobCollection.Status.CANCELED
    ]
    if not copied:
        raise Conflict(
            f"no collection of job {migration.pk} was copied: there is nothing to verify"
        )
    return _follow_up(user, migration, copied, Job.Type.VERIFICATION, given)


def repair_job(user: User, job: Job, source_connection: Connection | None = None) -> Job:
    """A new REPAIR job: for each collection of `job` whose verification found differences, the
    differing key ranges are copied again (keys the source lacks deleted, the rest upserted)
    and the collection verified again; it ends SUCCESSFUL only when every one is identical.

    `job` is a migration, or a Verify Again (or Repair) of one: the collections repaired are
    those it found different. The refusals of Verify Again, Conflict "nothing to repair" when
    none differs, and Conflict when a target collection does not carry the migration's mark
    (Repair writes only into collections its migration created). `source_connection`: as for
    Verify Again.
    """
    _require_manager(user, job.project, ACTION_REPAIR)
    _require_finished(job, "repaired")
    migration = _migration_of(job)
    given = _given_credentials(migration, source_connection, ACTION_REPAIR)
    differing = {
        (c.source_db, c.source_name)
        for c in job.collections.all()
        if c.verification == JobCollection.Verification.MISMATCH
    }
    collections = [
        c
        for c in migration.collections.all()
        if c.spec and (c.source_db, c.source_name) in differing
    ]
    if not collections:
        raise Conflict(f"nothing to repair: no verification of job {job.pk} found differences")
    return _follow_up(user, migration, collections, Job.Type.REPAIR, given)


def _require_finished(job: Job, what: str) -> None:
    if not job.is_final:
        raise Conflict(
            f"job {job.pk} is {job.get_status_display()}: only a finished job can be {what}"
        )


def _migration_of(job: Job) -> Job:
    if job.type == Job.Type.MIGRATION:
        return job
    if job.verifies is None:
        raise Conflict(f"the migration job {job.pk} worked on no longer exists")
    return job.verifies


def _follow_up(
    user: User,
    migration: Job,
    collections: list[JobCollection],
    kind: str,
    given: Connection | None = None,
) -> Job:
    """Create the VERIFICATION or REPAIR job of `collections` of `migration` (after the
    checks of a Retry and a look at both sides), enqueued after commit. `given`: another
    organization's credentials given again, stored encrypted on the new job (never on the
    migration); they leave it when it ends."""
    action = ACTION_REPAIR if kind == Job.Type.REPAIR else ACTION_VERIFY
    recheck_job(user, migration, source_connection=given, action=action)
    _check_collections_exist(
        migration,
        collections,
        source_connection=given,
        owner=migration.pk if kind == Job.Type.REPAIR else None,
    )
    with transaction.atomic():
        follow_up = Job.objects.create(
            type=kind,
            verifies=migration,
            project=migration.project,
            created_by=user,
            source_cluster=migration.source_cluster,
            source_connection_enc=(
                given.encrypt() if given is not None else migration.source_connection_enc
            ),
            source_name=migration.source_name,
            source_db=migration.source_db,
            target_cluster=migration.target_cluster,
            target_name=migration.target_name,
            target_db=migration.target_db,
            task_id=str(uuid.uuid4()),
        )
        for position, c in enumerate(collections):
            JobCollection.objects.create(
                job=follow_up,
                position=position,
                source_db=c.source_db,
                source_name=c.source_name,
                target_db=c.target_db,
                target_name=c.target_name,
                choices=c.choices,
                source_info=c.source_info,
                spec=c.spec,
                total_entities=c.total_entities,
            )
        follow_up.index_for_search()
        what = "verification" if kind == Job.Type.VERIFICATION else "repair"
        log_event(
            follow_up,
            f"{what} created by {user.email}: {len(collections)} collection(s) of migration "
            f"{migration.pk}, compared as they are now",
        )
        log_event(migration, f"{what} started by {user.email}: job {follow_up.pk}")
        transaction.on_commit(lambda: lifecycle.enqueue(follow_up.pk))
    return follow_up


def _check_collections_exist(
    migration: Job,
    collections: list[JobCollection],
    source_connection: Connection | None = None,
    owner: str | None = None,
) -> None:
    """Connect to both sides and look for every collection: a clear refusal when a side is
    unreachable (or refuses the credentials) or a collection is gone; with `owner`, also when
    a target collection does not carry that migration's mark."""
    source_connection = source_connection or migration.source_connection()
    if source_connection is None:
        raise Conflict(f"the source of job {migration.pk} is gone: start a new migration")
    sides = [
        (
            source_connection,
            "source",
            migration.source_name,
            [(c.source_db, c.source_name) for c in collections],
        ),
        (
            migration.target_cluster.connection(),
            "target",
            migration.target_name,
            [(c.target_db, c.target_name) for c in collections],
        ),
    ]
    for connection, role, label, names in sides:
        for db in sorted({db for db, _ in names}):
            client = _open(connection, db, role, label)
            try:
                for _, name in [(d, n) for d, n in names if d == db]:
                    if not client.has_collection(name):
                        raise Conflict(
                            f"the {role} collection {db}.{name} no longer exists: there is "
                            "nothing to verify it against",
                            step=role,
                        )
                    if owner and role == "target":
                        mark = ownership.mark_of(client, name)
                        if mark != owner:
                            who = f"job {mark}" if mark else "something else (it has no job mark)"
                            raise Conflict(
                                f"the target collection {db}.{name} was created by {who}, not "
                                f"by migration {owner}: Repair writes only into a collection "
                                "its migration created",
                                step=role,
                            )
            except MilvusException as exc:
                message = redact(exc.message, connection.secrets())
                raise Unavailable(f"the {role} cannot be read: {message}", step=role) from None
            finally:
                client.close()


__all__ = [
    "Check",
    "MAX_COLLECTIONS",
    "CollectionChoice",
    "DatabaseChoice",
    "MigrationRequest",
    "ServiceError",
    "cancel_job",
    "check_migration",
    "check_unfinished_quota",
    "recheck_job",
    "source_refusal",
    "retry_job",
    "start_migration",
    "repair_job",
    "verify_again",
]
