"""A job as the REST API (`GET /v2/jobs/{jobId}`) and `manage.py jobs show --json` give it.

Never a credential: the source is a cluster id and name, or another organization's endpoint
(host:port only); a source cluster the viewer may not see is only "a cluster of another project"
(jobs.access.hide_sources marks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobs.access import hide_source_in
from jobs.models import Job, JobCollection


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None until known."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_data(c: JobCollection) -> dict[str, Any]:
    return {
        "sourceDb": c.source_db,
        "sourceCollection": c.source_name,
        "targetDb": c.target_db,
        "targetCollection": c.target_name,
        "status": c.status,
        "totalEntities": c.total_entities,
        "migratedEntities": c.migrated_entities,
        "verification": c.verification,
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
    source["dbName"] = job.source_db
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
            "dbName": job.target_db,
        },
        "collections": [collection_data(c) for c in collections],
    }
