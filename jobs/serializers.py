"""A job as the REST API (`GET /v2/jobs/{jobId}`) and `manage.py jobs show --json` give it.

Never a credential: the source is a cluster id and name, or another organization's endpoint
(host:port only); a source cluster the viewer may not see is only "a cluster of another project"
(jobs.access.hide_sources marks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobs.access import hide_source_in
from jobs.models import Job, JobCollection, JobRange, JobRun


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None until known."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The phases of a collection run, in the order they run; named by their labels, as on View
# Details.
PHASES = [
    JobCollection.Status.CREATING,
    JobCollection.Status.COPYING,
    JobCollection.Status.INDEXING,
    JobCollection.Status.VERIFYING,
]


def _iso_text(value: str | None) -> str | None:
    return iso(datetime.fromisoformat(value)) if value else None


def phases_data(c: JobCollection) -> list[dict[str, Any]]:
    """[{name, startTime, endTime}] of the phases that started, in order (endTime null while
    running)."""
    out = []
    for phase in PHASES:
        times = (c.phases or {}).get(phase) or {}
        if times.get("start"):
            out.append(
                {
                    "name": phase.label,
                    "startTime": _iso_text(times.get("start")),
                    "endTime": _iso_text(times.get("end")),
                }
            )
    return out


def verification_details(report: dict | None) -> dict[str, Any] | None:
    """The verification's figures from the engine's report (None until verified). Every row is
    compared: rowsCompared is all of them (older reports: the rows they sampled)."""
    if not report:
        return None
    return {
        "rowsCompared": report.get("rows_compared", report.get("sampled_rows", 0)),
        "sourceCount": report.get("source_count"),
        "targetCount": report.get("target_count"),
        "rangesCompared": report.get("ranges_compared", 0),
        "rangesDiffering": report.get("ranges_differing", 0),
        "firstDifferingKeys": list(report.get("first_differing_keys") or []),
        "sourceChanged": report.get("source_changed"),
    }


def retrying_data(retrying: dict | None) -> dict[str, Any] | None:
    """The call being sent again after a transient error (None when nothing is retried)."""
    if not retrying:
        return None
    return {
        "reason": retrying.get("reason", ""),
        "attempt": retrying.get("attempt", 0),
        "attempts": retrying.get("attempts", 0),
        "nextAttemptTime": _iso_text(retrying.get("next_at")),
    }


def run_data(run: JobRun, job: Job) -> dict[str, Any]:
    return {
        "startTime": iso(run.started_at),
        "endTime": iso(run.ended_at),
        "status": run.status or None,
        "reason": hide_source_in(job, run.reason),
    }


def range_data(r: JobRange) -> dict[str, Any]:
    return {
        "fromKey": r.from_key,
        "toKey": r.to_key,
        "rows": r.rows,
        "status": r.status,
        "worker": r.worker,
    }


def collection_data(c: JobCollection) -> dict[str, Any]:
    ranges = list(c.ranges.all())
    return {
        "sourceDb": c.source_db,
        "sourceCollection": c.source_name,
        "targetDb": c.target_db,
        "targetCollection": c.target_name,
        "status": c.status,
        "totalEntities": c.total_entities,
        "migratedEntities": c.migrated_entities,
        "verifiedEntities": c.verified_entities,
        "verification": c.verification,
        "retrying": retrying_data(c.retrying),
        "phases": phases_data(c),
        "verificationDetails": verification_details(c.report),
        **({"ranges": [range_data(r) for r in ranges]} if ranges else {}),
    }


def job_data(job: Job, collections: list[JobCollection] | None = None) -> dict[str, Any]:
    if collections is None:
        collections = list(job.collections.all())
    if job.source_hidden:  # jobs.access.hide_sources: no name, no id
        source = {"clusterName": job.source_label}
    elif job.source_cluster_id:
        source = {"clusterId": job.source_cluster_id, "clusterName": job.source_name}
    else:
        source = {"endpoint": job.source_name}
    source["dbName"] = job.source_db or None  # None: several (each collection names its own)
    return {
        "jobId": job.pk,
        "type": job.type,
        "status": job.status,
        "progress": job.progress,
        "startTime": iso(job.started_at),
        "endTime": iso(job.ended_at),
        "reason": hide_source_in(job, job.reason),
        "createdBy": job.created_by.email if job.created_by_id else None,
        "projectId": job.project_id,
        "source": source,
        "destination": {
            "clusterId": job.target_cluster_id,
            "clusterName": job.target_name,
            "dbName": job.target_db or None,
        },
        "collections": [collection_data(c) for c in collections],
        "runs": [run_data(run, job) for run in job.runs.all()],
        "maxRowsPerSecond": job.max_rows_per_second,
        "maxMegabytesPerSecond": job.max_mb_per_second,
        **({"verifies": job.verifies_id} if job.type != Job.Type.MIGRATION else {}),
    }
