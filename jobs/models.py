"""Jobs: a migration's row (the source of truth, never Celery's result store), its collections
and its log.

Every status change is a conditional update (`filter(pk=…, status=…).update(…)`): a redelivered
task, the reaper and a Cancel click may race, and the one that updates 0 rows lost.
"""

from __future__ import annotations

import re

from django.db import models
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import StrIndex
from django.dispatch import receiver
from django.utils import timezone

from console import ids
from console.connections import Connection
from console.models import Cluster, Project, User
from console.signals import cluster_deleting, collection_dropping
from jobs.pace import SpeedCap

# How pages and the API name a job's source cluster to a viewer who may not see it (it is in a
# project they are no member of): no name, no id, no link (jobs.access.hide_sources).
OTHER_PROJECT_SOURCE = "a cluster of another project"
# How a job over several databases names them (its source_db/target_db are "").
SEVERAL_DATABASES = "several databases"


class JobQuerySet(models.QuerySet):
    def unfinished(self) -> QuerySet[Job]:
        return self.exclude(status__in=Job.FINAL_STATES)

    def search(self, text: str) -> QuerySet[Job]:
        """Jobs whose id, or one of whose source or target collection names, contains `text`
        (any case)."""
        text = text.strip().lower()
        if not text:
            return self
        # Collection names never hold "-" (Milvus: letters, digits, "_"), so a text with one
        # is a job id, and a whole job id is answered by the primary key, not by a scan.
        if re.fullmatch(r"job-[a-z0-9]{20}", text):
            return self.filter(pk=text)
        if "-" in text:
            return self.filter(pk__icontains=text)
        # One plain substring test on the job's own row (search_text is lower case): no LIKE
        # pattern, no subquery over every collection (bench/jobs_page.py).
        return self.alias(found_at=StrIndex("search_text", Value(text))).filter(found_at__gt=0)


def search_text_for(job_id: str, names: list[str]) -> str:
    """A job's search_text: its id and collection names, lower case, each once."""
    return " ".join(dict.fromkeys([job_id, *names])).lower()


class Job(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        IN_PROGRESS = "IN_PROGRESS", "In Progress"
        SUCCESSFUL = "SUCCESSFUL", "Successful"
        FAILED = "FAILED", "Failed"
        CANCELING = "CANCELING", "Canceling"
        CANCELED = "CANCELED", "Canceled"

    class Type(models.TextChoices):
        MIGRATION = "MIGRATION", "Migration"
        VERIFICATION = "VERIFICATION", "Verification"  # Verify Again of a migration
        REPAIR = "REPAIR", "Repair"  # re-copies a migration's differing key ranges

    FINAL_STATES = (Status.SUCCESSFUL, Status.FAILED, Status.CANCELED)
    CANCELABLE_STATES = (Status.PENDING, Status.IN_PROGRESS)
    # The states that hold one of the running slots (jobs.slots).
    RUNNING_STATES = (Status.IN_PROGRESS, Status.CANCELING)
    # The states whose incomplete target collections may be discarded.
    DISCARDABLE_STATES = (Status.FAILED, Status.CANCELED)

    id = models.CharField(primary_key=True, max_length=40, default=ids.job_id, editable=False)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.MIGRATION)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)

    # Source: a cluster of the organization, or another organization's endpoint whose
    # connection is kept here, encrypted. The names are snapshots: they stay readable after
    # a cluster is renamed or deleted.
    source_cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_connection_enc = models.TextField(blank=True, default="")
    source_name = models.CharField(max_length=255)
    # "" when the job reads (writes) several databases: each JobCollection names its own.
    source_db = models.CharField(max_length=255, default="default")
    target_cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_name = models.CharField(max_length=255)
    target_db = models.CharField(max_length=255, default="default")
    load_after = models.BooleanField(default=False)
    # The speed cap (jobs.pace), summed over every collection; null: none. A Project Admin may
    # change it while the job runs.
    max_rows_per_second = models.PositiveIntegerField(null=True, blank=True)
    max_mb_per_second = models.FloatField(null=True, blank=True)
    # The target cluster was created for this job (Migrate to *New Cluster*).
    target_is_new = models.BooleanField(default=False)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=255, blank=True, default="")
    canceled_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set while a PENDING job is ready to run but no running slot is free (jobs.slots): its
    # place in the queue. Cleared when it starts.
    waiting_since = models.DateTimeField(null=True, blank=True)
    # When another organization's credentials (source_connection_enc) were removed from the
    # job: at its end (SUCCESSFUL, CANCELED) or after MIGRATION_CREDENTIAL_RETENTION (FAILED).
    source_credentials_removed_at = models.DateTimeField(null=True, blank=True)
    # A VERIFICATION or REPAIR job: the migration whose source and target it compares/repairs.
    verifies = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="verifications"
    )
    # What the Jobs page's search looks in, lower case: the job id and every source and target
    # collection name (index_for_search, after the collections are made). Kept on the job so a
    # search reads one row per job, not every collection of the project.
    search_text = models.TextField(blank=True, default="", editable=False)

    objects = JobQuerySet.as_manager()

    # Set by jobs.access.hide_sources for the viewer at hand; never stored.
    source_hidden = False

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="job_project_created"),
            models.Index(fields=["project", "status", "-created_at"], name="job_project_status"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            # The search reads this index alone, newest first, not one table row per job: the
            # count of matches, and the page's jobs until it has 20 (bench/jobs_page.py).
            models.Index(
                fields=["project", "-created_at", "search_text"], name="job_project_search"
            ),
        ]

    def __str__(self) -> str:
        return self.pk

    @property
    def speed_cap(self) -> SpeedCap:
        return SpeedCap(self.max_rows_per_second, self.max_mb_per_second)

    @classmethod
    def speed_cap_now(cls, job_id: str) -> SpeedCap:
        """Job `job_id`'s cap as it is now (a Project Admin may change it while the job runs)."""
        caps = cls.objects.filter(pk=job_id).values_list("max_rows_per_second", "max_mb_per_second")
        return SpeedCap(*(caps.first() or (None, None)))

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATES

    # get_status_display()'s words, by enum lookup: the Jobs page shows one per row, and
    # Django's get_FOO_display() rebuilds a dict of the choices on every call.
    @property
    def status_label(self) -> str:
        return self.Status(self.status).label

    @property
    def type_label(self) -> str:
        return self.Type(self.type).label

    def index_for_search(self) -> None:
        """Store search_text from the job's collections; called once they are created."""
        names = self.collections.values_list("source_name", "target_name")
        self.search_text = search_text_for(self.pk, [n for pair in names for n in pair])
        Job.objects.filter(pk=self.pk).update(search_text=self.search_text)

    @property
    def can_cancel(self) -> bool:
        return self.status in self.CANCELABLE_STATES

    @property
    def can_retry(self) -> bool:
        return self.status == self.Status.FAILED

    @property
    def is_waiting_for_slot(self) -> bool:
        return self.status == self.Status.PENDING and self.waiting_since is not None

    @property
    def source_credentials_removed(self) -> bool:
        """An In Other Organization job whose source credentials are gone (Retry needs them)."""
        return self.source_credentials_removed_at is not None and not self.source_connection_enc

    def source_connection(self) -> Connection | None:
        """Where and as whom to read the source: the job's own (another organization) or its
        cluster's; None when the source cluster was deleted."""
        if self.source_connection_enc:
            return Connection.decrypt(self.source_connection_enc)
        if self.source_cluster is not None:
            return self.source_cluster.connection()
        return None

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.ended_at or timezone.now()) - self.started_at

    @property
    def source_label(self) -> str:
        """The source's name as the viewer may read it."""
        return OTHER_PROJECT_SOURCE if self.source_hidden else self.source_name

    @property
    def source_db_label(self) -> str:
        """The source database, or "several databases" (source_db "": each collection says)."""
        return self.source_db or SEVERAL_DATABASES

    @property
    def target_db_label(self) -> str:
        return self.target_db or SEVERAL_DATABASES

    @property
    def description(self) -> str:
        """The Jobs page's "Description & Type" line."""
        db = self.source_db_label
        if self.type == self.Type.VERIFICATION:
            return f"Verify {self.source_label} ({db}) against {self.target_name}"
        if self.type == self.Type.REPAIR:
            return f"Repair {self.target_name} from {self.source_label} ({db})"
        return f"Migrate {self.source_label} ({db}) to {self.target_name}"

    @property
    def can_discard(self) -> bool:
        """Discard Incomplete Collections is offered for a FAILED or CANCELED migration with a
        collection it created and did not finish (the service then looks on the target)."""
        return (
            self.type == self.Type.MIGRATION
            and self.status in self.DISCARDABLE_STATES
            and any(c.may_have_leftover for c in self.collections.all())
        )

    @property
    def can_verify_again(self) -> bool:
        """A finished job (not pending, running or being canceled) can be verified again."""
        return self.is_final

    @property
    def can_repair(self) -> bool:
        """Finished, and a verification of it found differences."""
        return self.is_final and any(
            c.verification == JobCollection.Verification.MISMATCH for c in self.collections.all()
        )


class JobCollection(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        CREATING = "CREATING", "Creating"
        COPYING = "COPYING", "Copying"
        INDEXING = "INDEXING", "Indexing"
        VERIFYING = "VERIFYING", "Verifying"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"
        CANCELED = "CANCELED", "Canceled"

    class Verification(models.TextChoices):
        PENDING = "PENDING", "Pending"
        VERIFIED = "VERIFIED", "Verified"
        MISMATCH = "MISMATCH", "Mismatch"

    class TargetState(models.TextChoices):
        NONE = "", "Not created"
        CREATING = "CREATING", "Being created"
        CREATED = "CREATED", "Created"
        # Dropped by Discard (migrations_app/discard.py); a Retry creates it again.
        DISCARDED = "DISCARDED", "Discarded"

    FINAL_STATES = (Status.DONE, Status.FAILED, Status.CANCELED)
    ACTIVE_STATES = (Status.CREATING, Status.COPYING, Status.INDEXING, Status.VERIFYING)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="collections")
    position = models.PositiveIntegerField(default=0)
    source_db = models.CharField(max_length=255)
    source_name = models.CharField(max_length=255)
    target_db = models.CharField(max_length=255)
    target_name = models.CharField(max_length=255)
    # The engine's data, as JSON: the user's SchemaChoices, the source's CollectionInfo and
    # the planned TargetSpec at submit time (re-planned against the target when the copy starts).
    choices = models.JSONField(default=dict)
    source_info = models.JSONField(default=dict)
    spec = models.JSONField(default=dict)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total_entities = models.BigIntegerField(default=0)
    migrated_entities = models.BigIntegerField(default=0)
    # Rows the verification has read on both sides so far (of total_entities); reset by Retry.
    verified_entities = models.BigIntegerField(default=0)
    # The rate of the phase running: rows copied per second, then rows verified per second.
    rows_per_s = models.FloatField(default=0)
    # A call being sent again after a transient error (engine RetryNote + "next_at", ISO), or a
    # copy resuming after an interruption; null when nothing is being retried.
    retrying = models.JSONField(null=True, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    source_count_at_start = models.BigIntegerField(null=True, blank=True)
    verification = models.CharField(
        max_length=20, choices=Verification.choices, default=Verification.PENDING
    )
    report = models.JSONField(null=True, blank=True)  # the engine's VerifyReport
    # {"CREATING": {"start": iso, "end": iso}, ...}: when each phase ran, for View Details.
    phases = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    # Which run of this collection may write: a task carrying an older attempt does nothing.
    # Bumped by every new run (resume, requeue, Retry); the fencing token of the lease.
    attempt = models.PositiveIntegerField(default=0)
    # Until when the running attempt holds its lease (jobs/lease.py); the reaper takes over only
    # after it plus MIGRATION_CALL_TIMEOUT.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Runs resumed after a lost worker (MIGRATION_MAX_RESUMES caps them; queue waits and
    # Retries are not counted).
    resumes = models.PositiveIntegerField(default=0)
    # The batch being written when the run stopped: {"stream": …, "last_pk": …}, saved before
    # each batch together with the checkpoint; {} nothing in flight; null: not kept (older run).
    write_intent = models.JSONField(null=True, blank=True)
    # Whether this job created the target collection (recorded before creating it); the
    # collection carries the job's id as a property (migrations_app/engine/ownership.py).
    target_state = models.CharField(
        max_length=10, choices=TargetState.choices, default=TargetState.NONE, blank=True
    )
    # Set when a task was sent for this PENDING collection: it counts as running (for the
    # per-job cap) and the reaper sends it again if no worker picks it up.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "pk"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="jobcoll_status_hb"),
            models.Index(fields=["status", "lease_expires_at"], name="jobcoll_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.source_db}.{self.source_name} → {self.target_db}.{self.target_name}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATES

    @property
    def may_have_leftover(self) -> bool:
        """This job created (or was creating) the target and the collection did not finish."""
        return self.status != self.Status.DONE and self.target_state in (
            self.TargetState.CREATING,
            self.TargetState.CREATED,
        )


class JobRange(models.Model):
    """One key range of a collection copied as several (engine/shards.py): its own run (a
    `run_range` task), checkpoint, write intent and lease, so several workers copy one
    collection at once. The collection's flush, indexes, load and verification run once, after
    every range is DONE."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        COPYING = "COPYING", "Copying"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"
        CANCELED = "CANCELED", "Canceled"

    FINAL_STATES = (Status.DONE, Status.FAILED, Status.CANCELED)

    collection = models.ForeignKey(JobCollection, on_delete=models.CASCADE, related_name="ranges")
    position = models.PositiveIntegerField()
    # Keys after from_key (exclusive) up to to_key (inclusive); null: unbounded that side.
    from_key = models.JSONField(null=True, blank=True)
    to_key = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    rows = models.BigIntegerField(default=0)  # rows copied (its checkpoint's)
    rows_per_s = models.FloatField(default=0)  # its copy rate while COPYING, else 0
    checkpoint = models.JSONField(null=True, blank=True)
    write_intent = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # As on JobCollection: the lease's fencing token, its expiry, lost-worker resumes.
    attempt = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    resumes = models.PositiveIntegerField(default=0)
    # The worker process that copied it last ("celery@host:pid").
    worker = models.CharField(max_length=255, blank=True, default="")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "position"], name="jobrange_position")
        ]

    def __str__(self) -> str:
        return f"{self.collection_id} range {self.position}"


class JobRun(models.Model):
    """One run of a job: from IN PROGRESS to a final status. A Retry makes the next one, so
    View Details lists them all; the job's start time is its first run's."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # The job's final status at the end of the run ("" while it runs), and why.
    status = models.CharField(max_length=20, choices=Job.Status.choices, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.job_id} run {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self):
        return (self.ended_at or timezone.now()) - self.started_at


class JobEvent(models.Model):
    """One line of a job's log (View Details' error log). Redacted before it is written."""

    class Level(models.TextChoices):
        INFO = "INFO", "Info"
        WARNING = "WARNING", "Warning"
        ERROR = "ERROR", "Error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    collection = models.ForeignKey(
        JobCollection, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["job", "at"], name="jobevent_job_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.level} {self.message}"


@receiver(cluster_deleting, sender=Cluster, dispatch_uid="jobs.cluster_in_use")
def refuse_deleting_a_cluster_in_use(sender, cluster: Cluster, **kwargs) -> str | None:
    """A cluster an unfinished job reads from or writes to stays: the job would lose its
    source or target mid-copy. Connected here, with the models, so every process has it."""
    busy = (
        Job.objects.unfinished()
        .filter(Q(source_cluster=cluster) | Q(target_cluster=cluster))
        .order_by("created_at")
        .first()
    )
    if busy is None:
        return None
    return (
        f"cluster {cluster.name} is used by job {busy.pk}, which is "
        f"{busy.get_status_display()}: cancel the job or wait until it ends, then delete the "
        "cluster"
    )


@receiver(collection_dropping, sender=Cluster, dispatch_uid="jobs.collection_in_use")
def refuse_dropping_a_collection_being_written(
    sender, cluster: Cluster, db: str, name: str, mark: str | None, **kwargs
) -> str | None:
    """A collection whose mark names a job that has not finished stays: that job may be
    writing into it (or, Pending after a Retry, about to resume into it)."""
    if not mark:
        return None
    job = Job.objects.unfinished().filter(pk=mark).first()
    if job is None:
        return None
    return (
        f"collection {name} in database {db} is being written by job {job.pk}, which is "
        f"{job.get_status_display()}: cancel the job or wait until it ends, then drop it"
    )
