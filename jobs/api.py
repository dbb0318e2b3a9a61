"""REST v2 job endpoints (DESIGN §7): read, list, cancel, retry, verify, repair and discard
jobs and change their speed cap.

Tenancy first, as in the views: `get_job_for` / `visible_jobs` start from what the key's user
may see, so another organization's job is a 404; cancel and retry need a manager (403 for a
watcher) and then run the same service as the Jobs page.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import ValidationError
from pydantic import StrictFloat, StrictInt, StrictStr, model_validator

from console.access import get_project_for
from console.api.base import ERRORS, StrictSchema, check_key_scope, key_scope, ok
from console.connections import Connection
from jobs.access import get_job_for, hide_sources, visible_jobs
from jobs.models import Job, JobCollection
from jobs.serializers import job_data
from migrations_app.discard import ACTION_DISCARD, discard
from migrations_app.service import (
    ACTION_CANCEL,
    ACTION_REPAIR,
    ACTION_RETRY,
    ACTION_SPEED_CAP,
    ACTION_VERIFY,
    cancel_job,
    repair_job,
    retry_job,
    set_speed_cap,
    verify_again,
)

router = Router(tags=["jobs"])

JOB_ID_CHARS = re.compile(r"[A-Za-z0-9_-]{1,64}")

JobStatus = Literal[tuple(Job.Status.values)]  # type: ignore[valid-type]
CollectionStatus = Literal[tuple(JobCollection.Status.values)]  # type: ignore[valid-type]
Verification = Literal[tuple(JobCollection.Verification.values)]  # type: ignore[valid-type]


class SourceOut(Schema):
    """This organization's cluster (clusterId, clusterName) or another's endpoint (host:port).
    A cluster of a project the key's user is no member of: clusterName "a cluster of another
    project", no clusterId."""

    clusterId: str | None = None
    clusterName: str | None = None
    endpoint: str | None = None
    dbName: str | None = Field(
        description="null when the job reads several databases (each collection names its own)"
    )


class DestinationOut(Schema):
    clusterId: str | None
    clusterName: str
    dbName: str | None = Field(
        description="null when the job writes into several databases (each collection says)"
    )


class PhaseOut(Schema):
    name: Literal["Creating", "Copying", "Indexing", "Verifying"]
    startTime: str = Field(description="ISO 8601 UTC")
    endTime: str | None = Field(description="ISO 8601 UTC, null while the phase runs")


class VerificationDetailsOut(Schema):
    """Every row is compared, through digests of key ranges; a differing range is narrowed to
    its keys."""

    rowsCompared: int
    sourceCount: int | None
    targetCount: int | None
    rangesCompared: int
    rangesDiffering: int
    firstDifferingKeys: list[int | str]
    sourceChanged: bool | None = Field(
        description="the source's rows at the end differ from what the copy read; null: not known"
    )


class RetryingOut(Schema):
    """A call being sent again after a transient error (or a copy resuming after an
    interruption): the attempt that failed, of how many, and when the next one is due."""

    reason: str
    attempt: int
    attempts: int
    nextAttemptTime: str | None = Field(description="ISO 8601 UTC")


class RunOut(Schema):
    """One run of the job: the first, then one per Retry."""

    startTime: str = Field(description="ISO 8601 UTC")
    endTime: str | None = Field(description="ISO 8601 UTC, null while the run goes on")
    status: JobStatus | None = Field(description="the job's final status at the run's end")
    reason: str


class RangeOut(Schema):
    """One key range of a collection copied as several (more rows than MIGRATION_SHARD_ROWS):
    the keys after fromKey up to toKey included, each range copied by its own task."""

    fromKey: int | str | None = Field(description="exclusive; null: from the first key")
    toKey: int | str | None = Field(description="inclusive; null: to the last key")
    rows: int = Field(description="rows copied so far")
    status: Literal["PENDING", "COPYING", "DONE", "FAILED", "CANCELED"]
    worker: str = Field(
        description="the worker process that copied it (host:pid); empty until then"
    )


class CollectionOut(Schema):
    sourceDb: str
    sourceCollection: str
    targetDb: str
    targetCollection: str
    status: CollectionStatus
    totalEntities: int
    migratedEntities: int
    verifiedEntities: int = Field(description="rows the verification has compared so far")
    verification: Verification
    retrying: RetryingOut | None = Field(description="null unless a call is being retried")
    phases: list[PhaseOut]
    verificationDetails: VerificationDetailsOut | None = Field(
        description="null until the collection is verified"
    )
    ranges: list[RangeOut] | None = Field(
        None,
        description="the key ranges of a collection copied as several (each its own task, "
        "several workers at once); absent for a collection copied whole",
    )


class JobOut(Schema):
    jobId: str
    type: Literal["MIGRATION", "VERIFICATION", "REPAIR"]
    verifies: str | None = Field(
        None, description="a VERIFICATION or REPAIR job: the id of its migration"
    )
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    startTime: str | None = Field(description="ISO 8601 UTC, null until started")
    endTime: str | None = Field(description="ISO 8601 UTC, null until final")
    reason: str
    createdBy: str | None
    projectId: str
    source: SourceOut
    destination: DestinationOut
    collections: list[CollectionOut]
    runs: list[RunOut] = Field(
        description="every run of the job, oldest first (a Retry makes another); startTime is "
        "the first run's"
    )
    maxRowsPerSecond: int | None = Field(description="the speed cap in rows/s; null: none")
    maxMegabytesPerSecond: float | None = Field(
        description="the speed cap in megabytes (10^6 bytes)/s; null: none"
    )


class JobResponse(Schema):
    code: int
    data: JobOut


class JobPage(Schema):
    count: int
    currentPage: int
    pageSize: int
    records: list[JobOut]


class JobPageResponse(Schema):
    code: int
    data: JobPage


class JobState(Schema):
    jobId: str
    status: JobStatus


class JobStateResponse(Schema):
    code: int
    data: JobState


class DiscardedOut(Schema):
    dbName: str
    collectionName: str
    rows: int = Field(description="rows the collection held when it was dropped")


class Discarded(Schema):
    jobId: str
    status: JobStatus
    discarded: list[DiscardedOut]


class DiscardedResponse(Schema):
    code: int
    data: Discarded


class NewJob(Schema):
    jobId: str


class NewJobResponse(Schema):
    code: int
    data: NewJob


class JobFilters(Schema):
    projectId: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    status: JobStatus | None = None
    pageSize: int = Field(10, ge=1, le=100)
    currentPage: int = Field(1, ge=1, le=1_000_000)


Secret = Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class RetrySourceIn(StrictSchema):
    """Another organization's source given again: its endpoint (the job's) with `apiKey`, or
    `username` and `password`."""

    endpoint: Annotated[StrictStr, Field(min_length=1, max_length=2048)]
    apiKey: Secret | None = None
    username: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    password: Secret | None = None

    @model_validator(mode="after")
    def one_shape(self) -> Self:
        if self.apiKey is not None and (self.username is not None or self.password is not None):
            raise ValueError("give either apiKey or username and password, not both")
        if self.apiKey is None and (self.username is None or self.password is None):
            raise ValueError("endpoint needs apiKey, or username and password")
        return self

    def connection(self) -> Connection:
        return Connection(
            uri=self.endpoint,
            token=self.apiKey or "",
            username=self.username or "",
            password=self.password or "",
        )


class SpeedCapIn(StrictSchema):
    """The new speed cap; a field omitted or null: no cap of that kind."""

    maxRowsPerSecond: StrictInt | StrictFloat | None = None
    maxMegabytesPerSecond: StrictInt | StrictFloat | None = None


class SpeedCap(Schema):
    jobId: str
    maxRowsPerSecond: int | None
    maxMegabytesPerSecond: float | None


class SpeedCapResponse(Schema):
    code: int
    data: SpeedCap


class RetryIn(StrictSchema):
    """Optional: only a job whose source credentials were removed needs `source`."""

    source: RetrySourceIn | None = None


def _given(body: RetryIn | None) -> Connection | None:
    return body.source.connection() if body is not None and body.source is not None else None


def _job(request: HttpRequest, job_id: str, action: str = "") -> Job:
    """The job the key's user may see; with `action`, one they may also manage (else 403)."""
    # Ids are looked up, never parsed; bytes no id has (NUL, spaces) never reach the database.
    if not JOB_ID_CHARS.fullmatch(job_id):
        raise Http404("No such job")
    job = get_job_for(request.auth, job_id, write=bool(action), action=action)
    check_key_scope(request, job.project)
    return job


@router.get(
    "/{jobId}",
    response={200: JobResponse, **ERRORS},
    operation_id="describeJob",
    exclude_unset=True,  # the source has clusterId/clusterName or endpoint, as job_data gives it
    summary="A job with its collections",
)
def describe_job(request: HttpRequest, jobId: str):
    job = _job(request, jobId)
    return ok(job_data(job))


@router.get(
    "",
    response={200: JobPageResponse, **ERRORS},
    operation_id="listJobs",
    exclude_unset=True,
    summary="Jobs the key's user may see, newest first",
)
def list_jobs(request: HttpRequest, filters: Query[JobFilters]):
    # Unknown parameters are refused as unknown body fields are: a misspelled filter must
    # not silently list everything. (ninja drops them before the schema sees them.)
    unknown = sorted(set(request.GET) - set(JobFilters.model_fields))
    if unknown:
        raise ValidationError(
            [{"loc": ("query", name), "type": "extra_forbidden"} for name in unknown]
        )
    jobs = visible_jobs(request.auth)
    if filters.projectId:
        project = get_project_for(request.auth, filters.projectId)
        check_key_scope(request, project)
        jobs = jobs.filter(project=project)
    scope = key_scope(request)
    if scope is not None:  # a project-scoped key lists its project's jobs only
        jobs = jobs.filter(project=scope)
    if filters.status:
        jobs = jobs.filter(status=filters.status)
    count = jobs.count()
    start = (filters.currentPage - 1) * filters.pageSize
    page = list(
        jobs.select_related("created_by").prefetch_related("collections__ranges", "runs")[
            start : start + filters.pageSize
        ]
    )
    hide_sources(request.auth, page)
    return ok(
        {
            "count": count,
            "currentPage": filters.currentPage,
            "pageSize": filters.pageSize,
            "records": [job_data(job) for job in page],
        }
    )


@router.post(
    "/{jobId}/cancel",
    response={200: JobStateResponse, **ERRORS},
    operation_id="cancelJob",
    summary="Cancel a Pending or In Progress job (409 when it is already final)",
)
def cancel(request: HttpRequest, jobId: str):
    job = cancel_job(request.auth, _job(request, jobId, action=ACTION_CANCEL))
    return ok({"jobId": job.pk, "status": job.status})


@router.post(
    "/{jobId}/retry",
    response={200: JobStateResponse, **ERRORS},
    operation_id="retryJob",
    summary="Retry a Failed job's unfinished collections (409 unless it failed, or when "
    "another organization's credentials were removed from it and are not given again)",
)
def retry(request: HttpRequest, jobId: str, body: RetryIn | None = None):
    job = retry_job(request.auth, _job(request, jobId, action=ACTION_RETRY), _given(body))
    return ok({"jobId": job.pk, "status": job.status})


@router.post(
    "/{jobId}/speedCap",
    response={200: SpeedCapResponse, **ERRORS},
    operation_id="setJobSpeedCap",
    summary="Change the speed cap of a Pending or In Progress job; the running copies follow "
    "it from their next batch (409 when the job has ended)",
)
def speed_cap(request: HttpRequest, jobId: str, body: SpeedCapIn):
    job = set_speed_cap(
        request.auth,
        _job(request, jobId, action=ACTION_SPEED_CAP),
        body.maxRowsPerSecond,
        body.maxMegabytesPerSecond,
    )
    return ok(
        {
            "jobId": job.pk,
            "maxRowsPerSecond": job.max_rows_per_second,
            "maxMegabytesPerSecond": job.max_mb_per_second,
        }
    )


@router.post(
    "/{jobId}/verify",
    response={200: NewJobResponse, **ERRORS},
    operation_id="verifyJobAgain",
    summary="Verify Again: a new VERIFICATION job comparing a finished migration's source and "
    "target as they are now (409 while the job is Pending or In Progress, or when another "
    "organization's credentials left the migration and `source` does not give them again)",
)
def verify(request: HttpRequest, jobId: str, body: RetryIn | None = None):
    job = verify_again(request.auth, _job(request, jobId, action=ACTION_VERIFY), _given(body))
    return ok({"jobId": job.pk})


@router.post(
    "/{jobId}/repair",
    response={200: NewJobResponse, **ERRORS},
    operation_id="repairJob",
    summary="Repair: a new REPAIR job re-copying only the key ranges a verification found "
    "different, then verifying again (409 while running, when nothing differs, or when "
    "another organization's credentials left the migration and `source` does not give them "
    "again)",
)
def repair(request: HttpRequest, jobId: str, body: RetryIn | None = None):
    job = repair_job(request.auth, _job(request, jobId, action=ACTION_REPAIR), _given(body))
    return ok({"jobId": job.pk})


@router.post(
    "/{jobId}/discard",
    response={200: DiscardedResponse, **ERRORS},
    operation_id="discardJob",
    summary="Discard: drop the incomplete target collections a Failed or Canceled migration "
    "created (409 in any other state or when there is nothing to discard, 503 when the target "
    "cannot be reached: nothing is changed)",
)
def discard_incomplete(request: HttpRequest, jobId: str):
    job = _job(request, jobId, action=ACTION_DISCARD)
    dropped = discard(request.auth, job)
    return ok({"jobId": job.pk, "status": job.status, "discarded": [d.to_dict() for d in dropped]})
