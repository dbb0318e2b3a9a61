"""REST v2 migration endpoints (DESIGN §7): `POST /v2/migrations/toExisting` and
`POST /v2/migrations/toNewDedicated`.

Each one only translates the typed body into a `MigrationRequest` and calls the same service
as the wizard and the CLI, so a request the wizard would refuse is refused here with the same
reason (console.api.base maps the refusal's kind to its status).
"""

from __future__ import annotations

from typing import Annotated, Self

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from console.access import visible_clusters, visible_projects
from console.api.base import ERRORS, StrictSchema, check_key_scope, key_scope, ok
from console.connections import Connection
from migrations_app.service import (
    MAX_COLLECTIONS,
    CollectionChoice,
    DatabaseChoice,
    MigrationRequest,
    start_migration,
)

router = Router(tags=["migrations"])

# Ids are looked up, never parsed: the pattern only keeps bytes no id has (NUL, spaces) away
# from the database; an unknown id of the right shape is a 404.
Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Names are checked by the engine's plan (Milvus's rules); here only a sane length.
Name = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Secret = Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class SourceIn(StrictSchema):
    """`{"clusterId"}` (this organization), or `{"endpoint", "apiKey"}` or
    `{"endpoint", "username", "password"}` (another organization's Milvus)."""

    clusterId: Id | None = None
    endpoint: Annotated[StrictStr, Field(min_length=1, max_length=2048)] | None = None
    apiKey: Secret | None = None
    username: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    password: Secret | None = None

    @model_validator(mode="after")
    def one_shape(self) -> Self:
        credentials = (self.apiKey, self.username, self.password) != (None, None, None)
        if self.clusterId is not None:
            if self.endpoint is not None:
                raise ValueError("give either clusterId or endpoint, not both")
            if credentials:
                raise ValueError("apiKey, username and password go with endpoint, not clusterId")
            return self
        if self.endpoint is None:
            raise ValueError("give clusterId, or endpoint with apiKey or username and password")
        if self.apiKey is not None and (self.username is not None or self.password is not None):
            raise ValueError("give either apiKey or username and password, not both")
        if self.apiKey is None and (self.username is None or self.password is None):
            raise ValueError("endpoint needs apiKey, or username and password")
        return self

    def connection(self) -> Connection | None:
        if self.endpoint is None:
            return None
        return Connection(
            uri=self.endpoint,
            token=self.apiKey or "",
            username=self.username or "",
            password=self.password or "",
        )


class CollectionIn(StrictSchema):
    """A source collection; every other field is optional and keeps the source's setting.
    `partitionKey` "" removes the partition key."""

    collectionName: Name
    targetCollectionName: Name | None = None
    description: Annotated[StrictStr, Field(max_length=4096)] | None = None
    enableDynamicField: StrictBool | None = None
    partitionKey: Annotated[StrictStr, Field(max_length=255)] | None = None

    def choice(self) -> CollectionChoice:
        return CollectionChoice(
            name=self.collectionName,
            target_name=self.targetCollectionName,
            description=self.description,
            enable_dynamic_field=self.enableDynamicField,
            partition_key=self.partitionKey,
        )


class DbCollectionsIn(StrictSchema):
    """`dbName` omitted: `default`; `destDbName` omitted: the same as `dbName` (created on
    the target when missing); `collections` omitted: every collection of the database."""

    dbName: Name | None = None
    destDbName: Name | None = None
    collections: (
        Annotated[list[CollectionIn], Field(min_length=1, max_length=MAX_COLLECTIONS)] | None
    ) = None

    def choice(self) -> DatabaseChoice:
        return DatabaseChoice(
            source_db=self.dbName or "default",
            target_db=self.destDbName or "",
            collections=[c.choice() for c in self.collections] if self.collections else None,
        )


# At most one entry per source database (the service names a database listed twice).
DbCollections = Annotated[list[DbCollectionsIn], Field(min_length=1, max_length=MAX_COLLECTIONS)]


class _MigrationIn(StrictSchema):
    """`dbCollections` omitted: every collection of every database of the source, each into
    the target database of the same name."""

    source: SourceIn
    dbCollections: DbCollections | None = None
    loadAfterMigration: StrictBool = False
    # The speed cap (checked by the service, like every other rule): omitted or null, no cap.
    maxRowsPerSecond: StrictInt | StrictFloat | None = None
    maxMegabytesPerSecond: StrictInt | StrictFloat | None = None

    def migration_request(self, **target: str) -> MigrationRequest:
        databases = self.dbCollections
        return MigrationRequest(
            source_cluster_id=self.source.clusterId or "",
            source_connection=self.source.connection(),
            databases=[db.choice() for db in databases] if databases is not None else None,
            every_database=databases is None,
            load_after=self.loadAfterMigration,
            max_rows_per_second=self.maxRowsPerSecond,
            max_mb_per_second=self.maxMegabytesPerSecond,
            **target,
        )


class ExistingDestinationIn(StrictSchema):
    clusterId: Id


class ToExistingIn(_MigrationIn):
    destination: ExistingDestinationIn


class NewDedicatedDestinationIn(StrictSchema):
    clusterName: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    projectId: Id


class ToNewDedicatedIn(_MigrationIn):
    destination: NewDedicatedDestinationIn


class JobStarted(Schema):
    jobId: str


class JobStartedOut(Schema):
    code: int
    data: JobStarted


class ClusterJobStarted(Schema):
    clusterId: str
    jobId: str


class ClusterJobStartedOut(Schema):
    code: int
    data: ClusterJobStarted


def _check_scope(request: HttpRequest, cluster_ids: list[str | None], project_id: str = "") -> None:
    """403 when a project-scoped key names a cluster or project outside its project. Ids the
    key's user may not see are left to the service, which answers them 404 as for any key."""
    if key_scope(request) is None:
        return
    for cluster in visible_clusters(request.auth).filter(pk__in=[i for i in cluster_ids if i]):
        check_key_scope(request, cluster.project)
    project = visible_projects(request.auth).filter(pk=project_id).first() if project_id else None
    if project is not None:
        check_key_scope(request, project)


@router.post(
    "/toExisting",
    response={200: JobStartedOut, **ERRORS},
    operation_id="migrateToExisting",
    summary="Migrate collections into an existing cluster",
)
def to_existing(request: HttpRequest, payload: ToExistingIn):
    _check_scope(request, [payload.source.clusterId, payload.destination.clusterId])
    job = start_migration(
        request.auth, payload.migration_request(target_cluster_id=payload.destination.clusterId)
    )
    return ok({"jobId": job.pk})


@router.post(
    "/toNewDedicated",
    response={200: ClusterJobStartedOut, **ERRORS},
    operation_id="migrateToNewDedicated",
    summary="Create a Dedicated cluster and migrate collections into it",
)
def to_new_dedicated(request: HttpRequest, payload: ToNewDedicatedIn):
    _check_scope(request, [payload.source.clusterId], project_id=payload.destination.projectId)
    job = start_migration(
        request.auth,
        payload.migration_request(
            new_cluster_name=payload.destination.clusterName,
            new_cluster_project_id=payload.destination.projectId,
        ),
    )
    return ok({"clusterId": job.target_cluster_id, "jobId": job.pk})
