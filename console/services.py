"""Creating organizations, members and clusters: the one place the CLI and the demo seed apply.

Each function validates its input first and raises ServiceError with a message a person can
act on; nothing is created when it raises. Commands turn ServiceError into CommandError.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.clients import check_endpoint
from console.clusters.lite_process import HOST, free_port
from console.connections import Connection
from console.errors import Conflict, ServiceError
from console.live_reads import server_version
from console.models import Cluster, Membership, Organization, Project, ProjectMembership, User
from console.signals import cluster_deleting
from migrations_app.engine.errors import EndpointRejected

DEFAULT_PROJECT = "Default Project"
# The connection test before a registration: as patient as the console's default connect.
CONNECTION_TEST_TIMEOUT = 5.0
# Cluster names: what the Register/Create forms, the wizard's New Cluster, the API and the CLI
# accept (check_cluster_name is the one check).
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
ORG_ROLES = tuple(Membership.Role.values)
PROJECT_ROLES = tuple(ProjectMembership.Role.values)


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError(f"{email!r} is not a valid email address") from None
    return email


def _check_password(password: str, email: str) -> None:
    try:
        validate_password(password, User(email=email))
    except ValidationError as exc:
        raise ServiceError("password rejected: " + " ".join(exc.messages)) from None


def _clean_name(name: str, what: str, max_length: int) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError(f"{what} name must not be empty")
    if len(name) > max_length:
        raise ServiceError(f"{what} name must be at most {max_length} characters")
    return name


def get_or_create_user(email: str, password: str) -> tuple[User, bool]:
    """The user with this email, or a new one with this password; (user, created).

    An existing user keeps their own password: adding them to another organization must not
    reset it.
    """
    email = _clean_email(email)
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user, False
    _check_password(password, email)
    return User.objects.create_user(email, password), True


@transaction.atomic
def create_organization(name: str, owner_email: str, password: str) -> tuple[Organization, Project]:
    """A new organization with its owner and a project named "Default Project"."""
    name = _clean_name(name, "organization", Organization._meta.get_field("name").max_length)
    if Organization.objects.filter(name__iexact=name).exists():
        raise ServiceError(f"an organization named {name!r} already exists")
    owner, _ = get_or_create_user(owner_email, password)
    org = Organization.objects.create(name=name)
    project = Project.objects.create(organization=org, name=DEFAULT_PROJECT)
    Membership.objects.create(user=owner, organization=org, role=Membership.Role.ORG_OWNER)
    return org, project


@transaction.atomic
def add_member(
    org: Organization, email: str, password: str, role: str, project: Project | None = None
) -> User:
    """Give a (new or existing) user a role in `org`, or in `project` of `org`.

    Organization roles replace the user's current one. A project role also makes the user an
    Organization Member (unless they already belong to the organization) and replaces their
    current role in that project.
    """
    if role not in ORG_ROLES + PROJECT_ROLES:
        raise ServiceError(
            f"unknown role {role!r}: use one of {', '.join(ORG_ROLES + PROJECT_ROLES)}"
        )
    if role in PROJECT_ROLES and project is None:
        raise ServiceError(
            f"role {role} needs a project (a project of organization {org.pk})", field="project"
        )
    if role in ORG_ROLES and project is not None:
        raise ServiceError(
            f"role {role} is an organization role: leave out the project", field="project"
        )
    if project is not None and project.organization_id != org.pk:
        raise ServiceError(f"project {project.pk} does not belong to organization {org.pk}")
    user, _ = get_or_create_user(email, password)
    if role in ORG_ROLES:
        owners = Membership.objects.filter(organization=org, role=Membership.Role.ORG_OWNER)
        if role != Membership.Role.ORG_OWNER and list(owners.values_list("user", flat=True)) == [
            user.pk
        ]:
            raise ServiceError(
                f"{user.email} is the only owner of organization {org.pk}: make someone else "
                "ORG_OWNER first"
            )
        Membership.objects.update_or_create(user=user, organization=org, defaults={"role": role})
    else:
        Membership.objects.get_or_create(
            user=user, organization=org, defaults={"role": Membership.Role.ORG_MEMBER}
        )
        ProjectMembership.objects.update_or_create(
            user=user, project=project, defaults={"role": role}
        )
    return user


def check_cluster_name(project: Project, name: str) -> str:
    """The cluster-name rule, the one check every path applies: the stripped name, else
    ServiceError (not allowed) or Conflict (taken in the project, in any letter case)."""
    name = _clean_name(name, "cluster", Cluster._meta.get_field("name").max_length)
    if not CLUSTER_NAME.match(name):
        raise ServiceError(
            f"cluster name {name!r} is not allowed: use letters, digits, hyphens and "
            "underscores, starting with a letter or digit",
            field="name",
        )
    if Cluster.objects.filter(project=project, name__iexact=name).exists():
        raise _name_taken(project, name)
    return name


def _name_taken(project: Project, name: str) -> Conflict:
    return Conflict(
        f"a cluster named {name!r} already exists in project {project.name}", field="name"
    )


def _save_new(cluster: Cluster) -> Cluster:
    """Insert the row; a name taken meanwhile (the database's unique constraint) is the same
    Conflict as check_cluster_name's."""
    try:
        with transaction.atomic():
            cluster.save(force_insert=True)
    except IntegrityError:
        raise _name_taken(cluster.project, cluster.name) from None
    return cluster


def _check_plan(plan: str) -> str:
    plan = (plan or "").strip().upper()
    if plan not in Cluster.Plan.values:
        raise ServiceError(f"unknown plan {plan!r}: use one of {', '.join(Cluster.Plan.values)}")
    return plan


def check_local_cluster_quota(organization: Organization) -> None:
    """Conflict when the organization has LOCAL_CLUSTERS_PER_ORG local clusters already: each
    is a Milvus Lite process on this machine (about 200 MB)."""
    limit = settings.LOCAL_CLUSTERS_PER_ORG
    count = Cluster.objects.filter(
        kind=Cluster.Kind.LOCAL, project__organization=organization
    ).count()
    if count >= limit:
        raise Conflict(
            f"organization {organization.name} has {count} local cluster(s), the most it may "
            f"have ({limit}): delete one of them before creating another"
        )


def create_local_cluster(
    project: Project, name: str, plan: str, created_by: User | None = None
) -> Cluster:
    """A LOCAL cluster row in CREATING; the supervisor (`runclusters`) starts its server.

    Conflict when the organization has its quota of local clusters (check_local_cluster_quota),
    counted under a lock on the organization's row: two creations at once cannot both take
    the last one.
    """
    name, plan = check_cluster_name(project, name), _check_plan(plan)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=project.organization_id)
        check_local_cluster_quota(organization)
        port = _unused_port()
        cluster = Cluster(
            project=project,
            name=name,
            plan=plan,
            kind=Cluster.Kind.LOCAL,
            uri=f"http://{HOST}:{port}",
            port=port,
            status=Cluster.Status.CREATING,
            created_by=created_by,
        )
        return _save_new(cluster)


def _unused_port() -> int:
    """A free loopback port that no other local cluster has been given (they may be down)."""
    taken = set(Cluster.objects.filter(kind=Cluster.Kind.LOCAL).values_list("port", flat=True))
    for _ in range(50):
        port = free_port()
        if port not in taken:
            return port
    raise ServiceError("could not find a free port for a local cluster")


def register_external_cluster(
    project: Project,
    name: str,
    plan: str,
    uri: str,
    *,
    token: str = "",
    username: str = "",
    password: str = "",
    created_by: User | None = None,
) -> Cluster:
    """Register an existing Milvus after a successful test connection; RUNNING on success.

    The endpoint is a typed one (DESIGN §8): checked, and connected to at the address that was
    checked (console.clients, through console.live_reads.server_version). Raises ServiceError
    with the engine's clear message (cannot reach, authentication failed, not a Milvus server,
    endpoint not allowed) and creates nothing when the test fails.
    """
    name, plan = check_cluster_name(project, name), _check_plan(plan)
    if token and (username or password):
        raise ServiceError(
            "give either an API key or a username and password, not both", field="token"
        )
    if password and not username:
        raise ServiceError("a password needs a username", field="username")
    connection = Connection(uri=uri, token=token, username=username, password=password)
    try:
        connection = check_endpoint(connection)
    except EndpointRejected as exc:
        raise ServiceError(f"connection test failed: {exc.message}") from None
    info = server_version(connection, timeout=CONNECTION_TEST_TIMEOUT)
    if not info.ok:
        raise ServiceError(f"connection test failed: {info.error}")
    cluster = Cluster(
        project=project,
        name=name,
        plan=plan,
        kind=Cluster.Kind.EXTERNAL,
        uri=connection.uri,
        status=Cluster.Status.RUNNING,
        server_version=info.version[:64],
        created_by=created_by,
        checked_at=timezone.now(),
    )
    cluster.set_credentials(token=token, username=username, password=password)
    return _save_new(cluster)


def delete_cluster(cluster: Cluster) -> None:
    """Delete the cluster row (the supervisor then stops a local one and removes its data).

    Refused (Conflict) when a receiver of console.signals.cluster_deleting refuses: jobs
    refuses while an unfinished job reads from or writes to it (the job would lose its source
    or target mid-copy).
    """
    with transaction.atomic():
        for _receiver, refusal in cluster_deleting.send(sender=Cluster, cluster=cluster):
            if refusal:
                raise Conflict(refusal)
        cluster.delete()
